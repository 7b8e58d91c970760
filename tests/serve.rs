//! What stock dnsmasq and nginx are given: bootloaders copied into tftp/, and the inputs that
//! would break a dnsmasq or nginx line rejected with file and line before anything is written.
//! (That the configs really boot machines is proven by tests/e2e/boot.sh.)

mod common;

use std::fs;
use std::path::Path;

use common::*;

const SITE: &str = r#"site:
  name: lab
  domain: lab.example
  frontend: 10.0.0.1
  http: http://10.0.0.1:8080/boot
  root: /srv/lab
  bootloaders:
    pxelinux.0: loaders/pxelinux.0
    ldlinux.c32: loaders/ldlinux.c32
    grubx64.efi: loaders/grubx64.efi
    shimx64.efi: null
networks:
  prov: { address: 10.0.0.0/24, gateway: 10.0.0.1, mtu: 9000, pxe: true, loader: tftp }
  other: { address: 10.1.0.0/24, pxe: true, dhcp: proxy, loader: tftp }
hosts: []
"#;

fn lab(site: &str) -> tempfile::TempDir {
    let dir = common::site(&[("site.yaml", site)]);
    let loaders = dir.path().join("inventory/loaders");
    fs::create_dir_all(&loaders).unwrap();
    fs::write(loaders.join("pxelinux.0"), "pxelinux").unwrap();
    fs::write(loaders.join("ldlinux.c32"), "ldlinux").unwrap();
    fs::write(loaders.join("grubx64.efi"), "grub").unwrap();
    for name in ["undionly.kpxe", "snponly.efi", "shimx64.efi"] {
        fs::write(loaders.join(name), name).unwrap();
    }
    dir
}

fn build(dir: &Path) -> std::process::Output {
    run(dir, &["build", "--no-images"])
}

#[test]
fn bootloaders_are_copied_from_site_bootloaders_and_null_drops_a_default() {
    let dir = lab(SITE);
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let tftp = dir.path().join("out/tftp");
    assert_eq!(fs::read_to_string(tftp.join("pxelinux.0")).unwrap(), "pxelinux");
    assert_eq!(fs::read_to_string(tftp.join("ldlinux.c32")).unwrap(), "ldlinux");
    assert_eq!(fs::read_to_string(tftp.join("grubx64.efi")).unwrap(), "grub");
    // Defaults that no loader in use hands out are not copied (`loader: tftp` needs no iPXE).
    for name in ["undionly.kpxe", "snponly.efi", "shimx64.efi", "ipxe.efi"] {
        assert!(!tftp.join(name).exists(), "{name}");
    }
    assert!(!dir.path().join("out/http/loaders").exists());
    // A copy, never a hard link: editing the tree must not change the source (a system file).
    use std::os::unix::fs::MetadataExt;
    let src = fs::metadata(dir.path().join("inventory/loaders/pxelinux.0")).unwrap();
    let copy = fs::metadata(tftp.join("pxelinux.0")).unwrap();
    assert_ne!(src.ino(), copy.ino());
    // An unchanged bootloader is not rewritten by the next build.
    let o = build(dir.path());
    assert!(stderr(&o).contains(" 0 written"), "{}", stderr(&o));
    assert_eq!(fs::metadata(tftp.join("pxelinux.0")).unwrap().ino(), copy.ino());
}

#[test]
fn configs_name_the_deployed_root_and_the_http_path() {
    let dir = lab(SITE);
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let etc = dir.path().join("out/etc");
    let dnsmasq = fs::read_to_string(etc.join("dnsmasq.conf")).unwrap();
    for line in [
        "tftp-root=/srv/lab/tftp",
        "dhcp-hostsdir=/srv/lab/etc/dnsmasq.hosts",
        "dhcp-range=set:net-prov,10.0.0.0,static,255.255.255.0,12h",
        "dhcp-option=tag:net-prov,option:router,10.0.0.1",
        "dhcp-option=tag:net-prov,option:mtu,9000",
        "dhcp-range=set:net-other,10.1.0.0,proxy,255.255.255.0",
        "dhcp-boot=tag:ipxe,http://10.0.0.1:8080/boot/ipxe/boot.ipxe",
        "tag-if=set:loader-tftp,tag:net-prov,tag:!loader-*",
        "dhcp-boot=tag:loader-ipxe,tag:efi-x86_64-http,tag:!ipxe,http://10.0.0.1:8080/boot/loaders/snponly.efi",
    ] {
        assert!(dnsmasq.lines().any(|l| l == line), "no `{line}` in\n{dnsmasq}");
    }
    // The iPXE line comes last, and every other dhcp-boot line excludes iPXE clients (the loop).
    let boots: Vec<&str> = dnsmasq.lines().filter(|l| l.starts_with("dhcp-boot=")).collect();
    assert_eq!(boots.len(), 10, "{dnsmasq}");
    assert!(boots[9].starts_with("dhcp-boot=tag:ipxe,"), "{dnsmasq}");
    assert!(boots[..9].iter().all(|b| b.contains(",tag:!ipxe,")), "{dnsmasq}");
    assert!(
        dnsmasq.contains("pxe-service=tag:net-other,tag:loader-tftp,tag:!ipxe,x86PC,\"pxebake BIOS\",pxelinux"),
        "{dnsmasq}"
    );
    let nginx = fs::read_to_string(etc.join("nginx.conf")).unwrap();
    for line in [
        "listen 8080;",
        "location /boot/ {",
        "alias /srv/lab/http/;",
        "autoindex off;",
        "sendfile on;",
        "application/efi            efi;",
    ] {
        assert!(nginx.lines().any(|l| l.trim() == line), "no `{line}` in\n{nginx}");
    }
}

