//! Butane (Flatcar variant) to Ignition, as the `butane` tool translates it.
//!
//! Flatcar is provisioned with Ignition JSON, which people write as Butane YAML. pxebake
//! translates Butane itself so that a `files` rule can render one per host with Tera and every
//! problem comes back at once with its line, like the rest of the inventory. The reference for
//! behaviour is Butane's published Flatcar specs (see docs/butane.md).

mod json;
mod local;
mod semantics;
mod spec;
mod sugar;
mod translate;
mod values;

use std::path::Path;

use crate::check::schema::{check, Field, Problem, Ty};
use crate::yaml::{Kind, Node};

pub use local::{MAX_FILE, MAX_TOTAL};

pub struct Options<'a> {
    /// Where `local`, `contents_local`, `ssh_authorized_keys_local` and `trees` are read from.
    pub files_dir: Option<&'a Path>,
    /// Warnings are errors.
    pub strict: bool,
}

pub struct Translated {
    /// Pretty Ignition JSON (2-space indent, Ignition's key order), ending in a newline.
    pub json: String,
    /// Problems of `Severity::Warning` (printed; errors with `strict`).
    pub warnings: Vec<Problem>,
    /// Ignition's check of `json` (warnings only: an error fails the translation), for the lint,
    /// which would otherwise parse and validate the same JSON again.
    pub ignition: crate::check::ignition::Checked,
}

/// Butane Flatcar spec versions pxebake translates, and the Ignition spec each produces.
pub const VERSIONS: &[(&str, &str)] = &[("1.0.0", "3.3.0"), ("1.1.0", "3.4.0")];

/// Keys that flatcar 1.1.0 added to 1.0.0.
const NEW_IN_11: [&str; 4] = ["contents_local", "ssh_authorized_keys_local", "discard", "open_options"];

