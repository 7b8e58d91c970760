//! Real racks: multi-NIC hosts (bonds, bridges, VLANs, spare NICs) in the inventory, Stacki
//! hostfiles in every shape `stack report hostfile` writes, and the networkd units a node
//! boots with. The hostfiles here are written for these tests from Stacki's documented format.

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
  prov: { address: 10.0.0.0/24, gateway: 10.0.0.1, pxe: true }
  data: { address: 10.1.0.0/24, gateway: 10.1.0.1, mtu: 9000, dns: [10.1.0.53, 10.1.0.54] }
  store: { address: 10.70.0.0/24 }
  public: { address: 192.168.8.0/24, gateway: 192.168.8.1 }
images:
  os:
    url: http://127.0.0.1:9/{version}/
    version: "1.0"
    key: key.asc
    files: { kernel: vmlinuz, initrd: initrd.img }
bootactions:
  install:
    kernel: vmlinuz.os
    ramdisk: initrd.os
    image: os
    args: "cloud-config-url={{ site.http }}/cc/{{ host.name }}.yaml console=ttyS0"
  disk: { localboot: 0 }
appliances:
  backend: { installaction: install, runaction: disk }
files:
  - { path: "cc/{{ host.name }}.yaml", template: cloud-config.yaml, hosts: backend }
  - { path: "net/{{ host.name }}.txt", template: net.txt, hosts: backend }
"#;

/// Every networkd unit of a host, for comparing with a hand-written expectation.
const NET_TEMPLATE: &str = "{% for u in host.networkd %}## {{ u.name }}\n{{ u.contents }}{% endfor %}";

fn lab(hosts: &str) -> tempfile::TempDir {
    let dir = site(&[("site.yaml", SITE), ("hosts.yaml", hosts)]);
    fs::write(dir.path().join("inventory/key.asc"), "not used without images\n").unwrap();
    fs::create_dir_all(dir.path().join("templates")).unwrap();
    fs::write(dir.path().join("templates/net.txt"), NET_TEMPLATE).unwrap();
    dir
}

fn build(dir: &Path) -> std::process::Output {
    run(dir, &["build", "--no-images", "--no-bootloaders"])
}

fn assert_has(text: &str, expected: &str) {
    assert!(text.contains(expected), "expected\n  {expected}\nin\n{text}");
}

/// `pxebake check` on these hosts fails; its messages.
fn check_error(hosts: &str) -> String {
    let dir = lab(hosts);
    let o = run(dir.path(), &["check"]);
    assert_eq!(o.status.code(), Some(2), "expected invalid input:\n{}", stderr(&o));
    stderr(&o)
}

const BOND_VLAN_HOST: &str = r#"hosts:
  - name: backend-0-0
    appliance: backend
    interfaces:
      - { network: prov, name: eth0, mac: "52:54:00:00:02:01", ip: 10.0.0.21 }
      - { name: eth1, mac: "52:54:00:00:02:02", channel: bond0 }
      - { name: eth2, mac: "52:54:00:00:02:03", channel: bond0 }
      - { name: eth3, mac: "52:54:00:00:02:04" }
      - { name: bond0, network: data, ip: 10.1.0.21, default: true, options: "mode=802.3ad miimon=100 lacp_rate=fast xmit_hash_policy=layer3+4" }
      - { name: bond0.70, network: store, ip: 10.70.0.21, vlan: 70 }
"#;

/// Written from systemd.netdev(5) and systemd.network(5): the bond and its VLAN as netdevs; the
/// members by their permanent MAC (the bond gives them its own); the address, jumbo MTU and
/// default route on the bond; the PXE NIC keeps DHCP but not its router as default route; the
/// spare eth3 gets nothing.
const BOND_VLAN_UNITS: &str = "\
## 10-bond0.70.netdev
[NetDev]
Name=bond0.70
Kind=vlan

[VLAN]
Id=70
## 10-bond0.netdev
[NetDev]
Name=bond0
Kind=bond

[Bond]
Mode=802.3ad
MIIMonitorSec=100ms
LACPTransmitRate=fast
TransmitHashPolicy=layer3+4
## 20-bond0.70.network
[Match]
Name=bond0.70

[Network]
Address=10.70.0.21/24
## 20-bond0.network
[Match]
Name=bond0

