//! `pxebake discover`: unknown machines from the events log become hosts, named and placed as
//! Stacki's insert-ethers does - `APPLIANCE-RACK-RANK`, ranks after the rack's highest, addresses
//! from the top of the network down - in the order they were first seen.
//!
//! They are written to `inventory/discovered.yaml`, a file pxebake owns (hand-written YAML is
//! never rewritten), and the edit is undone if the inventory would not load with it.

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use crate::diag::{did_you_mean, usage};
use crate::events::Summary;
use crate::inventory;

pub const FILE: &str = "discovered.yaml";

/// Where new machines go.
pub struct Placement<'a> {
    pub appliance: &'a str,
    pub network: &'a str,
    pub rack: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewHost {
    pub name: String,
    pub rack: u32,
    pub rank: u32,
    pub mac: String,
    pub ip: Ipv4Addr,
    pub serial: Option<String>,
    pub first_seen: String,
}

/// Adds the unknown machines of `events` to `dir/discovered.yaml`; returns the hosts added and
/// the machines left out (seen on another network), with why.
pub fn discover(dir: &Path, events: &Summary, at: &Placement) -> anyhow::Result<(Vec<NewHost>, Vec<String>)> {
    let inv = inventory::load(dir).context("the inventory does not load; fix it first, nothing was written")?;
    if !inv.appliances.contains_key(at.appliance) {
        let hint = did_you_mean(at.appliance, inv.appliances.keys().map(String::as_str));
        return Err(usage(format!("unknown appliance `{}`{hint}", at.appliance)).into());
    }
    let Some(net) = inv.networks.get(at.network) else {
        let hint = did_you_mean(at.network, inv.networks.keys().map(String::as_str));
        return Err(usage(format!("unknown network `{}`{hint}", at.network)).into());
    };
    let names: HashSet<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    let mut used_ips: HashSet<Ipv4Addr> =
        inv.hosts.iter().flat_map(|h| h.interfaces.iter().filter_map(|i| i.ip)).collect();
    used_ips.extend([inv.site.frontend, net.address.network(), net.address.broadcast()]);
    used_ips.extend(net.gateway);
    let mut rank = inv
        .hosts
        .iter()
        .filter(|h| h.appliance == at.appliance && h.rack == Some(at.rack))
        .filter_map(|h| h.rank)
        .max()
        .map_or(0, |r| r + 1);
    // Addresses from the top of the network down, as Stacki hands them out.
    let mut next_ip = u32::from(net.address.broadcast());
    let first = u32::from(net.address.network());
    let mut added = Vec::new();
    let mut left = Vec::new();
    for u in &events.unknown {
        if u.network.as_deref().is_some_and(|n| n != at.network) {
            left.push(format!(
                "{} was seen on network `{}`, not `{}`",
                u.mac,
                u.network.as_deref().unwrap_or("?"),
                at.network
            ));
            continue;
        }
        while names.contains(format!("{}-{}-{rank}", at.appliance, at.rack).as_str()) {
            rank += 1;
        }
        let ip = loop {
            next_ip -= 1;
            if next_ip <= first {
                anyhow::bail!("network `{}` has no free address left for {}; nothing was written", at.network, u.mac);
            }
            let ip = Ipv4Addr::from(next_ip);
            if !used_ips.contains(&ip) {
                break ip;
            }
        };
        added.push(NewHost {
            name: format!("{}-{}-{rank}", at.appliance, at.rack),
            rack: at.rack,
            rank,
            mac: u.mac.clone(),
            ip,
            serial: u.serial.clone(),
            first_seen: u.first_seen.clone(),
        });
        rank += 1;
    }
    if added.is_empty() {
        return Ok((added, left));
    }
    let path = dir.join(FILE);
    let old = std::fs::read_to_string(&path).ok();
    let mut text = old.clone().unwrap_or_else(|| {
        "# Machines added by `pxebake discover` from the events log, in the order they were first seen.\n\
         # pxebake appends here; move a host to your own files whenever you like.\nhosts:\n"
            .to_string()
    });
    if !text.ends_with('\n') {
        text.push('\n');
    }
    for h in &added {
        // Every value here was validated (MAC parsed, names built from checked parts); the serial
        // is only a comment, quoted as JSON so nothing in it can end the line.
        let serial = h.serial.as_deref().map(|s| format!(" serial {}", serde_json::Value::from(s))).unwrap_or_default();
        text.push_str(&format!(
            "  - name: {}            # first seen {}{serial}\n    appliance: {}\n    rack: {}\n    rank: {}\n    interfaces:\n      - {{ network: {}, mac: \"{}\", ip: {} }}\n",
            h.name, h.first_seen, at.appliance, h.rack, h.rank, at.network, h.mac, h.ip
        ));
    }
    write_checked(dir, &path, &text, old)?;
    Ok((added, left))
}

/// Writes `text` to `path` (temp file + rename) and loads the inventory; undoes it on failure.
fn write_checked(dir: &Path, path: &Path, text: &str, old: Option<String>) -> anyhow::Result<()> {
    let tmp = path.with_extension("yaml.pxebake-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace `{}`", path.display()))?;
    if let Err(e) = inventory::load(dir) {
        match old {
            Some(t) => std::fs::write(path, t)?,
            None => std::fs::remove_file(path)?,
        }
        return Err(e.context(format!("`{}` was left as it was", path.display())));
    }
    Ok(())
}

/// Hosts whose last install completed after it started, among those `boot: install` now.
pub fn installed_hosts(dir: &Path, events: &Summary) -> anyhow::Result<BTreeSet<String>> {
    let inv = inventory::load(dir)?;
    let installing: HashSet<&str> =
        inv.hosts.iter().filter(|h| h.boot == inventory::Boot::Install).map(|h| h.name.as_str()).collect();
    Ok(events
        .installs
        .iter()
        .filter(|i| i.completed() && installing.contains(i.host.as_str()))
        .map(|i| i.host.clone())
        .collect())
}
