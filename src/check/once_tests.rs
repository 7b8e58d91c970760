//! The lint takes the Ignition check render ran on translated Butane instead of running it
//! again (issue 15); what it reports must not change.

use super::*;
use crate::render::{render, Templates};

/// A Butane template whose Ignition draws a warning from Ignition's check (a plaintext proxy
/// for HTTPS), and one written directly as Ignition with an error (a relative path).
fn lab(dir: &std::path::Path) -> (Inventory, Tree) {
    let inv = dir.join("inventory");
    std::fs::create_dir_all(&inv).unwrap();
    std::fs::write(
        inv.join("site.yaml"),
        "site: { name: t, domain: t.example, frontend: 10.9.0.1, http: \"http://10.9.0.1/boot\", root: /srv/pxebake }\n\
         networks:\n  boot: { address: 10.9.0.0/16, gateway: 10.9.0.1, zone: t.example, pxe: true }\n\
         bootactions:\n  os: { localboot: 0 }\n\
         appliances:\n  node: { installaction: os, runaction: os }\n\
         files:\n\
         \x20 - { path: \"ignition/{{ host.name }}.ign\", template: proxy.bu, hosts: node }\n\
         \x20 - { path: \"direct/{{ host.name }}.ign\", template: direct.ign, hosts: node }\n",
    )
    .unwrap();
    let mut hosts = String::from("hosts:\n");
    for i in 1..=3 {
        hosts.push_str(&format!(
            "  - {{ name: h{i}, appliance: node, interfaces: [{{ network: boot, mac: \"02:00:00:00:00:0{i}\", ip: 10.9.1.{i} }}] }}\n"
        ));
    }
    std::fs::write(inv.join("hosts.yaml"), hosts).unwrap();
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("proxy.bu"),
        "variant: flatcar\nversion: 1.0.0\nignition:\n  proxy:\n    https_proxy: http://proxy.t:3128\n\
         storage:\n  files:\n    - path: /etc/hostname\n      contents:\n        inline: {{ host.name }}\n",
    )
    .unwrap();
    std::fs::write(
        templates.join("direct.ign"),
        "{\"ignition\": {\"version\": \"3.3.0\"},\n \"storage\": {\"files\": [{\"path\": \"etc/{{ host.name }}\"}]}}\n",
    )
    .unwrap();
    let inv = crate::inventory::load(&inv).unwrap();
    let mut d = Diagnostics::default();
    let mut t = Templates::load(Some(&templates), &inv, &mut d).unwrap();
    let tree = render(&inv, &mut t, None, None).unwrap();
    (inv, tree)
}

fn lines(r: Result<Vec<Diagnostic>, Invalid>) -> Vec<String> {
    let diags = match r {
        Ok(warnings) => warnings,
        Err(invalid) => invalid.0,
    };
    diags.iter().map(|d| format!("{:?} {}:{:?}: {}", d.severity, d.file, d.line, d.message)).collect()
}

#[test]
fn the_lint_reports_the_same_with_what_render_checked_as_without() {
    let dir = tempfile::tempdir().unwrap();
    let (inv, mut tree) = lab(dir.path());
    // Render checked the three translated configs, and only those.
    assert_eq!(tree.checked.len(), 3);
    assert!(tree.checked.iter().all(|(_, problems)| problems.len() == 1));
    let opts = Options::default();
    let reused = lines(lint(&inv, &tree, opts, None, None));
    tree.checked.clear();
    let again = lines(lint(&inv, &tree, opts, None, None));
    assert_eq!(reused, again);
    let site = dir.path().join("inventory/site.yaml").display().to_string();
    let warning = |h: &str| {
        format!(
            "Warning http/ignition/{h}.ign:Some(4): `ignition.proxy.httpsProxy`: `http://proxy.t:3128` is a plaintext \
             HTTP proxy for HTTPS resources; use an https:// proxy (rendered from template `proxy.bu` for host `{h}` \
             (files rule at {site}:9))"
        )
    };
    let error = |h: &str| {
        format!(
            "Error http/direct/{h}.ign:Some(2): `storage.files[0].path`: path `etc/{h}` must be absolute (rendered \
             from template `direct.ign` for host `{h}` (files rule at {site}:10))"
        )
    };
    let expected: Vec<String> =
        ["h1", "h2", "h3"].map(error).into_iter().chain(["h1", "h2", "h3"].map(warning)).collect();
    assert_eq!(reused, expected);
}
