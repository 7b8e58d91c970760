//! A host's interfaces: addresses, and the bonds, bridges and VLANs built from them, checked
//! with the rules Stacki enforces (one default, a bond has members, VLAN ids 1..4094, device
//! names unique per host, an IP needs a network and lies inside it, IPs unique per VLAN).

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{parse_ip, parse_ip6, raw, Host, Interface, InterfaceKind, Lines, Network, Origin};
use crate::diag::{did_you_mean, Diagnostics};
use crate::names::{self, Mac};
use crate::yaml::{Node, PathItem};

/// A Linux interface name: at most 15 characters, no `/`, `:` or spaces (we also keep to a
/// plain alphabet, since names end up in networkd unit file names).
pub fn check_device(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 15
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !s.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not an interface name (1-15 letters, digits, `.`, `_`, `-`, like eth0 or bond0.70)",
            names::printable(s)
        ))
    }
}

/// `ethernet`, `bond` or `bridge`: written, or implied by a `bondN` name (Stacki's rule) or
/// `options: bridge` (Stacki's bridge marker).
fn kind_of(i: &raw::Interface) -> Result<InterfaceKind, String> {
    match i.kind.as_deref() {
        Some("ethernet") => Ok(InterfaceKind::Ethernet),
        Some("bond") => Ok(InterfaceKind::Bond),
        Some("bridge") => Ok(InterfaceKind::Bridge),
        Some(other) => Err(format!("type `{}` must be `ethernet`, `bond` or `bridge`", names::printable(other))),
        None if i.options.as_deref().is_some_and(|o| o.trim().eq_ignore_ascii_case("bridge")) => {
            Ok(InterfaceKind::Bridge)
        }
        None if i.name.as_deref().is_some_and(is_bond_name) => Ok(InterfaceKind::Bond),
        None => Ok(InterfaceKind::Ethernet),
    }
}

