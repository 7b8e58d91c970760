//! OS images: fetch, verify against pinned OpenPGP keys, cache, lock, bundle.
//!
//! Every file of every image in the inventory goes through the same steps: take the per-file
//! cache lock; if the cache has it, re-verify it (signature and SHA-512, streaming); if not,
//! fetch its signature and then the file (from upstream, a `--mirror` or a bundle) into a
//! `.partial`, verify, compare with `images.lock`, and only then rename it into the cache.
//! `place` turns verified cache files into tree entries; nothing unverified reaches a tree.
//!
//! All images, not only those a host boots right now, are placed: the `images:` section says
//! what the site serves (disk installs use files no bootaction names), and which files a build
//! needs should not change when a host's boot flag flips.

mod bundle;
mod cache;
mod fetch;
pub mod loaders;
mod lock;
mod source;
mod time;

/// The lock file's name in an inventory directory.
pub use lock::FILE_NAME as LOCK_FILE;
mod verify;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::inventory::{Image, Inventory};
use crate::report::Report;
use crate::tree::Entry;

pub use lock::{Entry as LockEntry, Lock};
use source::{Source, Want};
use verify::{Keyring, Rejection};

/// At most this many files download at once.
const PARALLEL: usize = 4;

/// Where image files come from and how the lock is treated (plain values; the CLI fills them).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Take files from this directory or URL (a `fetch --bundle` copy) instead of upstream.
    pub mirror: Option<String>,
    /// Never touch the network: only the cache and a directory mirror.
    pub offline: bool,
    /// Accept files whose digest or signer differs from images.lock (still verified).
    pub update_lock: bool,
}

/// The tree entries that place every image file: `images/<image>/<version>/<file>` (and its
/// `.sig`), hard links to where the verified file is kept in the cache, and the `http/images`
/// view. Planned from the inventory alone, so `diff` and `check` see the same tree as `build`;
/// `ensure` is what makes the cache hold verified files at those paths.
pub fn entries(inv: &Inventory) -> anyhow::Result<Vec<(String, Entry)>> {
    let root = cache::root()?;
    let mut out = Vec::new();
    for img in inv.images.values() {
        let dir = format!("images/{}/{}", img.name, img.version);
        for file in img.files.values() {
            let slot = cache::Slot::for_url(&root, &format!("{}{file}", img.url))?;
            out.push((format!("{dir}/{file}"), Entry::Link(slot.file())));
            out.push((format!("{dir}/{file}.sig"), Entry::Link(slot.sig())));
        }
    }
    if !inv.images.is_empty() {
        out.push(("http/images".into(), Entry::Symlink("../images".into())));
    }
    Ok(out)
}

/// Image files that verified, and the lock that records them. The lock is not written until
/// `write_lock`: a build writes it only once the tree is written.
pub struct Fetched {
    files: Vec<Done>,
    lock: Lock,
}

impl Fetched {
    /// What verified, in lock order.
    pub fn entries(&self) -> Vec<&LockEntry> {
        self.files.iter().map(|d| &d.entry).collect()
    }
}

/// Writes `images.lock` if it changed: the image files from `fetched` and the bootloaders from
/// `loaders` (a part not given stays as it was). Returns whether it wrote.
pub fn write_lock(
    inv: &Inventory,
    fetched: Option<&Fetched>,
    loaders: Option<&loaders::Pinned>,
    report: &dyn Report,
) -> anyhow::Result<bool> {
    let path = inv.dir.join(lock::FILE_NAME);
    let old = Lock::from_file(&path)?;
    let mut new = old.clone();
    if let Some(f) = fetched {
        new.files = f.lock.files.clone();
    }
    if let Some(l) = loaders {
        new.loaders = l.lock_entries();
        for name in &l.accepted {
            report.warn(&format!("bootloader `{name}` differed from images.lock; --update-lock accepted the new file"));
        }
    }
    if new == old {
        return Ok(false);
    }
    new.write(&path)?;
    report.say(&format!(
        "updated `{}` ({} image files, {} bootloaders pinned)",
        path.display(),
        new.files.len(),
        new.loaders.len()
    ));
    Ok(true)
}

