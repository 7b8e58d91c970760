//! Loading and validating the inventory: every `*.yaml` in one directory is one site.
//!
//! Files are parsed into line-numbered YAML trees, each item is deserialized on its own (so one
//! bad host does not hide the next), and every reference and value is checked. All problems are
//! returned together, each with file, line and the offending value.

pub mod cache;
mod interfaces;
mod model;
pub mod raw;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use ipnet::{Ipv4Net, Ipv6Net};

pub use interfaces::check_device;
pub use model::*;

use crate::diag::{did_you_mean, Diagnostics, Invalid};
use crate::names;
use crate::selector::Selector;
use crate::yaml::{self, Kind, Node, PathItem};

/// One parsed inventory file.
pub struct Source {
    /// The path as shown in messages.
    pub name: Arc<str>,
    pub root: Node,
}

const SECTIONS: [&str; 9] =
    ["site", "networks", "images", "bootactions", "appliances", "attributes", "files", "hosts", "boot"];

/// Reads every `*.yaml` file in `dir` (sorted by name). Parse errors are collected, not fatal;
/// so is every `*.yaml` entry that is not a readable regular file (never skipped: the build would
/// then remove that part of the site from `out/`).
pub fn read_dir(dir: &Path) -> anyhow::Result<(Vec<Source>, Diagnostics)> {
    let mut sources = Vec::new();
    let diags = read_each(dir, |name, text, diags| match Node::parse_inventory(text) {
        Ok(root) => sources.push(Source { name, root }),
        Err(e) => diags.error(&name, e.line, e.message),
    })?;
    Ok((sources, diags))
}

/// Hands each `*.yaml` file of `dir` (sorted by name) to `each` with its text; problems reading
/// the directory or a file are collected.
fn read_each(dir: &Path, mut each: impl FnMut(Arc<str>, &str, &mut Diagnostics)) -> anyhow::Result<Diagnostics> {
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) => {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                "the inventory directory does not exist; pass --inventory DIR".to_string()
            } else {
                format!("cannot read the inventory directory: {e}; pass --inventory DIR")
            };
            let file = names::printable(&dir.display().to_string());
            return Err(crate::diag::Invalid(vec![crate::diag::Diagnostic::error(file, None, message)]).into());
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in listing {
        let entry = entry.with_context(|| format!("cannot read inventory directory `{}`", dir.display()))?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut diags = Diagnostics::default();
    if paths.is_empty() {
        diags.error(
            &dir.display().to_string(),
            None,
            "no *.yaml inventory files found in this directory; pass --inventory DIR",
        );
    }
    for path in paths {
        let name: Arc<str> = names::printable(&path.display().to_string()).into();
        match crate::input::read_text(&path, yaml::MAX_DOCUMENT_BYTES) {
            Ok(text) => each(name, &text, &mut diags),
            Err(e) => diags.error(&name, e.line, format!("inventory file {}", e.message)),
        }
    }
    Ok(diags)
}

/// Loads and validates the inventory in `dir`. Hosts are read as their file is parsed (on a
/// second thread), and each one's YAML nodes are dropped once it is read: at 100,000 hosts the
/// nodes of the whole `hosts` list would take many times the file's size.
pub fn load(dir: &Path) -> anyhow::Result<Inventory> {
    load_cached(dir, None)
}

/// `load`, keeping each file's parse result in the directory `cache` (see `cache::path_for`):
/// a file whose entry is there and sound is not parsed again. Entries are written only when the
/// load succeeds.
pub fn load_cached(dir: &Path, cache: Option<&Path>) -> anyhow::Result<Inventory> {
    let mut cache = cache::Cache::new(cache);
    let mut sources = Vec::new();
    let mut streamed = Vec::new();
    let diags = read_each(dir, |name, text, diags| {
        let key = cache.as_ref().map(|c| c.key(&name, text));
        let hit = cache.as_mut().zip(key.as_ref()).and_then(|(c, k)| c.get(k, &name));
        let fresh = hit.is_none();
        let parsed = match hit {
            Some(p) => Ok(p),
            None => parse_streaming(text, &name).map(|(root, hosts, found)| (root, hosts, all(found))),
        };
        match parsed {
            Ok(p) => {
                if let (Some(c), Some(k), true) = (cache.as_mut(), key, fresh) {
                    c.put(k, &name, &p);
                }
                let (root, hosts, found) = p;
                sources.push(Source { name, root });
                streamed.push(hosts);
                diags.extend(found);
            }
            Err(e) => diags.error(&name, e.line, e.message),
        }
    })?;
    let inventory = validate_with(dir, &sources, streamed, diags)?;
    if let Some(c) = cache {
        c.store();
    }
    Ok(inventory)
}

/// Every diagnostic collected (sorted; the caller's `finish` sorts them all again).
fn all(d: Diagnostics) -> Vec<crate::diag::Diagnostic> {
    match d.finish_with_warnings(false) {
        Ok(v) | Err(Invalid(v)) => v,
    }
}

/// Hosts read per batch (no reallocation of one huge vector while reading).
const BATCH: usize = 1024;

/// Parses an inventory file; the items of its `hosts` list are read into `Pending` hosts as the
/// parser reaches them (see `Node::parse_inventory_streaming`), not kept as nodes.
fn parse_streaming(text: &str, file: &Arc<str>) -> Result<(Node, Vec<Vec<Pending>>, Diagnostics), yaml::Error> {
    let empty = Arc::new(raw::Attributes::new());
    let (mut hosts, mut d) = (vec![Vec::with_capacity(BATCH)], Diagnostics::default());
    let root = Node::parse_inventory_streaming(text, "hosts", &mut |node| {
        if let Some(host) = prepare(&node, file, &empty, &mut d) {
            if hosts.last().is_none_or(|b| b.len() == BATCH) {
                hosts.push(Vec::with_capacity(BATCH));
            }
            if let Some(batch) = hosts.last_mut() {
                batch.push(host);
            }
        }
    })?;
    Ok((root, hosts, d))
}

/// An item of a section, with its file and node kept for line lookups.
struct Item<'a, T> {
    file: &'a Arc<str>,
    node: &'a Node,
    key_line: usize,
    value: T,
}

impl<T> Item<'_, T> {
    fn origin(&self) -> Origin {
        Origin { file: self.file.clone(), line: self.key_line }
    }
    fn line(&self, path: &[PathItem]) -> Option<usize> {
        Some(self.node.line_of(path))
    }
}

#[derive(Default)]
struct Raw<'a> {
    site: Option<Item<'a, raw::Site>>,
    networks: BTreeMap<String, Item<'a, raw::Network>>,
    images: BTreeMap<String, Item<'a, raw::Image>>,
    bootactions: BTreeMap<String, Item<'a, raw::BootAction>>,
    appliances: BTreeMap<String, Item<'a, raw::Appliance>>,
    attributes: Vec<Item<'a, (String, serde_json::Value)>>,
    /// Attribute name -> index in `attributes`, to find a second definition in constant time.
    attribute_index: HashMap<String, usize>,
    files: Vec<Item<'a, raw::FileRule>>,
    /// Read hosts, in batches (no reallocation of one huge vector while reading).
    hosts: Vec<Vec<Pending>>,
    boot: BTreeMap<String, Item<'a, raw::BootState>>,
}

fn yaml_error(d: &mut Diagnostics, file: &str, e: yaml::Error) {
    d.error(file, e.line, e.message);
}

