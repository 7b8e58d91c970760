//! Hostile input (issue 17): values cannot inject boot-loader syntax, no input crashes or blows
//! up, nothing is silently skipped, and each wrong result found by attacking pxebake stays fixed.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

fn build(dir: &Path) -> std::process::Output {
    run(dir, &["build", "--no-images", "--no-bootloaders"])
}

/// The example site with a global attribute `extra` spliced at the end of both kernel bootactions.
fn site_with_extra(extra: &str) -> tempfile::TempDir {
    let dir = example_site();
    let path = dir.path().join("inventory/site.yaml");
    let site = fs::read_to_string(&path).unwrap();
    let site = site
        .replace("console=ttyS0,115200\"", "console=ttyS0,115200 {{ attributes.extra }}\"")
        .replace("attributes:   ", &format!("attributes:\n  extra: {}\n  ", serde_json::to_string(extra).unwrap()));
    fs::write(&path, site).unwrap();
    dir
}

#[test]
fn bootloader_metacharacters_in_an_attribute_spliced_into_args_are_refused() {
    // (value, loader named in the message, character named)
    let cases = [
        ("console=tty0; }; menuentry \"x\" { linux /k init=/bin/sh", "GRUB", "`;`"),
        ("}", "GRUB", "`}`"),
        ("a=\"b", "GRUB", "`\"`"),
        ("a='b", "GRUB", "`'`"),
        ("x || y", "GRUB", "`|`"),
        ("x || y", "iPXE", "`||`"),
        ("x && y", "iPXE", "`&&`"),
        ("; chain http://10.9.9.9/evil.ipxe", "iPXE", "`;`"),
        ("mac=${net0/mac}", "GRUB", "`$`"),
        ("mac=${net0/mac}", "iPXE", "`${`"),
        ("#", "GRUB", "`#`"),
        ("#", "iPXE", "`#`"),
        ("a\\b", "GRUB", "`\\`"),
        ("a>b", "GRUB", "`>`"),
    ];
    for (value, loader, ch) in cases {
        let dir = site_with_extra(value);
        let o = build(dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{value}: {err}");
        // The bootaction's own line, the host, the loader and the character.
        let line = err
            .lines()
            .find(|l| {
                l.starts_with("error: inventory/site.yaml:25: bootaction `coreos` args rendered for host `backend-0-0`")
            })
            .unwrap_or_else(|| panic!("{value}: {err}"));
        assert!(line.contains(&format!("{loader}: ")) && line.contains(ch), "{value}: {line}");
        assert!(!dir.path().join("out").exists(), "nothing is written");
    }
}

#[test]
fn harmless_kernel_arguments_still_build() {
    let dir = site_with_extra("ip=dhcp rd.neednet=1 url=http://10.2.1.1/a?b=c,d:e/f+g%20 x=#y");
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A user's own template that puts a value straight on the kernel line, past the args check.
#[test]
fn an_overridden_template_cannot_inject_either() {
    let dir = example_site();
    let grub = fs::read_to_string(dir.path().join("templates/grub-host.cfg")).unwrap();
    fs::write(
        dir.path().join("templates/grub-host.cfg"),
        grub.replace("{{ bootaction.args }}", "{{ bootaction.args }} {{ host.attributes.evil | default(value=\"\") }}"),
    )
    .unwrap();
    let ipxe = fs::read_to_string(dir.path().join("templates/ipxe-host.ipxe")).unwrap();
    fs::write(
        dir.path().join("templates/ipxe-host.ipxe"),
        ipxe.replace("{{ bootaction.args }}", "{{ bootaction.args }} {{ host.attributes.evil | default(value=\"\") }}"),
    )
    .unwrap();
    let hosts = fs::read_to_string(dir.path().join("inventory/hosts.yaml")).unwrap();
    let hosts = hosts.replacen(
        "  - name: backend-0-0\n",
        "  - name: backend-0-0\n    attributes: { evil: \"} ; chain http://10.9.9.9/x\" }\n",
        1,
    );
    fs::write(dir.path().join("inventory/hosts.yaml"), hosts).unwrap();
    let o = build(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: tftp/grub/grub.cfg-01-52-54-00-00-00-00:5: GRUB `linux` line: `}` carries `}`, which is GRUB script syntax"),
        "{err}"
    );
    assert!(
        err.contains(
            "error: http/ipxe/52-54-00-00-00-00.ipxe:3: iPXE `kernel` line: token `;` ends the command in iPXE"
        ),
        "{err}"
    );
    assert!(!err.contains("backend-0-1"), "only the hostile host is concerned: {err}");
}

/// Every GRUB config of the example site parses with GRUB's own script checker.
#[test]
fn every_generated_grub_config_passes_grub_script_check() {
    let checker = Command::new("grub-script-check").arg("--help").output();
    assert!(
        checker.is_ok(),
        "grub-script-check is missing: install Debian package grub-common (listed in .ci/run) to run this test"
    );
    let dir = example_site();
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let grub_dir = dir.path().join("out/tftp/grub");
    let mut checked = 0;
    for e in fs::read_dir(&grub_dir).unwrap() {
        let path = e.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("grub.cfg") {
            continue;
        }
        let o = Command::new("grub-script-check").arg(&path).output().unwrap();
        assert!(o.status.success(), "{}: {}{}", path.display(), stderr(&o), stdout(&o));
        checked += 1;
    }
    assert!(checked >= 9, "site config and two names per PXE host: {checked}");
}

/// iPXE's own rules (src/core/exec.c): white-space tokens; `||`, `&&`, `;` end a command; a token
/// starting with `#` is a comment. Written here independently of pxebake's checker.
fn ipxe_commands(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("#!ipxe"), "{text}");
    let mut commands = Vec::new();
    for line in lines {
        let mut current: Vec<String> = Vec::new();
        for token in line.split_whitespace() {
            if token.starts_with('#') {
                break;
            }
            if matches!(token, "||" | "&&" | ";") {
                commands.push(std::mem::take(&mut current));
                continue;
            }
            current.push(token.to_string());
        }
        if !current.is_empty() {
            commands.push(current);
        }
    }
    commands
}

#[test]
fn every_generated_ipxe_script_has_one_command_per_value_line() {
    let dir = example_site();
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let mut checked = 0;
    for e in fs::read_dir(dir.path().join("out/http/ipxe")).unwrap() {
        let path = e.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let commands = ipxe_commands(&text);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "boot.ipxe" || name == "default.ipxe" {
            continue; // site scripts without values
        }
        // A host script: exactly `kernel URL args...`, `initrd URL`, `boot` - or `exit`.
        let verbs: Vec<&str> = commands.iter().map(|c| c[0].as_str()).collect();
        assert!(verbs == ["kernel", "initrd", "boot"] || verbs == ["exit"], "{name}: {verbs:?}");
        for c in &commands {
            for arg in &c[1..] {
                assert!(!arg.contains("${"), "{name}: setting expansion in {arg}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 4, "{checked}");
}
