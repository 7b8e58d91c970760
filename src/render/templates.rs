//! Template loading: built-in templates compiled into the binary, overridden file by file by
//! a templates directory, plus the small templates hidden in the inventory (bootaction args,
//! `files` paths). Everything is compiled once, before any host is rendered.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use tera::Tera;

use crate::diag::Diagnostics;
use crate::inventory::{Action, Inventory};

/// Built-in templates, by name. A file of the same name in the templates directory wins.
pub const BUILTIN: &[(&str, &str)] = &[
    ("pxelinux-host.cfg", include_str!("../../templates/pxelinux-host.cfg")),
    ("pxelinux-default.cfg", include_str!("../../templates/pxelinux-default.cfg")),
    ("cloud-config.yaml", include_str!("../../templates/cloud-config.yaml")),
    ("flatcar-install.bu", include_str!("../../templates/flatcar-install.bu")),
    ("flatcar.bu", include_str!("../../templates/flatcar.bu")),
    ("flatcar-install.sh", include_str!("../../templates/flatcar-install.sh")),
    ("grub.cfg", include_str!("../../templates/grub.cfg")),
    ("grub-host.cfg", include_str!("../../templates/grub-host.cfg")),
    ("ipxe-boot.ipxe", include_str!("../../templates/ipxe-boot.ipxe")),
    ("ipxe-host.ipxe", include_str!("../../templates/ipxe-host.ipxe")),
    ("ipxe-default.ipxe", include_str!("../../templates/ipxe-default.ipxe")),
    ("dnsmasq.conf", include_str!("../../templates/dnsmasq.conf")),
    ("dnsmasq-host.conf", include_str!("../../templates/dnsmasq-host.conf")),
    ("dnsmasq-hosts.conf", include_str!("../../templates/dnsmasq-hosts.conf")),
    ("nginx.conf", include_str!("../../templates/nginx.conf")),
    ("nginx-standalone.conf", include_str!("../../templates/nginx-standalone.conf")),
];

pub struct Templates {
    pub tera: Tera,
    /// Template name -> where it came from, for messages.
    origin: BTreeMap<String, String>,
    limits: Limits,
    /// SHA-256 of every template's name and source (an input of every rendered file).
    pub digest: [u8; 32],
}

/// What one rendering of one template may produce.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of output of one file.
    pub bytes: usize,
    /// Time, checked every few writes (and by the watchdog, for a template that never writes).
    pub time: std::time::Duration,
}

impl Default for Limits {
    /// Far above any real boot config or cloud-config, far below trouble.
    fn default() -> Limits {
        Limits { bytes: 32 << 20, time: std::time::Duration::from_secs(10) }
    }
}

/// Writes between two looks at the clock (a look per write was a good part of the cost of
/// rendering small files).
const WRITES_PER_CLOCK: u32 = 64;

/// Output buffers above this are not kept for the next rendering.
const KEPT_BUFFER: usize = 1 << 20;

thread_local! {
    /// This thread's output buffer, reused from one rendering to the next.
    static OUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A writer that refuses output past the limits.
struct Bounded<'a> {
    bytes: &'a mut Vec<u8>,
    start: std::time::Instant,
    limits: Limits,
    /// Writes left until the clock is read again.
    until_clock: u32,
    /// Why writing stopped, for the message.
    over: Option<String>,
}

impl std::io::Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let over = if self.bytes.len() + buf.len() > self.limits.bytes {
            format!(
                "the output is larger than {} KiB; a template may write at most that much per file (a runaway loop?)",
                self.limits.bytes >> 10
            )
        } else if self.late() {
            format!(
                "rendering took longer than {} ms; a template may take at most that long per file (a runaway loop?)",
                self.limits.time.as_millis()
            )
        } else {
            self.bytes.extend_from_slice(buf);
            return Ok(buf.len());
        };
        self.over = Some(over.clone());
        Err(std::io::Error::other(over))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Bounded<'_> {
    /// Past the time bound (the clock is read every `WRITES_PER_CLOCK` writes).
    fn late(&mut self) -> bool {
        if self.until_clock > 0 {
            self.until_clock -= 1;
            return false;
        }
        self.until_clock = WRITES_PER_CLOCK;
        self.start.elapsed() > self.limits.time
    }
}