/// Deserializes the entries of a mapping section, one at a time.
fn map_section<'a, T: serde::Deserialize<'a>>(
    d: &mut Diagnostics,
    file: &'a Arc<str>,
    section: &str,
    node: &'a Node,
    into: &mut BTreeMap<String, Item<'a, T>>,
) {
    let Kind::Map(entries) = &node.kind else {
        if !matches!(node.kind, Kind::Null) {
            d.error(file, Some(node.line), format!("`{section}` must be a mapping of names, not {}", node.type_name()));
        }
        return;
    };
    for (key, value) in entries {
        let Some(name) = key.as_str() else {
            d.error(file, Some(key.line), format!("`{section}` keys must be names"));
            continue;
        };
        if section != "attributes" && section != "boot" {
            if let Err(e) = names::check_identifier(name) {
                d.error(file, Some(key.line), format!("{section}: {e}"));
            }
        }
        if let Some(first) = into.get(name) {
            d.error(
                file,
                Some(key.line),
                format!("{section}: `{name}` is defined twice (first at {}:{})", first.file, first.key_line),
            );
            continue;
        }
        match yaml::from_node::<T>(value) {
            Ok(v) => {
                into.insert(name.to_string(), Item { file, node: value, key_line: key.line, value: v });
            }
            Err(e) => yaml_error(d, file, e),
        }
    }
}

fn list_section<'a, T: serde::Deserialize<'a>>(
    d: &mut Diagnostics,
    file: &'a Arc<str>,
    section: &str,
    node: &'a Node,
    into: &mut Vec<Item<'a, T>>,
) {
    let Kind::Seq(items) = &node.kind else {
        if !matches!(node.kind, Kind::Null) {
            d.error(file, Some(node.line), format!("`{section}` must be a list, not {}", node.type_name()));
        }
        return;
    };
    for item in items {
        match yaml::from_node::<T>(item) {
            Ok(v) => into.push(Item { file, node: item, key_line: item.line, value: v }),
            Err(e) => yaml_error(d, file, e),
        }
    }
}

fn collect<'a>(sources: &'a [Source], mut streamed: Vec<Vec<Vec<Pending>>>, d: &mut Diagnostics) -> Raw<'a> {
    let mut raw = Raw::default();
    streamed.resize_with(sources.len(), Vec::new);
    for (src, mut streamed) in sources.iter().zip(streamed) {
        let file = &src.name;
        let entries = match &src.root.kind {
            Kind::Map(entries) => entries,
            Kind::Null => continue,
            _ => {
                d.error(
                    file,
                    Some(src.root.line),
                    "an inventory file must be a mapping of sections (site, networks, hosts, ...)",
                );
                continue;
            }
        };
        for (key, value) in entries {
            match key.as_str().unwrap_or("") {
                "site" => {
                    if let Some(first) = &raw.site {
                        d.error(
                            file,
                            Some(key.line),
                            format!("`site` is defined twice (first at {}:{})", first.file, first.key_line),
                        );
                        continue;
                    }
                    match yaml::from_node::<raw::Site>(value) {
                        Ok(v) => raw.site = Some(Item { file, node: value, key_line: key.line, value: v }),
                        Err(e) => yaml_error(d, file, e),
                    }
                }
                "networks" => map_section(d, file, "networks", value, &mut raw.networks),
                "images" => map_section(d, file, "images", value, &mut raw.images),
                "bootactions" => map_section(d, file, "bootactions", value, &mut raw.bootactions),
                "appliances" => map_section(d, file, "appliances", value, &mut raw.appliances),
                "boot" => map_section(d, file, "boot", value, &mut raw.boot),
                "attributes" => {
                    let mut m = BTreeMap::new();
                    map_section::<serde_json::Value>(d, file, "attributes", value, &mut m);
                    for (k, item) in m {
                        if let Some(&i) = raw.attribute_index.get(&k) {
                            let first: &Item<_> = &raw.attributes[i];
                            d.error(
                                file,
                                Some(item.key_line),
                                format!(
                                    "attributes: `{}` is defined twice (first at {}:{})",
                                    names::printable(&k),
                                    first.file,
                                    first.key_line
                                ),
                            );
                            continue;
                        }
                        raw.attribute_index.insert(k.clone(), raw.attributes.len());
                        raw.attributes.push(Item {
                            file,
                            node: item.node,
                            key_line: item.key_line,
                            value: (k, item.value),
                        });
                    }
                }
                "files" => list_section(d, file, "files", value, &mut raw.files),
                "hosts" => {
                    let Kind::Seq(items) = &value.kind else {
                        if !matches!(value.kind, Kind::Null) {
                            d.error(
                                file,
                                Some(value.line),
                                format!("`hosts` must be a list, not {}", value.type_name()),
                            );
                        }
                        continue;
                    };
                    let empty = Arc::new(raw::Attributes::new());
                    raw.hosts.push(items.iter().filter_map(|item| prepare(item, file, &empty, d)).collect());
                    // Read while parsing (`load`): this file's list is empty here.
                    raw.hosts.append(&mut streamed);
                }
                other => d.error(
                    file,
                    Some(key.line),
                    format!(
                        "unknown section `{}`{}; sections are: {}",
                        names::printable(other),
                        did_you_mean(other, SECTIONS),
                        SECTIONS.join(", ")
                    ),
                ),
            }
        }
    }
    raw
}

/// Turns parsed files into a validated inventory, reporting every problem at once.
pub fn validate(dir: &Path, sources: &[Source], d: Diagnostics) -> Result<Inventory, Invalid> {
    validate_with(dir, sources, Vec::new(), d)
}

/// `validate`, with the hosts of each source that were read while parsing it (`load`).
fn validate_with(
    dir: &Path,
    sources: &[Source],
    streamed: Vec<Vec<Vec<Pending>>>,
    mut d: Diagnostics,
) -> Result<Inventory, Invalid> {
    let mut raw = collect(sources, streamed, &mut d);
    let site = validate_site(&raw, dir, &mut d);
    let networks = validate_networks(&raw, &mut d);
    let images = validate_images(&raw, dir, &mut d);
    let bootactions = validate_bootactions(&raw, &images, &bootloader_names(&raw), &mut d);
    let appliances = validate_appliances(&raw, &mut d);
    let attributes: raw::Attributes = raw.attributes.iter().map(|a| a.value.clone()).collect();
    let pending = std::mem::take(&mut raw.hosts);
    let hosts = validate_hosts(pending, &raw, &networks, &appliances, &attributes, &mut d);
    check_arches(&hosts, &networks, &bootactions, &images, &mut d);
    let files = validate_files(&raw, &hosts, &appliances, &mut d);
    d.finish()?;
    let site = site.ok_or_else(|| Invalid(vec![]))?;
    Ok(Inventory { dir: dir.to_path_buf(), site, networks, images, bootactions, appliances, attributes, files, hosts })
}