fn is_bond_name(n: &str) -> bool {
    n.strip_prefix("bond").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// An interface's IPv6 reservation: one address, or a block of 2 to 256 (`2001:db8::40/126`) for
/// machines whose boot stages each take a DHCPv6 lease of their own (firmware, PXE, iPXE).
fn parse_block(s: &str) -> Result<ipnet::Ipv6Net, String> {
    let shown = names::printable(s);
    let Some((a, len)) = s.split_once('/') else {
        return parse_ip6(s).map(ipnet::Ipv6Net::from);
    };
    let ip = parse_ip6(a)?;
    let block = len
        .parse::<u8>()
        .ok()
        .filter(|l| (120..=128).contains(l))
        .and_then(|l| ipnet::Ipv6Net::new(ip, l).ok())
        .ok_or_else(|| format!("`{shown}`: a block of addresses is /120 to /128 (256 to 1 addresses)"))?;
    if block.trunc() != block {
        return Err(format!("`{shown}` does not start its block (did you mean `{}`?)", block.trunc()));
    }
    Ok(block)
}

/// The checks of a host's interfaces that need nothing but the host (`node`, for lines): each
/// value, and the rules across its interfaces. `finish` does the rest once the site is read.
pub(super) fn prepare(
    interfaces: Vec<raw::Interface>,
    name: &str,
    node: &Node,
    f: &str,
    d: &mut Diagnostics,
) -> Vec<Interface> {
    let shown = names::printable(name);
    let iline = |idx: usize, k: &str| {
        Some(node.line_of(&[PathItem::Key("interfaces"), PathItem::Index(idx), PathItem::Key(k)]))
    };
    let mut out = Vec::with_capacity(interfaces.len());
    for (idx, i) in interfaces.into_iter().enumerate() {
        let mut err = |k: &str, msg: String| d.error(f, iline(idx, k), format!("host `{shown}`: {msg}"));
        let kind = kind_of(&i).unwrap_or_else(|e| {
            err("type", e);
            InterfaceKind::Ethernet
        });
        let vlan = match i.vlan {
            None => None,
            Some(v) if (1..=4094).contains(&v) => Some(v as u16),
            Some(v) => {
                err("vlan", format!("vlan {v} is outside 1..4094"));
                None
            }
        };
        if vlan.is_some() && i.name.is_none() {
            err("vlan", "a VLAN interface needs `name`, its device (like eth0.70, on eth0)".into());
        }
        if let Some(h) = &i.hostname {
            if let Err(e) = names::check_dns_name(h) {
                err("hostname", format!("hostname {e}"));
            }
        }
        if let Some(Err(e)) = i.options.as_deref().map(names::check_line) {
            err("options", format!("options {e}"));
        }
        let mac = match i.mac.as_deref().map(Mac::parse) {
            None => None,
            Some(Err(e)) => {
                err("mac", format!("mac {e}"));
                None
            }
            Some(Ok(mac)) => Some(mac),
        };
        let ip = match i.ip.as_deref().map(parse_ip) {
            None => None,
            Some(Err(e)) => {
                err("ip", format!("ip {e}"));
                None
            }
            Some(Ok(ip)) => {
                if i.network.is_none() {
                    err("ip", format!("ip `{ip}` needs the `network` it is on"));
                }
                Some(ip)
            }
        };
        let ipv6 = match i.ipv6.as_deref().map(parse_block) {
            None => None,
            Some(Err(e)) => {
                err("ipv6", format!("ipv6 {e}"));
                None
            }
            Some(Ok(block)) => {
                if i.network.is_none() {
                    err("ipv6", format!("ipv6 `{}` needs the `network` it is on", shown6(block)));
                }
                if i.mac.is_none() {
                    err(
                        "ipv6",
                        format!(
                            "ipv6 `{}` needs the interface's `mac`: dnsmasq reserves DHCPv6 addresses by MAC",
                            shown6(block)
                        ),
                    );
                }
                Some((block.addr(), block.prefix_len()))
            }
        };
        out.push(Interface {
            network: i.network,
            name: i.name,
            mac,
            ip,
            ipv6: ipv6.map(|(a, _)| a),
            ipv6_prefix: ipv6.map_or(128, |(_, p)| p),
            default: i.default,
            kind,
            channel: i.channel,
            vlan,
            options: i.options,
            hostname: i.hostname,
        });
    }
    let mut devices: HashMap<&str, usize> = HashMap::new();
    for (idx, dev) in out.iter().enumerate().filter_map(|(n, i)| Some((n, i.name.as_deref()?))) {
        let mut err = |k: &str, msg: String| d.error(f, iline(idx, k), format!("host `{shown}`: {msg}"));
        match check_device(dev) {
            Err(e) => err("name", format!("interface name {e}")),
            Ok(()) => {
                if let Some(first) = devices.insert(dev, idx) {
                    devices.insert(dev, first);
                    err(
                        "name",
                        format!(
                            "interface `{dev}` is defined twice (first at {f}:{}); device names are unique per host",
                            iline(first, "name").unwrap_or(node.line)
                        ),
                    );
                }
            }
        }
    }
    // Rules across the host's interfaces.
    let defaults: Vec<usize> = out.iter().enumerate().filter(|(_, i)| i.default).map(|(n, _)| n).collect();
    for &extra in defaults.iter().skip(1) {
        d.error(
            f,
            iline(extra, "default"),
            format!(
                "host `{shown}`: more than one default interface (the first at {f}:{}); mark exactly one `default: true`",
                iline(defaults[0], "default").unwrap_or(node.line)
            ),
        );
    }
    if defaults.is_empty() {
        if out.len() > 1 {
            // As Stacki: the default route's interface must be named, never guessed.
            d.error(
                f,
                iline(0, "default").or(Some(node.line)),
                format!("host `{shown}` has {} interfaces and none is `default: true`; mark the one that carries its default route", out.len()),
            );
        }
        if let Some(first) = out.first_mut() {
            first.default = true;
        }
    }
    let by_dev: HashMap<&str, &Interface> = out.iter().filter_map(|i| Some((i.name.as_deref()?, i))).collect();
    for (idx, i) in out.iter().enumerate() {
        let mut err = |k: &str, msg: String| d.error(f, iline(idx, k), format!("host `{shown}`: {msg}"));
        if let Some(c) = &i.channel {
            match by_dev.get(c.as_str()) {
                None => err(
                    "channel",
                    format!(
                        "channel `{}` is no interface of this host{}; add the bond or bridge as an interface",
                        names::printable(c),
                        did_you_mean(c, by_dev.keys().copied())
                    ),
                ),
                Some(t) if t.kind == InterfaceKind::Ethernet => err(
                    "channel",
                    format!("channel `{c}` is neither a bond nor a bridge; give it `type: bond` or `type: bridge`"),
                ),
                Some(_) if i.name.as_deref() == Some(c.as_str()) => {
                    err("channel", format!("interface `{c}` cannot be its own channel"))
                }
                Some(_) => {}
            }
            if i.ip.is_some() {
                err("ip", format!("interface in channel `{c}` has an ip; give the address to `{c}` instead"));
            }
            if i.ipv6.is_some() {
                err("ipv6", format!("interface in channel `{c}` has an ipv6; give the address to `{c}` instead"));
            }
        }
        if i.kind == InterfaceKind::Bond {
            let dev = i.name.as_deref().unwrap_or("");
            if i.name.is_none() {
                err("type", "a bond needs `name`, its device (like bond0)".into());
            } else if !out.iter().any(|m| m.channel.as_deref() == Some(dev)) {
                err("name", format!("bond `{dev}` has no members; add `channel: {dev}` to the interfaces it bonds"));
            }
            let members: Vec<&str> =
                out.iter().filter(|m| m.channel.as_deref() == Some(dev)).filter_map(|m| m.name.as_deref()).collect();
            if let Err(e) = crate::networkd::bond_options(i.options.as_deref().unwrap_or(""), &members) {
                err("options", format!("bond `{dev}`: {e}"));
            }
        }
    }
    out
}

/// An IPv6 reservation as messages show it: the address, or the block.
fn shown6(block: ipnet::Ipv6Net) -> String {
    if block.prefix_len() == 128 {
        block.addr().to_string()
    } else {
        block.to_string()
    }
}

fn block_of(i: &Interface) -> Option<ipnet::Ipv6Net> {
    ipnet::Ipv6Net::new(i.ipv6?, i.ipv6_prefix).ok()
}

/// The checks of a host's interfaces against the site's networks and boot server.
pub(super) fn finish(
    host: &Host,
    lines: &Lines,
    networks: &BTreeMap<String, Network>,
    known_networks: &BTreeMap<String, super::Item<raw::Network>>,
    frontend: Option<Ipv4Addr>,
    d: &mut Diagnostics,
) {
    let f = &host.origin.file;
    for (idx, i) in host.interfaces.iter().enumerate() {
        let mut err = |k: usize, msg: String| {
            d.error(
                f,
                Some(lines.interface(idx, k, host.origin.line)),
                format!("host `{}`: {msg}", names::printable(&host.name)),
            )
        };
        let network = i.network.as_ref().and_then(|n| networks.get(n));
        if let Some(n) = &i.network {
            if !known_networks.contains_key(n) {
                err(
                    Lines::NETWORK,
                    format!(
                        "unknown network `{}`{}",
                        names::printable(n),
                        did_you_mean(n, known_networks.keys().map(String::as_str))
                    ),
                );
            }
        }
        if let Some(ip) = i.ip {
            if let Some(n) = network {
                let a = n.address;
                if !a.contains(&ip) {
                    err(Lines::IP, format!("ip `{ip}` is outside network `{}` ({a})", n.name));
                } else if a.prefix_len() < 31 && (ip == a.network() || ip == a.broadcast()) {
                    err(Lines::IP, format!("ip `{ip}` is the network or broadcast address of `{}` ({a})", n.name));
                } else if n.discovery.is_some_and(|r| r.contains(ip)) {
                    err(Lines::IP, format!("ip `{ip}` lies in the discovery range of network `{}`, which is for unknown machines; choose another address", n.name));
                }
            }
            if i.mac.is_some() && i.vlan.is_none() && frontend == Some(ip) {
                err(Lines::IP, format!("ip `{ip}` is site.frontend, the boot server's own address: a DHCP reservation would hand it to this machine; choose another address"));
            }
        }
        if let (Some(block), Some(n)) = (block_of(i), network) {
            let shown6 = shown6(block);
            match n.ipv6 {
                None => err(
                    Lines::IPV6,
                    format!("ipv6 `{shown6}`: network `{}` has no `ipv6` prefix; add one (like `ipv6: 2001:db8:99::/64`) or remove the address", n.name),
                ),
                Some(p) if !p.contains(&block) => {
                    err(Lines::IPV6, format!("ipv6 `{shown6}` is outside network `{}` ({p})", n.name))
                }
                Some(p) if block.contains(&p.network()) => err(
                    Lines::IPV6,
                    format!("ipv6 `{shown6}` holds the subnet-router anycast address of `{}` ({p}); choose another address", n.name),
                ),
                Some(_) => {}
            }
        }
    }
}

/// Where a MAC or address was first used: the host (an index) and the line.
type First = (usize, usize);

/// Every MAC and (VLAN, IP) is used once across all hosts (Stacki allows one address on
/// different VLANs, separate broadcast domains); IPv6 blocks of two hosts must not overlap.
pub(super) fn check_unique(hosts: &[Host], lines: &[Lines], d: &mut Diagnostics) {
    // Not SipHash: at 100,000 hosts hashing was most of this check (keys are the inventory's own).
    let state = foldhash::fast::RandomState::default();
    let mut macs: HashMap<Mac, First, _> = HashMap::with_capacity_and_hasher(hosts.len(), state);
    let mut ips: HashMap<(Option<u16>, Ipv4Addr), First, _> = HashMap::with_capacity_and_hasher(hosts.len(), state);
    let mut ips6: HashMap<(Option<u16>, Ipv6Addr), First, _> = HashMap::with_hasher(state);
    let first = |(h, line): First| (&hosts[h].name, Origin { file: hosts[h].origin.file.clone(), line });
    for (n, (host, lines)) in hosts.iter().zip(lines).enumerate() {
        let f = &host.origin.file;
        for (idx, i) in host.interfaces.iter().enumerate() {
            let line = |k: usize| lines.interface(idx, k, host.origin.line);
            let mut err = |k: usize, msg: String| {
                d.error(f, Some(line(k)), format!("host `{}`: {msg}", names::printable(&host.name)))
            };
            if let Some(mac) = i.mac {
                match macs.get(&mac) {
                    Some(&at) => {
                        let (other, first) = first(at);
                        err(Lines::MAC, format!("mac `{mac}` is already used by host `{other}` ({first})"));
                    }
                    None => {
                        macs.insert(mac, (n, line(Lines::MAC)));
                    }
                }
            }
            if let Some(ip) = i.ip {
                match ips.get(&(i.vlan, ip)) {
                    Some(&at) => {
                        let (other, first) = first(at);
                        err(Lines::IP, format!("ip `{ip}` is already used by host `{other}` ({first})"));
                    }
                    None => {
                        ips.insert((i.vlan, ip), (n, line(Lines::IP)));
                    }
                }
            }
            if let Some(block) = block_of(i) {
                // Every address of the block (at most 256).
                if let Some(&at) = block.hosts().find_map(|a| ips6.get(&(i.vlan, a))) {
                    let (other, first) = first(at);
                    err(
                        Lines::IPV6,
                        format!("ipv6 `{}` overlaps an address of host `{other}` ({first})", shown6(block)),
                    );
                } else {
                    for a in block.hosts() {
                        ips6.insert((i.vlan, a), (n, line(Lines::IPV6)));
                    }
                }
            }
        }
    }
}