/// Name of the compiled args template of a bootaction.
pub fn args_name(bootaction: &str) -> String {
    format!("bootaction `{bootaction}` args")
}

/// Name of the compiled Ignition path template of a bootaction.
pub fn ignition_name(bootaction: &str) -> String {
    format!("bootaction `{bootaction}` ignition")
}

/// Name of the compiled path template of the `files` rule at `index`.
pub fn path_name(index: usize) -> String {
    format!("files[{index}].path")
}

impl Templates {
    /// Where the template came from (`templates/x` or `built-in x`), for messages.
    pub fn origin(&self, name: &str) -> String {
        self.origin_of(name).to_string()
    }

    fn origin_of<'a>(&'a self, name: &'a str) -> &'a str {
        self.origin.get(name).map_or(name, String::as_str)
    }

    /// Does any template refer to the top-level variable `var`? (Tera's own over-approximation.)
    pub fn uses(&self, var: &str) -> bool {
        self.origin.keys().any(|n| self.tera.get_template_variables(n).is_ok_and(|vars| vars.contains(var)))
    }

    /// Renders one template, bounded in output size and time (a template is code the user
    /// wrote: a runaway loop must end in a clear error, not use up memory or the night).
    pub fn render(&self, name: &str, ctx: &tera::Context) -> Result<String, tera::Error> {
        self.render_with(name, ctx, str::to_string)
    }

    /// Renders one template as `render` does and hands the text to `f` (which must not render:
    /// the text is in this thread's output buffer, so no `String` is made for it).
    pub fn render_with<R>(&self, name: &str, ctx: &tera::Context, f: impl FnOnce(&str) -> R) -> Result<R, tera::Error> {
        OUT.with_borrow_mut(|buf| {
            buf.clear();
            let r = self.render_into(name, ctx, buf).and_then(|()| {
                std::str::from_utf8(buf).map_err(|_| tera::Error::message("the template wrote invalid UTF-8"))
            });
            let r = r.map(f);
            if buf.capacity() > KEPT_BUFFER {
                *buf = Vec::new();
            }
            r
        })
    }

    fn render_into(&self, name: &str, ctx: &tera::Context, buf: &mut Vec<u8>) -> Result<(), tera::Error> {
        let active =
            super::runaway::start(format_args!("rendering `{name}` ({})", self.origin_of(name)), self.limits.time);
        let mut out =
            Bounded { bytes: buf, start: active.start, limits: self.limits, until_clock: WRITES_PER_CLOCK, over: None };
        match self.tera.render_to(name, ctx, &mut out) {
            Ok(()) => Ok(()),
            Err(e) => Err(out.over.map(tera::Error::message).unwrap_or(e)),
        }
    }