fn validate_site(raw: &Raw, dir: &Path, d: &mut Diagnostics) -> Option<Site> {
    let Some(item) = &raw.site else {
        d.error(
            &dir.display().to_string(),
            None,
            "no `site:` section in any inventory file; add one with name, domain, frontend and http",
        );
        return None;
    };
    let s = &item.value;
    let f = item.file;
    let line = |k: &str| item.line(&[PathItem::Key(k)]);
    let mut ok = true;
    let mut check = |k: &str, r: Result<(), String>| {
        if let Err(e) = r {
            d.error(f, line(k), format!("site.{k}: {e}"));
            ok = false;
        }
    };
    check("name", names::check_dns_label(&s.name));
    check("domain", names::check_dns_name(&s.domain));
    check("http", names::check_url(&s.http).and_then(|()| crate::serve::HttpBase::parse(&s.http).map(|_| ())));
    let root = s.root.clone().unwrap_or_else(|| "/srv/pxebake".to_string());
    check("root", check_root(&root));
    // Outside the tree: `make deploy` replaces the tree, and must not delete the log.
    let events_log = s.events_log.clone().unwrap_or_else(|| "/var/log/nginx/pxebake-events.log".to_string());
    check("events_log", check_root(&events_log));
    if let Some(m) = &s.mirror {
        check("mirror", names::check_line(m));
    }
    // nginx refuses a `listen ... ssl` without a certificate: an https site names both.
    let https = s.http.starts_with("https://");
    for (k, v) in [("tls_certificate", &s.tls_certificate), ("tls_certificate_key", &s.tls_certificate_key)] {
        match v {
            Some(path) if https => check(k, check_root(path)),
            Some(_) => check(k, Err(format!("is only used by an `https` site, and site.http is `{}`", names::printable(&s.http)))),
            None if https => check(
                "http",
                Err(format!(
                    "an https site needs site.{k} (a path on the boot server): nginx serves https only with a certificate"
                )),
            ),
            None => {}
        }
    }
    let frontend = parse_ip(&s.frontend);
    check("frontend", frontend.map(|_| ()));
    let frontend6 = s.frontend6.as_deref().map(parse_ip6);
    if let Some(r) = &frontend6 {
        check("frontend6", r.as_ref().map(|_| ()).map_err(Clone::clone));
    }
    let mut bootloaders = BTreeMap::new();
    for (name, path) in &s.bootloaders {
        let kline = item.line(&[PathItem::Key("bootloaders"), PathItem::Key(name)]);
        let r = names::check_file_name(name).map_err(|e| format!("name {e}")).and_then(|()| match path {
            Some(p) if p.is_empty() => Err("path is empty; use `null` to drop a default bootloader".to_string()),
            Some(p) => names::check_line(p).map_err(|e| format!("path {e}")),
            None => Ok(()),
        });
        match r {
            Err(e) => {
                d.error(f, kline, format!("site.bootloaders: `{}`: {e}", names::printable(name)));
                ok = false;
            }
            Ok(()) => {
                let origin = Origin { file: f.clone(), line: kline.unwrap_or(item.key_line) };
                bootloaders.insert(name.clone(), path.as_ref().map(|p| BootloaderSource { path: p.into(), origin }));
            }
        }
    }
    if !ok {
        return None;
    }
    let http = s.http.trim_end_matches('/').to_string();
    let frontend6 = frontend6.and_then(Result::ok);
    let http6 = frontend6.and_then(|f6| http_for_ipv6(&http, f6));
    Some(Site {
        name: s.name.clone(),
        domain: s.domain.clone(),
        frontend: parse_ip(&s.frontend).ok()?,
        frontend6,
        http,
        http6,
        root,
        events_log,
        tls_certificate: s.tls_certificate.clone(),
        tls_certificate_key: s.tls_certificate_key.clone(),
        mirror: s.mirror.clone(),
        bootloaders,
        origin: item.origin(),
    })
}

/// Longest `site.root`.
const MAX_ROOT: usize = 512;

fn check_root(root: &str) -> Result<(), String> {
    names::check_line(root)?;
    if !root.starts_with('/') {
        return Err(format!("`{root}` must be an absolute path on the boot server, like /srv/pxebake"));
    }
    if root.contains(['*', '?', '[', ']']) {
        return Err(format!(
            "`{root}` must not contain glob characters (`*`, `?`, `[`, `]`): nginx expands them in `include`"
        ));
    }
    if root.contains(char::is_whitespace)
        || root.split('/').any(|c| c == "..")
        || root.contains(['"', '\'', ';', '{', '}', '#'])
        // `,` ends a dnsmasq `tftp-root=` value; `$` starts an nginx variable in `alias`.
        || root.contains([',', '$', '\\'])
    {
        return Err(format!("`{root}` must not contain spaces, quotes, `;`, `#`, `,`, `$`, `\\`, braces or `..`"));
    }
    // dnsmasq reads config lines of at most about 1024 bytes; `tftp-root=ROOT/tftp` must fit.
    if root.len() > MAX_ROOT {
        return Err(format!("is {} bytes long; at most {MAX_ROOT} fit on a dnsmasq config line", root.len()));
    }
    Ok(())
}

fn parse_ip(s: &str) -> Result<Ipv4Addr, String> {
    s.parse().map_err(|_| format!("`{}` is not an IPv4 address", names::printable(s)))
}

/// An IPv6 address a client can reach without a zone: not unspecified, loopback, multicast or
/// link-local (those need `%iface` in a URL, which dnsmasq and iPXE lines cannot carry).
fn parse_ip6(s: &str) -> Result<Ipv6Addr, String> {
    let shown = names::printable(s);
    let ip: Ipv6Addr = s.parse().map_err(|_| format!("`{shown}` is not an IPv6 address like 2001:db8::1"))?;
    let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || link_local {
        return Err(format!(
            "`{ip}` is not a unicast address machines can reach; use a global or ULA (fd00::/8) address"
        ));
    }
    Ok(ip)
}

/// `site.http` as an IPv6 client reaches it: the URL itself when its host is a name or an IPv6
/// address, else the same port and path on `[frontend6]`.
fn http_for_ipv6(http: &str, frontend6: Ipv6Addr) -> Option<String> {
    let b = crate::serve::HttpBase::parse(http).ok()?;
    if b.host.parse::<Ipv4Addr>().is_err() {
        return Some(http.to_string());
    }
    Some(format!("{}://[{frontend6}]:{}{}", b.scheme, b.port, b.path))
}

