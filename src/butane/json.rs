//! Pretty JSON in the key order of Ignition's Go structs, as `butane --pretty` prints it.
//!
//! serde_json sorts keys alphabetically; Ignition's structs are alphabetical by Go field name
//! (so `SSHAuthorizedKeys` before `Shell`), with a node's `group`, `overwrite`, `path` and
//! `user` first in files, directories and links.

use serde_json::Value;

pub fn pretty(v: &Value) -> String {
    let mut out = String::with_capacity(4096);
    write(v, "", 0, &mut out);
    out.push('\n');
    out
}

fn pad(depth: usize, out: &mut String) {
    const SPACES: &str = "                                ";
    let mut n = 2 * depth;
    while n > 0 {
        let k = n.min(SPACES.len());
        out.push_str(&SPACES[..k]);
        n -= k;
    }
}

fn write(v: &Value, parent: &str, depth: usize, out: &mut String) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            let node = matches!(parent, "files" | "directories" | "links");
            let first = |k: &str| node && matches!(k, "group" | "overwrite" | "path" | "user");
            // Each key's sort key is made once (not per comparison), and values come with it.
            let mut entries: Vec<(bool, GoName, &String, &Value)> =
                map.iter().map(|(k, v)| (first(k), go_name(k), k, v)).collect();
            entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            out.push_str("{\n");
            for (i, (_, _, k, v)) in entries.iter().enumerate() {
                pad(depth + 1, out);
                string(k, out);
                out.push_str(": ");
                write(v, k, depth + 1, out);
                if i + 1 < entries.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(depth, out);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                pad(depth + 1, out);
                write(item, parent, depth + 1, out);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(depth, out);
            out.push(']');
        }
        Value::String(text) => string(text, out),
        other => {
            use std::fmt::Write as _;
            let _ = write!(out, "{other}");
        }
    }
}

/// A JSON string escaped as Go's encoding/json escapes it (so `<`, `>` and `&` as `\u003c`,
/// `\u003e`, `\u0026`), which makes the output byte-identical to `butane --pretty` where the
/// data URLs are.
fn string(text: &str, out: &mut String) {
    out.push('"');
    // Runs of characters that need no escape are copied whole. Every character escaped is ASCII
    // but U+2028 and U+2029 (E2 80 A8/A9 in UTF-8), so bytes are scanned, not characters.
    let bytes = text.as_bytes();
    let mut plain = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (escaped, len) = match b {
            b'"' => ("\\\"", 1),
            b'\\' => ("\\\\", 1),
            b'\n' => ("\\n", 1),
            b'\r' => ("\\r", 1),
            b'\t' => ("\\t", 1),
            b'<' | b'>' | b'&' => ("", 1),
            _ if b < 0x20 => ("", 1),
            0xe2 if matches!(bytes.get(i + 1..i + 3), Some([0x80, 0xa8 | 0xa9])) => ("", 3),
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&text[plain..i]);
        plain = i + len;
        if escaped.is_empty() {
            use std::fmt::Write as _;
            // `i..i + len` is one whole character: ASCII, or the three bytes matched above.
            let c = text[i..i + len].chars().next().unwrap_or_default();
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(escaped);
        }
        i += len;
    }
    out.push_str(&text[plain..]);
    out.push('"');
}

/// The Go field name of an Ignition JSON key (its sort key), as the pieces it is made of.
fn go_name(key: &str) -> GoName<'_> {
    for (prefix, go) in [("uuid", "UUID"), ("uid", "UID"), ("guid", "GUID"), ("https", "HTTPS"), ("http", "HTTP")] {
        if let Some(rest) = key.strip_prefix(prefix) {
            return GoName(go, rest);
        }
    }
    match key {
        "sshAuthorizedKeys" => GoName("SSHAuthorizedKeys", ""),
        "tls" => GoName("TLS", ""),
        "typeGuid" => GoName("TypeGUID", ""),
        _ => match key.chars().next() {
            // The first letter in upper case (ASCII: keys are Ignition's).
            Some(f) if f.is_ascii_lowercase() => GoName(UPPER[usize::from(f as u8 - b'a')], &key[1..]),
            _ => GoName("", key),
        },
    }
}

const UPPER: [&str; 26] = [
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W",
    "X", "Y", "Z",
];

/// A Go name as a head and the rest of the key; ordered as the joined string.
#[derive(PartialEq, Eq)]
struct GoName<'a>(&'a str, &'a str);

impl Ord for GoName<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.0 == other.0 {
            return self.1.cmp(other.1);
        }
        let a = self.0.bytes().chain(self.1.bytes());
        a.cmp(other.0.bytes().chain(other.1.bytes()))
    }
}

impl PartialOrd for GoName<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
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

    #[test]
    fn only_the_two_line_separators_of_the_e2_characters_are_escaped() {
        // U+2027, U+2028, U+2029 and U+20AC all start with byte E2 in UTF-8.
        let v = serde_json::json!("\u{2027}\u{2028}x\u{2029}\u{20ac}\u{2029}");
        let text = pretty(&v);
        assert_eq!(text, "\"\u{2027}\\u2028x\\u2029\u{20ac}\\u2029\"\n");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    /// Character by character, as Go's encoding/json decides per rune.
    fn escaped_per_char(text: &str) -> String {
        let mut out = String::from("\"");
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
        out
    }

    #[test]
    fn the_byte_scan_escapes_every_character_as_per_character() {
        let chars = (0..0x3000u32).chain([0xfffd, 0x1f600]).filter_map(char::from_u32);
        for c in chars {
            let text = format!("a{c}{c}b{c}");
            let mut out = String::new();
            string(&text, &mut out);
            assert_eq!(out, escaped_per_char(&text), "U+{:04X}", c as u32);
        }
    }
}
