//! Rendering: the validated inventory and compiled templates become a planned `Tree`.
//!
//! Site-wide data (`site`, `networks`, `hosts`) goes into Tera's global context once; each host
//! then renders in parallel (rayon) with a small context of its own, so the cost per host does
//! not grow with the size of the site. No I/O happens here, except that Butane templates read
//! their `local` files from `inventory/files/`.

pub mod inputs;
pub mod runaway;
pub mod templates;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;
use tera::{Context, Value};

use crate::diag::{Diagnostic, Diagnostics, Invalid};
use crate::inventory::raw::Attributes;
use crate::inventory::{Action, Host, Interface, Inventory};
use crate::names::{self, hex_ip, Mac};
use crate::tree::{dirs, manifest, write, Entry, HostRecord, Tree};
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
    /// Its place in the order outputs are produced in: (host index << 32) + its index among the
    /// host's outputs; the site's outputs last (`SITE_SEQ`). Set when outputs are gathered.
    seq: u64,
    path: String,
    entry: Entry,
    by: By<'a>,
}

/// How many outputs the site's files may have at most (their `seq` follows every host's).
const SITE_SEQ: u64 = 1 << 31;

/// Hosts' results, gathered in order by one worker: outputs, host records, Ignition references
/// and errors.
#[derive(Default)]
struct Piece<'a> {
    outputs: Vec<Output<'a>>,
    hosts: Vec<HostRecord>,
    refs: Vec<IgnitionRef<'a>>,
    errors: Vec<Diagnostic>,
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
    Diagnostic::error(file, line, format!("rendering `{name}` for host `{}` ({}): {msg}", host.name, host.origin))
}

/// Renders the whole tree in memory. Every failure (any host, any template) is reported.
pub fn render(
    inv: &Inventory,
    t: &mut Templates,
    jobs_progress: Option<&indicatif::ProgressBar>,
    previous: Option<Previous>,
) -> Result<Tree, Invalid> {
    render_into(inv, t, jobs_progress, previous, None)
}

