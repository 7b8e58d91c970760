//! IPv6: networks with a prefix, interfaces with an address in it, and what dnsmasq and nginx
//! are given for DHCPv6 clients (reservations, router adverts, boot file URLs by architecture).
//! The expected lines are written from dnsmasq's manual (dhcp-range, dhcp-host, option6) and
//! RFC 5970 (option 59 boot file URL, option 61 client architecture). tests/e2e/boot.sh boots it.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

const SITE: &str = r#"site:
  name: lab
  domain: lab.example
  frontend: 10.0.0.1
  frontend6: 2001:db8:99::1
  http: http://10.0.0.1:8080/boot
  root: /srv/lab
networks:
  prov: { address: 10.0.0.0/24, ipv6: "2001:db8:99::/64", pxe: true }
  old: { address: 10.1.0.0/24, pxe: true }
appliances:
  node: {}
hosts:
  - { name: n1, appliance: node, interfaces: [{ network: prov, mac: "52:54:00:00:00:21", ip: 10.0.0.21, ipv6: "2001:db8:99::21" }] }
  - { name: n2, appliance: node, loader: tftp, interfaces: [{ network: prov, mac: "52:54:00:00:00:22", ip: 10.0.0.22, ipv6: "2001:db8:99::24/126" }] }
  - { name: n3, appliance: node, interfaces: [{ network: old, mac: "52:54:00:00:00:23", ip: 10.1.0.23 }] }
"#;

fn build(site: &str) -> (tempfile::TempDir, std::process::Output) {
    let dir = common::site(&[("site.yaml", site)]);
    let o = run(dir.path(), &["build", "--no-images", "--no-bootloaders"]);
    (dir, o)
}

fn read(dir: &Path, rel: &str) -> String {
    fs::read_to_string(dir.join("out").join(rel)).unwrap()
}

fn has_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.lines().any(|l| l.trim() == *line), "no `{line}` in\n{text}");
    }
}

#[test]
fn an_ipv6_network_gets_dhcpv6_reservations_router_adverts_and_boot_urls() {
    let (dir, o) = build(SITE);
    assert!(o.status.success(), "{}", stderr(&o));
    let dnsmasq = read(dir.path(), "etc/dnsmasq.conf");
    has_lines(
        &dnsmasq,
        &[
            // dnsmasq: `<start-IPv6addr>,<mode>,<prefix-len>,<lease time>`; static: reservations only.
            "dhcp-range=set:net-prov,2001:db8:99::,static,64,12h",
            "enable-ra",
            // RFC 5970 option 61 is a list of 16-bit architecture types.
            "dhcp-match=set:efi-x86_64,option6:61,00:07",
            "dhcp-match=set:efi-x86_64,option6:61,00:09",
            "dhcp-match=set:efi-x86_64-http,option6:61,00:10",
            "dhcp-match=set:efi-arm64,option6:61,00:0b",
            "dhcp-option=tag:loader-ipxe,tag:efi-x86_64,tag:!ipxe,option6:bootfile-url,tftp://[2001:db8:99::1]/snponly.efi",
            "dhcp-option=tag:loader-tftp,tag:efi-x86_64,tag:!ipxe,option6:bootfile-url,tftp://[2001:db8:99::1]/grubx64.efi",
            "dhcp-option=tag:loader-secureboot,tag:efi-x86_64,tag:!ipxe,option6:bootfile-url,tftp://[2001:db8:99::1]/shimx64.efi",
            // site.http names an IPv4 address: IPv6 clients get the same port and path on frontend6.
            "dhcp-option=tag:loader-ipxe,tag:efi-x86_64-http,tag:!ipxe,option6:bootfile-url,http://[2001:db8:99::1]:8080/boot/loaders/snponly.efi",
            "dhcp-option=tag:ipxe,option6:bootfile-url,http://[2001:db8:99::1]:8080/boot/ipxe/boot.ipxe",
            // Option 16: enterprise number, then length and `HTTPClient`.
            "dhcp-option-force=tag:efi-x86_64-http,option6:16,00:00:01:57:00:0a:48:54:54:50:43:6c:69:65:6e:74",
        ],
    );
    // Only the network with a prefix gets a DHCPv6 range; the IPv4 lines stay as they were.
    assert_eq!(dnsmasq.lines().filter(|l| l.starts_with("dhcp-range=") && l.contains("::")).count(), 1, "{dnsmasq}");
    has_lines(&dnsmasq, &["dhcp-boot=tag:ipxe,http://10.0.0.1:8080/boot/ipxe/boot.ipxe"]);
    // dnsmasq: `dhcp-host=<mac>,<ipv4>,[<ipv6>],<name>`, one line with both addresses.
    assert!(read(dir.path(), "etc/dnsmasq.hosts/n1")
        .lines()
        .any(|l| l == "52:54:00:00:00:21,10.0.0.21,[2001:db8:99::21],n1"));
    assert!(read(dir.path(), "etc/dnsmasq.hosts/n2")
        .lines()
        .any(|l| l == "52:54:00:00:00:22,set:loader-tftp,10.0.0.22,[2001:db8:99::24/126],n2"));
    assert!(read(dir.path(), "etc/dnsmasq.hosts/n3").lines().any(|l| l == "52:54:00:00:00:23,10.1.0.23,n3"));
    let nginx = read(dir.path(), "etc/nginx.conf");
    has_lines(&nginx, &["listen 8080;", "listen [::]:8080;"]);
    dnsmasq_accepts(&dir.path().join("out/etc/dnsmasq.conf"));
}

