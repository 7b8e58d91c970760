//! The commands' work, one small function each, over the library's stages.

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{BuildArgs, DiffArgs, Output, SiteArgs};
use crate::diag::Diagnostics;
use crate::inventory::{self, Inventory};
use crate::render::{self, Templates};
use crate::tree::{diff, write, Entry, Tree};

/// How to talk to the user.
#[derive(Clone, Copy)]
pub struct Ui {
    pub quiet: bool,
    pub output: Output,
}

impl Ui {
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet && self.output == Output::Text {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// Prints the warnings of a passing check (JSON output carries them in its own object).
    pub fn warnings(&self, warnings: &[crate::diag::Diagnostic]) {
        if self.output == Output::Text {
            for w in warnings {
                self.warn(w.to_string());
            }
        }
    }

    pub fn warn(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{} {}", paint("warning:", "33"), msg.as_ref());
        }
    }

    /// A progress bar for `len` steps, hidden when quiet or when stderr is not a terminal.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta})") {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(what.to_string());
        pb
    }
}

/// Colors `text` when stderr is a terminal and NO_COLOR is unset.
pub fn paint(text: &str, code: &str) -> String {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// With `PXEBAKE_TIMINGS=1`, prints how long each stage took (for profiling and `make bench`).
pub fn timing(stage: &str, since: Instant) -> Instant {
    if std::env::var_os("PXEBAKE_TIMINGS").is_some() {
        // Resident and peak memory so far, from /proc (Linux).
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field =
            |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.trim().to_string()).unwrap_or_default();
        eprintln!(
            "timing: {stage:<10} {:>8.1} ms  rss {}  peak {}",
            since.elapsed().as_secs_f64() * 1000.0,
            field("VmRSS:"),
            field("VmHWM:")
        );
    }
    Instant::now()
}

/// Set by Ctrl-C: long work stops at the next step and leaves `out/` alone.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// An inventory rendered into a checked, in-memory tree.
pub struct Planned {
    pub inventory: Inventory,
    pub tree: Tree,
    pub elapsed: Duration,
}

/// Load, validate, render and check: everything but writing.
pub fn plan(site: &SiteArgs, ui: &Ui) -> anyhow::Result<Planned> {
    let start = Instant::now();
    if let Some(j) = site.jobs {
        // Only the first call in a process sets the pool; later calls keep it.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(j.max(1)).build_global();
    }
    let inv = inventory::load(&site.inventory)?;
    let t = timing("load", start);
    let dir = templates_dir(&site.templates)?;
    let mut d = Diagnostics::default();
    let mut templates = Templates::load(dir, &inv, &mut d)?;
    d.finish()?;
    let t = timing("templates", t);
    let pb = ui.progress(inv.hosts.len() as u64, "rendering");
    let tree = render::render(&inv, &mut templates, Some(&pb));
    pb.finish_and_clear();
    let mut tree = tree?;
    timing("render", t);
    if !site.no_bootloaders {
        let mut d = Diagnostics::default();
        for (path, entry) in crate::serve::bootloaders(&inv, &mut d) {
            if tree.entries.contains_key(&path) {
                d.error(
                    &inv.site.origin.file,
                    Some(inv.site.origin.line),
                    format!("bootloader `{path}` is also written by a bootaction or template; rename one of them"),
                );
            }
            tree.entries.insert(path, entry);
        }
        d.finish()?;
    }
    if STOP.load(Ordering::SeqCst) {
        bail!("interrupted; nothing was written");
    }
    Ok(Planned { inventory: inv, tree, elapsed: start.elapsed() })
}

fn templates_dir(dir: &Path) -> anyhow::Result<Option<&Path>> {
    if dir.is_dir() {
        Ok(Some(dir))
    } else if dir == Path::new("templates") {
        Ok(None) // the default: built-ins only
    } else {
        bail!("templates directory `{}` does not exist", dir.display())
    }
}

/// The output directory to work on: a symlinked `out` means the directory it points to.
fn real_out(out: &Path) -> anyhow::Result<std::path::PathBuf> {
    if std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
        if let Ok(real) = std::fs::canonicalize(out) {
            return Ok(real);
        }
        // A link to a directory that does not exist yet: the first build creates it.
        let target = std::fs::read_link(out).with_context(|| format!("cannot read link `{}`", out.display()))?;
        return Ok(out.parent().unwrap_or(Path::new(".")).join(target));
    }
    Ok(out.to_path_buf())
}