/// `render`, writing each host's files into `stage` as soon as they are rendered (a whole-tree
/// write of a fresh `out`): the tree then holds their records, not their bytes.
pub fn render_into(
    inv: &Inventory,
    t: &mut Templates,
    jobs_progress: Option<&indicatif::ProgressBar>,
    previous: Option<Previous>,
    stage: Option<&write::Stage>,
) -> Result<Tree, Invalid> {
    let started = std::time::Instant::now();
    // The whole host list is large at scale: only templates that use it pay for it.
    let uses_hosts = t.uses("hosts");
    let global = t.tera.global_context();
    global.insert("site", &inv.site);
    global.insert("networks", &inv.networks);
    let attributes = attribute_values(inv);
    if uses_hosts {
        let hosts: Vec<Value> = inv.hosts.par_iter().map(|h| host_value(h, &attributes, None)).collect();
        global.insert_value("hosts", Value::from(hosts));
    }
    global.insert("attributes", &inv.attributes);
    global.insert("images", &image_views(inv));
    global.insert("bootactions", &bootaction_views(inv));
    // `site.http` taken apart (validated when the inventory was loaded).
    global.insert("http", &crate::serve::HttpBase::parse(&inv.site.http).ok());
    global.insert("events_format", crate::events::LOG_FORMAT);
    let t: &Templates = t;
    let shared = Shared::new(inv, attributes);
    let site_inputs = inputs::site(inv, &t.digest, uses_hosts);
    let attribute_inputs = inputs::attributes(inv);

    let kept_hosts = std::sync::atomic::AtomicUsize::new(0);
    // Hosts' results gathered in large pieces, in host order (small per-host vectors, freed in
    // worker threads' heaps while the flat list grows, used to double the memory of the plan).
    let pieces: Vec<Piece> = inv
        .hosts
        .par_iter()
        .enumerate()
        .fold(Piece::default, |mut piece, (index, host)| {
            let digest = inputs::host(site_inputs, &attribute_inputs, host);
            let r = match previous.as_ref().and_then(|p| kept(p, host, digest)) {
                Some(outputs) => {
                    kept_hosts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok((outputs, None))
                }
                None => render_host(inv, t, &shared, index, host).map(|(o, refs)| match stage {
                    Some(stage) => (stage_outputs(stage, o), refs),
                    None => (o, refs),
                }),
            };
            if let Some(pb) = jobs_progress {
                pb.inc(1);
            }
            match r {
                Ok((o, refs)) => {
                    let paths: Vec<&str> = o.iter().map(|x| x.path.as_str()).collect();
                    piece.hosts.push(HostRecord { name: host.name.clone(), inputs: digest, paths: paths.join(" ") });
                    let seq = (index as u64) << 32;
                    piece.outputs.extend(o.into_iter().enumerate().map(|(n, o)| Output { seq: seq | n as u64, ..o }));
                    piece.refs.extend(refs);
                }
                Err(e) => piece.errors.extend(e),
            }
            piece
        })
        .collect();

    let started = crate::bake::timing("render:hosts", started);
    let mut d = Diagnostics::default();
    let total = pieces.iter().map(|p| p.outputs.len()).sum::<usize>() + SITE_FILES.len() + 16;
    let mut outputs = Vec::with_capacity(total);
    let mut ignition_refs = Vec::new();
    let mut hosts = Vec::with_capacity(inv.hosts.len());
    for piece in pieces {
        outputs.extend(piece.outputs);
        hosts.extend(piece.hosts);
        ignition_refs.extend(piece.refs);
        d.extend(piece.errors);
        // Moved out: the piece's memory is not reused by anything this large.
        crate::tree::release_freed();
    }
    match render_site(inv, t) {
        Ok(o) => {
            outputs.extend(o.into_iter().enumerate().map(|(n, o)| Output { seq: u64::MAX - SITE_SEQ + n as u64, ..o }))
        }
        Err(e) => d.extend(e),
    }
    // Sorted by path, and of two outputs with one path the first produced comes first (in
    // place: no second list), so collisions are neighbours and the map is built in one pass.
    outputs.par_sort_unstable_by(|a, b| a.path.cmp(&b.path).then(a.seq.cmp(&b.seq)));
    outputs.dedup_by(|o, first| {
        if o.path != first.path {
            return false;
        }
        let same_link = matches!(o.entry, Entry::Symlink(_)) && first.entry == o.entry;
        if !same_link {
            d.error(&o.path, None, format!("two rules write this path: {}, and {}", first.by, o.by));
        }
        true
    });
    let unique = outputs;
    // `unique` is sorted by path: searched as it is, no map is built for it.
    let planned = |path: &str| unique.binary_search_by(|o| o.path.as_str().cmp(path)).ok().map(|i| &unique[i]);
    let staged = stage.map(write::Stage::dir);
    let mut checked = std::mem::take(&mut *shared.checked.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    checked.sort_unstable_by_key(|(key, _)| *key); // keys are unique: one file per rule and host
    let checked_of = |key| checked.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| &checked[i].1);
    for r in &ignition_refs {
        let out = previous.as_ref().map(|p| p.out);
        let planned = planned(&r.path);
        let version = planned.and_then(|o| match o.by {
            By::Rule(rule, _, host) => checked_of((rule as u32, host as u32)).map(|c| c.version.as_deref()),
            _ => None,
        });
        if let Err(e) = check_ignition_ref(inv, r, planned.map(|o| &o.entry), version, out, staged) {
            d.push(e);
        }
    }
    d.finish()?;
    // Both maps are built from sorted input in one pass (no search per path).
    let origins = unique
        .iter()
        .filter_map(|o| match o.by {
            By::Rule(rule, _, host) => Some((o.path.clone(), (rule as u32, host as u32))),
            _ => None,
        })
        .collect();
    // The list, made smaller in place, becomes the map's (the map is built from a sorted list).
    let mut entries: Vec<(String, Entry)> = unique.into_iter().map(|o| (o.path, o.entry)).collect();
    entries.shrink_to_fit();
    let entries = entries.into_iter().collect();
    let stage = staged.map(std::path::Path::to_path_buf);
    // The lint needs only the problems (none, for most), not the versions.
    let checked = checked.into_iter().map(|(key, c)| (key, c.problems.into_boxed_slice())).collect();
    crate::bake::timing("render:plan", started);
    Ok(Tree { entries, origins, checked, hosts, kept_hosts: kept_hosts.into_inner(), stage })
}

