//! Ignition config validation (JSON; spec 3.0.0-3.6.0, and 2.0.0-2.4.0 which Flatcar translates).
//!
//! Ignition refuses to boot with a config it cannot parse or validate; this checks the same
//! offline, with lines. JSON syntax is checked with serde_json, the rest on the line-numbered
//! tree (JSON is YAML, so the same parser gives the lines): keys and types against the declared
//! spec (`spec`, `walk`), then what Ignition's `Validate` methods refuse (`rules`).

mod rules;
mod spec;
mod walk;

use crate::check::schema::Problem;
use crate::yaml::{Kind, Node};
use spec::{Ver, KNOWN};

/// Validates an Ignition config; problems carry lines in `text`, sorted by line.
pub fn validate(text: &str) -> Vec<Problem> {
    check(text).problems
}

/// What one validation of a config found: everything a later reader of the same bytes needs,
/// so that they are parsed and validated once (render validates the Ignition a Butane template
/// translates to; the lint and the boot config's spec check take this instead of reading it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// As `validate` returns them.
    pub problems: Vec<Problem>,
    /// As `spec_version` returns it.
    pub version: Option<String>,
}

/// Validates an Ignition config and reads its declared spec version, from one parse.
pub fn check(text: &str) -> Checked {
    if text.trim().is_empty() {
        let p = Problem::error(
            1,
            "the config is empty; Ignition refuses it (start from `{\"ignition\": {\"version\": \"3.6.0\"}}`)",
        );
        return Checked { problems: vec![p], version: None };
    }
    let version = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => declared_string(&v),
        Err(e) => {
            let p = Problem::error(e.line().max(1), format!("not valid JSON: {e}"));
            return Checked { problems: vec![p], version: None };
        }
    };
    Checked { problems: validate_json(text), version }
}

/// The checks after the JSON syntax (`text` is valid JSON).
fn validate_json(text: &str) -> Vec<Problem> {
    let root = match Node::parse(text) {
        Ok(n) => n,
        Err(e) => return vec![Problem::error(e.line.unwrap_or(1), e.message)],
    };
    if !matches!(root.kind, Kind::Map(_)) {
        return vec![Problem::error(
            root.line,
            format!(
                "an Ignition config must be a JSON object like {{\"ignition\": {{\"version\": \"3.6.0\"}}}}, not {}",
                walk::kind_name(&root)
            ),
        )];
    }
    let ver = match declared(&root) {
        Ok(ver) => ver,
        Err(p) => return vec![p],
    };
    let mut out = Vec::new();
    walk::check(&root, ver, &mut out);
    rules::check(&root, ver, &mut out);
    out.sort_by_key(|p| p.line);
    out
}

/// The declared `ignition.version`, as written (None unless the text is JSON declaring a string).
pub fn spec_version(text: &str) -> Option<String> {
    declared_string(&serde_json::from_str(text).ok()?)
}

fn declared_string(v: &serde_json::Value) -> Option<String> {
    v.get("ignition")?.get("version")?.as_str().map(str::to_string)
}

/// The newest stable spec an Ignition release reads natively (`"2.24.0"` -> `"3.5.0"`), from
/// Ignition's docs/specs.md table; 0.x releases (spec2x branch) read 2.x specs. None for a
/// release that is not a version or is older than any spec known here.
///
/// Spec 2.x configs are not in this order: Flatcar's Ignition 2.x still reads them by
/// translating them to 3.x at boot (Flatcar docs, "Ignition Specification": "v1 and v2 are
/// still supported and get translated at runtime", since Flatcar 3185.0.0), so a 2.x config
/// suits any Flatcar release; Fedora CoreOS and RHCOS with Ignition 2.x refuse it.
pub fn max_spec_for_ignition(release: &str) -> Option<&'static str> {
    const SPECS3: [&str; 7] = ["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0", "3.6.0"];
    let r = super::ignition_release::parse(release)?;
    match super::ignition_release::max_spec(r) {
        Some((3, minor, 0)) => SPECS3.get(usize::try_from(minor).ok()?).copied(),
        Some(_) => None,
        // Ignition 0.x (the spec2x branch): 2.3.0 by 0.33.0, 2.4.0 stable from 0.35.0.
        None if r >= (0, 35, 0) => Some("2.4.0"),
        None if r >= (0, 33, 0) => Some("2.3.0"),
        None => None,
    }
}

fn known_list() -> String {
    KNOWN.iter().map(Ver::to_string).collect::<Vec<_>>().join(", ")
}

/// The spec the config declares, or the one problem that stops checking.
fn declared(root: &Node) -> Result<Ver, Problem> {
    let latest = KNOWN[KNOWN.len() - 1];
    if let Some(old) = root.get("ignitionVersion") {
        return Err(Problem::error(
            old.line,
            format!(
                "`ignitionVersion` marks a spec 1 config, which pxebake does not check; convert it to spec {latest}"
            ),
        ));
    }
    let Some(ignition) = root.get("ignition") else {
        return Err(Problem::error(
            root.line,
            format!("missing `ignition.version`; Ignition refuses a config without a spec version (e.g. \"{latest}\")"),
        ));
    };
    let Some(version) = ignition.get("version") else {
        return Err(Problem::error(
            ignition.line,
            format!("missing `ignition.version`; Ignition refuses a config without a spec version (e.g. \"{latest}\")"),
        ));
    };
    let text = match &version.kind {
        Kind::Scalar { value, plain: false } => value.as_str(),
        Kind::Scalar { value, plain: true } => {
            let mut parts: Vec<&str> = value.split('.').take(3).collect();
            parts.resize(3, "0");
            return Err(Problem::error(
                version.line,
                format!("`ignition.version` must be a string like \"{}\", not the number {value}", parts.join(".")),
            ));
        }
        _ => {
            return Err(Problem::error(
                version.line,
                format!("`ignition.version` must be a string like \"{latest}\", not {}", walk::kind_name(version)),
            ))
        }
    };
    if let Some(ver) = KNOWN.iter().find(|v| v.to_string() == text) {
        return Ok(*ver);
    }
    let message = if text.ends_with("-experimental") {
        format!(
            "Ignition spec `{text}` is experimental: only the Ignition releases built with it accept it, and later \
             ones refuse it; use a stable spec ({})",
            known_list()
        )
    } else if let Some(ver) = KNOWN.iter().find(|v| text.split('.').count() < 3 && v.to_string().starts_with(text)) {
        format!("Ignition spec version `{text}` needs all three parts: write \"{ver}\"")
    } else {
        format!("Ignition spec version `{text}` is not known (known: {})", known_list())
    };
    Err(Problem::error(version.line, message))
}

#[cfg(test)]
mod tests;
