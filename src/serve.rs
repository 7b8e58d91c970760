//! What stock dnsmasq and nginx need besides the rendered configs: the bootloader binaries that
//! firmware fetches from the TFTP root, and the parts of `site.http` that the nginx `server`
//! block and the URLs in boot scripts are built from.
//!
//! Bootloaders come from Debian's packages by default; `site.bootloaders` overrides, adds or
//! (with `null`) drops them. Which files are needed is decided here; `images::loaders` finds,
//! pins and places them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::diag::Diagnostics;
use crate::inventory::{Arch, Inventory, Loader, Origin};
use crate::names;

/// Bootloaders pxebake knows: name in the TFTP root, Debian path, package. Each is copied into
/// `tftp/` when a loader choice in use hands it out (see [`loader_files`]).
pub const DEFAULT_BOOTLOADERS: &[(&str, &str, &str)] = &[
    // PXELINUX (BIOS), which loads ldlinux.c32 next to it.
    ("pxelinux.0", "/usr/lib/PXELINUX/pxelinux.0", "pxelinux"),
    ("ldlinux.c32", "/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"),
    // x86-64 UEFI: Debian's signed netboot GRUB (shim loads it as grubx64.efi) and shim.
    ("grubx64.efi", "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "grub-efi-amd64-signed"),
    ("shimx64.efi", "/usr/lib/shim/shimx64.efi.signed", "shim-signed"),
    // iPXE: undionly.kpxe runs on the BIOS PXE stack, snponly.efi on the UEFI network driver.
    ("undionly.kpxe", "/usr/lib/ipxe/undionly.kpxe", "ipxe"),
    ("snponly.efi", "/usr/lib/ipxe/snponly.efi", "ipxe"),
    // iPXE with its own drivers, for a `site.bootloaders` entry and a template that names it.
    ("ipxe.efi", "/usr/lib/ipxe/ipxe.efi", "ipxe"),
    // arm64 UEFI: the same pair, built for arm64 (on other machines: see `ARM64_HINT`).
    ("grubaa64.efi", "/usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed", "grub-efi-arm64-signed"),
    ("shimaa64.efi", "/usr/lib/shim/shimaa64.efi.signed", "shim-signed"),
];

/// Debian's arm64 packages install only on arm64; elsewhere they can still be unpacked.
const ARM64_HINT: &str =
    "elsewhere `dpkg --add-architecture arm64 && apt-get update && apt-get download PKG:arm64` and `dpkg-deb -x` it";

/// The files a loader choice hands out from the TFTP root: for BIOS and x86-64 UEFI (amd64), for
/// arm64 UEFI (arm64; no iPXE, see [`Loader::supports`]).
pub fn loader_files(l: Loader, arch: Arch) -> &'static [&'static str] {
    match (arch, l) {
        (Arch::Amd64, Loader::Ipxe) => &["undionly.kpxe", "snponly.efi"],
        (Arch::Amd64, Loader::Tftp) => &["pxelinux.0", "ldlinux.c32", "grubx64.efi"],
        (Arch::Amd64, Loader::Secureboot) => &["undionly.kpxe", "shimx64.efi", "grubx64.efi"],
        (Arch::Arm64, Loader::Ipxe) => &[],
        (Arch::Arm64, Loader::Tftp) => &["grubaa64.efi"],
        (Arch::Arm64, Loader::Secureboot) => &["shimaa64.efi", "grubaa64.efi"],
    }
}

/// Loaders UEFI HTTP Boot fetches by URL: also served from `http/loaders/`.
pub const HTTP_BOOT_FILES: &[(Loader, &str)] = &[(Loader::Ipxe, "snponly.efi")];

/// Who chose a loader: "network `x`" or "host `y`", for which architecture, and where.
struct Chooser {
    what: String,
    loader: Loader,
    arch: Arch,
    origin: Origin,
}