/// Writes a host's rendered files into the stage: the same bytes under several names (a boot
/// config under its MAC and IP names) once, hard-linked. What the stage cannot take stays in
/// memory (see `write::Stage::put`).
fn stage_outputs<'a>(stage: &write::Stage, mut outputs: Vec<Output<'a>>) -> Vec<Output<'a>> {
    for i in 0..outputs.len() {
        let Entry::File(bytes) = &outputs[i].entry else { continue };
        let bytes = bytes.clone();
        let same: Vec<usize> = (i..outputs.len())
            .filter(|&j| matches!(&outputs[j].entry, Entry::File(b) if Arc::ptr_eq(b, &bytes)))
            .collect();
        let staged = {
            let paths: Vec<&str> = same.iter().map(|&j| outputs[j].path.as_str()).collect();
            stage.put(&bytes, &paths)
        };
        for (j, entry) in same.into_iter().zip(staged) {
            if let Some(entry) = entry {
                outputs[j].entry = entry;
            }
        }
    }
    outputs
}

/// What every host's rendering shares, converted to Tera values once (converting site-wide
/// data again for each host was a good part of the cost of rendering it).
struct Shared {
    attributes: SharedAttributes,
    /// Each network as templates see it (`network`), by name.
    networks: HashMap<String, Value>,
    /// `none`, for a host without interfaces.
    none: Value,
    /// The compiled path templates' names, by `files` rule.
    path_names: Vec<String>,
    /// Ignition that Butane templates translated to, as checked, by (files rule, host).
    checked: std::sync::Mutex<Vec<((u32, u32), crate::check::ignition::Checked)>>,
}

impl Shared {
    fn new(inv: &Inventory, attributes: SharedAttributes) -> Shared {
        Shared {
            attributes,
            networks: inv.networks.iter().map(|(k, n)| (k.clone(), Value::from_serializable(n))).collect(),
            none: Value::from_serializable(&()),
            path_names: (0..inv.files.len()).map(templates::path_name).collect(),
            checked: Default::default(),
        }
    }
}

/// Tera values of the hosts' attribute maps, one per distinct map (keyed by its address): hosts
/// share their appliance's merged attributes, and converting a large attribute again for every
/// host made rendering of every host slow.
type SharedAttributes = HashMap<usize, Value>;

fn attribute_values(inv: &Inventory) -> SharedAttributes {
    let mut distinct: HashMap<usize, &Attributes> = HashMap::new();
    for h in &inv.hosts {
        distinct.entry(Arc::as_ptr(&h.attributes) as usize).or_insert(&h.attributes);
    }
    distinct.into_par_iter().map(|(k, a)| (k, Value::from_serializable(a))).collect()
}

/// The last build of `out`, when its manifest can be trusted: hosts whose inputs did not change
/// keep their files.
pub struct Previous<'a> {
    out: &'a std::path::Path,
    manifest: &'a manifest::Manifest,
    /// The directories of the last tree that are still real directories in `out`: nothing under
    /// one moved away and replaced by a symlink, say, is kept; it is written anew.
    dirs: crate::tree::dirs::Dirs,
    /// `out` holds just what the last build left: a host's file with several names is looked
    /// at through one of them (see `dirs::Linked`).
    linked: bool,
}

