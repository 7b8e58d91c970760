//! Comparing a planned tree with what is on disk: the basis of incremental writes and of
//! `pxebake diff`.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::{manifest, Entry, Tree};

/// The marker file that says a directory is a pxebake tree (and may be replaced).
pub const MARKER: &str = ".pxebake-tree";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Changed,
    Removed,
}

/// What a write would do to the tree on disk.
#[derive(Debug, Default)]
pub struct Changes<'a> {
    /// Paths that differ, sorted.
    pub paths: Vec<(String, Change)>,
    /// Paths already as planned.
    pub unchanged: Unchanged,
    /// The digest of every planned entry (for the manifest).
    pub digests: HashMap<&'a str, u128>,
    /// The digest of the plan's shape and lint settings.
    pub structure: u128,
    /// The last successful build had the same shape and lint settings: unchanged files need no lint.
    pub same_structure: bool,
    /// Unchanged paths confirmed from the manifest without reading them.
    pub quick: usize,
    /// Names in the tree that are not UTF-8 or hold control characters (never written by pxebake).
    pub odd_names: Vec<String>,
}

/// Which entries of the tree, by their place in its (sorted) order, are already as planned: a
/// flag per entry instead of a set of 800,000 paths at scale.
#[derive(Debug, Default)]
pub struct Unchanged {
    flags: Vec<bool>,
    count: usize,
}

impl Unchanged {
    /// Is the tree's entry at `index` (in the tree's order) already as planned?
    pub fn at(&self, index: usize) -> bool {
        self.flags.get(index).copied().unwrap_or(false)
    }
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl Changes<'_> {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
    pub fn count(&self, c: Change) -> usize {
        self.paths.iter().filter(|(_, k)| *k == c).count()
    }
}

/// Does the mode on disk match what `write` gives this kind of entry? (A tree written under
/// another umask by an older pxebake is rewritten.)
fn mode_ok(meta: &std::fs::Metadata, entry: &Entry) -> bool {
    match entry {
        Entry::File(_) | Entry::Copy(_) | Entry::Kept(_) | Entry::Staged { .. } => {
            meta.mode() & 0o7777 == super::write::FILE_MODE
        }
        Entry::Symlink(_) | Entry::Link(_) => true,
    }
}

/// Is the thing at `path` exactly what `entry` plans? (Reads the file.)
pub fn same(path: &Path, entry: &Entry) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !mode_ok(&meta, entry) {
        return false;
    }
    match entry {
        Entry::File(bytes) => {
            meta.is_file() && meta.len() == bytes.len() as u64 && std::fs::read(path).is_ok_and(|b| b[..] == bytes[..])
        }
        Entry::Symlink(target) => {
            meta.file_type().is_symlink() && std::fs::read_link(path).is_ok_and(|t| t.as_os_str() == target.as_str())
        }
        // Kept only while the manifest vouches for it (see `compare`).
        Entry::Kept(_) => false,
        // Only in the stage of a fresh `out` (see `write::Stage`).
        Entry::Staged { .. } => false,
        Entry::Copy(src) | Entry::Link(src) => match std::fs::metadata(src) {
            Ok(s) => {
                meta.is_file()
                    && ((meta.dev(), meta.ino()) == (s.dev(), s.ino())
                        || (meta.len() == s.len() && meta.mtime() == s.mtime()))
            }
            Err(_) => false,
        },
    }
}

/// Compares `tree` with the directory `out` (which may not exist). `context` is whatever else
/// the lints depend on (it goes into the structure digest).
pub fn compare<'a>(tree: &'a Tree, out: &Path, context: &str) -> Changes<'a> {
    compare_with(tree, out, context, manifest::load(out), false)
}

