//! Files from the files directory (`local`, `contents_local`, `ssh_authorized_keys_local`,
//! `trees`) and their encoding as data URLs.
//!
//! A template must never read outside the files directory: absolute paths and `..` are refused
//! outright, and the resolved path (symlinks followed) must still be inside it.

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
    let b64 = |data: &[u8]| base64::engine::general_purpose::STANDARD.encode(data);
    // The lengths decide; only the chosen encoding is made.
    let percent_len = 1 + data.iter().map(|&b| if unreserved(b) { 1 } else { 3 }).sum::<usize>();
    let b64_len = ";base64,".len() + base64_len(data.len());
    let plain_len = percent_len.min(b64_len);
    // "gzip" in the compression field costs four bytes.
    let gzip_wins = |gz_len: usize| ";base64,".len() + base64_len(gz_len) + 4 < plain_len;
    if gzip && gzip_wins(min_gzip_len(data)) {
        if let Some(gz) = compress(data).filter(|gz| gzip_wins(gz.len())) {
            return (format!("data:;base64,{}", b64(&gz)), true);
        }
    }
    let url = if b64_len < percent_len { format!("data:;base64,{}", b64(data)) } else { percent(data) };
    (url, false)
}

fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// RFC 2396's unreserved characters, which Butane's data URLs leave as they are.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)
}

