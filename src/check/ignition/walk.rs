//! Checks a config's keys and value types against the table of its declared spec.

use super::spec::{lookup, Ver, F, T};
use crate::check::schema::Problem;
use crate::diag::did_you_mean;
use crate::yaml::{Kind, Node};

pub fn check(root: &Node, ver: Ver, out: &mut Vec<Problem>) {
    let mut keys = Vec::new();
    walk(root, super::spec::top(ver.major), &mut String::new(), &mut keys, ver, out);
}

/// `path` names the node: one buffer for the whole walk (messages are rare).
fn walk<'n>(node: &'n Node, ty: &T, path: &mut String, keys: &mut Vec<&'n str>, ver: Ver, out: &mut Vec<Problem>) {
    match (ty, &node.kind) {
        // Go's JSON decoder leaves a field at its zero value for null.
        (_, Kind::Null) => {}
        (T::Str, Kind::Scalar { plain: false, .. }) => {}
        (T::Bool, Kind::Scalar { value, plain: true }) if value == "true" || value == "false" => {}
        (T::Int, Kind::Scalar { value, plain: true }) if value.parse::<i64>().is_ok() => {}
        (T::Int, Kind::Scalar { value, plain: false }) if value.trim().parse::<i64>().is_ok() => {
            out.push(Problem::error(
                node.line,
                format!("`{path}` must be an integer, not a string; write {} without quotes", value.trim()),
            ))
        }
        (T::List(inner), Kind::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                use std::fmt::Write as _;
                let len = path.len();
                let _ = write!(path, "[{i}]");
                walk(item, inner, path, keys, ver, out);
                path.truncate(len);
            }
        }
        (T::Obj(fields), Kind::Map(entries)) => object(node, fields, entries, path, keys, ver, out),
        (_, _) => {
            let at = if path.is_empty() { "the config".to_string() } else { format!("`{path}`") };
            out.push(Problem::error(node.line, format!("{at} must be {}, not {}", expected(ty), kind_name(node))));
        }
    }
}

fn object<'n>(
    node: &'n Node,
    fields: &[F],
    entries: &'n [(Node, Node)],
    path: &mut String,
    keys: &mut Vec<&'n str>,
    ver: Ver,
    out: &mut Vec<Problem>,
) {
    for (k, value) in entries {
        let key = k.as_str().unwrap_or("?");
        let len = path.len();
        if len > 0 {
            path.push('.');
        }
        path.push_str(key);
        keys.push(key);
        match fields.iter().find(|f| f.name == key) {
            Some(field) if field.since <= ver.minor => {
                if let Some((minor, instead)) = field.deprecated.filter(|(minor, _)| *minor <= ver.minor) {
                    out.push(Problem::warning(
                        k.line,
                        format!("`{path}` is deprecated since spec {}; use {instead}", Ver { minor, ..ver }),
                    ));
                }
                walk(value, &field.ty, path, keys, ver, out);
            }
            Some(field) => out.push(Problem::error(
                k.line,
                format!(
                    "`{path}` needs spec {} or later; this config declares {ver}",
                    Ver { minor: field.since, ..ver }
                ),
            )),
            None => out.push(Problem::error(k.line, unknown(path, key, keys, fields, ver))),
        }
        keys.pop();
        path.truncate(len);
    }
    for field in fields.iter().filter(|f| f.required && f.since <= ver.minor) {
        let present = entries.iter().any(|(k, v)| k.as_str() == Some(field.name) && !matches!(v.kind, Kind::Null));
        if !present {
            let at = if path.is_empty() { "the config".to_string() } else { format!("`{path}`") };
            out.push(Problem::error(node.line, format!("{at} is missing `{}`", field.name)));
        }
    }
}

/// Names a key the declared spec does not have, pointing at the other major if it has it.
fn unknown(here: &str, key: &str, keys: &[&str], fields: &[F], ver: Ver) -> String {
    let other = if ver.major == 2 { 3 } else { 2 };
    match lookup(other, keys) {
        Some(field) if ver.major == 2 => {
            format!("`{here}` needs spec 3.{}.0 or later; this config declares {ver}", field.since)
        }
        Some(_) => format!("`{here}` exists only in spec 2.x configs; this config declares {ver} (see Ignition's \"Upgrading Configs\")"),
        None => format!(
            "unknown key `{here}`{}",
            did_you_mean(key, fields.iter().filter(|f| f.since <= ver.minor).map(|f| f.name))
        ),
    }
}

fn expected(ty: &T) -> &'static str {
    match ty {
        T::Str => "a string",
        T::Bool => "true or false",
        T::Int => "an integer",
        T::List(_) => "a list",
        T::Obj(_) => "an object",
    }
}

/// How a JSON value reads to a user.
pub fn kind_name(node: &Node) -> String {
    match &node.kind {
        Kind::Null => "null".into(),
        Kind::Scalar { plain: false, .. } => "a string".into(),
        Kind::Scalar { value, plain: true } if value == "true" || value == "false" => format!("`{value}`"),
        Kind::Scalar { value, plain: true } => format!("the number {value}"),
        Kind::Seq(_) => "a list".into(),
        Kind::Map(_) => "an object".into(),
    }
}
