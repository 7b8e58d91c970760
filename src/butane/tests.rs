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
    assert_eq!(e, vec!["7: unknown key `storage.luks[0].discard`".to_string()]);
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