fn validate_networks(raw: &Raw, d: &mut Diagnostics) -> BTreeMap<String, Network> {
    let mut out = BTreeMap::new();
    // Presence only: a bad `site.frontend6` is reported at its own line.
    let frontend6 = raw.site.as_ref().and_then(|s| s.value.frontend6.as_ref());
    for (name, item) in &raw.networks {
        let n = &item.value;
        let f = item.file;
        let line = |k: &str| item.line(&[PathItem::Key(k)]);
        let address: Ipv4Net = match n.address.parse::<Ipv4Net>() {
            Ok(a) if a.addr() != a.network() => {
                d.error(
                    f,
                    line("address"),
                    format!(
                        "network `{name}`: address `{}` has host bits set (did you mean `{}`?)",
                        n.address,
                        a.trunc()
                    ),
                );
                continue;
            }
            Ok(a) => a,
            Err(_) => {
                d.error(
                    f,
                    line("address"),
                    format!(
                        "network `{name}`: address `{}` is not an IPv4 network like 10.2.0.0/16",
                        names::printable(&n.address)
                    ),
                );
                continue;
            }
        };
        let gateway = match n.gateway.as_deref().map(parse_ip) {
            None => None,
            Some(Ok(g)) if address.contains(&g) => Some(g),
            Some(Ok(g)) => {
                d.error(f, line("gateway"), format!("network `{name}`: gateway `{g}` is outside {address}"));
                None
            }
            Some(Err(e)) => {
                d.error(f, line("gateway"), format!("network `{name}`: gateway {e}"));
                None
            }
        };
        let ipv6 = n.ipv6.as_deref().and_then(|v| match ipv6_prefix(v, dhcp_mode(n.dhcp.as_deref())) {
            Ok(p) => Some(p),
            Err(e) => {
                d.error(f, line("ipv6"), format!("network `{name}`: ipv6 {e}"));
                None
            }
        });
        if ipv6.is_some() && n.pxe && frontend6.is_none() {
            d.error(
                f,
                line("ipv6"),
                format!("network `{name}`: an `ipv6` PXE network needs `site.frontend6`, the boot server's IPv6 address on it (DHCPv6 clients get tftp://[frontend6]/ URLs); add it to `site:`"),
            );
        }
        let zone = n.zone.clone().unwrap_or_default();
        if !zone.is_empty() {
            if let Err(e) = names::check_dns_name(&zone) {
                d.error(f, line("zone"), format!("network `{name}`: zone {e}"));
            }
        }
        let mtu = n.mtu.unwrap_or(1500);
        if !(576..=9216).contains(&mtu) {
            d.error(f, line("mtu"), format!("network `{name}`: mtu {mtu} is outside 576..9216"));
        }
        let dhcp = match n.dhcp.as_deref() {
            None | Some("static") => DhcpMode::Static,
            Some("proxy") => DhcpMode::Proxy,
            Some(other) => {
                d.error(
                    f,
                    line("dhcp"),
                    format!("network `{name}`: dhcp `{}` must be `static` or `proxy`", names::printable(other)),
                );
                DhcpMode::Static
            }
        };
        let (loader, loader_origin) = match n.loader.as_deref() {
            None => (Loader::Ipxe, item.origin()),
            Some(l) => {
                let origin = Origin { file: f.clone(), line: line("loader").unwrap_or(item.key_line) };
                (parse_loader(l, d, f, line("loader"), &format!("network `{name}`")), origin)
            }
        };
        let mut servers = |k: &str, list: &Option<Vec<String>>| -> Vec<Ipv4Addr> {
            let list = list.as_deref().unwrap_or_default();
            if !list.is_empty() && dhcp == DhcpMode::Proxy {
                d.error(
                    f,
                    line(k),
                    format!("network `{name}`: `{k}` has no effect with `dhcp: proxy`: the site's DHCP server hands out {k} servers; set them there, or remove `{k}`"),
                );
            }
            list.iter()
                .enumerate()
                .filter_map(|(i, s)| match parse_ip(s) {
                    Ok(ip) => Some(ip),
                    Err(e) => {
                        let l = item.line(&[PathItem::Key(k), PathItem::Index(i)]);
                        d.error(
                            f,
                            l,
                            format!("network `{name}`: {k} server {e} (dnsmasq hands out addresses, not names)"),
                        );
                        None
                    }
                })
                .collect()
        };
        let dns = servers("dns", &n.dns);
        let ntp = servers("ntp", &n.ntp);
        let discovery = n.discovery.as_deref().and_then(|r| match discovery_range(r, address, dhcp) {
            Ok(range) => Some(range),
            Err(e) => {
                d.error(f, line("discovery"), format!("network `{name}`: discovery {e}"));
                None
            }
        });
        out.insert(
            name.clone(),
            Network {
                name: name.clone(),
                address,
                network: address.network(),
                netmask: address.netmask(),
                prefix: address.prefix_len(),
                ipv6,
                gateway,
                zone,
                mtu,
                pxe: n.pxe,
                dhcp,
                loader,
                loader_origin,
                dns,
                ntp,
                discovery,
            },
        );
    }
    out
}

fn dhcp_mode(v: Option<&str>) -> DhcpMode {
    if v == Some("proxy") {
        DhcpMode::Proxy
    } else {
        DhcpMode::Static
    }
}

/// `2001:db8:99::/64`: a network's IPv6 prefix, as dnsmasq serves DHCPv6 on it (a static range:
/// reserved addresses only; dnsmasq takes prefixes of 64 bits or longer).
fn ipv6_prefix(v: &str, dhcp: DhcpMode) -> Result<Ipv6Net, String> {
    let shown = names::printable(v);
    let p: Ipv6Net = v.parse().map_err(|_| format!("`{shown}` is not an IPv6 prefix like 2001:db8:99::/64"))?;
    if p.addr() != p.network() {
        return Err(format!("`{shown}` has host bits set (did you mean `{}`?)", p.trunc()));
    }
    if !(64..=120).contains(&p.prefix_len()) {
        return Err(format!(
            "`{shown}`: the prefix length must be 64..120 (dnsmasq serves DHCPv6 on /64 or longer prefixes)"
        ));
    }
    parse_ip6(&p.network().to_string()).map_err(|e| format!("prefix {e}"))?;
    if dhcp == DhcpMode::Proxy {
        return Err(format!("`{shown}` needs `dhcp: static`: DHCPv6 has no proxy mode, so the site's DHCPv6 server must hand out the boot file URL; remove `ipv6` here, or let pxebake's dnsmasq serve the network"));
    }
    Ok(p)
}

/// `10.2.0.10-10.2.0.99`: a range of usable addresses inside a static network.
fn discovery_range(r: &str, net: Ipv4Net, dhcp: DhcpMode) -> Result<model::Discovery, String> {
    if dhcp == DhcpMode::Proxy {
        return Err(
            "has no effect with `dhcp: proxy`: the site's DHCP server already gives unknown machines an address".into(),
        );
    }
    let shown = names::printable(r);
    let (a, b) = r.split_once('-').ok_or_else(|| format!("`{shown}` must be a range like 10.2.0.10-10.2.0.99"))?;
    let (first, last) = (parse_ip(a.trim())?, parse_ip(b.trim())?);
    let usable = |ip: Ipv4Addr| net.contains(&ip) && ip != net.network() && ip != net.broadcast();
    if !usable(first) || !usable(last) || first > last {
        return Err(format!("`{shown}` must be FIRST-LAST, both usable addresses of {net}, FIRST not after LAST"));
    }
    Ok(model::Discovery { first, last })
}

/// A host's kernels must be built for its architecture, and its loader must have a build for it.
fn check_arches(
    hosts: &[Host],
    networks: &BTreeMap<String, Network>,
    bootactions: &BTreeMap<String, BootAction>,
    images: &BTreeMap<String, Image>,
    d: &mut Diagnostics,
) {
    for h in hosts {
        let o = &h.arch_origin;
        for (k, action) in [("installaction", &h.installaction), ("runaction", &h.runaction)] {
            let Some(Action::Kernel { image, .. }) =
                action.as_ref().and_then(|a| bootactions.get(a)).map(|b| &b.action)
            else {
                continue;
            };
            if let Some(img) = images.get(image).filter(|i| i.arch != h.arch) {
                d.error(
                    &o.file,
                    Some(o.line),
                    format!(
                        "host `{}` is {}, but its {k} `{}` boots image `{image}`, which is {}; give the host a bootaction whose image has `arch: {}`",
                        h.name,
                        h.arch.name(),
                        action.as_deref().unwrap_or_default(),
                        img.arch.name(),
                        h.arch.name()
                    ),
                );
            }
        }
        for (i, _, _) in h.pxe_interfaces(networks) {
            let Some(net) = i.network.as_ref().and_then(|n| networks.get(n)) else { continue };
            let (loader, from) = match (h.loader, &h.loader_origin) {
                (Some(l), Some(lo)) => (l, format!("its `loader: {}` ({lo})", l.name())),
                _ => (
                    net.loader,
                    format!("loader `{}` of network `{}` ({})", net.loader.name(), net.name, net.loader_origin),
                ),
            };
            if !loader.supports(h.arch) {
                d.error(
                    &o.file,
                    Some(o.line),
                    format!(
                        "host `{}` is {}, but {from} has no {} build (Debian ships iPXE for x86 only); set `loader: tftp` or `loader: secureboot` on the host or its network",
                        h.name,
                        h.arch.name(),
                        h.arch.name()
                    ),
                );
                break;
            }
        }
    }
}