/// Makes sure every image file of the inventory is verified in the cache (fetching what is
/// missing). Stops early when `stop` is set.
pub fn ensure(inv: &Inventory, opts: &Options, report: &dyn Report, stop: &AtomicBool) -> anyhow::Result<Fetched> {
    let images: Vec<&Image> = inv.images.values().collect();
    run(inv, &images, opts, report, stop)
}

/// `pxebake fetch`: like `ensure`, for one image (`only`) or all of them.
pub fn fetch(
    inv: &Inventory,
    only: Option<&str>,
    opts: &Options,
    report: &dyn Report,
    stop: &AtomicBool,
) -> anyhow::Result<Fetched> {
    let images: Vec<&Image> = match only {
        None => inv.images.values().collect(),
        Some(name) => match inv.images.get(name) {
            Some(i) => vec![i],
            None => bail!(
                "image `{name}` is not in the inventory `{}`; it has: {}",
                inv.dir.display(),
                names(inv.images.keys())
            ),
        },
    };
    run(inv, &images, opts, report, stop)
}

/// Writes a bundle of `fetched` and `loaders` into `dir`, for an air-gapped site (see `bundle`).
pub fn bundle(
    dir: &std::path::Path,
    inv: &Inventory,
    fetched: Option<&Fetched>,
    loaders: Option<&loaders::Pinned>,
) -> anyhow::Result<()> {
    bundle::write(dir, inv, fetched.map_or(&[][..], |f| &f.files[..]), loaders)
}

/// For `bench/images.sh` only: pxebake's HTTP download path alone (resume logic, timeouts,
/// buffers), writing `to` without verifying it, to compare with curl. Nothing is placed.
#[doc(hidden)]
pub fn bench_download(url: &str, to: &std::path::Path) -> anyhow::Result<u64> {
    let stop = AtomicBool::new(false);
    fetch::Http::new()
        .download(url, to, None, &|_, _| {}, &mut |_| {}, &stop)
        .map_err(|f| anyhow::anyhow!("`{url}`: {f}"))
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<String> = it.map(|n| format!("`{n}`")).collect();
    if v.is_empty() {
        "no images".into()
    } else {
        v.join(", ")
    }
}

/// One file that verified, in the cache.
pub(crate) struct Done {
    pub entry: LockEntry,
    pub file: PathBuf,
    pub sig: PathBuf,
    pub key: PathBuf,
}