/// Translates Butane YAML to Ignition JSON.
/// Errors: every problem at once (all of `Severity::Error`), each with its line in `text`.
pub fn translate(text: &str, opts: &Options) -> Result<Translated, Vec<Problem>> {
    let mut root = match Node::parse(text) {
        Ok(n) => n,
        Err(e) => return Err(vec![problem(e.line.unwrap_or(1), e.message)]),
    };
    if let Kind::Map(entries) = &mut root.kind {
        entries.retain(|(_, v)| !matches!(v.kind, Kind::Null));
    }
    let (spec, ignition) = select(&root)?;
    normalize(&mut root, &Ty::Obj(spec));
    let mut errors = Vec::new();
    check(&root, &Ty::Obj(spec), "", &mut errors);
    for e in errors.iter_mut() {
        // Every `Ty::Scalar` of the Butane schema is an integer.
        if let Some(i) = e.message.find(" must be a scalar, not ") {
            e.message.replace_range(i..i + " must be a scalar".len(), " must be an integer");
        }
        if let Some(rest) = e.message.strip_prefix("unknown key `").filter(|_| ignition == "3.3.0") {
            let path = rest.split('`').next().unwrap_or_default();
            let key = path.rsplit('.').next().unwrap_or_default();
            if NEW_IN_11.contains(&key) {
                e.message = format!("unknown key `{path}`: `{key}` is new in flatcar 1.1.0; write `version: 1.1.0`");
            }
        }
        if let Some(key) = ["boot_device", "grub"].iter().find(|k| e.message == format!("unknown key `{k}`")) {
            e.message.push_str(&format!("; `{key}` is in Butane's fcos variant, not in flatcar"));
        }
    }
    let mut t = translate::Translator {
        files: local::Files { dir: opts.files_dir, total: 0 },
        ignition,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let value = t.config(&root, spec);
    errors.extend(t.errors.into_iter().map(|(l, m)| problem(l, m)));
    let json = json::pretty(&value);
    let mut ignition = None;
    if errors.is_empty() {
        // The output must pass pxebake's own Ignition check; a failure here is a gap in the
        // checks above, so it names the generated JSON's path and line.
        let at = root.get("version").map_or(1, |v| v.line);
        let checked = crate::check::ignition::check(&json);
        // Only its errors: the translator words its own warnings for Butane's lines.
        for p in checked.problems.iter().filter(|p| p.severity == crate::diag::Severity::Error) {
            errors.push(problem(
                at,
                format!("the Ignition config this translates to is invalid (its line {}): {}", p.line, p.message),
            ));
        }
        ignition = Some(checked);
    }
    let mut warnings: Vec<Problem> = t.warnings.into_iter().map(|(l, m)| Problem::warning(l, m)).collect();
    warnings.sort_by_key(|p| p.line);
    if opts.strict {
        errors.extend(
            warnings.drain(..).map(|w| Problem::error(w.line, format!("{} (an error with --strict)", w.message))),
        );
    }
    match ignition {
        Some(ignition) if errors.is_empty() => Ok(Translated { json, warnings, ignition }),
        _ => {
            errors.sort_by_key(|p| p.line);
            Err(errors)
        }
    }
}

fn problem(line: usize, message: String) -> Problem {
    Problem::error(line, message)
}

/// The schema and Ignition version for the document's `variant` and `version`.
fn select(root: &Node) -> Result<(&'static [Field], &'static str), Vec<Problem>> {
    let known = VERSIONS.iter().map(|(b, i)| format!("{b} (Ignition {i})")).collect::<Vec<_>>().join(", ");
    if !matches!(root.kind, Kind::Map(_)) {
        return Err(vec![problem(
            root.line,
            "a Butane config is a mapping that starts with `variant: flatcar` and `version: 1.1.0`".into(),
        )]);
    }
    let mut problems = Vec::new();
    match root.get("variant") {
        None => problems.push(problem(root.line, "missing `variant`; pxebake translates `variant: flatcar`".into())),
        Some(v) if v.as_str() == Some("flatcar") => {}
        Some(v) => problems.push(problem(
            v.line,
            format!(
                "variant `{}` is not supported; pxebake translates `flatcar` (versions {known})",
                v.as_str().map(crate::names::printable).unwrap_or_else(|| v.type_name().into())
            ),
        )),
    }
    let version = root.get("version");
    let found = version.and_then(Node::as_str).and_then(|v| VERSIONS.iter().position(|(b, _)| *b == v));
    match (version, found) {
        (None, _) => problems.push(problem(root.line, format!("missing `version`; known versions: {known}"))),
        (Some(v), None) => problems.push(problem(
            v.line,
            format!(
                "version `{}` of the flatcar variant is not supported; known versions: {known}",
                v.as_str().map(crate::names::printable).unwrap_or_else(|| v.type_name().into())
            ),
        )),
        (Some(_), Some(_)) => {}
    }
    match found {
        Some(i) if problems.is_empty() => Ok(([spec::FLATCAR_10, spec::FLATCAR_11][i], VERSIONS[i].1)),
        _ => Err(problems),
    }
}

/// Reads the tree as Butane's parser would, following the schema (so hostile nesting costs
/// nothing): a key set to null (`storage:` with nothing under it) is no key, and `yes`/`no`/
/// `on`/`off` (YAML 1.1) and `True`/`FALSE` in boolean fields become plain `true`/`false`.
fn normalize(node: &mut Node, ty: &Ty) {
    match (ty, &mut node.kind) {
        (Ty::Bool, Kind::Scalar { value, plain }) => {
            let word = match value.as_str() {
                "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some("true"),
                "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some("false"),
                "True" | "TRUE" if *plain => Some("true"),
                "False" | "FALSE" if *plain => Some("false"),
                _ => None,
            };
            if let Some(word) = word {
                *value = word.to_string();
                *plain = true;
            }
        }
        (Ty::List(inner), Kind::Seq(items)) => items.iter_mut().for_each(|n| normalize(n, inner)),
        (Ty::Obj(fields), Kind::Map(entries)) => {
            entries.retain(|(_, v)| !matches!(v.kind, Kind::Null));
            for (k, v) in entries.iter_mut() {
                if let Some(field) = fields.iter().find(|f| Some(f.name) == k.as_str()) {
                    normalize(v, &field.ty);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
