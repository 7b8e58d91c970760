//! What Ignition refuses (or warns about) after parsing: its `Validate` methods in
//! `config/v3_*/types` and `config/validate` (duplicates), and `config/v2_*/types` for 2.x.
//! Each rule reads the line-numbered tree and skips values of the wrong type (the schema walk
//! reports those).

mod resource;
mod storage;
mod systemd;

use std::collections::BTreeMap;

use super::spec::Ver;
use crate::check::schema::Problem;
use crate::yaml::{Kind, Node};

pub fn check(root: &Node, ver: Ver, out: &mut Vec<Problem>) {
    let mut r = Rules { ver, out };
    resource::check(root, &mut r);
    storage::check(root, &mut r);
    systemd::check(root, &mut r);
    passwd(root, &mut r);
    proxy(root, &mut r);
}

pub struct Rules<'a> {
    pub ver: Ver,
    out: &'a mut Vec<Problem>,
}

impl Rules<'_> {
    pub fn err(&mut self, line: usize, msg: String) {
        self.out.push(Problem::error(line, msg));
    }

    pub fn warn(&mut self, line: usize, msg: String) {
        self.out.push(Problem::warning(line, msg));
    }

    pub fn v3(&self) -> bool {
        self.ver.major == 3
    }

    /// Spec 3.x refuses duplicate entries (by key); Ignition 0.x did not check 2.x configs.
    pub fn unique(&mut self, entries: impl IntoIterator<Item = Entry>, what: &str) {
        if self.v3() {
            self.duplicates(entries, what, "");
        }
    }

    /// Duplicates that Flatcar's translation of 2.x configs to spec 3 refuses as well (paths,
    /// units, drop-ins: ign-converter's Check2_4).
    pub fn unique_translated(&mut self, entries: impl IntoIterator<Item = Entry>, what: &str) {
        let why = if self.v3() { "" } else { " (Flatcar's translation of 2.x configs to spec 3 refuses this)" };
        self.duplicates(entries, what, why);
    }

    fn duplicates(&mut self, entries: impl IntoIterator<Item = Entry>, what: &str, why: &str) {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for e in entries {
            match seen.get(&e.key) {
                Some(first) => {
                    self.err(e.line, format!("`{}`: {what} `{}` is already used by `{first}`{why}", e.path, e.key));
                }
                None => {
                    seen.insert(e.key, e.owner);
                }
            }
        }
    }
}

/// One keyed list entry: its key, where it is, and what to call its first user.
pub struct Entry {
    pub key: String,
    pub line: usize,
    pub path: String,
    pub owner: String,
}

impl Entry {
    pub fn new(key: &str, line: usize, path: String, owner: String) -> Self {
        Entry { key: key.to_string(), line, path, owner }
    }
}

/// The node at `keys` below `node` (mappings only).
pub fn at<'n>(node: &'n Node, keys: &[&str]) -> Option<&'n Node> {
    keys.iter().try_fold(node, |n, k| n.get(k))
}

/// The items of the list at `keys`, empty if absent or not a list.
pub fn list<'n>(node: &'n Node, keys: &[&str]) -> &'n [Node] {
    match at(node, keys).map(|n| &n.kind) {
        Some(Kind::Seq(items)) => items,
        _ => &[],
    }
}

/// A JSON string value at `key`.
pub fn text<'n>(node: &'n Node, key: &str) -> Option<&'n str> {
    match &node.get(key)?.kind {
        Kind::Scalar { value, plain: false } => Some(value),
        _ => None,
    }
}

/// A non-empty JSON string value at `key` (Ignition treats "" as unset).
pub fn set<'n>(node: &'n Node, key: &str) -> Option<&'n str> {
    text(node, key).filter(|s| !s.is_empty())
}

pub fn flag(node: &Node, key: &str) -> Option<bool> {
    match &node.get(key)?.kind {
        Kind::Scalar { value, plain: true } => value.parse().ok(),
        _ => None,
    }
}

pub fn int(node: &Node, key: &str) -> Option<i64> {
    match &node.get(key)?.kind {
        Kind::Scalar { value, plain: true } => value.parse().ok(),
        _ => None,
    }
}

/// Present and not null.
pub fn has(node: &Node, key: &str) -> bool {
    node.get(key).is_some_and(|n| !matches!(n.kind, Kind::Null))
}