    /// Changes the output and time bounds (tests use small ones).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub fn contains(&self, name: &str) -> bool {
        self.origin.contains_key(name)
    }

    /// Compiles built-ins, overrides from `dir` (when it exists) and the inventory's templates.
    pub fn load(dir: Option<&Path>, inv: &Inventory, d: &mut Diagnostics) -> anyhow::Result<Templates> {
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        tera.register_filter("json", |v: tera::Value, _: tera::Kwargs, _: &tera::State| {
            serde_json::to_string(&v).unwrap_or_default()
        });
        tera.register_filter("shell", |v: tera::Value, _: tera::Kwargs, _: &tera::State| shell_quote(&v));
        // Tera's `range`, counted per rendering (see `runaway`).
        tera.register_function("range", super::runaway::range);
        let mut sources: BTreeMap<String, (String, String)> =
            BUILTIN.iter().map(|(n, s)| (n.to_string(), (format!("built-in template {n}"), s.to_string()))).collect();
        if let Some(dir) = dir {
            let base = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            for path in list_files(dir, d)? {
                let name = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                let shown = crate::names::printable(&path.display().to_string());
                // A template's text ends up in served files: a link out of the directory (say to
                // /etc/shadow or a key) must not publish what it points at. Same rule as Butane's
                // `local` files.
                if let Some(real) = path.canonicalize().ok().filter(|r| !r.starts_with(&base)) {
                    d.error(
                        &shown,
                        None,
                        format!(
                            "template is a symlink to `{}`, outside the templates directory; copy the file into it",
                            crate::names::printable(&real.display().to_string())
                        ),
                    );
                    continue;
                }
                match crate::input::read_text(&path, MAX_TEMPLATE_BYTES) {
                    Ok(text) => {
                        sources.insert(name, (shown, text));
                    }
                    Err(e) => d.error(&shown, e.line, format!("template {}", e.message)),
                }
            }
        }
        for ba in inv.bootactions.values() {
            if let Action::Kernel { args, ignition, .. } = &ba.action {
                sources.insert(args_name(&ba.name), (ba.origin.to_string(), args.clone()));
                if let Some(path) = ignition {
                    sources.insert(ignition_name(&ba.name), (ba.origin.to_string(), path.clone()));
                }
            }
        }
        for (i, rule) in inv.files.iter().enumerate() {
            sources.insert(path_name(i), (rule.origin.to_string(), rule.path.clone()));
        }
        let origin: BTreeMap<String, String> = sources.iter().map(|(n, (from, _))| (n.clone(), from.clone())).collect();
        let mut h = Sha256::new();
        for (name, (_, text)) in &sources {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        let digest = h.finalize().into();
        // Add one at a time so each syntax error is reported against its own file. A template
        // that includes or extends one not added yet fails until that one is in: retry in rounds
        // until no more can be added, whatever the names' order.
        let mut pending: Vec<(&String, &(String, String))> = sources.iter().collect();
        loop {
            let before = pending.len();
            let mut failed = Vec::new();
            for (name, source) in pending {
                if let Err(e) = tera.add_raw_template(name, &source.1) {
                    failed.push((name, source, e));
                }
            }
            if failed.len() > 1 && failed.len() == before {
                // Stuck: those left may refer to each other (a cycle); Tera judges them together.
                let together = failed.iter().map(|(n, (_, text), _)| (n.as_str(), text.as_str()));
                if let Err(e) = tera.add_raw_templates(together) {
                    if e.to_string().contains("Circular") {
                        let (line, msg) = describe(&e);
                        let (name, (from, _), _) = &failed[0];
                        let (file, line) = split_origin(from, line);
                        d.error(&file, line, format!("template syntax error in `{name}`: {msg}"));
                        break;
                    }
                } else {
                    break;
                }
            }
            if failed.is_empty() || failed.len() == before {
                for (name, (from, _), e) in failed {
                    let (line, msg) = describe(&e);
                    let (file, line) = split_origin(from, line);
                    d.error(&file, line, format!("template syntax error in `{name}`: {msg}"));
                }
                break;
            }
            pending = failed.into_iter().map(|(n, s, _)| (n, s)).collect();
        }
        for rule in &inv.files {
            if !origin.contains_key(&rule.template) {
                let names: Vec<&str> = origin.keys().filter(|n| !n.contains(['`', '['])).map(String::as_str).collect();
                d.error(
                    &rule.origin.file,
                    Some(rule.origin.line),
                    format!(
                        "files: unknown template `{}`{}; templates are looked up in the templates directory, then among the built-ins",
                        rule.template,
                        crate::diag::did_you_mean(&rule.template, names)
                    ),
                );
            }
        }
        Ok(Templates { tera, origin, limits: Limits::default(), digest })
    }
}

/// Largest template file read.
const MAX_TEMPLATE_BYTES: usize = 4 << 20;
/// Deepest directory level searched for templates (a symlinked directory may loop).
const MAX_TEMPLATE_DEPTH: usize = 16;

