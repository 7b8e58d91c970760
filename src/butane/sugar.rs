//! Butane's sugar that adds config entries: `trees` become files and links, `with_mount_unit`
//! becomes a mount (or swap) unit.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::local::{data_url, TreeEntry};
use super::translate::Translator;
use super::values::escape_path;
use crate::yaml::{Kind, Node};

impl Translator<'_> {
    /// `storage.trees`: every file and symlink below each tree's `local` directory becomes a
    /// file or link (a `files`/`links` entry without contents/target gives its attributes).
    /// Returns the paths the trees filled.
    pub(super) fn trees(&mut self, storage: Option<&Node>, out: &mut Map<String, Value>) -> BTreeSet<String> {
        let mut filled = BTreeSet::new();
        let Some(Kind::Seq(trees)) = storage.and_then(|s| s.get("trees")).map(|n| &n.kind) else { return filled };
        let mut files = take_list(out, "files");
        let mut links = take_list(out, "links");
        let dirs: BTreeSet<String> = list_of(out.get("storage"), "directories")
            .iter()
            .filter_map(|d| d.get("path").and_then(Value::as_str).map(str::to_string))
            .collect();
        for (i, tree) in trees.iter().enumerate() {
            let Some(local) = tree.get("local").and_then(Node::as_str) else { continue };
            let p = format!("storage.trees[{i}]");
            let entries = match self.files.tree(local) {
                Ok(e) => e,
                Err(e) => {
                    self.error(tree.line, format!("`{p}`: {e}"));
                    continue;
                }
            };
            let base = tree.get("path").and_then(Node::as_str).unwrap_or("/");
            for entry in entries {
                let (rel, is_file) = match &entry {
                    TreeEntry::File { rel, .. } => (rel, true),
                    TreeEntry::Link { rel, .. } => (rel, false),
                };
                let dest = format!("{}/{rel}", base.trim_end_matches('/'));
                let (own, other) = if is_file { (&mut files, &links) } else { (&mut links, &files) };
                let exists_elsewhere = dirs.contains(&dest) || other.iter().any(|x| path_of(x) == Some(&dest));
                let idx = own.iter().position(|x| path_of(x) == Some(&dest));
                let filled_already = idx.is_some_and(|j| {
                    let x = &own[j];
                    if is_file {
                        x.get("contents").and_then(|c| c.get("source")).is_some()
                    } else {
                        x.get("target").is_some()
                    }
                });
                if exists_elsewhere || filled_already || filled.contains(&dest) {
                    self.error(
                        tree.line,
                        format!("`{p}`: `{dest}` from the tree is also declared in the config with contents or another type"),
                    );
                    continue;
                }
                let j = idx.unwrap_or_else(|| {
                    own.push(serde_json::json!({ "path": dest }));
                    own.len() - 1
                });
                let Some(Value::Object(obj)) = own.get_mut(j) else { continue };
                match entry {
                    TreeEntry::File { data, executable, .. } => {
                        let user_compression = obj
                            .get("contents")
                            .and_then(|c| c.get("compression"))
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let compressed = !user_compression.is_empty();
                        let (url, gz) = data_url(&data, !compressed);
                        let contents = obj.entry("contents").or_insert_with(|| Value::Object(Map::new()));
                        if let Value::Object(c) = contents {
                            c.insert("source".into(), url.into());
                            if !compressed {
                                c.insert("compression".into(), (if gz { "gzip" } else { "" }).into());
                            }
                        }
                        obj.entry("mode").or_insert_with(|| (if executable { 0o755 } else { 0o644 }).into());
                    }
                    TreeEntry::Link { target, .. } => {
                        obj.insert("target".into(), target.into());
                    }
                }
                filled.insert(dest);
            }
        }
        put_list(out, "files", files);
        put_list(out, "links", links);
        filled
    }

    /// `with_mount_unit: true`: a mount unit (or swap unit) per filesystem, merged before the
    /// config's own units as Butane does (a unit of the same name overrides its fields).
    pub(super) fn mount_units(&mut self, storage: Option<&Node>, out: &mut Map<String, Value>) {
        let Some(Kind::Seq(filesystems)) = storage.and_then(|s| s.get("filesystems")).map(|n| &n.kind) else {
            return;
        };
        let mut generated = Vec::new();
        for (i, fs) in filesystems.iter().enumerate() {
            let Some(flag) = fs.get("with_mount_unit") else { continue };
            if flag.as_str() != Some("true") {
                continue;
            }
            let p = format!("storage.filesystems[{i}]");
            let (Some(device), Some(format)) =
                (fs.get("device").and_then(Node::as_str), fs.get("format").and_then(Node::as_str))
            else {
                self.error(flag.line, format!("`{p}`: `with_mount_unit` needs `device` and `format`"));
                continue;
            };
            let options: Vec<&str> = match fs.get("mount_options").map(|n| &n.kind) {
                Some(Kind::Seq(items)) => items.iter().filter_map(Node::as_str).collect(),
                _ => Vec::new(),
            };
            let options = if options.is_empty() { String::new() } else { format!("\nOptions={}", options.join(",")) };
            let (name, contents) = if format == "swap" {
                (
                    format!("{}.swap", escape_path(device)),
                    format!(
                        "# Generated by Butane\n[Swap]\nWhat={device}{options}\n\n[Install]\nRequiredBy=swap.target"
                    ),
                )
            } else {
                let Some(path) = fs.get("path").and_then(Node::as_str) else {
                    self.error(flag.line, format!("`{p}`: `with_mount_unit` needs `path` unless `format` is swap"));
                    continue;
                };
                let dev = escape_path(device);
                (
                    format!("{}.mount", escape_path(path)),
                    format!(
                        "# Generated by Butane\n[Unit]\nRequires=systemd-fsck@{dev}.service\nAfter=systemd-fsck@{dev}.service\n\n\
                         [Mount]\nWhere={path}\nWhat={device}\nType={format}{options}\n\n[Install]\nRequiredBy=local-fs.target"
                    ),
                )
            };
            generated.push(serde_json::json!({ "name": name, "enabled": true, "contents": contents }));
        }
        if generated.is_empty() {
            return;
        }
        let systemd = out.entry("systemd").or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(systemd) = systemd else { return };
        let mut own = match systemd.remove("units") {
            Some(Value::Array(u)) => u,
            _ => Vec::new(),
        };
        for unit in generated.iter_mut() {
            let name = unit.get("name").cloned();
            if let Some(j) = own.iter().position(|u| u.get("name") == name.as_ref()) {
                merge(unit, own.remove(j));
            }
        }
        generated.extend(own);
        systemd.insert("units".into(), Value::Array(generated));
    }
}

