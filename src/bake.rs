//! The commands' work, one small function each, over the library's stages.

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{BuildArgs, DeployArgs, DiffArgs, FetchArgs, ImageSource, Output, SiteArgs};
use crate::diag::{Diagnostic, Diagnostics};
use crate::inventory::{self, Inventory};
use crate::render::{self, Templates};
use crate::tree::{diff, stamp, write, Entry, Tree};

/// How to talk to the user.
#[derive(Clone, Copy)]
pub struct Ui {
    pub quiet: bool,
    pub output: Output,
}

impl Ui {
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet && self.output == Output::Text {
            eprintln!("{}", crate::names::terminal_safe(msg.as_ref(), true));
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
            // File names and log lines may carry escape sequences: shown escaped, never run.
            eprintln!("{} {}", paint("warning:", "33"), crate::names::terminal_safe(msg.as_ref(), true));
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

/// The library reports through the terminal UI.
impl crate::report::Report for Ui {
    fn say(&self, msg: &str) {
        Ui::say(self, msg);
    }
    fn warn(&self, msg: &str) {
        Ui::warn(self, msg);
    }
    fn bars(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
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
    /// The bootloaders, found and checked against images.lock (None with --no-bootloaders).
    pub loaders: Option<crate::images::loaders::Pinned>,
    /// The manifest of `out` the plan kept hosts' files by.
    pub manifest: Option<crate::tree::manifest::Manifest>,
}

/// Where bootloaders come from: a bundle directory given as `--mirror`, and
/// `PXEBAKE_LOADER_ROOT` (a directory standing in for `/` when looking for Debian's files).
pub fn loader_options(mirror: Option<&str>, update_lock: bool) -> crate::images::loaders::Options {
    let root = std::env::var_os("PXEBAKE_LOADER_ROOT").filter(|v| !v.is_empty()).map_or_else(|| "/".into(), Into::into);
    let bundle = mirror.filter(|m| !m.contains("://")).map(std::path::PathBuf::from).filter(|p| p.is_dir());
    crate::images::loaders::Options { root, bundle, update_lock }
}

/// Load, validate and render the whole tree, bootloaders and images included: the one plan
/// that `build` writes and `check` and `diff` inspect. `mirror` is `build --mirror` (a bundle
/// directory also carries bootloaders); `check` and `diff` find pinned ones in the cache.
pub fn plan(site: &SiteArgs, mirror: Option<&str>, ui: &Ui, out: Option<&Path>) -> anyhow::Result<Planned> {
    plan_into(site, mirror, ui, out, None)
}

/// `plan`, rendering hosts' files straight into `stage` (a build of a fresh `out`; see
/// `write::Stage`): no manifest is read then, nothing is kept.
fn plan_into(
    site: &SiteArgs,
    mirror: Option<&str>,
    ui: &Ui,
    out: Option<&Path>,
    stage: Option<&write::Stage>,
) -> anyhow::Result<Planned> {
    let start = Instant::now();
    if let Some(j) = site.jobs {
        // Only the first call in a process sets the pool; later calls keep it.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(j.max(1)).build_global();
    }
    let inv = inventory::load_cached(&site.inventory, out.map(inventory::cache::path_for).as_deref())?;
    let t = timing("load", start);
    let dir = templates_dir(&site.templates)?;
    let mut d = Diagnostics::default();
    let mut templates = Templates::load(dir, &inv, &mut d)?;
    d.finish()?;
    let t = timing("templates", t);
    let pb = ui.progress(inv.hosts.len() as u64, "rendering");
    // The last build's manifest lets unchanged hosts keep their files; not while a build of
    // `out` is pending (finishing it changes files after this looked at them).
    // Temporaries without a journal do not matter here: they were written beside the files.
    let manifest =
        out.filter(|o| stage.is_none() && !write::interrupted(o).unwrap_or(true)).and_then(crate::tree::manifest::load);
    let previous = out.zip(manifest.as_ref()).map(|(out, manifest)| render::Previous::new(out, manifest));
    // Parts of the render stage, for the benchmark's table (`render` below is their total).
    if previous.is_some() {
        timing("render:manifest", t);
    }
    let tree = render::render_into(&inv, &mut templates, Some(&pb), previous, stage);
    pb.finish_and_clear();
    let mut tree = tree?;
    timing("render", t);
    let mut loaders = None;
    if !site.no_bootloaders {
        let mut d = Diagnostics::default();
        let wanted = crate::serve::bootloaders(&inv, &mut d);
        // Loader choices and loader files are reported together, in one round.
        let pinned = match crate::images::loaders::pin(&inv, &wanted, &loader_options(mirror, false)) {
            Ok(p) => p,
            Err(e) => {
                if let Some(crate::diag::Invalid(found)) = e.downcast_ref::<crate::diag::Invalid>() {
                    d.extend(found.clone());
                }
                d.finish()?;
                return Err(e);
            }
        };
        d.finish()?;
        let mut d = Diagnostics::default();
        for (path, entry) in pinned.entries() {
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
        loaders = Some(pinned);
    }
    if !site.no_images {
        // Where the verified files are kept; `build` makes sure they are there and verified.
        for (path, entry) in crate::images::entries(&inv)? {
            tree.entries.insert(path, entry);
        }
    }
    if STOP.load(Ordering::SeqCst) {
        bail!("interrupted; nothing was written");
    }
    Ok(Planned { inventory: inv, tree, elapsed: start.elapsed(), loaders, manifest })
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

fn image_options(src: &ImageSource, update_lock: bool) -> crate::images::Options {
    crate::images::Options { mirror: src.mirror.clone(), offline: src.offline, update_lock }
}

/// Before anything reads `out`: finish or undo a build that was cut short (under the build
/// lock, so a running build is never disturbed; then this fails saying so). A directory that is
/// not a pxebake tree is left alone.
fn settle(out: &Path) -> anyhow::Result<Option<write::Lock>> {
    let ours = out.join(crate::tree::diff::MARKER).is_file();
    if !ours && (out.exists() || !write::pending(out)?) {
        return Ok(None);
    }
    let lock = write::lock(out)?;
    write::recover(out)?;
    Ok(Some(lock))
}

pub fn build(args: &BuildArgs, ui: &Ui) -> anyhow::Result<()> {
    let out = real_out(&args.out)?;
    let no_images = args.site.no_images;
    // Taken before anything is read: an input edited during this build makes the next one plan.
    let key = stamp::key(&stamp_inputs(args));
    if let Some(key) = key.filter(|_| !args.full) {
        if up_to_date(args, &out, key, ui)? {
            return Ok(());
        }
    }
    // A fresh `out` is written whole through a stage that rendering fills as it goes (the
    // rendered bytes are not all held in memory): locked and recovered before the plan then.
    let early = match fresh(&out) {
        true => Some(lock_fresh(&out)?),
        false => None,
    };
    let stage = early.as_ref().and_then(|(stage, _)| stage.as_ref());
    let planned = plan_into(&args.site, args.images.mirror.as_deref(), ui, Some(&out), stage)?;
    // Every image file the plan links to is verified in the cache before anything is written.
    let fetched = match no_images {
        true => None,
        false => Some(crate::images::ensure(&planned.inventory, &image_options(&args.images, false), ui, &STOP)?),
    };
    let Planned { inventory: inv, tree, elapsed, loaders, manifest } = planned;
    let t = Instant::now();
    write::check_replaceable(&out)?;
    let mut listed = false;
    let _lock = match early {
        Some(_) => None,
        None => {
            let lock = write::lock(&out)?;
            // When `out` holds just what the last build left, nothing needs recovering and its
            // paths are those of the manifest: no walk of `out` (see `stamp::listing_unchanged`).
            listed = stamp::listing_unchanged(&out);
            // Whatever happens next, `out` is no longer vouched for by the last build's stamp.
            stamp::remove(&out);
            if !listed {
                write::recover(&out)?;
            }
            Some(lock)
        }
    };
    let opts = crate::check::Options { images_placed: !no_images, deny_warnings: args.site.deny_warnings };
    let changes = match tree.stage {
        Some(_) => write::fresh_changes(&tree, &opts.context(&inv)),
        None => {
            let manifest = still_current(manifest, &tree, &out)?;
            diff::compare_with(&tree, &out, &opts.context(&inv), manifest, listed)
        }
    };
    let t = timing("compare", t);
    // Files unchanged since a build of the same shape passed the lint then; only the rest is read.
    let skip = changes.same_structure.then_some(&changes.unchanged);
    let warnings = crate::check::lint(&inv, &tree, opts, skip, Some(&out))?;
    ui.warnings(&warnings);
    // What the lint read (a fresh tree's files, read back from the stage) is not needed again.
    crate::tree::release_freed();
    let t = timing("lint", t);
    let links = image_links(&tree);
    let pb = ui.progress(0, "writing");
    let stats = write::write(&tree, &out, &changes, &STOP, &pb);
    pb.finish_and_clear();
    // The write says itself whether `out` was left as it was (or is to be finished).
    let stats = stats.context("build failed")?;
    timing("write", t);
    // Only a build that succeeded pins what it placed.
    crate::images::write_lock(&inv, fetched.as_ref(), loaders.as_ref(), ui)?;
    let hosts = inv.hosts.len();
    if let Some((key, _)) = key {
        // A changed or new package file fails the next build against the lock: watch them.
        let root = loader_options(args.images.mirror.as_deref(), false).root;
        let watched = loaders.iter().flat_map(|l| &l.loaders).map(|p| match p.entry.source.strip_prefix('/') {
            Some(abs) => root.join(abs),
            None => inv.dir.join(&p.entry.source),
        });
        let built = stamp::Built {
            key,
            hosts,
            links,
            warnings: &warnings,
            inventory: &args.site.inventory,
            watched: watched.collect(),
        };
        stamp::save(&out, &tree, built);
    }
    let summary = Summary { files: tree.files(), hosts, kept: tree.kept_hosts, links, up_to_date: false };
    summarize(args, ui, &summary, &stats, &warnings, elapsed);
    // The process ends after a build: freeing a large plan entry by entry would take longer.
    std::mem::forget((tree, inv));
    Ok(())
}

/// Is `out` fresh (absent, or an empty directory)? Then a build writes it whole through a stage.
fn fresh(out: &Path) -> bool {
    match std::fs::symlink_metadata(out) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(m) => m.is_dir() && std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_none()),
    }
}

/// The build lock of a fresh `out`, taken before planning; then, with the last build's stamp
/// gone and whatever a build cut short left removed, the stage rendering fills (None when `out`
/// is no longer fresh: a committed journal was finished). The stage comes first in the pair:
/// it is removed before the lock is released.
fn lock_fresh(out: &Path) -> anyhow::Result<(Option<write::Stage>, write::Lock)> {
    let lock = write::lock(out)?;
    stamp::remove(out);
    write::recover(out)?;
    let stage = match fresh(out) {
        true => Some(write::Stage::create(out)?),
        false => None,
    };
    Ok((stage, lock))
}

/// What a build reports at its end.
struct Summary {
    files: usize,
    hosts: usize,
    kept: usize,
    links: usize,
    up_to_date: bool,
}

fn summarize(args: &BuildArgs, ui: &Ui, s: &Summary, stats: &write::Stats, warnings: &[Diagnostic], elapsed: Duration) {
    let no_images = args.site.no_images;
    if ui.output == Output::Json {
        println!(
            "{}",
            serde_json::json!({
                "files": s.files, "hosts": s.hosts, "hosts_kept": s.kept, "written": stats.written,
                "unchanged": stats.unchanged, "removed": stats.removed, "up_to_date": s.up_to_date,
                "images": !no_images, "out": args.out.display().to_string(),
                "problems": warnings,
            })
        );
    }
    let what = match s.up_to_date {
        true => format!("up to date: no input changed since the last build of {} files for {} hosts", s.files, s.hosts),
        false => format!("rendered {} files for {} hosts in {} ms", s.files, s.hosts, elapsed.as_millis()),
    };
    ui.say(format!(
        "{what}; {} written, {} unchanged, {} removed in `{}`",
        stats.written,
        stats.unchanged,
        stats.removed,
        args.out.display()
    ));
    if no_images && s.links > 0 {
        ui.warn(format!(
            "--no-images: {} kernel/initrd links in `{}` point at images that were not placed; the tree cannot boot kernels until a build with images",
            s.links,
            args.out.join("tftp").display()
        ));
    }
}

/// What the stamp of a build digests besides the inventory and templates: the settings that
/// change what is written (and the paths that appear in its messages).
fn stamp_inputs(args: &BuildArgs) -> stamp::Inputs<'_> {
    let env = |k: &str| std::env::var_os(k).unwrap_or_default();
    let settings = format!(
        "{:?}",
        (
            &args.site.inventory,
            &args.site.templates,
            args.site.no_bootloaders,
            args.site.no_images,
            args.site.deny_warnings,
            &args.images.mirror,
            args.images.offline,
            env("PXEBAKE_LOADER_ROOT"),
            env("PXEBAKE_CACHE"),
        )
    );
    stamp::Inputs { inventory: &args.site.inventory, templates: &args.site.templates, settings }
}

/// A build whose inputs did not change since the last one, into an `out` still as that build
/// left it: nothing to load, render, check or write. Repeats that build's warnings.
fn up_to_date(args: &BuildArgs, out: &Path, key: (u128, u128), ui: &Ui) -> anyhow::Result<bool> {
    let t = Instant::now();
    if !stamp::path_for(out).exists() {
        return Ok(false);
    }
    let _lock = write::lock(out)?;
    let Some(stamp) = stamp::up_to_date(out, key)? else {
        return Ok(false);
    };
    // `--deny-warnings` is part of the key, and a build it failed leaves no stamp.
    timing("confirm", t);
    ui.warnings(&stamp.warnings);
    let summary =
        Summary { files: stamp.files, hosts: stamp.hosts, kept: stamp.hosts, links: stamp.links, up_to_date: true };
    let stats = write::Stats { written: 0, unchanged: stamp.files, removed: 0 };
    summarize(args, ui, &summary, &stats, &stamp.warnings, t.elapsed());
    Ok(true)
}

/// The plan's manifest, checked under the build lock: if another build wrote `out` since the
/// plan kept hosts' files by it, those files may have changed.
fn still_current(
    manifest: Option<crate::tree::manifest::Manifest>,
    tree: &Tree,
    out: &Path,
) -> anyhow::Result<Option<crate::tree::manifest::Manifest>> {
    match manifest {
        Some(m) if m.current(out) => Ok(Some(m)),
        _ if tree.kept_hosts > 0 => {
            bail!("`{}` was written by another build while this one was planning; run it again", out.display())
        }
        _ => Ok(crate::tree::manifest::load(out)),
    }
}

/// How many tftp/ links point into images/ (counted in the plan: bootactions may share names).
fn image_links(tree: &Tree) -> usize {
    tree.entries
        .iter()
        .filter(|(p, e)| p.starts_with("tftp/") && matches!(e, Entry::Symlink(t) if t.starts_with("../images/")))
        .count()
}

pub fn check(site: &SiteArgs, ui: &Ui) -> anyhow::Result<()> {
    let planned = plan(site, None, ui, None)?;
    let opts = crate::check::Options { images_placed: !site.no_images, deny_warnings: site.deny_warnings };
    let warnings = crate::check::lint(&planned.inventory, &planned.tree, opts, None, None)?;
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
    let out = real_out(&args.out)?;
    let planned = plan(&args.site, None, ui, Some(&out))?;
    let _lock = settle(&out)?;
    let manifest = still_current(planned.manifest, &planned.tree, &out)?;
    let opts = crate::check::Options { images_placed: !args.site.no_images, deny_warnings: args.site.deny_warnings };
    let changes = diff::compare_with(&planned.tree, &out, &opts.context(&planned.inventory), manifest, false);
    crate::tree::diff::print(&planned.tree, &out, &changes, ui.output == Output::Json)?;
    Ok(!changes.is_empty())
}

/// `pxebake fetch`: verify images into the cache and find the bootloaders, pin them,
/// optionally bundle them.
pub fn fetch(args: &FetchArgs, ui: &Ui) -> anyhow::Result<()> {
    let inv = inventory::load(&args.inventory)?;
    let loaders = match args.no_bootloaders {
        true => None,
        false => {
            let mut d = Diagnostics::default();
            let wanted = crate::serve::bootloaders(&inv, &mut d);
            d.finish()?;
            let opts = loader_options(args.source.mirror.as_deref(), args.update_lock);
            Some(crate::images::loaders::pin(&inv, &wanted, &opts)?)
        }
    };
    let opts = image_options(&args.source, args.update_lock);
    let fetched = match args.no_images {
        true => None,
        false => Some(crate::images::fetch(&inv, args.image.as_deref(), &opts, ui, &STOP)?),
    };
    crate::images::write_lock(&inv, fetched.as_ref(), loaders.as_ref(), ui)?;
    if let Some(l) = &loaders {
        ui.say(format!("{} bootloaders pinned", l.loaders.len()));
    }
    if let Some(dir) = &args.bundle {
        crate::images::bundle(dir, &inv, fetched.as_ref(), loaders.as_ref())?;
        ui.say(format!(
            "bundle `{}` ready: carry it to the air-gapped site and run `pxebake build --mirror {} --offline` there",
            dir.display(),
            dir.display()
        ));
    }
    if ui.output == Output::Json {
        let loaders: Vec<_> = loaders.iter().flat_map(|l| l.loaders.iter().map(|p| &p.entry)).collect();
        let files = fetched.as_ref().map(|f| f.entries()).unwrap_or_default();
        println!("{}", serde_json::json!({ "ok": true, "files": files, "bootloaders": loaders }));
    }
    Ok(())
}

/// `pxebake loaders [--missing]`: where each bootloader would come from on this builder.
pub fn loaders(args: &crate::cli::LoadersArgs, ui: &Ui) -> anyhow::Result<()> {
    let site = &args.build.site;
    let inv = inventory::load(&site.inventory)?;
    let mut d = Diagnostics::default();
    let wanted = match site.no_bootloaders {
        true => Vec::new(),
        false => crate::serve::bootloaders(&inv, &mut d),
    };
    d.finish()?;
    let opts = loader_options(args.build.images.mirror.as_deref(), false);
    if args.missing {
        let pkgs = crate::images::loaders::missing_packages(&inv, &wanted, &opts)?;
        match ui.output {
            Output::Json => println!("{}", serde_json::json!({ "ok": true, "missing": pkgs })),
            Output::Text if pkgs.is_empty() => {}
            Output::Text => println!("{}", pkgs.join(" ")),
        }
        return Ok(());
    }
    let rows = crate::images::loaders::survey(&inv, &wanted, &opts)?;
    if ui.output == Output::Json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let pinned = r.pinned.as_ref();
            serde_json::json!({
                "name": r.name,
                "from": r.from.unwrap_or("MISSING"),
                "path": r.path.as_deref().unwrap_or("-"),
                "package": r.package.as_deref().unwrap_or("-"),
                "pinned": pinned.map_or("-".to_string(), |l| format!("{}... {}", &l.sha256[..l.sha256.len().min(16)], l.origin())),
            })
        })
        .collect();
    print!("{}", crate::list::table(&["NAME", "FROM", "PATH", "PACKAGE", "PINNED"], &rows));
    Ok(())
}

