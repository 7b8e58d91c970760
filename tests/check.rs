//! Catching what would not boot before it ships: cloud-config and Ignition validation, the
//! tree lint (dangling URLs and links), `check --output json`, `validate`, and `diff`.

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn build(dir: &Path) -> std::process::Output {
    run(dir, &["build", "--no-images", "--no-bootloaders"])
}

/// The tutorial's cloud-config, typo in the header included.
const TUTORIAL_CLOUD_CONFIG: &str = "#cloud-confie\ncoreos:\n  units:\n    - name: etcd2.service\n      command: start\n    - name: fleet.service\n      command: start\nssh_authorized_keys:\n  - put your /root/.ssh/id_rsa.pub here\n";

#[test]
fn the_tutorials_cloud_config_is_rejected_at_line_1_and_out_is_kept() {
    let dir = example_site();
    assert!(build(dir.path()).status.success());
    let before = snapshot(&dir.path().join("out"));
    fs::write(dir.path().join("templates/cloud-config.yaml"), TUTORIAL_CLOUD_CONFIG).unwrap();
    let o = build(dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("error: http/coreos/backend-0-0.yaml:1: the first line must be exactly `#cloud-config`, not `#cloud-confie`; coreos-cloudinit would not read this file as a cloud-config (rendered from template `cloud-config.yaml` for host `backend-0-0`"),
        "{err}"
    );
    assert_eq!(snapshot(&dir.path().join("out")), before);

    // With the header fixed, the placeholder key is the next problem, on its own line.
    fs::write(dir.path().join("templates/cloud-config.yaml"), TUTORIAL_CLOUD_CONFIG.replace("confie", "config"))
        .unwrap();
    let err = stderr(&build(dir.path()));
    assert!(err.contains("http/coreos/backend-0-4.yaml:9: `ssh_authorized_keys[0]`: `put your /root/.ssh/id_rsa.pub here` is not an OpenSSH public key"), "{err}");
}

#[test]
fn a_kernel_arg_url_that_nothing_serves_fails_the_build() {
    let dir = example_site();
    assert!(build(dir.path()).status.success());
    let before = snapshot(&dir.path().join("out"));
    let site = fs::read_to_string(dir.path().join("inventory/site.yaml")).unwrap();
    fs::write(
        dir.path().join("inventory/site.yaml"),
        site.replacen(
            "args: \"console=tty0 console=ttyS0,115200n8\"",
            "args: \"cloud-config-url={{ site.http }}/coreos/{{ host.name }}.yml console=tty0\"",
            1,
        ),
    )
    .unwrap();
    let o = build(dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("error: tftp/pxelinux.cfg/0A02FFFE:8: URL `http://10.2.1.1/install/coreos/backend-0-0.yml` is served by no file in the tree: `http/coreos/backend-0-0.yml` does not exist"),
        "{err}"
    );
    assert_eq!(snapshot(&dir.path().join("out")), before);
}

#[test]
fn check_reports_json_for_ci() {
    let dir = example_site();
    fs::write(dir.path().join("templates/cloud-config.yaml"), TUTORIAL_CLOUD_CONFIG).unwrap();
    let o = run(dir.path(), &["check", "--output", "json"]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json on stdout");
    assert_eq!(v["ok"], false);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 5, "one per backend host");
    assert_eq!(problems[0]["file"], "http/coreos/backend-0-0.yaml");
    assert_eq!(problems[0]["line"], 1);
    assert!(!dir.path().join("out").exists());

    let dir = example_site();
    let o = run(dir.path(), &["check", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["ok"], true);
}

#[test]
fn validate_hand_written_files() {
    let dir = tempfile::tempdir().unwrap();
    let cc = dir.path().join("cc.yaml");
    fs::write(&cc, TUTORIAL_CLOUD_CONFIG).unwrap();
    let ign = dir.path().join("x.ign");
    fs::write(&ign, "{\n  \"ignition\": { \"version\": \"3.4.0\" },\n  \"systemd\": { \"units\": [ { \"name\": \"docker\" } ] }\n}\n").unwrap();
    let o = run(dir.path(), &["validate", "cloud-config", "cc.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cc.yaml:1: the first line must be exactly `#cloud-config`"), "{}", stderr(&o));
    let o = run(dir.path(), &["validate", "ignition", "x.ign"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("x.ign:3: `systemd.units[0].name`: unit name `docker` needs a unit type suffix"),
        "{}",
        stderr(&o)
    );
    fs::write(&ign, "{\"ignition\": {\"version\": \"3.4.0\"}}").unwrap();
    assert!(run(dir.path(), &["validate", "ignition", "x.ign"]).status.success());
}

#[test]
fn diff_shows_added_removed_changed_and_retargeted() {
    let dir = example_site();
    assert!(build(dir.path()).status.success());
    let inv = dir.path().join("inventory");
    let site = fs::read_to_string(inv.join("site.yaml")).unwrap();
    // changed: every backend's cloud-config; retargeted: the image version moves the links.
    let site = site.replace("version: \"4757.2.1\"", "version: \"9999.0.0\"");
    fs::write(inv.join("site.yaml"), site).unwrap();
    let hosts = fs::read_to_string(inv.join("hosts.yaml")).unwrap();
    // removed: backend-0-4; added: backend-0-5.
    let hosts = hosts.replace("backend-0-4", "backend-0-5").replace("52:54:00:00:00:04", "52:54:00:00:00:05");
    fs::write(inv.join("hosts.yaml"), hosts).unwrap();
    fs::write(
        dir.path().join("templates/cloud-config.yaml"),
        fs::read_to_string(dir.path().join("templates/cloud-config.yaml"))
            .unwrap()
            .replace("RestartSec=10", "RestartSec=20"),
    )
    .unwrap();
    let o = run(dir.path(), &["diff", "--no-bootloaders"]);
    assert!(o.status.success(), "diff without --exit-code exits 0");
    let text = stdout(&o);
    for expected in [
        "added:   http/coreos/backend-0-5.yaml\n",
        "added:   tftp/pxelinux.cfg/01-52-54-00-00-00-05\n",
        "removed: http/coreos/backend-0-4.yaml\n",
        "removed: tftp/pxelinux.cfg/01-52-54-00-00-00-04\n",
        "changed: http/coreos/backend-0-0.yaml\n",
        "-        RestartSec=10\n+        RestartSec=20\n",
        "changed: tftp/vmlinuz.coreos -> ../images/flatcar-stable/9999.0.0/flatcar_production_pxe.vmlinuz (was -> ../images/flatcar-stable/4757.2.1/flatcar_production_pxe.vmlinuz)\n",
    ] {
        assert!(text.contains(expected), "expected {expected:?} in\n{text}");
    }
    // Nothing was written by diff.
    assert!(dir.path().join("out/http/coreos/backend-0-4.yaml").exists());
    let o = run(dir.path(), &["diff", "--no-bootloaders", "--exit-code", "--output", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["path"] == "http/coreos/backend-0-5.yaml" && c["change"] == "added"));
}
