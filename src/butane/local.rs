//! Files from the files directory (`local`, `contents_local`, `ssh_authorized_keys_local`,
//! `trees`) and their encoding as data URLs.
//!
//! A template must never read outside the files directory: absolute paths and `..` are refused
//! outright, and the resolved path (symlinks followed) must still be inside it.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;

/// Largest single local file; Ignition configs are fetched whole into memory at boot.
pub const MAX_FILE: u64 = 8 << 20;
/// Largest total of local files in one config.
pub const MAX_TOTAL: u64 = 32 << 20;
/// Most files and links one config takes from trees (each is a config entry Ignition writes).
pub const MAX_TREE_ENTRIES: usize = 10_000;

/// Reads local files, keeping count of the bytes read.
pub struct Files<'a> {
    pub dir: Option<&'a Path>,
    pub total: u64,
}

/// One entry of a tree: its path below the tree's root, and what it is.
pub enum TreeEntry {
    File { rel: String, data: Vec<u8>, executable: bool },
    Link { rel: String, target: String },
}

impl Files<'_> {
    fn base(&self) -> Result<(PathBuf, &Path), String> {
        let dir = self.dir.ok_or_else(|| {
            "local paths are relative to a files directory: pass `--files-dir DIR` (a build uses the inventory's `files/`)"
                .to_string()
        })?;
        let base = dir.canonicalize().map_err(|e| {
            format!(
                "files directory `{}` cannot be opened ({e}); create it or pass another `--files-dir`",
                dir.display()
            )
        })?;
        Ok((base, dir))
    }

    /// The real path of `rel` inside the files directory; `what` names it in messages.
    fn resolve(&self, rel: &str, what: &str) -> Result<PathBuf, String> {
        let (base, dir) = self.base()?;
        let shown = crate::names::printable(rel);
        let path = Path::new(rel);
        if rel.is_empty() {
            return Err("the local path is empty; name a file below the files directory".into());
        }
        if path.is_absolute() {
            return Err(format!("local path `{shown}` must be relative to the files directory `{}`", dir.display()));
        }
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!(
                "local path `{shown}` leaves the files directory `{}` (`..` is not allowed)",
                dir.display()
            ));
        }
        let real = base.join(path).canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("local {what} `{shown}` not found in the files directory `{}`", dir.display())
            }
            _ => format!("cannot open local {what} `{shown}` in `{}`: {e}", dir.display()),
        })?;
        if !real.starts_with(&base) {
            return Err(format!(
                "local path `{shown}` resolves outside the files directory `{}` (through a symlink); copy the file into it",
                dir.display()
            ));
        }
        Ok(real)
    }

    /// The contents of a regular file inside the files directory.
    pub fn read(&mut self, rel: &str) -> Result<Vec<u8>, String> {
        let real = self.resolve(rel, "file")?;
        let shown = crate::names::printable(rel);
        let meta = std::fs::metadata(&real).map_err(|e| format!("cannot read local file `{shown}`: {e}"))?;
        if !meta.is_file() {
            return Err(format!("local path `{shown}` is not a regular file"));
        }
        self.count(meta.len(), &shown)?;
        std::fs::read(&real).map_err(|e| format!("cannot read local file `{shown}`: {e}"))
    }

    fn count(&mut self, len: u64, shown: &str) -> Result<(), String> {
        if len > MAX_FILE {
            return Err(format!("local file `{shown}` is {len} bytes; at most {MAX_FILE} fit in an Ignition config"));
        }
        self.total += len;
        if self.total > MAX_TOTAL {
            return Err(format!(
                "local files add up to more than {MAX_TOTAL} bytes at `{shown}`; serve big files over http (`source`)"
            ));
        }
        Ok(())
    }

    /// Every file and symlink below the directory `rel`, depth first in name order (as Butane
    /// walks). Symlinks are not followed: they become links on the target.
    pub fn tree(&mut self, rel: &str) -> Result<Vec<TreeEntry>, String> {
        let root = self.resolve(rel, "directory")?;
        if !root.is_dir() {
            return Err(format!("tree `{}` is not a directory", crate::names::printable(rel)));
        }
        let mut out = Vec::new();
        self.walk(&root, "", &mut out)?;
        Ok(out)
    }

    fn walk(&mut self, dir: &Path, prefix: &str, out: &mut Vec<TreeEntry>) -> Result<(), String> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(format!("file name `{}` in a tree is not UTF-8", name.to_string_lossy()));
            };
            let rel = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
            if out.len() >= MAX_TREE_ENTRIES {
                return Err(format!(
                    "the tree has more than {MAX_TREE_ENTRIES} files and links; serve an archive instead"
                ));
            }
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("cannot read `{rel}` in a tree: {e}"))?;
            let ty = meta.file_type();
            if ty.is_dir() {
                self.walk(&path, &rel, out)?;
            } else if ty.is_file() {
                self.count(meta.len(), &rel)?;
                let data = std::fs::read(&path).map_err(|e| format!("cannot read `{rel}` in a tree: {e}"))?;
                use std::os::unix::fs::PermissionsExt as _;
                out.push(TreeEntry::File { rel, data, executable: meta.permissions().mode() & 0o111 != 0 });
            } else if ty.is_symlink() {
                let target =
                    std::fs::read_link(&path).map_err(|e| format!("cannot read link `{rel}` in a tree: {e}"))?;
                let Some(target) = target.to_str() else {
                    return Err(format!("link `{rel}` in a tree points at a name that is not UTF-8"));
                };
                out.push(TreeEntry::Link { rel, target: target.to_string() });
            } else {
                return Err(format!(
                    "`{rel}` in a tree is not a file, directory or symlink; trees may hold only those"
                ));
            }
        }
        Ok(())
    }
}

