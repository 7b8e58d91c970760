//! `pxebake import hostfile`: Stacki's hostfile spreadsheet (CSV) into inventory YAML.
//!
//! Reads every column `stack report hostfile` writes (and `stack load hostfile` reads): one row
//! per interface, a host's rows anywhere in the file, each host field from any of its rows
//! (two different values are an error naming both rows). Names, MACs, interface and network
//! names are lower-cased as Stacki does. Hosts already in the file being imported into are
//! updated (their interfaces replaced, as Stacki does); everything else in the inventory is
//! left alone. Every bad cell is reported with its row (the line in the file), column and
//! value, and nothing is written unless the whole file is good. Time is linear in the rows:
//! hosts, devices, MACs and IPs are looked up in hash maps.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;

use crate::diag::{did_you_mean, Diagnostic, Diagnostics, Invalid};
use crate::inventory::{raw, Inventory};
use crate::names::{self, Mac};

/// The columns read, as `stack report hostfile` writes them, plus pxebake's CPUS and BOOT.
/// OSACTION and RUNACTION are the same column.
const COLUMNS: [&str; 21] = [
    "NAME",
    "INTERFACE HOSTNAME",
    "DEFAULT",
    "APPLIANCE",
    "RACK",
    "RANK",
    "IP",
    "MAC",
    "INTERFACE",
    "NETWORK",
    "CHANNEL",
    "OPTIONS",
    "VLAN",
    "INSTALLACTION",
    "OSACTION",
    "RUNACTION",
    "GROUPS",
    "BOX",
    "COMMENT",
    "CPUS",
    "BOOT",
];

/// Host fields that must agree across a host's rows.
const HOST_FIELDS: [&str; 9] =
    ["APPLIANCE", "RACK", "RANK", "CPUS", "BOOT", "INSTALLACTION", "RUNACTION", "GROUPS", "COMMENT"];

/// The result of an import: the YAML of the whole target file, and what changed.
#[derive(Debug)]
pub struct Import {
    pub yaml: String,
    /// One line per host added or updated (`added host `x``, `updated host `x`: rack 1 -> 2`).
    pub changes: Vec<String>,
    pub unchanged: usize,
    pub warnings: Vec<Diagnostic>,
}

struct Iface {
    row: usize,
    value: raw::Interface,
    /// `ip=auto`: the next free address of the network, assigned after all rows are read.
    auto_ip: bool,
}

#[derive(Default)]
struct Acc {
    name: String,
    first_row: usize,
    fields: HashMap<&'static str, (String, usize)>,
    interfaces: Vec<Iface>,
    devices: HashMap<String, usize>,
    /// An APPLIANCE cell was given (maybe a bad one, already reported).
    appliance_given: bool,
}

