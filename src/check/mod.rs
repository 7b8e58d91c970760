//! Lints over a planned tree, run before anything is written: a tree that builds is a tree
//! that boots.
//!
//! - every cloud-config and Ignition config the tree serves is valid;
//! - every URL under `site.http` that a boot config or served file names is a file in `http/`;
//! - every TFTP path a PXELINUX or GRUB config names is a file in `tftp/`;
//! - every symlink resolves inside the tree;
//! - kernel command lines fit the kernel's limit.

pub mod cloud_config;
pub mod ignition;
pub mod ignition_release;
pub mod schema;

use std::collections::HashSet;

use rayon::prelude::*;

use crate::diag::{Diagnostic, Diagnostics, Invalid};
use crate::inventory::Inventory;
use crate::tree::{Entry, Tree};

/// The x86 kernel keeps at most this many bytes of command line (COMMAND_LINE_SIZE - 1).
pub const MAX_CMDLINE: usize = 2047;

/// Which checks to relax: without images, links into `images/` are expected to dangle.
#[derive(Clone, Copy, Default)]
pub struct Options {
    pub images_placed: bool,
    /// Warnings (what the consumer still applies) fail like errors.
    pub deny_warnings: bool,
}

impl Options {
    /// What else the lint result depends on, besides the tree (for `tree::manifest`); the version
    /// because another pxebake may check more.
    pub fn context(&self, inv: &Inventory) -> String {
        format!(
            "lint {}|loaders 1|{}|{}|{}",
            env!("CARGO_PKG_VERSION"),
            inv.site.http,
            self.images_placed,
            self.deny_warnings
        )
    }
}

/// Runs every lint; all problems are reported together, and the warnings of a passing tree are
/// handed back. Files in `skip` are known to have passed in a tree of the same shape (see
/// `tree::manifest`) and are not read again.
pub fn lint(
    inv: &Inventory,
    tree: &Tree,
    opts: Options,
    skip: Option<&HashSet<&str>>,
    out: Option<&std::path::Path>,
) -> Result<Vec<Diagnostic>, Invalid> {
    let mut d = Diagnostics::default();
    let configs: Vec<Diagnostic> = tree
        .entries
        .par_iter()
        .filter(|(path, _)| !skip.is_some_and(|s| s.contains(path.as_str())))
        .filter_map(|(path, entry)| match entry {
            Entry::File(bytes) => Some((path, std::borrow::Cow::Borrowed(&bytes[..]))),
            // A kept file is the one in `out/` (vouched for by the manifest).
            Entry::Kept(_) => Some((path, std::borrow::Cow::Owned(std::fs::read(out?.join(path)).ok()?))),
            _ => None,
        })
        .flat_map_iter(|(path, bytes)| {
            let text = String::from_utf8_lossy(&bytes);
            let mut out = lint_config(inv, tree, path, &text, opts);
            out.extend(lint_document(inv, tree, path, &text));
            out
        })
        .collect();
    d.extend(configs);
    // A path that is also a directory of other paths cannot be both.
    for path in tree.entries.keys() {
        for (i, _) in path.match_indices('/') {
            if tree.entries.contains_key(&path[..i]) {
                d.error(
                    &path[..i],
                    None,
                    format!("this path is a file, but `{path}` needs it to be a directory; rename one of them"),
                );
            }
        }
    }
    for (path, entry) in &tree.entries {
        if let Entry::Symlink(_) = entry {
            if let Err(e) = resolve(tree, path) {
                if opts.report(&e) {
                    d.error(path, None, format!("symlink {}", e.message));
                }
            }
        }
    }
    d.finish_with_warnings(opts.deny_warnings)
}

/// What kind of document a served file is, if one pxebake can check.
fn kind_of(path: &str, text: &str) -> Option<&'static str> {
    if !path.starts_with("http/") {
        return None;
    }
    if text.starts_with("#cloud") {
        return Some("cloud-config");
    }
    if path.ends_with(".ign") || (path.ends_with(".json") && text.contains("\"ignition\"")) {
        return Some("ignition");
    }
    None
}

fn lint_document(inv: &Inventory, tree: &Tree, path: &str, text: &str) -> Vec<Diagnostic> {
    let problems = match kind_of(path, text) {
        Some("cloud-config") => cloud_config::validate(text),
        Some("ignition") => ignition::validate(text),
        _ => return Vec::new(),
    };
    let from = from(inv, tree, path);
    problems
        .into_iter()
        .map(|p| Diagnostic {
            file: path.to_string(),
            line: Some(p.line),
            message: format!("{}{from}", p.message),
            severity: p.severity,
        })
        .collect()
}

