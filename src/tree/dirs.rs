//! The directories of `out/`, opened once, so that checking a path costs one `fstatat` from its
//! directory instead of a walk from the root (a rebuild of a large site checks every path).
//!
//! Each directory is opened from its parent with `O_NOFOLLOW`: a directory of the tree that was
//! replaced by a symlink (or anything but a directory) is simply not there, and neither is
//! anything under it, so nothing behind a link is ever vouched for.

use std::collections::HashMap;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::path::Path;

use super::manifest::Rec;

pub struct Dirs(HashMap<String, OwnedFd>);

/// A NUL-terminated copy of `name` on the stack (None when too long or holding NUL).
fn c_name(name: &str, buf: &mut [u8; 256]) -> Option<()> {
    if name.len() >= buf.len() || name.as_bytes().contains(&0) {
        return None;
    }
    buf[..name.len()].copy_from_slice(name.as_bytes());
    buf[name.len()] = 0;
    Some(())
}

impl Dirs {
    /// Opens `out` and every directory in `dirs` (relative, `/`-separated; every ancestor of a
    /// directory must be listed too) that is a real directory all the way down.
    pub fn open<'a>(out: &Path, dirs: impl IntoIterator<Item = &'a str>) -> Dirs {
        let mut map = HashMap::new();
        let Ok(root) = std::fs::File::open(out) else { return Dirs(map) };
        let mut dirs: Vec<&str> = dirs.into_iter().filter(|d| !d.is_empty()).collect();
        // Parents sort before their children.
        dirs.sort_unstable();
        dirs.dedup();
        map.insert(String::new(), OwnedFd::from(root));
        for d in dirs {
            let (parent, name) = d.rsplit_once('/').unwrap_or(("", d));
            let Some(parent) = map.get(parent) else { continue };
            let mut buf = [0u8; 256];
            if c_name(name, &mut buf).is_none() {
                continue;
            }
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            // SAFETY: openat with a descriptor we own and a NUL-terminated name; a returned
            // descriptor is owned by the OwnedFd from then on.
            let fd = unsafe { libc::openat(parent.as_raw_fd(), buf.as_ptr().cast(), flags) };
            if fd >= 0 {
                map.insert(d.to_string(), unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        Dirs(map)
    }

    /// `lstat` of a path of the tree through its directory; None when the path or a directory
    /// above it is missing or not a real directory.
    pub fn lstat(&self, path: &str) -> Option<libc::stat> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let fd = self.0.get(dir)?.as_raw_fd();
        let mut buf = [0u8; 256];
        c_name(name, &mut buf)?;
        // SAFETY: an all-zero stat is valid; fstatat fills it from a descriptor we own and a
        // NUL-terminated name.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::fstatat(fd, buf.as_ptr().cast(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        (rc == 0).then_some(st)
    }
}

/// Files of the tree with several names (a boot config hard-linked under its MAC and IP names)
/// already found as the manifest recorded them: their other names need no `lstat` of their own.
///
/// Sound only while no directory of `out` changed since the last build's stamp (see
/// `stamp::listing_unchanged`): then every name still leads to the inode it led to then. A name
/// replaced before the stamp took a link away from its file, so a file is remembered only while
/// it has more than one link; a link to it made by hand elsewhere would hide such a replacement,
/// which this does not guard against.
///
/// By inode: a fingerprint of the rest of the record. Read without locks while names are checked
/// in parallel; what they found is added between rounds (`add`).
#[derive(Default)]
pub struct Linked(HashMap<u64, u64, foldhash::fast::RandomState>);

/// What `Linked` remembers of one file: (inode, fingerprint).
pub type Found = (u64, u64);

impl Linked {
    /// Was another name of the file `rec` records found as recorded?
    pub fn seen(&self, rec: &Rec) -> bool {
        self.0.get(&rec.ino) == Some(&fingerprint(rec))
    }

    pub fn add(&mut self, found: impl IntoIterator<Item = Found>) {
        self.0.extend(found);
    }
}

/// What to remember of a name of the file `rec` records, found as recorded with `links` links:
/// nothing for a file with one name.
pub fn found(rec: &Rec, links: libc::nlink_t) -> Option<Found> {
    (links > 1).then(|| (rec.ino, fingerprint(rec)))
}

/// Whether `found` (a host's files so far) holds another name of the file `rec` records.
pub fn seen_among(found: &[Found], rec: &Rec) -> bool {
    found.contains(&(rec.ino, fingerprint(rec)))
}

/// The digest, size and mtime of a record, folded.
fn fingerprint(rec: &Rec) -> u64 {
    let mtime = rec.mtime_ns as u128;
    (rec.digest as u64)
        ^ (rec.digest >> 64) as u64
        ^ rec.size.rotate_left(23)
        ^ (mtime as u64).rotate_left(41)
        ^ (mtime >> 64) as u64
}

/// mtime of a stat, in ns since the epoch.
pub fn mtime_ns(st: &libc::stat) -> i128 {
    i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_behind_a_symlinked_directory_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("a/b")).unwrap();
        std::fs::write(out.join("a/b/f"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join("elsewhere/b")).unwrap();
        std::fs::write(dir.path().join("elsewhere/b/f"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), out.join("l")).unwrap();
        let dirs = Dirs::open(&out, ["a", "a/b", "l", "l/b"]);
        assert!(dirs.lstat("a/b/f").is_some());
        assert!(dirs.lstat("a/b/g").is_none());
        assert!(dirs.lstat("l/b/f").is_none(), "a file behind a symlinked directory was seen");
        assert!(dirs.lstat("l").is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK));
    }
}
