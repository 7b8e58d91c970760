//! The walk from a checked Butane tree to Ignition JSON, with Butane's sugar: `inline`/`local`
//! become data URLs, `*_local` fields read the files directory, `with_mount_unit` writes a
//! mount (or swap) unit, `trees` become files and links.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::local::{data_url, Files, TreeEntry};
use crate::check::schema::{Field, Ty};
use crate::yaml::{Kind, Node};

pub struct Translator<'a> {
    pub files: Files<'a>,
    /// Ignition spec version written (`3.4.0`); it decides which URL schemes are valid.
    pub ignition: &'static str,
    pub errors: Vec<(usize, String)>,
    pub warnings: Vec<(usize, String)>,
}

impl Translator<'_> {
    fn error(&mut self, line: usize, msg: String) {
        self.errors.push((line, msg));
    }

    /// The whole config.
    pub fn config(&mut self, root: &Node, spec: &'static [Field]) -> Value {
        let mut out = match self.object(root, spec, "") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let ignition = out.entry("ignition").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(ign) = ignition {
            ign.insert("version".into(), Value::String(self.ignition.into()));
        }
        let storage = root.get("storage");
        let tree_paths = self.trees(storage, &mut out);
        self.mount_units(storage, &mut out);
        self.semantics(root, &tree_paths);
        Value::Object(out)
    }

    fn value(&mut self, node: &Node, ty: &Ty, path: &str) -> Option<Value> {
        match (ty, &node.kind) {
            (Ty::Obj(fields), Kind::Map(_)) => self.object(node, fields, path),
            (Ty::List(inner), Kind::Seq(items)) => {
                let v: Vec<Value> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, n)| self.value(n, inner, &format!("{path}[{i}]")))
                    .collect();
                (!v.is_empty()).then_some(Value::Array(v))
            }
            (Ty::Bool, Kind::Scalar { value, plain: true }) => match value.as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            (Ty::Scalar, _) => self.int(node, path).map(Value::from),
            (Ty::Str | Ty::StrWith(_), Kind::Scalar { value, .. }) => Some(Value::String(value.clone())),
            _ => None, // a type error, reported by the schema check
        }
    }

    fn object(&mut self, node: &Node, fields: &'static [Field], path: &str) -> Option<Value> {
        let Kind::Map(entries) = &node.kind else { return None };
        let has = |name: &str| fields.iter().any(|f| f.name == name);
        let resource = has("inline");
        let mut out = Map::new();
        for (k, v) in entries {
            let Some(key) = k.as_str() else { continue };
            let Some(field) = fields.iter().find(|f| f.name == key) else { continue };
            let p = join(path, key);
            match key {
                "inline" | "local" if resource => {}
                "contents_local" | "ssh_authorized_keys_local" | "with_mount_unit" | "trees" => {}
                "variant" | "version" if path.is_empty() => {}
                "clevis" => self.error(
                    k.line,
                    format!("`{p}`: clevis is not supported by the flatcar variant (as in Butane); remove it"),
                ),
                "mode" => {
                    if let Some(m) = self.mode(v, &p, path.starts_with("storage.directories")) {
                        out.insert("mode".into(), m.into());
                    }
                }
                _ => {
                    if let Some(x) = self.value(v, &field.ty, &p) {
                        // Ignition omits a zero partition number (it means "next free").
                        if !(key == "number" && x == 0) {
                            out.insert(camel(key), x);
                        }
                    }
                }
            }
        }
        if resource {
            self.resource(node, path, &mut out);
        }
        if has("contents_local") {
            self.contents_local(node, path, &mut out);
        }
        if has("ssh_authorized_keys_local") {
            self.ssh_keys_local(node, path, &mut out);
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    /// A YAML integer as yaml.v3 (Butane's parser) reads it; quoted values are strings.
    fn int(&mut self, node: &Node, path: &str) -> Option<i64> {
        match &node.kind {
            Kind::Scalar { value, plain: true } => {
                let n = yaml_int(value);
                if n.is_none() {
                    self.error(node.line, format!("`{path}` must be an integer, not `{value}`"));
                }
                n
            }
            Kind::Scalar { value, plain: false } => {
                self.error(
                    node.line,
                    format!("`{path}` must be an integer, not the string \"{value}\"; remove the quotes"),
                );
                None
            }
            _ => None,
        }
    }

    fn mode(&mut self, node: &Node, path: &str, directory: bool) -> Option<i64> {
        let m = self.int(node, path)?;
        let written = node.as_str().unwrap_or_default();
        if !(0..=0o7777).contains(&m) {
            self.error(node.line, format!("`{path}`: mode `{written}` is out of range (0 to 07777)"));
            return None;
        }
        if looks_decimal(m, directory) {
            self.warnings.push((
                node.line,
                format!(
                    "`{path}`: mode `{written}` is read as decimal {m} (octal {m:o}), an unusual mode; \
                     write it in octal with a leading zero (`0{written}`)"
                ),
            ));
        }
        Some(m)
    }

    /// `inline` and `local` become a data URL in `source`; the rest is checked as Ignition does.
    fn resource(&mut self, node: &Node, path: &str, out: &mut Map<String, Value>) {
        let present = |k: &str| node.get(k).filter(|n| !matches!(n.kind, Kind::Null));
        let given: Vec<&str> = ["inline", "local", "source"].into_iter().filter(|k| present(k).is_some()).collect();
        if given.len() > 1 {
            let line = present(given[1]).map_or(node.line, |n| n.line);
            self.error(
                line,
                format!("`{path}`: only one of `inline`, `local` and `source` can be set, not {}", given.join(" and ")),
            );
            return;
        }
        let compression = out.get("compression").and_then(Value::as_str).map(str::to_string);
        if let Some(c) = &compression {
            if !matches!(c.as_str(), "" | "gzip") {
                let line = present("compression").map_or(node.line, |n| n.line);
                self.error(
                    line,
                    format!("`{path}.compression`: `{c}` is not a compression Ignition knows (`gzip` or none)"),
                );
            }
        }
        let (data, at) = match (present("inline"), present("local")) {
            (Some(n), _) => (n.as_str().map(|s| s.as_bytes().to_vec()), n),
            (_, Some(n)) => match n.as_str().map(|rel| self.files.read(rel)) {
                Some(Ok(d)) => (Some(d), n),
                Some(Err(e)) => {
                    self.error(n.line, format!("`{path}.local`: {e}"));
                    (None, n)
                }
                None => (None, n),
            },
            _ => (None, node),
        };
        if let Some(data) = data {
            if path.starts_with("ignition.config") && compression.as_deref().unwrap_or("").is_empty() {
                self.embedded_config(&data, at.line, path);
            }
            let user_compressed = compression.as_deref().is_some_and(|c| !c.is_empty());
            let (url, gz) = data_url(&data, !user_compressed);
            out.insert("source".into(), url.into());
            if !user_compressed {
                out.insert("compression".into(), (if gz { "gzip" } else { "" }).into());
            }
        }
        if let (Some(src), Some(n)) = (out.get("source").and_then(Value::as_str).map(str::to_string), present("source"))
        {
            if let Err(e) = check_url(&src, self.ignition) {
                self.error(n.line, format!("`{path}.source`: {e}"));
            }
        }
        if let Some(headers) = present("http_headers") {
            let http = out.get("source").and_then(Value::as_str).is_some_and(|s| s.starts_with("http"));
            if !http {
                self.error(headers.line, format!("`{path}.http_headers` only apply to `http` and `https` sources"));
            }
        }
        if let Some(hash) = node.get("verification").and_then(|v| v.get("hash")) {
            if let Some(h) = hash.as_str() {
                if let Err(e) = check_hash(h) {
                    self.error(hash.line, format!("`{path}.verification.hash`: {e}"));
                }
            }
        }
    }

    /// `ignition.config` inline/local contents are an Ignition config themselves.
    fn embedded_config(&mut self, data: &[u8], line: usize, path: &str) {
        let text = String::from_utf8_lossy(data);
        for p in
            crate::check::ignition::validate(&text).into_iter().filter(|p| p.severity == crate::diag::Severity::Error)
        {
            self.error(
                line,
                format!("`{path}`: the Ignition config it embeds is invalid (its line {}): {}", p.line, p.message),
            );
        }
    }

    fn contents_local(&mut self, node: &Node, path: &str, out: &mut Map<String, Value>) {
        let Some(local) = node.get("contents_local").filter(|n| !matches!(n.kind, Kind::Null)) else { return };
        if node.get("contents").is_some_and(|n| !matches!(n.kind, Kind::Null)) {
            self.error(local.line, format!("`{path}`: only one of `contents` and `contents_local` can be set"));
            return;
        }
        let Some(rel) = local.as_str() else { return };
        match self.files.read(rel).map(String::from_utf8) {
            Ok(Ok(text)) => {
                out.insert("contents".into(), text.into());
            }
            Ok(Err(_)) => self.error(local.line, format!("`{path}.contents_local`: `{rel}` is not UTF-8 text")),
            Err(e) => self.error(local.line, format!("`{path}.contents_local`: {e}")),
        }
    }

    fn ssh_keys_local(&mut self, node: &Node, path: &str, out: &mut Map<String, Value>) {
        let Some(Kind::Seq(items)) = node.get("ssh_authorized_keys_local").map(|n| &n.kind) else { return };
        let mut keys = match out.remove("sshAuthorizedKeys") {
            Some(Value::Array(k)) => k,
            _ => Vec::new(),
        };
        for (i, item) in items.iter().enumerate() {
            let Some(rel) = item.as_str() else { continue };
            let p = format!("{path}.ssh_authorized_keys_local[{i}]");
            let text = match self.files.read(rel).map(String::from_utf8) {
                Ok(Ok(t)) => t,
                Ok(Err(_)) => {
                    self.error(item.line, format!("`{p}`: `{rel}` is not UTF-8 text"));
                    continue;
                }
                Err(e) => {
                    self.error(item.line, format!("`{p}`: {e}"));
                    continue;
                }
            };
            for (n, line) in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).enumerate() {
                if line.is_empty() {
                    continue;
                }
                match crate::check::schema::ssh_public_key(line) {
                    Ok(()) => keys.push(line.into()),
                    Err(e) => self.error(item.line, format!("`{p}`: line {} of `{rel}`: {e}", n + 1)),
                }
            }
        }
        if !keys.is_empty() {
            out.insert("sshAuthorizedKeys".into(), Value::Array(keys));
        }
    }

    /// `storage.trees`: every file and symlink below each tree's `local` directory becomes a
    /// file or link (a `files`/`links` entry without contents/target gives its attributes).
    /// Returns the paths the trees filled.
    fn trees(&mut self, storage: Option<&Node>, out: &mut Map<String, Value>) -> BTreeSet<String> {
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
    fn mount_units(&mut self, storage: Option<&Node>, out: &mut Map<String, Value>) {
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

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Butane's snake_case key as Ignition's camelCase (`size_mib` -> `sizeMiB`).
pub fn camel(key: &str) -> String {
    let mut out = String::new();
    for (i, part) in key.split('_').enumerate() {
        if i == 0 {
            out.push_str(part);
        } else if part == "mib" {
            out.push_str("MiB");
        } else {
            let mut c = part.chars();
            if let Some(f) = c.next() {
                out.push(f.to_ascii_uppercase());
                out.push_str(c.as_str());
            }
        }
    }
    out
}

/// An integer as yaml.v3 resolves a plain scalar: decimal, `0x` hex, `0o`/leading-`0` octal,
/// `0b` binary, with an optional sign and `_` separators.
pub fn yaml_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let body = body.replace('_', "");
    let (digits, radix) = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (o, 8)
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (b, 2)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// Whether a mode looks like octal digits written without the leading zero: unusual as
/// written, usual when read as octal (Butane's heuristic, reimplemented).
fn looks_decimal(mode: i64, directory: bool) -> bool {
    let Some(octal) = decimal_digits_as_octal(mode) else { return false };
    !typical_mode(mode, directory) && typical_mode(octal, directory)
}

fn decimal_digits_as_octal(mode: i64) -> Option<i64> {
    if !(0..=7777).contains(&mode) {
        return None;
    }
    let mut out = 0;
    for div in [1000, 100, 10, 1] {
        let d = (mode / div) % 10;
        if d > 7 {
            return None;
        }
        out = out * 8 + d;
    }
    Some(out)
}

/// A permission set a person would plausibly choose: each wider class has no bit the narrower
/// one lacks, someone can read, and special bits only where they make sense.
fn typical_mode(mode: i64, directory: bool) -> bool {
    if mode == 0 {
        return true;
    }
    let (mut r_seen, mut w_seen, mut x_seen) = (false, false, false);
    for perm in [mode & 7, (mode >> 3) & 7, (mode >> 6) & 7] {
        let (r, w, x) = (perm & 4 != 0, perm & 2 != 0, perm & 1 != 0);
        if (!r && r_seen) || (!w && w_seen) || (!x && x_seen) {
            return false;
        }
        if x && r_seen && !x_seen {
            return false;
        }
        if (w || x) && !r {
            return false;
        }
        r_seen |= r;
        w_seen |= w;
        x_seen |= x;
    }
    if !r_seen {
        return false;
    }
    if directory {
        x_seen && mode & 0o4000 == 0 && (mode & 0o3000 == 0 || w_seen)
    } else {
        let special_ok = mode & 0o6000 == 0 || (x_seen && mode & 2 == 0);
        special_ok && mode & 0o1000 == 0
    }
}

/// systemd-escape --path: the unit name of a path (`/var/lib/data` -> `var-lib-data`).
pub fn escape_path(path: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !start {
            out.push('-');
        }
        for (i, b) in part.bytes().enumerate() {
            let leading_dot = start && i == 0 && b == b'.';
            if !leading_dot && (b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.')) {
                out.push(b as char);
            } else {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        start = false;
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

/// URL schemes Ignition fetches from (`arn` since spec 3.4.0).
pub fn check_url(url: &str, ignition: &str) -> Result<(), String> {
    let shown = crate::names::printable(url);
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    let mut known = vec!["http", "https", "tftp", "s3", "gs", "data"];
    if ignition != "3.3.0" {
        known.push("arn");
    }
    match scheme {
        Some(s) if known.contains(&s.as_str()) => {
            if s == "data" && !url.contains(',') {
                return Err(format!("`{shown}` is not a valid data URL (no `,` before the data)"));
            }
            Ok(())
        }
        _ => Err(format!("`{shown}` is not a URL Ignition can fetch (schemes: {})", known.join(", "))),
    }
}

/// `sha512-<128 hex>` or `sha256-<64 hex>`.
pub fn check_hash(h: &str) -> Result<(), String> {
    let ok = match h.split_once('-') {
        Some(("sha512", hex)) => hex.len() == 128 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        Some(("sha256", hex)) => hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{}` is not `sha512-<128 hex digits>` or `sha256-<64 hex digits>`", crate::names::printable(h)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_integers_read_like_butane() {
        assert_eq!(yaml_int("0644"), Some(420));
        assert_eq!(yaml_int("0o755"), Some(493));
        assert_eq!(yaml_int("420"), Some(420));
        assert_eq!(yaml_int("0x1ed"), Some(493));
        assert_eq!(yaml_int("0"), Some(0));
        assert_eq!(yaml_int("-1"), Some(-1));
        assert_eq!(yaml_int("0999"), None);
        assert_eq!(yaml_int("big"), None);
        assert_eq!(yaml_int("4.2"), None);
    }

    #[test]
    fn decimal_looking_modes_are_spotted() {
        assert!(looks_decimal(644, false));
        assert!(looks_decimal(755, true));
        assert!(!looks_decimal(0o644, false));
        assert!(!looks_decimal(420, false));
        assert!(!looks_decimal(0, false));
    }

    #[test]
    fn paths_escape_like_systemd() {
        assert_eq!(escape_path("/var/lib/data"), "var-lib-data");
        assert_eq!(escape_path("/"), "-");
        assert_eq!(escape_path("/dev/disk/by-label/my-data"), "dev-disk-by\\x2dlabel-my\\x2ddata");
        assert_eq!(escape_path("//srv//.hidden/"), "srv-.hidden");
        assert_eq!(escape_path("/.x"), "\\x2ex");
        assert_eq!(camel("size_mib"), "sizeMiB");
        assert_eq!(camel("wipe_partition_entry"), "wipePartitionEntry");
    }
}
