//! Ignition config validation (JSON; spec 3.x, and 2.x for older Flatcar).
//!
//! Ignition rejects unknown keys and refuses to boot with a config it cannot parse; this checks
//! the same offline, with lines. JSON syntax is checked with serde_json, structure on the
//! line-numbered tree (JSON is YAML, so the same parser gives the lines).

use super::schema::{absolute_path, check, f, req, ssh_public_key, unit_name, Field, Problem, Ty};
use crate::yaml::Node;

const MODE: Ty = Ty::IntWith(mode);
const VERIFICATION: Ty = Ty::Obj(&[f("hash", Ty::Str)]);
const HEADER: Ty = Ty::Obj(&[req("name", Ty::Str), f("value", Ty::Str)]);
const RESOURCE: Ty = Ty::Obj(&[
    f("source", Ty::Str),
    f("compression", Ty::Str),
    f("verification", VERIFICATION),
    f("httpHeaders", Ty::List(&HEADER)),
]);
const NODE_USER: Ty = Ty::Obj(&[f("id", Ty::Int), f("name", Ty::Str)]);

// ---- spec 3.x ----
const FILE3: Ty = Ty::Obj(&[
    req("path", Ty::StrWith(absolute_path)),
    f("overwrite", Ty::Bool),
    f("contents", RESOURCE),
    f("append", Ty::List(&RESOURCE)),
    f("mode", MODE),
    f("user", NODE_USER),
    f("group", NODE_USER),
]);
const DIR3: Ty = Ty::Obj(&[
    req("path", Ty::StrWith(absolute_path)),
    f("overwrite", Ty::Bool),
    f("mode", MODE),
    f("user", NODE_USER),
    f("group", NODE_USER),
]);
const LINK3: Ty = Ty::Obj(&[
    req("path", Ty::StrWith(absolute_path)),
    f("overwrite", Ty::Bool),
    f("target", Ty::Str),
    f("hard", Ty::Bool),
    f("user", NODE_USER),
    f("group", NODE_USER),
]);
const PARTITION: Ty = Ty::Obj(&[
    f("label", Ty::Str),
    f("number", Ty::Int),
    f("sizeMiB", Ty::Int),
    f("startMiB", Ty::Int),
    f("typeGuid", Ty::Str),
    f("guid", Ty::Str),
    f("wipePartitionEntry", Ty::Bool),
    f("shouldExist", Ty::Bool),
    f("resize", Ty::Bool),
]);
const DISK3: Ty = Ty::Obj(&[
    req("device", Ty::StrWith(absolute_path)),
    f("wipeTable", Ty::Bool),
    f("partitions", Ty::List(&PARTITION)),
]);
const FS3: Ty = Ty::Obj(&[
    req("device", Ty::StrWith(absolute_path)),
    f("format", Ty::Str),
    f("path", Ty::StrWith(absolute_path)),
    f("wipeFilesystem", Ty::Bool),
    f("label", Ty::Str),
    f("uuid", Ty::Str),
    f("options", Ty::List(&Ty::Str)),
    f("mountOptions", Ty::List(&Ty::Str)),
]);
const RAID3: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    f("level", Ty::Str),
    f("devices", Ty::List(&Ty::Str)),
    f("spares", Ty::Int),
    f("options", Ty::List(&Ty::Str)),
]);
const LUKS3: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    f("device", Ty::StrWith(absolute_path)),
    f("label", Ty::Str),
    f("uuid", Ty::Str),
    f("keyFile", RESOURCE),
    f("wipeVolume", Ty::Bool),
    f("options", Ty::List(&Ty::Str)),
    f("discard", Ty::Bool),
    f("openOptions", Ty::List(&Ty::Str)),
    f("clevis", Ty::Any),
]);
const DROPIN: Ty = Ty::Obj(&[req("name", Ty::Str), f("contents", Ty::Str)]);
const UNIT3: Ty = Ty::Obj(&[
    req("name", Ty::StrWith(unit_name)),
    f("enabled", Ty::Bool),
    f("mask", Ty::Bool),
    f("contents", Ty::Str),
    f("dropins", Ty::List(&DROPIN)),
]);
const USER3: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    f("passwordHash", Ty::Str),
    f("sshAuthorizedKeys", Ty::List(&Ty::StrWith(ssh_public_key))),
    f("uid", Ty::Int),
    f("gecos", Ty::Str),
    f("homeDir", Ty::StrWith(absolute_path)),
    f("noCreateHome", Ty::Bool),
    f("primaryGroup", Ty::Str),
    f("groups", Ty::List(&Ty::Str)),
    f("noUserGroup", Ty::Bool),
    f("noLogInit", Ty::Bool),
    f("shell", Ty::StrWith(absolute_path)),
    f("system", Ty::Bool),
    f("shouldExist", Ty::Bool),
]);
const GROUP3: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    f("gid", Ty::Int),
    f("passwordHash", Ty::Str),
    f("system", Ty::Bool),
    f("shouldExist", Ty::Bool),
]);
const IGNITION: Ty = Ty::Obj(&[
    req("version", Ty::Str),
    f("config", Ty::Obj(&[f("merge", Ty::List(&RESOURCE)), f("replace", RESOURCE)])),
    f("timeouts", Ty::Obj(&[f("httpResponseHeaders", Ty::Int), f("httpTotal", Ty::Int)])),
    f("security", Ty::Obj(&[f("tls", Ty::Obj(&[f("certificateAuthorities", Ty::List(&RESOURCE))]))])),
    f("proxy", Ty::Obj(&[f("httpProxy", Ty::Str), f("httpsProxy", Ty::Str), f("noProxy", Ty::List(&Ty::Str))])),
]);
const TOP3: &[Field] = &[
    req("ignition", IGNITION),
    f(
        "storage",
        Ty::Obj(&[
            f("disks", Ty::List(&DISK3)),
            f("raid", Ty::List(&RAID3)),
            f("filesystems", Ty::List(&FS3)),
            f("files", Ty::List(&FILE3)),
            f("directories", Ty::List(&DIR3)),
            f("links", Ty::List(&LINK3)),
            f("luks", Ty::List(&LUKS3)),
        ]),
    ),
    f("systemd", Ty::Obj(&[f("units", Ty::List(&UNIT3))])),
    f("passwd", Ty::Obj(&[f("users", Ty::List(&USER3)), f("groups", Ty::List(&GROUP3))])),
    f("kernelArguments", Ty::Obj(&[f("shouldExist", Ty::List(&Ty::Str)), f("shouldNotExist", Ty::List(&Ty::Str))])),
];

