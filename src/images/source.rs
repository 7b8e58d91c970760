//! One image file's way into the cache: where it comes from (upstream, a mirror URL, a mirror
//! or bundle directory), and the steps `cache -> signature -> file -> verify -> lock -> promote`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::cache::Slot;
use super::fetch::{self, Chunk, Failure};
use super::lock::{self, Lock};
use super::verify::{self, Keyring, Verified, Verifier};
use super::{rejection_hint, time, Ctx, Done, LockEntry};
use crate::inventory::{Image, Inventory};

/// Flatcar's PXE kernel is the same file as its image kernel; the server has been seen
/// without a signature under the PXE name.
const FLATCAR_PXE_KERNEL: &str = "flatcar_production_pxe.vmlinuz";
const FLATCAR_KERNEL_SIG: &str = "flatcar_production_image.vmlinuz.sig";

/// Signatures are small; anything bigger is not one.
const SIG_LIMIT: u64 = 1 << 20;

pub const AIR_GAP_HINT: &str = "this machine cannot reach the image server. To go on: on a connected machine run \
`pxebake fetch --bundle DIR`, carry DIR here and run `pxebake build --mirror DIR --offline`; \
or render everything except the images with `pxebake build --no-images`";

/// Where files come from when the cache lacks them.
#[derive(Debug, Clone)]
pub enum Source {
    /// The image's own URL.
    Upstream,
    /// A directory laid out as `<image>/<version>/<file>` (a `fetch --bundle` copy or a tree's `images/`).
    MirrorDir(PathBuf),
    /// The same layout over HTTP, ending in `/`.
    MirrorUrl(String),
}

/// `--mirror` wins over the image's `mirror:`, which wins over the site's.
pub fn resolve(inv: &Inventory, img: &Image, mirror: Option<&str>) -> anyhow::Result<Source> {
    let (mirror, base) = match (mirror, &img.mirror, &inv.site.mirror) {
        (Some(m), _, _) => (m, None),
        (None, Some(m), _) | (None, None, Some(m)) => (m.as_str(), Some(inv.dir.as_path())),
        (None, None, None) => return Ok(Source::Upstream),
    };
    if mirror.starts_with("http://") || mirror.starts_with("https://") {
        let url = if mirror.ends_with('/') { mirror.to_string() } else { format!("{mirror}/") };
        return Ok(Source::MirrorUrl(url));
    }
    let path = Path::new(mirror.strip_prefix("file://").unwrap_or(mirror));
    let dir = match base {
        Some(b) if path.is_relative() => b.join(path),
        _ => path.to_path_buf(),
    };
    if !dir.is_dir() {
        bail!(
            "mirror directory `{}` (for image `{}`) does not exist; give `--mirror` a directory written by `pxebake fetch --bundle DIR`, or an http(s) URL",
            dir.display(),
            img.name
        );
    }
    Ok(Source::MirrorDir(dir))
}

/// One file to bring into the cache.
pub struct Want<'a> {
    image: &'a Image,
    file: &'a str,
    /// The upstream URL (also what the lock records and the cache is keyed by).
    url: String,
    source: Source,
    slot: Slot,
    keys: &'a Keyring,
    mirror_lock: Option<Lock>,
    /// Set when the server could not be reached at all.
    pub unreachable: AtomicBool,
}