pub fn build(args: &BuildArgs, ui: &Ui) -> anyhow::Result<()> {
    let out = real_out(&args.out)?;
    let mut planned = plan(&args.site, ui)?;
    if !args.no_images {
        // Only verified files come back from here; they join the plan before anything is written.
        for (path, entry) in crate::images::place(&planned.inventory, &args.images, ui)? {
            planned.tree.entries.insert(path, entry);
        }
    }
    let Planned { inventory: inv, tree, elapsed } = &planned;
    let t = Instant::now();
    write::check_replaceable(&out)?;
    let _lock = write::lock(&out)?;
    write::recover(&out)?;
    let opts = crate::check::Options { images_placed: !args.no_images, deny_warnings: args.site.deny_warnings };
    let changes = diff::compare(tree, &out, &opts.context(inv));
    let t = timing("compare", t);
    // Files unchanged since a build of the same shape passed the lint then; only the rest is read.
    let warnings = crate::check::lint(inv, tree, opts, changes.same_structure.then_some(&changes.unchanged))?;
    ui.warnings(&warnings);
    let t = timing("lint", t);
    let links = image_links(tree);
    let pb = ui.progress(0, "writing");
    let stats = write::write(tree, &out, &changes, &STOP, &pb);
    pb.finish_and_clear();
    let stats = stats.with_context(|| format!("build failed; `{}` was left as it was", args.out.display()))?;
    timing("write", t);
    let hosts = inv.hosts.len();
    if ui.output == Output::Json {
        println!(
            "{}",
            serde_json::json!({
                "files": tree.files(), "hosts": hosts, "written": stats.written,
                "unchanged": stats.unchanged, "removed": stats.removed,
                "images": !args.no_images, "out": args.out.display().to_string(),
                "problems": warnings,
            })
        );
    }
    ui.say(format!(
        "rendered {} files for {} hosts in {} ms; {} written, {} unchanged, {} removed in `{}`",
        tree.files(),
        hosts,
        elapsed.as_millis(),
        stats.written,
        stats.unchanged,
        stats.removed,
        args.out.display()
    ));
    if args.no_images && links > 0 {
        ui.warn(format!(
            "--no-images: {links} kernel/initrd links in `{}` point at images that were not placed; the tree cannot boot kernels until a build with images",
            args.out.join("tftp").display()
        ));
    }
    Ok(())
}

/// How many tftp/ links point into images/ (counted in the plan: bootactions may share names).
fn image_links(tree: &Tree) -> usize {
    tree.entries
        .iter()
        .filter(|(p, e)| p.starts_with("tftp/") && matches!(e, Entry::Symlink(t) if t.starts_with("../images/")))
        .count()
}

pub fn check(site: &SiteArgs, ui: &Ui) -> anyhow::Result<()> {
    let planned = plan(site, ui)?;
    let opts = crate::check::Options { images_placed: false, deny_warnings: site.deny_warnings };
    let warnings = crate::check::lint(&planned.inventory, &planned.tree, opts, None)?;
    ui.warnings(&warnings);
    if ui.output == Output::Json {
        println!(
            "{}",
            serde_json::json!({ "ok": true, "files": planned.tree.files(), "hosts": planned.inventory.hosts.len(), "problems": warnings })
        );
    }
    ui.say(format!(
        "ok: {} hosts, {} files would be written (checked in {} ms)",
        planned.inventory.hosts.len(),
        planned.tree.files(),
        planned.elapsed.as_millis()
    ));
    Ok(())
}

/// Returns whether anything would change.
pub fn diff(args: &DiffArgs, ui: &Ui) -> anyhow::Result<bool> {
    let planned = plan(&args.site, ui)?;
    let opts = crate::check::Options { images_placed: false, deny_warnings: args.site.deny_warnings };
    let changes = diff::compare(&planned.tree, &args.out, &opts.context(&planned.inventory));
    crate::tree::diff::print(&planned.tree, &args.out, &changes, ui.output)?;
    Ok(!changes.is_empty())
}

