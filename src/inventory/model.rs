//! The validated inventory: every reference resolved, every value checked.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use super::raw::Attributes;
use crate::names::Mac;
use crate::selector::Selector;

/// Where something was defined, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug)]
pub struct Inventory {
    /// The inventory directory (key paths are relative to it).
    pub dir: PathBuf,
    pub site: Site,
    pub networks: BTreeMap<String, Network>,
    pub images: BTreeMap<String, Image>,
    pub bootactions: BTreeMap<String, BootAction>,
    pub appliances: BTreeMap<String, Appliance>,
    pub attributes: Attributes,
    pub files: Vec<FileRule>,
    pub hosts: Vec<Host>,
}

#[derive(Debug, Serialize)]
pub struct Site {
    pub name: String,
    pub domain: String,
    pub frontend: Ipv4Addr,
    /// The boot server's IPv6 address (`tftp://[...]/` boot file URLs for DHCPv6 clients).
    pub frontend6: Option<Ipv6Addr>,
    /// Base URL of `out/http/`, without a trailing `/`.
    pub http: String,
    /// `http` as IPv6 clients reach it: `http` itself, unless its host is an IPv4 address; then
    /// the same URL with `[frontend6]` as host. Set when `frontend6` is.
    pub http6: Option<String>,
    /// Deployed location of the tree on the boot server.
    pub root: String,
    /// Where nginx logs requests to the events endpoint (an absolute path on the boot server).
    pub events_log: String,
    /// With an `https` site: nginx's `ssl_certificate` and `ssl_certificate_key`.
    pub tls_certificate: Option<String>,
    pub tls_certificate_key: Option<String>,
    #[serde(skip)]
    pub mirror: Option<String>,
    /// `site.bootloaders`: overrides of the default bootloaders (`None` drops one).
    #[serde(skip)]
    pub bootloaders: BTreeMap<String, Option<BootloaderSource>>,
    #[serde(skip)]
    pub origin: Origin,
}

/// Where a bootloader in the TFTP root is copied from (relative paths: from the inventory dir).
#[derive(Debug)]
pub struct BootloaderSource {
    pub path: PathBuf,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DhcpMode {
    Static,
    Proxy,
}

/// The chain a machine is handed by DHCP, chosen per network and overridable per host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loader {
    /// BIOS: undionly.kpxe; UEFI PXE: snponly.efi; UEFI HTTP Boot: snponly.efi by URL. Then the
    /// iPXE script, kernel and initrd over HTTP.
    Ipxe,
    /// BIOS: pxelinux.0; UEFI PXE: GRUB. Everything over TFTP (firmware that cannot run iPXE).
    Tftp,
    /// BIOS: as `ipxe`; UEFI PXE: shim -> Debian's signed GRUB, kernel and initrd over TFTP.
    Secureboot,
}

impl Loader {
    pub const ALL: [Loader; 3] = [Loader::Ipxe, Loader::Tftp, Loader::Secureboot];

    pub fn name(self) -> &'static str {
        match self {
            Loader::Ipxe => "ipxe",
            Loader::Tftp => "tftp",
            Loader::Secureboot => "secureboot",
        }
    }

    pub fn parse(s: &str) -> Option<Loader> {
        Loader::ALL.into_iter().find(|l| l.name() == s)
    }
}

/// A machine's CPU architecture, as Debian and Flatcar name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn parse(s: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == s)
    }
}

impl Loader {
    /// Whether this chain has a loader for `arch` (Debian ships iPXE for x86 only).
    pub fn supports(self, arch: Arch) -> bool {
        !(self == Loader::Ipxe && arch == Arch::Arm64)
    }
}

#[derive(Debug, Serialize)]
pub struct Network {
    pub name: String,
    pub address: Ipv4Net,
    pub network: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub prefix: u8,
    /// The IPv6 prefix: DHCPv6 reservations (static) and router advertisements.
    pub ipv6: Option<Ipv6Net>,
    pub gateway: Option<Ipv4Addr>,
    pub zone: String,
    pub mtu: u32,
    pub pxe: bool,
    pub dhcp: DhcpMode,
    pub loader: Loader,
    /// Where `loader` was chosen (the network's key line when it is the default).
    #[serde(skip)]
    pub loader_origin: Origin,
    pub dns: Vec<Ipv4Addr>,
    pub ntp: Vec<Ipv4Addr>,
    /// Addresses dnsmasq leases to unknown machines (a static network's discovery range).
    pub discovery: Option<Discovery>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Discovery {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl Discovery {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&ip)
    }
}

