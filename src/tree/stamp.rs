//! What the last successful build was made from, so that a build whose inputs did not change
//! need not load, render or check anything (the no-op rebuild of a large site).
//!
//! The stamp lives next to `out/` like the manifest and records a digest of every input a build
//! reads (the pxebake binary, the build's settings, every file of the inventory directory and of
//! the templates directory), the digest of `images.lock` as the build left it, the manifest it
//! pairs with, the files the tree copies from outside it, each directory's entry count, and the
//! warnings and summary to repeat. A build is up to date when all of that still holds and every
//! path of the manifest is still as written (one `lstat` per file, in parallel; a file with
//! several names through one of them, see `dirs::Linked`). Anything else, or any doubt, means a
//! full build: the stamp is only a cache.
//!
//! Trees that link OS images are never stamped: images are verified again on every build, and
//! their signing keys are checked against the clock.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use super::dirs::{self, Dirs, Linked};
use super::{manifest, write, Entry, Tree};
use crate::diag::Diagnostic;

const VERSION: &str = "pxebake-stamp 2";
/// Inputs larger than this in all are not digested (a full build then reads them anyway).
const MAX_INPUT_BYTES: u64 = 4 << 30;
const MAX_DEPTH: usize = 16;

/// What a build reads, besides the files of the two directories: the binary and the settings
/// that change what it writes (given by the caller as text).
pub struct Inputs<'a> {
    pub inventory: &'a Path,
    pub templates: &'a Path,
    pub settings: String,
}

/// The digest of a build's inputs: (everything but `images.lock`, `images.lock`). None when an
/// input cannot be read, or is too large to digest: then the build plans as usual.
pub fn key(inputs: &Inputs) -> Option<(u128, u128)> {
    let mut h = Sha256::new();
    part(&mut h, VERSION.as_bytes());
    part(&mut h, crate::render::inputs::binary_id().as_bytes());
    part(&mut h, inputs.settings.as_bytes());
    let mut budget = MAX_INPUT_BYTES;
    part(&mut h, b"inventory");
    tree_digest(&mut h, inputs.inventory, inputs.inventory, &mut budget, 0)?;
    part(&mut h, b"templates");
    if inputs.templates.exists() {
        tree_digest(&mut h, inputs.templates, inputs.templates, &mut budget, 0)?;
    }
    Some((finish(h), lock_digest(inputs.inventory)))
}

fn lock_digest(inventory: &Path) -> u128 {
    let mut h = Sha256::new();
    match std::fs::read(inventory.join(crate::images::LOCK_FILE)) {
        Ok(bytes) => part(&mut h, &bytes),
        Err(_) => part(&mut h, b"no lock"),
    }
    finish(h)
}

fn part(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn finish(h: Sha256) -> u128 {
    let d = h.finalize();
    u128::from_le_bytes(d[..16].try_into().unwrap_or([0; 16]))
}

/// Names and contents of every file under `dir` (symlinks followed), sorted; `images.lock` at
/// the top of the inventory is left to `lock_digest`, since a build rewrites it.
fn tree_digest(h: &mut Sha256, root: &Path, dir: &Path, budget: &mut u64, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut names: Vec<std::ffi::OsString> =
        std::fs::read_dir(dir).ok()?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>().ok()?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        if depth == 0 && dir == root && name == crate::images::LOCK_FILE {
            continue;
        }
        let meta = std::fs::metadata(&path).ok()?;
        part(h, name.as_encoded_bytes());
        if meta.is_dir() {
            part(h, b"dir");
            tree_digest(h, root, &path, budget, depth + 1)?;
        } else if meta.is_file() {
            *budget = budget.checked_sub(meta.len())?;
            let mut f = std::fs::File::open(&path).ok()?;
            let mut buf = Vec::with_capacity(meta.len().min(1 << 26) as usize);
            f.read_to_end(&mut buf).ok()?;
            part(h, &buf);
        } else {
            return None; // a fifo or device: let the full build say what it makes of it
        }
    }
    Some(())
}

/// (inode, size, mtime and ctime in ns) of a file: how a stamp knows its manifest and sources.
fn id_of(meta: &std::fs::Metadata) -> (u64, u64, i128, i128) {
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    (meta.ino(), meta.len(), ns(meta.mtime(), meta.mtime_nsec()), ns(meta.ctime(), meta.ctime_nsec()))
}