/// `loader:` of a network or host; an unknown value is reported and taken as the default.
fn parse_loader(value: &str, d: &mut Diagnostics, file: &str, line: Option<usize>, what: &str) -> Loader {
    Loader::parse(value).unwrap_or_else(|| {
        let all: Vec<&str> = Loader::ALL.iter().map(|l| l.name()).collect();
        d.error(
            file,
            line,
            format!(
                "{what}: loader `{}` is not one of {}{}",
                names::printable(value),
                all.join(", "),
                did_you_mean(value, all.iter().copied())
            ),
        );
        Loader::Ipxe
    })
}

fn parse_arch(value: &str, d: &mut Diagnostics, file: &str, line: Option<usize>, what: &str) -> Arch {
    Arch::parse(value).unwrap_or_else(|| {
        let all: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
        d.error(
            file,
            line,
            format!(
                "{what}: arch `{}` is not one of {}{}",
                names::printable(value),
                all.join(", "),
                did_you_mean(value, all.iter().copied())
            ),
        );
        Arch::Amd64
    })
}

fn validate_images(raw: &Raw, dir: &Path, d: &mut Diagnostics) -> BTreeMap<String, Image> {
    let mut out = BTreeMap::new();
    for (name, item) in &raw.images {
        let i = &item.value;
        let f = item.file;
        let line = |k: &str| item.line(&[PathItem::Key(k)]);
        if let Err(e) = names::check_file_name(&i.version) {
            d.error(f, line("version"), format!("image `{name}`: version {e}"));
        }
        if !i.url.contains("{version}") {
            d.error(
                f,
                line("url"),
                format!(
                    "image `{name}`: url `{}` must contain `{{version}}` so the pinned version is used",
                    names::printable(&i.url)
                ),
            );
        }
        if let Some(v) = &i.ignition {
            if crate::check::ignition_release::parse(v).is_none() {
                d.error(
                    f,
                    line("ignition"),
                    format!(
                        "image `{name}`: ignition `{}` is not an Ignition release like \"2.24.0\" (see the OS's release notes)",
                        names::printable(v)
                    ),
                );
            }
        }
        let url = i.url.replace("{version}", &i.version);
        if let Err(e) = names::check_url(&url) {
            d.error(f, line("url"), format!("image `{name}`: url {e}"));
        }
        for (role, file) in &i.files {
            if let Err(e) = names::check_file_name(file) {
                d.error(
                    f,
                    item.line(&[PathItem::Key("files"), PathItem::Key(role)]),
                    format!("image `{name}`: file `{role}`: {e}"),
                );
            }
        }
        if let Err(e) = names::check_line(&i.key) {
            d.error(f, line("key"), format!("image `{name}`: key {e}"));
        }
        let key = dir.join(&i.key);
        if !key.is_file() {
            d.error(
                f,
                line("key"),
                format!(
                    "image `{name}`: key file `{}` does not exist; keys are paths relative to the inventory directory",
                    key.display()
                ),
            );
        }
        out.insert(
            name.clone(),
            Image {
                name: name.clone(),
                url: if url.ends_with('/') { url } else { format!("{url}/") },
                version: i.version.clone(),
                key,
                files: i.files.clone(),
                mirror: i.mirror.clone(),
                insecure_sha1_key_before: i.insecure_sha1_key_before.clone(),
                arch: i
                    .arch
                    .as_deref()
                    .map_or(Arch::Amd64, |a| parse_arch(a, d, f, line("arch"), &format!("image `{name}`"))),
                ignition: i.ignition.clone(),
                origin: item.origin(),
            },
        );
    }
    // Image files are cached (and pinned) by URL: two images at one URL would share their files.
    let mut by_url: BTreeMap<&str, &Image> = BTreeMap::new();
    for img in out.values() {
        match by_url.get(img.url.as_str()) {
            Some(first) => d.error(
                &img.origin.file,
                Some(img.origin.line),
                format!(
                    "image `{}` has the same url as image `{}` ({}): files are cached by URL, so they would share files; give each image its own url",
                    img.name, first.name, first.origin
                ),
            ),
            None => {
                by_url.insert(&img.url, img);
            }
        }
    }
    out
}

/// The names the site's bootloaders take in `tftp/` (defaults, minus those set to `null`, plus
/// the site's own): a kernel or initrd may not take one, with or without `--no-bootloaders`.
fn bootloader_names(raw: &Raw) -> std::collections::BTreeSet<String> {
    let mut names: std::collections::BTreeSet<String> =
        crate::serve::DEFAULT_BOOTLOADERS.iter().map(|(n, _, _)| n.to_string()).collect();
    if let Some(site) = &raw.site {
        for (name, path) in &site.value.bootloaders {
            match path {
                None => names.remove(name),
                Some(_) => names.insert(name.clone()),
            };
        }
    }
    names
}

