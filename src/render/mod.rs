//! Rendering: the validated inventory and compiled templates become a planned `Tree`.
//!
//! Site-wide data (`site`, `networks`, `hosts`) goes into Tera's global context once; each host
//! then renders in parallel (rayon) with a small context of its own, so the cost per host does
//! not grow with the size of the site. No I/O happens here.

pub mod templates;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;
use tera::Context;

use crate::diag::{Diagnostic, Diagnostics, Invalid};
use crate::inventory::{Action, Host, Interface, Inventory, Network};
use crate::names::{self, hex_ip, Mac};
use crate::tree::{Entry, Tree};
use std::net::Ipv4Addr;
pub use templates::Templates;

/// The bootaction as templates see it, with its args rendered for the host.
#[derive(Serialize)]
struct BootactionView<'a> {
    name: &'a str,
    /// `kernel` or `localboot`.
    kind: &'static str,
    kernel: Option<&'a str>,
    ramdisk: Option<&'a str>,
    image: Option<&'a str>,
    args: String,
    localboot: Option<u32>,
    /// `images/<image>/<version>`: where the image files are, under the tree and under `site.http`.
    image_dir: Option<String>,
    /// The image's file names of the kernel and initrd (`ramdisk_file` is the `initrd=` name).
    kernel_file: Option<&'a str>,
    ramdisk_file: Option<&'a str>,
}

#[derive(Serialize)]
struct InterfaceView<'a> {
    #[serde(flatten)]
    interface: &'a Interface,
    /// `52-54-00-00-00-01`
    mac_hyphen: Option<String>,
    /// `0A02FFFE`
    hexip: Option<String>,
}

/// Boot configs written for every PXE interface of a host with a bootaction: the template and
/// every name a firmware may ask for (write all aliases: some firmware asks for only one form).
type HostPaths = fn(Mac, Ipv4Addr) -> Vec<String>;
pub const HOST_CONFIGS: &[(&str, HostPaths)] = &[
    ("pxelinux-host.cfg", |mac, ip| {
        vec![format!("tftp/pxelinux.cfg/{}", hex_ip(ip)), format!("tftp/pxelinux.cfg/01-{}", mac.hyphenated())]
    }),
    ("grub-host.cfg", |mac, ip| {
        vec![format!("tftp/grub/grub.cfg-01-{}", mac.hyphenated()), format!("tftp/grub/grub.cfg-{}", hex_ip(ip))]
    }),
    ("ipxe-host.ipxe", |mac, _| vec![format!("http/ipxe/{}.ipxe", mac.hyphenated())]),
];

/// Files written once per host (bootaction or not), when the path function gives a path.
type HostPath = fn(&Host) -> Option<String>;
pub const HOST_FILES: &[(&str, HostPath)] = &[
    // dnsmasq reads a `dhcp-hostsdir` file again when it changes: one edited host, one small file.
    ("dnsmasq-host.conf", |h| {
        h.interfaces.iter().any(|i| i.mac.is_some()).then(|| format!("etc/dnsmasq.hosts/{}", h.name))
    }),
];

/// Site-wide files: template -> path in the tree. Templates get `site`, `networks`, `hosts`.
pub const SITE_FILES: &[(&str, &str)] = &[
    ("pxelinux-default.cfg", "tftp/pxelinux.cfg/default"),
    ("grub.cfg", "tftp/grub/grub.cfg"),
    ("ipxe-boot.ipxe", "http/ipxe/boot.ipxe"),
    ("ipxe-default.ipxe", "http/ipxe/default.ipxe"),
    ("dnsmasq.conf", "etc/dnsmasq.conf"),
    // Host names have no dots, so this name is never a host's file.
    ("dnsmasq-hosts.conf", "etc/dnsmasq.hosts/README.txt"),
    ("nginx.conf", "etc/nginx.conf"),
    ("nginx-standalone.conf", "etc/nginx-standalone.conf"),
];

/// One planned output and what produced it (for collision messages).
struct Output<'a> {
    path: String,
    entry: Entry,
    by: By<'a>,
}

/// What produced an output; formatted only when a message needs it.
#[derive(Clone, Copy)]
enum By<'a> {
    Host(&'a Host, Option<&'a str>),
    Rule(usize, &'a Inventory, usize),
    Site,
    Bootaction(&'a str),
}

impl std::fmt::Display for By<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            By::Host(h, Some(ba)) => write!(f, "host `{}` (bootaction `{ba}`)", h.name),
            By::Host(h, None) => write!(f, "host `{}`", h.name),
            By::Rule(rule, inv, host) => f.write_str(&rule_origin(inv, *rule, *host)),
            By::Site => f.write_str("the site"),
            By::Bootaction(ba) => write!(f, "bootaction `{ba}`"),
        }
    }
}