/// " (rendered from template `x` for host `y` ...)" for a file a `files` rule wrote.
fn from(inv: &Inventory, tree: &Tree, path: &str) -> String {
    tree.origins
        .get(path)
        .map(|(rule, host)| {
            format!(" (rendered from {})", crate::render::rule_origin(inv, *rule as usize, *host as usize))
        })
        .unwrap_or_default()
}

/// Boot configs: check the loader syntax, the URLs and TFTP paths they name, and kernel command line length.
fn lint_config(inv: &Inventory, tree: &Tree, path: &str, text: &str, opts: Options) -> Vec<Diagnostic> {
    let grub = path.starts_with("tftp/grub/");
    let pxelinux = path.starts_with("tftp/pxelinux.cfg/");
    let ipxe = path.starts_with("http/ipxe/");
    // Every text file served over HTTP may name URLs of the site (cloud-configs, bootstrap scripts).
    if !(grub || pxelinux || path.starts_with("http/")) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(loader) = crate::loader::Loader::of(path, text) {
        for (line, message) in crate::loader::check(loader, text) {
            out.push(Diagnostic::error(path, Some(line), format!("{message}{}", from(inv, tree, path))));
        }
    }
    let mut err = |line: usize, message: String| {
        out.push(Diagnostic::error(path, Some(line), message));
    };
    let base = format!("{}/", inv.site.http);
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim();
        if trimmed.starts_with('#') && !trimmed.starts_with("#!") {
            continue;
        }
        // A backslash ends a URL too: in JSON (Ignition) text it starts an escape like `\n`.
        let words = trimmed.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '(' | ')' | '\\'));
        for url in words.filter_map(url_in) {
            if url.contains("${") || url.contains('$') {
                continue; // resolved by the loader at boot time
            }
            if let Some(rel) = url.strip_prefix(&base) {
                let rel = rel.split(['?', '#']).next().unwrap_or("");
                if rel == crate::events::ENDPOINT {
                    continue; // answered by nginx itself (see templates/nginx.conf)
                }
                let target = format!("http/{rel}");
                if let Err(e) = resolve(tree, &target) {
                    if opts.report(&e) {
                        err(n, format!("URL `{url}` is served by no file in the tree: {}", e.message));
                    }
                }
            }
        }
        let mut words = trimmed.split_whitespace();
        let keyword = words.next().unwrap_or("").to_ascii_lowercase();
        let tftp_file = match (pxelinux, grub, keyword.as_str()) {
            (true, _, "kernel" | "linux" | "initrd") => words.next().map(|w| w.to_string()),
            (_, true, "linux" | "initrd") => words.next().map(|w| grub_path(w).to_string()),
            _ => None,
        };
        if let Some(file) = tftp_file.filter(|f| !f.contains("://") && !f.contains('$')) {
            let target = format!("tftp/{}", file.trim_start_matches('/'));
            if let Err(e) = resolve(tree, &target) {
                if opts.report(&e) {
                    err(n, format!("`{keyword} {file}` names a TFTP file the tree does not have: {}", e.message));
                }
            }
        }
        let cmdline = match keyword.as_str() {
            "append" if pxelinux => Some(trimmed["append".len()..].trim()),
            "linux" if grub => {
                trimmed.split_once(char::is_whitespace).and_then(|(_, r)| r.trim().split_once(' ')).map(|(_, a)| a)
            }
            "kernel" if ipxe => {
                trimmed.split_once(char::is_whitespace).and_then(|(_, r)| r.trim().split_once(' ')).map(|(_, a)| a)
            }
            _ => None,
        };
        if let Some(args) = cmdline {
            if args.len() > MAX_CMDLINE {
                err(n, format!("kernel command line is {} bytes; the kernel keeps at most {MAX_CMDLINE}", args.len()));
            }
        }
    }
    out
}

/// An http(s) URL inside a word like `cloud-config-url=http://...`.
fn url_in(word: &str) -> Option<&str> {
    let start = word.find("http://").or_else(|| word.find("https://"))?;
    Some(&word[start..])
}