#[test]
fn missing_bootloader_names_its_package_and_line() {
    let site = SITE.replace("pxelinux.0: loaders/pxelinux.0", "pxelinux.0: /nonexistent/pxelinux.0");
    let dir = lab(&site);
    let o = build(dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("site.yaml:8: bootloader `pxelinux.0`: cannot read `/nonexistent/pxelinux.0`"), "{e}");
    assert!(e.contains("install the Debian package `pxelinux`"), "{e}");
    assert!(e.contains("--no-bootloaders"), "{e}");
    assert!(!dir.path().join("out").exists(), "something was written");
    // --no-bootloaders builds without them.
    let o = run(dir.path(), &["build", "--no-images", "--no-bootloaders"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!dir.path().join("out/tftp/pxelinux.0").exists());
}

#[test]
fn inputs_that_would_break_dnsmasq_or_nginx_lines_are_rejected_with_lines() {
    for (from, to, line, want) in [
        ("root: /srv/lab", "root: srv/lab", 6, "site.root: `srv/lab` must be an absolute path"),
        ("root: /srv/lab", "root: /srv/lab,eth0", 6, "site.root: `/srv/lab,eth0` must not contain"),
        ("root: /srv/lab", "root: /srv/$lab", 6, "site.root: `/srv/$lab` must not contain"),
        ("http: http://10.0.0.1:8080/boot", "http: http://10.0.0.1:8080/bo%20ot", 5, "site.http:"),
        ("http: http://10.0.0.1:8080/boot", "http: http://10.0.0.1:8080/boot?x=1", 5, "site.http:"),
        (
            "http: http://10.0.0.1:8080/boot",
            "http: http://10.0.0.1:99999/boot",
            5,
            "site.http: `http://10.0.0.1:99999/boot`: port `99999`",
        ),
        ("pxelinux.0: loaders/pxelinux.0", "../pxelinux.0: loaders/pxelinux.0", 8, "site.bootloaders: `../pxelinux.0`"),
    ] {
        let dir = lab(&SITE.replace(from, to));
        let o = build(dir.path());
        assert_eq!(o.status.code(), Some(2), "{to}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(&format!("site.yaml:{line}: {want}")), "{to}: {e}");
        assert!(!dir.path().join("out").exists(), "{to}: something was written");
    }
}

#[test]
fn the_default_loader_is_ipxe_and_its_efi_loader_is_also_served_for_http_boot() {
    let site = SITE.replace(", loader: tftp }", " }");
    let dir = lab(&site.replace(
        "    shimx64.efi: null\n",
        "    undionly.kpxe: loaders/undionly.kpxe\n    snponly.efi: loaders/snponly.efi\n",
    ));
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out");
    assert_eq!(fs::read_to_string(out.join("tftp/undionly.kpxe")).unwrap(), "undionly.kpxe");
    assert_eq!(fs::read_to_string(out.join("tftp/snponly.efi")).unwrap(), "snponly.efi");
    // UEFI HTTP Boot fetches its loader by URL: the same file under http/loaders/.
    assert_eq!(fs::read_to_string(out.join("http/loaders/snponly.efi")).unwrap(), "snponly.efi");
    let dnsmasq = fs::read_to_string(out.join("etc/dnsmasq.conf")).unwrap();
    assert!(dnsmasq.lines().any(|l| l == "tag-if=set:loader-ipxe,tag:net-prov,tag:!loader-*"), "{dnsmasq}");
}

const HOSTS: &str = r#"bootactions:
  disk: { localboot: 0 }
appliances:
  node: { runaction: disk }
hosts:
  - { name: n1, appliance: node, interfaces: [{ network: prov, mac: "52:54:00:00:00:01", ip: 10.0.0.11 }] }
  - name: n2
    appliance: node
    loader: secureboot
    interfaces: [{ network: prov, mac: "52:54:00:00:00:02", ip: 10.0.0.12 }]
"#;

#[test]
fn a_host_loader_sets_its_tag_in_its_dhcp_host_line() {
    let dir = lab(SITE);
    fs::write(dir.path().join("inventory/hosts.yaml"), HOSTS).unwrap();
    let site = fs::read_to_string(dir.path().join("inventory/site.yaml")).unwrap();
    let site = site.replace(
        "    shimx64.efi: null\n",
        "    shimx64.efi: loaders/shimx64.efi\n    undionly.kpxe: loaders/undionly.kpxe\n",
    );
    fs::write(dir.path().join("inventory/site.yaml"), site.replace("hosts: []\n", "")).unwrap();
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let hosts = dir.path().join("out/etc/dnsmasq.hosts");
    let n1 = fs::read_to_string(hosts.join("n1")).unwrap();
    assert!(n1.lines().any(|l| l == "52:54:00:00:00:01,10.0.0.11,n1"), "{n1}");
    let n2 = fs::read_to_string(hosts.join("n2")).unwrap();
    assert!(n2.lines().any(|l| l == "52:54:00:00:00:02,set:loader-secureboot,10.0.0.12,n2"), "{n2}");
    // secureboot hands out shim (and the signed GRUB it loads) from the TFTP root.
    let tftp = dir.path().join("out/tftp");
    assert_eq!(fs::read_to_string(tftp.join("shimx64.efi")).unwrap(), "shimx64.efi");
    assert_eq!(fs::read_to_string(tftp.join("grubx64.efi")).unwrap(), "grub");
}

#[test]
fn a_loader_choice_without_its_files_is_an_error_at_its_line() {
    // n2 (hosts.yaml:9) wants Secure Boot, but site.bootloaders drops shim: nothing is written.
    let dir = lab(SITE);
    fs::write(dir.path().join("inventory/hosts.yaml"), HOSTS).unwrap();
    let site = fs::read_to_string(dir.path().join("inventory/site.yaml")).unwrap();
    fs::write(dir.path().join("inventory/site.yaml"), site.replace("hosts: []\n", "")).unwrap();
    let o = build(dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("hosts.yaml:9: host `n2`: loader `secureboot` hands out `shimx64.efi`, but `site.bootloaders` drops it with `null`"),
        "{e}"
    );
    assert!(!dir.path().join("out").exists(), "something was written");

    // A loader file that cannot be read names the choice that needs it and the package.
    let site = SITE.replace("grubx64.efi: loaders/grubx64.efi", "grubx64.efi: /nonexistent/grubx64.efi");
    let dir = lab(&site);
    let o = build(dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("site.yaml:10: bootloader `grubx64.efi`: cannot read `/nonexistent/grubx64.efi`"), "{e}");
    assert!(e.contains("install the Debian package `grub-efi-amd64-signed`"), "{e}");
    assert!(!dir.path().join("out").exists(), "something was written");
}

#[test]
fn bad_loader_dns_and_ntp_values_are_reported_together_with_lines() {
    let site = SITE
        .replace(
            "mtu: 9000, pxe: true, loader: tftp }",
            "mtu: 9000, pxe: true, loader: pxe, dns: [10.0.0.1, ns1.lab], ntp: [10.0.0.300] }",
        )
        .replace("dhcp: proxy, loader: tftp }", "dhcp: proxy, loader: tftp, dns: [10.0.0.1] }");
    let dir = lab(&site);
    fs::write(
        dir.path().join("inventory/hosts.yaml"),
        "hosts:\n  - { name: n1, appliance: x, loader: securboot, interfaces: [] }\n",
    )
    .unwrap();
    let site = fs::read_to_string(dir.path().join("inventory/site.yaml")).unwrap();
    fs::write(dir.path().join("inventory/site.yaml"), site.replace("hosts: []\n", "")).unwrap();
    let o = build(dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    for want in [
        "site.yaml:13: network `prov`: loader `pxe` is not one of ipxe, tftp, secureboot",
        "site.yaml:13: network `prov`: dns server `ns1.lab` is not an IPv4 address",
        "site.yaml:13: network `prov`: ntp server `10.0.0.300` is not an IPv4 address",
        "site.yaml:14: network `other`: `dns` has no effect with `dhcp: proxy`",
        "hosts.yaml:2: host `n1`: loader `securboot` is not one of ipxe, tftp, secureboot (did you mean `secureboot`?)",
    ] {
        assert!(e.contains(want), "no `{want}` in\n{e}");
    }
    assert!(!dir.path().join("out").exists(), "something was written");
}

#[test]
fn dns_and_ntp_servers_go_out_with_the_address() {
    let site = SITE.replace(
        "mtu: 9000, pxe: true, loader: tftp }",
        "mtu: 9000, pxe: true, loader: tftp, dns: [10.0.0.1, 10.0.0.2], ntp: [10.0.0.3] }",
    );
    let dir = lab(&site);
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let dnsmasq = fs::read_to_string(dir.path().join("out/etc/dnsmasq.conf")).unwrap();
    for line in [
        "dhcp-option=tag:net-prov,option:dns-server,10.0.0.1,10.0.0.2",
        "dhcp-option=tag:net-prov,option:ntp-server,10.0.0.3",
        "tftp-max=500",
    ] {
        assert!(dnsmasq.lines().any(|l| l == line), "no `{line}` in\n{dnsmasq}");
    }
}

const ARM64: &str = r#"images:
  os-arm: { url: "http://127.0.0.1:9/arm64/{version}/", version: "1", key: key.asc, arch: arm64, files: { kernel: vmlinuz, initrd: initrd } }
  os-amd: { url: "http://127.0.0.1:9/{version}/", version: "1", key: key.asc, files: { kernel: vmlinuz } }
bootactions:
  arm: { kernel: vmlinuz.arm, ramdisk: initrd.arm, image: os-arm }
  amd: { kernel: vmlinuz.amd, image: os-amd }
appliances:
  node: {}
hosts:
  - { name: a1, appliance: node, arch: arm64, boot: install, installaction: arm, interfaces: [{ network: prov, mac: "52:54:00:00:00:21", ip: 10.0.0.21 }] }
"#;

fn arm64_lab(hosts: &str, grubaa64: &str) -> tempfile::TempDir {
    let dir = lab(&SITE
        .replace("hosts: []\n", "")
        .replace("    shimx64.efi: null\n", &format!("    shimx64.efi: null\n    grubaa64.efi: {grubaa64}\n")));
    let inv = dir.path().join("inventory");
    fs::write(inv.join("hosts.yaml"), hosts).unwrap();
    fs::write(inv.join("key.asc"), "not read with --no-images").unwrap();
    fs::write(inv.join("loaders/grubaa64.efi"), "grub arm64").unwrap();
    dir
}

#[test]
fn arm64_hosts_get_the_arm64_grub_from_their_loader() {
    let dir = arm64_lab(ARM64, "loaders/grubaa64.efi");
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out");
    assert_eq!(fs::read_to_string(out.join("tftp/grubaa64.efi")).unwrap(), "grub arm64");
    assert_eq!(fs::read_link(out.join("tftp/vmlinuz.arm")).unwrap().to_str(), Some("../images/os-arm/1/vmlinuz"));
    let dnsmasq = fs::read_to_string(out.join("etc/dnsmasq.conf")).unwrap();
    for line in [
        "dhcp-match=set:efi-arm64,option:client-arch,11",
        "dhcp-boot=tag:loader-tftp,tag:efi-arm64,tag:!ipxe,grubaa64.efi",
        "dhcp-boot=tag:loader-secureboot,tag:efi-arm64,tag:!ipxe,shimaa64.efi",
    ] {
        assert!(dnsmasq.lines().any(|l| l == line), "no `{line}` in\n{dnsmasq}");
    }
}

#[test]
fn arm64_hosts_without_an_arm64_loader_or_kernel_are_errors_at_their_lines() {
    let hosts = format!(
        "{ARM64}  - {{ name: a2, appliance: node, arch: arm64, boot: install, installaction: amd, interfaces: [{{ network: prov, mac: \"52:54:00:00:00:22\", ip: 10.0.0.22 }}] }}
  - name: a3
    appliance: node
    arch: arm64
    loader: ipxe
    interfaces: [{{ network: prov, mac: \"52:54:00:00:00:23\", ip: 10.0.0.23 }}]
  - {{ name: a4, appliance: node, arch: arm46, interfaces: [] }}
"
    );
    let dir = arm64_lab(&hosts, "/nonexistent/grubaa64.efi");
    let o = build(dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    for want in [
        "hosts.yaml:11: host `a2` is arm64, but its installaction `amd` boots image `os-amd`, which is amd64; give the host a bootaction whose image has `arch: arm64`",
        "hosts.yaml:14: host `a3` is arm64, but its `loader: ipxe` (",
        "has no arm64 build (Debian ships iPXE for x86 only); set `loader: tftp` or `loader: secureboot`",
        "hosts.yaml:17: host `a4`: arch `arm46` is not one of amd64, arm64 (did you mean `arm64`?)",
    ] {
        assert!(e.contains(want), "no `{want}` in\n{e}");
    }
    assert!(!dir.path().join("out").exists(), "something was written");

    // The arm64 loader file: its package, and how to get it on a machine of another architecture.
    let dir = arm64_lab(ARM64, "/nonexistent/grubaa64.efi");
    let o = build(dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("site.yaml:12: bootloader `grubaa64.efi`: cannot read `/nonexistent/grubaa64.efi`"), "{e}");
    assert!(e.contains("apt-get download grub-efi-arm64-signed:arm64"), "{e}");
}