/// A `data:` URL for `data`, the shortest of: percent-encoded, base64, and (when `gzip` is
/// allowed) gzip + base64 - as Butane chooses. Returns whether it is gzipped.
pub fn data_url(data: &[u8], gzip: bool) -> (String, bool) {
    let mut opaque = format!(",{}", percent(data));
    let b64 = format!(";base64,{}", base64::engine::general_purpose::STANDARD.encode(data));
    if b64.len() < opaque.len() {
        opaque = b64;
    }
    let mut gzipped = false;
    if gzip {
        if let Some(gz) = compress(data) {
            let gz = format!(";base64,{}", base64::engine::general_purpose::STANDARD.encode(gz));
            // "gzip" in the compression field costs four bytes.
            if gz.len() + 4 < opaque.len() {
                opaque = gz;
                gzipped = true;
            }
        }
    }
    (format!("data:{opaque}"), gzipped)
}

/// RFC 2396 escaping as Butane's data URLs use it: unreserved characters stay, the rest `%XX`.
fn percent(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    for &b in data {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn compress(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    enc.write_all(data).ok()?;
    enc.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_pick_the_shortest_encoding() {
        assert_eq!(data_url(b"hello world\n", true), ("data:,hello%20world%0A".to_string(), false));
        // Binary data is shorter in base64 than percent-encoded.
        assert_eq!(data_url(&[0xff; 6], true), ("data:;base64,////////".to_string(), false));
        let long = "0123456789".repeat(100);
        let (url, gz) = data_url(long.as_bytes(), true);
        assert!(gz && url.starts_with("data:;base64,H4sI"), "{url}");
        assert_eq!(data_url(long.as_bytes(), false), (format!("data:,{long}"), false));
    }

    #[test]
    fn local_paths_stay_inside_the_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("files");
        std::fs::create_dir(&files).unwrap();
        std::fs::write(files.join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../secret", files.join("out")).unwrap();
        let mut f = Files { dir: Some(&files), total: 0 };
        assert_eq!(f.read("a.txt").unwrap(), b"a");
        assert!(f.read("../secret").unwrap_err().contains("`..` is not allowed"));
        assert!(f.read("/etc/passwd").unwrap_err().contains("must be relative"));
        assert!(f.read("out").unwrap_err().contains("through a symlink"));
        assert!(f.read("missing").unwrap_err().contains("not found"));
        let mut none = Files { dir: None, total: 0 };
        assert!(none.read("a.txt").unwrap_err().contains("--files-dir"));
    }
}