#[test]
fn a_site_without_ipv6_gets_no_ipv6_lines() {
    let site = SITE
        .replace("  frontend6: 2001:db8:99::1\n", "")
        .replace(", ipv6: \"2001:db8:99::/64\"", "")
        .replace(", ipv6: \"2001:db8:99::21\"", "")
        .replace(", ipv6: \"2001:db8:99::24/126\"", "");
    let (dir, o) = build(&site);
    assert!(o.status.success(), "{}", stderr(&o));
    let dnsmasq = read(dir.path(), "etc/dnsmasq.conf");
    assert!(!dnsmasq.contains("option6") && !dnsmasq.contains("enable-ra"), "{dnsmasq}");
    assert!(!read(dir.path(), "etc/nginx.conf").contains("[::]"));
}

#[test]
fn an_ipv6_site_http_is_handed_to_ipv6_clients_as_it_is() {
    let site = SITE.replace("http: http://10.0.0.1:8080/boot", "http: http://[2001:db8:99::1]:8080/boot");
    let (dir, o) = build(&site);
    assert!(o.status.success(), "{}", stderr(&o));
    let dnsmasq = read(dir.path(), "etc/dnsmasq.conf");
    has_lines(
        &dnsmasq,
        &[
            "dhcp-boot=tag:ipxe,http://[2001:db8:99::1]:8080/boot/ipxe/boot.ipxe",
            "dhcp-option=tag:ipxe,option6:bootfile-url,http://[2001:db8:99::1]:8080/boot/ipxe/boot.ipxe",
        ],
    );
    // The iPXE scripts name site.http, so iPXE stays on IPv6 after the boot file URL.
    let script = read(dir.path(), "http/ipxe/default.ipxe");
    assert!(script.contains("imgfetch --name pxebake-hello http://[2001:db8:99::1]:8080/boot/events?"), "{script}");
    dnsmasq_accepts(&dir.path().join("out/etc/dnsmasq.conf"));
}

#[test]
fn bad_ipv6_input_is_reported_together_with_lines_and_nothing_is_written() {
    let site = r#"site:
  name: lab
  domain: lab.example
  frontend: 10.0.0.1
  frontend6: fe80::1
  http: http://10.0.0.1:8080/boot
networks:
  prov: { address: 10.0.0.0/24, ipv6: "2001:db8:99::/64", pxe: true }
  bits: { address: 10.1.0.0/24, ipv6: "2001:db8:98::1/64" }
  wide: { address: 10.2.0.0/24, ipv6: "2001:db8::/48" }
  proxy: { address: 10.3.0.0/24, ipv6: "2001:db8:97::/64", dhcp: proxy }
  v4: { address: 10.4.0.0/24 }
appliances:
  node: {}
hosts:
  - name: n1
    appliance: node
    interfaces:
      - { network: prov, mac: "52:54:00:00:00:21", ip: 10.0.0.21, ipv6: "2001:db8:77::21" }
  - name: n2
    appliance: node
    interfaces:
      - { network: v4, mac: "52:54:00:00:00:22", ip: 10.4.0.22, ipv6: "2001:db8:99::22" }
  - name: n3
    appliance: node
    interfaces:
      - { network: prov, mac: "52:54:00:00:00:23", ipv6: "2001:db8:99::zz" }
  - name: n4
    appliance: node
    interfaces:
      - { network: prov, ipv6: "2001:db8:99::24" }
  - name: n5
    appliance: node
    interfaces:
      - { network: prov, mac: "52:54:00:00:00:25", ipv6: "2001:db8:99::24" }
      - { network: prov, mac: "52:54:00:00:00:26", ipv6: "2001:db8:99::", default: true }
  - name: n6
    appliance: node
    interfaces:
      - { network: prov, mac: "52:54:00:00:00:27", ipv6: "2001:db8:99::20/125" }
      - { network: prov, mac: "52:54:00:00:00:28", ipv6: "2001:db8:99::41/126", default: true }
      - { network: prov, mac: "52:54:00:00:00:29", ipv6: "2001:db8:99::50/64" }
"#;
    let (dir, o) = build(site);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    for want in [
        "site.yaml:5: site.frontend6: `fe80::1` is not a unicast address machines can reach",
        "site.yaml:9: network `bits`: ipv6 `2001:db8:98::1/64` has host bits set (did you mean `2001:db8:98::/64`?)",
        "site.yaml:10: network `wide`: ipv6 `2001:db8::/48`: the prefix length must be 64..120",
        "site.yaml:11: network `proxy`: ipv6 `2001:db8:97::/64` needs `dhcp: static`: DHCPv6 has no proxy mode",
        "site.yaml:19: host `n1`: ipv6 `2001:db8:77::21` is outside network `prov` (2001:db8:99::/64)",
        "site.yaml:23: host `n2`: ipv6 `2001:db8:99::22`: network `v4` has no `ipv6` prefix",
        "site.yaml:27: host `n3`: ipv6 `2001:db8:99::zz` is not an IPv6 address",
        "site.yaml:31: host `n4`: ipv6 `2001:db8:99::24` needs the interface's `mac`",
        "site.yaml:35: host `n5`: ipv6 `2001:db8:99::24` overlaps an address of host `n4` (inventory/site.yaml:31)",
        "site.yaml:36: host `n5`: ipv6 `2001:db8:99::` holds the subnet-router anycast address of `prov`",
        "site.yaml:40: host `n6`: ipv6 `2001:db8:99::20/125` overlaps an address of host `n2` (inventory/site.yaml:23)",
        "site.yaml:41: host `n6`: ipv6 `2001:db8:99::41/126` does not start its block (did you mean `2001:db8:99::40/126`?)",
        "site.yaml:42: host `n6`: ipv6 `2001:db8:99::50/64`: a block of addresses is /120 to /128",
    ] {
        assert!(e.contains(want), "no `{want}` in\n{e}");
    }
    assert!(!dir.path().join("out").exists(), "something was written");
}