/// `data:,` and `data` with RFC 2396 escaping, as Butane's data URLs use it: unreserved
/// characters stay, the rest `%XX`.
fn percent(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(6 + 3 * data.len());
    out.push_str("data:,");
    for &b in data {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

/// Inputs up to this size are deflated in one block (miniz_oxide ends a block only when its
/// buffers hold about 31 KiB), which `min_gzip_len` relies on.
const ONE_BLOCK: usize = 16 << 10;

/// A length the gzip stream of `data` is not shorter than (0 when unknown), from what any
/// deflate block holding it must write: every byte that no match can cover (its 3-byte
/// windows all appear here for the first time) is a literal, and literal codes cost at least
/// 8 bits each with fixed codes, or, with dynamic codes, at least the literals' entropy
/// (Gibbs' inequality: no prefix code beats it) after 26 bits of code description. Small
/// files (a host name, a short unit) are then known not to shrink without compressing them.
fn min_gzip_len(data: &[u8]) -> usize {
    if data.len() > ONE_BLOCK {
        return 0;
    }
    // Windows seen so far; a window seen before may be copied by a match, with its 3 bytes.
    let mut seen = std::collections::HashSet::with_capacity(data.len());
    let mut coverable = vec![false; data.len()];
    for (i, w) in data.windows(3).enumerate() {
        if !seen.insert(w) {
            coverable[i..i + 3].iter_mut().for_each(|c| *c = true);
        }
    }
    let mut counts = [0u32; 256];
    for (&b, covered) in data.iter().zip(&coverable) {
        if !covered {
            counts[usize::from(b)] += 1;
        }
    }
    let literals: u32 = counts.iter().sum();
    // The literals and one end of block, at their entropy (rounded down: a bound stays one).
    let total = f64::from(literals + 1);
    let entropy: f64 =
        counts.iter().chain([&1]).filter(|c| **c > 0).map(|&c| f64::from(c) * (total / f64::from(c)).log2()).sum();
    let fixed = 8 * literals as usize + 7;
    let dynamic = 26 + (entropy - 1e-6).max(0.0) as usize;
    // gzip's 10-byte header and 8-byte trailer around a block with its 3-bit header.
    18 + (3 + fixed.min(dynamic)).div_ceil(8)
}

thread_local! {
    /// A raw deflate compressor per thread, reset between files (making one zeroes several
    /// hundred KiB, more than compressing a small file costs).
    static DEFLATE: std::cell::RefCell<Option<flate2::Compress>> = const { std::cell::RefCell::new(None) };
}

/// `data` gzipped at the best level, byte for byte as `flate2::GzBuilder` writes it.
fn compress(data: &[u8]) -> Option<Vec<u8>> {
    DEFLATE.with_borrow_mut(|slot| {
        let deflate = slot.get_or_insert_with(|| flate2::Compress::new(flate2::Compression::best(), false));
        deflate.reset();
        // No file name, no mtime, best level (2), unknown OS (255).
        let mut out = Vec::with_capacity(data.len() + 64);
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
        let mut input = data;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            let before = deflate.total_in();
            let status = deflate.compress_vec(input, &mut out, flate2::FlushCompress::Finish).ok()?;
            let read = usize::try_from(deflate.total_in() - before).ok()?;
            input = &input[read..];
            if status == flate2::Status::StreamEnd {
                break;
            }
        }
        let mut crc = flate2::Crc::new();
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        Some(out)
    })
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

    /// What `compress` replaced: a new `GzBuilder` per file.
    fn gzip_as_before(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut enc = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// `data_url` as it was: every encoding made, the shortest taken.
    fn data_url_as_before(data: &[u8], gzip: bool) -> (String, bool) {
        let mut opaque = percent(data).replacen("data:", "", 1);
        let b64 = format!(";base64,{}", base64::engine::general_purpose::STANDARD.encode(data));
        if b64.len() < opaque.len() {
            opaque = b64;
        }
        let mut gzipped = false;
        if gzip {
            let gz = format!(";base64,{}", base64::engine::general_purpose::STANDARD.encode(gzip_as_before(data)));
            if gz.len() + 4 < opaque.len() {
                opaque = gz;
                gzipped = true;
            }
        }
        (format!("data:{opaque}"), gzipped)
    }

    /// Inputs of many shapes: short and long, text and binary, repetitive and not.
    fn samples() -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = vec![Vec::new(), b"a".to_vec(), b"n000001".to_vec()];
        out.push(b"[Match]\nName=eth1\n\n[Network]\nAddress=172.16.0.2/12\n".to_vec());
        out.push(b"HTTPD_IMAGE=docker.io/library/httpd:2.4\n".to_vec());
        let unit = "[Unit]\nDescription=A web server\nAfter=docker.service network-online.target\n\
                    Requires=docker.service\n[Service]\nExecStart=/usr/bin/docker run --name httpd -p 9000:80 x\n\
                    ExecStop=/usr/bin/docker stop httpd\nRestart=always\n[Install]\nWantedBy=multi-user.target\n";
        for n in [1, 2, 3, 10, 40, 200] {
            out.push(unit.repeat(n).into_bytes());
            out.push(unit.as_bytes()[..unit.len() * n / 200].to_vec());
        }
        for pattern in ["ab", "abc", "aab", "abcd", "xyzxyzq"] {
            for n in [1, 2, 5, 13, 100, 3000] {
                out.push(pattern.repeat(n).into_bytes());
            }
        }
        let mut x: u32 = 12345;
        for len in [3usize, 20, 40, 41, 60, 64, 100, 200, 500, 1000, 5000, 70_000] {
            for alphabet in [1u32, 2, 4, 16, 64, 256] {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        ((x >> 16) % alphabet) as u8 + if alphabet < 64 { b'a' } else { 0 }
                    })
                    .collect();
                out.push(bytes);
            }
            out.push("0123456789".repeat(len / 10 + 1).into_bytes());
        }
        out
    }

    #[test]
    fn a_reused_compressor_writes_what_a_new_one_did() {
        for data in samples() {
            assert_eq!(compress(&data).unwrap(), gzip_as_before(&data), "{} bytes", data.len());
        }
    }

    #[test]
    fn data_urls_are_what_they_were_when_every_encoding_was_made() {
        for data in samples() {
            for gzip in [true, false] {
                assert_eq!(data_url(&data, gzip), data_url_as_before(&data, gzip), "{} bytes", data.len());
                // The bound never exceeds the real length.
                assert!(min_gzip_len(&data) <= gzip_as_before(&data).len(), "{} bytes", data.len());
            }
        }
    }

    #[test]
    fn short_files_are_known_not_to_shrink_without_compressing_them() {
        for text in [
            "n000001",
            "HTTPD_IMAGE=docker.io/library/httpd:2.4\n",
            "[Match]\nName=eth1\n\n[Network]\nAddress=172.16.0.2/12\n",
        ] {
            let plain = data_url(text.as_bytes(), false).0.len() - "data:".len();
            assert!(";base64,".len() + base64_len(min_gzip_len(text.as_bytes())) + 4 >= plain, "{text}");
        }
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
