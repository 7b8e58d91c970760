//! Pretty JSON in the key order of Ignition's Go structs, as `butane --pretty` prints it.
//!
//! serde_json sorts keys alphabetically; Ignition's structs are alphabetical by Go field name
//! (so `SSHAuthorizedKeys` before `Shell`), with a node's `group`, `overwrite`, `path` and
//! `user` first in files, directories and links.

use serde_json::Value;

pub fn pretty(v: &Value) -> String {
    let mut out = String::new();
    write(v, "", 0, &mut out);
    out.push('\n');
    out
}

fn write(v: &Value, parent: &str, depth: usize, out: &mut String) {
    let pad = |d: usize| "  ".repeat(d);
    match v {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            let node = matches!(parent, "files" | "directories" | "links");
            keys.sort_by_key(|k| {
                let first = node && matches!(k.as_str(), "group" | "overwrite" | "path" | "user");
                (!first, go_name(k))
            });
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                string(k, out);
                out.push_str(": ");
                write(&map[k.as_str()], k, depth + 1, out);
                if i + 1 < keys.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                write(item, parent, depth + 1, out);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        Value::String(text) => string(text, out),
        other => out.push_str(&other.to_string()),
    }
}

/// A JSON string escaped as Go's encoding/json escapes it (so `<`, `>` and `&` as `\u003c`,
/// `\u003e`, `\u0026`), which makes the output byte-identical to `butane --pretty` where the
/// data URLs are.
fn string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The Go field name of an Ignition JSON key (its sort key).
fn go_name(key: &str) -> String {
    for (prefix, go) in [("uuid", "UUID"), ("uid", "UID"), ("guid", "GUID"), ("https", "HTTPS"), ("http", "HTTP")] {
        if let Some(rest) = key.strip_prefix(prefix) {
            return format!("{go}{rest}");
        }
    }
    match key {
        "sshAuthorizedKeys" => "SSHAuthorizedKeys".into(),
        "tls" => "TLS".into(),
        "typeGuid" => "TypeGUID".into(),
        _ => {
            let mut c = key.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_ignition_struct_order() {
        let v = serde_json::json!({
            "ignition": {"version": "3.4.0", "config": {}},
            "storage": {"files": [{"mode": 420, "path": "/a", "contents": {"source": "data:,"}, "user": {"id": 1}}]},
            "passwd": {"users": [{"shell": "/bin/sh", "sshAuthorizedKeys": ["k"], "name": "core", "uid": 500}]}
        });
        let text = pretty(&v);
        let order = |a: &str, b: &str| text.find(a).unwrap() < text.find(b).unwrap();
        assert!(order("\"config\"", "\"version\""));
        assert!(
            order("\"path\"", "\"contents\"") && order("\"user\"", "\"contents\"") && order("\"contents\"", "\"mode\"")
        );
        assert!(order("\"sshAuthorizedKeys\"", "\"shell\"") && order("\"shell\"", "\"uid\""));
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn strings_escape_like_go() {
        let v = serde_json::json!("a<b>&\"\\\n\t\u{1b}\u{2028}é");
        let text = pretty(&v);
        assert_eq!(text, "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\t\\u001b\\u2028é\"\n");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }
}