/// "template `x` for host `y` (files rule at file:line)", for messages about rendered files.
pub fn rule_origin(inv: &Inventory, rule: usize, host: usize) -> String {
    match (inv.files.get(rule), inv.hosts.get(host)) {
        (Some(r), Some(h)) => format!("template `{}` for host `{}` (files rule at {})", r.template, h.name, r.origin),
        _ => "a files rule".into(),
    }
}

/// A render failure, located in the template that failed and naming the host.
fn render_error(t: &Templates, name: &str, host: &Host, e: &tera::Error) -> Diagnostic {
    let (file, line, msg) = templates::locate(t, name, e);
    Diagnostic { file, line, message: format!("rendering `{name}` for host `{}` ({}): {msg}", host.name, host.origin) }
}

/// Renders the whole tree in memory. Every failure (any host, any template) is reported.
pub fn render(
    inv: &Inventory,
    t: &mut Templates,
    jobs_progress: Option<&indicatif::ProgressBar>,
) -> Result<Tree, Invalid> {
    // The whole host list is large at scale: only templates that use it pay for it.
    let uses_hosts = t.uses("hosts");
    let global = t.tera.global_context();
    global.insert("site", &inv.site);
    global.insert("networks", &inv.networks);
    if uses_hosts {
        global.insert("hosts", &inv.hosts);
    }
    global.insert("attributes", &inv.attributes);
    global.insert("images", &image_views(inv));
    global.insert("bootactions", &bootaction_views(inv));
    // `site.http` taken apart (validated when the inventory was loaded).
    global.insert("http", &crate::serve::HttpBase::parse(&inv.site.http).ok());
    let t: &Templates = t;

    // Hosts share their appliance's merged attributes: convert each shared map to a template value
    // once, not once per host (a large attribute made every host slow).
    let mut attributes: HashMap<usize, tera::Value> = HashMap::new();
    for h in &inv.hosts {
        attributes
            .entry(Arc::as_ptr(&h.attributes) as usize)
            .or_insert_with(|| tera::Value::from_serializable(&*h.attributes));
    }
    let per_host: Vec<Result<Vec<Output>, Vec<Diagnostic>>> = inv
        .hosts
        .par_iter()
        .enumerate()
        .map(|(index, host)| {
            let attrs = attributes.get(&(Arc::as_ptr(&host.attributes) as usize));
            let r = render_host(inv, t, index, host, attrs);
            if let Some(pb) = jobs_progress {
                pb.inc(1);
            }
            r
        })
        .collect();

    let mut d = Diagnostics::default();
    let mut outputs = Vec::new();
    for r in per_host {
        match r {
            Ok(o) => outputs.extend(o),
            Err(e) => d.extend(e),
        }
    }
    match render_site(inv, t) {
        Ok(o) => outputs.extend(o),
        Err(e) => d.extend(e),
    }
    let mut planned: BTreeMap<String, (Entry, By)> = BTreeMap::new();
    for o in outputs {
        if let Some((first_entry, first)) = planned.get(&o.path) {
            let same_link = matches!(o.entry, Entry::Symlink(_)) && *first_entry == o.entry;
            if !same_link {
                d.error(&o.path, None, format!("two rules write this path: {first}, and {}", o.by));
            }
            continue;
        }
        planned.insert(o.path, (o.entry, o.by));
    }
    d.finish()?;
    let mut tree = Tree::default();
    for (path, (entry, by)) in planned {
        if let By::Rule(rule, _, host) = by {
            tree.origins.insert(path.clone(), (rule as u32, host as u32));
        }
        tree.entries.insert(path, entry);
    }
    Ok(tree)
}

/// A host's context: `base` (which holds `host`, serialized once per host) plus the interface.
fn host_context(inv: &Inventory, base: &Context, host: &Host, iface: Option<&Interface>) -> Context {
    let mut ctx = base.clone(); // cheap: Tera values are reference-counted
    let iface =
        iface.or_else(|| host.pxe_interfaces(&inv.networks).next().map(|(i, _, _)| i)).or(host.interfaces.first());
    if let Some(i) = iface {
        ctx.insert(
            "interface",
            &InterfaceView { interface: i, mac_hyphen: i.mac.map(|m| m.hyphenated()), hexip: i.ip.map(hex_ip) },
        );
        let network: Option<&Network> = inv.networks.get(&i.network);
        ctx.insert("network", &network);
    } else {
        ctx.insert("interface", &());
        ctx.insert("network", &());
    }
    ctx
}

