//! What stock dnsmasq and nginx need besides the rendered configs: the bootloader binaries that
//! firmware fetches from the TFTP root, and the parts of `site.http` that the nginx `server`
//! block and the URLs in boot scripts are built from.
//!
//! Bootloaders come from Debian's packages by default; `site.bootloaders` overrides, adds or
//! (with `null`) drops them. A missing file is an error that names the package to install.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::diag::Diagnostics;
use crate::inventory::Inventory;
use crate::names;
use crate::tree::Entry;

/// Bootloaders copied into `tftp/` by default: name in the TFTP root, Debian path, package.
pub const DEFAULT_BOOTLOADERS: &[(&str, &str, &str)] = &[
    // BIOS PXE ROMs get pxelinux.0, which loads ldlinux.c32 next to it.
    ("pxelinux.0", "/usr/lib/PXELINUX/pxelinux.0", "pxelinux"),
    ("ldlinux.c32", "/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"),
    // x86-64 UEFI PXE gets GRUB (Debian's signed netboot build; shim loads it as grubx64.efi).
    ("grubx64.efi", "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "grub-efi-amd64-signed"),
    ("shimx64.efi", "/usr/lib/shim/shimx64.efi.signed", "shim-signed"),
    // iPXE, for sites that chainload it from plain PXE (BIOS and UEFI).
    ("undionly.kpxe", "/usr/lib/ipxe/undionly.kpxe", "ipxe"),
    ("ipxe.efi", "/usr/lib/ipxe/ipxe.efi", "ipxe"),
    ("snponly.efi", "/usr/lib/ipxe/snponly.efi", "ipxe"),
];

/// The tree entries that place the site's bootloaders under `tftp/`. Every missing or unusable
/// source is reported, with the line of its `site.bootloaders` entry (or of `site:` for a default).
pub fn bootloaders(inv: &Inventory, d: &mut Diagnostics) -> Vec<(String, Entry)> {
    let site = &inv.site;
    let mut wanted: BTreeMap<&str, (PathBuf, usize, Option<&str>)> = DEFAULT_BOOTLOADERS
        .iter()
        .map(|(name, path, package)| (*name, (PathBuf::from(path), site.origin.line, Some(*package))))
        .collect();
    for (name, source) in &site.bootloaders {
        let package = DEFAULT_BOOTLOADERS.iter().find(|(n, _, _)| n == name).map(|(_, _, p)| *p);
        match source {
            None => {
                wanted.remove(name.as_str());
            }
            Some(s) => {
                wanted.insert(name, (inv.dir.join(&s.path), s.origin.line, package));
            }
        }
    }
    let mut out = Vec::new();
    for (name, (path, line, package)) in wanted {
        match std::fs::canonicalize(&path) {
            Ok(real) if real.is_file() => out.push((format!("tftp/{name}"), Entry::Copy(real))),
            Ok(_) => d.error(
                &site.origin.file,
                Some(line),
                format!("bootloader `{name}`: `{}` is not a regular file", path.display()),
            ),
            Err(e) => {
                let hint = match package {
                    Some(p) => format!("install the Debian package `{p}` (apt-get install {p}), "),
                    None => String::new(),
                };
                d.error(
                    &site.origin.file,
                    Some(line),
                    format!(
                        "bootloader `{name}`: cannot read `{}` ({e}); {hint}set `site.bootloaders` to the file's path, or build with --no-bootloaders",
                        path.display()
                    ),
                );
            }
        }
    }
    out
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
    /// (name or IPv4), an optional port, and a path of plain segments (no `%`, `?`, `#`, `$`).
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
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => match p.parse::<u16>() {
                Ok(p) if p > 0 => (h, p),
                _ => return Err(format!("`{shown}`: port `{}` is not a number from 1 to 65535", names::printable(p))),
            },
            None => (authority, if scheme == "https" { 443 } else { 80 }),
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !host_ok {
            return Err(format!("`{shown}`: host `{}` must be a DNS name or an IPv4 address", names::printable(host)));
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
            "http://[::1]/",
            "http:///a",
        ] {
            assert!(HttpBase::parse(bad).is_err(), "{bad}");
        }
    }
}