/// Imports `text` (the hostfile `file`) against the loaded inventory `inv`. `existing` holds
/// the hosts of the file being imported into (updated in place); `target` names that file.
pub fn import(
    file: &str,
    text: &str,
    inv: &Inventory,
    existing: Vec<raw::Host>,
    target: Option<&str>,
) -> Result<Import, Invalid> {
    let mut d = Diagnostics::default();
    let mut reader =
        csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).has_headers(false).from_reader(text.as_bytes());
    let mut records = reader.records();
    // `#` rows are comments (the csv reader's own comment handling would shift line numbers).
    let skip = |r: &csv::StringRecord| r.iter().all(str::is_empty) || r.get(0).is_some_and(|c| c.starts_with('#'));
    // The header: the first row that is not blank or a comment.
    let header = loop {
        match records.next() {
            None => {
                d.error(
                    file,
                    None,
                    "the hostfile is empty; its first row must name the columns (NAME, APPLIANCE, ...)",
                );
                return Err(d.finish().unwrap_err());
            }
            Some(Err(e)) => return Err(csv_error(file, &e)),
            Some(Ok(r)) if skip(&r) => continue,
            Some(Ok(r)) => break r,
        }
    };
    let header_row = header.position().map_or(1, |p| p.line() as usize);
    let mut col: HashMap<&'static str, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.to_ascii_uppercase();
        let h = h.split_whitespace().collect::<Vec<_>>().join(" ");
        match COLUMNS.iter().find(|c| **c == h) {
            Some(&c) => {
                let c = if c == "OSACTION" { "RUNACTION" } else { c };
                if col.insert(c, i).is_some() {
                    d.error(file, Some(header_row), format!("column `{h}` appears twice in the header row"));
                }
            }
            None if h.is_empty() => {}
            None => d.warning(
                file,
                Some(header_row),
                format!(
                    "unknown column `{}`{} is ignored; columns are: {}",
                    names::printable(&h),
                    did_you_mean(&h, COLUMNS),
                    COLUMNS.join(", ")
                ),
            ),
        }
    }
    if !col.contains_key("NAME") {
        d.error(
            file,
            Some(header_row),
            format!("the header row has no `NAME` column; columns are: {}", COLUMNS.join(", ")),
        );
        return Err(d.finish().unwrap_err());
    }

    let mut hosts: Vec<Acc> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut macs: HashMap<Mac, usize> = HashMap::new();
    let mut box_rows = 0usize;
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => return Err(csv_error(file, &e)),
        };
        if skip(&record) {
            continue;
        }
        let row = record.position().map_or(0, |p| p.line() as usize);
        let get = |c: &str| col.get(c).and_then(|&i| record.get(i)).unwrap_or("");
        let mut bad = |c: &str, msg: String| d.error(file, Some(row), format!("column {c}: {msg}"));
        let name = get("NAME").to_ascii_lowercase();
        if name.is_empty() {
            bad("NAME", "is empty; every row names its host".into());
            continue;
        }
        let h = match by_name.get(&name) {
            Some(&h) => h,
            None => {
                if let Err(e) = names::check_dns_label(&name) {
                    bad("NAME", e);
                }
                by_name.insert(name.clone(), hosts.len());
                hosts.push(Acc { name: name.clone(), first_row: row, ..Acc::default() });
                hosts.len() - 1
            }
        };
        let host = &mut hosts[h];
        // Host fields: checked, then the same on every row that gives them.
        for c in HOST_FIELDS {
            let v = get(c);
            if v.is_empty() {
                continue;
            }
            host.appliance_given |= c == "APPLIANCE";
            let checked = match c {
                "APPLIANCE" => known(v, inv.appliances.keys(), "appliance"),
                "RACK" | "RANK" | "CPUS" => v
                    .parse::<u32>()
                    .map(|n| n.to_string())
                    .map_err(|_| format!("`{}` is not a number", names::printable(v))),
                "BOOT" => match v.to_ascii_lowercase().as_str() {
                    b @ ("install" | "os") => Ok(b.to_string()),
                    _ => Err(format!("`{}` is not `install` or `os`", names::printable(v))),
                },
                "INSTALLACTION" | "RUNACTION" => known(v, inv.bootactions.keys(), "bootaction"),
                "GROUPS" => groups(v).map(|g| g.join(",")),
                _ => names::check_line(v).map(|()| v.to_string()),
            };
            match checked {
                Err(e) => bad(c, e),
                Ok(v) => match host.fields.get(c) {
                    Some((first, first_row)) if *first != v => bad(
                        c,
                        format!("host `{name}` has {c} `{v}` here but `{first}` on row {first_row}; give one value"),
                    ),
                    Some(_) => {}
                    None => {
                        host.fields.insert(c, (v, row));
                    }
                },
            }
        }
        if !matches!(get("BOX").to_ascii_lowercase().as_str(), "" | "default") {
            box_rows += 1;
        }
        // The row's interface.
        let device = get("INTERFACE").to_ascii_lowercase();
        let (ip, mac, network) = (get("IP"), get("MAC"), get("NETWORK").to_ascii_lowercase());
        if device.is_empty() && ip.is_empty() && mac.is_empty() && network.is_empty() {
            continue;
        }
        let mut i = raw::Interface::default();
        if !device.is_empty() {
            match crate::inventory::check_device(&device) {
                Err(e) => bad("INTERFACE", e),
                Ok(()) => {
                    if let Some(first) = host.devices.get(&device) {
                        bad(
                            "INTERFACE",
                            format!("host `{name}` has interface `{device}` twice (first on row {first})"),
                        );
                    }
                    host.devices.insert(device.clone(), row);
                    i.name = Some(device);
                }
            }
        }
        let net = if network.is_empty() {
            None
        } else {
            match known(&network, inv.networks.keys(), "network") {
                Ok(n) => {
                    i.network = Some(n);
                    inv.networks.get(&network)
                }
                Err(e) => {
                    bad("NETWORK", e);
                    None
                }
            }
        };
        if !mac.is_empty() {
            match Mac::parse(mac) {
                Ok(m) => {
                    if let Some(first) = macs.insert(m, row) {
                        bad("MAC", format!("`{m}` is already used on row {first}"));
                    }
                    i.mac = Some(m.to_string());
                }
                Err(e) => bad("MAC", e),
            }
        }
        let mut auto_ip = false;
        if !ip.is_empty() {
            if network.is_empty() {
                bad("IP", format!("`{}` needs the NETWORK it is on", names::printable(ip)));
            }
            if ip.eq_ignore_ascii_case("auto") {
                auto_ip = true;
            } else {
                match ip.parse::<Ipv4Addr>() {
                    Ok(a) => {
                        if let Some(n) = net.filter(|n| !n.address.contains(&a)) {
                            bad("IP", format!("`{a}` is outside network `{}` ({})", n.name, n.address));
                        }
                        i.ip = Some(a.to_string());
                    }
                    Err(_) => bad("IP", format!("`{}` is not an IPv4 address or `auto`", names::printable(ip))),
                }
            }
        }
        match parse_bool(get("DEFAULT")) {
            Ok(b) => i.default = b,
            Err(e) => bad("DEFAULT", e),
        }
        let vlan = get("VLAN");
        if !vlan.is_empty() {
            match vlan.parse::<i64>() {
                Ok(v) if (1..=4094).contains(&v) => i.vlan = Some(v),
                _ => bad("VLAN", format!("`{}` is not a VLAN id (1..4094)", names::printable(vlan))),
            }
        }
        for (c, slot) in
            [("CHANNEL", &mut i.channel), ("OPTIONS", &mut i.options), ("INTERFACE HOSTNAME", &mut i.hostname)]
        {
            let v = get(c);
            if v.is_empty() {
                continue;
            }
            let v = if c == "OPTIONS" { v.to_string() } else { v.to_ascii_lowercase() };
            if c == "INTERFACE HOSTNAME" && v == name {
                continue; // `stack report hostfile` writes the host's own name when there is none
            }
            let r = match c {
                "CHANNEL" => crate::inventory::check_device(&v),
                "INTERFACE HOSTNAME" => names::check_dns_name(&v),
                _ => names::check_line(&v),
            };
            match r {
                Ok(()) => *slot = Some(v),
                Err(e) => bad(c, e),
            }
        }
        host.interfaces.push(Iface { row, value: i, auto_ip });
    }
    if box_rows > 0 {
        d.warning(file, None, format!("column BOX is ignored ({box_rows} rows name a box other than `default`): pxebake has no boxes; images come from bootactions"));
    }

    // Per host: the rules across rows, and where the host lives today.
    let existing_index: HashMap<String, usize> =
        existing.iter().enumerate().map(|(i, h)| (h.name.clone(), i)).collect();
    let in_inventory: HashMap<&str, &crate::inventory::Host> = inv.hosts.iter().map(|h| (h.name.as_str(), h)).collect();
    let mut used: HashSet<Ipv4Addr> = HashSet::new();
    used.insert(inv.site.frontend);
    for n in inv.networks.values() {
        used.extend(n.gateway);
    }
    for h in &inv.hosts {
        used.extend(h.interfaces.iter().filter_map(|i| i.ip));
    }
    for acc in &hosts {
        used.extend(acc.interfaces.iter().filter_map(|i| i.value.ip.as_deref()?.parse::<Ipv4Addr>().ok()));
    }
    // Addresses of hosts that stay as they are: the file must not take them.
    let mut kept: HashMap<String, &crate::inventory::Host> = HashMap::new();
    for h in inv.hosts.iter().filter(|h| !by_name.contains_key(&h.name)) {
        for i in &h.interfaces {
            if let Some(m) = i.mac {
                kept.insert(m.to_string(), h);
            }
            if let Some(ip) = i.ip {
                kept.insert(format!("{ip}/{:?}", i.vlan.map(i64::from)), h);
            }
        }
    }
    let mut ips: HashMap<(Option<i64>, String), usize> = HashMap::new();
    let mut next: HashMap<String, u32> = HashMap::new();
    for acc in &mut hosts {
        let name = acc.name.clone();
        if let Some(h) = in_inventory.get(name.as_str()).filter(|_| !existing_index.contains_key(&name)) {
            d.error(
                file,
                Some(acc.first_row),
                format!(
                    "column NAME: host `{name}` is already defined at {}, {}; pxebake does not rewrite hand-written YAML: remove it there, or leave it out of the hostfile",
                    h.origin,
                    match target {
                        Some(t) => format!("outside `{t}`"),
                        None => "and no `--out` file holds it".to_string(),
                    }
                ),
            );
            continue;
        }
        let old = existing_index.get(&name).map(|&i| &existing[i]);
        if !acc.appliance_given && old.is_none() {
            d.error(
                file,
                Some(acc.first_row),
                format!("column APPLIANCE: host `{name}` has no appliance on any of its rows"),
            );
        }
        let defaults: Vec<usize> = acc.interfaces.iter().filter(|i| i.value.default).map(|i| i.row).collect();
        if let [first, .., last] = defaults[..] {
            d.error(file, Some(last), format!("column DEFAULT: host `{name}` has a second default interface (the first on row {first}); mark exactly one"));
        }
        if defaults.is_empty() && acc.interfaces.len() > 1 {
            if col.contains_key("DEFAULT") {
                d.error(
                    file,
                    Some(acc.first_row),
                    format!("column DEFAULT: host `{name}` has {} interfaces and none is the default; mark the one that carries its default route `True`", acc.interfaces.len()),
                );
            } else if let Some(first) = acc.interfaces.first_mut() {
                // Hostfiles without the column (pxebake's older format): the first interface, as written.
                first.value.default = true;
                d.warning(
                    file,
                    Some(first.row),
                    format!("host `{name}`: no DEFAULT column, so its first interface is the default; add the column to choose"),
                );
            }
        }
        for i in &acc.interfaces {
            if let Some(c) = &i.value.channel {
                if !acc.devices.contains_key(c) {
                    d.error(
                        file,
                        Some(i.row),
                        format!(
                            "column CHANNEL: host `{name}` has no interface `{c}`; add a row for the bond or bridge"
                        ),
                    );
                }
            }
            if let Some(dev) = i.value.name.as_deref().filter(|n| is_bond(n)) {
                let members: Vec<&str> = acc
                    .interfaces
                    .iter()
                    .filter(|m| m.value.channel.as_deref() == Some(dev))
                    .filter_map(|m| m.value.name.as_deref())
                    .collect();
                if members.is_empty() {
                    d.error(file, Some(i.row), format!("column INTERFACE: bond `{dev}` of host `{name}` has no members; name it in the CHANNEL column of the interfaces it bonds"));
                }
                if let Err(e) = crate::networkd::bond_options(i.value.options.as_deref().unwrap_or(""), &members) {
                    d.error(file, Some(i.row), format!("column OPTIONS: bond `{dev}` of host `{name}`: {e}"));
                }
            }
            for (c, key) in
                [("MAC", i.value.mac.clone()), ("IP", i.value.ip.as_ref().map(|ip| format!("{ip}/{:?}", i.value.vlan)))]
            {
                if let Some(h) = key.as_ref().and_then(|k| kept.get(k)) {
                    let v = key.as_deref().unwrap_or("").split('/').next().unwrap_or("");
                    d.error(
                        file,
                        Some(i.row),
                        format!("column {c}: `{v}` is already used by host `{}` ({})", h.name, h.origin),
                    );
                }
            }
            if let Some(ip) = &i.value.ip {
                if let Some(first) = ips.insert((i.value.vlan, ip.clone()), i.row) {
                    d.error(file, Some(i.row), format!("column IP: `{ip}` is already used on row {first} (same VLAN)"));
                }
            }
        }
        // `ip=auto`: keep the address this interface has today, else the next free one.
        for i in acc.interfaces.iter_mut().filter(|i| i.auto_ip) {
            let Some(n) = i.value.network.as_ref().and_then(|n| inv.networks.get(n)) else { continue };
            let kept = old.and_then(|o| {
                o.interfaces
                    .iter()
                    .find(|x| x.name.is_some() && x.name == i.value.name && x.network == i.value.network)?
                    .ip
                    .clone()
            });
            if let Some(ip) = kept {
                i.value.ip = Some(ip);
                continue;
            }
            let (first, last) = usable(n.address);
            let cursor = next.entry(n.name.clone()).or_insert(first);
            while *cursor <= last && used.contains(&Ipv4Addr::from(*cursor)) {
                *cursor += 1;
            }
            if *cursor > last {
                d.error(
                    file,
                    Some(i.row),
                    format!("column IP: `auto`: network `{}` ({}) has no free address left", n.name, n.address),
                );
                continue;
            }
            let ip = Ipv4Addr::from(*cursor);
            used.insert(ip);
            i.value.ip = Some(ip.to_string());
        }
    }
    let warnings = d.finish_with_warnings(false)?;

    // Merge: updated hosts stay where they are, new ones are appended in file order.
    let mut out_hosts: Vec<raw::Host> = existing;
    let mut changes = Vec::new();
    let mut unchanged = 0;
    for acc in hosts {
        let old = existing_index.get(&acc.name).map(|&i| out_hosts[i].clone());
        let mut h = old.clone().unwrap_or_else(|| raw::Host { name: acc.name.clone(), ..raw::Host::default() });
        let field = |c: &str| acc.fields.get(c).map(|(v, _)| v.clone());
        let num = |c: &str| field(c).and_then(|v| v.parse::<u32>().ok());
        if let Some(a) = field("APPLIANCE") {
            h.appliance = a;
        }
        h.rack = num("RACK").or(h.rack);
        h.rank = num("RANK").or(h.rank);
        if h.rack.is_none() && h.rank.is_none() {
            // Stacki's `appliance-rack-rank` names.
            if let Some((rack, rank)) = rack_rank(&acc.name) {
                h.rack = Some(rack);
                h.rank = Some(rank);
            }
        }
        h.cpus = num("CPUS").or(h.cpus);
        h.boot = field("BOOT").or(h.boot);
        h.installaction = field("INSTALLACTION").or(h.installaction);
        h.runaction = field("RUNACTION").or(h.runaction);
        if let Some(g) = field("GROUPS") {
            h.groups = g.split(',').map(str::to_string).collect();
        }
        h.comment = field("COMMENT").or(h.comment);
        if !acc.interfaces.is_empty() {
            h.interfaces = acc.interfaces.into_iter().map(|i| i.value).collect();
        }
        match old {
            None => {
                changes.push(format!("added host `{}`", h.name));
                out_hosts.push(h);
            }
            Some(o) => {
                let diff = changed_fields(&o, &h);
                if diff.is_empty() {
                    unchanged += 1;
                } else {
                    changes.push(format!("updated host `{}`: {}", h.name, diff.join(", ")));
                }
                if let Some(&i) = existing_index.get(&h.name) {
                    out_hosts[i] = h;
                }
            }
        }
    }
    let mut yaml = format!(
        "# Imported from {} by `pxebake import hostfile`; importing again updates these hosts.\nhosts:\n",
        names::printable(file)
    );
    for h in &out_hosts {
        yaml.push_str(&host_yaml(h));
    }
    Ok(Import { yaml, changes, unchanged, warnings })
}