[Link]
MTUBytes=9000

[Network]
Address=10.1.0.21/24
Gateway=10.1.0.1
DNS=10.1.0.53
DNS=10.1.0.54
VLAN=bond0.70
## 20-eth0.network
[Match]
MACAddress=52:54:00:00:02:01

[Network]
DHCP=ipv4

[DHCPv4]
UseGateway=false
## 20-eth1.network
[Match]
PermanentMACAddress=52:54:00:00:02:02

[Network]
Bond=bond0
## 20-eth2.network
[Match]
PermanentMACAddress=52:54:00:00:02:03

[Network]
Bond=bond0
";

#[test]
fn a_bond_with_a_vlan_boots_with_the_networkd_units_written_from_the_man_pages() {
    let dir = lab(BOND_VLAN_HOST);
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let units = fs::read_to_string(dir.path().join("out/http/net/backend-0-0.txt")).unwrap();
    assert_eq!(units, BOND_VLAN_UNITS);
    // The cloud-config carries them as coreos units (networkd units for coreos-cloudinit).
    let cc = fs::read_to_string(dir.path().join("out/http/cc/backend-0-0.yaml")).unwrap();
    assert_has(&cc, "    - name: \"10-bond0.netdev\"\n      content: \"[NetDev]\\nName=bond0\\nKind=bond\\n");
    assert_has(&cc, "    - name: \"20-eth1.network\"\n");
    // DHCP reserves the host's name for its PXE NIC only, not for bond members or spare NICs.
    let dhcp = fs::read_to_string(dir.path().join("out/etc/dnsmasq.hosts/backend-0-0")).unwrap();
    assert!(dhcp.ends_with("\n52:54:00:00:02:01,10.0.0.21,backend-0-0\n"), "{dhcp}");
    assert_eq!(dhcp.matches("52:54").count(), 1, "{dhcp}");
}

#[test]
fn a_bridge_over_a_bond_with_a_vlan_and_the_primary_member() {
    let hosts = r#"hosts:
  - name: backend-0-0
    appliance: backend
    interfaces:
      - { network: prov, name: eth0, mac: "52:54:00:00:02:01", ip: 10.0.0.21, default: true }
      - { name: eth1, mac: "52:54:00:00:02:02", channel: bond0 }
      - { name: eth2, mac: "52:54:00:00:02:03", channel: bond0 }
      - { name: bond0, channel: br0, options: "bonding-opts=\"mode=1 primary=eth2\"" }
      - { name: br0, options: bridge, network: public, ip: 192.168.8.21 }
      - { name: br0.77, network: store, ip: 10.70.0.21, vlan: 77 }
"#;
    let dir = lab(hosts);
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let units = fs::read_to_string(dir.path().join("out/http/net/backend-0-0.txt")).unwrap();
    for part in [
        "## 10-bond0.netdev\n[NetDev]\nName=bond0\nKind=bond\n\n[Bond]\nMode=active-backup\n## ",
        "## 10-br0.77.netdev\n[NetDev]\nName=br0.77\nKind=vlan\n\n[VLAN]\nId=77\n## ",
        "## 10-br0.netdev\n[NetDev]\nName=br0\nKind=bridge\n## ",
        "## 20-bond0.network\n[Match]\nName=bond0\n\n[Network]\nBridge=br0\n## ",
        // Not the default interface: no gateway on the bridge.
        "## 20-br0.network\n[Match]\nName=br0\n\n[Network]\nAddress=192.168.8.21/24\nVLAN=br0.77\n## ",
        "## 20-eth2.network\n[Match]\nPermanentMACAddress=52:54:00:00:02:03\n\n[Network]\nBond=bond0\nPrimarySlave=true\n",
    ] {
        assert_has(&units, part);
    }
    // The PXE NIC is the default: Flatcar's own DHCP default serves it, no unit of ours.
    assert!(!units.contains("20-eth0.network"), "{units}");
}

#[test]
fn a_host_with_only_its_pxe_nic_gets_no_units() {
    let dir = lab("hosts:\n  - { name: n1, appliance: backend, interfaces: [{ network: prov, mac: \"52:54:00:00:01:01\", ip: 10.0.0.11 }] }\n");
    assert!(build(dir.path()).status.success());
    assert_eq!(fs::read_to_string(dir.path().join("out/http/net/n1.txt")).unwrap(), "");
}