/// Every loader choice in force: each PXE network's (for amd64, and for arm64 when an arm64 host
/// uses it), and each host override on a PXE network.
fn choosers(inv: &Inventory) -> Vec<Chooser> {
    let mut hosts: Vec<Chooser> = Vec::new();
    let mut arm64_nets = std::collections::BTreeSet::new();
    for h in &inv.hosts {
        for (i, _, _) in h.pxe_interfaces(&inv.networks) {
            match (h.loader, &h.loader_origin) {
                (Some(loader), Some(origin)) => {
                    let what = format!("host `{}`", h.name);
                    hosts.push(Chooser { what, loader, arch: h.arch, origin: origin.clone() });
                    break;
                }
                _ if h.arch == Arch::Arm64 => {
                    if let Some(n) = i.network.as_deref() {
                        arm64_nets.insert(n);
                    }
                }
                _ => {}
            }
        }
    }
    let nets = inv.networks.values().filter(|n| n.pxe).flat_map(|n| {
        let arm64 = arm64_nets.contains(n.name.as_str()).then_some(Arch::Arm64);
        std::iter::once(Arch::Amd64).chain(arm64).map(move |arch| Chooser {
            what: format!("network `{}`", n.name),
            loader: n.loader,
            arch,
            origin: n.loader_origin.clone(),
        })
    });
    nets.chain(hosts).collect()
}

/// One bootloader the site needs: what `images::loaders` looks for and where it goes.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// Its name in `tftp/`.
    pub name: String,
    /// A Debian default's path (looked up under the loader root), or a `site.bootloaders` path
    /// joined to the inventory directory.
    pub path: PathBuf,
    /// The path as the lock records it: the Debian path, or the `site.bootloaders` value.
    pub source: String,
    /// Whether `path` is a Debian default.
    pub default: bool,
    /// The Debian package that ships the default file of this name.
    pub package: Option<&'static str>,
    /// Where to report a problem, and why the file is needed (" (for loader `x` of network `y`)").
    pub origin: Origin,
    pub why: String,
    /// Also served from `http/loaders/` (UEFI HTTP Boot).
    pub http: bool,
}

impl Wanted {
    /// How to get the file when nothing has it.
    pub fn install_hint(&self) -> String {
        match self.package {
            Some(p) if self.name.ends_with("aa64.efi") => {
                format!("install the Debian package `{p}` ({}), ", ARM64_HINT.replace("PKG", p))
            }
            Some(p) => format!("install the Debian package `{p}` (apt-get install {p}), "),
            _ => String::new(),
        }
    }
}

/// The bootloaders the site's loader choices hand out under `tftp/` (and `http/loaders/` for
/// UEFI HTTP Boot), plus every `site.bootloaders` entry. A dropped file that a choice needs is
/// reported at the line that needs it; reading and pinning the files is `images::loaders`' job.
pub fn bootloaders(inv: &Inventory, d: &mut Diagnostics) -> Vec<Wanted> {
    let site = &inv.site;
    // File -> the first choice that needs it (networks come first, in name order).
    let mut needed: BTreeMap<&str, &Chooser> = BTreeMap::new();
    let choosers = choosers(inv);
    for c in &choosers {
        for f in loader_files(c.loader, c.arch) {
            needed.entry(f).or_insert(c);
        }
    }
    let package = |name: &str| DEFAULT_BOOTLOADERS.iter().find(|(n, _, _)| *n == name).map(|(_, _, p)| *p);
    let http = |name: &str| {
        HTTP_BOOT_FILES.iter().any(|(loader, file)| *file == name && choosers.iter().any(|c| c.loader == *loader))
    };
    let mut out: BTreeMap<&str, Wanted> = BTreeMap::new();
    for (name, source) in &site.bootloaders {
        match source {
            Some(s) => {
                let w = Wanted {
                    name: name.clone(),
                    path: inv.dir.join(&s.path),
                    source: s.path.display().to_string(),
                    default: false,
                    package: package(name),
                    origin: s.origin.clone(),
                    why: String::new(),
                    http: http(name),
                };
                out.insert(name, w);
            }
            None => {
                if let Some(c) = needed.get(name.as_str()) {
                    d.error(
                        &c.origin.file,
                        Some(c.origin.line),
                        format!(
                            "{}: loader `{}` hands out `{name}`, but `site.bootloaders` drops it with `null`; remove that `null`, or choose another `loader` ({})",
                            c.what,
                            c.loader.name(),
                            loader_choices()
                        ),
                    );
                }
            }
        }
    }
    for (name, c) in &needed {
        if out.contains_key(name) || site.bootloaders.contains_key(*name) {
            continue;
        }
        if let Some((_, path, pkg)) = DEFAULT_BOOTLOADERS.iter().find(|(n, _, _)| n == name) {
            let w = Wanted {
                name: name.to_string(),
                path: PathBuf::from(path),
                source: path.to_string(),
                default: true,
                package: Some(pkg),
                origin: c.origin.clone(),
                why: format!(" (for loader `{}` of {})", c.loader.name(), c.what),
                http: http(name),
            };
            out.insert(name, w);
        }
    }
    out.into_values().collect()
}