fn validate_bootactions(
    raw: &Raw,
    images: &BTreeMap<String, Image>,
    bootloaders: &std::collections::BTreeSet<String>,
    d: &mut Diagnostics,
) -> BTreeMap<String, BootAction> {
    let mut out = BTreeMap::new();
    for (name, item) in &raw.bootactions {
        let b = &item.value;
        let f = item.file;
        let line = |k: &str| item.line(&[PathItem::Key(k)]);
        let action = match (b.localboot, &b.kernel) {
            (Some(n), None) if b.ramdisk.is_none() && b.image.is_none() && b.args.is_none() && b.ignition.is_none() => {
                Action::LocalBoot { localboot: n }
            }
            (Some(_), _) => {
                d.error(
                    f,
                    line("localboot"),
                    format!("bootaction `{name}`: `localboot` cannot be combined with kernel, ramdisk, image, args or ignition"),
                );
                continue;
            }
            (None, None) => {
                d.error(
                    f,
                    Some(item.key_line),
                    format!("bootaction `{name}` needs either `kernel` (with `image`) or `localboot`"),
                );
                continue;
            }
            (None, Some(kernel)) => {
                let mut ok = true;
                for (k, v) in [("kernel", Some(kernel)), ("ramdisk", b.ramdisk.as_ref())] {
                    if let Some(Err(e)) = v.map(|v| names::check_file_name(v)) {
                        d.error(f, line(k), format!("bootaction `{name}`: {k} {e}"));
                        ok = false;
                    }
                    if let Some(v) = v.filter(|v| bootloaders.contains(v.as_str())) {
                        d.error(
                            f,
                            line(k),
                            format!("bootaction `{name}`: {k} `{v}` is the name of a bootloader in tftp/; choose another name"),
                        );
                        ok = false;
                    }
                }
                let image = match &b.image {
                    None => {
                        d.error(
                            f,
                            Some(item.key_line),
                            format!(
                                "bootaction `{name}`: a kernel action needs `image`, the image its kernel comes from"
                            ),
                        );
                        continue;
                    }
                    Some(img) => img,
                };
                match images.get(image) {
                    None => {
                        d.error(
                            f,
                            line("image"),
                            format!(
                                "bootaction `{name}`: unknown image `{image}`{}",
                                did_you_mean(image, images.keys().map(String::as_str))
                            ),
                        );
                        ok = false;
                    }
                    Some(img) => {
                        for (role, needed) in [("kernel", true), ("initrd", b.ramdisk.is_some())] {
                            if needed && !img.files.contains_key(role) {
                                d.error(
                                    f,
                                    line("image"),
                                    format!("bootaction `{name}`: image `{image}` has no `{role}` in its `files`"),
                                );
                                ok = false;
                            }
                        }
                    }
                }
                let args = b.args.clone().unwrap_or_default();
                if let Err(e) = names::check_line(&args) {
                    d.error(f, line("args"), format!("bootaction `{name}`: args {e}"));
                    ok = false;
                }
                if let Some(Err(e)) = b.ignition.as_deref().map(names::check_line) {
                    d.error(f, line("ignition"), format!("bootaction `{name}`: ignition {e}"));
                    ok = false;
                }
                if !ok {
                    continue;
                }
                Action::Kernel {
                    kernel: kernel.clone(),
                    ramdisk: b.ramdisk.clone(),
                    image: image.clone(),
                    args,
                    ignition: b.ignition.clone(),
                }
            }
        };
        out.insert(name.clone(), BootAction { name: name.clone(), action, origin: item.origin() });
    }
    // Two actions naming the same TFTP file must point it at the same image file.
    let mut names_seen: BTreeMap<&str, (&str, &str, String)> = BTreeMap::new();
    for ba in out.values() {
        if let Action::Kernel { kernel, ramdisk, image, .. } = &ba.action {
            for (file, role) in [(Some(kernel), "kernel"), (ramdisk.as_ref(), "initrd")] {
                let Some(file) = file else { continue };
                if let Some((other, other_image, other_role)) = names_seen.get(file.as_str()) {
                    if (*other_image, other_role.as_str()) != (image.as_str(), role) {
                        d.error(&ba.origin.file, Some(ba.origin.line), format!("bootaction `{}`: TFTP file `{file}` is also declared by bootaction `{other}` for a different image file", ba.name));
                    }
                    continue;
                }
                names_seen.insert(file, (&ba.name, image, role.to_string()));
            }
        }
    }
    out
}

/// Checks a bootaction reference against every bootaction written (valid or not), so one
/// broken bootaction does not also make every reference to it an error.
fn check_action_ref<T>(name: Option<&String>, bootactions: &BTreeMap<String, T>) -> Result<(), String> {
    match name {
        Some(n) if !bootactions.contains_key(n) => {
            Err(format!("unknown bootaction `{n}`{}", did_you_mean(n, bootactions.keys().map(String::as_str))))
        }
        _ => Ok(()),
    }
}

fn validate_appliances(raw: &Raw, d: &mut Diagnostics) -> BTreeMap<String, Appliance> {
    let mut out = BTreeMap::new();
    for (name, item) in &raw.appliances {
        let a = &item.value;
        for (k, v) in [("installaction", &a.installaction), ("runaction", &a.runaction)] {
            if let Err(e) = check_action_ref(v.as_ref(), &raw.bootactions) {
                d.error(item.file, item.line(&[PathItem::Key(k)]), format!("appliance `{name}`: {k}: {e}"));
            }
        }
        out.insert(
            name.clone(),
            Appliance {
                name: name.clone(),
                installaction: a.installaction.clone(),
                runaction: a.runaction.clone(),
                attributes: a.attributes.clone(),
            },
        );
    }
    out
}

/// Lines of a host that `finish` and `check_unique` report at: of some keys of the host, and of
/// some keys of each interface (the line of the nearest node there, as `Node::line_of`).
#[cfg_attr(test, derive(Debug))]
pub(crate) struct Lines(Option<Box<[usize]>>);

