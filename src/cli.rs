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
    /// `pxebake set boot --installed-from events.log os` flips to `os` the hosts whose install
    /// completed (as their bootstraps reported to the events endpoint).
    Set {
        #[arg(value_enum)]
        field: crate::state::Field,
        /// Host selector: a host, an appliance, `rack:N`, or a pattern like `backend-0-[1-3]`
        /// (with --installed-from: only the value).
        selector: String,
        /// `install` or `os` for boot; a bootaction name for installaction/runaction.
        value: Option<String>,
        /// The hosts are those whose install completed after it last started, per these events
        /// logs (plain or gzipped); only with `boot ... os`.
        #[arg(long, value_name = "LOG", num_args = 1..)]
        installed_from: Vec<PathBuf>,
        /// Inventory directory.
        #[arg(long, default_value = "inventory")]
        inventory: PathBuf,
    },
    /// What machines reported to the events endpoint: unknown machines (MAC, serial, vendor,
    /// product, arch, first and last seen, network), completed installs, install loops.
    ///
    /// Reads nginx's events log (site.events_log on the boot server; rotated and gzipped
    /// files too). Lines that do not parse are counted and skipped.
    Events {
        /// Events logs, oldest first.
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// Inventory directory (which MACs and hosts are known).
        #[arg(long, default_value = "inventory")]
        inventory: PathBuf,
    },
    /// Add the unknown machines of the events logs to inventory/discovered.yaml, in the order
    /// they were first seen, named APPLIANCE-RACK-RANK with the next free IPs (like Stacki's
    /// insert-ethers).
    Discover {
        /// Events logs, oldest first.
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// Appliance of the new hosts.
        #[arg(long)]
        appliance: String,
        /// Network their PXE interface is on (addresses are taken from its top down).
        #[arg(long)]
        network: String,
        /// Rack of the new hosts.
        #[arg(long, default_value_t = 0)]
        rack: u32,
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
    /// Translate a Butane config (variant `flatcar`) to Ignition JSON, like the `butane` tool.
    ///
    /// Prints the Ignition config on standard output and warnings on standard error. Invalid
    /// input exits 2 with every problem and its line. Versions: flatcar 1.0.0 (Ignition 3.3.0)
    /// and 1.1.0 (Ignition 3.4.0). See docs/butane.md.
    Butane(ButaneArgs),
    /// Download OS images into the cache, verify their OpenPGP signatures, find the bootloaders,
    /// and pin both in images.lock.
    Fetch(FetchArgs),
    /// Copy the built tree to DEST as a new release and switch to it in one step (or roll back).
    Deploy(DeployArgs),
    /// The bootloaders the site hands out: where this builder would take each from (bundle,
    /// Debian package, cache) and what images.lock pins.
    ///
    /// Takes the flags of `build`. With `--missing`, prints only the Debian packages whose
    /// files this builder lacks, on one line (what `make build` installs when run as root).
    Loaders(LoadersArgs),
}

#[derive(Args, Debug)]
pub struct LoadersArgs {
    #[command(flatten)]
    pub build: BuildArgs,

    /// Print only the missing Debian packages (nothing when none is missing).
    #[arg(long)]
    pub missing: bool,
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// Where the tree is served from (the `site.root` the configs name): a local path or
    /// `[user@]host:/path` (over ssh). It becomes a symlink to `DEST.releases/<release>`.
    pub dest: String,

    /// The built tree to deploy.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,

    /// How many releases to keep on the server (the current one always stays).
    #[arg(long, default_value_t = 5)]
    pub keep: usize,

    /// Switch back to the release before the current one (nothing is copied).
    #[arg(long)]
    pub rollback: bool,

    /// Run this command where DEST is when the DHCP reservations changed (by the deploy, or by a
    /// rollback), e.g. `systemctl reload dnsmasq` (dnsmasq forgets changed or removed ones only
    /// on SIGHUP).
    #[arg(long, value_name = "CMD")]
    pub reload: Option<String>,

    /// The ssh command for a remote DEST, with its options, split at spaces (rsync gets it as
    /// `-e`), e.g. `ssh -p 2222 -i ~/.ssh/deploy`. Default: `ssh` (and ~/.ssh/config).
    #[arg(long, value_name = "CMD")]
    pub ssh: Option<String>,
}

/// Where OS images come from.
#[derive(Args, Debug, Clone, Default)]
pub struct ImageSource {
    /// Take images from this directory or URL (a `fetch --bundle` copy) instead of upstream; a
    /// bundle directory also supplies the bootloaders.
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

    /// Also write images, signatures, keys, the bootloaders and the lock into DIR, to carry into an
    /// air-gapped site or to a builder without Debian's bootloader packages (`build --mirror DIR`).
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,

    /// Accept files whose digest or signer differs from images.lock (image files must still
    /// verify with the pinned key; bootloaders are taken as found) and rewrite their entries.
    #[arg(long)]
    pub update_lock: bool,

    /// Leave the OS images out (e.g. `--bundle DIR --no-images`: a bundle of bootloaders only).
    #[arg(long)]
    pub no_images: bool,

    /// Leave the bootloaders out: neither pinned nor bundled.
    #[arg(long)]
    pub no_bootloaders: bool,

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

    /// Do not copy bootloader binaries (undionly.kpxe, snponly.efi, pxelinux.0, grubx64.efi, ...) into tftp/
    /// (for machines without the Debian packages or a bundle; the tree then cannot boot firmware).
    #[arg(long)]
    pub no_bootloaders: bool,

    /// Fail on warnings too (things the machine still applies but should not be written so,
    /// e.g. deprecated services), for CI.
    #[arg(long)]
    pub deny_warnings: bool,

    /// Leave the OS images out of the plan (the kernel/initrd links then dangle). Give it to
    /// `diff` and `check` too when the tree was built with it.
    #[arg(long)]
    pub no_images: bool,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    pub site: SiteArgs,

    /// Output directory: empty or a pxebake tree. It ends up holding exactly the planned tree.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,

    /// Plan, render and check the whole site even when no input changed since the last build
    /// (by default such a build only confirms that `out` is as that build left it).
    #[arg(long)]
    pub full: bool,

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

#[derive(Args, Debug)]
pub struct ButaneArgs {
    /// The Butane YAML file (`-` for standard input). It is not a Tera template here.
    pub file: PathBuf,

    /// Directory that `local`, `contents_local`, `ssh_authorized_keys_local` and `trees` are
    /// relative to; nothing outside it is read. Builds use the inventory's `files/`.
    #[arg(short = 'd', long, value_name = "DIR")]
    pub files_dir: Option<PathBuf>,

    /// Treat warnings (e.g. a mode written without its leading 0) as errors.
    #[arg(short = 's', long)]
    pub strict: bool,
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
    /// Ignition JSON configs, checked against the spec each declares in `ignition.version`.
    ///
    /// Specs known: 3.0.0, 3.1.0, 3.2.0, 3.3.0, 3.4.0, 3.5.0, 3.6.0 and 2.0.0, 2.1.0, 2.2.0,
    /// 2.3.0, 2.4.0 (2.x: Flatcar translates them to 3.x at boot). Experimental specs
    /// (e.g. 3.7.0-experimental) are refused. See docs/ignition.md for the rules.
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