/// `compare` with the manifest already read (the one the plan kept hosts' files by: the caller
/// made sure it is still current). Kept files were found as written while planning. `listed`:
/// `out` is known to hold exactly the manifest's paths (`stamp::listing_unchanged`), so it is
/// not walked to find what to remove.
pub fn compare_with<'a>(
    tree: &'a Tree,
    out: &Path,
    context: &str,
    manifest: Option<manifest::Manifest>,
    listed: bool,
) -> Changes<'a> {
    let structure = manifest::structure(tree, context);
    // A first build: nothing to look at on disk, every path is added.
    let fresh = std::fs::symlink_metadata(out).is_err();
    // A planned directory that is a symlink (or a file) on disk: what lies behind it is not part
    // of the tree, so nothing under it counts as unchanged (the link is replaced by the directory).
    let dirs: HashSet<&str> = match fresh {
        true => HashSet::new(),
        false => planned_dirs(tree),
    };
    let not_dirs: HashSet<&str> =
        dirs.into_iter().filter(|d| std::fs::symlink_metadata(out.join(d)).is_ok_and(|m| !m.is_dir())).collect();
    let results: Vec<(&'a str, u128, bool, bool)> = tree
        .entries
        .par_iter()
        .map(|(p, e)| {
            let digest = manifest::digest(e);
            if fresh || (!not_dirs.is_empty() && parents(p).any(|d| not_dirs.contains(d))) {
                return (p.as_str(), digest, false, false);
            }
            // Kept while planning: found as written then (the manifest is still current).
            if matches!(e, Entry::Kept(_)) && manifest.is_some() {
                return (p.as_str(), digest, true, true);
            }
            let path = out.join(p);
            // Quick check: planned digest as recorded, and the file untouched since.
            let recorded =
                manifest.as_ref().and_then(|m| Some(m).zip(m.rec(p.as_str()))).filter(|r| r.1.digest == digest);
            if let Some((m, rec)) = recorded {
                if std::fs::symlink_metadata(&path).is_ok_and(|meta| m.vouches(&rec, &meta) && mode_ok(&meta, e)) {
                    return (p.as_str(), digest, true, true);
                }
            }
            (p.as_str(), digest, same(&path, e), false)
        })
        .collect();
    let mut changes = Changes {
        structure,
        same_structure: manifest.as_ref().is_some_and(|m| m.structure == structure),
        ..Changes::default()
    };
    changes.unchanged.flags.reserve(results.len());
    for ((p, digest, same, quick), e) in results.into_iter().zip(tree.entries.values()) {
        // A kept entry carries its own record for the manifest.
        if !matches!(e, Entry::Kept(_) | Entry::Staged { .. }) {
            changes.digests.insert(p, digest);
        }
        changes.unchanged.flags.push(same);
        if same {
            changes.unchanged.count += 1;
            changes.quick += usize::from(quick);
        } else {
            let kind =
                if !fresh && std::fs::symlink_metadata(out.join(p)).is_ok() { Change::Changed } else { Change::Added };
            changes.paths.push((p.to_string(), kind));
        }
    }
    let walked;
    let found: Vec<&str> = match manifest.as_ref().filter(|_| listed) {
        Some(m) => m.paths().collect(),
        None => {
            let (found, odd) = existing_checked(out);
            changes.odd_names = odd;
            walked = found;
            walked.iter().map(String::as_str).collect()
        }
    };
    // Both sorted the same way (bytes): one pass finds what is on disk but not planned.
    let mut planned = tree.entries.keys().peekable();
    for p in found {
        while planned.next_if(|q| q.as_str() < p).is_some() {}
        if planned.peek().is_none_or(|q| q.as_str() != p) && p != MARKER {
            changes.paths.push((p.to_string(), Change::Removed));
        }
    }
    changes.paths.sort();
    changes
}

/// Every directory the tree's paths lie in. The paths are sorted, so those under one directory
/// are next to each other: a directory the previous path lies in is not looked at again.
fn planned_dirs(tree: &Tree) -> HashSet<&str> {
    let mut dirs = HashSet::new();
    let mut prev = "";
    for p in tree.entries.keys() {
        for d in parents(p) {
            let seen = prev.len() > d.len() && prev.as_bytes()[d.len()] == b'/' && prev.starts_with(d);
            if !seen {
                dirs.insert(d);
            }
        }
        prev = p;
    }
    dirs
}

