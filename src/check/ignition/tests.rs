//! Configs written for each rule (valid and invalid forms), with the expected line, severity
//! and message.

use super::*;
use crate::diag::Severity::{self, Error, Warning};

/// A config declaring `version` whose body starts on line 3.
fn cfg(version: &str, body: &str) -> String {
    let body = body.trim_matches('\n');
    if body.is_empty() {
        format!("{{\n  \"ignition\": {{ \"version\": \"{version}\" }}\n}}\n")
    } else {
        format!("{{\n  \"ignition\": {{ \"version\": \"{version}\" }},\n{body}\n}}\n")
    }
}

fn problems(text: &str) -> Vec<(usize, Severity, String)> {
    validate(text).into_iter().map(|p| (p.line, p.severity, p.message)).collect()
}

fn clean(text: &str) {
    assert_eq!(problems(text), vec![], "{text}");
}

fn only(text: &str, line: usize, severity: Severity, message: &str) {
    assert_eq!(problems(text), vec![(line, severity, message.to_string())], "{text}");
}

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d a@b";
const SHA512: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// ---- versions and document shape ----

#[test]
fn every_stable_spec_is_known_and_listed() {
    for ver in KNOWN {
        clean(&cfg(&ver.to_string(), ""));
    }
    clean(&cfg("2.4.0", ""));
    let text = cfg("3.9.0", "");
    only(
        &text,
        2,
        Error,
        "Ignition spec version `3.9.0` is not known (known: 2.0.0, 2.1.0, 2.2.0, 2.3.0, 2.4.0, 3.0.0, 3.1.0, 3.2.0, 3.3.0, 3.4.0, 3.5.0, 3.6.0)",
    );
}

#[test]
fn experimental_specs_are_refused() {
    let p = problems(&cfg("3.7.0-experimental", ""));
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].0, p[0].1), (2, Error));
    assert!(p[0].2.starts_with("Ignition spec `3.7.0-experimental` is experimental"), "{p:?}");
}

#[test]
fn a_version_must_be_a_three_part_string() {
    only(
        "{\"ignition\": {\"version\": 3.4}}",
        1,
        Error,
        "`ignition.version` must be a string like \"3.4.0\", not the number 3.4",
    );
    only(
        "{\"ignition\": {\"version\": 3}}",
        1,
        Error,
        "`ignition.version` must be a string like \"3.0.0\", not the number 3",
    );
    only(&cfg("3.4", ""), 2, Error, "Ignition spec version `3.4` needs all three parts: write \"3.4.0\"");
    only(
        "{\n\"storage\": {}\n}",
        1,
        Error,
        "missing `ignition.version`; Ignition refuses a config without a spec version (e.g. \"3.6.0\")",
    );
    only(
        "{\"ignitionVersion\": 1}",
        1,
        Error,
        "`ignitionVersion` marks a spec 1 config, which pxebake does not check; convert it to spec 3.6.0",
    );
}

#[test]
fn the_config_must_be_a_json_object() {
    only(
        "[\n  {\"ignition\": {\"version\": \"3.4.0\"}}\n]",
        1,
        Error,
        "an Ignition config must be a JSON object like {\"ignition\": {\"version\": \"3.6.0\"}}, not a list",
    );
    only(
        "  \n",
        1,
        Error,
        "the config is empty; Ignition refuses it (start from `{\"ignition\": {\"version\": \"3.6.0\"}}`)",
    );
    assert!(problems("{\n\"ignition\": }")[0].2.starts_with("not valid JSON"));
    assert_eq!(problems("{\n\"ignition\": }")[0].0, 2);
}

#[test]
fn spec_version_reads_the_declared_version() {
    assert_eq!(spec_version(&cfg("3.1.0", "")), Some("3.1.0".to_string()));
    assert_eq!(spec_version("{\"ignition\": {\"version\": 3.1}}"), None);
    assert_eq!(spec_version("{}"), None);
    assert_eq!(spec_version("not json ["), None);
    assert_eq!(spec_version("ignition:\n  version: \"3.4.0\"\n"), None);
}

#[test]
fn ignition_releases_map_to_the_newest_spec_they_read() {
    assert_eq!(max_spec_for_ignition("2.26.0"), Some("3.6.0"));
    assert_eq!(max_spec_for_ignition("2.24.0"), Some("3.5.0"));
    assert_eq!(max_spec_for_ignition("2.19.0"), Some("3.4.0"));
    assert_eq!(max_spec_for_ignition("2.15.0"), Some("3.4.0"));
    assert_eq!(max_spec_for_ignition("2.14.0"), Some("3.3.0"));
    assert_eq!(max_spec_for_ignition("2.11.0"), Some("3.3.0"));
    assert_eq!(max_spec_for_ignition("2.7.0"), Some("3.2.0"));
    assert_eq!(max_spec_for_ignition("2.3.0"), Some("3.1.0"));
    assert_eq!(max_spec_for_ignition("2.0.0"), Some("3.0.0"));
    assert_eq!(max_spec_for_ignition("0.36.2"), Some("2.4.0"));
    assert_eq!(max_spec_for_ignition("0.33.0"), Some("2.3.0"));
    assert_eq!(max_spec_for_ignition("0.28.0"), None);
    assert_eq!(max_spec_for_ignition("latest"), None);
}

// ---- keys and types per spec ----

#[test]
fn kernel_arguments_need_spec_3_3() {
    let body = r#"  "kernelArguments": { "shouldExist": ["console=ttyS0"] }"#;
    only(&cfg("3.1.0", body), 3, Error, "`kernelArguments` needs spec 3.3.0 or later; this config declares 3.1.0");
    clean(&cfg("3.3.0", body));
}

