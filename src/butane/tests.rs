use super::*;

fn ok(text: &str) -> serde_json::Value {
    match translate(text, &Options { files_dir: None, strict: false }) {
        Ok(t) => serde_json::from_str(&t.json).unwrap(),
        Err(p) => panic!("{:?}", p.iter().map(|p| format!("{}: {}", p.line, p.message)).collect::<Vec<_>>()),
    }
}

fn errors(text: &str, opts: &Options) -> Vec<String> {
    match translate(text, opts) {
        Ok(t) => panic!("translated: {}", t.json),
        Err(p) => p.iter().map(|p| format!("{}: {}", p.line, p.message)).collect(),
    }
}

#[test]
fn minimal_configs_name_their_ignition_version() {
    assert_eq!(ok("variant: flatcar\nversion: 1.0.0\n"), serde_json::json!({"ignition": {"version": "3.3.0"}}));
    assert_eq!(ok("variant: flatcar\nversion: 1.1.0\n"), serde_json::json!({"ignition": {"version": "3.4.0"}}));
}

#[test]
fn unknown_variants_and_versions_name_the_known_ones() {
    let none = Options { files_dir: None, strict: false };
    let e = errors("variant: fcos\nversion: 1.9.0\n", &none);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("1: variant `fcos` is not supported; pxebake translates `flatcar`"), "{e:?}");
    assert!(e[1].starts_with("2: version `1.9.0` of the flatcar variant is not supported"), "{e:?}");
    assert!(e[1].contains("1.0.0 (Ignition 3.3.0), 1.1.0 (Ignition 3.4.0)"), "{e:?}");
    assert!(errors("storage: {}\n", &none).iter().any(|m| m.contains("missing `variant`")));
}

#[test]
fn fields_of_a_newer_version_are_unknown_in_an_older_one() {
    let none = Options { files_dir: None, strict: false };
    let e = errors(
        "variant: flatcar\nversion: 1.0.0\nstorage:\n  luks:\n    - name: data\n      device: /dev/sdb\n      discard: true\n",
        &none,
    );
    assert_eq!(
        e,
        vec!["7: unknown key `storage.luks[0].discard`: `discard` is new in flatcar 1.1.0; write `version: 1.1.0`"
            .to_string()]
    );
    let e = errors(
        "variant: flatcar\nversion: 1.0.0\nsystemd:\n  units:\n    - name: a.service\n      contents_local: a\npasswd:\n  users:\n    - name: core\n      ssh_authorized_keys_local: [k]\n      uid: [1]\n",
        &none,
    );
    assert_eq!(
        e,
        vec![
            "6: unknown key `systemd.units[0].contents_local`: `contents_local` is new in flatcar 1.1.0; write `version: 1.1.0`".to_string(),
            "10: unknown key `passwd.users[0].ssh_authorized_keys_local`: `ssh_authorized_keys_local` is new in flatcar 1.1.0; write `version: 1.1.0`".to_string(),
            "11: `passwd.users[0].uid` must be an integer, not a list".to_string(),
        ]
    );
}

#[test]
fn decimal_modes_warn_and_fail_with_strict() {
    let text = "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /a\n      mode: 644\n";
    let t = translate(text, &Options { files_dir: None, strict: false }).ok().unwrap();
    assert_eq!(t.warnings.len(), 1);
    assert_eq!(t.warnings[0].line, 6);
    assert!(t.warnings[0].message.contains("leading zero"), "{}", t.warnings[0].message);
    let e = errors(text, &Options { files_dir: None, strict: true });
    assert!(e[0].starts_with("6: ") && e[0].ends_with("(an error with --strict)"), "{e:?}");
}

#[test]
fn null_sections_are_absent_sections() {
    assert_eq!(
        ok("variant: flatcar\nversion: 1.1.0\nstorage:\npasswd:\n  users:\n"),
        serde_json::json!({"ignition": {"version": "3.4.0"}})
    );
}

#[test]
fn yaml_1_1_booleans_read_as_butane_reads_them() {
    let v = ok("variant: flatcar\nversion: 1.1.0\nsystemd:\n  units:\n    - name: a.service\n      enabled: yes\n      mask: Off\n");
    assert_eq!(v["systemd"]["units"][0], serde_json::json!({"name": "a.service", "enabled": true, "mask": false}));
    let none = Options { files_dir: None, strict: false };
    let e = errors(
        "variant: flatcar\nversion: 1.1.0\nsystemd:\n  units:\n    - name: a.service\n      enabled: \"true\"\n",
        &none,
    );
    assert!(e[0].starts_with("6: `systemd.units[0].enabled` must be true or false"), "{e:?}");
}

#[test]
fn fcos_only_sections_say_so() {
    let none = Options { files_dir: None, strict: false };
    let e = errors("variant: flatcar\nversion: 1.1.0\nboot_device:\n  mirror: {}\n", &none);
    assert_eq!(
        e,
        vec!["3: unknown key `boot_device`; `boot_device` is in Butane's fcos variant, not in flatcar".to_string()]
    );
}

#[test]
fn ignitions_storage_rules_are_checked_on_butane_lines() {
    let none = Options { files_dir: None, strict: false };
    let text = "variant: flatcar
version: 1.1.0
ignition:
  proxy:
    http_proxy: proxy.lab:3128
storage:
  links:
    - path: /etc/conf
      target: /opt/conf
  files:
    - path: /etc/conf/a
  disks:
    - device: /dev/vda
      partitions:
        - number: 2
          size_mib: -5
        - number: 2
        - number: 3
          should_exist: false
          label: x
  filesystems:
    - device: /dev/vda2
      format: ext4
      with_mount_unit: true
kernel_arguments:
  should_exist: [quiet]
  should_not_exist: [quiet]
";
    let e = errors(text, &none);
    let expected = [
        "5: `ignition.proxy.http_proxy`: `proxy.lab:3128` is not an http:// or https:// URL",
        "11: `storage.files[0]`: path `/etc/conf/a` runs through the link `/etc/conf` (line 8)",
        "16: `storage.disks[0].partitions[0].size_mib` cannot be negative",
        "17: `storage.disks[0].partitions[1]`: partition `number 2` is already declared at line 15",
        "18: `storage.disks[0].partitions[2]`: `should_exist: false` cannot go with label",
        "24: `storage.filesystems[0]`: `with_mount_unit` needs `path` unless `format` is swap",
        "27: `kernel_arguments.should_not_exist[0]`: `quiet` is also in `should_exist`",
    ];
    for x in expected {
        assert!(e.iter().any(|m| m.starts_with(x)), "missing {x:?} in {e:#?}");
    }
    assert_eq!(e.len(), expected.len(), "{e:#?}");
}

#[test]
fn configs_merged_inline_must_be_ignition() {
    let none = Options { files_dir: None, strict: false };
    let e = errors(
        "variant: flatcar\nversion: 1.1.0\nignition:\n  config:\n    merge:\n      - inline: '{\"storage\": {}}'\n",
        &none,
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "6: `ignition.config.merge[0]`: the Ignition config it embeds (its line 1): missing `ignition.version`"
        ),
        "{e:?}"
    );
}