/// Fetches and verifies every file of `images`, and works out the new `images.lock`.
fn run(
    inv: &Inventory,
    images: &[&Image],
    opts: &Options,
    report: &dyn Report,
    stop: &AtomicBool,
) -> anyhow::Result<Fetched> {
    let root = cache::root()?;
    let now = SystemTime::now();
    // Keys first: a bad key file fails before any download.
    let mut keyrings = Vec::new();
    let mut problems = Vec::new();
    let mut warned = BTreeSet::new();
    for img in images {
        match Keyring::load(&img.key, &img.name, img.insecure_sha1_key_before.as_deref()) {
            Ok(k) => {
                if let Some(t) = k.insecure_before {
                    report.warn(&format!(
                        "INSECURE: image `{}` verifies with `{}` under the OpenPGP policy of {} (`insecure_sha1_key_before`, {}): SHA-1 self-signatures are accepted although SHA-1 collisions can be forged. Use this only for archived images you cannot get signed otherwise.",
                        img.name,
                        img.key.display(),
                        time::date(t),
                        img.origin
                    ));
                }
                if let Some(w) = k.expiry_warning(now, &img.name).filter(|_| warned.insert(img.key.clone())) {
                    report.warn(&w);
                }
                keyrings.push(k);
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    let lock_path = inv.dir.join(lock::FILE_NAME);
    let old = Lock::from_file(&lock_path)?;
    let mut wants = Vec::new();
    for (img, keys) in images.iter().zip(&keyrings) {
        let source = source::resolve(inv, img, opts.mirror.as_deref())?;
        let mirror_lock = match &source {
            Source::MirrorDir(d) => Some(
                Lock::from_file(&d.join(lock::FILE_NAME)).with_context(|| format!("in mirror `{}`", d.display()))?,
            ),
            _ => None,
        };
        for file in img.files.values() {
            wants.push(Want::new(&root, img, file, source.clone(), keys, mirror_lock.clone())?);
        }
    }
    let http = fetch::Http::new();
    let bars = Bars::new(report);
    let ctx = Ctx {
        http: &http,
        offline: opts.offline,
        update_lock: opts.update_lock,
        lock: &old,
        bars: &bars,
        report,
        stop,
    };
    let results: Vec<Mutex<Option<Result<Done, String>>>> = wants.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..wants.len().min(PARALLEL) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(w) = wants.get(i) else { break };
                let r = w.obtain(&ctx);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    let _ = bars.multi.clear();
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(d)) => done.push(d),
            Some(Err(e)) => errors.push(e),
            None => errors.push("a download thread stopped without a result".into()),
        }
    }
    if !errors.is_empty() {
        let mut msg = if errors.len() == 1 {
            errors.remove(0)
        } else {
            format!("{} image files failed:\n{}", errors.len(), errors.join("\n"))
        };
        if wants.iter().any(|w| w.unreachable.load(Ordering::SeqCst)) {
            msg.push_str(&format!("\n{}", source::AIR_GAP_HINT));
        }
        msg.push_str("\nnothing was placed and images.lock was not changed");
        bail!(msg);
    }
    // The new lock: entries of images outside this run stay, the rest is what just verified.
    let scope: BTreeSet<&str> = images.iter().map(|i| i.name.as_str()).collect();
    let all = images.len() == inv.images.len();
    let mut new = Lock::default();
    for (id, e) in &old.files {
        if !all && !scope.contains(e.image.as_str()) {
            new.files.insert(id.clone(), e.clone());
        }
    }
    for d in &done {
        new.files.insert(d.entry.id(), d.entry.clone());
    }
    let signed: BTreeSet<String> = done.iter().map(|d| format!("{} {}", d.entry.image, d.entry.version)).collect();
    report.say(&format!(
        "{} image file{} verified ({})",
        done.len(),
        if done.len() == 1 { "" } else { "s" },
        signed.into_iter().collect::<Vec<_>>().join(", ")
    ));
    Ok(Fetched { files: done, lock: new })
}

/// What every file's work shares.
pub(crate) struct Ctx<'a> {
    pub http: &'a fetch::Http,
    pub offline: bool,
    pub update_lock: bool,
    pub lock: &'a Lock,
    pub bars: &'a Bars,
    pub report: &'a dyn Report,
    /// Set when the user asked to stop (Ctrl-C): downloads end at the next chunk.
    pub stop: &'a AtomicBool,
}

/// Per-file progress bars, hidden when quiet or when stderr is not a terminal.
pub(crate) struct Bars {
    multi: MultiProgress,
    shown: bool,
}

impl Bars {
    fn new(report: &dyn Report) -> Bars {
        let shown = report.bars();
        let multi = MultiProgress::with_draw_target(if shown {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Bars { multi, shown }
    }

    pub fn bar(&self, what: &str) -> ProgressBar {
        if !self.shown {
            return ProgressBar::hidden();
        }
        let pb = self.multi.add(ProgressBar::new(0));
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:<40!} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(what.to_string());
        pb
    }

    /// Prints a line without tearing the bars.
    pub fn say(&self, report: &dyn Report, msg: String) {
        self.multi.suspend(|| report.say(&msg));
    }
}

/// A verification failure, in words.
pub(crate) fn rejection_hint(r: &Rejection, keys: &Keyring) -> String {
    match r {
        Rejection::UnknownKey { .. } => format!(
            "if the publisher rotated its signing key, replace `{}` with its new public key after checking the fingerprint; otherwise the file was not signed by its publisher",
            keys.path.display()
        ),
        Rejection::BadKey { .. } => {
            "a signature by an expired or revoked key vouches for nothing; the publisher must re-sign the file, or pin a release signed while the key was valid".into()
        }
        Rejection::Io(_) => "check the disk and run again".into(),
        _ => "do not use this file; run again to download it afresh, and if it fails again, the server or mirror serves a corrupt or altered file".into(),
    }
}
