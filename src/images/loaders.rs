//! Bootloaders pinned like images: every file the tree carries under `tftp/` has its SHA-256
//! and origin (Debian package and version) in `images.lock`, and a builder whose file differs
//! fails naming both.
//!
//! A file is taken from, in this order: a bundle (`--mirror DIR` of `fetch --bundle`), the
//! builder's Debian package path (under the loader root, `/` unless a test or a chroot says
//! otherwise), or the cache, by the digest the lock pins. Whatever the source, the bytes are
//! kept in the cache under their SHA-256 and the tree copies them from there: the same pinned
//! file is the same tree entry on every builder, so `diff` after a build from a bundle finds
//! nothing to change even where the packages are missing.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use sha2::Digest as _;

use super::lock::{self, Loader, Lock};
use crate::diag::Diagnostics;
use crate::inventory::Inventory;
use crate::serve::Wanted;
use crate::tree::Entry;

/// Bootloaders are small (shim and GRUB are about 1 MiB); anything far larger is not one.
const MAX_SIZE: u64 = 64 << 20;

/// The bundle's directory for bootloaders.
pub const BUNDLE_DIR: &str = "bootloaders";

/// Where bootloaders come from (plain values; the CLI fills them).
#[derive(Debug, Clone)]
pub struct Options {
    /// Prefix of the Debian default paths: `/`, or a directory standing in for it.
    pub root: PathBuf,
    /// A `fetch --bundle` directory whose `bootloaders/` is searched first.
    pub bundle: Option<PathBuf>,
    /// Accept files that differ from images.lock (and record the new ones).
    pub update_lock: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { root: PathBuf::from("/"), bundle: None, update_lock: false }
    }
}

/// One bootloader found and pinned, kept in the cache at `file`.
#[derive(Debug, Clone)]
pub struct Placed {
    pub entry: Loader,
    pub file: PathBuf,
    pub http: bool,
}

/// The site's bootloaders, found, checked against the lock and cached.
#[derive(Debug, Default)]
pub struct Pinned {
    pub loaders: Vec<Placed>,
    /// Files that differed from the lock and were accepted (`update_lock`).
    pub accepted: Vec<String>,
}

impl Pinned {
    /// Tree entries: `tftp/<name>` (and `http/loaders/<name>`), copies of the cached files.
    pub fn entries(&self) -> Vec<(String, Entry)> {
        let mut out = Vec::new();
        for p in &self.loaders {
            if p.http {
                out.push((format!("http/loaders/{}", p.entry.name), Entry::Copy(p.file.clone())));
            }
            out.push((format!("tftp/{}", p.entry.name), Entry::Copy(p.file.clone())));
        }
        out
    }

    /// What the lock records for them.
    pub fn lock_entries(&self) -> std::collections::BTreeMap<String, Loader> {
        self.loaders.iter().map(|p| (p.entry.name.clone(), p.entry.clone())).collect()
    }
}

/// Where a file was found.
enum Found {
    Bundle(PathBuf),
    System(PathBuf),
    Cache(PathBuf),
}

impl Found {
    fn path(&self) -> &Path {
        match self {
            Found::Bundle(p) | Found::System(p) | Found::Cache(p) => p,
        }
    }
}

/// The cache directory of bootloaders, by SHA-256.
fn cache_dir() -> anyhow::Result<PathBuf> {
    Ok(super::cache::root()?.join("bootloaders"))
}

/// Where `w` is looked for on this builder, in order of preference.
fn candidates(w: &Wanted, opts: &Options, pinned: Option<&Loader>, cache: &Path) -> Vec<Found> {
    let mut v = Vec::new();
    if let Some(b) = &opts.bundle {
        v.push(Found::Bundle(b.join(BUNDLE_DIR).join(&w.name)));
    }
    if w.default {
        let rel = w.path.strip_prefix("/").unwrap_or(&w.path);
        v.push(Found::System(opts.root.join(rel)));
    } else {
        v.push(Found::System(w.path.clone()));
    }
    if let Some(l) = pinned {
        v.push(Found::Cache(cache.join(&l.sha256)));
    }
    v
}

/// The lock's pin for `w`: one taken from the same source. A file the inventory now takes from
/// elsewhere (a new `site.bootloaders` path) is a new pin, as a new image version is.
fn locked_for<'a>(lock: &'a Lock, w: &Wanted) -> Option<&'a Loader> {
    lock.loaders.get(&w.name).filter(|l| l.source == w.source)
}

/// Can this builder install the package of loader `name` with apt-get? Debian's signed EFI
/// loaders come in packages of their own architecture (arm64 ones are unpacked elsewhere, see
/// `serve::ARM64_HINT`).
fn installable(name: &str) -> bool {
    if name.ends_with("aa64.efi") {
        std::env::consts::ARCH == "aarch64"
    } else if name.ends_with("x64.efi") {
        std::env::consts::ARCH == "x86_64"
    } else {
        true
    }
}

/// Is a file there to read? (Following links, as Debian's alternatives use them.)
fn present(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file())
}