/// A source file's id, all zero when it is absent (its absence counted too).
fn source_id(path: &Path) -> (u64, u64, i128, i128) {
    std::fs::metadata(path).map_or((0, 0, 0, 0), |m| id_of(&m))
}

/// What a build records of itself for the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    pub key: u128,
    pub lock: u128,
    pub files: usize,
    pub hosts: usize,
    /// Kernel/initrd links into `images/` (dangling without images: repeated as a warning).
    pub links: usize,
    pub warnings: Vec<Diagnostic>,
    manifest: (u64, u64, i128, i128),
    /// Files outside the tree the build copied or looked at (bootloaders and the packages'
    /// files they are checked against), as they were.
    sources: Vec<(PathBuf, (u64, u64, i128, i128))>,
    /// Every directory of `out` ("" for `out` itself): inode, ctime (ns) and number of entries.
    /// The ctime, not the mtime: adding or removing an entry changes both, but only the mtime
    /// can be set back (`touch -d`, `rsync -t`).
    dirs: Vec<(String, u64, i128, usize)>,
}

/// Where the stamp of `out` lives: a hidden sibling, next to the manifest.
pub fn path_for(out: &Path) -> PathBuf {
    let m = manifest::path_for(out);
    m.with_file_name(m.file_name().map(|n| n.to_string_lossy().replace("-manifest", "-stamp")).unwrap_or_default())
}

/// Forgets the stamp (before anything changes `out`).
pub fn remove(out: &Path) {
    let _ = std::fs::remove_file(path_for(out));
}

/// What a successful build tells its stamp besides its tree.
pub struct Built<'a> {
    /// The digest taken before the build read its inputs (so an input edited during the build
    /// makes the next one plan again).
    pub key: u128,
    pub hosts: usize,
    pub links: usize,
    pub warnings: &'a [Diagnostic],
    pub inventory: &'a Path,
    /// Files outside the tree whose change (or appearance) would change the build's outcome.
    pub watched: Vec<PathBuf>,
}

/// Records a successful build of `tree` into `out`, after its write and its lock. Trees with
/// image links are not stamped (see the module's note).
pub fn save(out: &Path, tree: &Tree, built: Built) {
    remove(out);
    if tree.entries.values().any(|e| matches!(e, Entry::Link(_))) {
        return;
    }
    let Some(stamp) = stamp_of(out, tree, built) else { return };
    let path = path_for(out);
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, stamp.to_text()).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

fn stamp_of(out: &Path, tree: &Tree, built: Built) -> Option<Stamp> {
    let manifest = id_of(&std::fs::metadata(manifest::path_for(out)).ok()?);
    let copied = tree.entries.values().filter_map(|e| match e {
        Entry::Copy(src) => Some(src.clone()),
        _ => None,
    });
    let mut sources: Vec<_> = copied.chain(built.watched).map(|p| (source_id(&p), p)).map(|(id, p)| (p, id)).collect();
    sources.sort();
    sources.dedup();
    let dirs: Vec<(String, u64, i128, usize)> = entry_counts(tree)
        .into_par_iter()
        .map(|(d, count)| {
            let (ino, ctime) = dir_id(&out.join(d))?;
            Some((d.to_string(), ino, ctime, count))
        })
        .collect::<Option<_>>()?;
    Some(Stamp {
        key: built.key,
        lock: lock_digest(built.inventory),
        files: tree.files(),
        hosts: built.hosts,
        links: built.links,
        warnings: built.warnings.to_vec(),
        manifest,
        sources,
        dirs,
    })
}

