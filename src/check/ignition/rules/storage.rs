//! Files, directories, links, filesystems, disks, RAID and LUKS.

use super::{flag, has, int, line_of, list, path_problem, set, strings, text, Entry, Rules};
use crate::check::ignition::spec::v;
use crate::yaml::Node;

/// In Ignition's order (struct fields), so the first of two duplicates is the one it keeps.
const KINDS: [&str; 3] = ["directories", "files", "links"];

pub fn check(root: &Node, r: &mut Rules) {
    nodes(root, r);
    links(root, r);
    files(root, r);
    filesystems(root, r);
    disks(root, r);
    raid(root, r);
    luks(root, r);
}

fn nodes(root: &Node, r: &mut Rules) {
    let v3 = r.v3();
    let mut entries = Vec::new();
    for kind in KINDS {
        for (i, n) in list(root, &["storage", kind]).iter().enumerate() {
            if let Some(p) = text(n, "path") {
                let line = line_of(n, "path");
                if let Some(problem) = path_problem(p, v3) {
                    r.err(line, format!("`storage.{kind}[{i}].path`: {problem}"));
                }
                // 2.x appends to one file with one entry per fragment (as Ignition's docs show).
                if v3 || flag(n, "append") != Some(true) {
                    let (path, owner) = (format!("storage.{kind}[{i}].path"), format!("storage.{kind}[{i}]"));
                    entries.push(Entry::new(&node_key(n, p), line, path, owner));
                }
            }
            for owner in ["user", "group"] {
                if let Some(o) = n.get(owner) {
                    if has(o, "id") && set(o, "name").is_some() {
                        r.err(o.line, format!("`storage.{kind}[{i}].{owner}`: set `id` or `name`, not both"));
                    }
                }
            }
            if kind != "links" {
                mode(n, &format!("storage.{kind}[{i}]"), r);
            }
        }
    }
    r.unique_translated(entries, "path");
    // Nothing may be written through a link the config creates.
    let link_paths: Vec<(usize, String)> = list(root, &["storage", "links"])
        .iter()
        .enumerate()
        .filter_map(|(i, l)| Some((i, node_key(l, text(l, "path")?))))
        .collect();
    for kind in KINDS {
        for (i, n) in list(root, &["storage", kind]).iter().enumerate() {
            let Some(p) = text(n, "path") else { continue };
            let key = node_key(n, p);
            for (j, link) in &link_paths {
                if key.starts_with(&format!("{}/", link.trim_end_matches('/'))) {
                    r.err(
                        line_of(n, "path"),
                        format!("`storage.{kind}[{i}].path`: `{key}` is under `{link}`, which `storage.links[{j}]` makes a link; Ignition refuses to write through a link"),
                    );
                }
            }
        }
    }
}

/// Where a node lands: its path, prefixed in 2.x by a filesystem other than `root`.
fn node_key(n: &Node, path: &str) -> String {
    match text(n, "filesystem") {
        Some(fs) if fs != "root" => format!("{fs}:{path}"),
        _ => path.to_string(),
    }
}

fn mode(n: &Node, path: &str, r: &mut Rules) {
    let Some(m) = int(n, "mode") else { return };
    let line = line_of(n, "mode");
    if !(0..=0o7777).contains(&m) {
        r.err(
            line,
            format!("`{path}.mode`: {m} is not a file mode (0 to 4095, i.e. 0o7777; write decimal, e.g. 420 for 0644)"),
        );
    } else if m & 0o7000 != 0 && r.v3() && r.ver < v(3, 6) {
        r.warn(
            line,
            format!("`{path}.mode`: {m} (0{m:o}) sets setuid/setgid/sticky bits, which spec {} ignores; declare spec 3.6.0 to apply them", r.ver),
        );
    }
}

fn links(root: &Node, r: &mut Rules) {
    let dirs: Vec<&str> = list(root, &["storage", "directories"]).iter().filter_map(|d| text(d, "path")).collect();
    for (i, l) in list(root, &["storage", "links"]).iter().enumerate() {
        let Some(target) = set(l, "target") else {
            r.err(l.line, format!("`storage.links[{i}]` needs a `target`"));
            continue;
        };
        if !r.v3() || flag(l, "hard") != Some(true) {
            continue;
        }
        let Some(p) = text(l, "path") else { continue };
        let target =
            if target.starts_with('/') { super::clean(target) } else { super::clean(&format!("{p}/{target}")) };
        if dirs.contains(&target.as_str()) {
            r.err(line_of(l, "target"), format!("`storage.links[{i}].target`: `{target}` is a directory in this config; a hard link cannot point at a directory"));
        }
        for owner in ["user", "group"] {
            if has(l, owner) {
                r.warn(line_of(l, owner), format!("`storage.links[{i}].{owner}` is ignored for a hard link"));
            }
        }
    }
}

