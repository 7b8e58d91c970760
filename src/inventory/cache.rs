//! A cache of each inventory file's parse result, so a rebuild whose 100,000-host file did not
//! change does not parse it again (issue 15: an edit of `boot.yaml` alone).
//!
//! An entry holds what parsing a file gives `load`: its hosts as read (`Pending`), the rest of
//! its tree, and its own diagnostics. It is found by a digest of the file's text, its name as
//! shown in messages, pxebake's version and binary (`render::inputs::binary_id`) and this
//! format's version, and checked against a digest of its contents. Entries live in one
//! directory next to `out/` (`.out.pxebake-load/`, like the stamp and manifest), are written
//! atomically after a load that succeeded, and only the current files' entries are kept. An
//! entry that cannot be read, or whose key or digest differs, is ignored and the file parsed:
//! the cache changes how fast a load is, never what it gives.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeSeed as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{raw, Arch, Boot, Host, Interface, InterfaceKind, Lines, Loader, Origin, Pending, BATCH};
use crate::diag::{Diagnostic, Severity};
use crate::names::Mac;
use crate::yaml::{Kind, Node};

/// The format; a change of the stored types needs a new one (the binary's id changes too).
const MAGIC: &[u8] = b"pxebake-load 1\n";
/// Largest entry read or written (a 64 MiB inventory file stores in less).
const MAX_ENTRY: usize = 256 << 20;

/// The cache directory that goes with `out`: `.NAME.pxebake-load` beside it.
pub fn path_for(out: &Path) -> PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent.join(format!(".{name}.pxebake-load"))
}

/// What parsing one file gives `load`: its tree without the streamed hosts, its hosts in
/// batches, and its own diagnostics.
pub(super) type Parsed = (Node, Vec<Vec<Pending>>, Vec<Diagnostic>);

pub(super) type Key = [u8; 32];

/// The cache of one load: entries found, and entries to write once the load succeeds.
pub(super) struct Cache {
    dir: PathBuf,
    binary: String,
    /// The current files' keys: entries kept when storing.
    keep: HashSet<Key>,
    new: Vec<(Key, Vec<u8>)>,
}

impl Cache {
    /// None when there is no directory, or the binary cannot be told from another.
    pub(super) fn new(dir: Option<&Path>) -> Option<Cache> {
        let binary = crate::render::inputs::binary_id();
        let dir = dir?.to_path_buf();
        (!binary.is_empty()).then(|| Cache { dir, binary, keep: HashSet::new(), new: Vec::new() })
    }

    pub(super) fn key(&self, name: &str, text: &str) -> Key {
        key(&self.binary, name, text)
    }

    /// The entry of `key`, when there is a sound one.
    pub(super) fn get(&mut self, key: &Key, file: &Arc<str>) -> Option<Parsed> {
        self.keep.insert(*key);
        let bytes = read_bounded(&self.dir.join(hex(key)))?;
        let payload = unwrap(&bytes, key)?;
        let mut de = postcard::Deserializer::from_bytes(payload);
        let head = Head::deserialize(&mut de).ok()?;
        let hosts = HostsSeed { file }.deserialize(&mut de).ok()?;
        de.finalize().ok()?.is_empty().then_some(())?;
        let (root, diagnostics) = head.restore(file);
        Some((root, hosts, diagnostics))
    }

    /// Keeps a freshly parsed file's entry, to be written by `store`.
    pub(super) fn put(&mut self, key: Key, file: &Arc<str>, parsed: &Parsed) {
        self.keep.insert(key);
        let (root, batches, diagnostics) = parsed;
        let Some(head) = Head::of(file, root, diagnostics) else { return };
        let Ok(payload) = postcard::to_stdvec(&(head, Hosts { file, batches })) else { return };
        if payload.len() + MAGIC.len() + 64 <= MAX_ENTRY {
            self.new.push((key, wrap(&key, &payload)));
        }
    }