fn csv_error(file: &str, e: &csv::Error) -> Invalid {
    let line = e.position().map(|p| p.line() as usize);
    Invalid(vec![Diagnostic::error(file, line, format!("cannot read the hostfile as CSV: {e}"))])
}

fn known<'a>(v: &str, names_: impl Iterator<Item = &'a String> + Clone, what: &str) -> Result<String, String> {
    if names_.clone().any(|n| n == v) {
        return Ok(v.to_string());
    }
    Err(format!(
        "unknown {what} `{}`{}; add it to the inventory first",
        names::printable(v),
        did_you_mean(v, names_.map(String::as_str))
    ))
}

/// Stacki writes GROUPS comma-separated in one cell; spaces separate too.
fn groups(v: &str) -> Result<Vec<String>, String> {
    let gs: Vec<String> = v.split([',', ' ']).filter(|g| !g.is_empty()).map(str::to_string).collect();
    for g in &gs {
        names::check_identifier(g).map_err(|e| format!("group {e}"))?;
    }
    Ok(gs)
}

/// Stacki's `str2bool`: empty is false.
fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "n" | "off" | "0" => Ok(false),
        "true" | "yes" | "y" | "on" | "1" => Ok(true),
        _ => Err(format!("`{}` is not true or false", names::printable(v))),
    }
}