fn loader_choices() -> String {
    Loader::ALL.iter().map(|l| format!("`{}`", l.name())).collect::<Vec<_>>().join(", ")
}

/// `site.http` taken apart, for the nginx `server` block (`listen`, `location`) and URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpBase {
    /// `http` or `https`.
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// The URL path without a trailing `/`: `/install`, or empty when the tree is served at `/`.
    pub path: String,
}

impl HttpBase {
    /// Parses a base URL that must also be safe on nginx, iPXE and GRUB lines: a plain host
    /// (name, IPv4, or IPv6 in brackets), an optional port, and a path of plain segments (no `%`, `?`, `#`, `$`).
    pub fn parse(url: &str) -> Result<HttpBase, String> {
        let shown = names::printable(url);
        let (scheme, rest) = if let Some(r) = url.strip_prefix("http://") {
            ("http", r)
        } else if let Some(r) = url.strip_prefix("https://") {
            ("https", r)
        } else {
            return Err(format!("`{shown}` must start with http:// or https://"));
        };
        let rest = rest.trim_end_matches('/');
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        // An IPv6 address is bracketed (`http://[2001:db8::1]:8080/`); the host keeps its brackets.
        let (host, port_part) = match authority.strip_prefix('[') {
            Some(r) => match r.split_once(']') {
                Some((a, tail)) if a.parse::<std::net::Ipv6Addr>().is_ok() => (&authority[..a.len() + 2], tail),
                _ => {
                    return Err(format!(
                        "`{shown}`: `{}` is not a bracketed IPv6 address like [2001:db8::1]",
                        names::printable(authority)
                    ))
                }
            },
            None => match authority.rsplit_once(':') {
                Some((h, _)) => (h, &authority[h.len()..]),
                None => (authority, ""),
            },
        };
        let port = match port_part.strip_prefix(':') {
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(format!("`{shown}`: port `{}` is not a number from 1 to 65535", names::printable(p))),
            },
            None if port_part.is_empty() => {
                if scheme == "https" {
                    443
                } else {
                    80
                }
            }
            None => return Err(format!("`{shown}`: `{}` after the host is not a port", names::printable(port_part))),
        };
        let host_ok = host.starts_with('[')
            || (!host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
        if !host_ok {
            return Err(format!(
                "`{shown}`: host `{}` must be a DNS name, an IPv4 address or a bracketed IPv6 address like [2001:db8::1]",
                names::printable(host)
            ));
        }
        let seg_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+".contains(&b))
        };
        if !path.is_empty() && !path[1..].split('/').all(seg_ok) {
            return Err(format!(
                "`{shown}`: path `{}` must be plain segments of letters, digits, `-`, `.`, `_`, `~`, `+` (no `%`, `?`, `#`, `$`, `//`, `..`), since it becomes an nginx location and part of iPXE and GRUB lines",
                names::printable(path)
            ));
        }
        Ok(HttpBase { scheme: scheme.to_string(), host: host.to_string(), port, path: path.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_base_splits_host_port_and_path() {
        let b = HttpBase::parse("http://10.2.1.1/install").unwrap();
        assert_eq!((b.host.as_str(), b.port, b.path.as_str()), ("10.2.1.1", 80, "/install"));
        let b = HttpBase::parse("https://boot.example:8443/a/b/").unwrap();
        assert_eq!((b.scheme.as_str(), b.port, b.path.as_str()), ("https", 8443, "/a/b"));
        assert_eq!(HttpBase::parse("http://10.0.0.1").unwrap().path, "");
        let b = HttpBase::parse("http://[2001:db8::1]:8080/boot").unwrap();
        assert_eq!((b.host.as_str(), b.port, b.path.as_str()), ("[2001:db8::1]", 8080, "/boot"));
        assert_eq!(HttpBase::parse("http://[fd99::1]").unwrap().port, 80);
    }

    #[test]
    fn http_base_rejects_what_breaks_nginx_or_ipxe_lines() {
        for bad in [
            "ftp://x/",
            "http://x/a%20b",
            "http://x/a?b",
            "http://x/a#b",
            "http://x/${mac}",
            "http://x//a",
            "http://x/../a",
            "http://x:0/",
            "http://x:99999/",
            "http://[::1/",
            "http://[10.0.0.1]/",
            "http://[::1]x/",
            "http://[fe80::1%eth0]/",
            "http:///a",
        ] {
            assert!(HttpBase::parse(bad).is_err(), "{bad}");
        }
    }
}
