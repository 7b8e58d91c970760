//! Machines announce themselves through the stock web server: what nginx logged at the events
//! endpoint, read back.
//!
//! The generated nginx config answers `<site.http>/events?...` with an empty 204 and logs the
//! request in its own format (`LOG_FORMAT`). Unknown machines request it from the default iPXE
//! script (`ev=hello` with what the firmware knows), install bootstraps at their start and end
//! (`ev=install-start`, `ev=installed`). Every field is untrusted: a line that does not parse is
//! counted and skipped, and values are validated before anything uses them. A spoofed event can
//! at most propose a new host (`discover`) or flip a known host to `os` (`set --installed-from`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use crate::inventory::Inventory;
use crate::names::Mac;

/// The endpoint's path under `site.http`.
pub const ENDPOINT: &str = "events";

/// The first word of every events log line; bumped if the format changes.
pub const TAG: &str = "pxebake-events/1";

/// nginx `log_format` body (escape=default: `"`, `\` and bytes outside 32..=126 become `\xHH`).
pub const LOG_FORMAT: &str = "pxebake-events/1 $time_iso8601 $remote_addr \"$args\"";

/// Longest line read; anything longer is counted as malformed (nginx logs at most a few KB).
const MAX_LINE: usize = 8192;
/// Longest value kept from a field.
const MAX_VALUE: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Kind {
    /// An unknown machine booted the default path.
    Hello {
        mac: String,
        serial: Option<String>,
        uuid: Option<String>,
        manufacturer: Option<String>,
        product: Option<String>,
        arch: Option<String>,
        platform: Option<String>,
    },
    /// A host's install bootstrap started.
    InstallStart { host: String },
    /// A host's install bootstrap finished.
    Installed { host: String, version: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Seconds since the epoch (UTC), for ordering.
    pub at: i64,
    /// As logged (ISO 8601, the server's offset).
    pub time: String,
    pub from: Ipv4Addr,
    #[serde(flatten)]
    pub kind: Kind,
}

/// Every event of some logs, in time order, and how many lines were skipped.
#[derive(Debug, Default, Serialize)]
pub struct Log {
    pub events: Vec<Event>,
    pub lines: usize,
    pub skipped: usize,
    /// The first few reasons lines were skipped (file:line: why), for the operator.
    pub skipped_examples: Vec<String>,
}

impl Log {
    /// Reads logs (plain or gzip, e.g. rotated `events.log.2.gz`) in the order given.
    pub fn read(paths: &[impl AsRef<Path>]) -> anyhow::Result<Log> {
        let mut log = Log::default();
        for path in paths {
            let path = path.as_ref();
            let file = std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
            let mut head = BufReader::new(file);
            let gzip = head.fill_buf().map(|b| b.starts_with(&[0x1f, 0x8b])).unwrap_or(false);
            let reader: Box<dyn Read> =
                if gzip { Box::new(flate2::read::MultiGzDecoder::new(head)) } else { Box::new(head) };
            log.add(&path.display().to_string(), BufReader::new(reader))
                .with_context(|| format!("cannot read `{}`", path.display()))?;
        }
        log.events.sort_by(|a, b| (a.at, &a.time).cmp(&(b.at, &b.time)));
        Ok(log)
    }

    fn add(&mut self, name: &str, mut r: impl BufRead) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let mut number = 0;
        loop {
            buf.clear();
            // Bounded read: a line without an end is cut, counted and skipped.
            let n = r.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            self.lines += 1;
            number += 1;
            let too_long = buf.len() > MAX_LINE;
            if too_long {
                // Skip the rest of this line.
                let mut rest = Vec::new();
                while !rest.ends_with(b"\n") {
                    rest.clear();
                    if r.by_ref().take(MAX_LINE as u64).read_until(b'\n', &mut rest)? == 0 {
                        break;
                    }
                }
            }
            let line = String::from_utf8_lossy(&buf);
            let parsed =
                if too_long { Err(format!("longer than {MAX_LINE} bytes")) } else { parse_line(line.trim_end()) };
            match parsed {
                Ok(Some(e)) => self.events.push(e),
                Ok(None) => {}
                Err(why) => {
                    self.skipped += 1;
                    if self.skipped_examples.len() < 5 {
                        self.skipped_examples.push(format!("{name}:{number}: {why}"));
                    }
                }
            }
        }
    }
}