fn is_bond(n: &str) -> bool {
    n.strip_prefix("bond").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The first and last host addresses of a network, as numbers.
fn usable(net: ipnet::Ipv4Net) -> (u32, u32) {
    let (lo, hi) = (u32::from(net.network()), u32::from(net.broadcast()));
    if net.prefix_len() >= 31 {
        (lo, hi)
    } else {
        (lo + 1, hi - 1)
    }
}

/// `backend-0-3` -> rack 0, rank 3.
fn rack_rank(name: &str) -> Option<(u32, u32)> {
    let mut parts = name.rsplitn(3, '-');
    let rank = parts.next()?.parse().ok()?;
    let rack = parts.next()?.parse().ok()?;
    parts.next().filter(|a| !a.is_empty())?;
    Some((rack, rank))
}

/// A YAML scalar: plain when it cannot be read as anything but this string, else JSON-quoted.
fn scalar(s: &str) -> String {
    let plain = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        && s.parse::<f64>().is_err()
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        )
        && !s.starts_with("0x")
        && !s.starts_with("0o");
    if plain {
        s.to_string()
    } else {
        serde_json::Value::from(s).to_string()
    }
}

fn interface_yaml(i: &raw::Interface) -> String {
    let mut f: Vec<String> = Vec::new();
    if let Some(v) = &i.network {
        f.push(format!("network: {}", scalar(v)));
    }
    if let Some(v) = &i.name {
        f.push(format!("name: {}", scalar(v)));
    }
    if let Some(v) = &i.mac {
        f.push(format!("mac: {}", serde_json::Value::from(v.as_str())));
    }
    if let Some(v) = &i.ip {
        f.push(format!("ip: {}", scalar(v)));
    }
    if i.default {
        f.push("default: true".into());
    }
    if let Some(v) = &i.kind {
        f.push(format!("type: {}", scalar(v)));
    }
    if let Some(v) = &i.channel {
        f.push(format!("channel: {}", scalar(v)));
    }
    if let Some(v) = i.vlan {
        f.push(format!("vlan: {v}"));
    }
    if let Some(v) = &i.options {
        f.push(format!("options: {}", scalar(v)));
    }
    if let Some(v) = &i.hostname {
        f.push(format!("hostname: {}", scalar(v)));
    }
    format!("{{ {} }}", f.join(", "))
}