#[test]
fn keys_newer_than_the_declared_spec_name_their_spec() {
    let luks = r#"  "storage": { "luks": [ { "name": "data", "device": "/dev/sdb" } ] }"#;
    only(&cfg("3.1.0", luks), 3, Error, "`storage.luks` needs spec 3.2.0 or later; this config declares 3.1.0");
    clean(&cfg("3.2.0", luks));
    let discard = r#"  "storage": { "luks": [ { "name": "data", "device": "/dev/sdb", "discard": true } ] }"#;
    only(
        &cfg("3.3.0", discard),
        3,
        Error,
        "`storage.luks[0].discard` needs spec 3.4.0 or later; this config declares 3.3.0",
    );
    let cex = r#"  "storage": { "luks": [ { "name": "data", "device": "/dev/sdb", "cex": { "enabled": true } } ] }"#;
    only(&cfg("3.4.0", cex), 3, Error, "`storage.luks[0].cex` needs spec 3.5.0 or later; this config declares 3.4.0");
    clean(&cfg("3.5.0", cex));
    let proxy = r#"  "storage": {},
  "passwd": { "users": [ { "name": "old", "shouldExist": false } ] }"#;
    only(
        &cfg("3.1.0", proxy),
        4,
        Error,
        "`passwd.users[0].shouldExist` needs spec 3.2.0 or later; this config declares 3.1.0",
    );
    let merge = r#"  "storage": { "filesystems": [ { "device": "/dev/sdb", "format": "ext4", "mountOptions": ["noatime"] } ] }"#;
    only(
        &cfg("3.0.0", merge),
        3,
        Error,
        "`storage.filesystems[0].mountOptions` needs spec 3.1.0 or later; this config declares 3.0.0",
    );
}

#[test]
fn spec_3_keys_in_a_2x_config_name_the_3x_spec() {
    let body = r#"  "storage": { "disks": [ { "device": "/dev/sda", "partitions": [ { "number": 1, "resize": true } ] } ] },
  "passwd": { "users": [ { "name": "old", "shouldExist": false } ] }"#;
    assert_eq!(
        problems(&cfg("2.3.0", body)),
        vec![
            (
                3,
                Error,
                "`storage.disks[0].partitions[0].resize` needs spec 3.2.0 or later; this config declares 2.3.0"
                    .to_string()
            ),
            (
                4,
                Error,
                "`passwd.users[0].shouldExist` needs spec 3.2.0 or later; this config declares 2.3.0".to_string()
            ),
        ]
    );
}

#[test]
fn spec_2_keys_in_a_3x_config_are_reported() {
    let body = r#"  "networkd": { "units": [] }"#;
    only(
        &cfg("3.4.0", body),
        3,
        Error,
        "`networkd` exists only in spec 2.x configs; this config declares 3.4.0 (see Ignition's \"Upgrading Configs\")",
    );
}

#[test]
fn a_2_3_config_with_partition_size_passes_with_a_deprecation_warning() {
    let body = r#"  "storage": { "disks": [ { "device": "/dev/sda", "partitions": [
    { "number": 1, "label": "ROOT", "size": 4194304, "start": 2048 } ] } ] }"#;
    assert_eq!(
        problems(&cfg("2.3.0", body)),
        vec![
            (4, Warning, "`storage.disks[0].partitions[0].size` is deprecated since spec 2.3.0; use `sizeMiB` (MiB, not 512-byte sectors); Flatcar's translation to spec 3 refuses deprecated keys".to_string()),
            (4, Warning, "`storage.disks[0].partitions[0].start` is deprecated since spec 2.3.0; use `startMiB` (MiB, not 512-byte sectors); Flatcar's translation to spec 3 refuses deprecated keys".to_string()),
        ]
    );
    clean(&cfg("2.2.0", body));
    let mib = body.replace("\"size\": 4194304, \"start\": 2048", "\"sizeMiB\": 2048");
    only(
        &cfg("2.2.0", &mib),
        4,
        Error,
        "`storage.disks[0].partitions[0].sizeMiB` needs spec 2.3.0 or later; this config declares 2.2.0",
    );
}

#[test]
fn a_2x_config_uses_its_own_schema() {
    let body = r#"  "storage": {
    "filesystems": [ { "name": "oem", "mount": { "device": "/dev/disk/by-label/OEM", "format": "btrfs" } } ],
    "files": [ { "filesystem": "oem", "path": "/grub.cfg", "mode": 420, "contents": { "source": "data:,set%20x" } } ]
  },
  "systemd": { "units": [ { "name": "etcd-member.service", "enable": true } ] },
  "networkd": { "units": [ { "name": "00-eth0.network", "contents": "[Match]\nName=eth0" } ] },
  "passwd": { "users": [ { "name": "core", "sshAuthorizedKeys": ["KEY"] } ] }"#;
    let body = body.replace("KEY", KEY);
    clean(&cfg("2.0.0", &body));
    only(&cfg("2.1.0", &body), 7, Warning, "`systemd.units[0].enable` is deprecated since spec 2.1.0; use `enabled`");
    let missing = r#"  "storage": { "filesystems": [ { "mount": { "device": "/dev/sdb", "format": "ext4" } } ],
    "files": [ { "path": "/x" } ] }"#;
    assert_eq!(
        problems(&cfg("2.2.0", missing)),
        vec![
            (3, Error, "`storage.filesystems[0]` is missing `name`".to_string()),
            (4, Error, "`storage.files[0]` is missing `filesystem`".to_string()),
        ]
    );
}

#[test]
fn a_valid_3x_config_passes() {
    let body = format!(
        r#"  "passwd": {{ "users": [ {{ "name": "core", "sshAuthorizedKeys": ["{KEY}"] }} ] }},
  "storage": {{
    "files": [ {{ "path": "/etc/hostname", "mode": 420, "overwrite": true, "contents": {{ "source": "data:,n1" }} }},
               {{ "path": "/opt/tool", "contents": {{ "source": "https://example.com/tool.gz", "compression": "gzip",
                 "verification": {{ "hash": "sha512-{SHA512}" }} }} }} ],
    "directories": [ {{ "path": "/opt/data", "mode": 493 }} ],
    "links": [ {{ "path": "/etc/localtime", "target": "/usr/share/zoneinfo/UTC" }} ],
    "filesystems": [ {{ "device": "/dev/disk/by-label/DATA", "format": "xfs", "label": "DATA", "path": "/var/data" }} ]
  }},
  "systemd": {{ "units": [ {{ "name": "etcd-member.service", "enabled": true,
    "dropins": [ {{ "name": "10-env.conf", "contents": "[Service]\nEnvironment=A=1" }} ] }} ] }}"#
    );
    clean(&cfg("3.4.0", &body));
}