/// GRUB paths may carry a device: `(tftp)/x`, `($root)/x`, `(tftp,10.0.0.1)/x`.
fn grub_path(w: &str) -> &str {
    match w.strip_prefix('(') {
        Some(rest) => rest.split_once(')').map_or(w, |(_, p)| p),
        None => w,
    }
}

/// A path that does not resolve: where resolution stopped, and why.
#[derive(Debug)]
pub struct Unresolved {
    pub path: String,
    pub message: String,
}

impl Options {
    /// Without images, paths into `images/` (directly or through `http/images`) are expected to dangle.
    fn report(&self, e: &Unresolved) -> bool {
        self.images_placed || !(e.path.starts_with("images/") || e.path.starts_with("http/images/"))
    }
}

/// Follows symlinks (in any component) inside the planned tree to a file.
pub fn resolve(tree: &Tree, path: &str) -> Result<(), Unresolved> {
    let fail = |p: &str, message: String| Unresolved { path: p.to_string(), message };
    let mut current = path.to_string();
    for _ in 0..16 {
        let parts: Vec<&str> = current.split('/').collect();
        let mut redirected = None;
        for i in 1..=parts.len() {
            let prefix = parts[..i].join("/");
            match tree.entries.get(&prefix) {
                Some(Entry::Symlink(target)) => {
                    let dir = &parts[..i - 1];
                    let joined = normalize(dir, target)
                        .ok_or_else(|| fail(&prefix, format!("`{prefix}` -> `{target}` points outside the tree")))?;
                    let rest = parts[i..].join("/");
                    redirected = Some(if rest.is_empty() { joined } else { format!("{joined}/{rest}") });
                    break;
                }
                Some(_) if i == parts.len() => return Ok(()),
                Some(_) => return Err(fail(&current, format!("`{prefix}` is a file, not a directory"))),
                None => {}
            }
        }
        match redirected {
            Some(next) => current = next,
            None => {
                // A directory that holds files is fine for a path that names the directory itself.
                let dir = format!("{current}/");
                if tree.entries.range(dir.clone()..).next().is_some_and(|(k, _)| k.starts_with(&dir)) {
                    return Ok(());
                }
                return Err(fail(&current, format!("`{current}` does not exist")));
            }
        }
    }
    Err(fail(path, format!("`{path}`: too many levels of symlinks")))
}

/// Joins a relative link target to its directory; None when it leaves the tree.
/// Only leading `..` are accepted: after a name, `..` would be resolved by the kernel through
/// that name (which may itself be a link), not lexically as here.
fn normalize(dir: &[&str], target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.to_vec();
    let mut named = false;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." if named => return None,
            ".." => {
                parts.pop()?;
            }
            c => {
                named = true;
                parts.push(c);
            }
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[(&str, Entry)]) -> Tree {
        let mut t = Tree::default();
        for (p, e) in entries {
            t.entries.insert(p.to_string(), e.clone());
        }
        t
    }

    #[test]
    fn symlinks_resolve_inside_the_tree_only() {
        let f = Entry::File(b"x".to_vec().into());
        let t = tree(&[
            ("images/a/1/k", f.clone()),
            ("tftp/k", Entry::Symlink("../images/a/1/k".into())),
            ("http/images", Entry::Symlink("../images".into())),
            ("tftp/bad", Entry::Symlink("../../etc/passwd".into())),
            ("tftp/gone", Entry::Symlink("../images/a/2/k".into())),
        ]);
        assert!(resolve(&t, "tftp/k").is_ok());
        assert!(resolve(&t, "http/images/a/1/k").is_ok());
        assert!(resolve(&t, "tftp/bad").unwrap_err().message.contains("outside the tree"));
        let t2 = tree(&[
            ("t/k", f.clone()),
            ("t/up", Entry::Symlink("..".into())),
            ("t/esc", Entry::Symlink("up/../../t/k".into())),
        ]);
        assert!(
            resolve(&t2, "t/esc").unwrap_err().message.contains("outside the tree"),
            "`..` after a name is refused"
        );
        let gone = resolve(&t, "tftp/gone").unwrap_err();
        assert_eq!((gone.path.as_str(), gone.message.as_str()), ("images/a/2/k", "`images/a/2/k` does not exist"));
    }

    #[test]
    fn grub_device_prefixes_are_stripped() {
        assert_eq!(grub_path("(tftp,10.0.0.1)/vmlinuz"), "/vmlinuz");
        assert_eq!(grub_path("/vmlinuz"), "/vmlinuz");
    }
}