impl<'a> Previous<'a> {
    pub fn new(out: &'a std::path::Path, manifest: &'a manifest::Manifest) -> Self {
        let mut dirs: crate::tree::PathSet =
            manifest.paths().filter_map(|p| p.rsplit_once('/').map(|(d, _)| d)).collect();
        let above: Vec<&str> = dirs.iter().flat_map(|d| d.match_indices('/').map(|(i, _)| &d[..i])).collect();
        dirs.extend(above);
        let linked = crate::tree::stamp::listing_unchanged(out);
        Previous { out, manifest, dirs: crate::tree::dirs::Dirs::open(out, dirs), linked }
    }
}

/// A host's outputs as the last build left them, when its inputs are the same and every file
/// is still as written (size, mtime, inode and mode as recorded); None means render it.
fn kept<'a>(p: &Previous, host: &'a Host, inputs: u128) -> Option<Vec<Output<'a>>> {
    let (_, paths) = p.manifest.host(&host.name).filter(|r| r.0 == inputs)?;
    let mut out = Vec::new();
    // The host's files with several names found so far (its boot config's MAC and IP names).
    let mut linked = Vec::new();
    for path in paths.split(' ').filter(|s| !s.is_empty()) {
        let file = &p.manifest.rec(path)?;
        if !(p.linked && dirs::seen_among(&linked, file)) {
            let st = p.dirs.lstat(path)?;
            let is_file = st.st_mode & libc::S_IFMT == libc::S_IFREG;
            let as_written = is_file && p.manifest.vouches_stat(file, &st) && st.st_mode & 0o7777 == write::FILE_MODE;
            if !as_written {
                return None;
            }
            linked.extend(dirs::found(file, st.st_nlink).filter(|_| p.linked));
        }
        out.push(Output { seq: 0, path: path.to_string(), entry: Entry::Kept(*file), by: By::Host(host, None) });
    }
    Some(out)
}

/// A host as templates see it: the model, its shared `attributes` and, for its own files, its
/// networkd units (in that order, as the fields were always serialized).
fn host_value(host: &Host, attributes: &SharedAttributes, networkd: Option<&[crate::networkd::Unit]>) -> Value {
    let mut map = Value::from_serializable(host).into_map().unwrap_or_default();
    let shared = attributes.get(&(Arc::as_ptr(&host.attributes) as usize)).cloned();
    map.insert("attributes".into(), shared.unwrap_or_else(|| Value::from_serializable(&*host.attributes)));
    if let Some(units) = networkd {
        map.insert("networkd".into(), Value::from_serializable(units));
    }
    Value::from(map)
}

/// A host's context: `base` (which holds `host`, serialized once per host) plus the interface
/// (the host's first PXE interface, else its first) and its network.
fn host_context(shared: &Shared, base: &Context, host_value: &Value, iface: Option<(usize, &Interface)>) -> Context {
    let mut ctx = base.clone(); // cheap: Tera values are reference-counted
    match iface {
        Some((index, i)) => {
            ctx.insert_value("interface", interface_value(host_value, index, i));
            let network = i.network.as_ref().and_then(|n| shared.networks.get(n)).cloned();
            ctx.insert_value("network", network.unwrap_or_else(|| shared.none.clone()));
        }
        None => {
            ctx.insert_value("interface", shared.none.clone());
            ctx.insert_value("network", shared.none.clone());
        }
    }
    ctx
}

/// The interface at `index` of the host as templates see it (`InterfaceView`): its fields as
/// already converted in `host.interfaces`, plus the hyphenated MAC and the hex IP.
fn interface_value(host_value: &Value, index: usize, i: &Interface) -> Value {
    let converted = host_value
        .as_map()
        .and_then(|m| m.get(&tera::value::Key::Str("interfaces")))
        .and_then(Value::as_array)
        .and_then(|v| v.get(index))
        .and_then(Value::as_map);
    let view = InterfaceView { interface: i, mac_hyphen: i.mac.map(|m| m.hyphenated()), hexip: i.ip.map(hex_ip) };
    let Some(fields) = converted else { return Value::from_serializable(&view) };
    let mut map = fields.clone();
    map.insert(tera::value::Key::Str("mac_hyphen"), Value::from_serializable(&view.mac_hyphen));
    map.insert(tera::value::Key::Str("hexip"), Value::from_serializable(&view.hexip));
    Value::from(map)
}

