//! Checks Butane and Ignition make beyond types: unique keys, value sets, combinations.
//! They run on the Butane tree so every problem has the line the user wrote.

use std::collections::{BTreeMap, BTreeSet};

use super::translate::Translator;
use crate::yaml::{Kind, Node};

fn items<'n>(node: Option<&'n Node>, key: &str) -> &'n [Node] {
    match node.and_then(|n| n.get(key)).map(|n| &n.kind) {
        Some(Kind::Seq(items)) => items,
        _ => &[],
    }
}

fn text<'n>(node: &'n Node, key: &str) -> Option<&'n str> {
    node.get(key).and_then(Node::as_str)
}

fn is_true(node: &Node, key: &str) -> bool {
    text(node, key) == Some("true")
}

fn is_false(node: &Node, key: &str) -> bool {
    text(node, key) == Some("false")
}

impl Translator<'_> {
    pub(super) fn semantics(&mut self, root: &Node, tree_paths: &BTreeSet<String>) {
        let storage = root.get("storage");
        self.proxy(root.get("ignition").and_then(|i| i.get("proxy")));
        self.nodes(storage, tree_paths);
        self.storage(storage);
        self.systemd(root.get("systemd"));
        self.passwd(root.get("passwd"));
        self.kernel_arguments(root.get("kernel_arguments"));
    }

    /// Reports entries of `list` (at `path`) whose key repeats an earlier one.
    fn unique<'n>(&mut self, list: &'n [Node], path: &str, what: &str, key: impl Fn(&'n Node) -> Option<String>) {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, item) in list.iter().enumerate() {
            let Some(k) = key(item) else { continue };
            match seen.get(&k) {
                Some(first) => self.errors.push((
                    item.line,
                    format!(
                        "`{path}[{i}]`: {what} `{k}` is already declared at line {first}; each needs a unique {what}"
                    ),
                )),
                None => {
                    seen.insert(k, item.line);
                }
            }
        }
    }

    fn nodes(&mut self, storage: Option<&Node>, tree_paths: &BTreeSet<String>) {
        let mut seen: BTreeMap<&str, (usize, String)> = BTreeMap::new();
        for list in ["files", "directories", "links"] {
            for (i, item) in items(storage, list).iter().enumerate() {
                let Some(path) = text(item, "path") else { continue };
                let here = format!("storage.{list}[{i}]");
                if let Some((line, first)) = seen.get(path) {
                    self.errors.push((
                        item.line,
                        format!(
                            "`{here}`: path `{path}` is already declared by `{first}` at line {line}; every file, directory and link needs a unique path"
                        ),
                    ));
                } else {
                    seen.insert(path, (item.line, here.clone()));
                }
                let from_tree = tree_paths.contains(path);
                if list == "files" && is_true(item, "overwrite") && !from_tree {
                    let contents = item.get("contents");
                    let has_source =
                        ["source", "inline", "local"].iter().any(|k| contents.and_then(|c| c.get(k)).is_some());
                    if !has_source {
                        self.errors.push((
                            item.line,
                            format!("`{here}`: `overwrite: true` needs `contents` (Ignition refuses to overwrite a file with nothing)"),
                        ));
                    }
                }
                if list == "links" && item.get("target").is_none() && !from_tree {
                    self.errors.push((item.line, format!("`{here}` is missing `target`")));
                }
            }
        }
    }

    /// Ignition refuses to write a node whose path runs through a link of the same config.
    fn through_links(&mut self, storage: Option<&Node>) {
        let links: Vec<(&str, usize)> = items(storage, "links")
            .iter()
            .filter(|l| !is_true(l, "hard"))
            .filter_map(|l| text(l, "path").map(|p| (p.trim_end_matches('/'), l.line)))
            .collect();
        for list in ["files", "directories", "links"] {
            for (i, item) in items(storage, list).iter().enumerate() {
                let Some(path) = text(item, "path") else { continue };
                if let Some((link, line)) = links.iter().find(|(l, _)| path.starts_with(&format!("{l}/"))) {
                    self.errors.push((
                        item.line,
                        format!(
                            "`storage.{list}[{i}]`: path `{path}` runs through the link `{link}` (line {line}); Ignition refuses to write through a link of its own config"
                        ),
                    ));
                }
            }
        }
    }

    fn storage(&mut self, storage: Option<&Node>) {
        self.through_links(storage);
        let disks = items(storage, "disks");
        self.unique(disks, "storage.disks", "device", |d| text(d, "device").map(str::to_string));
        for (i, disk) in disks.iter().enumerate() {
            let parts = items(Some(disk), "partitions");
            let path = format!("storage.disks[{i}].partitions");
            self.unique(parts, &path, "partition", |p| match text(p, "number").and_then(super::values::yaml_int) {
                Some(n) if n != 0 => Some(format!("number {n}")),
                _ => text(p, "label").map(|l| format!("label {l}")),
            });
            for (j, part) in parts.iter().enumerate() {
                self.partition(part, &format!("{path}[{j}]"));
            }
        }
        let filesystems = items(storage, "filesystems");
        self.unique(filesystems, "storage.filesystems", "device", |f| text(f, "device").map(str::to_string));
        const FORMATS: [&str; 6] = ["ext4", "btrfs", "xfs", "vfat", "swap", "none"];
        for (i, fs) in filesystems.iter().enumerate() {
            if let Some(format) = fs.get("format").filter(|f| f.as_str().is_some_and(|f| !FORMATS.contains(&f))) {
                let f = format.as_str().unwrap_or_default();
                self.errors.push((
                    format.line,
                    format!(
                        "`storage.filesystems[{i}].format`: `{f}` is not a format Ignition creates ({})",
                        FORMATS.join(", ")
                    ),
                ));
            }
        }
        let raids = items(storage, "raid");
        self.unique(raids, "storage.raid", "name", |r| text(r, "name").map(str::to_string));
        const LEVELS: [&str; 7] = ["linear", "raid0", "raid1", "raid4", "raid5", "raid6", "raid10"];
        for (i, raid) in raids.iter().enumerate() {
            if let Some(level) = raid.get("level").filter(|l| l.as_str().is_some_and(|l| !LEVELS.contains(&l))) {
                let l = level.as_str().unwrap_or_default();
                self.errors.push((
                    level.line,
                    format!("`storage.raid[{i}].level`: `{l}` is not a RAID level ({})", LEVELS.join(", ")),
                ));
            }
        }
        let luks = items(storage, "luks");
        self.unique(luks, "storage.luks", "name", |l| text(l, "name").map(str::to_string));
        for (i, l) in luks.iter().enumerate() {
            if let Some(name) = l.get("name").filter(|n| n.as_str().is_some_and(|s| s.contains('/'))) {
                self.errors.push((
                    name.line,
                    format!("`storage.luks[{i}].name` must not contain `/` (it names /dev/mapper/NAME)"),
                ));
            }
        }
    }

    fn partition(&mut self, part: &Node, path: &str) {
        if let Some(label) = part.get("label") {
            let l = label.as_str().unwrap_or_default();
            if l.chars().count() > 36 {
                self.errors
                    .push((label.line, format!("`{path}.label`: `{l}` is longer than the 36 characters GPT allows")));
            }
        }
        for key in ["guid", "type_guid"] {
            if let Some(g) = part.get(key) {
                let v = g.as_str().unwrap_or_default();
                if !is_guid(v) {
                    self.errors.push((g.line, format!("`{path}.{key}`: `{v}` is not a GUID (8-4-4-4-12 hex digits)")));
                }
            }
        }
        for key in ["number", "size_mib", "start_mib"] {
            if let Some(n) =
                part.get(key).filter(|n| n.as_str().and_then(super::values::yaml_int).is_some_and(|v| v < 0))
            {
                self.errors.push((n.line, format!("`{path}.{key}` cannot be negative")));
            }
        }
        if is_false(part, "should_exist") {
            let number = text(part, "number").and_then(super::values::yaml_int).unwrap_or(0);
            if number == 0 {
                self.errors.push((part.line, format!("`{path}`: `should_exist: false` needs a partition `number`")));
            }
            let set: Vec<&str> = ["label", "start_mib", "size_mib", "guid", "type_guid"]
                .into_iter()
                .filter(|k| part.get(k).is_some())
                .collect();
            if !set.is_empty() {
                self.errors
                    .push((part.line, format!("`{path}`: `should_exist: false` cannot go with {}", set.join(", "))));
            }
        }
    }

    fn systemd(&mut self, systemd: Option<&Node>) {
        let units = items(systemd, "units");
        self.unique(units, "systemd.units", "name", |u| text(u, "name").map(str::to_string));
        for (i, unit) in units.iter().enumerate() {
            let dropins = items(Some(unit), "dropins");
            let path = format!("systemd.units[{i}].dropins");
            self.unique(dropins, &path, "name", |d| text(d, "name").map(str::to_string));
            for (j, d) in dropins.iter().enumerate() {
                if let Some(name) = d.get("name").filter(|n| n.as_str().is_some_and(|s| !s.ends_with(".conf"))) {
                    let n = name.as_str().unwrap_or_default();
                    self.errors.push((name.line, format!("`{path}[{j}].name`: drop-in `{n}` must end in `.conf`")));
                }
            }
            if is_true(unit, "enabled") {
                if let Some(contents) = text(unit, "contents") {
                    if !contents.lines().any(|l| l.trim() == "[Install]") {
                        let name = text(unit, "name").unwrap_or_default();
                        self.warnings.push((
                            unit.line,
                            format!("`systemd.units[{i}]`: unit `{name}` is enabled but has no [Install] section, so enabling does nothing"),
                        ));
                    }
                }
            }
        }
    }

    fn passwd(&mut self, passwd: Option<&Node>) {
        let users = items(passwd, "users");
        self.unique(users, "passwd.users", "name", |u| text(u, "name").map(str::to_string));
        for (i, user) in users.iter().enumerate() {
            let keys = items(Some(user), "ssh_authorized_keys");
            self.unique(keys, &format!("passwd.users[{i}].ssh_authorized_keys"), "key", |k| {
                k.as_str().map(str::to_string)
            });
        }
        self.unique(items(passwd, "groups"), "passwd.groups", "name", |g| text(g, "name").map(str::to_string));
    }

    fn proxy(&mut self, proxy: Option<&Node>) {
        for key in ["http_proxy", "https_proxy"] {
            let Some(n) = proxy.and_then(|p| p.get(key)) else { continue };
            let Some(url) = n.as_str() else { continue };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                self.errors.push((
                    n.line,
                    format!(
                        "`ignition.proxy.{key}`: `{}` is not an http:// or https:// URL",
                        crate::names::printable(url)
                    ),
                ));
            }
        }
    }

    fn kernel_arguments(&mut self, ka: Option<&Node>) {
        let exist: BTreeSet<&str> = items(ka, "should_exist").iter().filter_map(Node::as_str).collect();
        for (i, arg) in items(ka, "should_not_exist").iter().enumerate() {
            if let Some(a) = arg.as_str().filter(|a| exist.contains(a)) {
                self.errors.push((
                    arg.line,
                    format!(
                        "`kernel_arguments.should_not_exist[{i}]`: `{a}` is also in `should_exist`; keep it in one"
                    ),
                ));
            }
        }
    }
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}