pub fn line_of(node: &Node, key: &str) -> usize {
    node.get(key).map_or(node.line, |n| n.line)
}

/// String list entries with their lines.
pub fn strings<'n>(node: &'n Node, keys: &[&str]) -> Vec<(&'n str, usize)> {
    list(node, keys)
        .iter()
        .filter_map(|n| match &n.kind {
            Kind::Scalar { value, plain: false } => Some((value.as_str(), n.line)),
            _ => None,
        })
        .collect()
}

/// Ignition 3.x paths: absolute and already clean (`path.Clean(p) == p`).
pub fn path_problem(p: &str, v3: bool) -> Option<String> {
    if p.is_empty() {
        return Some("the path is empty".into());
    }
    if !p.starts_with('/') {
        return Some(format!("path `{p}` must be absolute"));
    }
    if v3 && clean(p) != p {
        return Some(format!("path `{p}` is not clean; write `{}`", clean(p)));
    }
    None
}

/// Lexical cleaning as Go's `path.Clean` does for absolute paths.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

fn passwd(root: &Node, r: &mut Rules) {
    let users = list(root, &["passwd", "users"]);
    r.unique(
        users.iter().enumerate().filter_map(|(i, u)| {
            let name = text(u, "name")?;
            Some(Entry::new(name, line_of(u, "name"), format!("passwd.users[{i}].name"), format!("passwd.users[{i}]")))
        }),
        "user",
    );
    let groups = list(root, &["passwd", "groups"]);
    r.unique(
        groups.iter().enumerate().filter_map(|(i, g)| {
            let name = text(g, "name")?;
            Some(Entry::new(
                name,
                line_of(g, "name"),
                format!("passwd.groups[{i}].name"),
                format!("passwd.groups[{i}]"),
            ))
        }),
        "group",
    );
    for (i, u) in users.iter().enumerate() {
        // Ignition writes any text as a key; a placeholder only shows up as a failed login.
        for (j, (key, line)) in strings(u, &["sshAuthorizedKeys"]).into_iter().enumerate() {
            if let Err(e) = crate::check::schema::ssh_public_key(key) {
                r.warn(line, format!("`passwd.users[{i}].sshAuthorizedKeys[{j}]`: {e}"));
            }
        }
        for key in ["sshAuthorizedKeys", "groups"] {
            r.unique(
                strings(u, &[key]).into_iter().enumerate().map(|(j, (s, line))| {
                    Entry::new(s, line, format!("passwd.users[{i}].{key}[{j}]"), format!("passwd.users[{i}].{key}"))
                }),
                "entry",
            );
        }
        // Spec 2.x: `create` cannot be mixed with the same keys on the user.
        if r.ver.major == 2 && has(u, "create") {
            for key in [
                "uid",
                "gecos",
                "homeDir",
                "noCreateHome",
                "primaryGroup",
                "groups",
                "noUserGroup",
                "noLogInit",
                "shell",
                "system",
            ] {
                if has(u, key) {
                    r.err(
                        line_of(u, key),
                        format!("`passwd.users[{i}].{key}` cannot be combined with the deprecated `create`; move `create`'s keys onto the user"),
                    );
                }
            }
        }
    }
}

fn proxy(root: &Node, r: &mut Rules) {
    let Some(proxy) = at(root, &["ignition", "proxy"]) else { return };
    for (key, http_ok) in [("httpProxy", true), ("httpsProxy", false)] {
        let Some(url) = text(proxy, key) else { continue };
        let line = line_of(proxy, key);
        match resource::scheme(url) {
            Some("http") if !http_ok => r.warn(
                line,
                format!("`ignition.proxy.{key}`: `{url}` is a plaintext HTTP proxy for HTTPS resources; use an https:// proxy"),
            ),
            Some("http" | "https") => {}
            _ => r.err(line, format!("`ignition.proxy.{key}`: `{url}` is not an http:// or https:// URL")),
        }
    }
    r.unique(
        strings(proxy, &["noProxy"]).into_iter().enumerate().map(|(j, (s, line))| {
            Entry::new(s, line, format!("ignition.proxy.noProxy[{j}]"), "ignition.proxy.noProxy".into())
        }),
        "entry",
    );
}