/// `a/b/c` -> `a`, `a/b`.
fn parents(p: &str) -> impl Iterator<Item = &str> {
    p.match_indices('/').map(move |(i, _)| &p[..i])
}

/// Every file and symlink under `root`, as relative `/`-separated paths.
pub fn existing(root: &Path) -> Vec<String> {
    existing_checked(root).0
}

/// Like `existing`, and separately the names pxebake cannot handle safely (not UTF-8, or with
/// control characters): something put there by hand, shown escaped.
pub fn existing_checked(root: &Path) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    let mut odd = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            let Ok(rel) = path.strip_prefix(root) else { continue };
            match rel.to_str() {
                Some(r) if !r.chars().any(char::is_control) => {
                    if ft.is_dir() {
                        stack.push(path);
                    } else {
                        out.push(r.to_string());
                    }
                }
                _ => odd.push(format!("{:?}", rel.as_os_str())),
            }
        }
    }
    out.sort();
    odd.sort();
    (out, odd)
}

/// Prints `changes` for people (with unified diffs of text files) or as JSON.
pub fn print(tree: &Tree, out: &Path, changes: &Changes, json: bool) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    if json {
        let rows: Vec<_> = changes.paths.iter().map(|(p, c)| serde_json::json!({ "path": p, "change": c })).collect();
        println!("{}", serde_json::json!({ "changes": rows, "unchanged": changes.unchanged.len() }));
        return Ok(());
    }
    let mut s = String::new();
    for (path, change) in &changes.paths {
        let old_path = out.join(path);
        match change {
            Change::Added => writeln!(s, "added:   {path}{}", describe(tree.entries.get(path)))?,
            Change::Removed => writeln!(s, "removed: {path}")?,
            Change::Changed => {
                let new = tree.entries.get(path);
                match (std::fs::read_link(&old_path), new) {
                    (Ok(old), Some(Entry::Symlink(t))) => {
                        writeln!(s, "changed: {path} -> {} (was -> {})", t, old.display())?
                    }
                    (Ok(old), Some(Entry::File(_))) => writeln!(
                        s,
                        "changed: {path} (was a symlink -> {})",
                        crate::names::printable(&old.to_string_lossy())
                    )?,
                    (_, Some(Entry::File(bytes))) => {
                        writeln!(s, "changed: {path}")?;
                        let Some(old) = old_file(out, path) else {
                            writeln!(s, "  (was not a regular file of the tree, or over {} MiB)", MAX_SHOWN >> 20)?;
                            continue;
                        };
                        match (std::str::from_utf8(&old), std::str::from_utf8(bytes)) {
                            (Ok(a), Ok(b)) => {
                                let d = similar::TextDiff::from_lines(a, b);
                                write!(
                                    s,
                                    "{}",
                                    d.unified_diff()
                                        .context_radius(2)
                                        .header(&format!("a/{path}"), &format!("b/{path}"))
                                )?;
                            }
                            _ => writeln!(s, "  (binary files differ)")?,
                        }
                    }
                    _ => writeln!(s, "changed: {path}{}", describe(new))?,
                }
            }
        }
    }
    write!(
        s,
        "{} added, {} changed, {} removed, {} unchanged",
        changes.count(Change::Added),
        changes.count(Change::Changed),
        changes.count(Change::Removed),
        changes.unchanged.len()
    )?;
    println!("{s}");
    Ok(())
}

/// Largest old file shown in a diff.
const MAX_SHOWN: u64 = 16 << 20;

/// The old bytes at `rel`: only a regular file reached without following any link (a link planted
/// in `out/` must not make `diff` print /etc/shadow or read /dev/zero forever), bounded in size.
fn old_file(out: &Path, rel: &str) -> Option<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    for (i, _) in rel.match_indices('/') {
        if !std::fs::symlink_metadata(out.join(&rel[..i])).is_ok_and(|m| m.is_dir()) {
            return None;
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(out.join(rel))
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_SHOWN {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_SHOWN).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

fn describe(e: Option<&Entry>) -> String {
    match e {
        Some(Entry::Symlink(t)) => format!(" -> {t}"),
        _ => String::new(),
    }
}