/// What one host renders: its outputs and the Ignition config its boot configs name.
type HostOutputs<'a> = (Vec<Output<'a>>, Option<IgnitionRef<'a>>);

/// A host whose boot config passes `ignition.config.url`: the config must be planned, be
/// Ignition, and be readable by the image's Ignition.
struct IgnitionRef<'a> {
    host: &'a Host,
    bootaction: &'a crate::inventory::BootAction,
    image: &'a str,
    /// Under the tree: `http/...`.
    path: String,
}

/// `version`: the config's declared spec when render already read it (`Checked::version`).
fn check_ignition_ref(
    inv: &Inventory,
    r: &IgnitionRef,
    entry: Option<&Entry>,
    version: Option<Option<&str>>,
    out: Option<&std::path::Path>,
    stage: Option<&std::path::Path>,
) -> Result<(), Diagnostic> {
    let at = |msg: String| {
        Diagnostic::error(
            r.bootaction.origin.file.to_string(),
            Some(r.bootaction.origin.line),
            format!("bootaction `{}` for host `{}`: {msg}", r.bootaction.name, r.host.name),
        )
    };
    // A kept config is the one in `out/`, a staged one the one in the stage.
    let read;
    let entry = match (entry, out, stage) {
        (Some(Entry::Kept(_)), Some(dir), _) | (Some(Entry::Staged { .. }), _, Some(dir)) => {
            read = std::fs::read(dir.join(&r.path)).ok().map(|b| Entry::File(b.into()));
            read.as_ref()
        }
        _ => entry,
    };
    let Some(Entry::File(bytes)) = entry else {
        return Err(at(format!(
            "its Ignition config `{}` is written by no `files` rule; add one for this host (e.g. a Butane template `.bu`)",
            r.path
        )));
    };
    let spec = match version {
        Some(v) => v.map(str::to_string),
        None => crate::check::ignition::spec_version(&String::from_utf8_lossy(bytes)),
    };
    let Some(spec) = spec else {
        return Err(at(format!(
            "`{}` is not an Ignition config (no `ignition.version`); `ignition` must name a JSON Ignition config",
            r.path
        )));
    };
    let image = inv.images.get(r.image);
    if let Some(release) = image.and_then(|i| i.ignition.as_deref()) {
        if let Some(why) = crate::check::ignition_release::unreadable(&spec, release) {
            return Err(at(format!(
                "`{}`: {why} (image `{}` ships Ignition {release}); write the config for an older spec (Butane flatcar `version`) or boot a newer image",
                r.path, r.image
            )));
        }
    }
    Ok(())
}

/// `ignition.config.url=... flatcar.first_boot=1` for a bootaction that names the host's
/// Ignition config (Flatcar's PXE docs pass first_boot: the in-memory system is always new).
fn ignition_args<'a>(
    inv: &'a Inventory,
    t: &Templates,
    ctx: &Context,
    host: &'a Host,
    ba: &'a crate::inventory::BootAction,
) -> Result<Option<(String, IgnitionRef<'a>)>, Diagnostic> {
    let Action::Kernel { ignition: Some(_), image, .. } = &ba.action else { return Ok(None) };
    let name = templates::ignition_name(&ba.name);
    let path = t.render(&name, ctx).map_err(|e| render_error(t, &name, host, &e))?;
    let path = path.trim().trim_start_matches('/').to_string();
    names::check_relative_path(&path).map_err(|e| {
        Diagnostic::error(
            ba.origin.file.to_string(),
            Some(ba.origin.line),
            format!("bootaction `{}` ignition path rendered for host `{}`: {e}", ba.name, host.name),
        )
    })?;
    let args = format!("ignition.config.url={}/{path} flatcar.first_boot=1", inv.site.http);
    Ok(Some((args, IgnitionRef { host, bootaction: ba, image, path: format!("http/{path}") })))
}