// ---- spec 2.x ----
const FILE2: Ty = Ty::Obj(&[
    req("filesystem", Ty::Str),
    req("path", Ty::StrWith(absolute_path)),
    f("contents", RESOURCE),
    f("mode", MODE),
    f("user", NODE_USER),
    f("group", NODE_USER),
    f("append", Ty::Bool),
    f("overwrite", Ty::Bool),
]);
const DIR2: Ty = Ty::Obj(&[
    req("filesystem", Ty::Str),
    req("path", Ty::StrWith(absolute_path)),
    f("mode", MODE),
    f("user", NODE_USER),
    f("group", NODE_USER),
    f("overwrite", Ty::Bool),
]);
const LINK2: Ty = Ty::Obj(&[
    req("filesystem", Ty::Str),
    req("path", Ty::StrWith(absolute_path)),
    f("target", Ty::Str),
    f("hard", Ty::Bool),
    f("user", NODE_USER),
    f("group", NODE_USER),
    f("overwrite", Ty::Bool),
]);
const MOUNT2: Ty = Ty::Obj(&[
    req("device", Ty::StrWith(absolute_path)),
    req("format", Ty::Str),
    f("create", Ty::Any),
    f("wipeFilesystem", Ty::Bool),
    f("label", Ty::Str),
    f("uuid", Ty::Str),
    f("options", Ty::List(&Ty::Str)),
]);
const FS2: Ty = Ty::Obj(&[req("name", Ty::Str), f("mount", MOUNT2), f("path", Ty::StrWith(absolute_path))]);
const UNIT2: Ty = Ty::Obj(&[
    req("name", Ty::StrWith(unit_name)),
    f("enable", Ty::Bool),
    f("enabled", Ty::Bool),
    f("mask", Ty::Bool),
    f("contents", Ty::Str),
    f("dropins", Ty::List(&DROPIN)),
]);
const NETUNIT2: Ty = Ty::Obj(&[req("name", Ty::Str), f("contents", Ty::Str), f("dropins", Ty::List(&DROPIN))]);
const USER2: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    f("passwordHash", Ty::Str),
    f("sshAuthorizedKeys", Ty::List(&Ty::StrWith(ssh_public_key))),
    f("uid", Ty::Int),
    f("gecos", Ty::Str),
    f("homeDir", Ty::StrWith(absolute_path)),
    f("noCreateHome", Ty::Bool),
    f("primaryGroup", Ty::Str),
    f("groups", Ty::List(&Ty::Str)),
    f("noUserGroup", Ty::Bool),
    f("noLogInit", Ty::Bool),
    f("shell", Ty::StrWith(absolute_path)),
    f("system", Ty::Bool),
    f("create", Ty::Any),
]);
const IGNITION2: Ty = Ty::Obj(&[
    req("version", Ty::Str),
    f("config", Ty::Obj(&[f("append", Ty::List(&RESOURCE)), f("replace", RESOURCE)])),
    f("timeouts", Ty::Obj(&[f("httpResponseHeaders", Ty::Int), f("httpTotal", Ty::Int)])),
    f("security", Ty::Obj(&[f("tls", Ty::Obj(&[f("certificateAuthorities", Ty::List(&RESOURCE))]))])),
    f("proxy", Ty::Obj(&[f("httpProxy", Ty::Str), f("httpsProxy", Ty::Str), f("noProxy", Ty::List(&Ty::Str))])),
]);
const TOP2: &[Field] = &[
    req("ignition", IGNITION2),
    f(
        "storage",
        Ty::Obj(&[
            f("disks", Ty::List(&DISK3)),
            f("raid", Ty::List(&RAID3)),
            f("filesystems", Ty::List(&FS2)),
            f("files", Ty::List(&FILE2)),
            f("directories", Ty::List(&DIR2)),
            f("links", Ty::List(&LINK2)),
        ]),
    ),
    f("systemd", Ty::Obj(&[f("units", Ty::List(&UNIT2))])),
    f("networkd", Ty::Obj(&[f("units", Ty::List(&NETUNIT2))])),
    f("passwd", Ty::Obj(&[f("users", Ty::List(&USER2)), f("groups", Ty::List(&GROUP3))])),
];

