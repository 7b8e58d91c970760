//! `pxebake import hostfile`: Stacki's hostfile spreadsheet (CSV) into inventory YAML.
//!
//! One row per interface; rows with the same NAME (or an empty NAME) add interfaces to the host
//! above. Every bad cell is reported with its row (the line in the file), column and value, and
//! nothing is written unless the whole file is good.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::Context as _;

use crate::diag::{Diagnostics, Invalid};
use crate::names::{self, Mac};

const COLUMNS: [&str; 12] = [
    "NAME",
    "APPLIANCE",
    "RACK",
    "RANK",
    "CPUS",
    "IP",
    "MAC",
    "INTERFACE",
    "NETWORK",
    "BOOT",
    "INSTALLACTION",
    "RUNACTION",
];

#[derive(Default)]
struct Host {
    name: String,
    appliance: String,
    ints: Vec<(&'static str, u32)>,
    strs: Vec<(&'static str, String)>,
    interfaces: Vec<String>,
}

/// Known names, when an inventory is available to check references against.
#[derive(Default)]
pub struct Known {
    pub networks: HashSet<String>,
    pub appliances: HashSet<String>,
    pub bootactions: HashSet<String>,
    /// A set: an inventory may have 100,000 hosts, and every row is checked against them.
    pub hosts: HashSet<String>,
}

/// Converts the hostfile at `path` into inventory YAML (a `hosts:` section).
pub fn import(path: &Path, known: Option<&Known>) -> anyhow::Result<String> {
    let file = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot read hostfile `{file}`"))?;
    let mut d = Diagnostics::default();
    let headers: Vec<String> = reader.headers()?.iter().map(|h| h.to_ascii_uppercase()).collect();
    for required in ["NAME", "APPLIANCE"] {
        if !headers.iter().any(|h| h == required) {
            d.error(
                &file,
                Some(1),
                format!("the header row has no `{required}` column; columns are: {}", COLUMNS.join(", ")),
            );
        }
    }
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            d.error(
                &file,
                Some(1),
                format!(
                    "unknown column `{h}`{}; columns are: {}",
                    crate::diag::did_you_mean(h, COLUMNS),
                    COLUMNS.join(", ")
                ),
            );
        }
    }
    if !d.is_empty() {
        return Err(d.finish().unwrap_err().into());
    }
    let mut hosts: Vec<Host> = Vec::new();
    // A set, not a search of the list: an 80,000-row hostfile stays linear.
    let mut seen_names: HashSet<String> = HashSet::new();
    let mut seen_macs: HashMap<Mac, usize> = HashMap::new();
    let mut seen_ips: HashMap<Ipv4Addr, usize> = HashMap::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("cannot parse hostfile `{file}`"))?;
        let row = record.position().map_or(0, |p| p.line() as usize);
        let get = |col: &str| headers.iter().position(|h| h == col).and_then(|i| record.get(i)).unwrap_or("");
        let mut bad = |col: &str, msg: String| d.error(&file, Some(row), format!("column {col}: {msg}"));
        if record.iter().all(str::is_empty) {
            continue;
        }
        let name = get("NAME");
        let new_host = !name.is_empty() && hosts.last().is_none_or(|h| h.name != name);
        if new_host {
            if let Err(e) = names::check_dns_label(name).and_then(|()| names::check_dhcp_host_name(name)) {
                bad("NAME", e);
            }
            if !seen_names.insert(name.to_string()) {
                bad("NAME", format!("host `{name}` appears again after other hosts; keep its rows together"));
            }
            if known.is_some_and(|k| k.hosts.contains(name)) {
                bad("NAME", format!("host `{name}` is already in the inventory"));
            }
            let appliance = get("APPLIANCE");
            match names::check_identifier(appliance) {
                Err(e) => bad("APPLIANCE", e),
                Ok(()) if known.is_some_and(|k| !k.appliances.contains(appliance)) => {
                    bad("APPLIANCE", format!("unknown appliance `{appliance}`"))
                }
                Ok(()) => {}
            }
            let mut host = Host { name: name.to_string(), appliance: appliance.to_string(), ..Host::default() };
            for col in ["RACK", "RANK", "CPUS"] {
                let v = get(col);
                if v.is_empty() {
                    continue;
                }
                match v.parse::<u32>() {
                    Ok(n) => host.ints.push((col, n)),
                    Err(_) => bad(col, format!("`{}` is not a number", names::printable(v))),
                }
            }
            for col in ["BOOT", "INSTALLACTION", "RUNACTION"] {
                let v = get(col);
                if v.is_empty() {
                    continue;
                }
                let ok = match col {
                    "BOOT" => matches!(v, "install" | "os"),
                    _ => names::check_identifier(v).is_ok() && known.is_none_or(|k| k.bootactions.contains(v)),
                };
                if ok {
                    host.strs.push((col, v.to_string()));
                } else {
                    bad(
                        col,
                        format!(
                            "`{}` is not {}",
                            names::printable(v),
                            if col == "BOOT" { "`install` or `os`" } else { "a known bootaction" }
                        ),
                    );
                }
            }
            hosts.push(host);
        } else if hosts.is_empty() {
            bad("NAME", "the first row must name a host".into());
            continue;
        }
        // The interface of this row.
        let mut parts: BTreeMap<&str, String> = BTreeMap::new();
        let network = get("NETWORK");
        if network.is_empty() {
            bad("NETWORK", "every row needs the network of its interface".into());
        } else if let Err(e) = names::check_identifier(network) {
            bad("NETWORK", e);
        } else if known.is_some_and(|k| !k.networks.contains(network)) {
            bad("NETWORK", format!("unknown network `{network}`"));
        } else {
            parts.insert("network", network.to_string());
        }
        let iface = get("INTERFACE");
        if !iface.is_empty() {
            match names::check_file_name(iface) {
                Ok(()) => {
                    parts.insert("name", iface.to_string());
                }
                Err(e) => bad("INTERFACE", e),
            }
        }
        let mac = get("MAC");
        if !mac.is_empty() {
            match Mac::parse(mac) {
                Ok(m) => {
                    if let Some(first) = seen_macs.insert(m, row) {
                        bad("MAC", format!("`{m}` is already used on row {first}"));
                    }
                    parts.insert("mac", format!("\"{m}\""));
                }
                Err(e) => bad("MAC", e),
            }
        }
        let ip = get("IP");
        if !ip.is_empty() {
            match ip.parse::<Ipv4Addr>() {
                Ok(a) => {
                    if let Some(first) = seen_ips.insert(a, row) {
                        bad("IP", format!("`{a}` is already used on row {first}"));
                    }
                    parts.insert("ip", a.to_string());
                }
                Err(_) => bad("IP", format!("`{}` is not an IPv4 address", names::printable(ip))),
            }
        }
        let order = ["network", "name", "mac", "ip"];
        let fields: Vec<String> = order.iter().filter_map(|k| parts.get(k).map(|v| format!("{k}: {v}"))).collect();
        if let Some(h) = hosts.last_mut() {
            h.interfaces.push(format!("{{ {} }}", fields.join(", ")));
        }
    }
    d.finish().map_err(|e: Invalid| anyhow::Error::new(e))?;
    // The file name is printed escaped: a newline in it must not start a line of YAML.
    let mut out = format!(
        "# Imported from {} by `pxebake import hostfile`.\nhosts:\n",
        names::printable(&path.display().to_string())
    );
    for h in hosts {
        out.push_str(&format!("  - name: {}\n    appliance: {}\n", h.name, h.appliance));
        for (k, v) in &h.ints {
            out.push_str(&format!("    {}: {v}\n", k.to_ascii_lowercase()));
        }
        for (k, v) in &h.strs {
            out.push_str(&format!("    {}: {v}\n", k.to_ascii_lowercase()));
        }
        out.push_str("    interfaces:\n");
        for i in &h.interfaces {
            out.push_str(&format!("      - {i}\n"));
        }
    }
    Ok(out)
}