/// One row of `pxebake loaders`: where a wanted file is found on this builder, and what the lock
/// pins for it.
#[derive(Debug, serde::Serialize)]
pub struct Survey {
    pub name: String,
    /// `bundle`, `system` or `cache`; None when found nowhere.
    pub from: Option<&'static str>,
    pub path: Option<String>,
    pub package: Option<String>,
    pub pinned: Option<Loader>,
}

/// Where each wanted bootloader would be taken from (nothing is read or cached).
pub fn survey(inv: &Inventory, wanted: &[Wanted], opts: &Options) -> anyhow::Result<Vec<Survey>> {
    let old = Lock::from_file(&inv.dir.join(lock::FILE_NAME))?;
    let cache = cache_dir()?;
    let mut out = Vec::new();
    for w in wanted {
        let pinned = locked_for(&old, w).cloned();
        let found = candidates(w, opts, pinned.as_ref(), &cache).into_iter().find(|f| present(f.path()));
        let from = found.as_ref().map(|f| match f {
            Found::Bundle(_) => "bundle",
            Found::System(_) => "system",
            Found::Cache(_) => "cache",
        });
        out.push(Survey {
            name: w.name.clone(),
            from,
            path: found.map(|f| f.path().display().to_string()),
            package: w.package.map(str::to_string),
            pinned,
        });
    }
    Ok(out)
}

/// The Debian packages whose loader files this site needs and this builder has nowhere (not in
/// the bundle, not installed, not cached as pinned): what `make build` installs.
pub fn missing_packages(inv: &Inventory, wanted: &[Wanted], opts: &Options) -> anyhow::Result<Vec<String>> {
    let old = Lock::from_file(&inv.dir.join(lock::FILE_NAME))?;
    let cache = cache_dir()?;
    let mut pkgs = BTreeSet::new();
    for w in wanted.iter().filter(|w| w.default && installable(&w.name)) {
        let found = candidates(w, opts, locked_for(&old, w), &cache).iter().any(|f| present(f.path()));
        if let (false, Some(p)) = (found, w.package) {
            pkgs.insert(p.to_string());
        }
    }
    Ok(pkgs.into_iter().collect())
}

/// Finds every wanted bootloader, checks it against `images.lock`, and keeps it in the cache.
/// A file found nowhere is invalid input (its line, its package, and one `apt-get` line for all);
/// a file that differs from the lock is a verification failure naming both.
pub fn pin(inv: &Inventory, wanted: &[Wanted], opts: &Options) -> anyhow::Result<Pinned> {
    let lock_path = inv.dir.join(lock::FILE_NAME);
    let old = Lock::from_file(&lock_path)?;
    let cache = cache_dir()?;
    let bundle_lock = match &opts.bundle {
        Some(b) => {
            Some(Lock::from_file(&b.join(lock::FILE_NAME)).with_context(|| format!("in bundle `{}`", b.display()))?)
        }
        None => None,
    };
    let mut d = Diagnostics::default();
    let mut missing = BTreeSet::new();
    let mut differ = Vec::new();
    let mut pinned = Pinned::default();
    for w in wanted {
        let locked = locked_for(&old, w);
        let found = candidates(w, opts, locked, &cache).into_iter().find(|f| present(f.path()));
        let Some(found) = found else {
            let path = match w.default {
                true => opts.root.join(w.path.strip_prefix("/").unwrap_or(&w.path)),
                false => w.path.clone(),
            };
            if let (true, true, Some(p)) = (w.default, installable(&w.name), w.package) {
                missing.insert(p);
            }
            d.error(
                &w.origin.file,
                Some(w.origin.line),
                format!(
                    "bootloader `{}`{}: cannot read `{}` (missing, or not a regular file); {}set `site.bootloaders` to the file's path, build with `--mirror DIR` from a `pxebake fetch --bundle DIR`, or build with --no-bootloaders",
                    w.name,
                    w.why,
                    path.display(),
                    w.install_hint()
                ),
            );
            continue;
        };
        let bytes = match read(found.path()) {
            Ok(b) => b,
            Err(e) => {
                d.error(&w.origin.file, Some(w.origin.line), format!("bootloader `{}`{}: {e:#}", w.name, w.why));
                continue;
            }
        };
        let sha256 = hex(&sha2::Sha256::digest(&bytes));
        let size = bytes.len() as u64;
        // Where these bytes come from, as the lock will say.
        let origin = |sha256: &str| -> anyhow::Result<Loader> {
            let base = Loader {
                name: w.name.clone(),
                size,
                sha256: sha256.to_string(),
                source: w.source.clone(),
                package: None,
                version: None,
            };
            Ok(match &found {
                Found::Bundle(p) => {
                    let Some(l) = bundle_lock.as_ref().and_then(|b| b.loaders.get(&w.name)) else {
                        bail!("`{}` is not pinned in the bundle's images.lock; write the bundle again with `pxebake fetch --bundle`", p.display());
                    };
                    if l.sha256 != sha256 {
                        bail!(
                            "`{}` has sha256 {sha256}, but the bundle's images.lock pins {}: the bundle is damaged; write it again with `pxebake fetch --bundle`",
                            p.display(),
                            l.sha256
                        );
                    }
                    l.clone()
                }
                Found::System(_) if w.default => {
                    let (package, version) = dpkg_origin(&opts.root, &w.source, w.package);
                    Loader { package, version, ..base }
                }
                Found::System(_) => base,
                Found::Cache(_) => match locked {
                    Some(l) if l.sha256 == sha256 => l.clone(),
                    // The cache file itself was altered.
                    _ => bail!(
                        "the cached copy `{}` has sha256 {sha256}, not the pinned one; delete it and build where the file is available",
                        found.path().display()
                    ),
                },
            })
        };
        let entry = match locked {
            Some(l) if l.sha256 == sha256 && l.size == size => l.clone(),
            _ => match origin(&sha256) {
                Ok(now) => match locked {
                    Some(l) if !opts.update_lock => {
                        differ.push(format!(
                            "bootloader `{}`: images.lock pins {} bytes with sha256 {} from {}, but this builder has {} bytes with sha256 {} from {}; if the new file is wanted, run `pxebake fetch --update-lock`, otherwise install the pinned version{} or build with `--mirror DIR` from a bundle that holds it",
                            w.name,
                            l.size,
                            l.sha256,
                            l.origin(),
                            now.size,
                            now.sha256,
                            now.origin(),
                            match (&l.package, &l.version) {
                                (Some(p), Some(v)) => format!(" (`apt-get install {p}={v}`)"),
                                _ => String::new(),
                            }
                        ));
                        continue;
                    }
                    Some(_) => {
                        pinned.accepted.push(w.name.clone());
                        now
                    }
                    None => now,
                },
                Err(e) => {
                    differ.push(format!("bootloader `{}`: {e:#}", w.name));
                    continue;
                }
            },
        };
        let file = match store(&cache, &entry.sha256, &bytes) {
            Ok(f) => f,
            Err(e) => {
                differ.push(format!("bootloader `{}`: {e:#}", w.name));
                continue;
            }
        };
        pinned.loaders.push(Placed { entry, file, http: w.http });
    }
    if !missing.is_empty() {
        let pkgs: Vec<&str> = missing.into_iter().collect();
        d.error(
            &inv.site.origin.file,
            None,
            format!(
                "missing bootloader packages; install them with `apt-get install -y {}` (as root; `make build` does it when run as root)",
                pkgs.join(" ")
            ),
        );
    }
    d.finish()?;
    if !differ.is_empty() {
        bail!("{}", differ.join("\n"));
    }
    Ok(pinned)
}

