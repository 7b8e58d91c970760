//! A host's network as systemd-networkd units (systemd.network(5), systemd.netdev(5)), built
//! from the validated inventory so no inventory text is spliced into a template.
//!
//! The PXE interface keeps DHCP (dnsmasq hands it its reserved address; when another interface
//! is the default, its DHCP router is not used as the default route); every other
//! interface gets its static address, bonds and bridges get a `.netdev` and their members a
//! `Bond=`/`Bridge=` line, VLANs a `.netdev` on their parent, and the default interface the
//! network's gateway. Interfaces with nothing to configure (spare NICs) get no unit.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::inventory::{Host, Interface, InterfaceKind, Network};
use crate::names::Mac;

/// One unit file for /etc/systemd/network/.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    pub name: String,
    pub contents: String,
}

/// Bonding options as networkd `[Bond]` settings, plus the primary member.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BondOptions {
    pub settings: Vec<(&'static str, String)>,
    pub primary: Option<String>,
}

const BOND_KEYS: &str = "mode, miimon, updelay, downdelay, arp_interval, lacp_rate, xmit_hash_policy, ad_select, min_links, primary, primary_reselect, fail_over_mac";

/// Parses Linux bonding options (`mode=1 miimon=100`, or Stacki's `bonding-opts="..."`).
pub fn bond_options(text: &str, members: &[&str]) -> Result<BondOptions, String> {
    let mut t = text.trim();
    if t.len() >= 13 && t[..13].eq_ignore_ascii_case("bonding-opts=") {
        t = &t[13..];
    }
    let t = t.trim_matches(|c| c == '"' || c == '\'');
    let mut out = BondOptions::default();
    let pick = |v: &str, names: &[&'static str]| -> Option<&'static str> {
        names
            .iter()
            .position(|n| *n == v)
            .or_else(|| v.parse::<usize>().ok().filter(|i| *i < names.len()))
            .map(|i| names[i])
    };
    for opt in t.split_whitespace() {
        let Some((k, v)) = opt.split_once('=') else {
            return Err(format!("bonding option `{opt}` is not `key=value`"));
        };
        let bad = |what: &str| format!("bonding option `{k}={v}`: {what}");
        let ms = || v.parse::<u32>().map(|n| format!("{n}ms")).map_err(|_| bad("expected milliseconds"));
        let one_of = |names: &[&'static str]| {
            pick(v, names).map(str::to_string).ok_or_else(|| bad(&format!("expected one of {}", names.join(", "))))
        };
        let setting = match k {
            "mode" => (
                "Mode",
                one_of(&[
                    "balance-rr",
                    "active-backup",
                    "balance-xor",
                    "broadcast",
                    "802.3ad",
                    "balance-tlb",
                    "balance-alb",
                ])?,
            ),
            "miimon" => ("MIIMonitorSec", ms()?),
            "updelay" => ("UpDelaySec", ms()?),
            "downdelay" => ("DownDelaySec", ms()?),
            "arp_interval" => ("ARPIntervalSec", ms()?),
            "lacp_rate" => ("LACPTransmitRate", one_of(&["slow", "fast"])?),
            "xmit_hash_policy" => {
                ("TransmitHashPolicy", one_of(&["layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4"])?)
            }
            "ad_select" => ("AdSelect", one_of(&["stable", "bandwidth", "count"])?),
            "min_links" => ("MinLinks", v.parse::<u32>().map(|n| n.to_string()).map_err(|_| bad("expected a number"))?),
            "primary_reselect" => ("PrimaryReselectPolicy", one_of(&["always", "better", "failure"])?),
            "fail_over_mac" => ("FailOverMACPolicy", one_of(&["none", "active", "follow"])?),
            "primary" => {
                if !members.contains(&v) {
                    return Err(bad("the primary must be a member of the bond (an interface with this channel)"));
                }
                out.primary = Some(v.to_string());
                continue;
            }
            _ => return Err(format!("unknown bonding option `{k}`; known: {BOND_KEYS}")),
        };
        out.settings.push(setting);
    }
    Ok(out)
}

/// The `.network` of one link, gathered from the interfaces that concern it.
#[derive(Default)]
struct Link {
    mac: Option<Mac>,
    /// Bond members: the bond gives them its MAC, so match the permanent one.
    permanent: bool,
    mtu: Option<u32>,
    dhcp: bool,
    /// A DHCP link that is not the default interface: its DHCP router is not the default route.
    no_gateway: bool,
    address: Option<(Ipv4Addr, u8)>,
    gateway: Option<Ipv4Addr>,
    /// DNS servers of the default interface's network (a DHCP link learns them from DHCP).
    dns: Vec<Ipv4Addr>,
    bond: Option<String>,
    bridge: Option<String>,
    primary: bool,
    vlans: Vec<String>,
}

/// The VLAN device and its parent: `eth0.70` is on `eth0`; a plain `eth0` with `vlan: 70`
/// means the device `eth0.70` on `eth0`.
fn vlan_devices(name: &str, vlan: u16) -> (String, String) {
    match name.rsplit_once('.') {
        Some((parent, _)) => (name.to_string(), parent.to_string()),
        None => (format!("{name}.{vlan}"), name.to_string()),
    }
}

/// The networkd units for `host`, sorted by file name; empty for a host with only a PXE NIC
/// (Flatcar's own default `.network` runs DHCP on it).
pub fn units(host: &Host, networks: &BTreeMap<String, Network>) -> Vec<Unit> {
    let pxe: HashSet<*const Interface> = host.pxe_interfaces(networks).map(|(i, _, _)| i as *const _).collect();
    let is_pxe = |i: &Interface| pxe.contains(&(i as *const _));
    let default_is_pxe = host.interfaces.iter().find(|i| i.default).is_none_or(is_pxe);
    let by_name = |dev: &str| host.interfaces.iter().find(|i| i.name.as_deref() == Some(dev));
    let members_of = |dev: &str| -> Vec<&str> {
        host.interfaces.iter().filter(|m| m.channel.as_deref() == Some(dev)).filter_map(|m| m.name.as_deref()).collect()
    };
    let options_of = |bond: &Interface| {
        let dev = bond.name.as_deref().unwrap_or("");
        bond_options(bond.options.as_deref().unwrap_or(""), &members_of(dev)).unwrap_or_default()
    };
    // The address settings of an interface on its own link (not a VLAN device).
    let link_of = |i: &Interface| {
        let network = i.network.as_ref().and_then(|n| networks.get(n));
        let mut l = Link {
            mac: i.mac.filter(|_| i.kind == InterfaceKind::Ethernet),
            mtu: network.map(|n| n.mtu).filter(|m| *m != 1500),
            dhcp: is_pxe(i),
            no_gateway: is_pxe(i) && !default_is_pxe,
            ..Link::default()
        };
        if let (false, Some(ip), Some(n)) = (is_pxe(i), i.ip, network) {
            l.address = Some((ip, n.prefix));
            l.gateway = n.gateway.filter(|_| i.default);
            if i.default {
                l.dns.clone_from(&n.dns);
            }
        }
        if let Some(c) = &i.channel {
            match by_name(c) {
                Some(t) if t.kind == InterfaceKind::Bridge => l.bridge = Some(c.clone()),
                t => {
                    l.bond = Some(c.clone());
                    l.permanent = true;
                    l.primary = t.is_some_and(|b| options_of(b).primary.is_some() && options_of(b).primary == i.name);
                }
            }
        }
        l
    };
    let key_of = |i: &Interface| i.name.clone().or_else(|| i.mac.map(|m| m.hyphenated()));
    let mut links: BTreeMap<String, Link> = BTreeMap::new();
    let mut netdevs: BTreeMap<String, String> = BTreeMap::new();
    for i in &host.interfaces {
        let Some(key) = key_of(i) else { continue }; // nothing to match it by
        if let (Some(name), Some(vlan)) = (&i.name, i.vlan) {
            let (dev, parent) = vlan_devices(name, vlan);
            netdevs.insert(dev.clone(), format!("[NetDev]\nName={dev}\nKind=vlan\n\n[VLAN]\nId={vlan}\n"));
            let network = i.network.as_ref().and_then(|n| networks.get(n));
            let mut l = Link { mtu: network.map(|n| n.mtu).filter(|m| *m != 1500), ..Link::default() };
            if let (Some(ip), Some(n)) = (i.ip, network) {
                l.address = Some((ip, n.prefix));
                l.gateway = n.gateway.filter(|_| i.default);
            }
            links.insert(dev.clone(), l);
            let p = match by_name(&parent) {
                // `eth0` with `vlan: 70`: the entry's MAC is the parent's.
                _ if parent == *name => links.entry(parent).or_insert_with(|| Link { mac: i.mac, ..Link::default() }),
                Some(p) => links.entry(parent).or_insert_with(|| link_of(p)),
                None => links.entry(parent).or_default(),
            };
            p.vlans.push(dev);
            continue;
        }
        let needs = (i.ip.is_some() && !is_pxe(i))
            || (is_pxe(i) && !default_is_pxe)
            || i.channel.is_some()
            || i.kind != InterfaceKind::Ethernet;
        if needs {
            links.entry(key.clone()).or_insert_with(|| link_of(i));
        }
        match i.kind {
            InterfaceKind::Ethernet => {}
            InterfaceKind::Bridge => {
                netdevs.insert(key.clone(), format!("[NetDev]\nName={key}\nKind=bridge\n"));
            }
            InterfaceKind::Bond => {
                let mut text = format!("[NetDev]\nName={key}\nKind=bond\n");
                let opts = options_of(i);
                if !opts.settings.is_empty() {
                    text.push_str("\n[Bond]\n");
                    for (k, v) in &opts.settings {
                        let _ = writeln!(text, "{k}={v}");
                    }
                }
                netdevs.insert(key.clone(), text);
            }
        }
    }
    let mut out: Vec<Unit> =
        netdevs.into_iter().map(|(dev, contents)| Unit { name: format!("10-{dev}.netdev"), contents }).collect();
    for (key, l) in links {
        let mut s = String::from("[Match]\n");
        match l.mac {
            Some(mac) if l.permanent => {
                let _ = writeln!(s, "PermanentMACAddress={mac}");
            }
            Some(mac) => {
                let _ = writeln!(s, "MACAddress={mac}");
            }
            None => {
                let _ = writeln!(s, "Name={key}");
            }
        }
        if let Some(mtu) = l.mtu {
            let _ = write!(s, "\n[Link]\nMTUBytes={mtu}\n");
        }
        let mut net = String::new();
        if l.dhcp {
            net.push_str("DHCP=ipv4\n");
        }
        if let Some((ip, prefix)) = l.address {
            let _ = writeln!(net, "Address={ip}/{prefix}");
        }
        if let Some(g) = l.gateway {
            let _ = writeln!(net, "Gateway={g}");
        }
        for d in &l.dns {
            let _ = writeln!(net, "DNS={d}");
        }
        if let Some(b) = &l.bond {
            let _ = writeln!(net, "Bond={b}");
        }
        if l.primary {
            net.push_str("PrimarySlave=true\n");
        }
        if let Some(b) = &l.bridge {
            let _ = writeln!(net, "Bridge={b}");
        }
        for v in &l.vlans {
            let _ = writeln!(net, "VLAN={v}");
        }
        if net.is_empty() {
            // Up, but with no address of its own (e.g. a bond carrying only VLANs).
            net.push_str("LinkLocalAddressing=no\n");
        }
        let _ = write!(s, "\n[Network]\n{net}");
        if l.no_gateway {
            s.push_str("\n[DHCPv4]\nUseGateway=false\n");
        }
        out.push(Unit { name: format!("20-{key}.network"), contents: s });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacki_bonding_opts_become_bond_settings() {
        let o = bond_options("bonding-opts=\"mode=1 miimon=100 primary=eno3\"", &["eno3", "eno4"]).unwrap();
        assert_eq!(o.settings, [("Mode", "active-backup".to_string()), ("MIIMonitorSec", "100ms".to_string())]);
        assert_eq!(o.primary.as_deref(), Some("eno3"));
        let o = bond_options("mode=802.3ad xmit_hash_policy=layer3+4 lacp_rate=1", &[]).unwrap();
        assert_eq!(o.settings[0], ("Mode", "802.3ad".to_string()));
        assert_eq!(o.settings[2], ("LACPTransmitRate", "fast".to_string()));
        assert_eq!(bond_options("", &[]), Ok(BondOptions::default()));
    }

    #[test]
    fn bad_bonding_options_say_what_is_wrong() {
        assert!(bond_options("mode=9", &[]).unwrap_err().contains("expected one of balance-rr"));
        assert!(bond_options("miimon=fast", &[]).unwrap_err().contains("expected milliseconds"));
        assert!(bond_options("primary=eth9", &["eth1"]).unwrap_err().contains("member of the bond"));
        assert!(bond_options("frob=1", &[]).unwrap_err().starts_with("unknown bonding option `frob`"));
        assert!(bond_options("mode", &[]).unwrap_err().contains("not `key=value`"));
    }

    #[test]
    fn vlan_devices_sit_on_their_parent() {
        assert_eq!(vlan_devices("eth0.70", 70), ("eth0.70".to_string(), "eth0".to_string()));
        assert_eq!(vlan_devices("eth1", 5), ("eth1.5".to_string(), "eth1".to_string()));
    }
}
