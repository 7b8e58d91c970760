//! Paths inside the planned tree: following symlinks to a file, and which files other paths need
//! as directories.
//!
//! Every boot config names a few paths, so a 100,000-host tree resolves hundreds of thousands:
//! a path that names a file directly (no symlink or file on its way) is one map lookup, and the
//! rest (the kernel and initrd every host names, through links) are resolved once per worker.

use std::collections::{HashMap, HashSet};

use crate::tree::{Entry, Tree};

/// A path that does not resolve: where resolution stopped, and why.
#[derive(Debug, Clone)]
pub struct Unresolved {
    pub path: String,
    pub message: String,
}

/// Follows symlinks (in any component) inside the planned tree to a file.
pub fn resolve(tree: &Tree, path: &str) -> Result<(), Unresolved> {
    let fail = |p: &str, message: String| Unresolved { path: p.to_string(), message };
    let mut current = path.to_string();
    for _ in 0..16 {
        let mut redirected = None;
        // Each prefix ends before a `/` or at the end: the components joined back, as written.
        let ends = current.match_indices('/').map(|(i, _)| i).chain([current.len()]);
        for end in ends {
            let prefix = &current[..end];
            match tree.entries.get(prefix) {
                Some(Entry::Symlink(target)) => {
                    let dir: Vec<&str> = match prefix.rfind('/') {
                        Some(i) => prefix[..i].split('/').collect(),
                        None => Vec::new(),
                    };
                    let joined = normalize(&dir, target)
                        .ok_or_else(|| fail(prefix, format!("`{prefix}` -> `{target}` points outside the tree")))?;
                    let rest = current.get(end + 1..).unwrap_or("");
                    redirected = Some(if rest.is_empty() { joined } else { format!("{joined}/{rest}") });
                    break;
                }
                Some(_) if end == current.len() => return Ok(()),
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

/// The tree's symlinks and directory clashes, found in one pass over its sorted paths.
pub struct Links<'t> {
    tree: &'t Tree,
    /// Entries a longer path can run into on its way: symlinks, and files other paths are under.
    crossings: HashSet<&'t str>,
    /// (file, path under it): a path that is also needed as a directory.
    pub clashes: Vec<(&'t str, &'t str)>,
    pub symlinks: Vec<&'t str>,
}

/// Resolutions that went past the direct lookup (links, missing files), per worker: every host
/// names the same kernel and initrd.
#[derive(Default)]
pub struct Cache(HashMap<String, Result<(), Unresolved>>);

impl<'t> Links<'t> {
    pub fn new(tree: &'t Tree) -> Self {
        let mut links = Links { tree, crossings: HashSet::new(), clashes: Vec::new(), symlinks: Vec::new() };
        // The paths starting with a given string are adjacent in sorted order, so the entries that
        // are prefixes of the current path are exactly the stack of prefixes kept since.
        let mut stack: Vec<&str> = Vec::new();
        for (path, entry) in &tree.entries {
            while stack.last().is_some_and(|top| !path.starts_with(top)) {
                stack.pop();
            }
            for &dir in &stack {
                if path.as_bytes().get(dir.len()) == Some(&b'/') {
                    links.clashes.push((dir, path.as_str()));
                    links.crossings.insert(dir);
                }
            }
            if let Entry::Symlink(_) = entry {
                links.symlinks.push(path.as_str());
                links.crossings.insert(path.as_str());
            }
            stack.push(path);
        }
        links
    }

    /// Like `resolve`, remembering in `cache` what took more than one lookup.
    pub fn resolve<'c>(&self, cache: &'c mut Cache, path: &str) -> Result<(), &'c Unresolved> {
        if !cache.0.contains_key(path) {
            if self.direct(path) {
                return Ok(());
            }
            cache.0.insert(path.to_string(), resolve(self.tree, path));
        }
        match cache.0.get(path) {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether `path` is a file reached without passing a symlink or a file: then every prefix
    /// of it is a plain directory, and `resolve` would find it at once.
    fn direct(&self, path: &str) -> bool {
        matches!(self.tree.entries.get(path), Some(e) if !matches!(e, Entry::Symlink(_)))
            && !path.match_indices('/').any(|(i, _)| self.crossings.contains(&path[..i]))
    }
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

    fn file() -> Entry {
        Entry::File(b"x".to_vec().into())
    }

    #[test]
    fn symlinks_resolve_inside_the_tree_only() {
        let f = file();
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

    /// What the kernel does with these paths, written out: the cached resolver must agree with it
    /// on every path, however often it is asked.
    #[test]
    fn the_cached_resolver_agrees_with_a_fresh_resolution() {
        let t = tree(&[
            ("a", file()),
            ("a-b", file()),
            ("a/c", file()),
            ("d/e", file()),
            ("d/l", Entry::Symlink("e".into())),
            ("d/dir", Entry::Symlink("../d".into())),
            ("d/loop", Entry::Symlink("loop".into())),
            ("x/y/z", file()),
        ]);
        let links = Links::new(&t);
        assert_eq!(links.clashes, vec![("a", "a/c")]);
        assert_eq!(links.symlinks, vec!["d/dir", "d/l", "d/loop"]);
        let mut cache = Cache::default();
        let cases: [(&str, Option<&str>); 12] = [
            ("d/e", None),
            ("d/l", None),
            ("d/dir/e", None),
            ("d/dir/l", None),
            ("x/y", None), // a directory that holds files
            ("a-b", None),
            ("a/c", Some("`a` is a file, not a directory")),
            ("a/c/d", Some("`a` is a file, not a directory")),
            ("d/e/f", Some("`d/e` is a file, not a directory")),
            ("d/f", Some("`d/f` does not exist")),
            ("d/loop", Some("`d/loop`: too many levels of symlinks")),
            ("d//e", Some("`d//e` does not exist")),
        ];
        for _ in 0..2 {
            for (path, want) in cases {
                let got = links.resolve(&mut cache, path).err().map(|e| e.message.clone());
                assert_eq!(got.as_deref(), want, "{path}");
                assert_eq!(resolve(&t, path).err().map(|e| e.message), got, "{path}");
            }
        }
    }

    #[test]
    fn every_file_that_others_need_as_a_directory_is_found() {
        let t = tree(&[("a", file()), ("a.b", file()), ("a/b", file()), ("a/b/c", file()), ("a/bc", file())]);
        let links = Links::new(&t);
        assert_eq!(links.clashes, vec![("a", "a/b"), ("a", "a/b/c"), ("a/b", "a/b/c"), ("a", "a/bc")]);
    }
}
