//! A small structural schema checker over line-numbered YAML/JSON trees.
//!
//! cloud-config and Ignition are both "known keys with known types"; describing them as data
//! (`Ty`) keeps the validators short and makes every problem carry its line. Unknown keys are
//! reported with a "did you mean" hint, like Ignition's own strict parser.

use crate::diag::{did_you_mean, Severity};
use crate::yaml::{Kind, Node};

/// A scalar check: returns the problem with the value, if any.
pub type ScalarCheck = fn(&str) -> Result<(), String>;

pub enum Ty {
    Str,
    /// A string that must also pass a check.
    StrWith(ScalarCheck),
    Bool,
    Int,
    /// An integer that must also pass a check.
    IntWith(fn(i64) -> Result<(), String>),
    /// Any scalar (string, number or bool), e.g. etcd2 settings.
    Scalar,
    List(&'static Ty),
    /// A mapping with known keys (name, type, required).
    Obj(&'static [Field]),
    /// A mapping from any key to values of one type.
    MapOf(&'static Ty),
    /// Anything at all.
    Any,
}

pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
}

/// Shorthand for schema tables.
pub const fn f(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: false }
}

pub const fn req(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: true }
}

/// A problem at a line, with the dotted path of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
    pub severity: Severity,
}

impl Problem {
    pub fn error(line: usize, message: impl Into<String>) -> Self {
        Problem { line, message: message.into(), severity: Severity::Error }
    }

    /// Something the consumer still applies but the user should change.
    pub fn warning(line: usize, message: impl Into<String>) -> Self {
        Problem { line, message: message.into(), severity: Severity::Warning }
    }
}

/// Checks `node` against `ty`; `path` names the value in messages (e.g. `coreos.units[0].name`).
pub fn check(node: &Node, ty: &Ty, path: &str, out: &mut Vec<Problem>) {
    walk(node, ty, &mut path.to_string(), out);
}

/// `check` with one path buffer for the whole walk, extended and cut back (a path string per
/// node, and its message prefix, were most of the cost of a valid document).
fn walk(node: &Node, ty: &Ty, path: &mut String, out: &mut Vec<Problem>) {
    let at = |path: &str| if path.is_empty() { "the document".to_string() } else { format!("`{path}`") };
    let mut bad = |msg: String| out.push(Problem::error(node.line, msg));
    match (ty, &node.kind) {
        (Ty::Any, _) => {}
        (Ty::Str | Ty::StrWith(_) | Ty::Scalar, Kind::Scalar { value, .. }) => {
            if let Ty::StrWith(c) = ty {
                if let Err(e) = c(value) {
                    bad(format!("{}: {e}", at(path)));
                }
            }
        }
        (Ty::Bool, Kind::Scalar { value, plain: true }) if matches!(value.as_str(), "true" | "false") => {}
        (Ty::Int | Ty::IntWith(_), Kind::Scalar { value, plain: true }) => match value.parse::<i64>() {
            Ok(n) => {
                if let Ty::IntWith(c) = ty {
                    if let Err(e) = c(n) {
                        bad(format!("{}: {e}", at(path)));
                    }
                }
            }
            Err(_) => bad(format!("{} must be an integer, not `{value}`", at(path))),
        },
        (Ty::List(inner), Kind::Seq(items)) => {
            let len = path.len();
            for (i, item) in items.iter().enumerate() {
                use std::fmt::Write as _;
                let _ = write!(path, "[{i}]");
                walk(item, inner, path, out);
                path.truncate(len);
            }
        }
        (Ty::MapOf(inner), Kind::Map(entries)) => {
            let len = path.len();
            for (k, v) in entries {
                join(path, k.as_str().unwrap_or("?"));
                walk(v, inner, path, out);
                path.truncate(len);
            }
        }
        (Ty::Obj(fields), Kind::Map(entries)) => {
            let len = path.len();
            for (k, v) in entries {
                let key = k.as_str().unwrap_or("?");
                join(path, key);
                match fields.iter().find(|f| f.name == key) {
                    Some(field) => walk(v, &field.ty, path, out),
                    None => out.push(Problem::error(
                        k.line,
                        format!("unknown key `{path}`{}", did_you_mean(key, fields.iter().map(|f| f.name))),
                    )),
                }
                path.truncate(len);
            }
            for field in fields.iter().filter(|f| f.required) {
                if !entries.iter().any(|(k, _)| k.as_str() == Some(field.name)) {
                    out.push(Problem::error(node.line, format!("{} is missing `{}`", at(path), field.name)));
                }
            }
        }
        (_, Kind::Null) if !matches!(ty, Ty::Obj(_) | Ty::List(_)) => {}
        (_, _) => bad(format!("{} must be {}, not {}", at(path), expected(ty), node.type_name())),
    }
}