/// `pxebake deploy`: only a whole tree goes out, and no build changes it meanwhile.
pub fn deploy(args: &DeployArgs, ui: &Ui) -> anyhow::Result<()> {
    if args.rollback {
        let (from, to) = crate::deploy::rollback(&args.dest, args.ssh.as_deref(), args.reload.as_deref(), ui)?;
        if ui.output == Output::Json {
            println!("{}", serde_json::json!({ "ok": true, "release": to, "previous": from }));
        }
        return Ok(());
    }
    let out = real_out(&args.out)?;
    if !out.join(crate::tree::diff::MARKER).is_file() {
        bail!("`{}` is not a pxebake tree; run `pxebake build` first", args.out.display());
    }
    let _lock = write::lock(&out)?;
    if write::pending(&out)? {
        bail!(
            "refusing to deploy `{}`: a build of it was cut short (pending journal or temporaries); run `pxebake build` or `pxebake diff` to finish or undo it, then deploy again",
            args.out.display()
        );
    }
    let opts = crate::deploy::Options {
        dest: args.dest.clone(),
        keep: args.keep,
        reload: args.reload.clone(),
        ssh: args.ssh.clone(),
    };
    let done = crate::deploy::deploy(&out, &opts, ui)?;
    if ui.output == Output::Json {
        println!("{}", serde_json::json!({ "ok": true, "deploy": done }));
    }
    Ok(())
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

/// `pxebake butane FILE`: the Ignition JSON on stdout, warnings on stderr.
pub fn butane(args: &crate::cli::ButaneArgs, ui: &Ui) -> anyhow::Result<()> {
    let (name, text) = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("cannot read standard input")?;
        ("<stdin>".to_string(), text)
    } else {
        let text =
            std::fs::read_to_string(&args.file).with_context(|| format!("cannot read `{}`", args.file.display()))?;
        (args.file.display().to_string(), text)
    };
    let opts = crate::butane::Options { files_dir: args.files_dir.as_deref(), strict: args.strict };
    match crate::butane::translate(&text, &opts) {
        Ok(t) => {
            let warnings: Vec<_> = t
                .warnings
                .into_iter()
                .map(|w| crate::diag::Diagnostic::warning(&name, Some(w.line), w.message))
                .collect();
            ui.warnings(&warnings);
            print!("{}", t.json);
            Ok(())
        }
        Err(problems) => {
            let mut d = Diagnostics::default();
            for p in problems {
                d.error(&name, Some(p.line), p.message);
            }
            d.finish()?;
            Ok(())
        }
    }
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
pub fn set(
    field: crate::state::Field,
    selector: &str,
    value: Option<&str>,
    installed_from: &[std::path::PathBuf],
    dir: &Path,
    ui: &Ui,
) -> anyhow::Result<()> {
    let changes = if installed_from.is_empty() {
        let Some(value) = value else {
            return Err(crate::diag::usage("missing VALUE: `pxebake set FIELD SELECTOR VALUE`").into());
        };
        crate::state::set(dir, selector, field, value)?
    } else {
        // `set boot --installed-from LOG... os`: the one word given is the value.
        if field != crate::state::Field::Boot || value.is_some() || selector != "os" {
            return Err(crate::diag::usage(
                "--installed-from takes only `pxebake set boot --installed-from LOG... os`",
            )
            .into());
        }
        let log = crate::events::Log::read(installed_from)?;
        let summary = crate::events::summarize(&log, &inventory::load(dir)?);
        let hosts = crate::discover::installed_hosts(dir, &summary)?;
        if hosts.is_empty() {
            ui.say("no host with `boot: install` has reported a completed install; nothing changed");
            Vec::new()
        } else {
            let selector: Vec<&str> = hosts.iter().map(String::as_str).collect();
            crate::state::set(dir, &selector.join(","), field, "os")?
        }
    };
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

/// `pxebake events LOG...`: unknown machines, completed installs and install loops.
pub fn events(logs: &[std::path::PathBuf], dir: &Path, ui: &Ui) -> anyhow::Result<()> {
    let inv = inventory::load(dir)?;
    let log = crate::events::Log::read(logs)?;
    let summary = crate::events::summarize(&log, &inv);
    if ui.output == Output::Json {
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    let unknown = table_rows(&summary.unknown);
    let cols = [
        "MAC",
        "SERIAL",
        "MANUFACTURER",
        "PRODUCT",
        "ARCH",
        "PLATFORM",
        "NETWORK",
        "FIRST_SEEN",
        "LAST_SEEN",
        "HELLOS",
    ];
    if !ui.quiet {
        println!("unknown machines: {}", summary.unknown.len());
        if !unknown.is_empty() {
            print!("{}", crate::list::table(&cols, &unknown));
        }
        println!("installs: {}", summary.installs.len());
        let installs = table_rows(&summary.installs);
        if !installs.is_empty() {
            print!(
                "{}",
                crate::list::table(&["HOST", "LAST_START", "LAST_INSTALLED", "VERSION", "LOOPS", "KNOWN"], &installs)
            );
        }
    }
    for i in summary.installs.iter().filter(|i| i.loops > 0) {
        ui.warn(format!(
            "host `{}` started its install again after a completed install ({} time{}): an install loop; `pxebake set boot --installed-from LOG os`, or boot disk first (docs/install-to-disk.md)",
            i.host,
            i.loops,
            if i.loops == 1 { "" } else { "s" }
        ));
    }
    if summary.skipped > 0 {
        ui.warn(format!(
            "{} of {} log lines were not pxebake events and were skipped (e.g. {})",
            summary.skipped,
            summary.lines,
            summary.skipped_examples.join("; ")
        ));
    }
    Ok(())
}

/// `pxebake discover LOG... --appliance A --network N [--rack R]`.
pub fn discover(
    logs: &[std::path::PathBuf],
    at: &crate::discover::Placement,
    dir: &Path,
    ui: &Ui,
) -> anyhow::Result<()> {
    let inv = inventory::load(dir).context("the inventory does not load; fix it first, nothing was written")?;
    let log = crate::events::Log::read(logs)?;
    let summary = crate::events::summarize(&log, &inv);
    let (added, left) = crate::discover::discover(dir, &summary, at)?;
    if ui.output == Output::Json {
        println!("{}", serde_json::json!({ "added": added, "left_out": left }));
    }
    for h in &added {
        ui.say(format!("{}: {} {} (first seen {})", h.name, h.mac, h.ip, h.first_seen));
    }
    for l in &left {
        ui.warn(format!("left out: {l}"));
    }
    ui.say(format!(
        "{} host{} added to `{}`; run `make build` (and deploy) so they boot their install action",
        added.len(),
        if added.len() == 1 { "" } else { "s" },
        dir.join(crate::discover::FILE).display()
    ));
    Ok(())
}

/// Rows for `list::table` from serializable records (keys as the table looks them up).
fn table_rows<T: serde::Serialize>(records: &[T]) -> Vec<serde_json::Value> {
    records.iter().filter_map(|r| serde_json::to_value(r).ok()).collect()
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
    let root = crate::yaml::Node::parse_inventory(&result.yaml).map_err(|e| {
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