/// Ignition's merge of a child unit into a parent: set fields win, drop-ins merge by name.
fn merge(parent: &mut Value, child: Value) {
    let (Value::Object(p), Value::Object(c)) = (parent, child) else { return };
    for (k, v) in c {
        if k == "dropins" {
            let mut mine = match p.remove("dropins") {
                Some(Value::Array(d)) => d,
                _ => Vec::new(),
            };
            for d in v.as_array().into_iter().flatten() {
                match mine.iter().position(|m| m.get("name") == d.get("name")) {
                    Some(j) => merge(&mut mine[j], d.clone()),
                    None => mine.push(d.clone()),
                }
            }
            p.insert(k, Value::Array(mine));
        } else {
            p.insert(k, v);
        }
    }
}

fn path_of(v: &Value) -> Option<&String> {
    match v.get("path") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn list_of<'v>(storage: Option<&'v Value>, key: &str) -> &'v [Value] {
    storage.and_then(|s| s.get(key)).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn take_list(out: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match out.get_mut("storage").and_then(|s| s.as_object_mut()).and_then(|s| s.remove(key)) {
        Some(Value::Array(v)) => v,
        _ => Vec::new(),
    }
}

fn put_list(out: &mut Map<String, Value>, key: &str, list: Vec<Value>) {
    if list.is_empty() {
        return;
    }
    if let Value::Object(s) = out.entry("storage").or_insert_with(|| Value::Object(Map::new())) {
        s.insert(key.into(), Value::Array(list));
    }
}