fn files(root: &Node, r: &mut Rules) {
    for (i, f) in list(root, &["storage", "files"]).iter().enumerate() {
        let overwrite = flag(f, "overwrite") == Some(true);
        if r.v3() {
            let source = f.get("contents").and_then(|c| text(c, "source"));
            if overwrite && source.is_none() {
                r.err(
                    line_of(f, "overwrite"),
                    format!("`storage.files[{i}].overwrite` is true but `contents.source` is not set; give the contents or drop `overwrite`"),
                );
            }
        } else if overwrite && flag(f, "append") == Some(true) {
            r.err(line_of(f, "append"), format!("`storage.files[{i}]`: `append` and `overwrite` cannot both be true"));
        }
    }
}

/// Longest label each format's mkfs takes (Ignition's filesystem validation).
fn max_label(format: &str) -> Option<usize> {
    Some(match format {
        "ext4" => 16,
        "btrfs" => 256,
        "xfs" => 12,
        "swap" => 15,
        "vfat" => 11,
        _ => return None,
    })
}

fn formats(r: &Rules) -> &'static [&'static str] {
    match r.ver {
        ver if ver == v(2, 0) => &["ext4", "btrfs", "xfs"],
        ver if ver.major == 2 || ver < v(3, 3) => &["ext4", "btrfs", "xfs", "swap", "vfat"],
        _ => &["ext4", "btrfs", "xfs", "swap", "vfat", "none"],
    }
}

fn format_and_label(fs: &Node, path: &str, r: &mut Rules) {
    let format = set(fs, "format");
    if let Some(format) = format {
        if !formats(r).contains(&format) {
            let hint = if format == "none" { "; `none` needs spec 3.3.0 or later".to_string() } else { String::new() };
            r.err(
                line_of(fs, "format"),
                format!("`{path}.format`: `{format}` is not one of {}{hint}", formats(r).join(", ")),
            );
        }
    }
    let Some(label) = set(fs, "label") else { return };
    match format {
        None => r.err(line_of(fs, "label"), format!("`{path}.label` needs a `format`")),
        Some(format) => {
            if let Some(max) = max_label(format).filter(|max| label.len() > *max) {
                r.err(
                    line_of(fs, "label"),
                    format!("`{path}.label`: `{label}` has {} bytes; {format} labels take at most {max}", label.len()),
                );
            }
        }
    }
}

fn filesystems(root: &Node, r: &mut Rules) {
    let v3 = r.v3();
    let all = list(root, &["storage", "filesystems"]);
    let mut devices = Vec::new();
    for (i, fs) in all.iter().enumerate() {
        let path = format!("storage.filesystems[{i}]");
        if !v3 {
            filesystem2(fs, &path, r);
            continue;
        }
        if let Some(dev) = text(fs, "device") {
            if let Some(problem) = path_problem(dev, true) {
                r.err(line_of(fs, "device"), format!("`{path}.device`: {problem}"));
            }
            devices.push(Entry::new(dev, line_of(fs, "device"), format!("{path}.device"), path.clone()));
        }
        if let Some(p) = set(fs, "path") {
            if let Some(problem) = path_problem(p, true) {
                r.err(line_of(fs, "path"), format!("`{path}.path`: {problem}"));
            }
        }
        if set(fs, "format").is_none() {
            let others = ["path", "label", "uuid"].iter().any(|k| set(fs, k).is_some())
                || flag(fs, "wipeFilesystem") == Some(true)
                || !list(fs, &["options"]).is_empty()
                || !list(fs, &["mountOptions"]).is_empty();
            if others {
                r.err(
                    fs.line,
                    format!("`{path}` needs a `format` when it sets a path, label, uuid, wipeFilesystem or options"),
                );
                continue;
            }
        }
        format_and_label(fs, &path, r);
    }
    r.unique(devices, "device");
    if !v3 {
        filesystem_names(root, r);
    }
}