const V3: [&str; 6] = ["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0"];
const V2: [&str; 4] = ["2.0.0", "2.1.0", "2.2.0", "2.3.0"];

/// The spec version a config declares (`ignition.version`), if it is JSON and declares one.
pub fn spec_version(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v.get("ignition")?.get("version")?.as_str().map(str::to_string)
}

/// Validates an Ignition config; problems carry lines in `text`.
pub fn validate(text: &str) -> Vec<Problem> {
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        return vec![Problem::error(e.line().max(1), format!("not valid JSON: {e}"))];
    }
    let node = match Node::parse(text) {
        Ok(n) => n,
        Err(e) => return vec![Problem::error(e.line.unwrap_or(1), e.message)],
    };
    let version = node.get("ignition").and_then(|i| i.get("version"));
    let top = match version.and_then(Node::as_str) {
        Some(v) if V3.contains(&v) => TOP3,
        Some(v) if V2.contains(&v) => TOP2,
        Some(v) => {
            return vec![Problem::error(
                version.map_or(1, |n| n.line),
                format!("Ignition spec version `{v}` is not recognised (known: {}, {})", V3.join(", "), V2.join(", ")),
            )]
        }
        None => {
            return vec![Problem::error(
                node.line,
                "missing `ignition.version`; Ignition refuses a config without a spec version (e.g. \"3.4.0\")",
            )]
        }
    };
    let mut out = Vec::new();
    check(&node, &Ty::Obj(top), "", &mut out);
    out
}

fn mode(m: i64) -> Result<(), String> {
    if (0..=0o7777).contains(&m) {
        Ok(())
    } else {
        Err(format!("mode {m} is not a valid file mode (0..=4095, i.e. 0o7777; write decimal, e.g. 420 for 0644)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        validate(text).into_iter().map(|p| format!("{}: {}", p.line, p.message)).collect()
    }

    #[test]
    fn a_valid_v3_config_passes() {
        let text = r#"{
  "ignition": { "version": "3.4.0" },
  "passwd": { "users": [ { "name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d a@b"] } ] },
  "storage": { "files": [ { "path": "/etc/hostname", "mode": 420, "contents": { "source": "data:,n1" } } ] },
  "systemd": { "units": [ { "name": "etcd-member.service", "enabled": true } ] }
}"#;
        assert!(messages(text).is_empty(), "{:?}", messages(text));
    }

    #[test]
    fn typos_bad_paths_modes_and_units_are_reported_with_lines() {
        let text = r#"{
  "ignition": { "version": "3.4.0" },
  "storage": { "files": [ { "path": "etc/hostname", "mode": 99999 } ] },
  "systemd": { "unit": [] },
  "passwd": { "users": [ { "name": "core", "sshAuthorisedKeys": [] } ] }
}"#;
        let m = messages(text);
        assert!(m.contains(&"3: `storage.files[0].path`: path `etc/hostname` must be absolute".to_string()), "{m:?}");
        assert!(m.iter().any(|s| s.starts_with("3: `storage.files[0].mode`: mode 99999")), "{m:?}");
        assert!(m.contains(&"4: unknown key `systemd.unit` (did you mean `units`?)".to_string()), "{m:?}");
        assert!(m.iter().any(|s| s.starts_with("5: unknown key `passwd.users[0].sshAuthorisedKeys`")), "{m:?}");
    }

    #[test]
    fn versions_are_checked() {
        assert!(messages(r#"{"ignition": {"version": "9.0.0"}}"#)[0].contains("not recognised"));
        assert!(messages(r#"{"storage": {}}"#)[0].contains("missing `ignition.version`"));
        assert!(messages(r#"{"ignition": {"version": "2.3.0"}, "networkd": {"units": []}}"#).is_empty());
        assert!(messages("{\n\"ignition\": }")[0].starts_with("2: not valid JSON"));
    }
}