#[test]
fn a_string_where_an_integer_belongs_says_so() {
    let body = r#"  "storage": { "files": [ { "path": "/etc/x", "mode": "420" } ] }"#;
    only(
        &cfg("3.4.0", body),
        3,
        Error,
        "`storage.files[0].mode` must be an integer, not a string; write 420 without quotes",
    );
    let body = r#"  "storage": { "files": [ { "path": "/etc/x", "mode": "rw" } ] }"#;
    only(&cfg("3.4.0", body), 3, Error, "`storage.files[0].mode` must be an integer, not a string");
    let body = r#"  "systemd": { "units": [ { "name": "a.service", "enabled": "yes" } ] }"#;
    only(&cfg("3.4.0", body), 3, Error, "`systemd.units[0].enabled` must be true or false, not a string");
    let body = r#"  "passwd": { "users": { "name": "core" } }"#;
    only(&cfg("3.4.0", body), 3, Error, "`passwd.users` must be a list, not an object");
}

#[test]
fn typos_get_a_hint() {
    let body = r#"  "systemd": { "unit": [] },
  "passwd": { "users": [ { "name": "core", "sshAuthorisedKeys": [] } ] }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (3, Error, "unknown key `systemd.unit` (did you mean `units`?)".to_string()),
            (
                4,
                Error,
                "unknown key `passwd.users[0].sshAuthorisedKeys` (did you mean `sshAuthorizedKeys`?)".to_string()
            ),
        ]
    );
}

// ---- storage ----

#[test]
fn one_path_holds_one_file_directory_or_link() {
    let body = r#"  "storage": {
    "files": [ { "path": "/etc/motd" }, { "path": "/etc/motd" } ],
    "links": [ { "path": "/etc/issue", "target": "/run/issue" } ],
    "directories": [ { "path": "/etc/issue" } ]
  }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (4, Error, "`storage.files[1].path`: path `/etc/motd` is already used by `storage.files[0]`".to_string()),
            (
                5,
                Error,
                "`storage.links[0].path`: path `/etc/issue` is already used by `storage.directories[0]`".to_string()
            ),
        ]
    );
    // Ignition 0.x did not check 2.x configs, Flatcar's translation to spec 3 does.
    let v2 = body.replace("{ \"path\"", "{ \"filesystem\": \"root\", \"path\"");
    let why = " (Flatcar's translation of 2.x configs to spec 3 refuses this)";
    assert_eq!(
        problems(&cfg("2.2.0", &v2)),
        vec![
            (4, Error, format!("`storage.files[1].path`: path `/etc/motd` is already used by `storage.files[0]`{why}")),
            (
                5,
                Error,
                format!("`storage.links[0].path`: path `/etc/issue` is already used by `storage.directories[0]`{why}")
            ),
        ]
    );
    // Appending fragments to one file takes one entry each in 2.x.
    let append = r#"  "storage": { "files": [
    { "filesystem": "root", "path": "/etc/motd", "append": true, "contents": { "source": "data:,a" } },
    { "filesystem": "root", "path": "/etc/motd", "append": true, "contents": { "source": "data:,b" } } ] }"#;
    clean(&cfg("2.3.0", append));
    // Other filesystems are other places.
    clean(
        &cfg(
            "2.2.0",
            &v2.replacen("\"root\"", "\"oem\"", 1).replace(
                "\"storage\": {",
                "\"storage\": { \"filesystems\": [ { \"name\": \"oem\", \"path\": \"/usr/share/oem\" } ],",
            ),
        )
        .replace(
            "{ \"filesystem\": \"root\", \"path\": \"/etc/issue\" }",
            "{ \"filesystem\": \"root\", \"path\": \"/etc/issue2\" }",
        ),
    );
}

#[test]
fn a_file_and_a_link_on_one_path_are_refused() {
    let body = r#"  "storage": {
    "files": [ { "path": "/etc/resolv.conf", "contents": { "source": "data:,x" } } ],
    "links": [ { "path": "/etc/resolv.conf", "target": "/run/systemd/resolve/resolv.conf" } ]
  }"#;
    only(
        &cfg("3.0.0", body),
        5,
        Error,
        "`storage.links[0].path`: path `/etc/resolv.conf` is already used by `storage.files[0]`",
    );
}

#[test]
fn nothing_is_written_through_a_link() {
    let body = r#"  "storage": {
    "links": [ { "path": "/opt/app", "target": "/var/app" } ],
    "files": [ { "path": "/opt/app/config" } ],
    "directories": [ { "path": "/opt/application" } ]
  }"#;
    only(
        &cfg("3.4.0", body),
        5,
        Error,
        "`storage.files[0].path`: `/opt/app/config` is under `/opt/app`, which `storage.links[0]` makes a link; Ignition refuses to write through a link",
    );
}

#[test]
fn paths_must_be_absolute_and_clean() {
    let body = r#"  "storage": { "files": [ { "path": "etc/x" }, { "path": "/etc//y" }, { "path": "" } ] }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (3, Error, "`storage.files[0].path`: path `etc/x` must be absolute".to_string()),
            (3, Error, "`storage.files[1].path`: path `/etc//y` is not clean; write `/etc/y`".to_string()),
            (3, Error, "`storage.files[2].path`: the path is empty".to_string()),
        ]
    );
}

#[test]
fn a_link_needs_a_target() {
    let body = r#"  "storage": { "links": [
    { "path": "/etc/a" },
    { "path": "/etc/b", "target": "" } ] }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (4, Error, "`storage.links[0]` needs a `target`".to_string()),
            (5, Error, "`storage.links[1]` needs a `target`".to_string()),
        ]
    );
    let body2 = r#"  "storage": { "links": [ { "filesystem": "root", "path": "/etc/a" } ] }"#;
    only(&cfg("2.1.0", body2), 3, Error, "`storage.links[0]` needs a `target`");
}

#[test]
fn hard_links_cannot_point_at_directories_and_ignore_owners() {
    let body = r#"  "storage": {
    "directories": [ { "path": "/srv" } ],
    "links": [ { "path": "/opt/srv", "target": "/srv", "hard": true,
                 "user": { "name": "core" } } ]
  }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (5, Error, "`storage.links[0].target`: `/srv` is a directory in this config; a hard link cannot point at a directory".to_string()),
            (6, Warning, "`storage.links[0].user` is ignored for a hard link".to_string()),
        ]
    );
}