impl<'a> Want<'a> {
    pub fn new(
        root: &Path,
        image: &'a Image,
        file: &'a str,
        source: Source,
        keys: &'a Keyring,
        mirror_lock: Option<Lock>,
    ) -> anyhow::Result<Want<'a>> {
        let url = format!("{}{file}", image.url);
        let slot = Slot::for_url(root, &url)?;
        Ok(Want { image, file, url, source, slot, keys, mirror_lock, unreachable: AtomicBool::new(false) })
    }

    fn id(&self) -> lock::Id {
        (self.image.name.clone(), self.image.version.clone(), self.file.to_string())
    }

    /// Where a file named `name` (the image file or a signature) is in the source.
    fn location(&self, name: &str) -> String {
        let rel = format!("{}/{}/{name}", self.image.name, self.image.version);
        match &self.source {
            Source::Upstream => format!("{}{name}", self.image.url),
            Source::MirrorUrl(m) => format!("{m}{rel}"),
            Source::MirrorDir(d) => d.join(rel).display().to_string(),
        }
    }

    /// An error naming image, file, URL and key, with the reason and what to do next.
    fn message(&self, reason: impl AsRef<str>, next: impl AsRef<str>) -> String {
        let from = match &self.source {
            Source::Upstream => String::new(),
            _ => format!(" (taken from mirror: {})", self.location(self.file)),
        };
        format!(
            "image `{}` file `{}`: {}\n    url:  {}{from}\n    key:  {} in `{}`\n    next: {}",
            self.image.name,
            self.file,
            reason.as_ref(),
            self.url,
            self.keys.fingerprints(),
            self.keys.path.display(),
            next.as_ref()
        )
    }

    fn entry(&self, v: &Verified) -> LockEntry {
        LockEntry {
            image: self.image.name.clone(),
            version: self.image.version.clone(),
            file: self.file.to_string(),
            url: self.url.clone(),
            size: v.size,
            sha512: v.sha512.clone(),
            key: v.cert.clone(),
            signing_key: v.signer.clone(),
            signed: time::timestamp(v.signed),
        }
    }

    fn done(&self, entry: LockEntry) -> Done {
        Done { entry, file: self.slot.file(), sig: self.slot.sig(), key: self.keys.path.clone() }
    }

    /// Brings the file into the cache, verified, or says why not.
    pub fn obtain(&self, ctx: &Ctx) -> Result<Done, String> {
        let _guard = self.slot.lock().map_err(|e| {
            self.message(format!("{e:#}"), "make the cache directory writable, or point $PXEBAKE_CACHE elsewhere")
        })?;
        if self.slot.present() {
            return self.recheck(ctx);
        }
        if ctx.offline && !matches!(self.source, Source::MirrorDir(_)) {
            return Err(self.message(
                format!("`--offline`, and the cache has no verified copy (`{}`)", self.slot.file().display()),
                "run `pxebake fetch` where the server is reachable, or `pxebake fetch --bundle DIR` on a connected machine and then `--mirror DIR` here",
            ));
        }
        let (sig, sig_from) = self.fetch_signature(ctx)?;
        if let Err(r) = verify::precheck(&sig, self.keys) {
            return Err(self.message(
                format!("signature `{sig_from}` cannot vouch for the file: {r}"),
                format!("nothing was downloaded; {}", rejection_hint(&r, self.keys)),
            ));
        }
        let bar = ctx.bars.bar(&format!("{} {}", self.image.name, self.file));
        let progress = |done: u64, total: Option<u64>| {
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(done);
        };
        let limit = ctx.lock.files.get(&self.id()).map(|e| e.size);
        let partial = self.slot.partial();
        let started = Instant::now();
        // The verifier hashes in its own thread as the bytes arrive, so the file is read once
        // and hashing overlaps the transfer.
        let (fetched, fetch_time, verified) = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Option<Vec<u8>>>(16);
            let hasher = s.spawn(|| {
                let mut v = Verifier::new(&sig, self.keys)?;
                for msg in rx {
                    match msg {
                        Some(bytes) => v.update(&bytes),
                        None => v = Verifier::new(&sig, self.keys)?,
                    }
                }
                v.finish()
            });
            let mut sink = |c: Chunk| {
                // A send fails only when the verifier gave up; its result says why.
                let _ = tx.send(match c {
                    Chunk::Data(d) => Some(d.to_vec()),
                    Chunk::Restart => None,
                });
            };
            let fetched = match &self.source {
                Source::MirrorDir(_) => {
                    fetch::copy(Path::new(&self.location(self.file)), &partial, &progress, &mut sink)
                }
                _ => ctx.http.download(&self.location(self.file), &partial, limit, &progress, &mut sink, ctx.stop),
            };
            let fetch_time = started.elapsed();
            drop(tx);
            bar.set_message(format!("verifying {}", self.file));
            let verified = hasher
                .join()
                .unwrap_or_else(|_| Err(verify::Rejection::Io(std::io::Error::other("the verifying thread panicked"))));
            (fetched, fetch_time, verified)
        });
        if let Err(f) = fetched {
            bar.finish_and_clear();
            if f.unreachable() {
                self.unreachable.store(true, Ordering::SeqCst);
            }
            if matches!(f, Failure::TooLarge { .. }) {
                self.slot.discard_partial();
            }
            let next = self.failure_hint(&f);
            return Err(self.message(format!("download from `{}` failed: {f}", self.location(self.file)), next));
        }
        bar.finish_and_clear();
        // What was hashed must be what is on disk.
        let on_disk = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(u64::MAX);
        let verified = verified.and_then(|v| {
            if v.size == on_disk {
                Ok(v)
            } else {
                let msg = format!("hashed {} bytes but `{}` holds {on_disk}", v.size, partial.display());
                Err(verify::Rejection::Io(std::io::Error::other(msg)))
            }
        });
        let v = match verified {
            Ok(v) => v,
            Err(r) => {
                self.slot.discard_partial();
                return Err(self.message(
                    format!("verification against signature `{sig_from}` failed: {r}"),
                    format!("the download was deleted; {}", rejection_hint(&r, self.keys)),
                ));
            }
        };
        let verify_time = started.elapsed().saturating_sub(fetch_time);
        let entry = self.entry(&v);
        if let Err(e) = self.check_lock(ctx, &entry) {
            self.slot.discard_partial();
            return Err(e);
        }
        self.slot.promote(&sig).map_err(|e| self.message(format!("{e:#}"), "check the disk holding the cache"))?;
        ctx.bars.say(
            ctx.report,
            format!(
                "verified `{}` of image `{}` {}: {} bytes fetched in {} ms ({}), verified {} ms later; signed {} by {}",
                self.file,
                self.image.name,
                self.image.version,
                v.size,
                fetch_time.as_millis(),
                rate(v.size, fetch_time),
                verify_time.as_millis(),
                entry.signed,
                entry.signing_key
            ),
        );
        Ok(self.done(entry))
    }

    /// The cache has the file: verify it again (the tree is only as good as this copy).
    fn recheck(&self, ctx: &Ctx) -> Result<Done, String> {
        let path = self.slot.file();
        let sig = std::fs::read(self.slot.sig()).map_err(|e| {
            self.message(format!("cannot read `{}`: {e}", self.slot.sig().display()), "check the cache")
        })?;
        let bar = ctx.bars.bar(&format!("verifying {}", self.file));
        if let Ok(m) = std::fs::metadata(&path) {
            bar.set_length(m.len());
        }
        let verified = std::fs::File::open(&path)
            .map_err(verify::Rejection::Io)
            .and_then(|f| verify::verify(f, &sig, self.keys, |n| bar.inc(n)));
        bar.finish_and_clear();
        match verified {
            Ok(v) => {
                let entry = self.entry(&v);
                self.check_lock(ctx, &entry)?;
                Ok(self.done(entry))
            }
            Err(r) => {
                let moved = match self.slot.reject() {
                    Ok(p) => format!("it was moved to `{}`", p.display()),
                    Err(e) => format!("moving it aside failed ({e:#}); delete it"),
                };
                Err(self.message(
                    format!("the cached copy `{}` failed verification: {r}", path.display()),
                    format!("{moved}; run again to download it afresh; {}", rejection_hint(&r, self.keys)),
                ))
            }
        }
    }

    /// A verified file must also agree with `images.lock` (and a bundle's own lock).
    fn check_lock(&self, ctx: &Ctx, entry: &LockEntry) -> Result<(), String> {
        if let Some(mirror) = &self.mirror_lock {
            if let Some(d) = mirror.files.get(&self.id()).and_then(|l| lock::disagreement(l, entry)) {
                return Err(self.message(
                    format!("the file does not match the mirror's images.lock: {d}"),
                    "the mirror's files and its lock do not belong together; write the bundle again with `pxebake fetch --bundle DIR`",
                ));
            }
        }
        if ctx.update_lock {
            return Ok(());
        }
        if let Some(d) = ctx.lock.files.get(&self.id()).and_then(|l| lock::disagreement(l, entry)) {
            return Err(self.message(
                format!("the file does not match images.lock: {d}"),
                "if the publisher changed this file on purpose, accept it with `pxebake fetch --update-lock`; otherwise find out why the source now serves a different file",
            ));
        }
        Ok(())
    }

    /// The detached signature: `FILE.sig`, or for Flatcar's PXE kernel the image kernel's.
    fn fetch_signature(&self, ctx: &Ctx) -> Result<(Vec<u8>, String), String> {
        let mut names = vec![format!("{}.sig", self.file)];
        if self.file == FLATCAR_PXE_KERNEL {
            names.push(FLATCAR_KERNEL_SIG.to_string());
        }
        let mut tried = Vec::new();
        for name in &names {
            let at = self.location(name);
            let got = match &self.source {
                Source::MirrorDir(_) => match std::fs::read(&at) {
                    Ok(b) => Ok(b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::NotFound(404)),
                    Err(e) => Err(Failure::Unreachable(format!("cannot read `{at}`: {e}"))),
                },
                _ => ctx.http.get_small(&at, SIG_LIMIT),
            };
            match got {
                Ok(bytes) => return Ok((bytes, at)),
                Err(Failure::NotFound(code)) => tried.push(format!("`{at}` ({code})")),
                Err(f) => {
                    if f.unreachable() {
                        self.unreachable.store(true, Ordering::SeqCst);
                    }
                    let next = self.failure_hint(&f);
                    return Err(self.message(format!("cannot get its signature `{at}`: {f}"), next));
                }
            }
        }
        Err(self.message(
            format!("missing signature: {} not found", tried.join(" and ")),
            format!(
                "pxebake places only files signed by their publisher; check `version` and `files` of image `{}` ({}), or that the mirror holds the `.sig` files",
                self.image.name, self.image.origin
            ),
        ))
    }

    fn failure_hint(&self, f: &Failure) -> String {
        match f {
            Failure::NotFound(_) => format!(
                "check `version` and `files` of image `{}` ({}); the source has no such file",
                self.image.name, self.image.origin
            ),
            Failure::Status(c) if *c >= 500 => {
                "try again later, or take the files from a mirror with `--mirror`".into()
            }
            Failure::Status(_) => "check the URL of the image or mirror".into(),
            Failure::Unreachable(_) => "check the URL and the network (see below)".into(),
            Failure::Cut { .. } | Failure::Interrupted { .. } => "run again to resume the download".into(),
            Failure::TooLarge { .. } => "the source serves a different file than images.lock pins; find out why".into(),
            Failure::Write { .. } => "free space in the cache, or point $PXEBAKE_CACHE at a larger disk".into(),
        }
    }
}

/// `123 MiB/s`
fn rate(bytes: u64, took: Duration) -> String {
    let secs = took.as_secs_f64().max(1e-6);
    format!("{:.0} MiB/s", bytes as f64 / secs / (1024.0 * 1024.0))
}
