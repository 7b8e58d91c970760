//! `pxebake list`: the inventory as the tables operators know from `stack list`.

use serde_json::{json, Value};

use crate::diag::usage;
use crate::inventory::{Action, Boot, Inventory};
use crate::selector::Selector;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    Host,
    /// Every host's interfaces (`stack list host interface`).
    #[value(name = "interface")]
    Interface,
    Network,
    Bootaction,
    Appliance,
}

/// Rows as JSON objects (the `--output json` form); the table is made from the same rows.
pub fn rows(inv: &Inventory, what: What, selector: Option<&str>) -> anyhow::Result<(Vec<&'static str>, Vec<Value>)> {
    let opt = |v: Option<u32>| v.map_or(Value::Null, Value::from);
    let name_filter = |name: &str| selector.is_none_or(|s| s == name);
    Ok(match what {
        What::Host => {
            let hosts: Vec<&crate::inventory::Host> = match selector {
                Some(s) => {
                    let sel = Selector::parse(s).map_err(usage)?;
                    sel.select(&inv.hosts, inv.appliances.keys().map(String::as_str)).map_err(usage)?
                }
                None => inv.hosts.iter().collect(),
            };
            let rows = hosts
                .into_iter()
                .map(|h| {
                    json!({
                        "host": h.name, "rack": opt(h.rack), "rank": opt(h.rank), "cpus": opt(h.cpus),
                        "appliance": h.appliance, "runaction": h.runaction, "installaction": h.installaction,
                        "boot": match h.boot { Boot::Install => "install", Boot::Os => "os" },
                    })
                })
                .collect();
            (vec!["HOST", "RACK", "RANK", "CPUS", "APPLIANCE", "RUNACTION", "INSTALLACTION", "BOOT"], rows)
        }
        What::Interface => {
            let hosts: Vec<&crate::inventory::Host> = match selector {
                Some(s) => {
                    let sel = Selector::parse(s).map_err(usage)?;
                    sel.select(&inv.hosts, inv.appliances.keys().map(String::as_str)).map_err(usage)?
                }
                None => inv.hosts.iter().collect(),
            };
            let rows = hosts
                .into_iter()
                .flat_map(|h| {
                    h.interfaces.iter().map(move |i| {
                        json!({
                            "host": h.name, "interface": i.name, "default": i.default, "network": i.network,
                            "mac": i.mac.map(|m| m.to_string()), "ip": i.ip.map(|a| a.to_string()),
                            // Stacki's NAME: the interface's DNS name; the default interface's is the host's.
                            "name": i.hostname.clone().or_else(|| i.default.then(|| h.name.clone())),
                            "type": i.kind.as_str(), "channel": i.channel, "options": i.options, "vlan": i.vlan,
                        })
                    })
                })
                .collect();
            (vec!["HOST", "INTERFACE", "DEFAULT", "NETWORK", "MAC", "IP", "NAME", "CHANNEL", "OPTIONS", "VLAN"], rows)
        }
        What::Network => {
            let rows = inv
                .networks
                .values()
                .filter(|n| name_filter(&n.name))
                .map(|n| {
                    json!({
                        "network": n.name, "address": n.network.to_string(), "mask": n.netmask.to_string(),
                        "gateway": n.gateway.map(|g| g.to_string()), "mtu": n.mtu, "zone": n.zone, "pxe": n.pxe,
                    })
                })
                .collect();
            (vec!["NETWORK", "ADDRESS", "MASK", "GATEWAY", "MTU", "ZONE", "PXE"], rows)
        }
        What::Bootaction => {
            let rows = inv
                .bootactions
                .values()
                .filter(|b| name_filter(&b.name))
                .map(|b| match &b.action {
                    Action::Kernel { kernel, ramdisk, args, .. } => {
                        json!({ "action": b.name, "kernel": kernel, "ramdisk": ramdisk, "args": args })
                    }
                    Action::LocalBoot { localboot } => {
                        json!({ "action": b.name, "kernel": format!("localboot {localboot}"), "ramdisk": null, "args": null })
                    }
                })
                .collect();
            (vec!["ACTION", "KERNEL", "RAMDISK", "ARGS"], rows)
        }
        What::Appliance => {
            let rows = inv
                .appliances
                .values()
                .filter(|a| name_filter(&a.name))
                .map(|a| {
                    let hosts = inv.hosts.iter().filter(|h| h.appliance == a.name).count();
                    json!({ "appliance": a.name, "installaction": a.installaction, "runaction": a.runaction, "hosts": hosts })
                })
                .collect();
            (vec!["APPLIANCE", "INSTALLACTION", "RUNACTION", "HOSTS"], rows)
        }
    })
}

/// A `stack list`-style table: the first column ends with `:`, missing values are `-`.
pub fn table(columns: &[&str], rows: &[Value]) -> String {
    let cell = |row: &Value, col: &str, first: bool| -> String {
        let v = &row[col.to_ascii_lowercase()];
        let s = match v {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if first {
            format!("{s}:")
        } else {
            s
        }
    };
    let cells: Vec<Vec<String>> =
        rows.iter().map(|r| columns.iter().enumerate().map(|(i, c)| cell(r, c, i == 0)).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| cells.iter().map(|r| r[i].len()).chain([c.len()]).max().unwrap_or(0))
        .collect();
    let line = |vals: Vec<&str>| {
        let mut s = String::new();
        for (i, v) in vals.iter().enumerate() {
            if i + 1 == vals.len() {
                s.push_str(v);
            } else {
                s.push_str(&format!("{v:<w$} ", w = widths[i]));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(columns.to_vec());
    for r in &cells {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}