#[test]
fn overwrite_needs_contents() {
    let body = r#"  "storage": { "files": [ { "path": "/etc/x",
    "overwrite": true } ] }"#;
    only(
        &cfg("3.4.0", body),
        4,
        Error,
        "`storage.files[0].overwrite` is true but `contents.source` is not set; give the contents or drop `overwrite`",
    );
    clean(&cfg("3.4.0", &body.replace("true", "false")));
}

#[test]
fn append_and_overwrite_together_are_refused_in_2x() {
    let body = r#"  "storage": { "files": [ { "filesystem": "root", "path": "/etc/x", "overwrite": true,
    "append": true } ] }"#;
    only(&cfg("2.2.0", body), 4, Error, "`storage.files[0]`: `append` and `overwrite` cannot both be true");
    clean(&cfg("2.2.0", &body.replace("\"overwrite\": true", "\"overwrite\": false")));
}

#[test]
fn modes_are_checked_and_special_bits_warn_before_3_6() {
    let body = r#"  "storage": { "files": [ { "path": "/usr/local/bin/t", "mode": 2541 } ],
    "directories": [ { "path": "/var/tmp2", "mode": 99999 } ] }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (3, Warning, "`storage.files[0].mode`: 2541 (04755) sets setuid/setgid/sticky bits, which spec 3.4.0 ignores; declare spec 3.6.0 to apply them".to_string()),
            (4, Error, "`storage.directories[0].mode`: 99999 is not a file mode (0 to 4095, i.e. 0o7777; write decimal, e.g. 420 for 0644)".to_string()),
        ]
    );
    let ok = body.replace("99999", "1023");
    assert_eq!(problems(&cfg("3.5.0", &ok)).iter().filter(|p| p.1 == Warning).count(), 2);
    clean(&cfg("3.6.0", &ok));
}

#[test]
fn filesystem_labels_fit_their_format() {
    let body = r#"  "storage": { "filesystems": [
    { "device": "/dev/sdb", "format": "ext4", "label": "a-very-long-label" },
    { "device": "/dev/sdc", "format": "xfs", "label": "thirteen-char" },
    { "device": "/dev/sdd", "format": "vfat", "label": "TWELVE_CHARS" },
    { "device": "/dev/sde", "format": "swap", "label": "sixteen-chars-xx" },
    { "device": "/dev/sdf", "format": "ext4", "label": "sixteen-chars-ok" } ] }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (
                4,
                Error,
                "`storage.filesystems[0].label`: `a-very-long-label` has 17 bytes; ext4 labels take at most 16"
                    .to_string()
            ),
            (
                5,
                Error,
                "`storage.filesystems[1].label`: `thirteen-char` has 13 bytes; xfs labels take at most 12".to_string()
            ),
            (
                6,
                Error,
                "`storage.filesystems[2].label`: `TWELVE_CHARS` has 12 bytes; vfat labels take at most 11".to_string()
            ),
            (
                7,
                Error,
                "`storage.filesystems[3].label`: `sixteen-chars-xx` has 16 bytes; swap labels take at most 15"
                    .to_string()
            ),
        ]
    );
    let v2 = r#"  "storage": { "filesystems": [ { "name": "data", "mount": { "device": "/dev/sdb", "format": "xfs",
    "label": "thirteen-char" } } ] }"#;
    only(
        &cfg("2.1.0", v2),
        4,
        Error,
        "`storage.filesystems[0].mount.label`: `thirteen-char` has 13 bytes; xfs labels take at most 12",
    );
}

#[test]
fn filesystem_formats_per_spec() {
    let body =
        r#"  "storage": { "filesystems": [ { "device": "/dev/sdb", "format": "none", "wipeFilesystem": true } ] }"#;
    clean(&cfg("3.3.0", body));
    only(
        &cfg("3.2.0", body),
        3,
        Error,
        "`storage.filesystems[0].format`: `none` is not one of ext4, btrfs, xfs, swap, vfat; `none` needs spec 3.3.0 or later",
    );
    let body = r#"  "storage": { "filesystems": [ { "device": "/dev/sdb", "path": "/var" } ] }"#;
    only(
        &cfg("3.4.0", body),
        3,
        Error,
        "`storage.filesystems[0]` needs a `format` when it sets a path, label, uuid, wipeFilesystem or options",
    );
}

#[test]
fn duplicate_disks_filesystems_and_partitions() {
    let body = r#"  "storage": {
    "disks": [ { "device": "/dev/sda", "partitions": [
      { "number": 1, "label": "A", "sizeMiB": 100, "startMiB": 1 },
      { "number": 1, "label": "B" },
      { "label": "A:B" } ] } ],
    "filesystems": [ { "device": "/dev/sdb", "format": "ext4" }, { "device": "/dev/sdb", "format": "xfs" } ]
  }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (6, Error, "`storage.disks[0].partitions[1]`: partition `number 1` is already used by `storage.disks[0].partitions[0]`".to_string()),
            (7, Error, "`storage.disks[0].partitions[2].label`: `A:B` contains `:`, which cuts the label short (sgdisk)".to_string()),
            (8, Error, "`storage.filesystems[1].device`: device `/dev/sdb` is already used by `storage.filesystems[0]`".to_string()),
        ]
    );
}

#[test]
fn partitions_need_a_number_or_label_and_must_not_overlap() {
    let body = r#"  "storage": { "disks": [ { "device": "/dev/sda", "partitions": [
      { "sizeMiB": 10 },
      { "number": 2, "startMiB": 100, "sizeMiB": 100 },
      { "number": 3, "startMiB": 150, "sizeMiB": 10, "typeGuid": "not-a-guid" },
      { "number": 4, "shouldExist": false, "label": "X" } ] } ] }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (4, Error, "`storage.disks[0].partitions[0]` needs a `number` (1 or more) or a `label`".to_string()),
            (6, Error, "`storage.disks[0].partitions[2].typeGuid`: `not-a-guid` is not a GUID like `0FC63DAF-8483-4772-8E79-3D69D8477DE4`".to_string()),
            (6, Error, "`storage.disks[0].partitions[2]` overlaps `storage.disks[0].partitions[1]`".to_string()),
            (7, Error, "`storage.disks[0].partitions[3]`: `shouldExist: false` deletes the partition; drop label, guid, typeGuid, start and size".to_string()),
        ]
    );
}