/// The host as templates see it, with its attributes' value converted once per shared map.
fn host_value(host: &Host, attributes: Option<&tera::Value>) -> tera::Value {
    let Some(attributes) = attributes else {
        return tera::Value::from_serializable(host);
    };
    let fields = HostFields {
        name: &host.name,
        appliance: &host.appliance,
        rack: host.rack,
        rank: host.rank,
        cpus: host.cpus,
        boot: &host.boot,
        installaction: host.installaction.as_deref(),
        runaction: host.runaction.as_deref(),
        action: host.action.as_deref(),
        interfaces: &host.interfaces,
    };
    match tera::Value::from_serializable(&fields).into_map() {
        Some(mut map) => {
            map.insert("attributes".into(), attributes.clone());
            tera::Value::from(map)
        }
        None => tera::Value::from_serializable(host),
    }
}

/// `Host` without its attributes (see `host_value`); a test keeps the fields in step with `Host`.
#[derive(Serialize)]
struct HostFields<'a> {
    name: &'a str,
    appliance: &'a str,
    rack: Option<u32>,
    rank: Option<u32>,
    cpus: Option<u32>,
    boot: &'a crate::inventory::Boot,
    installaction: Option<&'a str>,
    runaction: Option<&'a str>,
    action: Option<&'a str>,
    interfaces: &'a [Interface],
}

