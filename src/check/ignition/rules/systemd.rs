//! systemd (and 2.x networkd) units and drop-ins, kernel arguments.

use super::{flag, line_of, list, set, strings, text, Entry, Rules};
use crate::yaml::Node;

use crate::check::schema::UNIT_TYPES;
const NETWORKD_TYPES: [&str; 3] = [".link", ".netdev", ".network"];

/// Go's `path.Ext`: from the last `.` of the last element.
fn ext(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.rfind('.').map_or("", |i| &base[i..])
}

pub fn check(root: &Node, r: &mut Rules) {
    units(root, "systemd", &UNIT_TYPES, r);
    if !r.v3() {
        units(root, "networkd", &NETWORKD_TYPES, r);
    }
    let mut args = Vec::new();
    for key in ["shouldExist", "shouldNotExist"] {
        for (j, (arg, line)) in strings(root, &["kernelArguments", key]).into_iter().enumerate() {
            args.push(Entry::new(arg, line, format!("kernelArguments.{key}[{j}]"), format!("kernelArguments.{key}")));
        }
    }
    r.unique(args, "kernel argument");
    if r.v3() {
        conflicts(root, r);
    }
}

fn units(root: &Node, section: &str, types: &[&str], r: &mut Rules) {
    let all = list(root, &[section, "units"]);
    let mut names = Vec::new();
    for (i, u) in all.iter().enumerate() {
        let path = format!("{section}.units[{i}]");
        let Some(name) = text(u, "name") else { continue };
        let line = line_of(u, "name");
        if !types.contains(&ext(name)) {
            r.err(line, format!("`{path}.name`: unit name `{name}` needs a unit type suffix ({})", types.join(", ")));
        }
        names.push(Entry::new(name, line, format!("{path}.name"), path.clone()));
        let mut dropins = Vec::new();
        contents(u, &path, r);
        for (j, d) in list(u, &["dropins"]).iter().enumerate() {
            contents(d, &format!("{path}.dropins[{j}]"), r);
            let Some(dropin) = text(d, "name") else { continue };
            if ext(dropin) != ".conf" {
                r.err(
                    line_of(d, "name"),
                    format!("`{path}.dropins[{j}].name`: drop-in `{dropin}` must end in `.conf`"),
                );
            }
            dropins.push(Entry::new(
                dropin,
                line_of(d, "name"),
                format!("{path}.dropins[{j}].name"),
                format!("{path}.dropins[{j}]"),
            ));
        }
        r.unique_translated(dropins, "drop-in");
        let enabled = flag(u, "enabled") == Some(true) || flag(u, "enable") == Some(true);
        if let Some(contents) = set(u, "contents").filter(|_| enabled) {
            if !contents.lines().any(|l| l.trim() == "[Install]") {
                r.warn(
                    line_of(u, "contents"),
                    format!("`{path}`: `{name}` is enabled but its contents have no [Install] section, so enabling does nothing; add one (e.g. WantedBy=multi-user.target)"),
                );
            }
        }
    }
    if section == "systemd" {
        r.unique_translated(names, "unit");
    } else {
        r.unique(names, "unit");
    }
}

fn contents(n: &Node, path: &str, r: &mut Rules) {
    if let Some(problem) = text(n, "contents").and_then(unit_syntax) {
        r.err(line_of(n, "contents"), format!("`{path}.contents`: {problem}"));
    }
}

/// What go-systemd's unit parser (used by Ignition) refuses: an overlong line, a section
/// header without `]` or with text after it, a line in a section that is not `Key=Value`.
fn unit_syntax(text: &str) -> Option<String> {
    let mut in_section = false;
    let mut continued = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.len() >= 2048 {
            return Some(format!("line {n} is longer than systemd's 2048-byte limit"));
        }
        let ends_continued = line.trim_end().ends_with('\\');
        let t = line.trim_start();
        if std::mem::replace(&mut continued, ends_continued) || t.is_empty() || t.starts_with(['#', ';']) {
            continue;
        }
        // Before the first section everything up to a `[` is ignored.
        let header = if in_section { t.strip_prefix('[') } else { t.split_once('[').map(|(_, h)| h) };
        match header {
            Some(h) => {
                let Some((name, rest)) = h.split_once(']') else {
                    return Some(format!("line {n}: section `[{h}` has no closing `]`"));
                };
                if !rest.trim().is_empty() {
                    return Some(format!("line {n}: text `{}` after section `[{name}]`", rest.trim()));
                }
                in_section = true;
            }
            None if in_section && !t.contains('=') => {
                return Some(format!("line {n}: `{t}` is not `Key=Value` (or a `[Section]` or `#` comment)"));
            }
            None => {}
        }
    }
    None
}

/// Spec 3.x: a file, directory or link may not take the path a unit or drop-in is written to.
fn conflicts(root: &Node, r: &mut Rules) {
    let mut written = Vec::new();
    for (i, u) in list(root, &["systemd", "units"]).iter().enumerate() {
        let Some(name) = text(u, "name") else { continue };
        if set(u, "contents").is_some() {
            written.push((format!("/etc/systemd/system/{name}"), format!("systemd.units[{i}]")));
        }
        for (j, d) in list(u, &["dropins"]).iter().enumerate() {
            if let (Some(dropin), Some(_)) = (text(d, "name"), set(d, "contents")) {
                written.push((
                    format!("/etc/systemd/system/{name}.d/{dropin}"),
                    format!("systemd.units[{i}].dropins[{j}]"),
                ));
            }
        }
    }
    for kind in ["files", "directories", "links"] {
        for (i, n) in list(root, &["storage", kind]).iter().enumerate() {
            let Some(p) = text(n, "path") else { continue };
            if let Some((_, owner)) = written.iter().find(|(w, _)| w == p) {
                r.err(
                    line_of(n, "path"),
                    format!("`storage.{kind}[{i}].path`: `{p}` is also written by `{owner}`; keep one of them"),
                );
            }
        }
    }
}