/// Every directory of the tree ("" for its root) and how many entries it holds once written:
/// its files, links and subdirectories, and the marker at the root. Counted from the tree, not
/// by reading `out` (which a large tree would pay for with a walk): after a successful write
/// `out` holds just the tree, and a count that were off would only make a racy directory
/// fail its check, never pass it.
fn entry_counts(tree: &Tree) -> Vec<(&str, usize)> {
    fn parent(p: &str) -> &str {
        p.rsplit_once('/').map_or("", |(d, _)| d)
    }
    let mut counts: std::collections::HashMap<&str, usize, foldhash::fast::RandomState> = Default::default();
    counts.insert("", 1);
    let mut seen = super::PathSet::default();
    for p in tree.entries.keys() {
        let mut d = parent(p);
        *counts.entry(d).or_default() += 1;
        // A directory met for the first time is an entry of its parent, and so on upwards.
        while !d.is_empty() && seen.insert(d) {
            *counts.entry(parent(d)).or_default() += 1;
            d = parent(d);
        }
    }
    let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
    counts.sort_unstable();
    counts
}

/// A directory's inode and ctime (ns); None unless it is a real directory.
fn dir_id(dir: &Path) -> Option<(u64, i128)> {
    let meta = std::fs::symlink_metadata(dir).ok()?;
    meta.is_dir().then(|| (meta.ino(), id_of(&meta).3))
}

impl Stamp {
    fn to_text(&self) -> String {
        let mut s = format!(
            "{VERSION}\nkey {:032x}\nlock {:032x}\nsummary {} {} {}\nmanifest {} {} {} {}\n",
            self.key,
            self.lock,
            self.files,
            self.hosts,
            self.links,
            self.manifest.0,
            self.manifest.1,
            self.manifest.2,
            self.manifest.3
        );
        for (p, (ino, size, mtime, ctime)) in &self.sources {
            let p = serde_json::to_string(&p.to_string_lossy()).unwrap_or_default();
            s.push_str(&format!("source {ino} {size} {mtime} {ctime} {p}\n"));
        }
        for (d, ino, ctime, count) in &self.dirs {
            s.push_str(&format!("dir {ino} {ctime} {count} {d}\n"));
        }
        for w in &self.warnings {
            s.push_str(&format!("warning {}\n", serde_json::to_string(w).unwrap_or_default()));
        }
        s
    }

    fn from_text(text: &str) -> Option<Stamp> {
        let mut lines = text.lines();
        if lines.next()? != VERSION {
            return None;
        }
        let mut fields: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut stamp = Stamp {
            key: 0,
            lock: 0,
            files: 0,
            hosts: 0,
            links: 0,
            warnings: Vec::new(),
            manifest: (0, 0, 0, 0),
            sources: Vec::new(),
            dirs: Vec::new(),
        };
        for line in lines {
            let (what, rest) = line.split_once(' ')?;
            match what {
                "source" => {
                    let f: Vec<&str> = rest.splitn(5, ' ').collect();
                    let path: String = serde_json::from_str(f.get(4)?).ok()?;
                    let id = (f[0].parse().ok()?, f[1].parse().ok()?, f[2].parse().ok()?, f[3].parse().ok()?);
                    stamp.sources.push((path.into(), id));
                }
                "dir" => {
                    let f: Vec<&str> = rest.splitn(4, ' ').collect();
                    let d = f.get(3)?.to_string();
                    stamp.dirs.push((d, f[0].parse().ok()?, f[1].parse().ok()?, f[2].parse().ok()?));
                }
                "warning" => stamp.warnings.push(serde_json::from_str(rest).ok()?),
                _ => {
                    fields.insert(what, rest.split(' ').collect());
                }
            }
        }
        let hex = |k: &str| u128::from_str_radix(fields.get(k)?.first()?, 16).ok();
        stamp.key = hex("key")?;
        stamp.lock = hex("lock")?;
        let s = fields.get("summary")?;
        (stamp.files, stamp.hosts, stamp.links) =
            (s.first()?.parse().ok()?, s.get(1)?.parse().ok()?, s.get(2)?.parse().ok()?);
        let m = fields.get("manifest")?;
        stamp.manifest =
            (m.first()?.parse().ok()?, m.get(1)?.parse().ok()?, m.get(2)?.parse().ok()?, m.get(3)?.parse().ok()?);
        Some(stamp)
    }
}

/// Whether `out` holds exactly the paths of its manifest, no more and no fewer, as the last
/// successful build left them (their contents are not looked at): no write is pending, the
/// manifest is the one that build wrote, and no directory gained, lost or renamed an entry
/// since. A build that trusts this needs no walk of `out`. Call holding the build lock.
pub fn listing_unchanged(out: &Path) -> bool {
    // A directory in the stamp's clock tick is racy: only its count was compared.
    listed(out).ok().flatten().is_some_and(|(stamp, time)| stamp.dirs.iter().all(|d| d.2 < time))
}

