//! Shared helpers for the integration tests: run the real binary, compare trees.
#![allow(dead_code)]

pub mod images;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pxebake"));
    c.env("NO_COLOR", "1");
    c
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs pxebake with `args` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    bin().current_dir(dir).args(args).output().expect("run pxebake")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A temp dir with `inventory/` files written from (name, text) pairs.
pub fn site(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory");
    fs::create_dir_all(&inv).unwrap();
    for (name, text) in files {
        fs::write(inv.join(name), text).unwrap();
    }
    dir
}

/// A temp copy of the example site: inventory, templates and keys.
pub fn example_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["inventory", "templates", "keys"] {
        copy_dir(&repo().join(sub), &dir.path().join(sub));
    }
    dir
}

/// Copies a directory tree (files and symlinks).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ft = e.file_type().unwrap();
        let dest = to.join(e.file_name());
        if ft.is_dir() {
            copy_dir(&e.path(), &dest);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path()).unwrap(), dest).unwrap();
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// What a tree holds: relative path -> file bytes or `-> target` for symlinks.
pub fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_symlink() {
                out.insert(rel, format!("-> {}", fs::read_link(e.path()).unwrap().display()).into_bytes());
            } else {
                out.insert(rel, fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// Compares a built tree with a golden one exactly: same paths, same bytes, same link targets.
/// Expected files that were not produced fail too. `PXEBAKE_BLESS=1` rewrites the golden tree.
pub fn assert_tree_eq(actual: &Path, expected: &Path) {
    if std::env::var_os("PXEBAKE_BLESS").is_some() {
        let _ = fs::remove_dir_all(expected);
        copy_dir(actual, expected);
        // A blessed run proves nothing: review the diff, then run the tests again without it.
        panic!("PXEBAKE_BLESS: rewrote `{}`; review `git diff` and rerun without PXEBAKE_BLESS", expected.display());
    }
    let a = snapshot(actual);
    let e = snapshot(expected);
    let mut problems = Vec::new();
    for (p, bytes) in &a {
        match e.get(p) {
            None => problems.push(format!("unexpected file {p}")),
            Some(exp) if exp != bytes => problems.push(format!(
                "{p} differs:\n--- expected\n{}\n--- actual\n{}",
                String::from_utf8_lossy(exp),
                String::from_utf8_lossy(bytes)
            )),
            _ => {}
        }
    }
    for p in e.keys() {
        if !a.contains_key(p) {
            problems.push(format!("expected file {p} was not produced"));
        }
    }
    assert!(
        problems.is_empty(),
        "tree {} differs from {} (PXEBAKE_BLESS=1 to accept):\n{}",
        actual.display(),
        expected.display(),
        problems.join("\n")
    );
}

/// Everything about a tree a server would notice: every directory, file and symlink with its
/// mode, a file's bytes (as a SHA-256) and a link's target. Two trees with equal states are
/// byte-identical.
pub fn state(root: &Path) -> BTreeMap<String, String> {
    use sha2::Digest as _;
    use std::os::unix::fs::PermissionsExt as _;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = fs::symlink_metadata(e.path()).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let what = if meta.is_dir() {
                stack.push(e.path());
                format!("dir {mode:o}")
            } else if meta.file_type().is_symlink() {
                format!("link -> {}", fs::read_link(e.path()).unwrap().display())
            } else {
                let sum: String =
                    sha2::Sha256::digest(fs::read(e.path()).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
                format!("file {mode:o} {sum}")
            };
            out.insert(rel, what);
        }
    }
    out
}

/// Unmounts a test tmpfs when dropped.
pub struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a tmpfs of `size` (e.g. `256k`) on `dir`, for full-disk tests. When that is not
/// possible (not root, no mount namespace) the test fails with the reason: never a silent pass.
pub fn tmpfs(dir: &Path, size: &str) -> Tmpfs {
    let o = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).output();
    match o {
        Ok(o) if o.status.success() => Tmpfs(dir.to_path_buf()),
        Ok(o) => panic!(
            "cannot mount a tmpfs on `{}` for the full-disk test: {}; run the tests as root (as .ci/run does)",
            dir.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("cannot run `mount` for the full-disk test: {e}; run the tests as root (as .ci/run does)"),
    }
}

/// The bytes of an Ignition `data:` URL (percent-encoded or base64), as a config's reader sees them.
pub fn data_url_bytes(url: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    if meta.ends_with(";base64") {
        return base64::engine::general_purpose::STANDARD.decode(data).ok();
    }
    let bytes = data.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

pub fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(data), &mut out).ok()?;
    Some(out)
}

/// The release a deployed `dest` symlink points at (`pxebake deploy`).
pub fn release_of(dest: &Path) -> String {
    let t = fs::read_link(dest).unwrap();
    assert!(t.starts_with("pxebake.releases"), "{}", t.display());
    t.file_name().unwrap().to_string_lossy().into_owned()
}

/// Every release kept beside a deployed `dest`, sorted.
pub fn releases(dest: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dest.with_file_name("pxebake.releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