/// The YAML lines of one host, key by key (also what `changed_fields` compares).
fn host_lines(h: &raw::Host) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert("appliance", scalar(&h.appliance));
    for (k, v) in [("rack", h.rack), ("rank", h.rank), ("cpus", h.cpus)] {
        if let Some(v) = v {
            m.insert(k, v.to_string());
        }
    }
    for (k, v) in
        [("boot", &h.boot), ("installaction", &h.installaction), ("runaction", &h.runaction), ("comment", &h.comment)]
    {
        if let Some(v) = v {
            m.insert(k, scalar(v));
        }
    }
    if !h.groups.is_empty() {
        m.insert("groups", format!("[{}]", h.groups.iter().map(|g| scalar(g)).collect::<Vec<_>>().join(", ")));
    }
    if !h.interfaces.is_empty() {
        let lines: Vec<String> = h.interfaces.iter().map(|i| format!("\n      - {}", interface_yaml(i))).collect();
        m.insert("interfaces", lines.concat());
    }
    if !h.attributes.is_empty() {
        m.insert("attributes", serde_json::Value::Object(h.attributes.clone()).to_string());
    }
    m
}

const KEY_ORDER: [&str; 11] = [
    "appliance",
    "rack",
    "rank",
    "cpus",
    "boot",
    "installaction",
    "runaction",
    "groups",
    "comment",
    "interfaces",
    "attributes",
];