    /// Writes the new entries and removes every other one (a successful load's files are the
    /// only ones kept). Failures are ignored: the next load parses again.
    pub(super) fn store(self) {
        if self.new.is_empty() && !self.dir.exists() {
            return;
        }
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        for (key, bytes) in &self.new {
            let path = self.dir.join(hex(key));
            let tmp = self.dir.join(format!("{TMP}{}.{}", std::process::id(), hex(key)));
            let written = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes));
            if written.and_then(|()| std::fs::rename(&tmp, &path)).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        let Ok(listing) = std::fs::read_dir(&self.dir) else { return };
        let keep: HashSet<String> = self.keep.iter().map(hex).collect();
        for entry in listing.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with(TMP) || (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()));
            if ours && !keep.contains(&name) && entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Prefix of an entry being written.
const TMP: &str = ".tmp.";

fn key(binary: &str, name: &str, text: &str) -> Key {
    let mut h = Sha256::new();
    for part in [MAGIC, env!("CARGO_PKG_VERSION").as_bytes(), binary.as_bytes(), name.as_bytes(), text.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

fn hex(key: &Key) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// MAGIC, the key, the payload's digest, the payload.
fn wrap(key: &Key, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 64 + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(key);
    out.extend_from_slice(&Sha256::digest(payload));
    out.extend_from_slice(payload);
    out
}

fn unwrap<'a>(bytes: &'a [u8], key: &Key) -> Option<&'a [u8]> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (stored_key, rest) = rest.split_first_chunk::<32>()?;
    let (digest, payload) = rest.split_first_chunk::<32>()?;
    (stored_key == key && Sha256::digest(payload).as_slice() == digest).then_some(payload)
}

fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    // Allocated at once (not grown): freed, it goes back to the system, not to the heap's top.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).ok()?.min(MAX_ENTRY));
    file.take(MAX_ENTRY as u64 + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() <= MAX_ENTRY).then_some(bytes)
}

/// One file's parse result as stored: this, then its hosts (`Hosts`, read by `HostsSeed`
/// straight into batches). Borrowed when written, owned when read; the file's name is not
/// stored (it is part of the key) but set again on every origin.
#[derive(Serialize, Deserialize)]
struct Head<'a> {
    root: StoredNode<'a>,
    diagnostics: Vec<StoredDiagnostic<'a>>,
}

#[derive(Serialize, Deserialize)]
struct StoredNode<'a> {
    line: usize,
    kind: StoredKind<'a>,
}

#[derive(Serialize, Deserialize)]
enum StoredKind<'a> {
    Null,
    Scalar { value: Cow<'a, str>, plain: bool },
    Seq(Vec<StoredNode<'a>>),
    Map(Vec<(StoredNode<'a>, StoredNode<'a>)>),
}

#[derive(Serialize, Deserialize)]
struct StoredDiagnostic<'a> {
    line: Option<usize>,
    message: Cow<'a, str>,
    severity: Severity,
}

/// A `Pending` host; what `prepare` leaves at its defaults (boot, action, the attributes
/// placeholder) is not stored, and such a host is not cached when they differ.
#[derive(Serialize, Deserialize)]
struct StoredHost<'a> {
    name: Cow<'a, str>,
    appliance: Cow<'a, str>,
    rack: Option<u32>,
    rank: Option<u32>,
    cpus: Option<u32>,
    installaction: Option<Cow<'a, str>>,
    runaction: Option<Cow<'a, str>>,
    loader: Option<Loader>,
    loader_line: Option<usize>,
    arch: Arch,
    arch_line: usize,
    groups: Cow<'a, [String]>,
    comment: Option<Cow<'a, str>>,
    interfaces: Vec<StoredInterface<'a>>,
    line: usize,
    boot: Option<Cow<'a, str>>,
    attributes: Vec<(Cow<'a, str>, Value<'a>)>,
    lines: Option<Cow<'a, [usize]>>,
}

#[derive(Serialize, Deserialize)]
struct StoredInterface<'a> {
    network: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    mac: Option<[u8; 6]>,
    ip: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    ipv6_prefix: u8,
    default: bool,
    kind: InterfaceKind,
    channel: Option<Cow<'a, str>>,
    vlan: Option<u16>,
    options: Option<Cow<'a, str>>,
    hostname: Option<Cow<'a, str>>,
}

/// A JSON value (`serde_json::Value` reads only from self-describing formats).
#[derive(Serialize, Deserialize)]
enum Value<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