fn render_host<'a>(
    inv: &'a Inventory,
    t: &Templates,
    shared: &Shared,
    index: usize,
    host: &'a Host,
) -> Result<HostOutputs<'a>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut ignition = None;
    let mut base = Context::new();
    // `host.networkd`: the host's networkd units, built from the model (see src/networkd.rs).
    let hv = host_value(host, &shared.attributes, Some(&crate::networkd::units(host, &inv.networks)));
    base.insert_value("host", hv.clone());
    let pxe: Vec<(usize, Mac, Ipv4Addr)> = host
        .interfaces
        .iter()
        .enumerate()
        .filter_map(|(n, i)| {
            let pxe = i.network.as_ref().and_then(|n| inv.networks.get(n)).is_some_and(|n| n.pxe);
            Some((n, i.mac.filter(|_| pxe)?, i.ip?))
        })
        .collect();
    let first = pxe.first().map(|p| p.0).or((!host.interfaces.is_empty()).then_some(0));
    let ctx = host_context(shared, &base, &hv, first.map(|n| (n, &host.interfaces[n])));

    // Boot configs: one per PXE interface, under every name a firmware may ask for.
    if let Some(ba) = host.action.as_deref().and_then(|a| inv.bootactions.get(a)) {
        let args = match &ba.action {
            Action::Kernel { .. } => {
                let name = templates::args_name(&ba.name);
                match t.render(&name, &ctx) {
                    Ok(a) => {
                        let mut a = a.trim().to_string();
                        match ignition_args(inv, t, &ctx, host, ba) {
                            Ok(Some((args, r))) => {
                                a = if a.is_empty() { args } else { format!("{args} {a}") };
                                ignition = Some(r);
                            }
                            Ok(None) => {}
                            Err(e) => errors.push(e),
                        }
                        // The same args go on the PXELINUX, GRUB and iPXE kernel lines.
                        match crate::loader::check_args(&a) {
                            Ok(()) => Some(a),
                            Err(e) => {
                                errors.push(Diagnostic::error(
                                    ba.origin.file.to_string(),
                                    Some(ba.origin.line),
                                    format!(
                                        "bootaction `{}` args rendered for host `{}`: {e}; remove it from the args (or from the attribute spliced into them)",
                                        ba.name, host.name
                                    ),
                                ));
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
            let view = Value::from_serializable(&view);
            for &(n, mac, ip) in &pxe {
                // The first PXE interface's context is the host's own.
                let mut ctx = if Some(n) == first {
                    ctx.clone()
                } else {
                    host_context(shared, &base, &hv, Some((n, &host.interfaces[n])))
                };
                ctx.insert_value("bootaction", view.clone());
                let by = By::Host(host, Some(&ba.name));
                for (template, paths) in HOST_CONFIGS {
                    match t.render_with(template, &ctx, text_entry) {
                        Ok(entry) => {
                            for path in paths(mac, ip) {
                                out.push(Output { seq: 0, path, entry: entry.clone(), by });
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
        match t.render_with(template, &ctx, text_entry) {
            Ok(entry) => out.push(Output { seq: 0, path, entry, by: By::Host(host, None) }),
            Err(e) => errors.push(render_error(t, template, host, &e)),
        }
    }

    // Per-host files from the inventory's `files` rules, under http/.
    for (i, rule) in inv.files.iter().enumerate() {
        if !rule.selector.matches(host) {
            continue;
        }
        let pname = &shared.path_names[i];
        let path = match t.render(pname, &ctx) {
            Ok(p) => p,
            Err(e) => {
                errors.push(render_error(t, pname, host, &e));
                continue;
            }
        };
        // http/images is where the verified images are served; nothing else may write there.
        let reserved = (path == "images" || path.starts_with("images/"))
            .then(|| format!("`{path}` is reserved for the verified OS images (http/images)"));
        if let Some(e) = names::check_relative_path(&path).err().or(reserved) {
            errors.push(Diagnostic::error(
                rule.origin.file.to_string(),
                Some(rule.origin.line),
                format!("files: path rendered for host `{}`: {e}", host.name),
            ));
            continue;
        }
        if !t.contains(&rule.template) {
            continue; // reported when templates were loaded
        }
        match t.render_with(&rule.template, &ctx, |text| rule_entry(inv, t, &rule.template, host, text)) {
            Ok(Ok((entry, checked))) => {
                if let Some(c) = checked {
                    let mut all = shared.checked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    all.push(((i as u32, index as u32), c));
                }
                out.push(Output { seq: 0, path: format!("http/{path}"), entry, by: By::Rule(i, inv, index) })
            }
            Ok(Err(problems)) => errors.extend(problems),
            Err(e) => errors.push(render_error(t, &rule.template, host, &e)),
        }
    }
    if errors.is_empty() {
        Ok((out, ignition))
    } else {
        Err(errors)
    }
}

/// A rendered `files` rule: a `.bu` template renders Butane, and what is written is the Ignition
/// JSON it translates to (`local` and `trees` read the inventory's `files/`), with its check.
fn rule_entry(
    inv: &Inventory,
    t: &Templates,
    template: &str,
    host: &Host,
    text: &str,
) -> Result<(Entry, Option<crate::check::ignition::Checked>), Vec<Diagnostic>> {
    if !template.ends_with(".bu") {
        return Ok((text_entry(text), None));
    }
    let files_dir = inv.dir.join("files");
    let opts = crate::butane::Options { files_dir: Some(&files_dir), strict: false };
    match crate::butane::translate(text, &opts) {
        Ok(translated) => Ok((Entry::File(translated.json.into_bytes().into()), Some(translated.ignition))),
        Err(problems) => Err(problems
            .into_iter()
            .map(|p| {
                let file = t.origin(template);
                let line = template_line(&file, text, p.line);
                let message = format!(
                    "Butane rendered from `{template}` for host `{}` (line {} of the rendered text): {}",
                    host.name, p.line, p.message
                );
                Diagnostic { file, line, message, severity: p.severity }
            })
            .collect()),
    }
}

/// The template line that rendered line `line` of `rendered`, when that text occurs on exactly
/// one line of the template file (Tera tags can shift lines; an unsure guess is no line).
fn template_line(file: &str, rendered: &str, line: usize) -> Option<usize> {
    let wanted = rendered.lines().nth(line.checked_sub(1)?)?.trim_end();
    if wanted.trim().is_empty() {
        return None;
    }
    let source = std::fs::read_to_string(file).ok()?;
    let mut hits = source.lines().enumerate().filter(|(_, l)| l.trim_end() == wanted);
    match (hits.next(), hits.next()) {
        (Some((i, _)), None) => Some(i + 1),
        _ => None,
    }
}

/// Site-wide files: the fallback pxelinux config and the kernel/initrd links.
fn render_site<'a>(inv: &'a Inventory, t: &Templates) -> Result<Vec<Output<'a>>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let ctx = Context::new();
    for (template, path) in SITE_FILES {
        match t.render_with(template, &ctx, text_entry) {
            Ok(entry) => out.push(Output { seq: 0, path: path.to_string(), entry, by: By::Site }),
            Err(e) => {
                let (file, line, msg) = templates::locate(t, template, &e);
                errors.push(Diagnostic::error(file, line, format!("rendering `{template}`: {msg}")));
            }
        }
    }
    for ba in used_bootactions(inv) {
        if let Action::Kernel { kernel, ramdisk, image, .. } = &ba.action {
            let Some(img) = inv.images.get(image) else { continue };
            for (name, role) in [(Some(kernel), "kernel"), (ramdisk.as_ref(), "initrd")] {
                let (Some(name), Some(file)) = (name, img.files.get(role)) else { continue };
                out.push(Output {
                    seq: 0,
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
fn text_entry(text: &str) -> Entry {
    if text.is_empty() || text.ends_with('\n') {
        return Entry::File(text.as_bytes().into());
    }
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    Entry::File(bytes.into())
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
                Action::Kernel { kernel, ramdisk, image, args, .. } => serde_json::json!({
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

    /// Three hosts of one appliance, a large site attribute no template reads.
    fn site_with_blob(dir: &std::path::Path, blob: &str) -> Inventory {
        std::fs::write(
            dir.join("site.yaml"),
            format!(
                "site: {{ name: t, domain: t.example, frontend: 10.9.0.1, http: \"http://10.9.0.1/boot\", root: /srv/pxebake }}\n\
                 networks:\n  boot: {{ address: 10.9.0.0/16, gateway: 10.9.0.1, zone: t.example, pxe: true }}\n\
                 bootactions:\n  os: {{ localboot: 0 }}\n\
                 appliances:\n  compute: {{ installaction: os, runaction: os }}\n\
                 attributes:\n  blob: \"{blob}\"\n"
            ),
        )
        .unwrap();
        let mut hosts = String::from("hosts:\n");
        for i in 1..=3 {
            hosts.push_str(&format!(
                "  - {{ name: h{i}, appliance: compute, interfaces: [{{ network: boot, mac: \"02:00:00:00:00:0{i}\", ip: 10.9.1.{i} }}] }}\n"
            ));
        }
        std::fs::write(dir.join("hosts.yaml"), hosts).unwrap();
        crate::inventory::load(dir).unwrap()
    }

    fn map_of<'v>(v: &'v Value, key: &str) -> &'v Value {
        v.as_map().and_then(|m| m.get(&tera::value::Key::from(key.to_string()))).unwrap()
    }

    #[test]
    fn an_interface_reads_the_same_taken_from_its_host() {
        let dir = tempfile::tempdir().unwrap();
        let inv = site_with_blob(dir.path(), "x");
        let shared = attribute_values(&inv);
        for h in &inv.hosts {
            let hv = host_value(h, &shared, None);
            for (n, i) in h.interfaces.iter().enumerate() {
                let view =
                    InterfaceView { interface: i, mac_hyphen: i.mac.map(|m| m.hyphenated()), hexip: i.ip.map(hex_ip) };
                let direct = Value::from_serializable(&view);
                let taken = interface_value(&hv, n, i);
                assert_eq!(taken, direct);
                assert_eq!(serde_json::to_string(&taken).unwrap(), serde_json::to_string(&direct).unwrap());
            }
        }
    }

    // Regression (issue 17): one large unused attribute made rendering of every host slow, because
    // each host's context held its own copy of every attribute.
    #[test]
    fn hosts_share_one_copy_of_their_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let blob = "x".repeat(100_000);
        let inv = site_with_blob(dir.path(), &blob);
        let shared = attribute_values(&inv);
        assert_eq!(shared.len(), 1, "three hosts of one appliance have one attribute map");
        let values: Vec<Value> = inv.hosts.iter().map(|h| host_value(h, &shared, None)).collect();
        let attrs: Vec<&Value> = values.iter().map(|v| map_of(v, "attributes")).collect();
        assert_eq!(map_of(attrs[0], "blob").as_str(), Some(blob.as_str()));
        for a in &attrs[1..] {
            assert!(std::ptr::eq(a.as_map().unwrap(), attrs[0].as_map().unwrap()), "attributes copied per host");
        }
        // The rendered tree does not depend on the sharing.
        let mut d = Diagnostics::default();
        let mut t = Templates::load(None, &inv, &mut d).unwrap();
        let tree = render(&inv, &mut t, None, None).unwrap();
        assert!(tree.entries.contains_key("etc/dnsmasq.hosts/h3"));
    }
}
