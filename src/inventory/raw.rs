//! The inventory as written: a serde mirror of the YAML. Unknown keys are errors, so a typo
//! is never silently ignored. Addresses stay strings here so errors can quote them.

use std::collections::BTreeMap;

use serde::Deserialize;

pub type Attributes = serde_json::Map<String, serde_json::Value>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: String,
    pub domain: String,
    pub frontend: String,
    /// The boot server's IPv6 address (TFTP URLs for DHCPv6 clients); needed by `ipv6` networks.
    pub frontend6: Option<String>,
    pub http: String,
    /// Where the tree is deployed on the boot server (TFTP root is `<root>/tftp`).
    pub root: Option<String>,
    /// Default mirror for images (directory or URL), see `pxebake build --mirror`.
    pub mirror: Option<String>,
    /// Where nginx on the boot server logs requests to the events endpoint.
    pub events_log: Option<String>,
    /// With an `https` site: the certificate and key nginx serves it with (paths on the boot server).
    pub tls_certificate: Option<String>,
    pub tls_certificate_key: Option<String>,
    /// Bootloader binaries for the TFTP root: file name -> source path (`null` drops a default).
    #[serde(default)]
    pub bootloaders: BTreeMap<String, Option<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub address: String,
    /// The network's IPv6 prefix (e.g. 2001:db8:99::/64): DHCPv6 reservations and router adverts.
    pub ipv6: Option<String>,
    pub gateway: Option<String>,
    pub zone: Option<String>,
    pub mtu: Option<u32>,
    #[serde(default)]
    pub pxe: bool,
    /// `static` (pxebake's dnsmasq hands out addresses) or `proxy` (another DHCP server does).
    pub dhcp: Option<String>,
    /// The boot chain the network's hosts get: `ipxe` (default), `tftp` or `secureboot`.
    pub loader: Option<String>,
    /// DNS servers (DHCP option 6) and NTP servers (option 42) handed out with the address.
    pub dns: Option<Vec<String>>,
    pub ntp: Option<Vec<String>>,
    /// `FIRST-LAST`: addresses for machines the inventory does not know, so they can boot the
    /// default path and announce themselves (`pxebake events`, `discover`).
    pub discovery: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub url: String,
    pub version: String,
    pub key: String,
    pub files: BTreeMap<String, String>,
    pub mirror: Option<String>,
    /// Accept a key whose self-signatures use SHA-1 by judging it at this date (archived CoreOS).
    pub insecure_sha1_key_before: Option<String>,
    /// `amd64` (default) or `arm64`: the machines its kernel runs on.
    pub arch: Option<String>,
    /// The Ignition release the image ships (e.g. "2.24.0"): configs it cannot read are refused.
    pub ignition: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootAction {
    pub kernel: Option<String>,
    pub ramdisk: Option<String>,
    pub image: Option<String>,
    pub args: Option<String>,
    /// The host's Ignition config, a path template under `http/` (e.g. `ignition/{{ host.name }}.ign`).
    pub ignition: Option<String>,
    pub localboot: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Appliance {
    pub installaction: Option<String>,
    pub runaction: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRule {
    pub path: String,
    pub template: String,
    pub hosts: String,
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub name: String,
    pub appliance: String,
    pub rack: Option<u32>,
    pub rank: Option<u32>,
    pub cpus: Option<u32>,
    pub boot: Option<String>,
    pub installaction: Option<String>,
    pub runaction: Option<String>,
    /// Overrides the boot chain of the host's networks (`ipxe`, `tftp`, `secureboot`).
    pub loader: Option<String>,
    /// `amd64` (default) or `arm64`.
    pub arch: Option<String>,
    /// Group names, for selectors (`group:NAME`); Stacki's GROUPS column.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Free text (Stacki's COMMENT column).
    pub comment: Option<String>,
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub attributes: Attributes,
}

#[derive(Deserialize, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// The network the interface's IP is on; none for bond members and spare NICs.
    pub network: Option<String>,
    /// Device name, e.g. `eth0`, `bond0`, `eth0.70` (what `channel` and bond options name).
    pub name: Option<String>,
    pub mac: Option<String>,
    pub ip: Option<String>,
    /// The interface's IPv6 address, inside its network's `ipv6` prefix (a DHCPv6 reservation), or
    /// a block like `2001:db8::40/126` when each boot stage takes a lease of its own.
    pub ipv6: Option<String>,
    /// The host's default interface (its default route); exactly one when a host has several.
    #[serde(default)]
    pub default: bool,
    /// `ethernet` (the default), `bond` or `bridge`; `bondN` names and `options: bridge` imply it.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The bond or bridge (by device name) this interface is a member of.
    pub channel: Option<String>,
    /// VLAN id (1..4094): the interface is a VLAN device on its parent (`eth0.70` -> `eth0`).
    pub vlan: Option<i64>,
    /// Bonding options (`mode=1 miimon=100`, or Stacki's `bonding-opts="..."`), or `bridge`.
    pub options: Option<String>,
    /// The DNS name of this interface's address (Stacki's INTERFACE HOSTNAME).
    pub hostname: Option<String>,
}

/// A host's machine-edited boot state (the `boot:` section, e.g. inventory/boot.yaml):
/// `host: install` or `host: { boot: os, installaction: flatcar-install }`.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(untagged)]
pub enum BootState {
    Boot(String),
    Full { boot: Option<String>, installaction: Option<String>, runaction: Option<String> },
}

impl BootState {
    pub fn boot(&self) -> Option<&str> {
        match self {
            BootState::Boot(b) => Some(b),
            BootState::Full { boot, .. } => boot.as_deref(),
        }
    }
}
