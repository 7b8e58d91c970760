//! The walk from a checked Butane tree to Ignition JSON: snake_case keys become camelCase,
//! `inline`/`local` become data URLs, `*_local` fields read the files directory (the sugar that
//! adds entries, trees and mount units, is in `sugar`).

use serde_json::{Map, Value};

use super::local::{data_url, Files};
use super::values::{camel, check_hash, check_url, looks_decimal, yaml_int};
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
    pub(super) fn error(&mut self, line: usize, msg: String) {
        self.errors.push((line, msg));
    }

    /// The whole config.
    pub fn config(&mut self, root: &Node, spec: &'static [Field]) -> Value {
        let mut out = match self.object(root, spec, &mut String::new()) {
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

    /// `path` names `node` in messages: one buffer for the whole walk, extended and cut back.
    fn value(&mut self, node: &Node, ty: &Ty, path: &mut String) -> Option<Value> {
        match (ty, &node.kind) {
            (Ty::Obj(fields), Kind::Map(_)) => self.object(node, fields, path),
            (Ty::List(inner), Kind::Seq(items)) => {
                let len = path.len();
                let v: Vec<Value> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, n)| {
                        use std::fmt::Write as _;
                        let _ = write!(path, "[{i}]");
                        let v = self.value(n, inner, path);
                        path.truncate(len);
                        v
                    })
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

    fn object(&mut self, node: &Node, fields: &'static [Field], path: &mut String) -> Option<Value> {
        let Kind::Map(entries) = &node.kind else { return None };
        let has = |name: &str| fields.iter().any(|f| f.name == name);
        let resource = has("inline");
        let mut out = Map::new();
        let len = path.len();
        for (k, v) in entries {
            let Some(key) = k.as_str() else { continue };
            let Some(field) = fields.iter().find(|f| f.name == key) else { continue };
            path.truncate(len);
            if len > 0 {
                path.push('.');
            }
            path.push_str(key);
            // The parent's path is `path[..len]`, this key's the whole buffer.
            let in_directories = path[..len].starts_with("storage.directories");
            match key {
                "inline" | "local" if resource => {}
                "contents_local" | "ssh_authorized_keys_local" | "with_mount_unit" | "trees" => {}
                "variant" | "version" if len == 0 => {}
                "clevis" => self.error(
                    k.line,
                    format!("`{path}`: clevis is not supported by the flatcar variant (as in Butane); remove it"),
                ),
                "mode" => {
                    if let Some(m) = self.mode(v, path, in_directories) {
                        out.insert("mode".into(), m.into());
                    }
                }
                _ => {
                    if let Some(x) = self.value(v, &field.ty, path) {
                        // Ignition omits a zero partition number (it means "next free").
                        if !(key == "number" && x == 0) {
                            out.insert(camel(key), x);
                        }
                    }
                }
            }
        }
        path.truncate(len);
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
        for p in crate::check::ignition::validate(&text) {
            let message = format!("`{path}`: the Ignition config it embeds (its line {}): {}", p.line, p.message);
            match p.severity {
                crate::diag::Severity::Error => self.error(line, message),
                crate::diag::Severity::Warning => self.warnings.push((line, message)),
            }
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
}