// One test per rule of the inventory's interfaces (Stacki's rules), each with file:line.

#[test]
fn two_default_interfaces_are_refused() {
    let err = check_error(
        "hosts:\n  - name: n1\n    appliance: backend\n    interfaces:\n      - { network: prov, name: eth0, ip: 10.0.0.11, default: true }\n      - { network: data, name: eth1, ip: 10.1.0.11, default: true }\n",
    );
    assert_has(
        &err,
        "inventory/hosts.yaml:6: host `n1`: more than one default interface (the first at inventory/hosts.yaml:5)",
    );
}

#[test]
fn a_bond_without_members_is_refused() {
    let err = check_error("hosts:\n  - name: n1\n    appliance: backend\n    interfaces:\n      - { name: bond0, network: data, ip: 10.1.0.11 }\n");
    assert_has(&err, "inventory/hosts.yaml:5: host `n1`: bond `bond0` has no members; add `channel: bond0`");
}

#[test]
fn vlan_ids_are_1_to_4094() {
    for bad in ["0", "4095", "-3"] {
        let err = check_error(&format!(
            "hosts:\n  - name: n1\n    appliance: backend\n    interfaces:\n      - {{ name: eth0.7, network: store, ip: 10.70.0.11, vlan: {bad} }}\n"
        ));
        assert_has(&err, &format!("inventory/hosts.yaml:5: host `n1`: vlan {bad} is outside 1..4094"));
    }
}