/// `pxebake validate cloud-config|ignition FILE...`: every problem in every file; warnings are
/// printed and pass unless denied.
pub fn validate(kind: &crate::cli::ValidateKind, ui: &Ui) -> anyhow::Result<()> {
    use crate::check::{cloud_config, ignition};
    use crate::cli::ValidateKind;
    type Validator = fn(&str) -> Vec<crate::check::schema::Problem>;
    let (files, validator, deny, what): (&[std::path::PathBuf], Validator, bool, &str) = match kind {
        ValidateKind::CloudConfig { files, deny_warnings } => {
            (files, cloud_config::validate, *deny_warnings, "cloud-config")
        }
        ValidateKind::Ignition { files, deny_warnings } => (files, ignition::validate, *deny_warnings, "Ignition"),
    };
    let mut d = Diagnostics::default();
    for file in files {
        let name = file.display().to_string();
        let bytes = std::fs::read(file).with_context(|| format!("cannot read `{name}`"))?;
        let Ok(text) = String::from_utf8(bytes) else {
            d.error(&name, None, format!("not UTF-8 text (compressed or binary?); a {what} config is plain text"));
            continue;
        };
        for p in validator(&text) {
            d.push(crate::diag::Diagnostic {
                file: name.clone(),
                line: Some(p.line),
                message: p.message,
                severity: p.severity,
            });
        }
    }
    let warnings = d.finish_with_warnings(deny)?;
    ui.warnings(&warnings);
    if ui.output == Output::Json {
        println!("{}", serde_json::json!({ "ok": true, "files": files.len(), "problems": warnings }));
    }
    ui.say(format!("ok: {} file{} valid", files.len(), if files.len() == 1 { "" } else { "s" }));
    Ok(())
}

/// `pxebake list`.
/// `pxebake list`; `list host interface [SELECTOR]` is Stacki's spelling of `list interface`.
pub fn list(
    what: crate::list::What,
    selector: Option<&str>,
    more: Option<&str>,
    dir: &Path,
    ui: &Ui,
) -> anyhow::Result<()> {
    use crate::list::What;
    let (what, selector) = match (what, selector, more) {
        (What::Host, Some("interface"), more) => (What::Interface, more),
        (what, selector, None) => (what, selector),
        (_, _, Some(extra)) => {
            return Err(crate::diag::usage(format!("unexpected argument `{extra}`; give one selector")).into())
        }
    };
    let inv = inventory::load(dir)?;
    let (columns, rows) = crate::list::rows(&inv, what, selector)?;
    match ui.output {
        Output::Json => println!("{}", serde_json::Value::Array(rows)),
        Output::Text => print!("{}", crate::list::table(&columns, &rows)),
    }
    Ok(())
}

/// `pxebake set`.
pub fn set(field: crate::state::Field, selector: &str, value: &str, dir: &Path, ui: &Ui) -> anyhow::Result<()> {
    let changes = crate::state::set(dir, selector, field, value)?;
    if ui.output == Output::Json {
        let rows: Vec<_> =
            changes.iter().map(|(h, old, new)| serde_json::json!({ "host": h, "old": old, "new": new })).collect();
        println!("{}", serde_json::Value::Array(rows));
    }
    for (host, old, new) in &changes {
        ui.say(format!("{host}: {old} -> {new}"));
    }
    ui.say(format!(
        "{} host{} changed in `{}`; run `make build` (and deploy) to update the tree",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        dir.join(crate::state::FILE).display()
    ));
    Ok(())
}