fn host_yaml(h: &raw::Host) -> String {
    let lines = host_lines(h);
    let mut s = format!("  - name: {}\n", scalar(&h.name));
    for k in KEY_ORDER {
        if let Some(v) = lines.get(k) {
            s.push_str(&format!("    {k}:{}{v}\n", if v.starts_with('\n') { "" } else { " " }));
        }
    }
    s
}

/// What differs between two versions of a host, as `rack 1 -> 2` (interfaces by name only).
fn changed_fields(old: &raw::Host, new: &raw::Host) -> Vec<String> {
    let (a, b) = (host_lines(old), host_lines(new));
    let mut out = Vec::new();
    for k in KEY_ORDER {
        let (x, y) = (a.get(k), b.get(k));
        if x == y {
            continue;
        }
        out.push(match k {
            "interfaces" | "attributes" => k.to_string(),
            _ => format!("{k} {} -> {}", x.map_or("-", String::as_str), y.map_or("-", String::as_str)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_and_rank_come_from_appliance_rack_rank_names() {
        assert_eq!(rack_rank("backend-0-3"), Some((0, 3)));
        assert_eq!(rack_rank("compute-12-40"), Some((12, 40)));
        assert_eq!(rack_rank("node219"), None);
        assert_eq!(rack_rank("-1-2"), None);
    }

    #[test]
    fn scalars_that_yaml_would_read_as_something_else_are_quoted() {
        assert_eq!(scalar("eth0"), "eth0");
        assert_eq!(scalar("10.2.0.1"), "10.2.0.1");
        assert_eq!(scalar("1500"), "\"1500\"");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("mode=1 primary=eno3"), "\"mode=1 primary=eno3\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
    }

    #[test]
    fn stacki_booleans() {
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert_eq!(parse_bool("False"), Ok(false));
        assert_eq!(parse_bool(""), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }
}
