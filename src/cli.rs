//! The command line. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Bake complete network-boot trees (PXELINUX, GRUB, iPXE, cloud-configs, dnsmasq and nginx
/// configs, verified OS images) from an inventory.
///
/// Exit codes: 0 success, 1 failure (I/O, network, verification), 2 invalid input or usage.
#[derive(Parser, Debug)]
#[command(name = "pxebake", version, propagate_version = true)]
pub struct Cli {
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Output format of reports (`json` for scripts and CI annotations).
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Render the inventory into a complete tree and swap it into place atomically.
    Build(BuildArgs),
    /// Load, validate, render and lint everything in memory; write nothing.
    Check(SiteArgs),
    /// Show what `build` would change in the output directory.
    Diff(DiffArgs),
    /// List hosts, interfaces, networks, bootactions or appliances (like `stack list`).
    ///
    /// `pxebake list host interface [SELECTOR]` is `list interface`, as in Stacki.
    List {
        #[arg(value_enum)]
        what: crate::list::What,
        /// Only these: a host selector (for hosts and interfaces) or a name.
        selector: Option<String>,
        /// The selector after `list host interface`.
        #[arg(hide = true)]
        interface_selector: Option<String>,
        /// Inventory directory.
        #[arg(long, default_value = "inventory")]
        inventory: PathBuf,
    },
    /// Set a host's boot state (`install`/`os`) or its install/run action, in inventory/boot.yaml.
    ///
    /// Example: `pxebake set boot backend-0-[1-3] os`, then `make build` (and deploy).
    Set {
        #[arg(value_enum)]
        field: crate::state::Field,
        /// Host selector: a host, an appliance, `rack:N`, or a pattern like `backend-0-[1-3]`.
        selector: String,
        /// `install` or `os` for boot; a bootaction name for installaction/runaction.
        value: String,
        /// Inventory directory.
        #[arg(long, default_value = "inventory")]
        inventory: PathBuf,
    },
    /// Import a Stacki hostfile (CSV) as inventory YAML.
    Import {
        #[command(subcommand)]
        kind: ImportKind,
    },
    /// Validate hand-written cloud-configs or Ignition configs.
    Validate {
        #[command(subcommand)]
        kind: ValidateKind,
    },
    /// Download OS images into the cache, verify their OpenPGP signatures, update images.lock.
    Fetch(FetchArgs),
}

/// Where OS images come from.
#[derive(Args, Debug, Clone, Default)]
pub struct ImageSource {
    /// Take images from this directory or URL (a `fetch --bundle` copy) instead of upstream.
    #[arg(long, value_name = "DIR_OR_URL")]
    pub mirror: Option<String>,

    /// Never touch the network: use only the cache (and a directory --mirror).
    #[arg(long)]
    pub offline: bool,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Inventory directory.
    #[arg(long, default_value = "inventory")]
    pub inventory: PathBuf,

    /// Fetch only this image.
    #[arg(long)]
    pub image: Option<String>,

    /// Also write images, signatures, keys and the lock into DIR, to carry into an air-gapped site.
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,

    /// Accept files whose digest or signer differs from images.lock (they must still verify
    /// with the pinned key) and rewrite their entries.
    #[arg(long)]
    pub update_lock: bool,

    #[command(flatten)]
    pub source: ImageSource,
}

/// Where the site comes from.
#[derive(Args, Debug, Clone)]
pub struct SiteArgs {
    /// Inventory directory: every `*.yaml` in it is read as one site.
    #[arg(long, default_value = "inventory")]
    pub inventory: PathBuf,

    /// Templates directory: a file here overrides the built-in template of the same name.
    #[arg(long, default_value = "templates")]
    pub templates: PathBuf,

    /// Number of rendering threads (default: one per core).
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,

    /// Do not copy bootloader binaries (pxelinux.0, grubx64.efi, ipxe.efi, ...) into tftp/
    /// (for machines without the Debian packages; the tree then cannot boot firmware).
    #[arg(long)]
    pub no_bootloaders: bool,

    /// Fail on warnings too (things the machine still applies but should not be written so,
    /// e.g. deprecated services), for CI.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    pub site: SiteArgs,

    /// Output directory: empty or a pxebake tree. It ends up holding exactly the planned tree.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,

    /// Render everything but the OS images (the kernel/initrd links then dangle).
    #[arg(long)]
    pub no_images: bool,

    #[command(flatten)]
    pub images: ImageSource,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    pub site: SiteArgs,

    /// Output directory to compare with.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,

    /// Exit with status 1 when anything would change (for CI gates).
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(Subcommand, Debug)]
pub enum ValidateKind {
    /// coreos-cloudinit cloud-config files (first line `#cloud-config`).
    CloudConfig {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Fail on warnings too (for CI).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Ignition JSON configs (spec 3.x or 2.x).
    Ignition {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Fail on warnings too (for CI).
        #[arg(long)]
        deny_warnings: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportKind {
    /// CSV with columns NAME, APPLIANCE, RACK, RANK, CPUS, IP, MAC, INTERFACE, NETWORK, BOOT,
    /// INSTALLACTION, RUNACTION; one row per interface.
    Hostfile {
        file: PathBuf,
        /// Write the YAML here (e.g. inventory/hosts-rack1.yaml) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Inventory directory whose networks, appliances and bootactions the rows must name.
        #[arg(long, default_value = "inventory")]
        inventory: PathBuf,
    },
}
