//! `pxebake butane` and `.bu` files rules: Butane inputs covering every field of the Flatcar
//! specs, compared with Ignition JSON written by hand from the specs (up to data-URL encoding),
//! and every class of bad input with its line.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::{json, Value};

const KEY1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d user@lab";
const KEY2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFxl/4OPw0wAhRoWOAzSbEfQv9gwVjGHmtz3DiP/JQtQ web@lab";
const SHA256: &str = "sha256-2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
const SHA512: &str = "sha512-a4abd4448c49562d828115d13a1fccea927f52b4d5459297f8b43e42da89238bc13626e43dcb38ddb082488927ec904fb42057443983e88585179d50551afe62";

/// A temp dir with `config.bu` and `files/` holding (path, contents) pairs.
fn workdir(butane: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("config.bu"), butane).unwrap();
    for (path, text) in files {
        let p = dir.path().join("files").join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    fs::create_dir_all(dir.path().join("files")).unwrap();
    dir
}

fn butane(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["butane", "config.bu", "--files-dir", "files"];
    args.extend_from_slice(extra);
    run(dir, &args)
}

/// Translates and returns the JSON (asserting success).
fn ignition(dir: &Path) -> Value {
    let o = butane(dir, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Data URLs decoded (and gunzipped when `compression` is gzip) into one canonical form, so that
/// configs compare up to the encoding Butane picks.
fn normalize(v: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            if let Some(data) = m.get("source").and_then(Value::as_str).and_then(data_url_bytes) {
                let data = match m.get("compression").and_then(Value::as_str) {
                    Some("gzip") => gunzip(&data).unwrap_or(data),
                    _ => data,
                };
                m.insert("source".into(), json!(format!("data:,{}", String::from_utf8_lossy(&data))));
                if m.get("compression").is_some() {
                    m.insert("compression".into(), json!("(data URL)"));
                }
            }
            Value::Object(m.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

fn assert_same_ignition(actual: Value, expected: Value) {
    let (a, e) = (normalize(actual), normalize(expected));
    assert!(
        a == e,
        "actual:\n{}\nexpected:\n{}",
        serde_json::to_string_pretty(&a).unwrap(),
        serde_json::to_string_pretty(&e).unwrap()
    );
}

/// Every field of the flatcar 1.1.0 spec at least once.
const EVERY_FIELD_11: &str = r#"variant: flatcar
version: 1.1.0
ignition:
  config:
    merge:
      - source: https://example.com/extra.ign
        verification:
          hash: SHA256
        http_headers:
          - name: Authorization
            value: Bearer abc
      - inline: '{"ignition": {"version": "3.4.0"}}'
    replace:
      local: base.ign
  timeouts:
    http_response_headers: 20
    http_total: 600
  security:
    tls:
      certificate_authorities:
        - inline: |
            -----BEGIN CERTIFICATE-----
            MIIB
            -----END CERTIFICATE-----
        - source: http://10.0.0.1/ca.pem
          compression: gzip
  proxy:
    http_proxy: http://proxy.lab:3128
    https_proxy: http://proxy.lab:3129
    no_proxy: [localhost, .lab.example]
kernel_arguments:
  should_exist: [console=ttyS0]
  should_not_exist: [quiet]
passwd:
  users:
    - name: core
      password_hash: "$6$salt$hash"
      ssh_authorized_keys: [KEY1]
      ssh_authorized_keys_local: [keys/core.pub]
    - name: web
      uid: 1500
      gecos: Web server
      home_dir: /var/home/web
      no_create_home: false
      primary_group: web
      groups: [docker, wheel]
      no_user_group: true
      no_log_init: true
      shell: /bin/bash
      system: true
    - name: old
      should_exist: false
  groups:
    - name: web
      gid: 1500
      password_hash: "!"
      system: true
    - name: legacy
      should_exist: false
storage:
  disks:
    - device: /dev/vdb
      wipe_table: true
      partitions:
        - label: data
          number: 1
          size_mib: 1024
          start_mib: 0
          type_guid: 0FC63DAF-8483-4772-8E79-3D69D8477DE4
          guid: 6F3B9D84-2C5E-4A1F-9B7D-1E2F3A4B5C6D
          wipe_partition_entry: true
          resize: false
        - number: 9
          should_exist: false
        - label: swap
          number: 0
          size_mib: 512
  raid:
    - name: md0
      level: raid1
      devices: [/dev/vdc, /dev/vdd]
      spares: 0
      options: [--metadata=1.2]
  luks:
    - name: secret
      device: /dev/disk/by-partlabel/data
      key_file:
        inline: passphrase
      label: secret
      uuid: 3c0b1a52-7d55-4f3e-9a61-0e1d2c3b4a59
      options: [--type, luks2]
      discard: true
      open_options: [--perf-no_read_workqueue]
      wipe_volume: true
  filesystems:
    - device: /dev/mapper/secret
      format: ext4
      path: /var/lib/data
      wipe_filesystem: true
      label: DATA
      uuid: 8a2f7c1e-4b3d-4e5f-a6b7-c8d9e0f1a2b3
      options: [-E, lazy_itable_init=0]
      mount_options: [noatime]
      with_mount_unit: true
    - device: /dev/disk/by-partlabel/swap
      format: swap
      with_mount_unit: true
  files:
    - path: /etc/hostname
      overwrite: true
      mode: 0644
      contents:
        inline: n1
    - path: /opt/bin/tool
      mode: 0o755
      user: { id: 500 }
      group: { name: core }
      contents:
        source: https://example.com/tool.gz
        compression: gzip
        verification: { hash: SHA512 }
        http_headers: [{ name: X-Token, value: t }]
    - path: /etc/motd
      append:
        - inline: "hello\n"
        - local: motd.extra
    - path: /etc/app/config.toml
      mode: 0600
  directories:
    - path: /var/lib/app
      overwrite: false
      mode: 0750
      user: { name: web }
      group: { id: 1500 }
  links:
    - path: /etc/localtime
      target: /usr/share/zoneinfo/UTC
      overwrite: true
      hard: false
      user: { id: 0 }
      group: { name: root }
  trees:
    - local: tree
      path: /etc/app
systemd:
  units:
    - name: httpd.service
      enabled: true
      contents: |
        [Service]
        ExecStart=/usr/bin/docker run --rm -p 9000:80 httpd
        [Install]
        WantedBy=multi-user.target
    - name: app.service
      contents_local: units/app.service
      dropins:
        - name: 10-env.conf
          contents: "[Service]\nEnvironment=A=1\n"
        - name: 20-local.conf
          contents_local: units/20-local.conf
    - name: locksmithd.service
      mask: true
"#;

fn every_field_dir(butane: &str) -> tempfile::TempDir {
    let text = butane.replace("KEY1", KEY1).replace("SHA256", SHA256).replace("SHA512", SHA512);
    let dir = workdir(
        &text,
        &[
            ("base.ign", "{\"ignition\": {\"version\": \"3.4.0\"}}\n"),
            ("keys/core.pub", &format!("{KEY2}\n\n")),
            ("motd.extra", "from a file\n"),
            ("tree/config.toml", "key = 1\n"),
            ("tree/bin/run.sh", "#!/bin/sh\nexec true\n"),
            ("units/app.service", "[Service]\nExecStart=/opt/bin/tool\n"),
            ("units/20-local.conf", "[Service]\nRestart=always\n"),
        ],
    );
    use std::os::unix::fs::PermissionsExt as _;
    let run_sh = dir.path().join("files/tree/bin/run.sh");
    fs::set_permissions(&run_sh, fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("config.toml", dir.path().join("files/tree/current")).unwrap();
    dir
}

#[test]
fn every_field_of_flatcar_1_1_translates_as_the_spec_says() {
    let dir = every_field_dir(EVERY_FIELD_11);
    let mount = "# Generated by Butane\n[Unit]\nRequires=systemd-fsck@dev-mapper-secret.service\nAfter=systemd-fsck@dev-mapper-secret.service\n\n[Mount]\nWhere=/var/lib/data\nWhat=/dev/mapper/secret\nType=ext4\nOptions=noatime\n\n[Install]\nRequiredBy=local-fs.target";
    let swap = "# Generated by Butane\n[Swap]\nWhat=/dev/disk/by-partlabel/swap\n\n[Install]\nRequiredBy=swap.target";
    let expected = json!({
      "ignition": {
        "version": "3.4.0",
        "config": {
          "merge": [
            { "source": "https://example.com/extra.ign", "verification": { "hash": SHA256 },
              "httpHeaders": [ { "name": "Authorization", "value": "Bearer abc" } ] },
            { "compression": "", "source": "data:,%7B%22ignition%22%3A%20%7B%22version%22%3A%20%223.4.0%22%7D%7D" }
          ],
          "replace": { "compression": "", "source": "data:,%7B%22ignition%22%3A%20%7B%22version%22%3A%20%223.4.0%22%7D%7D%0A" }
        },
        "timeouts": { "httpResponseHeaders": 20, "httpTotal": 600 },
        "security": { "tls": { "certificateAuthorities": [
          { "compression": "", "source": "data:,-----BEGIN%20CERTIFICATE-----%0AMIIB%0A-----END%20CERTIFICATE-----%0A" },
          { "source": "http://10.0.0.1/ca.pem", "compression": "gzip" }
        ] } },
        "proxy": { "httpProxy": "http://proxy.lab:3128", "httpsProxy": "http://proxy.lab:3129",
                   "noProxy": ["localhost", ".lab.example"] }
      },
      "kernelArguments": { "shouldExist": ["console=ttyS0"], "shouldNotExist": ["quiet"] },
      "passwd": {
        "users": [
          { "name": "core", "passwordHash": "$6$salt$hash", "sshAuthorizedKeys": [KEY1, KEY2] },
          { "name": "web", "uid": 1500, "gecos": "Web server", "homeDir": "/var/home/web", "noCreateHome": false,
            "primaryGroup": "web", "groups": ["docker", "wheel"], "noUserGroup": true, "noLogInit": true,
            "shell": "/bin/bash", "system": true },
          { "name": "old", "shouldExist": false }
        ],
        "groups": [
          { "name": "web", "gid": 1500, "passwordHash": "!", "system": true },
          { "name": "legacy", "shouldExist": false }
        ]
      },
      "storage": {
        "disks": [ { "device": "/dev/vdb", "wipeTable": true, "partitions": [
          { "label": "data", "number": 1, "sizeMiB": 1024, "startMiB": 0,
            "typeGuid": "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "guid": "6F3B9D84-2C5E-4A1F-9B7D-1E2F3A4B5C6D",
            "wipePartitionEntry": true, "resize": false },
          { "number": 9, "shouldExist": false },
          { "label": "swap", "sizeMiB": 512 }
        ] } ],
        "raid": [ { "name": "md0", "level": "raid1", "devices": ["/dev/vdc", "/dev/vdd"], "spares": 0,
                    "options": ["--metadata=1.2"] } ],
        "luks": [ { "name": "secret", "device": "/dev/disk/by-partlabel/data",
                    "keyFile": { "compression": "", "source": "data:,passphrase" },
                    "label": "secret", "uuid": "3c0b1a52-7d55-4f3e-9a61-0e1d2c3b4a59",
                    "options": ["--type", "luks2"], "discard": true,
                    "openOptions": ["--perf-no_read_workqueue"], "wipeVolume": true } ],
        "filesystems": [
          { "device": "/dev/mapper/secret", "format": "ext4", "path": "/var/lib/data", "wipeFilesystem": true,
            "label": "DATA", "uuid": "8a2f7c1e-4b3d-4e5f-a6b7-c8d9e0f1a2b3", "options": ["-E", "lazy_itable_init=0"],
            "mountOptions": ["noatime"] },
          { "device": "/dev/disk/by-partlabel/swap", "format": "swap" }
        ],
        "files": [
          { "path": "/etc/hostname", "overwrite": true, "mode": 420,
            "contents": { "compression": "", "source": "data:,n1" } },
          { "path": "/opt/bin/tool", "mode": 493, "user": { "id": 500 }, "group": { "name": "core" },
            "contents": { "source": "https://example.com/tool.gz", "compression": "gzip",
                          "verification": { "hash": SHA512 },
                          "httpHeaders": [ { "name": "X-Token", "value": "t" } ] } },
          { "path": "/etc/motd", "append": [
            { "compression": "", "source": "data:,hello%0A" },
            { "compression": "", "source": "data:,from%20a%20file%0A" }
          ] },
          { "path": "/etc/app/config.toml", "mode": 384,
            "contents": { "compression": "", "source": "data:,key%20%3D%201%0A" } },
          { "path": "/etc/app/bin/run.sh", "mode": 493,
            "contents": { "compression": "", "source": "data:,%23!%2Fbin%2Fsh%0Aexec%20true%0A" } }
        ],
        "directories": [ { "path": "/var/lib/app", "overwrite": false, "mode": 488, "user": { "name": "web" },
                           "group": { "id": 1500 } } ],
        "links": [
          { "path": "/etc/localtime", "target": "/usr/share/zoneinfo/UTC", "overwrite": true, "hard": false,
            "user": { "id": 0 }, "group": { "name": "root" } },
          { "path": "/etc/app/current", "target": "config.toml" }
        ]
      },
      "systemd": { "units": [
        { "name": "var-lib-data.mount", "enabled": true, "contents": mount },
        { "name": "dev-disk-by\\x2dpartlabel-swap.swap", "enabled": true, "contents": swap },
        { "name": "httpd.service", "enabled": true,
          "contents": "[Service]\nExecStart=/usr/bin/docker run --rm -p 9000:80 httpd\n[Install]\nWantedBy=multi-user.target\n" },
        { "name": "app.service", "contents": "[Service]\nExecStart=/opt/bin/tool\n", "dropins": [
          { "name": "10-env.conf", "contents": "[Service]\nEnvironment=A=1\n" },
          { "name": "20-local.conf", "contents": "[Service]\nRestart=always\n" }
        ] },
        { "name": "locksmithd.service", "mask": true }
      ] }
    });
    assert_same_ignition(ignition(dir.path()), expected);
}

#[test]
fn output_is_valid_ignition_and_deterministic() {
    let dir = every_field_dir(EVERY_FIELD_11);
    let a = butane(dir.path(), &[]);
    let b = butane(dir.path(), &[]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let text = stdout(&a);
    assert!(text.starts_with("{\n  \"ignition\": {\n"), "{text}");
    fs::write(dir.path().join("out.ign"), &text).unwrap();
    let v = run(dir.path(), &["validate", "ignition", "out.ign"]);
    assert!(v.status.success(), "{}", stderr(&v));
}

#[test]
fn flatcar_1_0_writes_ignition_3_3_0() {
    let text = r#"variant: flatcar
version: 1.0.0
storage:
  luks:
    - name: secret
      device: /dev/vdb
      key_file: { source: "tftp://10.0.0.1/key" }
  files:
    - path: /etc/issue
      contents: { inline: "welcome\n" }
systemd:
  units:
    - name: a.service
      dropins: [{ name: x.conf, contents: "[Unit]\n" }]
passwd:
  users: [{ name: core, ssh_authorized_keys: [KEY1] }]
"#
    .replace("KEY1", KEY1);
    let dir = workdir(&text, &[]);
    assert_same_ignition(
        ignition(dir.path()),
        json!({
          "ignition": { "version": "3.3.0" },
          "passwd": { "users": [ { "name": "core", "sshAuthorizedKeys": [KEY1] } ] },
          "storage": {
            "luks": [ { "name": "secret", "device": "/dev/vdb", "keyFile": { "source": "tftp://10.0.0.1/key" } } ],
            "files": [ { "path": "/etc/issue", "contents": { "compression": "", "source": "data:,welcome%0A" } } ]
          },
          "systemd": { "units": [ { "name": "a.service", "dropins": [ { "name": "x.conf", "contents": "[Unit]\n" } ] } ] }
        }),
    );
}

#[test]
fn long_compressible_contents_are_gzipped_like_butane() {
    let body = "line of a config file\n".repeat(50);
    let text = "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/big\n      contents:\n        local: big\n";
    let dir = workdir(text, &[("big", &body)]);
    let v = ignition(dir.path());
    let contents = &v["storage"]["files"][0]["contents"];
    assert_eq!(contents["compression"], "gzip");
    let url = contents["source"].as_str().unwrap();
    assert!(url.starts_with("data:;base64,"), "{url}");
    assert_eq!(gunzip(&data_url_bytes(url).unwrap()).unwrap(), body.as_bytes());
}

#[test]
fn a_config_unit_overrides_the_generated_mount_unit() {
    let text = r#"variant: flatcar
version: 1.1.0
storage:
  filesystems:
    - device: /dev/vdb
      format: xfs
      path: /srv
      with_mount_unit: true
systemd:
  units:
    - name: srv.mount
      dropins: [{ name: opts.conf, contents: "[Mount]\nOptions=ro\n" }]
    - name: other.service
      mask: true
"#;
    let dir = workdir(text, &[]);
    let v = ignition(dir.path());
    assert_eq!(
        v["systemd"]["units"],
        json!([
          { "name": "srv.mount", "enabled": true,
            "contents": "# Generated by Butane\n[Unit]\nRequires=systemd-fsck@dev-vdb.service\nAfter=systemd-fsck@dev-vdb.service\n\n[Mount]\nWhere=/srv\nWhat=/dev/vdb\nType=xfs\n\n[Install]\nRequiredBy=local-fs.target",
            "dropins": [ { "name": "opts.conf", "contents": "[Mount]\nOptions=ro\n" } ] },
          { "name": "other.service", "mask": true }
        ])
    );
}

#[test]
fn the_flatcar_tutorial_config_translates() {
    // The shape of Flatcar's own docs example: a user with a key and a container unit.
    let text = r#"variant: flatcar
version: 1.0.0
passwd:
  users:
    - name: core
      ssh_authorized_keys:
        - KEY1
systemd:
  units:
    - name: nginx.service
      enabled: true
      contents: |
        [Unit]
        Description=NGINX example
        After=docker.service
        Requires=docker.service
        [Service]
        TimeoutStartSec=0
        ExecStartPre=-/usr/bin/docker rm --force nginx1
        ExecStart=/usr/bin/docker run --name nginx1 --pull always --log-driver=journald --net host docker.io/nginx:1
        ExecStop=/usr/bin/docker stop nginx1
        Restart=always
        RestartSec=5s
        [Install]
        WantedBy=multi-user.target
"#
    .replace("KEY1", KEY1);
    let dir = workdir(&text, &[]);
    let v = ignition(dir.path());
    assert_eq!(v["ignition"]["version"], "3.3.0");
    assert_eq!(v["passwd"], json!({ "users": [ { "name": "core", "sshAuthorizedKeys": [KEY1] } ] }));
    assert_eq!(v["systemd"]["units"][0]["name"], "nginx.service");
    assert_eq!(v["systemd"]["units"][0]["enabled"], true);
    assert!(v["systemd"]["units"][0]["contents"].as_str().unwrap().ends_with("WantedBy=multi-user.target\n"));
}

// ---- bad input ----

fn problems(dir: &Path, extra: &[&str]) -> String {
    let o = butane(dir, extra);
    assert_eq!(o.status.code(), Some(2), "expected invalid input:\n{}", stderr(&o));
    assert!(o.stdout.is_empty(), "nothing on stdout");
    stderr(&o)
}

fn assert_has(err: &str, expected: &str) {
    assert!(err.contains(expected), "expected\n  {expected}\nin\n{err}");
}

#[test]
fn every_problem_is_reported_at_once_with_its_line() {
    let text = r#"variant: flatcar
version: 1.1.0
storage:
  files:
    - path: /etc/a
      contens: { inline: x }
    - path: /etc/a
      mode: big
      contents:
        local: missing.txt
    - path: /etc/b
      contents:
        local: ../outside
    - path: /etc/c
      contents:
        local: /etc/passwd
    - path: /etc/d
      contents:
        local: escape
    - path: /etc/e
      overwrite: "true"
      contents: { inline: x, source: "http://x/y" }
  directories:
    - path: /etc/a
systemd:
  units:
    - name: a.service
      enabled: maybe
"#;
    let dir = workdir(text, &[]);
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("files/escape")).unwrap();
    let err = problems(dir.path(), &[]);
    assert_has(&err, "config.bu:6: unknown key `storage.files[0].contens` (did you mean `contents`?)");
    assert_has(
        &err,
        "config.bu:7: `storage.files[1]`: path `/etc/a` is already declared by `storage.files[0]` at line 5",
    );
    assert_has(&err, "config.bu:8: `storage.files[1].mode` must be an integer, not `big`");
    assert_has(&err, "config.bu:10: `storage.files[1].contents.local`: local file `missing.txt` not found in the files directory `files`");
    assert_has(
        &err,
        "config.bu:13: `storage.files[2].contents.local`: local path `../outside` leaves the files directory `files`",
    );
    assert_has(&err, "config.bu:16: `storage.files[3].contents.local`: local path `/etc/passwd` must be relative to the files directory");
    assert_has(
        &err,
        "config.bu:19: `storage.files[4].contents.local`: local path `escape` resolves outside the files directory",
    );
    assert_has(&err, "config.bu:21: `storage.files[5].overwrite` must be true or false");
    assert_has(
        &err,
        "config.bu:22: `storage.files[5].contents`: only one of `inline`, `local` and `source` can be set",
    );
    assert_has(
        &err,
        "config.bu:24: `storage.directories[0]`: path `/etc/a` is already declared by `storage.files[0]` at line 5",
    );
    assert_has(&err, "config.bu:28: `systemd.units[0].enabled` must be true or false");
    assert_has(&err, "11 problems found");
}

#[test]
fn unknown_variant_and_version_name_the_known_ones() {
    let dir = workdir("variant: fcos\nversion: 1.5.0\n", &[]);
    let err = problems(dir.path(), &[]);
    assert_has(&err, "config.bu:1: variant `fcos` is not supported; pxebake translates `flatcar`");
    assert_has(&err, "config.bu:2: version `1.5.0` of the flatcar variant is not supported; known versions: 1.0.0 (Ignition 3.3.0), 1.1.0 (Ignition 3.4.0)");
    let dir = workdir("variant: flatcar\nversion: 1.2.0-experimental\n", &[]);
    assert_has(
        &problems(dir.path(), &[]),
        "config.bu:2: version `1.2.0-experimental` of the flatcar variant is not supported",
    );
}

#[test]
fn local_files_need_a_files_dir() {
    let dir = workdir("variant: flatcar\nversion: 1.1.0\nstorage:\n  trees:\n    - local: t\n", &[]);
    let o = run(dir.path(), &["butane", "config.bu"]);
    assert_eq!(o.status.code(), Some(2));
    assert_has(
        &stderr(&o),
        "config.bu:5: `storage.trees[0]`: local paths are relative to a files directory: pass `--files-dir DIR`",
    );
}

#[test]
fn trees_cannot_replace_declared_contents_or_leave_the_files_dir() {
    let text = r#"variant: flatcar
version: 1.1.0
storage:
  files:
    - path: /etc/app/a.conf
      contents: { inline: mine }
  trees:
    - local: app
      path: /etc/app
    - local: ../app
"#;
    let dir = workdir(text, &[("app/a.conf", "tree\n")]);
    let err = problems(dir.path(), &[]);
    assert_has(&err, "config.bu:8: `storage.trees[0]`: `/etc/app/a.conf` from the tree is also declared in the config");
    assert_has(&err, "config.bu:10: `storage.trees[1]`: local path `../app` leaves the files directory");
}

#[test]
fn warnings_go_to_stderr_and_fail_with_strict() {
    let text = "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/x\n      mode: 644\n";
    let dir = workdir(text, &[]);
    let o = butane(dir.path(), &[]);
    assert!(o.status.success());
    assert_has(&stderr(&o), "warning: config.bu:6: `storage.files[0].mode`: mode `644` is read as decimal 644");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["storage"]["files"][0]["mode"], 644, "translated as written, as Butane does");
    let err = problems(dir.path(), &["--strict"]);
    assert_has(&err, "config.bu:6: `storage.files[0].mode`: mode `644` is read as decimal 644");
}

#[test]
fn errors_as_json_for_scripts() {
    let dir = workdir("variant: flatcar\nversion: 1.1.0\nstorage:\n  filez: []\n", &[]);
    let o = run(dir.path(), &["--output", "json", "butane", "config.bu"]);
    assert_eq!(o.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"][0]["line"], 4);
    assert_eq!(v["problems"][0]["file"], "config.bu");
}

// ---- `.bu` files rules in a build ----

const SITE: &str = r#"site:
  name: lab
  domain: lab.example
  frontend: 10.0.0.1
  http: http://10.0.0.1/boot
networks:
  prov: { address: 10.0.0.0/24, gateway: 10.0.0.1, zone: lab.example, mtu: 1500, pxe: true }
bootactions:
  disk: { localboot: 0 }
appliances:
  node: { runaction: disk }
attributes:
  ssh_authorized_keys: ["KEY1"]
files:
  - { path: "ignition/{{ host.name }}.ign", template: flatcar.bu, hosts: node }
"#;

const HOSTS: &str = r#"hosts:
  - name: n1
    appliance: node
    boot: os
    interfaces: [{ network: prov, mac: "52:54:00:00:01:01", ip: 10.0.0.11 }]
  - name: n2
    appliance: node
    boot: os
    interfaces: [{ network: prov, mac: "52:54:00:00:01:02", ip: 10.0.0.12 }]
"#;

const TEMPLATE: &str = r#"variant: flatcar
version: 1.1.0
passwd:
  users:
    - name: core
      ssh_authorized_keys:
{%- for key in host.attributes.ssh_authorized_keys %}
        - {{ key | json }}
{%- endfor %}
storage:
  files:
    - path: /etc/hostname
      mode: 0644
      contents:
        inline: {{ host.name }}
    - path: /etc/motd
      contents:
        local: motd
"#;

fn bu_site(template: &str) -> tempfile::TempDir {
    let dir = site(&[("site.yaml", &SITE.replace("KEY1", KEY1)), ("hosts.yaml", HOSTS)]);
    fs::create_dir_all(dir.path().join("templates")).unwrap();
    fs::write(dir.path().join("templates/flatcar.bu"), template).unwrap();
    fs::create_dir_all(dir.path().join("inventory/files")).unwrap();
    fs::write(dir.path().join("inventory/files/motd"), "welcome to the lab\n").unwrap();
    dir
}

#[test]
fn a_bu_files_rule_writes_valid_ignition_per_host() {
    let dir = bu_site(TEMPLATE);
    let o = run(dir.path(), &["build", "--no-images", "--no-bootloaders"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (host, _) in [("n1", 11), ("n2", 12)] {
        let path = dir.path().join(format!("out/http/ignition/{host}.ign"));
        let v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_same_ignition(
            v,
            json!({
              "ignition": { "version": "3.4.0" },
              "passwd": { "users": [ { "name": "core", "sshAuthorizedKeys": [KEY1] } ] },
              "storage": { "files": [
                { "path": "/etc/hostname", "mode": 420, "contents": { "compression": "", "source": format!("data:,{host}") } },
                { "path": "/etc/motd", "contents": { "compression": "", "source": "data:,welcome%20to%20the%20lab%0A" } }
              ] }
            }),
        );
        let v = run(dir.path(), &["validate", "ignition", path.to_str().unwrap()]);
        assert!(v.status.success(), "{}", stderr(&v));
    }
}

#[test]
fn a_bad_bu_template_names_template_line_and_host_and_writes_nothing() {
    let bad = TEMPLATE
        .replace("        local: motd\n", "        local: ../site.yaml\n")
        .replace("      mode: 0644\n", "      mood: 0644\n");
    let dir = bu_site(&bad);
    let o = run(dir.path(), &["build", "--no-images", "--no-bootloaders"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    for host in ["n1", "n2"] {
        assert_has(
            &err,
            &format!("templates/flatcar.bu:13: Butane rendered from `flatcar.bu` for host `{host}` (line 11 of the rendered text): unknown key `storage.files[0].mood` (did you mean `mode`?)"),
        );
        assert_has(&err, &format!("templates/flatcar.bu:18: Butane rendered from `flatcar.bu` for host `{host}` (line 16 of the rendered text): `storage.files[1].contents.local`: local path `../site.yaml` leaves the files directory"));
    }
    assert!(!dir.path().join("out").exists());
}

#[test]
fn standard_input_is_read_for_a_dash() {
    use std::io::Write as _;
    let mut child = bin()
        .args(["butane", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"variant: flatcar\nversion: 1.0.0\nstorage:\n  filez: []\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_has(&stderr(&o), "<stdin>:4: unknown key `storage.filez` (did you mean `files`?)");
}