#[test]
fn an_ipv6_pxe_network_needs_site_frontend6() {
    let (dir, o) = build(&SITE.replace("  frontend6: 2001:db8:99::1\n", ""));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("site.yaml:8: network `prov`: an `ipv6` PXE network needs `site.frontend6`"), "{e}");
    assert!(!dir.path().join("out").exists(), "something was written");
}

/// `dnsmasq --test`: stock dnsmasq's own syntax check (package dnsmasq-base, as in .ci/run).
fn dnsmasq_accepts(conf: &Path) {
    let o = Command::new("dnsmasq")
        .arg("--test")
        .arg("-C")
        .arg(conf)
        .output()
        .expect("dnsmasq is missing: install the Debian package dnsmasq-base");
    assert!(o.status.success(), "dnsmasq --test: {}", String::from_utf8_lossy(&o.stderr));
}

/// Issue 12's "Bad input" list, each with its line (and the package for a missing loader), and
/// nothing written. Two rounds: the inventory's problems are all reported first; the bootloader
/// files are checked once the inventory is valid (they need its loader choices), all together.
#[test]
fn the_firmware_bad_input_list_is_reported_with_lines() {
    let site = r#"site:
  name: lab
  domain: lab.example
  frontend: 10.0.0.1
  frontend6: 2001:db8:99::1
  http: http://10.0.0.1:8080/boot
  bootloaders:
    snponly.efi: /nonexistent/snponly.efi
    shimx64.efi: null
networks:
  prov: { address: 10.0.0.0/24, ipv6: "2001:db8:99::/64", pxe: true }
appliances:
  node: {}
hosts:
  - { name: arm, appliance: node, arch: arm64, interfaces: [{ network: prov, mac: "52:54:00:00:00:31", ip: 10.0.0.31 }] }
  - { name: out6, appliance: node, interfaces: [{ network: prov, mac: "52:54:00:00:00:32", ip: 10.0.0.32, ipv6: "2001:db8:98::32" }] }
  - { name: sb, appliance: node, loader: secureboot, interfaces: [{ network: prov, mac: "52:54:00:00:00:33", ip: 10.0.0.33 }] }
"#;
    let rounds: [(&str, &[&str]); 2] = [
        (
            site,
            &[
                // A host whose architecture has no loader (Debian ships iPXE for x86 only).
                "site.yaml:15: host `arm` is arm64, but loader `ipxe` of network `prov` (inventory/site.yaml:11) has no arm64 build",
                // An IPv6 address outside its network.
                "site.yaml:16: host `out6`: ipv6 `2001:db8:98::32` is outside network `prov` (2001:db8:99::/64)",
            ],
        ),
        (
            &site.replace("arch: arm64, ", "arch: arm64, loader: tftp, ").replace("2001:db8:98::32", "2001:db8:99::32"),
            &[
                // A Secure Boot host on a network without the signed loaders.
                "site.yaml:17: host `sb`: loader `secureboot` hands out `shimx64.efi`, but `site.bootloaders` drops it with `null`",
                // A loader file that is missing, with its package.
                "site.yaml:8: bootloader `snponly.efi`: cannot read `/nonexistent/snponly.efi`",
                "install the Debian package `ipxe`",
                // The arm64 host's GRUB: its package, for another architecture.
                "bootloader `grubaa64.efi` (for loader `tftp` of host `arm`): cannot read",
            ],
        ),
    ];
    for (site, wants) in rounds {
        let dir = common::site(&[("site.yaml", site)]);
        let o = run(dir.path(), &["build", "--no-images"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let e = stderr(&o);
        for want in wants {
            assert!(e.contains(want), "no `{want}` in\n{e}");
        }
        assert!(!dir.path().join("out").exists(), "something was written");
    }
}