fn borrowed(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

fn owned(s: Option<Cow<'_, str>>) -> Option<String> {
    s.map(Cow::into_owned)
}

impl<'a> Head<'a> {
    /// None when a diagnostic is not of `file` (then the file is not cached).
    fn of(file: &Arc<str>, root: &'a Node, diagnostics: &'a [Diagnostic]) -> Option<Head<'a>> {
        let diagnostics = diagnostics
            .iter()
            .map(|d| {
                (d.file == **file).then(|| StoredDiagnostic {
                    line: d.line,
                    message: Cow::Borrowed(&d.message),
                    severity: d.severity,
                })
            })
            .collect::<Option<_>>()?;
        Some(Head { root: StoredNode::of(root), diagnostics })
    }

    fn restore(self, file: &Arc<str>) -> (Node, Vec<Diagnostic>) {
        let d = self.diagnostics.into_iter();
        let d = d.map(|d| Diagnostic {
            file: file.to_string(),
            line: d.line,
            message: d.message.into_owned(),
            severity: d.severity,
        });
        (self.root.restore(), d.collect())
    }
}

/// A file's hosts, written one by one (no stored copy of them all); fails for a host that is
/// not as parsing leaves it.
struct Hosts<'a> {
    file: &'a Arc<str>,
    batches: &'a [Vec<Pending>],
}

impl Serialize for Hosts<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut seq = s.serialize_seq(Some(self.batches.iter().map(Vec::len).sum()))?;
        for p in self.batches.iter().flatten() {
            let host = StoredHost::of(self.file, p).ok_or_else(|| S::Error::custom("a host not as parsed"))?;
            seq.serialize_element(&host)?;
        }
        seq.end()
    }
}

/// Reads stored hosts into batches as `parse_streaming` makes them.
struct HostsSeed<'a> {
    file: &'a Arc<str>,
}

impl<'de> serde::de::DeserializeSeed<'de> for HostsSeed<'_> {
    type Value = Vec<Vec<Pending>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for HostsSeed<'_> {
    type Value = Vec<Vec<Pending>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of hosts")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error as _;
        let empty = Arc::new(raw::Attributes::new());
        let mut batches = vec![Vec::with_capacity(BATCH.min(seq.size_hint().unwrap_or(0)))];
        while let Some(host) = seq.next_element::<StoredHost>()? {
            let host = host.restore(self.file, &empty).ok_or_else(|| A::Error::custom("a host not as stored"))?;
            if batches.last().is_none_or(|b| b.len() == BATCH) {
                batches.push(Vec::with_capacity(BATCH));
            }
            if let Some(batch) = batches.last_mut() {
                batch.push(host);
            }
        }
        Ok(batches)
    }
}

