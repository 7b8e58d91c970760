//! `pxebake validate ignition` as a user runs it: per-spec keys, warnings, exit codes.

mod common;

use std::fs;

use common::*;

#[test]
fn a_3_1_config_using_kernel_arguments_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("old.ign"),
        "{\n  \"ignition\": { \"version\": \"3.1.0\" },\n  \"kernelArguments\": { \"shouldExist\": [\"console=ttyS0\"] }\n}\n",
    )
    .unwrap();
    let o = run(dir.path(), &["validate", "ignition", "old.ign"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("old.ign:3: `kernelArguments` needs spec 3.3.0 or later; this config declares 3.1.0"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_2_3_config_with_partition_size_passes() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("disk.ign"),
        r#"{
  "ignition": { "version": "2.3.0" },
  "storage": {
    "disks": [ { "device": "/dev/sda", "wipeTable": true,
                 "partitions": [ { "number": 1, "label": "DATA", "start": 2048, "size": 2097152 } ] } ],
    "filesystems": [ { "name": "data", "mount": { "device": "/dev/sda1", "format": "ext4", "label": "DATA" } } ]
  }
}
"#,
    )
    .unwrap();
    let o = run(dir.path(), &["validate", "ignition", "disk.ign"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: disk.ign:5: `storage.disks[0].partitions[0].size` is deprecated"),
        "{}",
        stderr(&o)
    );
    let o = run(dir.path(), &["validate", "ignition", "--deny-warnings", "disk.ign"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn json_output_carries_severity() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("m.ign"),
        "{\n  \"ignition\": { \"version\": \"3.4.0\" },\n  \"storage\": { \"directories\": [ { \"path\": \"/tmp2\", \"mode\": 1023 } ] }\n}\n",
    )
    .unwrap();
    let o = run(dir.path(), &["validate", "ignition", "--output", "json", "m.ign"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["problems"][0]["severity"], "warning");
    assert_eq!(v["problems"][0]["line"], 3);
}

#[test]
fn help_lists_the_known_specs() {
    let o = bin().args(["validate", "ignition", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    for spec in ["2.0.0", "2.4.0", "3.0.0", "3.5.0", "3.6.0"] {
        assert!(help.contains(spec), "{spec} missing from:\n{help}");
    }
}
