//! cloud-config validation, as coreos-cloudinit applies it at boot on Flatcar today.
//!
//! coreos-cloudinit reads the file with yaml.v3 into Go structs (flatcar/coreos-cloudinit
//! `config/*.go`): a key it does not know is dropped without a word. Since its move to yaml.v3
//! (2024) it no longer maps `-` to `_` in keys, so `reboot-strategy` is dropped too, while its own
//! `-validate` still accepts it. So every key is checked against the runtime's spelling, and a
//! spelling it ignores is an error naming the one that works. Settings for services Flatcar no
//! longer ships are warnings: still written, but nothing uses them.

mod keys;
mod tabs;

use base64::Engine as _;

use super::schema::Problem;
use crate::diag::did_you_mean;
use crate::yaml::{Kind, Node};
use keys::{Go, Key, TOP};

/// Validates a cloud-config; problems carry lines in `text`.
pub fn validate(text: &str) -> Vec<Problem> {
    let first = text.lines().next().unwrap_or("");
    if first.trim_end() != "#cloud-config" {
        return vec![Problem::error(
            1,
            format!(
                "the first line must be exactly `#cloud-config`, not `{}`; coreos-cloudinit would not read this file as a cloud-config",
                crate::names::printable(first)
            ),
        )];
    }
    let (clean, tabs) = tabs::sanitize(text);
    let mut out: Vec<Problem> = tabs::refused(&clean, &tabs).into_iter().map(|(l, m)| Problem::error(l, m)).collect();
    match Node::parse(&clean) {
        Ok(node) => {
            walk(&node, &Go::Struct(TOP), &mut String::new(), &mut out);
            units(&node, &mut out);
            write_files(&node, &mut out);
        }
        Err(e) => out.push(Problem::error(e.line.unwrap_or(1), e.message)),
    }
    out.sort_by_key(|p| p.line);
    out
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "the document".to_string()
    } else {
        format!("`{path}`")
    }
}

/// Checks `node` against the Go type the runtime decodes it into. yaml.v3 decodes null into
/// anything (the zero value), any scalar into a string, and YAML 1.1 `yes`/`no`/`on`/`off` into
/// a bool. `path` names the node (one buffer for the whole walk: messages are rare).
fn walk(node: &Node, ty: &Go, path: &mut String, out: &mut Vec<Problem>) {
    let mut bad = |what: &str, path: &str| {
        let found = match &node.kind {
            Kind::Scalar { value, .. } => format!("`{}`", crate::names::printable(value)),
            _ => node.type_name().to_string(),
        };
        out.push(Problem::error(node.line, format!("{} must be {what}, not {found}", at(path))));
    };
    match (ty, &node.kind) {
        (_, Kind::Null) => {}
        (Go::Str, Kind::Scalar { .. }) => {}
        (Go::Str, _) => bad("a string", path),
        (Go::Bool, Kind::Scalar { value, plain }) if is_bool(value, *plain) => {}
        (Go::Bool, _) => bad("true or false", path),
        (Go::Int, Kind::Scalar { value, plain: true }) if is_int(value) => {}
        (Go::Int, _) => bad("an integer", path),
        (Go::Float, Kind::Scalar { value, plain: true }) if is_int(value) || value.parse::<f64>().is_ok() => {}
        (Go::Float, _) => bad("a number", path),
        (Go::Strs(check), Kind::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                let len = push_index(path, i);
                walk(item, &Go::Str, path, out);
                value(item, *check, path, out);
                path.truncate(len);
            }
        }
        (Go::List(keys), Kind::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                let len = push_index(path, i);
                match item.kind {
                    // A null entry decodes to an empty struct: report what it lacks.
                    Kind::Null => required(item, keys, path, out),
                    _ => walk(item, &Go::Struct(keys), path, out),
                }
                path.truncate(len);
            }
        }
        (Go::Strs(_) | Go::List(_), _) => bad("a list", path),
        (Go::Struct(keys), Kind::Map(entries)) => {
            for (k, v) in entries {
                let name = k.as_str().unwrap_or("?");
                let len = path.len();
                if len > 0 {
                    path.push('.');
                }
                path.push_str(name);
                match keys.iter().find(|f| f.name == name) {
                    Some(key) => {
                        if let Some(note) = key.deprecated {
                            out.push(Problem::warning(k.line, format!("`{path}` {note}")));
                        }
                        walk(v, &key.ty, path, out);
                        value(v, key.check, path, out);
                    }
                    None => out.push(Problem::error(k.line, unknown(keys, name, &path[..len], path))),
                }
                path.truncate(len);
            }
            required(node, keys, path, out);
        }
        (Go::Struct(_), _) => bad("a mapping", path),
    }
}

/// Appends `[i]` to `path`; returns the length to truncate back to.
fn push_index(path: &mut String, i: usize) -> usize {
    use std::fmt::Write as _;
    let len = path.len();
    let _ = write!(path, "[{i}]");
    len
}

fn required(node: &Node, keys: &[Key], path: &str, out: &mut Vec<Problem>) {
    for key in keys.iter().filter(|k| k.required) {
        let value = node.get(key.name).and_then(Node::as_str).unwrap_or("");
        if value.is_empty() {
            out.push(Problem::error(
                node.line,
                format!("{} is missing `{}` (coreos-cloudinit skips or fails on it)", at(path), key.name),
            ));
        }
    }
}