/// One log line: an event, nothing (a blank line), or why it was skipped.
pub fn parse_line(line: &str) -> Result<Option<Event>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let mut parts = line.splitn(4, ' ');
    let (Some(tag), Some(time), Some(addr), Some(args)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a pxebake events line".into());
    };
    if tag != TAG {
        return Err(format!("does not start with `{TAG}`"));
    }
    let at = parse_time(time).ok_or("malformed time")?;
    let from: Ipv4Addr = addr.parse().map_err(|_| "malformed client address")?;
    let args = args.strip_prefix('"').and_then(|a| a.strip_suffix('"')).ok_or("malformed query")?;
    let q = query(args)?;
    let get = |k: &str| q.get(k).cloned();
    let kind = match q.get("ev").map(String::as_str) {
        Some("hello") => {
            let mac = Mac::parse(q.get("mac").ok_or("hello without `mac`")?).map_err(|_| "malformed `mac`")?;
            Kind::Hello {
                mac: mac.to_string(),
                serial: get("serial"),
                uuid: get("uuid"),
                manufacturer: get("manufacturer"),
                product: get("product"),
                arch: get("arch").filter(|a| crate::names::check_identifier(a).is_ok()),
                platform: get("platform").filter(|p| crate::names::check_identifier(p).is_ok()),
            }
        }
        Some(ev @ ("install-start" | "installed")) => {
            let host = q.get("host").ok_or("install event without `host`")?;
            crate::names::check_dns_label(host).map_err(|_| "malformed `host`")?;
            let host = host.clone();
            if ev == "installed" {
                let version = get("version").filter(|v| crate::names::check_file_name(v).is_ok());
                Kind::Installed { host, version }
            } else {
                Kind::InstallStart { host }
            }
        }
        Some(_) => return Err("unknown `ev`".into()),
        None => return Err("no `ev`".into()),
    };
    Ok(Some(Event { at, time: time.to_string(), from, kind }))
}

/// Decodes `a=1&b=x%20y`: keys must be known words, values are percent-decoded, bounded and
/// printable ASCII. nginx's `\xHH` escapes (raw bytes the client sent) are refused outright.
fn query(args: &str) -> Result<BTreeMap<String, String>, String> {
    const KEYS: [&str; 11] =
        ["ev", "mac", "serial", "uuid", "manufacturer", "product", "arch", "platform", "host", "version", "ip"];
    if args.contains('\\') {
        return Err("escaped bytes in the query".into());
    }
    let mut out = BTreeMap::new();
    for pair in args.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !KEYS.contains(&k) {
            continue; // newer firmware scripts may send more; unknown keys are ignored
        }
        let v = percent_decode(v).ok_or_else(|| format!("malformed value of `{k}`"))?;
        if v.len() > MAX_VALUE || v.chars().any(|c| !(' '..='~').contains(&c)) {
            return Err(format!("value of `{k}` is too long or not printable"));
        }
        let v = v.trim().to_string();
        if !v.is_empty() && out.insert(k.to_string(), v).is_some() {
            return Err(format!("`{k}` given twice"));
        }
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `2026-11-26T08:30:00+00:00` -> seconds since the epoch.
fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 25 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok()).flatten()
    };
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let sign = match b[19] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if b[22] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let offset = sign * (num(20..22)? * 3600 + num(23..25)? * 60);
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// A machine the inventory does not know, as its hellos describe it.
#[derive(Debug, Clone, Serialize)]
pub struct Unknown {
    pub mac: String,
    pub serial: Option<String>,
    pub uuid: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub arch: Option<String>,
    pub platform: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    #[serde(skip)]
    pub first_at: i64,
    /// The inventory network the request came from, when one holds its address.
    pub network: Option<String>,
    pub hellos: usize,
}

/// What a host's install events say.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Install {
    pub host: String,
    pub last_start: Option<String>,
    pub last_installed: Option<String>,
    pub version: Option<String>,
    /// Installs started again after one completed: the machine is in an install loop.
    pub loops: usize,
    /// Known to the inventory.
    pub known: bool,
    #[serde(skip)]
    start_at: Option<i64>,
    #[serde(skip)]
    installed_at: Option<i64>,
}