#[test]
fn spec_2_partitions_align_and_keep_one_unit() {
    let body = r#"  "storage": { "disks": [ { "device": "/dev/sda", "partitions": [
      { "number": 1, "start": 2049, "size": 2048 },
      { "number": 2, "sizeMiB": 10 } ] } ] }"#;
    let p = problems(&cfg("2.3.0", body));
    assert!(
        p.contains(&(
            4,
            Error,
            "`storage.disks[0].partitions` mix `size`/`start` (sectors) with `sizeMiB`/`startMiB`; use one unit"
                .to_string()
        )),
        "{p:?}"
    );
    assert!(
        p.contains(&(
            4,
            Error,
            "`storage.disks[0].partitions[0].start`: sector 2049 is not aligned to 2048 sectors (1 MiB)".to_string()
        )),
        "{p:?}"
    );
}

#[test]
fn raid_levels_and_devices() {
    let body = r#"  "storage": { "raid": [
    { "name": "md0", "level": "raid0", "devices": ["/dev/sda", "/dev/sdb"], "spares": 1 },
    { "name": "md1", "level": "raid7", "devices": ["/dev/sdc"] },
    { "name": "md1", "level": "raid1" } ] }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (4, Error, "`storage.raid[0].spares`: a `raid0` array has no spares".to_string()),
            (5, Error, "`storage.raid[1].level`: `raid7` is not a RAID level (linear, raid0, raid1, raid4, raid5, raid6, raid10)".to_string()),
            (6, Error, "`storage.raid[2]` needs `devices`".to_string()),
            (6, Error, "`storage.raid[2].name`: array `md1` is already used by `storage.raid[1]`".to_string()),
        ]
    );
}

#[test]
fn luks_rules() {
    let body = r#"  "storage": { "luks": [
    { "name": "a/b", "device": "/dev/sdb", "clevis": { "tpm2": true, "custom": { "pin": "sss", "config": "{}" } } },
    { "name": "c", "device": "/dev/sdc", "clevis": { "tang": [ { "url": "ftp://tang", "thumbprint": "x" } ] } } ] }"#;
    assert_eq!(
        problems(&cfg("3.2.0", body)),
        vec![
            (4, Error, "`storage.luks[0].name`: `a/b` is a device-mapper name and cannot contain `/`".to_string()),
            (
                4,
                Error,
                "`storage.luks[0].clevis`: `custom` cannot be combined with tang, tpm2 or threshold".to_string()
            ),
            (
                5,
                Error,
                "`storage.luks[1].clevis.tang[0].url`: `ftp://tang` is not an http:// or https:// URL".to_string()
            ),
        ]
    );
}

#[test]
fn file_owners_take_an_id_or_a_name() {
    let body = r#"  "storage": { "files": [ { "path": "/etc/x",
    "user": { "id": 500, "name": "core" } } ] }"#;
    only(&cfg("3.4.0", body), 4, Error, "`storage.files[0].user`: set `id` or `name`, not both");
}

// ---- resources ----

fn source(version: &str, src: &str) -> String {
    cfg(
        version,
        &format!(
            "  \"storage\": {{ \"files\": [ {{ \"path\": \"/etc/x\", \"contents\": {{ \"source\": \"{src}\" }} }} ] }}"
        ),
    )
}

#[test]
fn url_schemes_per_spec() {
    for ok in ["http://a/b", "https://a/b", "tftp://a/b", "s3://bucket/key", "data:,x"] {
        clean(&source("3.0.0", ok));
    }
    only(
        &source("3.4.0", "ftp://example.com/x"),
        3,
        Error,
        "`storage.files[0].contents.source`: Ignition does not fetch `ftp:` URLs (`ftp://example.com/x`); use http, https, tftp, s3, gs, arn, data",
    );
    only(
        &source("3.1.0", "gs://bucket/x"),
        3,
        Error,
        "`storage.files[0].contents.source`: `gs:` URLs need spec 3.2.0 or later; this config declares 3.1.0",
    );
    clean(&source("3.2.0", "gs://bucket/x"));
    only(
        &source("3.3.0", "arn:aws:s3:us-west-1:123456789012:accesspoint/test/object/some/path"),
        3,
        Error,
        "`storage.files[0].contents.source`: `arn:` URLs need spec 3.4.0 or later; this config declares 3.3.0",
    );
    clean(&source("3.4.0", "arn:aws:s3:us-west-1:123456789012:accesspoint/test/object/some/path"));
    assert_eq!(problems(&source("3.4.0", "arn:aws:ec2:::thing"))[0].1, Error);
    only(
        &source("3.4.0", "s3://b/k?versionId="),
        3,
        Error,
        "`storage.files[0].contents.source`: `s3://b/k?versionId=` : `versionId` is empty"
            .replace(" : ", ": ")
            .as_str(),
    );
    only(
        &source("3.4.0", "/etc/hosts"),
        3,
        Error,
        "`storage.files[0].contents.source`: `/etc/hosts` is not a URL; Ignition fetches http, https, tftp, s3, gs, arn, data URLs",
    );
    let v2 = cfg(
        "2.0.0",
        "  \"storage\": { \"files\": [ { \"filesystem\": \"root\", \"path\": \"/x\", \"contents\": { \"source\": \"tftp://h/x\" } } ] }",
    );
    only(
        &v2,
        3,
        Error,
        "`storage.files[0].contents.source`: `tftp:` URLs need spec 2.1.0 or later; this config declares 2.0.0",
    );
    clean(&v2.replace("tftp://h/x", "oem:///x"));
}

#[test]
fn data_urls_must_decode() {
    clean(&source("3.4.0", "data:;base64,aGVsbG8K"));
    clean(&source("3.4.0", "data:text/plain;charset=utf-8,hello%20world"));
    only(
        &source("3.4.0", "data:;base64,aGVsbG8K!!"),
        3,
        Error,
        "`storage.files[0].contents.source`: the base64 data of `data:;base64,aGVsbG8K!!` does not decode (Invalid symbol 33, offset 8.)",
    );
    only(
        &source("3.4.0", "data:hello"),
        3,
        Error,
        "`storage.files[0].contents.source`: `data:hello` has no `,` before its data (write `data:,TEXT` or `data:;base64,BASE64`)",
    );
    only(
        &source("3.4.0", "data:,100%zz"),
        3,
        Error,
        "`storage.files[0].contents.source`: `data:,100%zz` has a `%` not followed by two hex digits",
    );
}