/// `path.key` (or `key` at the top).
fn join(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn expected(ty: &Ty) -> &'static str {
    match ty {
        Ty::Str | Ty::StrWith(_) => "a string",
        Ty::Bool => "true or false",
        Ty::Int | Ty::IntWith(_) => "an integer",
        Ty::Scalar => "a scalar",
        Ty::List(_) => "a list",
        Ty::Obj(_) | Ty::MapOf(_) => "a mapping",
        Ty::Any => "anything",
    }
}

/// A value as `names::printable` shows it, made only when a message is written.
pub struct Printable<'a>(pub &'a str);

impl std::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::names::printable(self.0))
    }
}

/// An OpenSSH public key line: `TYPE BASE64 [comment]`, the blob naming the same type.
pub fn ssh_public_key(s: &str) -> Result<(), String> {
    use base64::Engine as _;
    const TYPES: [&str; 8] = [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-dss",
    ];
    let shown = Printable(s);
    let not_a_key =
        || format!("`{shown}` is not an OpenSSH public key (`TYPE BASE64 [comment]`, as in ~/.ssh/id_ed25519.pub)");
    let mut parts = s.split_whitespace();
    let (Some(ty), Some(data)) = (parts.next(), parts.next()) else {
        return Err(not_a_key());
    };
    if !TYPES.contains(&ty) {
        return Err(format!("{}; `{ty}` is not a key type ({})", not_a_key(), TYPES.join(", ")));
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| format!("`{shown}`: the key data is not valid base64"))?;
    let named =
        blob.get(..4).map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize).and_then(|n| blob.get(4..4 + n));
    if named != Some(ty.as_bytes()) {
        return Err(format!("`{shown}`: the key data does not encode a `{ty}` key"));
    }
    Ok(())
}

/// Absolute paths only (relative paths are ambiguous on the target).
pub fn absolute_path(s: &str) -> Result<(), String> {
    if s.starts_with('/') && !s.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(format!("path `{}` must be absolute", crate::names::printable(s)))
    }
}

/// The systemd unit types (a unit name's suffix), as Ignition and coreos-cloudinit know them.
pub const UNIT_TYPES: [&str; 12] = [
    ".service",
    ".socket",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".target",
    ".path",
    ".timer",
    ".snapshot",
    ".slice",
    ".scope",
];

/// systemd unit names need a unit-type suffix.
pub fn unit_name(s: &str) -> Result<(), String> {
    const SUFFIXES: [&str; 12] = UNIT_TYPES;
    let ok = SUFFIXES.iter().any(|suf| s.len() > suf.len() && s.ends_with(suf))
        && !s.contains('/')
        && !s.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unit name `{}` needs a unit type suffix ({}) and no `/` or spaces",
            crate::names::printable(s),
            SUFFIXES.join(", ")
        ))
    }
}

/// cloud-config `coreos.units` also takes networkd units (`*.network`, `*.netdev`, `*.link`):
/// coreos-cloudinit installs them for systemd-networkd and reloads it.
pub fn cloud_config_unit_name(s: &str) -> Result<(), String> {
    let networkd = [".network", ".netdev", ".link"].iter().any(|suf| s.len() > suf.len() && s.ends_with(suf));
    if networkd && !s.contains('/') && !s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Ok(());
    }
    unit_name(s).map_err(|e| format!("{e}; or a networkd unit (.network, .netdev, .link)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_keys_must_be_well_formed() {
        let good = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d me@host";
        assert!(ssh_public_key(good).is_ok());
        assert!(ssh_public_key("put your /root/.ssh/id_rsa.pub here").is_err());
        assert!(ssh_public_key("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d").is_err());
        assert!(ssh_public_key("ssh-ed25519 not-base64!").is_err());
    }

    #[test]
    fn unit_names_need_a_suffix() {
        assert!(unit_name("etcd2.service").is_ok());
        assert!(unit_name("etcd2").is_err());
        assert!(unit_name(".service").is_err());
        assert!(cloud_config_unit_name("20-bond0.70.network").is_ok());
        assert!(cloud_config_unit_name("10-bond0.netdev").is_ok());
        assert!(cloud_config_unit_name("bond0").is_err());
        assert!(unit_name("10-bond0.netdev").is_err());
    }
}