/// The message for a key the runtime does not read.
fn unknown(keys: &[Key], name: &str, parent: &str, path: &str) -> String {
    let fixed = name.replace('-', "_");
    if fixed != name && keys.iter().any(|k| k.name == fixed) {
        return format!("`{path}` is ignored by coreos-cloudinit since 2024 (yaml.v3); write `{fixed}`");
    }
    if parent.is_empty() && keys::COREOS.iter().any(|k| k.name == fixed) {
        return format!("`{name}` is ignored at the top level; it belongs under `coreos:`");
    }
    if parent == "coreos" && TOP.iter().any(|k| k.name == fixed) {
        return format!("`{path}` is ignored; `{fixed}` belongs at the top level, not under `coreos:`");
    }
    format!("unknown key `{path}`{}; coreos-cloudinit ignores it", did_you_mean(name, keys.iter().map(|k| k.name)))
}

fn value(node: &Node, check: Option<keys::Check>, path: &str, out: &mut Vec<Problem>) {
    if let (Some(check), Kind::Scalar { value, .. }) = (check, &node.kind) {
        match check(value) {
            Ok(None) => {}
            Ok(Some(w)) => out.push(Problem::warning(node.line, format!("`{path}`: {w}"))),
            Err(e) => out.push(Problem::error(node.line, format!("`{path}`: {e}"))),
        }
    }
}

/// What yaml.v3 decodes into a Go bool: YAML 1.2 booleans, and YAML 1.1 ones even quoted.
fn is_bool(v: &str, plain: bool) -> bool {
    const YAML11: [&str; 16] =
        ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"];
    (plain && matches!(v, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")) || YAML11.contains(&v)
}

/// A YAML integer as yaml.v3 resolves it (`_` separators, 0x/0o/0b prefixes).
fn is_int(v: &str) -> bool {
    let v = v.replace('_', "");
    let digits = v.strip_prefix(['-', '+']).unwrap_or(&v);
    let (radix, digits) = match digits.get(..2) {
        Some("0x") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ => (10, digits),
    };
    !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok()
}

/// Unit rules that need more than one field.
fn units(root: &Node, out: &mut Vec<Problem>) {
    let Some(Node { kind: Kind::Seq(units), .. }) = root.get("coreos").and_then(|c| c.get("units")) else {
        return;
    };
    for (i, unit) in units.iter().enumerate() {
        let Some(name) = unit.get("name").and_then(Node::as_str) else { continue };
        let set = |key: &str| unit.get(key).and_then(Node::as_str).is_some_and(|v| is_bool(v, true) && truthy(v));
        let given = |key: &str| unit.get(key).is_some_and(|n| !matches!(n.kind, Kind::Null));
        if keys::is_networkd(name) {
            for key in ["command", "enable"] {
                if given(key) {
                    let line = unit.get(key).map_or(unit.line, |n| n.line);
                    out.push(Problem::warning(line, format!(
                        "`coreos.units[{i}].{key}` is ignored for the networkd unit `{name}`: coreos-cloudinit restarts systemd-networkd instead; drop `{key}`"
                    )));
                }
            }
        }
        if let Some(note) = keys::retired_unit(name) {
            if !given("content") && !set("mask") {
                out.push(Problem::warning(unit.line, format!("`coreos.units[{i}]`: unit `{name}` {note}")));
            }
        }
    }
}

fn truthy(v: &str) -> bool {
    matches!(v, "true" | "True" | "TRUE" | "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON")
}

/// write_files rules that need more than one field: the content must decode as `encoding` says.
fn write_files(root: &Node, out: &mut Vec<Problem>) {
    let Some(Node { kind: Kind::Seq(files), .. }) = root.get("write_files") else { return };
    for (i, file) in files.iter().enumerate() {
        let Some(encoding) = file.get("encoding").and_then(Node::as_str) else { continue };
        let content = file.get("content");
        let text = content.and_then(Node::as_str).unwrap_or("");
        if let Err(e) = decode(text, encoding) {
            let line = content.map_or(file.line, |c| c.line);
            out.push(Problem::error(
                line,
                format!("`write_files[{i}].content` does not decode as `{encoding}`: {e}; coreos-cloudinit fails on this file"),
            ));
        }
    }
}

/// Decodes `content` as coreos-cloudinit does (`config/decode.go`); an unknown encoding is
/// reported by the field check.
fn decode(content: &str, encoding: &str) -> Result<Vec<u8>, String> {
    match encoding {
        "" => Ok(content.as_bytes().to_vec()),
        "b64" | "base64" => base64(content),
        "gz" | "gzip" => gunzip(content.as_bytes()),
        "gz+base64" | "gzip+base64" | "gz+b64" | "gzip+b64" => gunzip(&base64(content)?),
        _ => Ok(Vec::new()),
    }
}

/// Go's standard base64: padding required, line breaks skipped, loose trailing bits allowed.
fn base64(content: &str) -> Result<Vec<u8>, String> {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let joined: String = content.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    GO_STD.decode(joined).map_err(|e| format!("not base64 ({e})"))
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).map_err(|e| format!("not gzip data ({e})"))?;
    Ok(out)
}

#[cfg(test)]
mod tests;