fn hashed(version: &str, hash: &str) -> String {
    cfg(
        version,
        &format!(
            "  \"storage\": {{ \"files\": [ {{ \"path\": \"/etc/x\", \"contents\": {{ \"source\": \"https://h/x\",\n    \"verification\": {{ \"hash\": \"{hash}\" }} }} }} ] }}"
        ),
    )
}

#[test]
fn verification_hashes_per_spec() {
    clean(&hashed("3.0.0", &format!("sha512-{SHA512}")));
    clean(&hashed("3.1.0", &format!("sha256-{SHA256}")));
    only(
        &hashed("3.0.0", &format!("sha256-{SHA256}")),
        4,
        Error,
        "`storage.files[0].contents.verification.hash`: `sha256` hashes need spec 3.1.0 or later; this config declares 3.0.0 (use sha512)",
    );
    only(
        &hashed("3.4.0", "md5-d41d8cd98f00b204e9800998ecf8427e"),
        4,
        Error,
        "`storage.files[0].contents.verification.hash`: `md5` is not a hash function Ignition knows; use sha512 or sha256",
    );
    only(
        &hashed("3.4.0", &format!("sha512-{SHA256}")),
        4,
        Error,
        "`storage.files[0].contents.verification.hash`: a `sha512` digest has 128 hex digits, this one has 64",
    );
    only(
        &hashed("3.4.0", SHA256),
        4,
        Error,
        &format!("`storage.files[0].contents.verification.hash`: `{SHA256}` is not `FUNCTION-DIGEST` (e.g. `sha512-` and 128 hex digits)"),
    );
}

#[test]
fn compression_is_gzip_or_nothing() {
    let body = r#"  "storage": { "files": [ { "path": "/etc/x", "contents": { "source": "https://h/x.xz",
    "compression": "xz" } } ] }"#;
    only(
        &cfg("3.4.0", body),
        4,
        Error,
        "`storage.files[0].contents.compression`: `xz` is not a compression Ignition knows; use `gzip` or leave it out",
    );
    clean(&cfg("3.4.0", &body.replace("\"xz\"", "\"gzip\"")));
    clean(&cfg("3.4.0", &body.replace("\"xz\"", "\"\"")));
}

#[test]
fn merged_configs_need_a_source_and_headers_need_http() {
    let text = r#"{
  "ignition": { "version": "3.4.0", "config": { "merge": [
    { "verification": { "hash": "sha512-00" } },
    { "source": "tftp://h/c.ign", "httpHeaders": [ { "name": "A", "value": "" } ] } ] } }
}"#;
    assert_eq!(
        problems(text),
        vec![
            (3, Error, "`ignition.config.merge[0]` needs a `source` URL".to_string()),
            (3, Error, "`ignition.config.merge[0].verification.hash` needs a `source` to verify".to_string()),
            (
                4,
                Error,
                "`ignition.config.merge[1].httpHeaders` work only with an http:// or https:// `source`".to_string()
            ),
            (
                4,
                Error,
                "`ignition.config.merge[1].httpHeaders[0].value` is empty; give a value or leave the key out"
                    .to_string()
            ),
        ]
    );
}

#[test]
fn proxies_are_http_urls() {
    let text = r#"{
  "ignition": { "version": "3.4.0", "proxy": {
    "httpProxy": "socks5://p:1080",
    "httpsProxy": "http://p:3128" } }
}"#;
    assert_eq!(
        problems(text),
        vec![
            (3, Error, "`ignition.proxy.httpProxy`: `socks5://p:1080` is not an http:// or https:// URL".to_string()),
            (4, Warning, "`ignition.proxy.httpsProxy`: `http://p:3128` is a plaintext HTTP proxy for HTTPS resources; use an https:// proxy".to_string()),
        ]
    );
}

// ---- systemd and passwd ----

#[test]
fn units_need_a_type_and_unique_names() {
    let body = r#"  "systemd": { "units": [
    { "name": "docker" },
    { "name": "a.service" },
    { "name": "a.service", "mask": true } ] }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (4, Error, "`systemd.units[0].name`: unit name `docker` needs a unit type suffix (.service, .socket, .device, .mount, .automount, .swap, .target, .path, .timer, .snapshot, .slice, .scope)".to_string()),
            (6, Error, "`systemd.units[2].name`: unit `a.service` is already used by `systemd.units[1]`".to_string()),
        ]
    );
}

#[test]
fn drop_ins_end_in_conf() {
    let body = r#"  "systemd": { "units": [ { "name": "a.service", "dropins": [
    { "name": "10-env.conf" },
    { "name": "20-limits" } ] } ] }"#;
    only(&cfg("3.4.0", body), 5, Error, "`systemd.units[0].dropins[1].name`: drop-in `20-limits` must end in `.conf`");
    let v2 = r#"  "networkd": { "units": [ { "name": "eth0.network", "dropins": [ { "name": "x.cfg" } ] },
    { "name": "eth0.conf" } ] }"#;
    assert_eq!(
        problems(&cfg("2.2.0", v2)),
        vec![
            (3, Error, "`networkd.units[0].dropins[0].name`: drop-in `x.cfg` must end in `.conf`".to_string()),
            (
                4,
                Error,
                "`networkd.units[1].name`: unit name `eth0.conf` needs a unit type suffix (.link, .netdev, .network)"
                    .to_string()
            ),
        ]
    );
}

#[test]
fn enabling_a_unit_without_install_section_warns() {
    let body = r#"  "systemd": { "units": [ { "name": "a.service", "enabled": true,
    "contents": "[Service]\nExecStart=/bin/true" } ] }"#;
    only(
        &cfg("3.4.0", body),
        4,
        Warning,
        "`systemd.units[0]`: `a.service` is enabled but its contents have no [Install] section, so enabling does nothing; add one (e.g. WantedBy=multi-user.target)",
    );
    clean(&cfg("3.4.0", &body.replace("/bin/true", "/bin/true\\n[Install]\\nWantedBy=multi-user.target")));
}