/// The stamp of `out` and its mtime, when no write is pending, the manifest is the one the
/// stamp pairs with, and every directory has the inode, mtime and number of entries recorded.
fn listed(out: &Path) -> anyhow::Result<Option<(Stamp, i128)>> {
    let Ok(text) = std::fs::read_to_string(path_for(out)) else { return Ok(None) };
    let Some(stamp) = Stamp::from_text(&text) else { return Ok(None) };
    // Temporaries of a write cut short inside `out` would have changed its directories (below).
    if write::interrupted(out)? {
        return Ok(None);
    }
    if std::fs::metadata(manifest::path_for(out)).map(|m| id_of(&m)).ok() != Some(stamp.manifest) {
        return Ok(None);
    }
    // Timestamps tick coarsely: a change in the same tick as the stamp's own write may have
    // left a timestamp as it was. Such racy entries are checked by what they hold (as git does).
    let Ok(stamp_time) = std::fs::metadata(path_for(out)).map(|m| id_of(&m).2) else { return Ok(None) };
    // Every directory has exactly the entries it had: nothing added or removed by hand.
    let dirs_ok = stamp.dirs.par_iter().all(|(d, ino, ctime, count)| {
        let path = out.join(d);
        dir_id(&path) == Some((*ino, *ctime))
            && (*ctime < stamp_time || std::fs::read_dir(&path).is_ok_and(|r| r.count() == *count))
    });
    Ok(dirs_ok.then_some((stamp, stamp_time)))
}

/// The stamp of `out` when the build with inputs `key` would change nothing there: the inputs
/// and `images.lock` are as the last build left them, no write is pending, and every directory,
/// copied source and path of the manifest is as that build wrote it. Call holding the build lock.
pub fn up_to_date(out: &Path, key: (u128, u128)) -> anyhow::Result<Option<Stamp>> {
    let Some((stamp, stamp_time)) = listed(out)? else { return Ok(None) };
    if (stamp.key, stamp.lock) != key || !stamp.sources.iter().all(|(p, id)| source_id(p) == *id) {
        return Ok(None);
    }
    let manifest_path = manifest::path_for(out);
    let file =
        std::fs::File::open(&manifest_path).with_context(|| format!("cannot open `{}`", manifest_path.display()))?;
    let dirs = Dirs::open(out, stamp.dirs.iter().map(|d| d.0.as_str()));
    // A file with several names is looked at once when no directory changed since the stamp.
    let settled = stamp.dirs.iter().all(|d| d.2 < stamp_time);
    let all = as_recorded(out, &dirs, file, stamp_time, settled, 4 << 20)
        .with_context(|| format!("cannot read `{}`", manifest_path.display()))?;
    Ok(all.then_some(stamp))
}

/// Is every path the manifest `file` records as written in `out` (directories in `dirs`)? Files
/// no older than `stamp_time` are read. `linked`: a file with several names is looked at once
/// (`dirs::Linked`); the manifest is read `chunk` bytes at a time.
fn as_recorded(
    out: &Path,
    dirs: &Dirs,
    file: std::fs::File,
    stamp_time: i128,
    linked: bool,
    chunk: usize,
) -> anyhow::Result<bool> {
    let mut linked = linked.then(Linked::default);
    // None when the line's path is not as written; else what to remember of a linked file.
    let as_written = |line: &str, linked: Option<&Linked>| -> Option<Option<dirs::Found>> {
        if line.starts_with("H ") {
            return Some(None);
        }
        let (path, rec) = manifest::rec_line(line)?;
        if linked.is_some_and(|l| l.seen(&rec)) {
            return Some(None);
        }
        let st = dirs.lstat(path)?;
        let is_file = st.st_mode & libc::S_IFMT == libc::S_IFREG;
        let mtime = dirs::mtime_ns(&st);
        let same = (st.st_size as u64, mtime, st.st_ino) == (rec.size, rec.mtime_ns, rec.ino)
            && (!is_file || st.st_mode & 0o7777 == write::FILE_MODE);
        let ok = same && (mtime < stamp_time || digest_now(&out.join(path), is_file) == Some(rec.digest));
        ok.then(|| linked.and_then(|_| dirs::found(&rec, st.st_nlink)))
    };
    each_chunk(file, chunk, |lines| {
        let found: Option<Vec<dirs::Found>> = lines
            .par_lines()
            .map(|line| as_written(line, linked.as_ref()))
            .try_fold(Vec::new, |mut v, f| {
                v.extend(f?);
                Some(v)
            })
            .try_reduce(Vec::new, |mut a, b| {
                a.extend(b);
                Some(a)
            });
        // Names of files found in this chunk are taken as checked from the next one on.
        match (found, linked.as_mut()) {
            (Some(found), Some(l)) => l.add(found),
            (None, _) => return false,
            _ => {}
        }
        true
    })
}

