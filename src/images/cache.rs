//! The image cache: verified files keyed by their upstream URL, shared by every inventory.
//!
//! `$PXEBAKE_CACHE` (default: the user's cache directory + `pxebake`) holds
//! `<host>/<path>/<file>` and `<file>.sig` for each upstream URL. A file appears under its final
//! name only after its signature verified (`promote`); until then it is `<file>.partial`. A
//! `<file>.lock` serializes pxebake processes working on the same file.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

/// The cache directory.
pub fn root() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PXEBAKE_CACHE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    match dirs::cache_dir() {
        Some(d) => Ok(d.join("pxebake")),
        None => bail!("cannot find a cache directory for images (no $HOME or $XDG_CACHE_HOME); set $PXEBAKE_CACHE"),
    }
}

/// The cache's place for one upstream file.
#[derive(Debug, Clone)]
pub struct Slot {
    dir: PathBuf,
    name: String,
}

impl Slot {
    /// `http://host:port/a/b/file` -> `<root>/host_port/a/b/file`.
    pub fn for_url(root: &Path, url: &str) -> anyhow::Result<Slot> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .with_context(|| format!("url `{url}` must start with http:// or https://"))?;
        let mut dir = root.to_path_buf();
        let mut parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let name = parts.pop().filter(|_| !parts.is_empty());
        let Some(name) = name else { bail!("url `{url}` names no file") };
        for p in parts.iter().chain([&name]) {
            if *p == "." || *p == ".." || p.starts_with('.') {
                bail!("url `{url}` has a path segment `{p}` that cannot be a cache file name");
            }
        }
        for (i, p) in parts.iter().enumerate() {
            let clean: String =
                p.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.~+".contains(c) { c } else { '_' }).collect();
            dir.push(if i == 0 { clean.to_ascii_lowercase() } else { clean });
        }
        Ok(Slot { dir, name: name.to_string() })
    }

    pub fn file(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    pub fn sig(&self) -> PathBuf {
        self.dir.join(format!("{}.sig", self.name))
    }

    pub fn partial(&self) -> PathBuf {
        self.dir.join(format!("{}.partial", self.name))
    }

    fn sig_partial(&self) -> PathBuf {
        self.dir.join(format!("{}.sig.partial", self.name))
    }

    pub fn rejected(&self) -> PathBuf {
        self.dir.join(format!("{}.rejected", self.name))
    }

    /// Whether a verified copy is (supposedly) here: the file and its signature.
    pub fn present(&self) -> bool {
        self.file().is_file() && self.sig().is_file()
    }

    /// Takes the per-file lock, waiting for another pxebake that holds it.
    pub fn lock(&self) -> anyhow::Result<FileLock> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create cache directory `{}`", self.dir.display()))?;
        let path = self.dir.join(format!("{}.lock", self.name));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open `{}`", path.display()))?;
        // SAFETY: flock on a file descriptor we own; released when `file` is closed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(e).with_context(|| format!("cannot lock `{}`", path.display()));
        }
        Ok(FileLock(file))
    }

    /// Moves a verified `.partial` and its signature under their final names, read-only.
    /// The signature goes first, so a final file always has the signature it verified with.
    pub fn promote(&self, sig: &[u8]) -> anyhow::Result<()> {
        let sp = self.sig_partial();
        write_synced(&sp, sig)?;
        read_only(&sp)?;
        fs::rename(&sp, self.sig()).with_context(|| format!("cannot rename `{}`", sp.display()))?;
        let p = self.partial();
        read_only(&p)?;
        fs::rename(&p, self.file()).with_context(|| format!("cannot rename `{}`", p.display()))?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Moves a cached file that failed verification out of its final name.
    pub fn reject(&self) -> anyhow::Result<PathBuf> {
        let to = self.rejected();
        fs::rename(self.file(), &to).with_context(|| format!("cannot move `{}` aside", self.file().display()))?;
        Ok(to)
    }

    /// Deletes a partial download that is no use (it failed verification).
    pub fn discard_partial(&self) {
        let _ = fs::remove_file(self.partial());
    }
}

/// Held while working on one cache file.
pub struct FileLock(#[allow(dead_code)] File);

fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?;
    f.write_all(bytes).with_context(|| format!("cannot write `{}`", path.display()))?;
    f.sync_all().with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

fn read_only(path: &Path) -> anyhow::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o444))
        .with_context(|| format!("cannot make `{}` read-only", path.display()))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_url() {
        let s = Slot::for_url(Path::new("/c"), "https://Stable.Release.example:8443/amd64-usr/1.2.3/vmlinuz").unwrap();
        assert_eq!(s.file(), Path::new("/c/stable.release.example_8443/amd64-usr/1.2.3/vmlinuz"));
        assert_eq!(s.sig(), Path::new("/c/stable.release.example_8443/amd64-usr/1.2.3/vmlinuz.sig"));
        assert_eq!(s.partial(), Path::new("/c/stable.release.example_8443/amd64-usr/1.2.3/vmlinuz.partial"));
        for bad in ["ftp://x/y", "http://x/../y", "http://x/", "http://x/a/.hidden", "http://x"] {
            assert!(Slot::for_url(Path::new("/c"), bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn promote_puts_signature_first_and_makes_files_read_only() {
        let d = tempfile::tempdir().unwrap();
        let s = Slot::for_url(d.path(), "http://h/v/f").unwrap();
        let _l = s.lock().unwrap();
        assert!(!s.present());
        fs::write(s.partial(), b"data").unwrap();
        s.promote(b"sig").unwrap();
        assert!(s.present() && !s.partial().exists());
        assert_eq!(fs::read(s.sig()).unwrap(), b"sig");
        assert_eq!(fs::metadata(s.file()).unwrap().permissions().mode() & 0o777, 0o444);
        let moved = s.reject().unwrap();
        assert!(moved.exists() && !s.present());
    }
}