/// Files of a directory tree, sorted; a missing directory has none. Entries that are neither
/// files nor directories are returned too, so reading them reports them (never skipped).
fn list_files(dir: &Path, d: &mut Diagnostics) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(out);
    }
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((dir_now, depth)) = stack.pop() {
        for entry in std::fs::read_dir(&dir_now)
            .with_context(|| format!("cannot read templates directory `{}`", dir_now.display()))?
        {
            let path = entry?.path();
            let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            // Follows a link; a dangling one is not a directory and is reported when read.
            if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                if depth + 1 >= MAX_TEMPLATE_DEPTH {
                    d.error(
                        &crate::names::printable(&path.display().to_string()),
                        None,
                        format!(
                            "templates are nested more than {MAX_TEMPLATE_DEPTH} directories deep (a symlink loop?)"
                        ),
                    );
                    continue;
                }
                stack.push((path, depth + 1));
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// An origin like `inventory/site.yaml:12` plus a line inside that template gives the file and
/// the line in it (a template written inline in YAML is on its key's line).
fn split_origin(from: &str, line: Option<usize>) -> (String, Option<usize>) {
    if let Some((file, l)) = from.rsplit_once(':') {
        if let Ok(l) = l.parse::<usize>() {
            return (file.to_string(), Some(l));
        }
    }
    (from.to_string(), line)
}

/// The message and template line of a Tera error.
pub fn describe(e: &tera::Error) -> (Option<usize>, String) {
    match e.kind() {
        tera::ErrorKind::SyntaxError(r) | tera::ErrorKind::RenderingError(r) => {
            (Some(r.span().start_line), r.message().to_string())
        }
        _ => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            (None, msg)
        }
    }
}

/// Where a render error points: the template's file and line.
pub fn locate(templates: &Templates, name: &str, e: &tera::Error) -> (String, Option<usize>, String) {
    let (line, msg) = describe(e);
    let (file, line) = split_origin(&templates.origin(name), line);
    (file, line, msg)
}

/// One shell word, single-quoted: nothing inside is expanded (`$`, backticks, newlines included).
fn shell_quote(v: &tera::Value) -> String {
    let text = match v.as_str() {
        Some(s) => s.to_string(),
        None => v.to_string(),
    };
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, text: &str, limits: Limits) -> Templates {
        let mut tera = Tera::new();
        tera.add_raw_template(name, text).unwrap();
        Templates { tera, origin: BTreeMap::new(), limits, digest: [0; 32] }
    }

    #[test]
    fn a_runaway_template_stops_at_the_output_bound() {
        let loops = "{% for i in range(end=100000) %}{% for j in range(end=100000) %}xxxxxxxx{% endfor %}{% endfor %}";
        let t = one("big", loops, Limits { bytes: 1 << 20, time: std::time::Duration::from_secs(60) });
        let e = t.render("big", &tera::Context::new()).unwrap_err();
        assert_eq!(
            describe(&e).1,
            "the output is larger than 1024 KiB; a template may write at most that much per file (a runaway loop?)"
        );
    }

    #[test]
    fn a_slow_template_stops_at_the_time_bound() {
        let loops = "{% for i in range(end=100000) %}{% for j in range(end=100000) %}x{% endfor %}{% endfor %}";
        let t = one("slow", loops, Limits { bytes: usize::MAX, time: std::time::Duration::from_millis(200) });
        let start = std::time::Instant::now();
        let e = t.render("slow", &tera::Context::new()).unwrap_err();
        assert!(describe(&e).1.starts_with("rendering took longer than 200 ms"), "{e}");
        assert!(start.elapsed().as_secs() < 5);
    }
    #[test]
    fn shell_words_expand_nothing() {
        let v = tera::Value::from("a'b $(x)\n");
        assert_eq!(super::shell_quote(&v), "'a'\\''b $(x)\n'");
    }
}
