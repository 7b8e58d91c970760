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
    grubx64.efi: null
    shimx64.efi: null
    undionly.kpxe: null
    ipxe.efi: null
    snponly.efi: null
networks:
  prov: { address: 10.0.0.0/24, gateway: 10.0.0.1, mtu: 9000, pxe: true }
  other: { address: 10.1.0.0/24, pxe: true, dhcp: proxy }
hosts: []
"#;

fn lab(site: &str) -> tempfile::TempDir {
    let dir = common::site(&[("site.yaml", site)]);
    let loaders = dir.path().join("inventory/loaders");
    fs::create_dir_all(&loaders).unwrap();
    fs::write(loaders.join("pxelinux.0"), "pxelinux").unwrap();
    fs::write(loaders.join("ldlinux.c32"), "ldlinux").unwrap();
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
    assert!(!tftp.join("grubx64.efi").exists());
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
    ] {
        assert!(dnsmasq.lines().any(|l| l == line), "no `{line}` in\n{dnsmasq}");
    }
    // The last matching dhcp-boot wins: the iPXE line must come after the others.
    let boots: Vec<&str> = dnsmasq.lines().filter(|l| l.starts_with("dhcp-boot=")).collect();
    assert_eq!(boots.len(), 3, "{dnsmasq}");
    assert!(boots[2].starts_with("dhcp-boot=tag:ipxe,") && boots[1].contains("tag:!ipxe"), "{dnsmasq}");
    assert!(dnsmasq.contains("pxe-service=tag:net-other,tag:!ipxe,x86PC,\"pxebake BIOS\",pxelinux"), "{dnsmasq}");
    let nginx = fs::read_to_string(etc.join("nginx.conf")).unwrap();
    for line in ["listen 8080;", "location /boot/ {", "alias /srv/lab/http/;", "autoindex off;", "sendfile on;"] {
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