fn render_host<'a>(
    inv: &'a Inventory,
    t: &Templates,
    index: usize,
    host: &'a Host,
    attributes: Option<&tera::Value>,
) -> Result<Vec<Output<'a>>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut base = Context::new();
    base.insert_value("host", host_value(host, attributes));
    let ctx = host_context(inv, &base, host, None);

    // Boot configs: one per PXE interface, under every name a firmware may ask for.
    if let Some(ba) = host.action.as_deref().and_then(|a| inv.bootactions.get(a)) {
        let args = match &ba.action {
            Action::Kernel { .. } => {
                let name = templates::args_name(&ba.name);
                match t.render(&name, &ctx) {
                    Ok(a) => {
                        let a = a.trim().to_string();
                        // The same args go on the PXELINUX, GRUB and iPXE kernel lines.
                        match crate::loader::check_args(&a) {
                            Ok(()) => Some(a),
                            Err(e) => {
                                errors.push(Diagnostic {
                                    file: ba.origin.file.to_string(),
                                    line: Some(ba.origin.line),
                                    message: format!(
                                        "bootaction `{}` args rendered for host `{}`: {e}; remove it from the args (or from the attribute spliced into them)",
                                        ba.name, host.name
                                    ),
                                });
                                None
                            }
                        }
                    }
                    Err(e) => {
                        errors.push(render_error(t, &name, host, &e));
                        None
                    }
                }
            }
            Action::LocalBoot { .. } => Some(String::new()),
        };
        if let Some(args) = args {
            let view = match &ba.action {
                Action::Kernel { kernel, ramdisk, image, .. } => {
                    let img = inv.images.get(image);
                    BootactionView {
                        name: &ba.name,
                        kind: "kernel",
                        kernel: Some(kernel),
                        ramdisk: ramdisk.as_deref(),
                        image: Some(image),
                        args,
                        localboot: None,
                        image_dir: img.map(|i| image_path(&i.name, &i.version, "").trim_end_matches('/').to_string()),
                        kernel_file: img.and_then(|i| i.files.get("kernel")).map(String::as_str),
                        ramdisk_file: img
                            .and_then(|i| i.files.get("initrd"))
                            .filter(|_| ramdisk.is_some())
                            .map(String::as_str),
                    }
                }
                Action::LocalBoot { localboot } => BootactionView {
                    name: &ba.name,
                    kind: "localboot",
                    kernel: None,
                    ramdisk: None,
                    image: None,
                    args,
                    localboot: Some(*localboot),
                    image_dir: None,
                    kernel_file: None,
                    ramdisk_file: None,
                },
            };
            for (iface, mac, ip) in host.pxe_interfaces(&inv.networks) {
                let mut ctx = host_context(inv, &base, host, Some(iface));
                ctx.insert("bootaction", &view);
                let by = By::Host(host, Some(&ba.name));
                for (template, paths) in HOST_CONFIGS {
                    match t.render(template, &ctx) {
                        Ok(text) => {
                            let entry = text_entry(text);
                            for path in paths(mac, ip) {
                                out.push(Output { path, entry: entry.clone(), by });
                            }
                        }
                        Err(e) => errors.push(render_error(t, template, host, &e)),
                    }
                }
            }
        }
    }

    // Per-host files of pxebake's own (DHCP reservations).
    for (template, path) in HOST_FILES {
        let Some(path) = path(host) else { continue };
        match t.render(template, &ctx) {
            Ok(text) => out.push(Output { path, entry: text_entry(text), by: By::Host(host, None) }),
            Err(e) => errors.push(render_error(t, template, host, &e)),
        }
    }

    // Per-host files from the inventory's `files` rules, under http/.
    for (i, rule) in inv.files.iter().enumerate() {
        if !rule.selector.matches(host) {
            continue;
        }
        let pname = templates::path_name(i);
        let path = match t.render(&pname, &ctx) {
            Ok(p) => p,
            Err(e) => {
                errors.push(render_error(t, &pname, host, &e));
                continue;
            }
        };
        // http/images is where the verified images are served; nothing else may write there.
        let reserved = (path == "images" || path.starts_with("images/"))
            .then(|| format!("`{path}` is reserved for the verified OS images (http/images)"));
        if let Some(e) = names::check_relative_path(&path).err().or(reserved) {
            errors.push(Diagnostic {
                file: rule.origin.file.to_string(),
                line: Some(rule.origin.line),
                message: format!("files: path rendered for host `{}`: {e}", host.name),
            });
            continue;
        }
        if !t.contains(&rule.template) {
            continue; // reported when templates were loaded
        }
        match t.render(&rule.template, &ctx) {
            Ok(text) => {
                out.push(Output { path: format!("http/{path}"), entry: text_entry(text), by: By::Rule(i, inv, index) })
            }
            Err(e) => errors.push(render_error(t, &rule.template, host, &e)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Site-wide files: the fallback pxelinux config and the kernel/initrd links.
fn render_site<'a>(inv: &'a Inventory, t: &Templates) -> Result<Vec<Output<'a>>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let ctx = Context::new();
    for (template, path) in SITE_FILES {
        match t.render(template, &ctx) {
            Ok(text) => out.push(Output { path: path.to_string(), entry: text_entry(text), by: By::Site }),
            Err(e) => {
                let (file, line, msg) = templates::locate(t, template, &e);
                errors.push(Diagnostic { file, line, message: format!("rendering `{template}`: {msg}") });
            }
        }
    }
    for ba in used_bootactions(inv) {
        if let Action::Kernel { kernel, ramdisk, image, .. } = &ba.action {
            let Some(img) = inv.images.get(image) else { continue };
            for (name, role) in [(Some(kernel), "kernel"), (ramdisk.as_ref(), "initrd")] {
                let (Some(name), Some(file)) = (name, img.files.get(role)) else { continue };
                out.push(Output {
                    path: format!("tftp/{name}"),
                    entry: Entry::Symlink(format!("../{}", image_path(&img.name, &img.version, file))),
                    by: By::Bootaction(&ba.name),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Text files end with a newline (Tera drops a template's last one).
fn text_entry(mut text: String) -> Entry {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    Entry::File(text.into_bytes().into())
}

/// Where an image file lives in the tree.
pub fn image_path(image: &str, version: &str, file: &str) -> String {
    format!("images/{image}/{version}/{file}")
}

/// Bootactions some host uses as its install or run action, in name order.
pub fn used_bootactions(inv: &Inventory) -> Vec<&crate::inventory::BootAction> {
    let mut used = std::collections::BTreeSet::new();
    for h in &inv.hosts {
        used.extend(h.installaction.iter().chain(h.runaction.iter()));
    }
    used.into_iter().filter_map(|n| inv.bootactions.get(n)).collect()
}

/// Images as templates see them: name, version, base url and files by role.
fn image_views(inv: &Inventory) -> BTreeMap<&str, serde_json::Value> {
    inv.images
        .values()
        .map(|i| {
            (
                i.name.as_str(),
                serde_json::json!({ "name": i.name, "version": i.version, "url": i.url, "files": i.files }),
            )
        })
        .collect()
}

/// Bootactions as templates see them (args unrendered).
fn bootaction_views(inv: &Inventory) -> BTreeMap<&str, serde_json::Value> {
    inv.bootactions
        .values()
        .map(|b| {
            let v = match &b.action {
                Action::Kernel { kernel, ramdisk, image, args } => serde_json::json!({
                    "name": b.name, "kind": "kernel", "kernel": kernel, "ramdisk": ramdisk, "image": image, "args": args
                }),
                Action::LocalBoot { localboot } => {
                    serde_json::json!({ "name": b.name, "kind": "localboot", "localboot": localboot })
                }
            };
            (b.name.as_str(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_value_has_every_field_of_host() {
        let inv = crate::inventory::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory")).unwrap();
        for host in &inv.hosts {
            let attrs = tera::Value::from_serializable(&*host.attributes);
            let fast = host_value(host, Some(&attrs));
            let slow = tera::Value::from_serializable(host);
            assert_eq!(fast, slow, "host `{}`", host.name);
        }
    }
}