/// Hands `f` the lines after the first of `file`, about `chunk` bytes at a time (whole lines),
/// while it says go on: a large site's manifest is not held in memory to be checked once.
fn each_chunk(mut file: std::fs::File, chunk: usize, mut f: impl FnMut(&str) -> bool) -> anyhow::Result<bool> {
    let mut buf = vec![0u8; chunk.max(1)];
    let (mut filled, mut header) = (0, true);
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0); // one line longer than a chunk
        }
        let n = file.read(&mut buf[filled..])?;
        filled += n;
        let end = match n {
            0 => filled,
            _ => match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(i) => i + 1,
                None => continue,
            },
        };
        let mut text = std::str::from_utf8(&buf[..end])?;
        if header {
            let Some((_, rest)) = text.split_once('\n') else { return Ok(n == 0) };
            (text, header) = (rest, false);
        }
        if !f(text) {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
    }
}

/// What a racy path holds now, as `manifest::digest` digests what was planned for it.
fn digest_now(path: &Path, is_file: bool) -> Option<u128> {
    let entry = match is_file {
        true => Entry::File(std::fs::read(path).ok()?.into()),
        false => Entry::Symlink(std::fs::read_link(path).ok()?.to_str()?.to_string()),
    };
    Some(manifest::digest(&entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_as_written() {
        let s = Stamp {
            key: 0x1234,
            lock: 7,
            files: 10,
            hosts: 3,
            links: 2,
            warnings: vec![Diagnostic::warning("http/a b.yaml", Some(4), "a `warning` with spaces\nand a newline")],
            manifest: (1, 2, -3, 4),
            sources: vec![(PathBuf::from("/cache/dir with space/grubx64.efi"), (5, 6, 7, 8))],
            dirs: vec![(String::new(), 9, 11, 3), ("tftp/pxelinux.cfg".into(), 10, -1, 200)],
        };
        assert_eq!(Stamp::from_text(&s.to_text()), Some(s));
        assert_eq!(Stamp::from_text("pxebake-stamp 0\n"), None, "another version is not read");
    }

    #[test]
    fn the_key_covers_every_input_file_but_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inventory");
        std::fs::create_dir_all(inv.join("files")).unwrap();
        std::fs::write(inv.join("site.yaml"), "site: {}\n").unwrap();
        let templates = dir.path().join("templates");
        let inputs = |settings: &str| Inputs { inventory: &inv, templates: &templates, settings: settings.into() };
        let k0 = key(&inputs("a")).unwrap();
        assert_eq!(key(&inputs("a")), Some(k0), "the same inputs give the same key");
        assert_ne!(key(&inputs("b")).unwrap().0, k0.0, "settings count");
        std::fs::write(inv.join("files/motd"), "hello").unwrap();
        let k1 = key(&inputs("a")).unwrap();
        assert_ne!(k1.0, k0.0, "a file under files/ counts");
        std::fs::write(inv.join("images.lock"), "{}").unwrap();
        let k2 = key(&inputs("a")).unwrap();
        assert_eq!(k2.0, k1.0, "the lock is digested apart");
        assert_ne!(k2.1, k1.1);
        std::fs::create_dir_all(&templates).unwrap();
        std::fs::write(templates.join("grub.cfg"), "x").unwrap();
        assert_ne!(key(&inputs("a")).unwrap().0, k2.0, "templates count");
    }

    #[test]
    fn a_manifest_is_read_in_whole_lines_after_its_first() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(100);
        let body = format!("a\nbb\n{long}\n\nccc");
        for (text, chunk) in
            [(format!("header\n{body}"), 7), (format!("header\n{body}\n"), 3), (format!("h\n{body}"), 4096)]
        {
            std::fs::write(dir.path().join("m"), &text).unwrap();
            let mut lines = Vec::new();
            let open = || std::fs::File::open(dir.path().join("m")).unwrap();
            let all = each_chunk(open(), chunk, |t| {
                assert!(t.is_empty() || t.ends_with('\n') || t.ends_with("ccc"), "a chunk ends inside a line: {t:?}");
                lines.extend(t.lines().map(String::from));
                true
            });
            assert!(all.unwrap());
            assert_eq!(lines, ["a", "bb", long.as_str(), "", "ccc"], "chunks of {chunk}");
            let mut calls = 0;
            assert!(
                !each_chunk(open(), chunk, |_| {
                    calls += 1;
                    false
                })
                .unwrap(),
                "stopped"
            );
            assert_eq!(calls, 1);
        }
        std::fs::write(dir.path().join("m"), "header only").unwrap();
        assert!(each_chunk(std::fs::File::open(dir.path().join("m")).unwrap(), 2, |_| false).unwrap());
        std::fs::write(dir.path().join("m"), b"h\n\xff\n").unwrap();
        assert!(each_chunk(std::fs::File::open(dir.path().join("m")).unwrap(), 64, |_| true).is_err(), "not UTF-8");
    }

    #[test]
    fn a_file_with_two_names_is_looked_at_once_while_it_has_both() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let write_file = |name: &str, text: &str| {
            std::fs::write(out.join(name), text).unwrap();
            std::fs::set_permissions(out.join(name), std::fs::Permissions::from_mode(write::FILE_MODE)).unwrap();
        };
        write_file("a", "same bytes\n");
        std::fs::hard_link(out.join("a"), out.join("b")).unwrap();
        write_file("c", "other\n");
        let line = |name: &str| {
            let m = std::fs::symlink_metadata(out.join(name)).unwrap();
            let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
            let digest = manifest::file_digest(&std::fs::read(out.join(name)).unwrap());
            format!("{digest:032x} {} {mtime} {} {name}\n", m.len(), m.ino())
        };
        let manifest = dir.path().join("manifest");
        std::fs::write(&manifest, format!("header\n{}{}{}", line("a"), line("b"), line("c"))).unwrap();
        let later = i128::MAX; // no file is racy
        let check = |linked: bool| {
            let dirs = Dirs::open(&out, [""]);
            // One line per chunk: `a` is remembered before `b` is met.
            as_recorded(&out, &dirs, std::fs::File::open(&manifest).unwrap(), later, linked, 8).unwrap()
        };
        assert!(check(true) && check(false), "as written");
        // `b` now another file with the same bytes (a new inode): `a` has one link left.
        std::fs::remove_file(out.join("b")).unwrap();
        write_file("b", "same bytes\n");
        assert!(!check(false), "b is not the recorded inode");
        assert!(!check(true), "b was taken as checked through a, which has lost its link");
    }

    #[test]
    fn entry_counts_match_what_a_written_tree_holds() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut tree = Tree::default();
        for p in ["a", "b/c", "b/d/e", "b/d/f", "g/h/i/j", "g/k", "l/m"] {
            tree.entries.insert(p.to_string(), Entry::File(p.as_bytes().into()));
        }
        tree.entries.insert("b/link".into(), Entry::Symlink("c".into()));
        let changes = super::super::diff::compare(&tree, &out, "");
        let stop = std::sync::atomic::AtomicBool::new(false);
        write::write(&tree, &out, &changes, &stop, &indicatif::ProgressBar::hidden()).unwrap();
        let counted = entry_counts(&tree);
        let dirs: Vec<&str> = counted.iter().map(|c| c.0).collect();
        assert_eq!(dirs, ["", "b", "b/d", "g", "g/h", "g/h/i", "l"]);
        for (d, n) in counted {
            assert_eq!(std::fs::read_dir(out.join(d)).unwrap().count(), n, "entries of `{d}`");
        }
    }
}
