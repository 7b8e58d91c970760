//! Each rendered Ignition config is parsed and validated once (issue 15): render validates what
//! a Butane template translates to, and the lint and the boot config's spec check reuse that.
//! These builds show that the lint still reports what the Ignition check finds in translated
//! output (warnings included), and still validates Ignition a template writes directly.

mod common;

use std::fs;
use std::path::Path;

use common::*;

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
files:
  - { path: "ignition/{{ host.name }}.ign", template: flatcar.bu, hosts: node }
"#;

const HOSTS: &str = r#"hosts:
  - { name: n1, appliance: node, boot: os, interfaces: [{ network: prov, mac: "52:54:00:00:01:01", ip: 10.0.0.11 }] }
  - { name: n2, appliance: node, boot: os, interfaces: [{ network: prov, mac: "52:54:00:00:01:02", ip: 10.0.0.12 }] }
"#;

/// Butane that translates, but to Ignition whose check warns: Butane's flatcar spec has no rule
/// on the proxy's scheme, Ignition's check warns about a plaintext proxy for HTTPS.
const PROXY_BU: &str = "variant: flatcar
version: 1.1.0
ignition:
  proxy:
    https_proxy: http://proxy.lab:3128
storage:
  files:
    - path: /etc/hostname
      contents:
        inline: {{ host.name }}
";

fn lab(site: &str, templates: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = common::site(&[("site.yaml", site), ("hosts.yaml", HOSTS)]);
    fs::create_dir_all(dir.path().join("templates")).unwrap();
    for (name, text) in templates {
        fs::write(dir.path().join("templates").join(name), text).unwrap();
    }
    dir
}

fn build(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build", "--no-images", "--no-bootloaders"];
    args.extend_from_slice(extra);
    run(dir, &args)
}

/// The lines of `stderr` that are diagnostics (`error: ` or `warning: `), in order.
fn diagnostics(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error: ") || l.starts_with("warning: ")).collect()
}

#[test]
fn a_warning_in_translated_butane_is_reported_by_the_lint_as_before() {
    let dir = lab(SITE, &[("flatcar.bu", PROXY_BU)]);
    let o = build(dir.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The translated JSON (2-space indent): line 4 is `"httpsProxy": ...`.
    let warning = |host: &str| {
        format!(
            "warning: http/ignition/{host}.ign:4: `ignition.proxy.httpsProxy`: `http://proxy.lab:3128` is a \
             plaintext HTTP proxy for HTTPS resources; use an https:// proxy (rendered from template `flatcar.bu` \
             for host `{host}` (files rule at inventory/site.yaml:13))"
        )
    };
    let err = stderr(&o);
    assert_eq!(diagnostics(&err), [warning("n1"), warning("n2")], "{err}");
    // The same warning as checking the written file on its own.
    let v = run(dir.path(), &["validate", "ignition", "out/http/ignition/n1.ign"]);
    assert!(stderr(&v).contains(
        "out/http/ignition/n1.ign:4: `ignition.proxy.httpsProxy`: `http://proxy.lab:3128` is a plaintext HTTP proxy"
    ));
    // A warning fails the build with --deny-warnings, and nothing is written.
    let dir = lab(SITE, &[("flatcar.bu", PROXY_BU)]);
    let o = build(dir.path(), &["--deny-warnings"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&warning("n2")[9..]), "{}", stderr(&o));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn ignition_a_template_writes_directly_is_still_validated() {
    let site = SITE.replace(
        "  - { path: \"ignition/{{ host.name }}.ign\", template: flatcar.bu, hosts: node }\n",
        "  - { path: \"ignition/{{ host.name }}.ign\", template: flatcar.bu, hosts: node }\n  \
         - { path: \"direct/{{ host.name }}.ign\", template: direct.ign, hosts: node }\n",
    );
    // Ignition refuses a relative file path (spec 3.x: `path` must be absolute).
    let direct = "{\n  \"ignition\": { \"version\": \"3.4.0\" },\n  \"storage\": { \"files\": [ { \"path\": \"etc/{{ host.name }}\" } ] }\n}\n";
    let dir = lab(&site, &[("flatcar.bu", PROXY_BU), ("direct.ign", direct)]);
    let o = build(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let error = |host: &str| {
        format!(
            "error: http/direct/{host}.ign:3: `storage.files[0].path`: path `etc/{host}` must be absolute \
             (rendered from template `direct.ign` for host `{host}` (files rule at inventory/site.yaml:14))"
        )
    };
    let warning = |host: &str| {
        format!("warning: http/ignition/{host}.ign:4: `ignition.proxy.httpsProxy`: `http://proxy.lab:3128` is a plaintext HTTP proxy for HTTPS resources; use an https:// proxy (rendered from template `flatcar.bu` for host `{host}` (files rule at inventory/site.yaml:13))")
    };
    assert_eq!(diagnostics(&err), [error("n1"), error("n2"), warning("n1"), warning("n2")], "{err}");
    assert!(err.contains("2 problems found; nothing was written"), "{err}");
}

#[test]
fn the_spec_of_translated_butane_is_still_checked_against_the_images_ignition() {
    let dir = example_site();
    // Ignition 2.14.0 reads specs up to 3.3.0 (3.4.0 came with 2.15.0); Butane flatcar 1.1.0
    // translates to 3.4.0, 1.0.0 to 3.3.0.
    let site = dir.path().join("inventory/site.yaml");
    let text = fs::read_to_string(&site).unwrap().replace("ignition: \"2.24.0\"", "ignition: \"2.14.0\"");
    fs::write(&site, &text).unwrap();
    let o = build(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bootaction `coreos` for host `backend-0-0`: `http/ignition/backend-0-0.ign`: the config declares Ignition spec 3.4.0, but Ignition 2.14.0 reads specs up to 3.3.0 (image `flatcar-stable` ships Ignition 2.14.0)"),
        "{}",
        stderr(&o)
    );
}