#[derive(Debug)]
pub struct Image {
    pub name: String,
    /// The URL with `{version}` substituted, ending in `/`.
    pub url: String,
    pub version: String,
    pub key: PathBuf,
    pub files: BTreeMap<String, String>,
    pub mirror: Option<String>,
    pub insecure_sha1_key_before: Option<String>,
    pub arch: Arch,
    /// The Ignition release the image ships, e.g. "2.24.0".
    pub ignition: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Action {
    Kernel {
        kernel: String,
        ramdisk: Option<String>,
        image: String,
        #[serde(skip)]
        args: String,
        /// A path template under `http/`: the host's Ignition config, passed as `ignition.config.url`.
        #[serde(skip)]
        ignition: Option<String>,
    },
    LocalBoot {
        localboot: u32,
    },
}

#[derive(Debug)]
pub struct BootAction {
    pub name: String,
    pub action: Action,
    pub origin: Origin,
}

#[derive(Debug)]
pub struct Appliance {
    pub name: String,
    pub installaction: Option<String>,
    pub runaction: Option<String>,
    pub attributes: Attributes,
}

#[derive(Debug)]
pub struct FileRule {
    pub path: String,
    pub template: String,
    pub selector: Selector,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Boot {
    Install,
    Os,
}

#[derive(Debug, Serialize)]
pub struct Host {
    pub name: String,
    pub appliance: String,
    pub rack: Option<u32>,
    pub rank: Option<u32>,
    pub cpus: Option<u32>,
    pub boot: Boot,
    pub installaction: Option<String>,
    pub runaction: Option<String>,
    /// The bootaction in force: `installaction` when `boot: install`, else `runaction`.
    pub action: Option<String>,
    /// `loader:` of the host, overriding its networks' (with the line it was set on).
    pub loader: Option<Loader>,
    #[serde(skip)]
    pub loader_origin: Option<Origin>,
    pub arch: Arch,
    /// Where `arch` was set (the host's line when it is the default).
    #[serde(skip)]
    pub arch_origin: Origin,
    pub groups: Vec<String>,
    pub comment: Option<String>,
    pub interfaces: Vec<Interface>,
    /// Global, then appliance, then host attributes (host wins); shared between hosts that add none.
    /// Templates see it as `host.attributes`, converted once per shared map (`render::host_value`).
    #[serde(skip)]
    pub attributes: Arc<Attributes>,
    #[serde(skip)]
    pub origin: Origin,
}

#[derive(Debug, Serialize)]
pub struct Interface {
    pub network: Option<String>,
    /// Device name (`eth0`, `bond0`, `eth0.70`).
    pub name: Option<String>,
    #[serde(serialize_with = "display")]
    pub mac: Option<Mac>,
    pub ip: Option<Ipv4Addr>,
    /// The interface's IPv6 address (the first of its block).
    pub ipv6: Option<Ipv6Addr>,
    /// 128 for one address; less for a block that dnsmasq hands to successive boot stages.
    pub ipv6_prefix: u8,
    /// The host's default interface: marked `default: true`, or the first when none is marked.
    pub default: bool,
    #[serde(rename = "type")]
    pub kind: InterfaceKind,
    pub channel: Option<String>,
    pub vlan: Option<u16>,
    pub options: Option<String>,
    /// The DNS name of this interface's address.
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterfaceKind {
    Ethernet,
    Bond,
    Bridge,
}

impl InterfaceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceKind::Ethernet => "ethernet",
            InterfaceKind::Bond => "bond",
            InterfaceKind::Bridge => "bridge",
        }
    }
}

fn display<S: serde::Serializer>(mac: &Option<Mac>, s: S) -> Result<S::Ok, S::Error> {
    match mac {
        Some(m) => s.collect_str(m),
        None => s.serialize_none(),
    }
}

impl Host {
    /// Interfaces that PXE-boot: on a `pxe: true` network, with both a MAC and an IP.
    pub fn pxe_interfaces<'a>(
        &'a self,
        networks: &'a BTreeMap<String, Network>,
    ) -> impl Iterator<Item = (&'a Interface, Mac, Ipv4Addr)> + 'a {
        self.interfaces.iter().filter_map(move |i| {
            let pxe = i.network.as_ref().and_then(|n| networks.get(n)).is_some_and(|n| n.pxe);
            match (pxe, i.mac, i.ip) {
                (true, Some(mac), Some(ip)) => Some((i, mac, ip)),
                _ => None,
            }
        })
    }
}