impl Install {
    /// The last install started has completed.
    pub fn completed(&self) -> bool {
        match (self.installed_at, self.start_at) {
            (Some(done), Some(start)) => done >= start,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub unknown: Vec<Unknown>,
    pub installs: Vec<Install>,
    pub lines: usize,
    pub skipped: usize,
    pub skipped_examples: Vec<String>,
}

/// What the events say about this inventory.
pub fn summarize(log: &Log, inv: &Inventory) -> Summary {
    let known_macs: std::collections::HashSet<String> =
        inv.hosts.iter().flat_map(|h| h.interfaces.iter().filter_map(|i| i.mac.map(|m| m.to_string()))).collect();
    let mut unknown: BTreeMap<String, Unknown> = BTreeMap::new();
    let mut installs: BTreeMap<String, Install> = BTreeMap::new();
    for e in &log.events {
        match &e.kind {
            Kind::Hello { mac, serial, uuid, manufacturer, product, arch, platform } => {
                if known_macs.contains(mac) {
                    continue;
                }
                let network = inv.networks.values().find(|n| n.address.contains(&e.from)).map(|n| n.name.clone());
                let u = unknown.entry(mac.clone()).or_insert_with(|| Unknown {
                    mac: mac.clone(),
                    serial: None,
                    uuid: None,
                    manufacturer: None,
                    product: None,
                    arch: None,
                    platform: None,
                    first_seen: e.time.clone(),
                    last_seen: e.time.clone(),
                    first_at: e.at,
                    network: None,
                    hellos: 0,
                });
                u.hellos += 1;
                u.last_seen = e.time.clone();
                // The latest report of each field wins; a field a later boot did not send stays.
                for (dst, src) in [
                    (&mut u.serial, serial),
                    (&mut u.uuid, uuid),
                    (&mut u.manufacturer, manufacturer),
                    (&mut u.product, product),
                    (&mut u.arch, arch),
                    (&mut u.platform, platform),
                    (&mut u.network, &network),
                ] {
                    if src.is_some() {
                        dst.clone_from(src);
                    }
                }
            }
            Kind::InstallStart { host } | Kind::Installed { host, .. } => {
                let i = installs.entry(host.clone()).or_insert_with(|| Install {
                    host: host.clone(),
                    known: inv.hosts.iter().any(|h| &h.name == host),
                    ..Install::default()
                });
                match &e.kind {
                    Kind::InstallStart { .. } => {
                        if i.installed_at.is_some_and(|done| done <= e.at) {
                            i.loops += 1;
                        }
                        i.start_at = Some(e.at);
                        i.last_start = Some(e.time.clone());
                    }
                    Kind::Installed { version, .. } => {
                        i.installed_at = Some(e.at);
                        i.last_installed = Some(e.time.clone());
                        i.version.clone_from(version);
                    }
                    Kind::Hello { .. } => {}
                }
            }
        }
    }
    let mut unknown: Vec<Unknown> = unknown.into_values().collect();
    unknown.sort_by(|a, b| (a.first_at, &a.mac).cmp(&(b.first_at, &b.mac)));
    Summary {
        unknown,
        installs: installs.into_values().collect(),
        lines: log.lines,
        skipped: log.skipped,
        skipped_examples: log.skipped_examples.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_lines_parse_and_hostile_ones_are_skipped() {
        let e = parse_line("pxebake-events/1 2026-11-26T08:30:00+00:00 10.2.0.9 \"ev=hello&mac=52:54:00:AB:cd:01&serial=SN%20123&manufacturer=QEMU&arch=x86_64&platform=efi\"")
            .unwrap()
            .unwrap();
        assert_eq!(e.at, 1_795_681_800);
        assert_eq!(e.from, Ipv4Addr::new(10, 2, 0, 9));
        match e.kind {
            Kind::Hello { mac, serial, platform, .. } => {
                assert_eq!(mac, "52:54:00:ab:cd:01");
                assert_eq!(serial.as_deref(), Some("SN 123"));
                assert_eq!(platform.as_deref(), Some("efi"));
            }
            k => panic!("{k:?}"),
        }
        for (bad, why) in [
            ("GET / HTTP/1.1", "not a pxebake events line"),
            ("GET /x HTTP/1.1 200", "does not start"),
            ("pxebake-events/1 yesterday 10.2.0.9 \"ev=hello&mac=52:54:00:00:00:01\"", "malformed time"),
            ("pxebake-events/1 2026-11-26T08:30:00+00:00 10.2.0.9 \"ev=hello&mac=52:54:00:00:00:zz\"", "`mac`"),
            (
                "pxebake-events/1 2026-11-26T08:30:00+00:00 10.2.0.9 \"ev=hello&mac=52:54:00:00:00:01&serial=a%0Ab\"",
                "not printable",
            ),
            (
                "pxebake-events/1 2026-11-26T08:30:00+00:00 10.2.0.9 \"ev=hello&mac=52:54:00:00:00:01&serial=\\x22\"",
                "escaped",
            ),
            ("pxebake-events/1 2026-11-26T08:30:00+00:00 10.2.0.9 \"ev=installed&host=../etc\"", "`host`"),
            ("pxebake-events/1 2026-11-26T08:30:00+00:00 10.2.0.9 \"ev=reboot\"", "unknown `ev`"),
        ] {
            let err = parse_line(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long = format!("ev=hello&mac=52:54:00:00:00:01&serial={}", "x".repeat(200));
        assert!(parse_line(&format!("pxebake-events/1 2026-11-26T08:30:00+00:00 10.2.0.9 \"{long}\"")).is_err());
    }

    #[test]
    fn times_with_offsets_order_correctly() {
        assert_eq!(parse_time("1970-01-01T00:00:00+00:00"), Some(0));
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_time("2000-03-01T00:00:00-00:30"), Some(951_870_600));
        assert_eq!(parse_time("2026-13-01T00:00:00+00:00"), None);
    }

    #[test]
    fn long_lines_are_bounded_and_skipped() {
        let mut log = Log::default();
        let text = format!(
            "{}\npxebake-events/1 2026-11-26T08:30:00+00:00 10.2.0.9 \"ev=installed&host=a\"\n",
            "y".repeat(100_000)
        );
        log.add("t", text.as_bytes()).unwrap();
        assert_eq!((log.lines, log.skipped, log.events.len()), (2, 1, 1));
    }
}