#[test]
fn a_file_cannot_take_a_units_path() {
    let body = r#"  "systemd": { "units": [ { "name": "a.service", "contents": "[Service]\nExecStart=/bin/true" } ] },
  "storage": { "files": [ { "path": "/etc/systemd/system/a.service" } ] }"#;
    only(&cfg("3.4.0", body), 4, Error, "`storage.files[0].path`: `/etc/systemd/system/a.service` is also written by `systemd.units[0]`; keep one of them");
}

#[test]
fn users_and_groups_are_unique() {
    let body = r#"  "passwd": {
    "users": [ { "name": "core" }, { "name": "core" } ],
    "groups": [ { "name": "ops" }, { "name": "ops" } ] }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (4, Error, "`passwd.users[1].name`: user `core` is already used by `passwd.users[0]`".to_string()),
            (5, Error, "`passwd.groups[1].name`: group `ops` is already used by `passwd.groups[0]`".to_string()),
        ]
    );
}

#[test]
fn kernel_arguments_are_unique_across_both_lists() {
    let body = r#"  "kernelArguments": { "shouldExist": ["quiet"],
    "shouldNotExist": ["quiet"] }"#;
    only(
        &cfg("3.3.0", body),
        4,
        Error,
        "`kernelArguments.shouldNotExist[0]`: kernel argument `quiet` is already used by `kernelArguments.shouldExist`",
    );
}

#[test]
fn spec_2_create_is_deprecated_and_exclusive() {
    let body = r#"  "passwd": { "users": [ { "name": "core", "create": { "uid": 500 },
    "shell": "/bin/bash" } ] }"#;
    assert_eq!(
        problems(&cfg("2.1.0", body)),
        vec![
            (3, Warning, "`passwd.users[0].create` is deprecated since spec 2.1.0; use the same keys directly on the user".to_string()),
            (4, Error, "`passwd.users[0].shell` cannot be combined with the deprecated `create`; move `create`'s keys onto the user".to_string()),
        ]
    );
}

#[test]
fn placeholder_ssh_keys_warn() {
    let body = r#"  "passwd": { "users": [ { "name": "core",
    "sshAuthorizedKeys": ["put your key here"] } ] }"#;
    only(
        &cfg("3.4.0", body),
        4,
        Warning,
        "`passwd.users[0].sshAuthorizedKeys[0]`: `put your key here` is not an OpenSSH public key (`TYPE BASE64 [comment]`, as in ~/.ssh/id_ed25519.pub); `put` is not a key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com, ssh-dss)",
    );
}

#[test]
fn spec_2_units_and_links_are_checked_as_flatcar_translates_them() {
    let body = r#"  "systemd": { "units": [ { "name": "a.service" }, { "name": "a.service" } ] },
  "storage": { "links": [ { "filesystem": "root", "path": "/opt/app", "target": "/var/app" } ],
    "files": [ { "filesystem": "root", "path": "/opt/app/x" } ] }"#;
    assert_eq!(
        problems(&cfg("2.3.0", body)),
        vec![
            (3, Error, "`systemd.units[1].name`: unit `a.service` is already used by `systemd.units[0]` (Flatcar's translation of 2.x configs to spec 3 refuses this)".to_string()),
            (5, Error, "`storage.files[0].path`: `/opt/app/x` is under `/opt/app`, which `storage.links[0]` makes a link; Ignition refuses to write through a link".to_string()),
        ]
    );
}

#[test]
fn spec_2_filesystems_need_a_mount_or_path_and_known_names() {
    let body = r#"  "storage": { "filesystems": [
    { "name": "a" },
    { "name": "b", "path": "/b", "mount": { "device": "/dev/sdb", "format": "ext4" } },
    { "name": "c", "mount": { "device": "/dev/sdc", "format": "ext4", "wipeFilesystem": true,
      "create": { "force": true } } } ],
    "files": [ { "filesystem": "nope", "path": "/x" } ] }"#;
    assert_eq!(
        problems(&cfg("2.1.0", body)),
        vec![
            (4, Error, "`storage.filesystems[0]` needs a `mount` or a `path`".to_string()),
            (5, Error, "`storage.filesystems[1]` sets both `mount` and `path`; keep one".to_string()),
            (7, Warning, "`storage.filesystems[2].mount.create` is deprecated since spec 2.1.0; use `wipeFilesystem` and `options`".to_string()),
            (7, Error, "`storage.filesystems[2].mount`: `create` and `wipeFilesystem` cannot be used together".to_string()),
            (8, Warning, "`storage.files[0].filesystem`: no filesystem `nope` in this config (fine if a merged config defines it)".to_string()),
        ]
    );
}

#[test]
fn http_headers_are_named_once() {
    let body = r#"  "storage": { "files": [ { "filesystem": "root", "path": "/x", "contents": { "source": "https://h/x",
    "httpHeaders": [ { "name": "A", "value": "1" },
                     { "name": "A", "value": "2" } ] } } ] }"#;
    only(
        &cfg("2.4.0", body),
        5,
        Error,
        "`storage.files[0].contents.httpHeaders[1]`: header `A` is already set on line 4",
    );
}

#[test]
fn more_luks_rules() {
    let body = r#"  "storage": { "luks": [ { "name": "a", "device": "/dev/sdb",
    "label": "a-label-that-is-much-longer-than-forty-seven-bytes",
    "clevis": { "custom": { "needsNetwork": true },
                "tang": [ { "url": "https://t", "thumbprint": "x", "advertisement": "{not json" } ] },
    "cex": { "enabled": true } } ] }"#;
    assert_eq!(
        problems(&cfg("3.5.0", body)),
        vec![
            (4, Error, "`storage.luks[0].label`: `a-label-that-is-much-longer-than-forty-seven-bytes` is longer than 47 bytes (the LUKS2 limit)".to_string()),
            (5, Error, "`storage.luks[0].clevis.custom` needs a `pin`".to_string()),
            (5, Error, "`storage.luks[0].clevis.custom` needs a `config`".to_string()),
            (6, Error, "`storage.luks[0].clevis.tang[0].advertisement` is not valid JSON".to_string()),
            (7, Error, "`storage.luks[0].cex` cannot be combined with `clevis`".to_string()),
        ]
    );
}