impl Lines {
    const HOST: [&'static str; 5] = ["name", "appliance", "boot", "installaction", "runaction"];
    const INTERFACE: [&'static str; 4] = ["network", "mac", "ip", "ipv6"];
    const NAME: usize = 0;
    const APPLIANCE: usize = 1;
    const BOOT: usize = 2;
    const INSTALLACTION: usize = 3;
    const RUNACTION: usize = 4;
    pub(crate) const NETWORK: usize = 0;
    pub(crate) const MAC: usize = 1;
    pub(crate) const IP: usize = 2;
    pub(crate) const IPV6: usize = 3;

    fn new(node: &Node, interfaces: usize) -> Lines {
        let host = Lines::HOST.iter().map(|k| node.line_of(&[PathItem::Key(k)]));
        let ifaces = (0..interfaces).flat_map(|idx| {
            Lines::INTERFACE
                .iter()
                .map(move |k| node.line_of(&[PathItem::Key("interfaces"), PathItem::Index(idx), PathItem::Key(k)]))
        });
        let all: Vec<usize> = host.chain(ifaces).collect();
        // A host written on one line (the usual flow style) needs none kept.
        Lines(if all.iter().all(|&l| l == node.line) { None } else { Some(all.into()) })
    }

    fn at(&self, i: usize, host_line: usize) -> usize {
        self.0.as_ref().and_then(|l| l.get(i).copied()).unwrap_or(host_line)
    }

    fn host(&self, k: usize, host_line: usize) -> usize {
        self.at(k, host_line)
    }

    pub(crate) fn interface(&self, idx: usize, k: usize, host_line: usize) -> usize {
        self.at(Lines::HOST.len() + idx * Lines::INTERFACE.len() + k, host_line)
    }
}

/// A host as read from its file, with every check done that needs nothing but the host; the
/// rest (appliance, boot state, actions, networks, duplicates) waits for the whole site.
#[cfg_attr(test, derive(Debug))]
pub(crate) struct Pending {
    /// The host so far: `boot`, `action` and `attributes` are set when the site is read, and
    /// `installaction`/`runaction` hold the host's own until then.
    host: Host,
    /// `boot:` as written.
    boot: Option<String>,
    /// The host's own attributes.
    attributes: raw::Attributes,
    lines: Lines,
}

/// Reads an item of a `hosts` list (`empty`: a shared empty map, the attributes' placeholder).
fn prepare(node: &Node, file: &Arc<str>, empty: &Arc<raw::Attributes>, d: &mut Diagnostics) -> Option<Pending> {
    let h: raw::Host = match yaml::from_node(node) {
        Ok(h) => h,
        Err(e) => {
            yaml_error(d, file, e);
            return None;
        }
    };
    let f = &**file;
    let line = |k: &str| Some(node.line_of(&[PathItem::Key(k)]));
    let name = &h.name;
    if let Err(e) = names::check_dns_label(name).and_then(|()| names::check_dhcp_host_name(name)) {
        d.error(f, line("name"), format!("host name {e}"));
    }
    let what = || format!("host `{}`", names::printable(name));
    let loader = h.loader.as_deref().map(|l| parse_loader(l, d, f, line("loader"), &what()));
    let loader_origin = loader.map(|_| Origin { file: file.clone(), line: line("loader").unwrap_or(node.line) });
    let arch = h.arch.as_deref().map_or(Arch::Amd64, |a| parse_arch(a, d, f, line("arch"), &what()));
    let arch_origin = Origin { file: file.clone(), line: line("arch").unwrap_or(node.line) };
    for g in &h.groups {
        if let Err(e) = names::check_identifier(g) {
            d.error(f, line("groups"), format!("{}: group {e}", what()));
        }
    }
    if let Some(Err(e)) = h.comment.as_deref().map(names::check_line) {
        d.error(f, line("comment"), format!("{}: comment {e}", what()));
    }
    let interfaces = interfaces::prepare(h.interfaces, name, node, f, d);
    let lines = Lines::new(node, interfaces.len());
    Some(Pending {
        host: Host {
            name: h.name,
            appliance: h.appliance,
            rack: h.rack,
            rank: h.rank,
            cpus: h.cpus,
            boot: Boot::Os,
            installaction: h.installaction,
            runaction: h.runaction,
            action: None,
            loader,
            loader_origin,
            arch,
            arch_origin,
            groups: h.groups,
            comment: h.comment,
            interfaces,
            attributes: Arc::clone(empty),
            origin: Origin { file: file.clone(), line: node.line },
        },
        boot: h.boot,
        attributes: h.attributes,
        lines,
    })
}

/// Finishes one read host: appliance, boot state, actions, attributes, and its interfaces'
/// networks.
fn finish(p: &mut Pending, cx: &Context, d: &mut Diagnostics) {
    let Pending { host, boot, attributes, lines: l } = p;
    let (boot_written, own) = (boot.take(), std::mem::take(attributes));
    let (raw, networks, appliances) = (cx.raw, cx.networks, cx.appliances);
    let f = &host.origin.file;
    let key_line = host.origin.line;
    let line = |k: usize| Some(l.host(k, key_line));
    let name = &host.name;
    let shown = names::printable(name);
    let appliance = appliances.get(&host.appliance);
    if appliance.is_none() {
        d.error(
            f,
            line(Lines::APPLIANCE),
            format!(
                "host `{shown}`: unknown appliance `{}`{}",
                names::printable(&host.appliance),
                did_you_mean(&host.appliance, appliances.keys().map(String::as_str))
            ),
        );
    }
    // Boot state: an entry in a `boot:` section (boot.yaml, machine-edited) overrides the host's own.
    let state = raw.boot.get(name.as_str());
    let (boot_text, boot_line, boot_file) = match state.and_then(|b| b.value.boot().map(|v| (v, b))) {
        Some((v, b)) => (Some(v), Some(b.key_line), &**b.file),
        None => (boot_written.as_deref(), line(Lines::BOOT), &**f),
    };
    // installaction/runaction from the boot state win over the host's own.
    let (state_install, state_run) = match state.map(|s| &s.value) {
        Some(raw::BootState::Full { installaction, runaction, .. }) => (installaction.clone(), runaction.clone()),
        _ => (None, None),
    };
    if let Some(s) = state {
        for (k, v) in [("installaction", &state_install), ("runaction", &state_run)] {
            if let Err(e) = check_action_ref(v.as_ref(), &raw.bootactions) {
                d.error(s.file, Some(s.key_line), format!("boot state of host `{shown}`: {k}: {e}"));
            }
        }
    }
    let boot = match boot_text {
        None | Some("os") => Boot::Os,
        Some("install") => Boot::Install,
        Some(other) => {
            d.error(
                boot_file,
                boot_line,
                format!("host `{shown}`: boot `{}` must be `install` or `os`", names::printable(other)),
            );
            Boot::Os
        }
    };
    for (k, at, v) in
        [("installaction", Lines::INSTALLACTION, &host.installaction), ("runaction", Lines::RUNACTION, &host.runaction)]
    {
        if let Err(e) = check_action_ref(v.as_ref(), &raw.bootactions) {
            d.error(f, line(at), format!("host `{shown}`: {k}: {e}"));
        }
    }
    let installaction =
        state_install.or_else(|| host.installaction.take()).or_else(|| appliance.and_then(|a| a.installaction.clone()));
    let runaction = state_run.or_else(|| host.runaction.take()).or_else(|| appliance.and_then(|a| a.runaction.clone()));
    let action = match boot {
        Boot::Install => installaction.clone(),
        Boot::Os => runaction.clone(),
    };
    if boot == Boot::Install && installaction.is_none() && appliance.is_some() {
        d.error(
            boot_file,
            boot_line.or(Some(key_line)),
            format!(
                "host `{shown}`: boot is `install` but neither the host nor appliance `{}` has an installaction",
                host.appliance
            ),
        );
    }
    interfaces::finish(host, l, networks, &raw.networks, cx.frontend, d);
    let base = cx.merged.get(host.appliance.as_str()).unwrap_or(&cx.unknown);
    host.attributes = if own.is_empty() {
        Arc::clone(base)
    } else {
        let mut m = (**base).clone();
        m.extend(own);
        Arc::new(m)
    };
    host.boot = boot;
    host.installaction = installaction;
    host.runaction = runaction;
    host.action = action;
}

/// What finishing a host needs of the rest of the site.
struct Context<'a> {
    raw: &'a Raw<'a>,
    networks: &'a BTreeMap<String, Network>,
    appliances: &'a BTreeMap<String, Appliance>,
    frontend: Option<Ipv4Addr>,
    /// Global and appliance attributes merged, per appliance (and for an unknown one): hosts
    /// without attributes of their own share these (memory at scale).
    merged: HashMap<&'a str, Arc<raw::Attributes>>,
    unknown: Arc<raw::Attributes>,
}

/// Finishes the read hosts with the rest of the site (in parallel: each host on its own), then
/// checks what must be unique across them.
fn validate_hosts(
    mut pending: Vec<Vec<Pending>>,
    raw: &Raw,
    networks: &BTreeMap<String, Network>,
    appliances: &BTreeMap<String, Appliance>,
    global: &raw::Attributes,
    d: &mut Diagnostics,
) -> Vec<Host> {
    use rayon::prelude::*;
    let merged = appliances
        .iter()
        .map(|(name, a)| {
            let mut m = global.clone();
            m.extend(a.attributes.clone());
            (name.as_str(), Arc::new(m))
        })
        .collect();
    let frontend = raw.site.as_ref().and_then(|s| parse_ip(&s.value.frontend).ok());
    let cx = Context { raw, networks, appliances, frontend, merged, unknown: Arc::new(global.clone()) };
    let found: Vec<Diagnostics> = pending
        .par_iter_mut()
        .map(|batch| {
            let mut d = Diagnostics::default();
            for p in batch {
                finish(p, &cx, &mut d);
            }
            d
        })
        .collect();
    for f in found.into_iter().filter(|f| !f.is_empty()) {
        d.extend(all(f));
    }
    let count = pending.iter().map(Vec::len).sum();
    let (mut hosts, mut lines) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for p in pending.into_iter().flatten() {
        hosts.push(p.host);
        lines.push(p.lines);
    }
    let mut by_name: HashMap<&str, &Origin, _> =
        HashMap::with_capacity_and_hasher(hosts.len(), foldhash::fast::RandomState::default());
    for (host, l) in hosts.iter().zip(&lines) {
        if let Some(first) = by_name.get(host.name.as_str()) {
            d.error(
                &host.origin.file,
                Some(l.host(Lines::NAME, host.origin.line)),
                format!("host `{}` is defined twice (first at {first})", names::printable(&host.name)),
            );
        } else {
            by_name.insert(&host.name, &host.origin);
        }
    }
    for (host, item) in &raw.boot {
        if !by_name.contains_key(host.as_str()) {
            d.error(
                item.file,
                Some(item.key_line),
                format!("boot state for unknown host `{}`; remove the line or add the host", names::printable(host)),
            );
        }
    }
    drop(by_name);
    interfaces::check_unique(&hosts, &lines, d);
    hosts
}

fn validate_files(
    raw: &Raw,
    hosts: &[Host],
    appliances: &BTreeMap<String, Appliance>,
    d: &mut Diagnostics,
) -> Vec<FileRule> {
    let mut out = Vec::new();
    for item in &raw.files {
        let r = &item.value;
        let f = item.file;
        let line = |k: &str| item.line(&[PathItem::Key(k)]);
        for (k, v) in [("path", &r.path), ("template", &r.template)] {
            if let Err(e) = names::check_line(v) {
                d.error(f, line(k), format!("files: {k} {e}"));
            }
        }
        let selector = match Selector::parse(&r.hosts) {
            Ok(s) => s,
            Err(e) => {
                d.error(f, line("hosts"), format!("files: {e}"));
                continue;
            }
        };
        if let Err(e) = selector.check(hosts, appliances.keys().map(String::as_str)) {
            d.error(f, line("hosts"), format!("files: {e}"));
        }
        out.push(FileRule { path: r.path.clone(), template: r.template.clone(), selector, origin: item.origin() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "site: { name: s, domain: s.example, frontend: 10.1.0.1, http: http://10.1.0.1/b }
networks:
  lan: { address: 10.1.0.0/16, pxe: true, discovery: 10.1.9.1-10.1.9.9 }
  v6: { address: 10.2.0.0/16, ipv6: \"2001:db8:2::/64\" }
bootactions:
  os: { localboot: 0 }
appliances:
  node: { runaction: os, attributes: { a: 1 } }
attributes: { g: 2 }
boot:
  n2: install
  ghost: os
";

    /// Hosts written out over many lines, with problems the host alone shows and problems that
    /// need the site (read after it, in `z.yaml`), and duplicates across hosts and files.
    const HOSTS: &str = "hosts:
  - name: n1
    appliance: node
    loader: nope
    interfaces:
      - network: lan
        name: eth0
        mac: 02:00:00:00:00:01
        ip: 10.1.0.5
      - network: lan
        name: eth0
        mac: \"02:00:00:00:00:01\"
        ip: 10.1.9.2
  -
    name: n2
    appliance: nod
    attributes: { own: 3 }
    interfaces:
      - network: wan
        mac: 02:00:00:00:00:02
        ip: 10.1.0.5
      - network: v6
        ip: 10.2.0.7
        ipv6: 2001:db8:3::40/126
        default: true
  - { name: n1, appliance: node, rack: x }
  - name: bad_name
    appliance: node
    groups: [\"not ok\"]
    interfaces: [{ network: lan, ip: 10.1.0.1, mac: 02:00:00:00:00:09, vlan: 9999 }]
";

    fn site(hosts: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a-hosts.yaml"), hosts).unwrap();
        std::fs::write(dir.path().join("z.yaml"), SITE).unwrap();
        dir
    }

    fn by_nodes(dir: &Path) -> Result<Inventory, Invalid> {
        let (sources, d) = read_dir(dir).unwrap();
        validate(dir, &sources, d)
    }

    fn by_load(dir: &Path) -> Result<Inventory, Invalid> {
        load(dir).map_err(|e| e.downcast::<Invalid>().unwrap())
    }

    #[test]
    fn hosts_read_while_parsing_report_what_the_whole_tree_reports() {
        let dir = site(HOSTS);
        let streamed = by_load(dir.path()).unwrap_err();
        assert_eq!(streamed, by_nodes(dir.path()).unwrap_err());
        let shown = streamed.to_string();
        let f = dir.path().join("a-hosts.yaml").display().to_string();
        for line in [
            format!("{f}:4: host `n1`: loader `nope` is not one of ipxe, tftp, secureboot"),
            format!("{f}:11: host `n1`: interface `eth0` is defined twice (first at {f}:7)"),
            format!("{f}:12: host `n1`: mac `02:00:00:00:00:01` is already used by host `n1` ({f}:8)"),
            format!("{f}:13: host `n1`: ip `10.1.9.2` lies in the discovery range of network `lan`"),
            format!("{f}:16: host `n2`: unknown appliance `nod` (did you mean `node`?)"),
            format!("{f}:19: host `n2`: unknown network `wan`"),
            format!("{f}:21: host `n2`: ip `10.1.0.5` is already used by host `n1` ({f}:9)"),
            format!("{f}:24: host `n2`: ipv6 `2001:db8:3::40/126` is outside network `v6`"),
            format!("{f}:24: host `n2`: ipv6 `2001:db8:3::40/126` needs the interface's `mac`"),
            format!("{f}:26: invalid type: string \"x\", expected u32"),
            format!("{f}:27: host name `bad_name`"),
            format!("{f}:29: host `bad_name`: group "),
            format!("{f}:30: host `bad_name`: vlan 9999 is outside 1..4094"),
        ] {
            assert!(shown.lines().any(|l| l.starts_with(&format!("error: {line}"))), "{line}\nin:\n{shown}");
        }
        assert!(shown.contains("boot state for unknown host `ghost`"), "{shown}");
    }

    #[test]
    fn a_valid_site_loads_the_same_either_way() {
        let hosts: String =
            HOSTS.lines().take(13).collect::<Vec<_>>().join("\n").replace("loader: nope", "loader: tftp");
        let hosts = hosts.replace("name: eth0\n        mac: \"02:00:00:00:00:01\"\n        ip: 10.1.9.2", "name: eth1");
        let dir = site(&format!("{hosts}\n        default: true\n"));
        std::fs::write(dir.path().join("z.yaml"), SITE.replace("  ghost: os\n", "").replace("  n2: install\n", ""))
            .unwrap();
        let (a, b) = (by_load(dir.path()).unwrap(), by_nodes(dir.path()).unwrap());
        assert_eq!(format!("{:?}", a.hosts), format!("{:?}", b.hosts));
        assert_eq!(a.hosts.len(), 1);
        assert_eq!(a.hosts[0].interfaces[1].name.as_deref(), Some("eth1"));
        assert_eq!(a.hosts[0].loader_origin.as_ref().map(|o| o.line), Some(4));
        assert_eq!(a.hosts[0].attributes.get("a"), Some(&serde_json::json!(1)));
    }

    #[test]
    fn a_syntax_error_after_many_hosts_is_the_only_problem_of_the_file() {
        let mut text = String::from("hosts:\n");
        for i in 0..3000 {
            text.push_str(&format!("  - {{ name: h{i}, appliance: nope }}\n"));
        }
        text.push_str("  - { name: [\n");
        let dir = site(&text);
        let e = by_load(dir.path()).unwrap_err();
        assert_eq!(e, by_nodes(dir.path()).unwrap_err());
        assert_eq!(e.0.iter().filter(|d| d.is_error()).count(), 3, "{e}"); // and two boot states
        assert!(e.to_string().contains("a-hosts.yaml:3002: invalid YAML"), "{e}");
        // A problem the tree builder finds comes before the parser's later syntax error.
        let dup = text.replace("  - { name: h5,", "  - { name: h5, name: again,");
        let dir = site(&dup);
        let e = by_load(dir.path()).unwrap_err();
        assert_eq!(e, by_nodes(dir.path()).unwrap_err());
        assert!(e.to_string().contains("a-hosts.yaml:7: duplicate key `name`"), "{e}");
    }
}
