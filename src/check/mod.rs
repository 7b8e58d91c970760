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
mod links;
mod scan;
pub mod schema;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;

use crate::diag::{Diagnostic, Diagnostics, Invalid, Severity};
use crate::inventory::Inventory;
use crate::tree::{Entry, Tree};
pub use links::{resolve, Unresolved};
use scan::Class;

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

    /// Without images, paths into `images/` (directly or through `http/images`) are expected to dangle.
    fn report(&self, e: &Unresolved) -> bool {
        self.images_placed || !(e.path.starts_with("images/") || e.path.starts_with("http/images/"))
    }
}

/// Runs every lint; all problems are reported together, and the warnings of a passing tree are
/// handed back. Files in `skip` are known to have passed in a tree of the same shape (see
/// `tree::manifest`) and are not read again.
pub fn lint(
    inv: &Inventory,
    tree: &Tree,
    opts: Options,
    skip: Option<&crate::tree::diff::Unchanged>,
    out: Option<&std::path::Path>,
) -> Result<Vec<Diagnostic>, Invalid> {
    let mut d = Diagnostics::default();
    let links = links::Links::new(tree);
    let site = scan::Site { links: &links, base: format!("{}/", inv.site.http), opts };
    let shared = Shared::default();
    // In the tree's order, as `skip` marks them.
    let entries: Vec<(&String, &Entry)> = tree.entries.iter().collect();
    let files: Vec<Diagnostic> = entries
        .par_iter()
        .enumerate()
        .filter(|(i, _)| !skip.is_some_and(|s| s.at(*i)))
        .map_init(links::Cache::default, |cache, (_, &(path, entry))| {
            let class = Class::of(path);
            let findings = match entry {
                _ if !class.linted() => return Vec::new(),
                // The same bytes under several names (a host's MAC and IP configs) are read once.
                Entry::File(bytes) if Arc::strong_count(bytes) > 1 => {
                    let key = Arc::as_ptr(bytes) as *const u8 as usize;
                    shared.get_or(key, class, || findings(&site, cache, class, path, bytes, Some(tree)))
                }
                Entry::File(bytes) => findings(&site, cache, class, path, bytes, Some(tree)),
                // A kept file is the one in `out/` (vouched for by the manifest).
                Entry::Kept(_) => match out.map(|o| std::fs::read(o.join(path))) {
                    Some(Ok(bytes)) => findings(&site, cache, class, path, &bytes, None),
                    _ => return Vec::new(),
                },
                // A staged file is read back from the stage; hard-linked names once (by inode).
                Entry::Staged { rec, linked } => {
                    let key = (STAGED_KEY | rec.ino as usize, class);
                    match linked.then(|| shared.get(&key)).flatten() {
                        Some(found) => found,
                        None => {
                            let stage = tree.stage.as_deref().unwrap_or(std::path::Path::new(""));
                            let bytes = match std::fs::read(stage.join(path)) {
                                Ok(bytes) => bytes,
                                Err(e) => {
                                    let msg = format!(
                                        "cannot read this file back from the build's stage: {e}; run the build again"
                                    );
                                    return vec![Diagnostic::error(path.as_str(), None, msg)];
                                }
                            };
                            let found = findings(&site, cache, class, path, &bytes, Some(tree));
                            if *linked {
                                shared.insert(key, found.clone());
                            }
                            found
                        }
                    }
                }
                _ => return Vec::new(),
            };
            place(inv, tree, path, findings)
        })
        .flatten_iter()
        .collect();
    d.extend(files);
    // A path that is also a directory of other paths cannot be both.
    for (dir, path) in &links.clashes {
        d.error(dir, None, format!("this path is a file, but `{path}` needs it to be a directory; rename one of them"));
    }
    for path in &links.symlinks {
        if let Err(e) = resolve(tree, path) {
            if opts.report(&e) {
                d.error(path, None, format!("symlink {}", e.message));
            }
        }
    }
    d.finish_with_warnings(opts.deny_warnings)
}