/// `pxebake import hostfile`: checked against the inventory, which must load; hosts already in
/// the `--out` file are updated there, and nothing is written unless the result validates.
pub fn import(kind: &crate::cli::ImportKind, ui: &Ui) -> anyhow::Result<()> {
    let crate::cli::ImportKind::Hostfile { file, out, inventory: dir } = kind;
    let shown = file.display().to_string();
    let text = std::fs::read(file).with_context(|| format!("cannot read hostfile `{shown}`"))?;
    let Ok(text) = String::from_utf8(text) else {
        return Err(crate::diag::usage(format!("hostfile `{shown}` is not UTF-8 text; save it as CSV (UTF-8)")).into());
    };
    let (mut sources, diags) = inventory::read_dir(dir)?;
    let inv = inventory::validate(dir, &sources, diags).map_err(|mut e| {
        e.0.insert(
            0,
            crate::diag::Diagnostic::error(
                dir.display().to_string(),
                None,
                "the inventory does not load, so the hostfile cannot be checked against it; fix these problems first (nothing was written)",
            ),
        );
        e
    })?;
    // The file imported into, when it is one of the inventory's files: its hosts get updated.
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    let target = out.as_ref().and_then(|o| sources.iter().position(|s| same(Path::new(&*s.name), o)));
    let mut existing = Vec::new();
    if let (Some(o), None) = (out, target) {
        if o.exists() {
            bail!(
                "`{}` already exists and is not a file of inventory `{}`; choose a new file name, or import into a file of the inventory (nothing was written)",
                o.display(),
                dir.display()
            );
        }
    }
    if let Some(t) = target {
        existing = import_target_hosts(&sources[t])?;
    }
    let result = crate::hostfile::import(
        &shown,
        &text,
        &inv,
        existing,
        out.as_ref().map(|o| o.display().to_string()).as_deref(),
    )?;
    for w in &result.warnings {
        eprintln!("{} {w}", paint("warning:", "33"));
    }
    // The whole site with the new file: the inventory's own rules (bonds, options, ...) apply.
    let name: std::sync::Arc<str> =
        out.as_ref().map_or_else(|| "<imported hosts>".into(), |o| o.display().to_string().into());
    let root = crate::yaml::Node::parse(&result.yaml).map_err(|e| {
        anyhow::anyhow!("internal error: the imported YAML does not parse (line {:?}): {}", e.line, e.message)
    })?;
    match target {
        Some(t) => sources[t] = inventory::Source { name, root },
        None => sources.push(inventory::Source { name, root }),
    }
    inventory::validate(dir, &sources, crate::diag::Diagnostics::default()).map_err(|mut e| {
        e.0.insert(
            0,
            crate::diag::Diagnostic::error(
                shown.clone(),
                None,
                "the imported hosts do not validate with the inventory (lines below are of the YAML it would write); fix the hostfile (nothing was written)",
            ),
        );
        e
    })?;
    // A whole new rack is thousands of lines: show enough to review, count the rest.
    const SHOWN: usize = 50;
    for c in result.changes.iter().take(SHOWN) {
        ui.say(c.clone());
    }
    if result.changes.len() > SHOWN {
        ui.say(format!("... and {} more", result.changes.len() - SHOWN));
    }
    let summary = format!(
        "{} change{}, {} host{} unchanged",
        result.changes.len(),
        if result.changes.len() == 1 { "" } else { "s" },
        result.unchanged,
        if result.unchanged == 1 { "" } else { "s" }
    );
    match out {
        Some(path) if result.changes.is_empty() && target.is_some() => {
            ui.say(format!("{summary}; `{}` is up to date", path.display()));
        }
        Some(path) => {
            crate::state::replace(path, &result.yaml)?;
            ui.say(format!("{summary}; wrote `{}`; run `pxebake check` to validate the site with it", path.display()));
        }
        None => print!("{}", result.yaml),
    }
    Ok(())
}

/// The hosts of an inventory file that `import` updates; it must hold nothing but hosts.
fn import_target_hosts(src: &inventory::Source) -> anyhow::Result<Vec<inventory::raw::Host>> {
    let mut hosts = Vec::new();
    let crate::yaml::Kind::Map(entries) = &src.root.kind else { return Ok(hosts) };
    for (key, value) in entries {
        if key.as_str() != Some("hosts") {
            return Err(crate::diag::usage(format!(
                "`{}` has a `{}` section; import into a file that holds only hosts (nothing was written)",
                src.name,
                key.as_str().unwrap_or("?")
            ))
            .into());
        }
        if let crate::yaml::Kind::Seq(items) = &value.kind {
            for item in items {
                hosts.push(crate::yaml::from_node(item).map_err(|e| {
                    crate::diag::Invalid(vec![crate::diag::Diagnostic::error(src.name.to_string(), e.line, e.message)])
                })?);
            }
        }
    }
    Ok(hosts)
}
