//! Template loading: built-in templates compiled into the binary, overridden file by file by
//! a templates directory, plus the small templates hidden in the inventory (bootaction args,
//! `files` paths). Everything is compiled once, before any host is rendered.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
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
        self.origin.get(name).cloned().unwrap_or_else(|| name.to_string())
    }

    /// Does any template refer to the top-level variable `var`? (Tera's own over-approximation.)
    pub fn uses(&self, var: &str) -> bool {
        self.origin.keys().any(|n| self.tera.get_template_variables(n).is_ok_and(|vars| vars.contains(var)))
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
        let mut sources: BTreeMap<String, (String, String)> =
            BUILTIN.iter().map(|(n, s)| (n.to_string(), (format!("built-in template {n}"), s.to_string()))).collect();
        if let Some(dir) = dir {
            for path in list_files(dir)? {
                let name = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read template `{}`", path.display()))?;
                sources.insert(name, (path.display().to_string(), text));
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
        let mut origin = BTreeMap::new();
        for (name, (from, text)) in &sources {
            // Add one at a time so each syntax error is reported against its own file.
            if let Err(e) = tera.add_raw_template(name, text) {
                let (line, msg) = describe(&e);
                let (file, line) = split_origin(from, line);
                d.error(&file, line, format!("template syntax error in `{name}`: {msg}"));
            }
            origin.insert(name.clone(), from.clone());
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
        Ok(Templates { tera, origin })
    }
}

/// Files of a directory tree, sorted; a missing directory has none.
fn list_files(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot read templates directory `{}`", d.display()))?
        {
            let path = entry?.path();
            let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
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
    #[test]
    fn shell_words_expand_nothing() {
        let v = tera::Value::from("a'b $(x)\n");
        assert_eq!(super::shell_quote(&v), "'a'\\''b $(x)\n'");
    }
}