/// A problem in a file's bytes, before it is placed at a path.
#[derive(Debug, Clone)]
struct Finding {
    line: usize,
    message: String,
    severity: Severity,
    /// Whether the message names the template and host the file was rendered from.
    origin: bool,
}

impl Finding {
    fn error(line: usize, message: String) -> Self {
        Finding { line, message, severity: Severity::Error, origin: false }
    }
}

/// Findings of files whose bytes are shared by several paths: (bytes, class) -> findings. The
/// bytes are known by their address in memory, or (`STAGED_KEY` set) by their staged inode.
#[derive(Default)]
struct Shared(Mutex<HashMap<(usize, Class), Vec<Finding>>>);

/// Marks a `Shared` key as an inode (addresses of user memory never have the top bit set).
const STAGED_KEY: usize = 1 << (usize::BITS - 1);

impl Shared {
    fn get(&self, key: &(usize, Class)) -> Option<Vec<Finding>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }

    fn insert(&self, key: (usize, Class), found: Vec<Finding>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(key, found);
    }

    fn get_or(&self, key: usize, class: Class, f: impl FnOnce() -> Vec<Finding>) -> Vec<Finding> {
        let key = (key, class);
        let lock = || self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = lock().get(&key) {
            return found.clone();
        }
        let found = f();
        lock().insert(key, found.clone());
        found
    }
}

/// Everything the lints find in one file's bytes, read as the file at `path`; `rendered` is the
/// tree when the bytes are the ones render planned there (what render checked is not checked again).
fn findings(
    site: &scan::Site,
    cache: &mut links::Cache,
    class: Class,
    path: &str,
    bytes: &[u8],
    rendered: Option<&Tree>,
) -> Vec<Finding> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    let mut out = Vec::new();
    if let Some(loader) = crate::loader::Loader::of(path, &text) {
        for (line, message) in crate::loader::check(loader, &text) {
            out.push(Finding { origin: true, ..Finding::error(line, message) });
        }
    }
    scan::config(site, cache, class, &text, &mut out);
    let problems = match kind_of(path, &text) {
        Some("cloud-config") => cloud_config::validate(&text),
        Some("ignition") => match rendered.and_then(|t| checked(t, path)) {
            Some(problems) => problems.to_vec(),
            None => ignition::validate(&text),
        },
        _ => Vec::new(),
    };
    out.extend(problems.into_iter().map(|p| Finding {
        line: p.line,
        message: p.message,
        severity: p.severity,
        origin: true,
    }));
    out
}

/// The problems render found when it validated the file it planned at `path` (`Tree::checked`).
fn checked<'t>(tree: &'t Tree, path: &str) -> Option<&'t [schema::Problem]> {
    let key = tree.origins.get(path)?;
    let i = tree.checked.binary_search_by_key(key, |(k, _)| *k).ok()?;
    Some(&tree.checked[i].1)
}

/// The findings of a file as diagnostics of `path`.
fn place(inv: &Inventory, tree: &Tree, path: &str, findings: Vec<Finding>) -> Vec<Diagnostic> {
    if findings.is_empty() {
        return Vec::new();
    }
    let from = from(inv, tree, path);
    findings
        .into_iter()
        .map(|f| Diagnostic {
            file: path.to_string(),
            line: Some(f.line),
            message: if f.origin { format!("{}{from}", f.message) } else { f.message },
            severity: f.severity,
        })
        .collect()
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

/// " (rendered from template `x` for host `y` ...)" for a file a `files` rule wrote.
fn from(inv: &Inventory, tree: &Tree, path: &str) -> String {
    tree.origins
        .get(path)
        .map(|(rule, host)| {
            format!(" (rendered from {})", crate::render::rule_origin(inv, *rule as usize, *host as usize))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod once_tests;