fn read(p: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = fs::metadata(p).with_context(|| format!("cannot read `{}`", p.display()))?;
    if meta.len() > MAX_SIZE {
        bail!("`{}` is {} bytes, more than a bootloader can be ({MAX_SIZE})", p.display(), meta.len());
    }
    fs::read(p).with_context(|| format!("cannot read `{}`", p.display()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Keeps `bytes` at `<cache>/<sha256>`, read-only, written under a temporary name and renamed,
/// so concurrent builds never see half a file.
fn store(cache: &Path, sha256: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let file = cache.join(sha256);
    if fs::metadata(&file).is_ok_and(|m| m.len() == bytes.len() as u64) && fs::read(&file).is_ok_and(|b| b == bytes) {
        return Ok(file);
    }
    fs::create_dir_all(cache).with_context(|| format!("cannot create `{}`", cache.display()))?;
    let tmp = cache.join(format!(".{sha256}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(fs::Permissions::from_mode(0o444))?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write `{}`", tmp.display()));
    }
    fs::rename(&tmp, &file).with_context(|| format!("cannot rename `{}` into place", tmp.display()))?;
    Ok(file)
}

/// The package that owns `path` and its version, asked of dpkg (of the loader root's database
/// when that is not `/`). Without dpkg, the package pxebake expects and no version.
fn dpkg_origin(root: &Path, path: &str, expected: Option<&str>) -> (Option<String>, Option<String>) {
    let query = |args: &[&str]| -> Option<String> {
        let mut c = Command::new("dpkg-query");
        if root != Path::new("/") {
            c.arg(format!("--admindir={}", root.join("var/lib/dpkg").display()));
        }
        let o = c.args(args).stderr(std::process::Stdio::null()).output().ok()?;
        o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    // `shim-signed:amd64: /usr/lib/shim/shimx64.efi.signed`
    let owner = query(&["-S", path])
        .and_then(|l| l.lines().next().and_then(|l| l.split_once(": ")).map(|(p, _)| p.to_string()))
        .and_then(|p| p.split([',', ' ']).next().map(str::to_string));
    let Some(owner) = owner.or_else(|| expected.map(str::to_string)) else {
        return (None, None);
    };
    let version = query(&["-W", "-f=${Version}", &owner]).filter(|v| !v.is_empty());
    let package = owner.split(':').next().unwrap_or(&owner).to_string();
    (Some(package), version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_content_addressed_and_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = store(dir.path(), "abc", b"loader").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"loader");
        assert_eq!(fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o444);
        // Again: nothing to do, no temporaries left.
        assert_eq!(store(dir.path(), "abc", b"loader").unwrap(), f);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