fn filesystem2(fs: &Node, path: &str, r: &mut Rules) {
    let mount = fs.get("mount").filter(|m| !matches!(m.kind, crate::yaml::Kind::Null));
    match (mount, has(fs, "path")) {
        (None, false) => r.err(fs.line, format!("`{path}` needs a `mount` or a `path`")),
        (Some(_), true) => r.err(fs.line, format!("`{path}` sets both `mount` and `path`; keep one")),
        _ => {}
    }
    if let Some(p) = text(fs, "path") {
        if let Some(problem) = path_problem(p, false) {
            r.err(line_of(fs, "path"), format!("`{path}.path`: {problem}"));
        }
    }
    let Some(mount) = mount else { return };
    let mpath = format!("{path}.mount");
    if let Some(dev) = text(mount, "device") {
        if let Some(problem) = path_problem(dev, false) {
            r.err(line_of(mount, "device"), format!("`{mpath}.device`: {problem}"));
        }
    }
    if has(mount, "create") {
        if flag(mount, "wipeFilesystem") == Some(true) {
            r.err(
                line_of(mount, "create"),
                format!("`{mpath}`: `create` and `wipeFilesystem` cannot be used together"),
            );
        }
        if !list(mount, &["options"]).is_empty() {
            r.err(line_of(mount, "create"), format!("`{mpath}`: `create` and `options` cannot be used together"));
        }
    }
    if text(mount, "format").is_some() {
        format_and_label(mount, &mpath, r);
    }
}

/// Spec 2.x files name their filesystem; Ignition warns about names it does not know.
fn filesystem_names(root: &Node, r: &mut Rules) {
    let mut names = vec!["root"];
    for fs in list(root, &["storage", "filesystems"]) {
        if let Some(name) = text(fs, "name") {
            if names.contains(&name) {
                r.warn(
                    line_of(fs, "name"),
                    format!("filesystem `{name}` is defined twice; the later one shadows the first"),
                );
            }
            names.push(name);
        }
    }
    for kind in KINDS {
        for (i, n) in list(root, &["storage", kind]).iter().enumerate() {
            if let Some(fs) = text(n, "filesystem").filter(|fs| !names.contains(fs)) {
                r.warn(
                    line_of(n, "filesystem"),
                    format!("`storage.{kind}[{i}].filesystem`: no filesystem `{fs}` in this config (fine if a merged config defines it)"),
                );
            }
        }
    }
}

fn guid_ok(g: &str) -> bool {
    let groups: Vec<&str> = g.split('-').collect();
    g.is_empty()
        || (groups.iter().map(|s| s.len()).eq([8, 4, 4, 4, 12])
            && groups.iter().all(|s| s.chars().all(|c| c.is_ascii_hexdigit())))
}

fn disks(root: &Node, r: &mut Rules) {
    let v3 = r.v3();
    let mut devices = Vec::new();
    for (i, d) in list(root, &["storage", "disks"]).iter().enumerate() {
        if let Some(dev) = text(d, "device") {
            if let Some(problem) = path_problem(dev, v3) {
                r.err(line_of(d, "device"), format!("`storage.disks[{i}].device`: {problem}"));
            }
            devices.push(Entry::new(
                dev,
                line_of(d, "device"),
                format!("storage.disks[{i}].device"),
                format!("storage.disks[{i}]"),
            ));
        }
        let parts = list(d, &["partitions"]);
        let mut keys = Vec::new();
        let mut labels = Vec::new();
        for (j, p) in parts.iter().enumerate() {
            let path = format!("storage.disks[{i}].partitions[{j}]");
            partition(p, &path, r);
            let number = int(p, "number").unwrap_or(0);
            let key = match (number, text(p, "label")) {
                (0, Some(label)) => format!("label {label}"),
                (0, None) => String::new(),
                (n, _) => format!("number {n}"),
            };
            if !key.is_empty() {
                keys.push(Entry::new(&key, p.line, path.clone(), path.clone()));
            }
            if let Some(label) = text(p, "label") {
                labels.push(Entry::new(label, line_of(p, "label"), format!("{path}.label"), path.clone()));
            }
        }
        if v3 {
            r.unique(keys, "partition");
            r.unique(labels, "label");
        } else {
            let numbers: Vec<i64> = parts.iter().filter_map(|p| int(p, "number")).filter(|n| *n != 0).collect();
            for (j, p) in parts.iter().enumerate() {
                if let Some(n) = int(p, "number").filter(|n| *n != 0 && numbers.iter().filter(|m| *m == n).count() > 1)
                {
                    r.err(
                        line_of(p, "number"),
                        format!("`storage.disks[{i}].partitions[{j}].number`: partition {n} is defined twice"),
                    );
                }
            }
            partitions2(parts, i, r);
        }
        overlaps(parts, i, r);
    }
    r.unique(devices, "device");
}