impl<'a> StoredNode<'a> {
    fn of(node: &'a Node) -> StoredNode<'a> {
        let kind = match &node.kind {
            Kind::Null => StoredKind::Null,
            Kind::Scalar { value, plain } => StoredKind::Scalar { value: Cow::Borrowed(value), plain: *plain },
            Kind::Seq(items) => StoredKind::Seq(items.iter().map(StoredNode::of).collect()),
            Kind::Map(entries) => {
                StoredKind::Map(entries.iter().map(|(k, v)| (StoredNode::of(k), StoredNode::of(v))).collect())
            }
        };
        StoredNode { line: node.line, kind }
    }

    fn restore(self) -> Node {
        let kind = match self.kind {
            StoredKind::Null => Kind::Null,
            StoredKind::Scalar { value, plain } => Kind::Scalar { value: value.into_owned(), plain },
            StoredKind::Seq(items) => Kind::Seq(items.into_iter().map(StoredNode::restore).collect()),
            StoredKind::Map(entries) => {
                Kind::Map(entries.into_iter().map(|(k, v)| (k.restore(), v.restore())).collect())
            }
        };
        Node { line: self.line, kind }
    }
}

impl<'a> StoredHost<'a> {
    fn of(file: &Arc<str>, p: &'a Pending) -> Option<StoredHost<'a>> {
        let Pending { host, boot, attributes, lines } = p;
        // Every field named: a new one must be stored or restored here too.
        let Host {
            name,
            appliance,
            rack,
            rank,
            cpus,
            boot: boot_state,
            installaction,
            runaction,
            action,
            loader,
            loader_origin,
            arch,
            arch_origin,
            groups,
            comment,
            interfaces,
            attributes: placeholder,
            origin,
        } = host;
        let ours = |o: &Origin| *o.file == **file;
        let defaults = *boot_state == Boot::Os && action.is_none() && placeholder.is_empty();
        if !defaults || !ours(origin) || !ours(arch_origin) || !loader_origin.as_ref().is_none_or(ours) {
            return None;
        }
        Some(StoredHost {
            name: Cow::Borrowed(name),
            appliance: Cow::Borrowed(appliance),
            rack: *rack,
            rank: *rank,
            cpus: *cpus,
            installaction: borrowed(installaction),
            runaction: borrowed(runaction),
            loader: *loader,
            loader_line: loader_origin.as_ref().map(|o| o.line),
            arch: *arch,
            arch_line: arch_origin.line,
            groups: Cow::Borrowed(groups),
            comment: borrowed(comment),
            interfaces: interfaces.iter().map(StoredInterface::of).collect(),
            line: origin.line,
            boot: borrowed(boot),
            attributes: attributes
                .iter()
                .map(|(k, v)| Some((Cow::Borrowed(k.as_str()), Value::of(v)?)))
                .collect::<Option<_>>()?,
            lines: lines.0.as_deref().map(Cow::Borrowed),
        })
    }

    fn restore(self, file: &Arc<str>, empty: &Arc<raw::Attributes>) -> Option<Pending> {
        let origin = |line| Origin { file: file.clone(), line };
        let mut attributes = raw::Attributes::new();
        for (k, v) in self.attributes {
            attributes.insert(k.into_owned(), v.restore()?);
        }
        // A loader's line without a loader (or the reverse) is no entry `of` wrote.
        if self.loader.is_some() != self.loader_line.is_some() {
            return None;
        }
        Some(Pending {
            host: Host {
                name: self.name.into_owned(),
                appliance: self.appliance.into_owned(),
                rack: self.rack,
                rank: self.rank,
                cpus: self.cpus,
                boot: Boot::Os,
                installaction: owned(self.installaction),
                runaction: owned(self.runaction),
                action: None,
                loader: self.loader,
                loader_origin: self.loader_line.map(origin),
                arch: self.arch,
                arch_origin: origin(self.arch_line),
                groups: self.groups.into_owned(),
                comment: owned(self.comment),
                interfaces: self.interfaces.into_iter().map(StoredInterface::restore).collect(),
                attributes: Arc::clone(empty),
                origin: origin(self.line),
            },
            boot: owned(self.boot),
            attributes,
            lines: Lines(self.lines.map(|l| l.into_owned().into_boxed_slice())),
        })
    }
}

impl<'a> StoredInterface<'a> {
    fn of(i: &'a Interface) -> StoredInterface<'a> {
        let Interface { network, name, mac, ip, ipv6, ipv6_prefix, default, kind, channel, vlan, options, hostname } =
            i;
        StoredInterface {
            network: borrowed(network),
            name: borrowed(name),
            mac: mac.map(|m| m.0),
            ip: *ip,
            ipv6: *ipv6,
            ipv6_prefix: *ipv6_prefix,
            default: *default,
            kind: *kind,
            channel: borrowed(channel),
            vlan: *vlan,
            options: borrowed(options),
            hostname: borrowed(hostname),
        }
    }

    fn restore(self) -> Interface {
        Interface {
            network: owned(self.network),
            name: owned(self.name),
            mac: self.mac.map(Mac),
            ip: self.ip,
            ipv6: self.ipv6,
            ipv6_prefix: self.ipv6_prefix,
            default: self.default,
            kind: self.kind,
            channel: owned(self.channel),
            vlan: self.vlan,
            options: owned(self.options),
            hostname: owned(self.hostname),
        }
    }
}

impl<'a> Value<'a> {
    /// None for a number that is none of u64, i64 and f64 (not cached).
    fn of(v: &'a serde_json::Value) -> Option<Value<'a>> {
        use serde_json::Value as J;
        Some(match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => Value::U64(u),
                (None, Some(i), _) => Value::I64(i),
                (None, None, Some(f)) if n.is_f64() => Value::F64(f),
                _ => return None,
            },
            J::String(s) => Value::String(Cow::Borrowed(s)),
            J::Array(a) => Value::Array(a.iter().map(Value::of).collect::<Option<_>>()?),
            J::Object(o) => Value::Object(
                o.iter().map(|(k, v)| Some((Cow::Borrowed(k.as_str()), Value::of(v)?))).collect::<Option<_>>()?,
            ),
        })
    }