#[test]
fn one_ip_twice_is_refused_on_one_vlan_and_allowed_on_two() {
    let iface = |vlan: u32, dev: &str| format!("{{ name: {dev}, network: store, ip: 10.70.0.11, vlan: {vlan} }}");
    let hosts = |a: String, b: String| {
        format!("hosts:\n  - name: n1\n    appliance: backend\n    interfaces:\n      - {a}\n  - name: n2\n    appliance: backend\n    interfaces:\n      - {b}\n")
    };
    let err = check_error(&hosts(iface(70, "eth0.70"), iface(70, "eth0.70")));
    assert_has(
        &err,
        "inventory/hosts.yaml:9: host `n2`: ip `10.70.0.11` is already used by host `n1` (inventory/hosts.yaml:5)",
    );
    let dir = lab(&hosts(iface(70, "eth0.70"), iface(71, "eth0.71")));
    let o = run(dir.path(), &["check"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn interface_names_are_unique_per_host() {
    let err = check_error(
        "hosts:\n  - name: n1\n    appliance: backend\n    interfaces:\n      - { name: eth0, network: prov, ip: 10.0.0.11 }\n      - { name: eth0, network: data, ip: 10.1.0.11 }\n",
    );
    assert_has(
        &err,
        "inventory/hosts.yaml:6: host `n1`: interface `eth0` is defined twice (first at inventory/hosts.yaml:5)",
    );
}

#[test]
fn an_ip_needs_a_network_and_lies_inside_it() {
    let err = check_error(
        "hosts:\n  - name: n1\n    appliance: backend\n    interfaces:\n      - { name: eth0, ip: 10.0.0.11 }\n      - { name: eth1, network: data, ip: 10.2.0.11 }\n",
    );
    assert_has(&err, "inventory/hosts.yaml:5: host `n1`: ip `10.0.0.11` needs the `network` it is on");
    assert_has(&err, "inventory/hosts.yaml:6: host `n1`: ip `10.2.0.11` is outside network `data` (10.1.0.0/24)");
}

#[test]
fn a_channel_names_a_bond_or_bridge_of_the_host_and_bond_options_are_known() {
    let err = check_error(
        "hosts:\n  - name: n1\n    appliance: backend\n    interfaces:\n      - { name: eth1, channel: bond1 }\n      - { name: eth2, channel: eth3 }\n      - { name: eth3 }\n      - { name: bond0, options: \"mode=9 frobnicate=1\" }\n      - { name: eth4, channel: bond0 }\n",
    );
    assert_has(
        &err,
        "inventory/hosts.yaml:5: host `n1`: channel `bond1` is no interface of this host (did you mean `bond0`?)",
    );
    assert_has(&err, "inventory/hosts.yaml:6: host `n1`: channel `eth3` is neither a bond nor a bridge");
    assert_has(&err, "inventory/hosts.yaml:8: host `n1`: bond `bond0`: bonding option `mode=9`: expected one of balance-rr, active-backup");
}

#[test]
fn interfaces_without_network_ip_or_mac_are_fine_and_one_must_be_the_default() {
    let hosts = "hosts:\n  - name: n1\n    appliance: backend\n    interfaces:\n      - { network: prov, name: eth0, mac: \"52:54:00:00:01:01\", ip: 10.0.0.11 }\n      - { name: eth1 }\n      - { mac: \"52:54:00:00:01:02\" }\n";
    // As Stacki: with several interfaces, which one carries the default route is never guessed.
    let err = check_error(hosts);
    assert_has(
        &err,
        "host `n1` has 3 interfaces and none is `default: true`; mark the one that carries its default route",
    );
    let dir = lab(&hosts.replacen("ip: 10.0.0.11 }", "ip: 10.0.0.11, default: true }", 1));
    let o = run(dir.path(), &["list", "host", "interface", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let defaults: Vec<bool> = v.as_array().unwrap().iter().map(|i| i["default"].as_bool().unwrap()).collect();
    assert_eq!(defaults, [true, false, false]);
}

#[test]
fn list_host_interface_is_stackis_table() {
    let dir = lab(BOND_VLAN_HOST);
    let o = run(dir.path(), &["list", "host", "interface", "backend-0-0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "HOST         INTERFACE DEFAULT NETWORK MAC               IP         NAME        CHANNEL OPTIONS                                                          VLAN\n\
         backend-0-0: eth0      false   prov    52:54:00:00:02:01 10.0.0.21  -           -       -                                                                -\n\
         backend-0-0: eth1      false   -       52:54:00:00:02:02 -          -           bond0   -                                                                -\n\
         backend-0-0: eth2      false   -       52:54:00:00:02:03 -          -           bond0   -                                                                -\n\
         backend-0-0: eth3      false   -       52:54:00:00:02:04 -          -           -       -                                                                -\n\
         backend-0-0: bond0     true    data    -                 10.1.0.21  backend-0-0 -       mode=802.3ad miimon=100 lacp_rate=fast xmit_hash_policy=layer3+4 -\n\
         backend-0-0: bond0.70  false   store   -                 10.70.0.21 -           -       -                                                                70\n"
    );
    let o = run(dir.path(), &["list", "interface", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[4]["type"], "bond");
    assert_eq!(v[5]["vlan"], 70);
}

// Hostfiles.

/// A new site (networks, appliances, bootactions, one host without interfaces) to import into.
fn fresh() -> tempfile::TempDir {
    lab("hosts:\n  - { name: spare, appliance: backend }\n")
}

fn import(dir: &Path, csv: &str) -> std::process::Output {
    fs::write(dir.join("hosts.csv"), csv).unwrap();
    run(dir, &["import", "hostfile", "hosts.csv", "--out", "inventory/rack.yaml"])
}

/// The shapes of Stacki's example spreadsheets (network/*.csv), each with data of our own.
const SHAPES: [(&str, &str); 7] = [
    (
        "basic",
        "NAME,INTERFACE HOSTNAME,DEFAULT,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK,CHANNEL,OPTIONS,VLAN,INSTALLACTION,RUNACTION,GROUPS,BOX\n\
         backend-0-0,,True,backend,0,0,10.0.0.10,52:54:00:10:00:00,eth0,prov,,,,install,disk,,default\n\
         backend-0-1,,True,backend,0,1,10.0.0.11,52:54:00:10:00:01,eth0,prov,,,,install,disk,,default\n",
    ),
    (
        "multi",
        "NAME,DEFAULT,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK,CHANNEL,OPTIONS,VLAN\n\
         backend-0-0,,backend,0,0,,52:54:00:20:00:00,eno1,,,,\n\
         backend-0-0,TRUE,,,,10.0.0.20,52:54:00:20:00:01,eno2,prov,,,\n\
         backend-0-0,,,,,192.168.8.20,52:54:00:20:00:02,eno3,public,,,\n",
    ),
    (
        "bonding",
        "NAME,DEFAULT,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK,CHANNEL,OPTIONS,VLAN\n\
         backend-0-0,TRUE,backend,0,0,10.1.0.30,,bond0,data,,\"bonding-opts=\"\"mode=1 primary=em1\"\"\",\n\
         backend-0-0,,,,,,52:54:00:30:00:00,em1,,bond0,,\n\
         backend-0-0,,,,,,52:54:00:30:00:01,em2,,bond0,,\n\
         backend-0-0,,,,,,52:54:00:30:00:02,em3,,,,\n",
    ),
    (
        "bridging",
        "NAME,DEFAULT,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK,CHANNEL,OPTIONS,VLAN\n\
         backend-0-0,TRUE,backend,0,0,192.168.8.40,,br0,public,,bridge,\n\
         backend-0-0,,,,,,52:54:00:40:00:00,em1,,br0,,\n\
         backend-0-0,,,,,,52:54:00:40:00:01,em2,,,,\n",
    ),
    (
        "vlan",
        "NAME,DEFAULT,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK,CHANNEL,OPTIONS,VLAN\n\
         backend-0-0,,backend,0,0,,52:54:00:50:00:00,eno1,,,,\n\
         backend-0-0,TRUE,,,,10.0.0.50,52:54:00:50:00:01,eno2,prov,,,\n\
         backend-0-0,,,,,192.168.8.50,52:54:00:50:00:02,eno3,public,,,\n\
         backend-0-0,,,,,10.70.0.50,,eno3.70,store,,,70\n",
    ),
    (
        "bonding+vlan",
        "NAME,DEFAULT,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK,CHANNEL,OPTIONS,VLAN\n\
         node60,TRUE,backend,0,0,10.0.0.60,52:54:00:60:00:00,eno1,prov,,,\n\
         node60,,,,,,52:54:00:60:00:01,eno2,,bond0,,\n\
         node60,,,,,,52:54:00:60:00:02,eno3,,bond0,,\n\
         node60,,,,,,,bond0,,,\"bonding-opts=\"\"mode=4 miimon=100\"\"\",\n\
         node60,,,,,10.70.0.60,,bond0.70,store,,,70\n",
    ),
    (
        "bonding+bridging+vlan",
        "NAME,DEFAULT,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK,CHANNEL,OPTIONS,VLAN\n\
         backend-0-0,TRUE,backend,0,0,10.0.0.70,52:54:00:70:00:00,eno1,prov,,,\n\
         backend-0-0,,,,,,52:54:00:70:00:01,eno2,,bond0,,\n\
         backend-0-0,,,,,,52:54:00:70:00:02,eno3,,bond0,,\n\
         backend-0-0,,,,,,,bond0,,br0,\"bonding-opts=\"\"mode=1 primary=eno2\"\"\",\n\
         backend-0-0,,,,,192.168.8.70,,br0,public,,bridge,\n\
         backend-0-0,,,,,10.70.0.70,,br0.77,store,,,77\n",
    ),
];

#[test]
fn every_shape_of_stackis_example_spreadsheets_imports_and_builds() {
    for (shape, csv) in SHAPES {
        let dir = fresh();
        let o = import(dir.path(), csv);
        assert!(o.status.success(), "{shape}: {}", stderr(&o));
        let o = build(dir.path());
        assert!(o.status.success(), "{shape}: {}", stderr(&o));
        // The same file again changes nothing.
        let before = fs::read_to_string(dir.path().join("inventory/rack.yaml")).unwrap();
        let o = import(dir.path(), csv);
        assert!(o.status.success(), "{shape}: {}", stderr(&o));
        assert_has(&stderr(&o), "0 changes");
        assert_eq!(fs::read_to_string(dir.path().join("inventory/rack.yaml")).unwrap(), before, "{shape}");
    }
}

#[test]
fn the_bonding_shape_becomes_this_yaml() {
    let dir = fresh();
    assert!(import(dir.path(), SHAPES[2].1).status.success());
    let yaml = fs::read_to_string(dir.path().join("inventory/rack.yaml")).unwrap();
    assert_has(
        &yaml,
        "  - name: backend-0-0\n    appliance: backend\n    rack: 0\n    rank: 0\n    interfaces:\n\
         \x20     - { network: data, name: bond0, ip: 10.1.0.30, default: true, options: \"bonding-opts=\\\"mode=1 primary=em1\\\"\" }\n\
         \x20     - { name: em1, mac: \"52:54:00:30:00:00\", channel: bond0 }\n\
         \x20     - { name: em2, mac: \"52:54:00:30:00:01\", channel: bond0 }\n\
         \x20     - { name: em3, mac: \"52:54:00:30:00:02\" }\n",
    );
}

/// What `stack report hostfile` writes: all 18 columns, a host's fields on its first row only.
const REPORT: &str = "\
NAME,INTERFACE HOSTNAME,DEFAULT,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK,CHANNEL,OPTIONS,VLAN,INSTALLACTION,OSACTION,GROUPS,BOX,COMMENT
backend-0-0,backend-0-0,True,backend,0,0,10.0.0.80,52:54:00:80:00:00,eth0,prov,,,,install,disk,\"gpu,ssd\",default,row one
backend-0-0,b00-data,False,,,,10.1.0.80,,bond0,data,,mode=1,,,,,,
backend-0-0,backend-0-0,False,,,,,52:54:00:80:00:01,eth1,,bond0,,,,,,,
backend-0-0,backend-0-0,False,,,,,52:54:00:80:00:02,eth2,,bond0,,,,,,,
backend-0-1,backend-0-1,True,backend,0,1,10.0.0.81,52:54:00:80:01:00,eth0,prov,,,,install,disk,gpu,default,
";

#[test]
fn a_stack_report_hostfile_imports_with_groups_a_selector_can_use() {
    let dir = fresh();
    let o = import(dir.path(), REPORT);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_has(&stderr(&o), "added host `backend-0-0`\nadded host `backend-0-1`\n2 changes, 0 hosts unchanged");
    let o = run(dir.path(), &["list", "host", "group:ssd", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["host"], "backend-0-0");
    let o = run(dir.path(), &["list", "host", "group:nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert_has(&stderr(&o), "selector `group:nope`: no host is in group `nope`");
    let o = run(dir.path(), &["list", "host", "interface", "group:gpu", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[1]["name"], "b00-data");
    assert_eq!(v[1]["options"], "mode=1");
    assert!(build(dir.path()).status.success());
    // The host's own name in INTERFACE HOSTNAME is no DNS name of its own.
    let yaml = fs::read_to_string(dir.path().join("inventory/rack.yaml")).unwrap();
    assert_eq!(yaml.matches("hostname:").count(), 1, "{yaml}");
}

#[test]
fn rows_need_not_be_adjacent_headers_are_any_case_and_comments_and_blank_rows_are_skipped() {
    let dir = fresh();
    let csv = "# exported from the old frontend\nname,Appliance,ip,mac,interface,network,default\n\
               backend-0-0,backend,10.0.0.90,52:54:00:90:00:00,ETH0,prov,true\n\n\
               backend-0-1,backend,10.0.0.91,52:54:00:90:01:00,eth0,prov,\n\
               # the second NIC of backend-0-0\n\
               BACKEND-0-0,,192.168.8.90,52:54:00:90:00:01,eth1,PUBLIC,\n";
    let o = import(dir.path(), csv);
    assert!(o.status.success(), "{}", stderr(&o));
    let yaml = fs::read_to_string(dir.path().join("inventory/rack.yaml")).unwrap();
    // Rack and rank from `appliance-rack-rank` names; names lower-cased as Stacki does.
    assert_has(&yaml, "  - name: backend-0-0\n    appliance: backend\n    rack: 0\n    rank: 0\n    interfaces:\n      - { network: prov, name: eth0, mac: \"52:54:00:90:00:00\", ip: 10.0.0.90, default: true }\n      - { network: public, name: eth1, mac: \"52:54:00:90:00:01\", ip: 192.168.8.90 }\n  - name: backend-0-1\n");
}

#[test]
fn a_bad_cell_is_named_by_row_and_column_and_conflicting_rows_by_both_rows() {
    let dir = fresh();
    let csv = "NAME,APPLIANCE,RACK,IP,MAC,INTERFACE,NETWORK,VLAN,DEFAULT,SHOE SIZE\n\
               backend-0-0,backend,0,10.0.0.10,52:54:00:10:00:00,eth0,prov,,yes,\n\
               backend-0-1,backend,1,10.0.0.11,52:54:00:10:00:01,eth0,prov,,,\n\
               backend-0-0,backend,2,,52:54:00:10:00:02,eth1,,,true,\n\
               backend-0-1,,,10.0.0.12,,eth0.5000,prov,5000,,\n\
               backend-0-1,,,10.0.0.11,,eth2,prov,,,\n\
               backend-0-1,,,,,eth0,,,,\n";
    let o = import(dir.path(), csv);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    for expected in [
        "warning: hosts.csv:1: unknown column `SHOE SIZE` is ignored",
        "hosts.csv:4: column RACK: host `backend-0-0` has RACK `2` here but `0` on row 2; give one value",
        "hosts.csv:4: column DEFAULT: host `backend-0-0` has a second default interface (the first on row 2)",
        "hosts.csv:5: column VLAN: `5000` is not a VLAN id (1..4094)",
        "hosts.csv:6: column IP: `10.0.0.11` is already used on row 3 (same VLAN)",
        "hosts.csv:7: column INTERFACE: host `backend-0-1` has interface `eth0` twice (first on row 3)",
    ] {
        assert_has(&err, expected);
    }
    assert!(!dir.path().join("inventory/rack.yaml").exists(), "nothing written");
}

#[test]
fn ip_auto_takes_the_next_free_addresses_in_file_order_and_keeps_them_on_reimport() {
    let dir = lab("hosts:\n  - { name: n1, appliance: backend, interfaces: [{ network: prov, ip: 10.0.0.2 }] }\n");
    let csv = "NAME,APPLIANCE,IP,INTERFACE,NETWORK\n\
               backend-0-0,backend,auto,eth0,prov\n\
               backend-0-1,backend,10.0.0.3,eth0,prov\n\
               backend-0-2,backend,AUTO,eth0,prov\n";
    assert!(import(dir.path(), csv).status.success());
    let yaml = fs::read_to_string(dir.path().join("inventory/rack.yaml")).unwrap();
    // .1 is the frontend and gateway, .2 is n1's, .3 is taken in the file.
    assert_has(&yaml, "name: backend-0-0\n    appliance: backend\n    rack: 0\n    rank: 0\n    interfaces:\n      - { network: prov, name: eth0, ip: 10.0.0.4 }\n");
    assert_has(&yaml, "name: backend-0-2\n    appliance: backend\n    rack: 0\n    rank: 2\n    interfaces:\n      - { network: prov, name: eth0, ip: 10.0.0.5 }\n");
    let o = import(dir.path(), csv);
    assert_has(&stderr(&o), "0 changes, 3 hosts unchanged");
    // An address another host keeps is refused at its cell.
    let o = import(dir.path(), "NAME,APPLIANCE,IP,INTERFACE,NETWORK\nbackend-0-9,backend,10.0.0.2,eth0,prov\n");
    assert_eq!(o.status.code(), Some(2));
    assert_has(&stderr(&o), "hosts.csv:2: column IP: `10.0.0.2` is already used by host `n1` (inventory/hosts.yaml:2)");
}

#[test]
fn importing_again_updates_the_hosts_and_says_what_changed() {
    let dir = fresh();
    let csv = "NAME,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK\n\
               backend-0-0,backend,0,0,10.0.0.10,52:54:00:10:00:00,eth0,prov\n\
               backend-0-1,backend,0,1,10.0.0.11,52:54:00:10:00:01,eth0,prov\n";
    assert!(import(dir.path(), csv).status.success());
    // Hand edits to the imported file survive (attributes), hosts not in the file stay.
    let path = dir.path().join("inventory/rack.yaml");
    let edited =
        fs::read_to_string(&path).unwrap().replace("    rank: 1\n", "    rank: 1\n    attributes: { role: db }\n");
    fs::write(&path, edited).unwrap();
    let csv2 = "NAME,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK\n\
                backend-0-1,backend,3,1,10.0.0.21,52:54:00:10:00:01,eth0,prov\n\
                backend-0-2,backend,0,2,10.0.0.12,52:54:00:10:00:02,eth0,prov\n";
    let o = import(dir.path(), csv2);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_has(
        &stderr(&o),
        "updated host `backend-0-1`: rack 0 -> 3, interfaces\nadded host `backend-0-2`\n2 changes, 0 hosts unchanged",
    );
    let yaml = fs::read_to_string(&path).unwrap();
    assert_has(&yaml, "  - name: backend-0-0\n");
    assert_has(&yaml, "    attributes: {\"role\":\"db\"}\n");
    assert_has(&yaml, "ip: 10.0.0.21 }");
}

#[test]
fn hosts_in_hand_written_yaml_are_not_rewritten() {
    let dir =
        lab("hosts:\n  - { name: backend-0-0, appliance: backend, interfaces: [{ network: prov, ip: 10.0.0.2 }] }\n");
    let o = import(dir.path(), "NAME,APPLIANCE,IP,INTERFACE,NETWORK\nbackend-0-0,backend,10.0.0.3,eth0,prov\n");
    assert_eq!(o.status.code(), Some(2));
    assert_has(&stderr(&o), "hosts.csv:2: column NAME: host `backend-0-0` is already defined at inventory/hosts.yaml:2, outside `inventory/rack.yaml`");
    assert!(!dir.path().join("inventory/rack.yaml").exists());
}

#[test]
fn an_inventory_that_does_not_load_gets_nothing_written() {
    let dir = lab("hosts:\n  - { name: n1, appliance: nobody }\n");
    let o = import(dir.path(), "NAME,APPLIANCE,IP,INTERFACE,NETWORK\nbackend-0-0,backend,10.0.0.3,eth0,prov\n");
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_has(&err, "the inventory does not load, so the hostfile cannot be checked against it");
    assert_has(&err, "inventory/hosts.yaml:2: host `n1`: unknown appliance `nobody`");
    assert!(!dir.path().join("inventory/rack.yaml").exists());
}

#[test]
fn the_inventory_rules_apply_to_imported_hosts() {
    let dir = fresh();
    let csv = "NAME,APPLIANCE,IP,MAC,INTERFACE,NETWORK,CHANNEL,OPTIONS\n\
               backend-0-0,backend,10.0.0.10,52:54:00:10:00:00,eth0,prov,,\n\
               backend-0-0,,,52:54:00:10:00:01,eth1,,bond0,\n\
               backend-0-0,,,,bond0,,,mode=7\n\
               backend-0-0,,,,bond1,,,\n";
    let o = import(dir.path(), csv);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_has(&err, "hosts.csv:5: column INTERFACE: bond `bond1` of host `backend-0-0` has no members");
    assert_has(
        &err,
        "hosts.csv:4: column OPTIONS: bond `bond0` of host `backend-0-0`: bonding option `mode=7`: expected one of",
    );
    assert!(!dir.path().join("inventory/rack.yaml").exists());
}

#[test]
fn the_flatcar_butane_template_writes_the_units_under_etc_systemd_network() {
    // Rendered from the Butane template and translated: the Ignition config carries the units.
    let site = SITE.replace(
        "  - { path: \"net/{{ host.name }}.txt\"",
        "  - { path: \"ign/{{ host.name }}.ign\", template: flatcar.bu, hosts: backend }\n  - { path: \"net/{{ host.name }}.txt\"",
    );
    let dir = lab(BOND_VLAN_HOST);
    fs::write(dir.path().join("inventory/site.yaml"), site).unwrap();
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(dir.path().join("out/http/ign/backend-0-0.ign")).unwrap();
    let ign: serde_json::Value = serde_json::from_str(&text).unwrap();
    let files = ign["storage"]["files"].as_array().unwrap();
    let file = |path: &str| {
        files.iter().find(|f| f["path"].as_str() == Some(path)).unwrap_or_else(|| panic!("{path} in\n{text}"))
    };
    let bond = file("/etc/systemd/network/10-bond0.netdev");
    assert_eq!(bond["mode"], 420, "0644: {text}");
    let expected = BOND_VLAN_UNITS.split("## 10-bond0.netdev\n").nth(1).unwrap().split("## ").next().unwrap();
    assert_eq!(data_url_contents(&bond["contents"]), expected);
    file("/etc/systemd/network/20-eth2.network");
    assert!(!text.contains("20-eth3"), "the spare NIC gets no unit");
}

/// The text an Ignition `contents` (a `data:` URL, maybe gzipped) stands for.
fn data_url_contents(contents: &serde_json::Value) -> String {
    let mut bytes = data_url_bytes(contents["source"].as_str().unwrap()).unwrap();
    if contents["compression"] == "gzip" {
        bytes = gunzip(&bytes).unwrap();
    }
    String::from_utf8(bytes).unwrap()
}