#[test]
fn partition_labels_and_guids() {
    let body = r#"  "storage": { "disks": [ { "device": "/dev/sda", "partitions": [
      { "number": 1, "label": "a-partition-label-longer-than-36-chars", "guid": "0fc63daf-8483-4772-8e79-3d69d8477de4" },
      { "number": 2, "label": "OK", "guid": "0fc63daf-8483-4772-8e79" } ] } ] }"#;
    assert_eq!(
        problems(&cfg("3.4.0", body)),
        vec![
            (4, Error, "`storage.disks[0].partitions[0].label`: `a-partition-label-longer-than-36-chars` is longer than 36 characters (GPT names hold 36)".to_string()),
            (5, Error, "`storage.disks[0].partitions[1].guid`: `0fc63daf-8483-4772-8e79` is not a GUID like `0FC63DAF-8483-4772-8E79-3D69D8477DE4`".to_string()),
        ]
    );
    let colon =
        r#"  "storage": { "disks": [ { "device": "/dev/sda", "partitions": [ { "number": 1, "label": "a:b" } ] } ] }"#;
    only(
        &cfg("2.3.0", colon),
        3,
        Warning,
        "`storage.disks[0].partitions[0].label`: `a:b` contains `:`, which cuts the label short (sgdisk)",
    );
}

#[test]
fn hashes_must_be_hex_and_need_a_source() {
    only(
        &hashed("3.4.0", &format!("sha256-{}", "z".repeat(64))),
        4,
        Error,
        "`storage.files[0].contents.verification.hash`: the `sha256` digest is not hexadecimal",
    );
    let body = format!(
        "  \"storage\": {{ \"files\": [ {{ \"path\": \"/etc/x\", \"contents\": {{\n    \"verification\": {{ \"hash\": \"sha512-{SHA512}\" }} }} }} ] }}"
    );
    only(&cfg("3.4.0", &body), 4, Error, "`storage.files[0].contents.verification.hash` needs a `source` to verify");
    only(
        &cfg("2.2.0", &body.replace("\"path\"", "\"filesystem\": \"root\", \"path\"").replace("sha512", "sha256")),
        4,
        Error,
        "`storage.files[0].contents.verification.hash`: spec 2.2.0 verifies only `sha512` hashes",
    );
}

#[test]
fn duplicate_sources_and_list_entries() {
    let text = r#"{
  "ignition": { "version": "3.4.0",
    "config": { "merge": [ { "source": "https://h/a.ign" }, { "source": "https://h/a.ign" } ] },
    "proxy": { "noProxy": ["h", "h"] } },
  "passwd": { "users": [ { "name": "core", "groups": ["docker", "docker"] } ] }
}"#;
    assert_eq!(
        problems(text),
        vec![
            (3, Error, "`ignition.config.merge[1].source`: source `https://h/a.ign` is already used by `ignition.config.merge[0]`".to_string()),
            (4, Error, "`ignition.proxy.noProxy[1]`: entry `h` is already used by `ignition.proxy.noProxy`".to_string()),
            (5, Error, "`passwd.users[0].groups[1]`: entry `docker` is already used by `passwd.users[0].groups`".to_string()),
        ]
    );
}

#[test]
fn inline_contents_must_match_their_hash() {
    let hello512 = "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043";
    let hello256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    let file = |src: &str, hash: &str| {
        cfg(
            "3.4.0",
            &format!(
                "  \"storage\": {{ \"files\": [ {{ \"path\": \"/etc/x\", \"contents\": {{ \"source\": \"{src}\",\n    \"verification\": {{ \"hash\": \"{hash}\" }} }} }} ] }}"
            ),
        )
    };
    clean(&file("data:,hello", &format!("sha512-{hello512}")));
    clean(&file("data:;base64,aGVsbG8=", &format!("sha256-{hello256}")));
    only(
        &file("data:,hello", &format!("sha512-{SHA512}")),
        4,
        Error,
        &format!("`storage.files[0].contents.verification.hash`: the `data:` contents hash to `sha512-{hello512}`, not the declared digest; Ignition would refuse them"),
    );
}

#[test]
fn unit_contents_parse_as_systemd_reads_them() {
    let unit = |contents: &str| {
        cfg(
            "3.4.0",
            &format!(
                "  \"systemd\": {{ \"units\": [ {{ \"name\": \"a.service\",\n    \"contents\": \"{contents}\" }} ] }}"
            ),
        )
    };
    clean(&unit("# a comment\\n[Unit]\\nDescription=A\\n\\n[Service]\\nExecStart=/bin/sh -c \\\\\\n  true\\n; done"));
    only(
        &unit("[Service]\\nExecStart /bin/true"),
        4,
        Error,
        "`systemd.units[0].contents`: line 2: `ExecStart /bin/true` is not `Key=Value` (or a `[Section]` or `#` comment)",
    );
    only(
        &unit("[Service] x\\nA=1"),
        4,
        Error,
        "`systemd.units[0].contents`: line 1: text `x` after section `[Service]`",
    );
    only(
        &unit("[Service\\nA=1"),
        4,
        Error,
        "`systemd.units[0].contents`: line 1: section `[Service` has no closing `]`",
    );
    let dropin = r#"  "systemd": { "units": [ { "name": "a.service", "dropins": [ { "name": "a.conf",
    "contents": "[Service]\nEnvironment" } ] } ] }"#;
    only(
        &cfg("3.4.0", dropin),
        4,
        Error,
        "`systemd.units[0].dropins[0].contents`: line 2: `Environment` is not `Key=Value` (or a `[Section]` or `#` comment)",
    );
}

#[test]
fn btrfs_labels_take_256_bytes_and_special_bits_warn_from_3_0() {
    let label = "b".repeat(257);
    let body = format!(
        r#"  "storage": {{ "filesystems": [ {{ "device": "/dev/sdb", "format": "btrfs", "label": "{label}" }} ] }}"#
    );
    only(
        &cfg("3.4.0", &body),
        3,
        Error,
        &format!("`storage.filesystems[0].label`: `{label}` has 257 bytes; btrfs labels take at most 256"),
    );
    clean(&cfg("3.4.0", &body.replace(&label, &"b".repeat(256))));
    let sticky = r#"  "storage": { "directories": [ { "path": "/srv/tmp", "mode": 1023 } ] }"#;
    only(
        &cfg("3.0.0", sticky),
        3,
        Warning,
        "`storage.directories[0].mode`: 1023 (01777) sets setuid/setgid/sticky bits, which spec 3.0.0 ignores; declare spec 3.6.0 to apply them",
    );
}