fn partition(p: &Node, path: &str, r: &mut Rules) {
    let v3 = r.v3();
    let (size, start) = if v3 { ("sizeMiB", "startMiB") } else { ("size", "start") };
    if flag(p, "shouldExist") == Some(false)
        && (has(p, "label")
            || set(p, "typeGuid").is_some()
            || set(p, "guid").is_some()
            || has(p, start)
            || has(p, size)
            || (!v3 && (has(p, "sizeMiB") || has(p, "startMiB"))))
    {
        r.err(
            p.line,
            format!("`{path}`: `shouldExist: false` deletes the partition; drop label, guid, typeGuid, start and size"),
        );
    }
    if v3 && int(p, "number").unwrap_or(0) == 0 && !has(p, "label") {
        r.err(p.line, format!("`{path}` needs a `number` (1 or more) or a `label`"));
    }
    if let Some(label) = text(p, "label") {
        let line = line_of(p, "label");
        if label.len() > 36 {
            r.err(line, format!("`{path}.label`: `{label}` is longer than 36 characters (GPT names hold 36)"));
        }
        if label.contains(':') {
            let msg = format!("`{path}.label`: `{label}` contains `:`, which cuts the label short (sgdisk)");
            if v3 {
                r.err(line, msg);
            } else {
                r.warn(line, msg);
            }
        }
    }
    for key in ["guid", "typeGuid"] {
        if let Some(g) = text(p, key).filter(|g| !guid_ok(g)) {
            r.err(
                line_of(p, key),
                format!("`{path}.{key}`: `{g}` is not a GUID like `0FC63DAF-8483-4772-8E79-3D69D8477DE4`"),
            );
        }
    }
}

/// Spec 2.x: sectors and MiB not mixed, starts aligned to 2048 sectors, no number 0 with deletions.
fn partitions2(parts: &[Node], i: usize, r: &mut Rules) {
    let sectors = parts.iter().any(|p| has(p, "size") || has(p, "start"));
    let mib = parts.iter().any(|p| has(p, "sizeMiB") || has(p, "startMiB"));
    if sectors && mib {
        if let Some(p) = parts.first() {
            r.err(p.line, format!("`storage.disks[{i}].partitions` mix `size`/`start` (sectors) with `sizeMiB`/`startMiB`; use one unit"));
        }
    }
    for (j, p) in parts.iter().enumerate() {
        if let Some(start) = int(p, "start").filter(|s| s % 2048 != 0) {
            r.err(
                line_of(p, "start"),
                format!(
                    "`storage.disks[{i}].partitions[{j}].start`: sector {start} is not aligned to 2048 sectors (1 MiB)"
                ),
            );
        }
    }
    if parts.iter().any(|p| flag(p, "shouldExist") == Some(false))
        && parts.iter().any(|p| int(p, "number").unwrap_or(0) == 0)
    {
        if let Some(p) = parts.first() {
            r.err(p.line, format!("`storage.disks[{i}].partitions`: a partition with `shouldExist: false` cannot sit beside one without a `number`"));
        }
    }
}

/// Explicitly placed partitions must not overlap (start 0 means "anywhere": skipped).
fn overlaps(parts: &[Node], i: usize, r: &mut Rules) {
    let (size, start) = if r.v3() { ("sizeMiB", "startMiB") } else { ("size", "start") };
    let placed: Vec<(usize, i64, i64)> = parts
        .iter()
        .enumerate()
        .filter_map(|(j, p)| {
            let (s, n) = (int(p, start)?, int(p, size)?);
            (s != 0).then_some((j, s, if n == 0 { s } else { s + n - 1 }))
        })
        .collect();
    for (a, (j, s1, e1)) in placed.iter().enumerate() {
        if let Some((k, _, _)) = placed[..a].iter().find(|(_, s2, e2)| s1 <= e2 && s2 <= e1) {
            r.err(
                parts[*j].line,
                format!("`storage.disks[{i}].partitions[{j}]` overlaps `storage.disks[{i}].partitions[{k}]`"),
            );
        }
    }
}