    /// None for what `of` never stores (a float that is not finite).
    fn restore(self) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(b),
            Value::U64(u) => J::from(u),
            Value::I64(i) => J::from(i),
            Value::F64(f) => J::Number(serde_json::Number::from_f64(f)?),
            Value::String(s) => J::String(s.into_owned()),
            Value::Array(a) => J::Array(a.into_iter().map(Value::restore).collect::<Option<_>>()?),
            Value::Object(o) => {
                J::Object(o.into_iter().map(|(k, v)| Some((k.into_owned(), v.restore()?))).collect::<Option<_>>()?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Invalid;

    const SITE: &str = "site: { name: s, domain: s.example, frontend: 10.1.0.1, http: http://10.1.0.1/b }
networks:
  lan: { address: 10.1.0.0/16, pxe: true }
  v6: { address: 10.2.0.0/16, ipv6: \"2001:db8:2::/64\" }
bootactions:
  os: { localboot: 0 }
  inst: { localboot: 1 }
appliances:
  node: { runaction: os, installaction: inst, attributes: { a: 1 } }
attributes: { g: 2 }
files:
  - { path: \"x/{{ host.name }}\", template: t, hosts: \"node,group:gpu\" }
boot:
  cachehost: install
";

    /// Hosts with what a cache entry must keep: lines of keys written on lines of their own,
    /// loader and arch, groups, attributes of every JSON kind, and interfaces of each kind.
    const HOSTS: &str = "# hosts
hosts:
  - name: cachehost
    appliance: node
    rack: 1
    rank: 2
    cpus: 8
    loader: tftp
    groups: [gpu, rack1]
    comment: first one
    attributes: { n: -3, f: 0.1, big: 18446744073709551615, t: true, z: null, s: x, l: [1, { k: v }] }
    interfaces:
      - { network: lan, name: eth0, mac: 02:00:00:00:00:01, ip: 10.1.0.5, default: true }
      - { name: bond0, type: bond, options: mode=1 }
      - { name: eth1, channel: bond0 }
      - network: v6
        name: eth2
        mac: \"02-00-00-00-00-02\"
        ip: 10.2.0.7
        ipv6: 2001:db8:2::7
        hostname: c6
  - { name: second, appliance: node, arch: amd64, boot: os, runaction: os }
  - { name: third, appliance: node, interfaces: [{ network: lan, ip: 10.1.0.6, mac: 02:00:00:00:00:03, vlan: 70, name: eth0.70 }] }
other: { a: [1, 2] }
";

    fn site(hosts: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let top = tempfile::tempdir().unwrap();
        let inv = top.path().join("inventory");
        std::fs::create_dir(&inv).unwrap();
        std::fs::write(inv.join("hosts.yaml"), hosts).unwrap();
        std::fs::write(inv.join("site.yaml"), SITE).unwrap();
        let cache = path_for(&top.path().join("out"));
        (top, inv, cache)
    }

    /// The load, in a form to compare (the whole inventory, or every diagnostic).
    fn load(inv: &Path, cache: Option<&Path>) -> Result<String, Invalid> {
        match super::super::load_cached(inv, cache) {
            Ok(i) => Ok(format!("{i:?}")),
            Err(e) => Err(e.downcast::<Invalid>().unwrap()),
        }
    }

    fn entry_path(inv: &Path, cache: &Path, file: &str) -> PathBuf {
        let name = crate::names::printable(&inv.join(file).display().to_string());
        let text = std::fs::read_to_string(inv.join(file)).unwrap();
        cache.join(hex(&Cache::new(Some(cache)).unwrap().key(&name, &text)))
    }

    fn entries(cache: &Path) -> usize {
        std::fs::read_dir(cache).map_or(0, |l| l.count())
    }

    /// `hosts.yaml` without the `other:` section (an unknown section is an error).
    fn valid() -> String {
        HOSTS.replace("other: { a: [1, 2] }\n", "")
    }

    #[test]
    fn a_cached_load_gives_what_parsing_gives() {
        let (_top, inv, cache) = site(&valid());
        let parsed = load(&inv, None).unwrap();
        assert!(parsed.contains("18446744073709551615") && parsed.contains("0.1"), "{parsed}");
        assert_eq!(load(&inv, Some(&cache)).unwrap(), parsed, "the load that writes the cache");
        assert_eq!(entries(&cache), 2);
        assert!(entry_path(&inv, &cache, "hosts.yaml").is_file());
        assert_eq!(load(&inv, Some(&cache)).unwrap(), parsed, "the load that reads it");
        assert_eq!(load(&inv, Some(&cache)).unwrap(), parsed, "and again");
    }

    #[test]
    fn a_cache_entry_is_used() {
        // An entry of the right key with a sound digest is trusted for a file's content (that is
        // the point): one rewritten here shows that loads read it.
        let (_top, inv, cache) = site(&valid());
        load(&inv, Some(&cache)).unwrap();
        let path = entry_path(&inv, &cache, "hosts.yaml");
        let bytes = std::fs::read(&path).unwrap();
        let key: Key = bytes[MAGIC.len()..MAGIC.len() + 32].try_into().unwrap();
        let mut payload = bytes[MAGIC.len() + 64..].to_vec();
        let at = payload.windows(9).position(|w| w == b"cachehost").unwrap();
        payload[at + 8] = b'T';
        std::fs::write(&path, wrap(&key, &payload)).unwrap();
        let e = load(&inv, Some(&cache)).unwrap_err().to_string();
        assert!(e.contains("boot state for unknown host `cachehost`"), "{e}");
    }

    #[test]
    fn an_edited_file_is_parsed_again() {
        let (_top, inv, cache) = site(&valid());
        load(&inv, Some(&cache)).unwrap();
        let file = inv.join("hosts.yaml");
        // One byte more.
        std::fs::write(&file, valid().replace("rack: 1\n", "rack: 12\n")).unwrap();
        let edited = load(&inv, None).unwrap();
        assert!(edited.contains("rack: Some(12)"), "{edited}");
        assert_eq!(load(&inv, Some(&cache)).unwrap(), edited);
        assert_eq!(entries(&cache), 2, "the old entry of hosts.yaml is gone");
        // The same size and modification time.
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, valid().replace("rack: 1\n", "rack: 13\n")).unwrap();
        std::fs::File::options().write(true).open(&file).unwrap().set_modified(mtime).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);
        let edited = load(&inv, None).unwrap();
        assert!(edited.contains("rack: Some(13)"), "{edited}");
        assert_eq!(load(&inv, Some(&cache)).unwrap(), edited);
    }

    #[test]
    fn a_broken_or_foreign_entry_is_ignored() {
        let (_top, inv, cache) = site(&valid());
        let parsed = load(&inv, None).unwrap();
        load(&inv, Some(&cache)).unwrap();
        let path = entry_path(&inv, &cache, "hosts.yaml");
        let good = std::fs::read(&path).unwrap();
        let name_at = good.windows(9).position(|w| w == b"cachehost").unwrap();
        let mut broken = vec![good[..good.len() / 2].to_vec(), good[..MAGIC.len() + 40].to_vec(), Vec::new()];
        for at in [0, MAGIC.len() + 3, MAGIC.len() + 40, name_at + 8, good.len() - 1] {
            let mut b = good.clone();
            b[at] ^= 0x20;
            broken.push(b);
        }
        // Another file's entry under this key (its key is in the header).
        broken.push(std::fs::read(entry_path(&inv, &cache, "site.yaml")).unwrap());
        // A sound entry of a load whose key differs (another binary, say).
        let other = key("another pxebake", "hosts.yaml", &valid());
        broken.push(wrap(&other, &good[MAGIC.len() + 64..]));
        for b in broken {
            std::fs::write(&path, &b).unwrap();
            assert_eq!(load(&inv, Some(&cache)).unwrap(), parsed);
            assert!(std::fs::read(&path).unwrap() == good, "the file was parsed, and its entry written again");
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert_eq!(load(&inv, Some(&cache)).unwrap(), parsed);
    }

    #[test]
    fn the_key_is_of_binary_name_and_text() {
        let k = key("1 2 3", "a.yaml", "x");
        assert_ne!(k, key("1 2 4", "a.yaml", "x"));
        assert_ne!(k, key("1 2 3", "b.yaml", "x"));
        assert_ne!(k, key("1 2 3", "a.yaml", "y"));
        assert_ne!(key("ab", "c", "x"), key("a", "bc", "x"));
    }

    #[test]
    fn an_inventory_with_errors_fails_every_time_and_writes_nothing() {
        // A file with problems of its own, and problems that need the site.
        let bad =
            HOSTS.replace("loader: tftp", "loader: nope").replace("appliance: node, arch", "appliance: nod, arch");
        let (_top, inv, cache) = site(&bad);
        let e = load(&inv, None).unwrap_err();
        let shown = e.to_string();
        for line in [
            "hosts.yaml:8: host `cachehost`: loader `nope`",
            "hosts.yaml:24: unknown section `other`",
            "unknown appliance `nod`",
        ] {
            assert!(shown.contains(line), "{line} in\n{shown}");
        }
        for _ in 0..2 {
            assert_eq!(load(&inv, Some(&cache)).unwrap_err(), e);
            assert!(!cache.exists());
        }
        // Cached files, then an error elsewhere: every problem still.
        std::fs::write(inv.join("hosts.yaml"), valid()).unwrap();
        load(&inv, Some(&cache)).unwrap();
        std::fs::write(inv.join("site.yaml"), SITE.replace("  node:", "  nodes:")).unwrap();
        let e = load(&inv, None).unwrap_err();
        assert_eq!(e.0.iter().filter(|d| d.message.contains("unknown appliance `node`")).count(), 3, "{e}");
        for _ in 0..2 {
            assert_eq!(load(&inv, Some(&cache)).unwrap_err(), e);
        }
    }

    #[test]
    fn an_entry_keeps_a_files_own_diagnostics() {
        // Only a load that succeeds writes entries, so none has errors; an entry still keeps
        // every diagnostic of its file, with its line.
        let (_top, inv, cache) = site(HOSTS);
        let name: Arc<str> = "hosts.yaml".into();
        let (root, hosts, found) = super::super::parse_streaming(HOSTS, &name).unwrap();
        let mut found = super::super::all(found);
        found.push(Diagnostic::warning("hosts.yaml", Some(3), "a warning"));
        found.push(Diagnostic::error("hosts.yaml", None, "an error"));
        let parsed: Parsed = (root, hosts, found);
        let mut c = Cache::new(Some(&cache)).unwrap();
        let k = c.key(&name, HOSTS);
        c.put(k, &name, &parsed);
        c.store();
        let got = Cache::new(Some(&cache)).unwrap().get(&k, &name).unwrap();
        assert_eq!(format!("{got:?}"), format!("{parsed:?}"));
        assert!(format!("{got:?}").contains("other"));
        assert_eq!(got.2.len(), 2);
        drop(inv);
    }

    #[test]
    fn only_the_current_files_entries_are_kept() {
        let (_top, inv, cache) = site(&valid());
        load(&inv, Some(&cache)).unwrap();
        std::fs::write(cache.join(format!("{TMP}1.x")), "left by a build that stopped").unwrap();
        std::fs::write(cache.join("README"), "not ours").unwrap();
        std::fs::write(inv.join("more.yaml"), "attributes: { more: 1 }\n").unwrap();
        load(&inv, Some(&cache)).unwrap();
        assert_eq!(entries(&cache), 4);
        std::fs::remove_file(inv.join("more.yaml")).unwrap();
        load(&inv, Some(&cache)).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        let mut want = vec![
            entry_path(&inv, &cache, "hosts.yaml").file_name().unwrap().to_owned(),
            entry_path(&inv, &cache, "site.yaml").file_name().unwrap().to_owned(),
            "README".into(),
        ];
        want.sort();
        assert_eq!(names, want);
    }
}