fn raid(root: &Node, r: &mut Rules) {
    let v3 = r.v3();
    let mut names = Vec::new();
    for (i, a) in list(root, &["storage", "raid"]).iter().enumerate() {
        let path = format!("storage.raid[{i}]");
        if let Some(name) = text(a, "name") {
            names.push(Entry::new(name, line_of(a, "name"), format!("{path}.name"), path.clone()));
        }
        match set(a, "level") {
            None if v3 => r.err(a.line, format!("`{path}` needs a `level`")),
            None => {}
            Some(level) => match level {
                "linear" | "raid0" | "0" | "stripe" => {
                    if int(a, "spares").unwrap_or(0) != 0 {
                        r.err(line_of(a, "spares"), format!("`{path}.spares`: a `{level}` array has no spares"));
                    }
                }
                "raid1" | "1" | "mirror" | "raid4" | "4" | "raid5" | "5" | "raid6" | "6" | "raid10" | "10" => {}
                _ => r.err(
                    line_of(a, "level"),
                    format!("`{path}.level`: `{level}` is not a RAID level (linear, raid0, raid1, raid4, raid5, raid6, raid10)"),
                ),
            },
        }
        let devices = strings(a, &["devices"]);
        if v3 && devices.is_empty() {
            r.err(a.line, format!("`{path}` needs `devices`"));
        }
        for (j, (d, line)) in devices.iter().enumerate() {
            if let Some(problem) = path_problem(d, v3) {
                r.err(*line, format!("`{path}.devices[{j}]`: {problem}"));
            }
        }
        r.unique(
            devices
                .iter()
                .enumerate()
                .map(|(j, (d, line))| Entry::new(d, *line, format!("{path}.devices[{j}]"), format!("{path}.devices"))),
            "device",
        );
    }
    r.unique(names, "array");
}

fn luks(root: &Node, r: &mut Rules) {
    let mut names = Vec::new();
    for (i, l) in list(root, &["storage", "luks"]).iter().enumerate() {
        let path = format!("storage.luks[{i}]");
        if let Some(name) = text(l, "name") {
            if name.contains('/') {
                r.err(
                    line_of(l, "name"),
                    format!("`{path}.name`: `{name}` is a device-mapper name and cannot contain `/`"),
                );
            }
            names.push(Entry::new(name, line_of(l, "name"), format!("{path}.name"), path.clone()));
        }
        if let Some(label) = set(l, "label").filter(|s| s.len() > 47) {
            r.err(line_of(l, "label"), format!("`{path}.label`: `{label}` is longer than 47 bytes (the LUKS2 limit)"));
        }
        if let Some(dev) = set(l, "device") {
            if let Some(problem) = path_problem(dev, true) {
                r.err(line_of(l, "device"), format!("`{path}.device`: {problem}"));
            }
        }
        let clevis = l.get("clevis");
        let custom_pin = clevis.and_then(|c| c.get("custom")).and_then(|c| set(c, "pin")).is_some();
        let others = clevis.is_some_and(|c| {
            !list(c, &["tang"]).is_empty() || flag(c, "tpm2") == Some(true) || int(c, "threshold").unwrap_or(0) != 0
        });
        if custom_pin && others {
            r.err(
                line_of(l, "clevis"),
                format!("`{path}.clevis`: `custom` cannot be combined with tang, tpm2 or threshold"),
            );
        }
        if let Some(custom) = clevis.and_then(|c| c.get("custom")) {
            let any = set(custom, "pin").is_some()
                || set(custom, "config").is_some()
                || flag(custom, "needsNetwork") == Some(true);
            for key in ["pin", "config"] {
                if any && set(custom, key).is_none() {
                    r.err(custom.line, format!("`{path}.clevis.custom` needs a `{key}`"));
                }
            }
        }
        for (j, t) in clevis.map(|c| list(c, &["tang"])).unwrap_or_default().iter().enumerate() {
            if let Some(url) = text(t, "url") {
                if !matches!(super::resource::scheme(url), Some("http" | "https")) {
                    r.err(
                        line_of(t, "url"),
                        format!("`{path}.clevis.tang[{j}].url`: `{url}` is not an http:// or https:// URL"),
                    );
                }
            }
            if let Some(adv) = set(t, "advertisement") {
                if serde_json::from_str::<serde_json::Value>(adv).is_err() {
                    r.err(
                        line_of(t, "advertisement"),
                        format!("`{path}.clevis.tang[{j}].advertisement` is not valid JSON"),
                    );
                }
            }
        }
        if l.get("cex").is_some_and(|c| flag(c, "enabled") == Some(true)) {
            if custom_pin || others {
                r.err(line_of(l, "cex"), format!("`{path}.cex` cannot be combined with `clevis`"));
            }
            if l.get("keyFile").and_then(|k| set(k, "source")).is_some() {
                r.err(line_of(l, "cex"), format!("`{path}.cex` cannot be combined with a `keyFile`"));
            }
        }
        r.unique(
            strings(l, &["openOptions"]).into_iter().enumerate().map(|(j, (s, line))| {
                Entry::new(s, line, format!("{path}.openOptions[{j}]"), format!("{path}.openOptions"))
            }),
            "option",
        );
    }
    r.unique(names, "name");
}
