//! A cache of what the last build wrote, so a rebuild need not read every file to know it is
//! unchanged.
//!
//! For each path: a digest of what was planned, and the size, mtime and inode the file had once
//! written. A file whose digest matches and whose stat still matches is unchanged without being
//! read (the quick check rsync and make use). The manifest lives next to `out/`, not in it, so the
//! tree itself stays byte-identical across machines; it is only a cache: when it is missing or
//! stale, files are compared by content.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use super::{Entry, Tree};

const VERSION: &str = "pxebake-manifest 2";

/// What one written path looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub digest: u128,
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
}

impl Rec {
    /// Does the file on disk (size, mtime, inode) still look as it did when written?
    fn matches(&self, size: u64, mtime_ns: i128, ino: u64) -> bool {
        (size, mtime_ns, ino) == (self.size, self.mtime_ns, self.ino)
    }
}

pub struct Manifest {
    /// Digest of the tree's structure (paths, kinds, link targets) and lint settings at write time.
    pub structure: u128,
    /// The manifest's text, read once; records are found in it, not copied out of it (a large
    /// site's manifest holds a line for each of its 800,000 paths).
    text: String,
    /// (line start, path start, line end) of every path's line, in the order of their paths
    /// (the manifest is written sorted by path; one that is not is not used).
    recs: Vec<(usize, usize, usize)>,
    /// (line start, name start, name end) of every host's line, sorted by name.
    hosts: Vec<(usize, usize, usize)>,
    /// The manifest file's inode, size and mtime when read: every write replaces it.
    id: (u64, u64, i128),
}

fn file_id(path: &Path) -> Option<(u64, u64, i128)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())))
}

impl Manifest {
    /// Does the manifest vouch that the file on disk is still as `rec` was written? Not when
    /// its mtime is no older than the manifest: timestamps tick coarsely, and a change in the
    /// tick the manifest was written in may have left size and mtime as they were (racy, as git
    /// calls it); such files are compared by content.
    pub fn vouches(&self, rec: &Rec, meta: &std::fs::Metadata) -> bool {
        let mtime = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        rec.matches(meta.len(), mtime, meta.ino()) && rec.mtime_ns < self.id.2
    }

    /// `vouches` for an `lstat` result.
    pub fn vouches_stat(&self, rec: &Rec, st: &libc::stat) -> bool {
        let mtime = super::dirs::mtime_ns(st);
        rec.matches(st.st_size as u64, mtime, st.st_ino) && rec.mtime_ns < self.id.2
    }

    /// Is this still the manifest of `out` (no build wrote `out` since it was read)?
    pub fn current(&self, out: &Path) -> bool {
        file_id(&path_for(out)) == Some(self.id)
    }

    /// The record of `path`, if the last build wrote it.
    pub fn rec(&self, path: &str) -> Option<Rec> {
        let i = self.recs.binary_search_by(|&(_, p, end)| self.text[p..end].cmp(path)).ok()?;
        let (start, _, end) = self.recs[i];
        rec_line(&self.text[start..end]).map(|(_, r)| r)
    }

    /// Every path the last build wrote, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.recs.iter().map(|&(_, p, end)| &self.text[p..end])
    }

    /// A host's input digest and its paths (space-separated) at the last build.
    pub fn host(&self, name: &str) -> Option<(u128, &str)> {
        let i = self.hosts.binary_search_by(|&(_, a, b)| self.text[a..b].cmp(name)).ok()?;
        let line = self.line_at(self.hosts[i].0);
        let mut f = line.strip_prefix("H ")?.splitn(3, ' ');
        let inputs = u128::from_str_radix(f.next()?, 16).ok()?;
        Some((inputs, f.nth(1).unwrap_or_default()))
    }

    fn line_at(&self, start: usize) -> &str {
        let rest = &self.text[start..];
        &rest[..rest.find('\n').unwrap_or(rest.len())]
    }
}

/// Where the manifest of `out` lives: a hidden sibling.
pub fn path_for(out: &Path) -> PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent.join(format!(".{name}.pxebake-manifest"))
}

fn sha(parts: &[&[u8]]) -> u128 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    u128::from_le_bytes(d[..16].try_into().unwrap_or([0; 16]))
}

/// The digest of what `entry` plans (copies by source identity, not content: they are large).
pub fn digest(entry: &Entry) -> u128 {
    match entry {
        Entry::File(bytes) => file_digest(bytes),
        Entry::Symlink(t) => sha(&[b"L", t.as_bytes()]),
        Entry::Kept(rec) | Entry::Staged { rec, .. } => rec.digest,
        Entry::Copy(src) | Entry::Link(src) => {
            let id = std::fs::metadata(src)
                .map(|m| format!("{}:{}:{}:{}", m.dev(), m.ino(), m.len(), m.mtime()))
                .unwrap_or_default();
            let kind: &[u8] = if matches!(entry, Entry::Link(_)) { b"H" } else { b"C" };
            sha(&[kind, src.as_os_str().as_encoded_bytes(), id.as_bytes()])
        }
    }
}

/// The digest of a generated file's bytes (`digest` of an `Entry::File`).
pub fn file_digest(bytes: &[u8]) -> u128 {
    sha(&[b"F", bytes])
}

/// The digest of the tree's shape: what lints depend on besides a file's own content.
pub fn structure(tree: &Tree, context: &str) -> u128 {
    let mut h = Sha256::new();
    h.update(context.as_bytes());
    for (p, e) in &tree.entries {
        h.update(p.as_bytes());
        match e {
            Entry::File(_) | Entry::Kept(_) | Entry::Staged { .. } => h.update(b"\0F\0"),
            Entry::Copy(_) | Entry::Link(_) => h.update(b"\0C\0"),
            Entry::Symlink(t) => {
                h.update(b"\0L");
                h.update(t.as_bytes());
                h.update(b"\0");
            }
        }
    }
    let d = h.finalize();
    u128::from_le_bytes(d[..16].try_into().unwrap_or([0; 16]))
}

/// Reads the manifest of `out`; None when missing, unreadable or not as pxebake writes it (then
/// everything is compared). Only an index of its lines is built; records are parsed when asked for.
pub fn load(out: &Path) -> Option<Manifest> {
    let id = file_id(&path_for(out))?;
    let text = std::fs::read_to_string(path_for(out)).ok()?;
    let (header, _) = text.split_once('\n')?;
    let structure = u128::from_str_radix(header.strip_prefix(VERSION)?.trim(), 16).ok()?;
    // Indexed in pieces on every core: a large site's manifest has 800,000 lines.
    let pieces = line_pieces(&text, header.len() + 1, rayon::current_num_threads() * 8);
    let indexed: Vec<Option<Index>> = pieces.par_iter().map(|&(a, b)| index(&text, a, b)).collect();
    let (mut recs, mut hosts) = (Vec::new(), Vec::new());
    for piece in indexed {
        let (r, h) = piece?;
        recs.extend(r);
        hosts.extend(h);
    }
    // Written sorted by path with each path once; anything else was not written by pxebake.
    if !recs.par_windows(2).all(|w| text[w[0].1..w[0].2] < text[w[1].1..w[1].2]) {
        return None;
    }
    hosts.sort_unstable_by(|a, b| text[a.1..a.2].cmp(&text[b.1..b.2]));
    if hosts.windows(2).any(|w| text[w[0].1..w[0].2] == text[w[1].1..w[1].2]) {
        return None;
    }
    Some(Manifest { structure, text, recs, hosts, id })
}

/// (line start, path or name start, its end) of records and of host lines.
type Index = (Vec<(usize, usize, usize)>, Vec<(usize, usize, usize)>);

/// `text[from..]` cut into about `n` pieces that end at line ends: (start, end) of each.
fn line_pieces(text: &str, from: usize, n: usize) -> Vec<(usize, usize)> {
    let mut pieces = Vec::with_capacity(n);
    let mut start = from.min(text.len());
    let step = (text.len() - start) / n.max(1) + 1;
    while start < text.len() {
        let guess = (start + step).min(text.len());
        let end = memchr::memchr(b'\n', &text.as_bytes()[guess..]).map_or(text.len(), |i| guess + i + 1);
        pieces.push((start, end));
        start = end;
    }
    pieces
}

/// The lines of `text[start..end]` indexed; None if one is not as pxebake writes them.
fn index(text: &str, mut start: usize, end: usize) -> Option<Index> {
    let (mut recs, mut hosts) = (Vec::new(), Vec::new());
    for line in text[start..end].split_terminator('\n') {
        if let Some(h) = line.strip_prefix("H ") {
            // `H digest name paths`: the name starts after the 32 hex digits and a space.
            let name = h.get(33..)?;
            let len = name.find(' ').unwrap_or(name.len());
            hosts.push((start, start + 35, start + 35 + len));
        } else {
            // `digest size mtime inode path`: the path follows the fourth space.
            let mut spaces = line.match_indices(' ');
            let (at, _) = spaces.nth(3)?;
            recs.push((start, start + at + 1, start + line.len()));
        }
        start += line.len() + 1;
    }
    Some((recs, hosts))
}

/// One path's line of the manifest: `digest size mtime inode path`.
pub fn rec_line(line: &str) -> Option<(&str, Rec)> {
    let mut f = line.splitn(5, ' ');
    let (Some(d), Some(s), Some(m), Some(i), Some(p)) = (f.next(), f.next(), f.next(), f.next(), f.next()) else {
        return None;
    };
    let rec = Rec {
        digest: u128::from_str_radix(d, 16).ok()?,
        size: s.parse().ok()?,
        mtime_ns: m.parse().ok()?,
        ino: i.parse().ok()?,
    };
    Some((p, rec))
}

/// Records every path of `tree` as it now is in `out` (atomically replacing the old manifest).
pub fn save(out: &Path, tree: &Tree, digests: &HashMap<&str, u128>, structure: u128) -> anyhow::Result<()> {
    // Kept and staged files carry their records (a kept file was vouched for as written, and
    // nothing wrote it since; a staged one was recorded by its own write, and moved whole by the
    // swap); only the rest are looked at. Lines are written in order, not gathered first.
    let looked: HashMap<&str, Rec> = tree
        .entries
        .par_iter()
        .filter(|(_, e)| !matches!(e, Entry::Kept(_) | Entry::Staged { .. }))
        .filter_map(|(p, _)| {
            let meta = std::fs::symlink_metadata(out.join(p)).ok()?;
            let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
            let digest = *digests.get(p.as_str())?;
            Some((p.as_str(), Rec { digest, size: meta.len(), mtime_ns, ino: meta.ino() }))
        })
        .collect();
    let staged = tree.entries.values().filter_map(|e| match e {
        Entry::Staged { rec, .. } => Some(rec.mtime_ns),
        _ => None,
    });
    next_tick(looked.values().map(|r| r.mtime_ns).chain(staged).max().unwrap_or(0));
    let path = path_for(out);
    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot write `{}`", tmp.display()))?,
    );
    writeln!(f, "{VERSION} {structure:032x}")?;
    let entries: Vec<(&String, &Entry)> = tree.entries.iter().collect();
    write_lines(&mut f, &entries, |&(p, e), s| {
        let r = match e {
            Entry::Kept(rec) | Entry::Staged { rec, .. } => rec,
            _ => match looked.get(p.as_str()) {
                Some(rec) => rec,
                None => return,
            },
        };
        let _ = writeln!(s, "{:032x} {} {} {} {p}", r.digest, r.size, r.mtime_ns, r.ino);
    })?;
    write_lines(&mut f, &tree.hosts, |h, s| {
        let _ = writeln!(s, "H {:032x} {} {}", h.inputs, h.name, h.paths);
    })?;
    f.into_inner().map_err(|e| e.into_error())?.sync_all().ok();
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

/// Writes the lines `line` makes of `items`, in order, made on every core a window at a time
/// (a large site's manifest has 800,000 lines; a window's text is a few megabytes).
fn write_lines<T: Sync>(
    f: &mut impl std::io::Write,
    items: &[T],
    line: impl Fn(&T, &mut String) + Sync,
) -> std::io::Result<()> {
    for window in items.chunks(1 << 16) {
        let parts: Vec<String> = window
            .par_chunks(1 << 12)
            .map(|chunk| {
                let mut s = String::with_capacity(chunk.len() * 128);
                chunk.iter().for_each(|item| line(item, &mut s));
                s
            })
            .collect();
        parts.iter().try_for_each(|p| f.write_all(p.as_bytes()))?;
    }
    Ok(())
}

/// Waits until the clock is past the tick of `newest` (ns since the epoch), so the manifest
/// written next is newer than every file it records and vouches for them (see `vouches`).
/// Timestamps tick at most every 10 ms on Linux (HZ=100); only a build that wrote files in the
/// last few milliseconds waits, and at most 20 ms.
fn next_tick(newest: i128) {
    const MARGIN_NS: i128 = 20_000_000;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
    let wait = (newest + MARGIN_NS - now).clamp(0, MARGIN_NS);
    if wait > 0 {
        std::thread::sleep(std::time::Duration::from_nanos(wait as u64));
    }
}

/// Forgets the manifest (after a write that did not finish, nothing in it can be trusted).
pub fn remove(out: &Path) {
    let _ = std::fs::remove_file(path_for(out));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::HostRecord;

    fn saved(dir: &Path) -> (PathBuf, Tree) {
        let out = dir.join("out");
        let mut tree = Tree::default();
        for p in ["b/x", "a", "b/y y", "c/d/e"] {
            std::fs::create_dir_all(out.join(p).parent().unwrap()).unwrap();
            std::fs::write(out.join(p), p).unwrap();
            tree.entries.insert(p.to_string(), Entry::File(p.as_bytes().into()));
        }
        tree.hosts = vec![
            HostRecord { name: "n2".into(), inputs: 2, paths: "b/x c/d/e".into() },
            HostRecord { name: "n1".into(), inputs: 1, paths: String::new() },
        ];
        let digests = tree.entries.iter().map(|(p, e)| (p.as_str(), digest(e))).collect();
        save(&out, &tree, &digests, 7).unwrap();
        (out, tree)
    }

    #[test]
    fn records_and_hosts_are_found_in_the_text_as_saved() {
        let dir = tempfile::tempdir().unwrap();
        let (out, tree) = saved(dir.path());
        let m = load(&out).unwrap();
        assert_eq!(m.structure, 7);
        assert_eq!(m.paths().collect::<Vec<_>>(), ["a", "b/x", "b/y y", "c/d/e"]);
        for (p, e) in &tree.entries {
            let rec = m.rec(p).unwrap();
            let meta = std::fs::symlink_metadata(out.join(p)).unwrap();
            assert_eq!((rec.digest, rec.size, rec.ino), (digest(e), meta.len(), meta.ino()), "{p}");
        }
        assert_eq!(m.rec("b"), None);
        assert_eq!(m.rec("zz"), None);
        assert_eq!(m.host("n2"), Some((2, "b/x c/d/e")));
        assert_eq!(m.host("n1"), Some((1, "")));
        assert_eq!(m.host("n3"), None);
    }

    #[test]
    fn a_manifest_indexed_in_pieces_is_indexed_as_a_whole() {
        let mut text = String::from("header\n");
        for i in 0..300 {
            text.push_str(&format!("{i:032x} {i} {i} {i} dir/path-{i:04}\n"));
            if i % 7 == 0 {
                text.push_str(&format!("H {i:032x} host{i} dir/path-{i:04}\n"));
            }
        }
        let whole = index(&text, 7, text.len()).unwrap();
        assert_eq!(whole.0.len(), 300);
        for n in [1, 2, 3, 16, 1000, 100_000] {
            let pieces = line_pieces(&text, 7, n);
            assert_eq!(pieces.first().map(|p| p.0), Some(7));
            assert_eq!(pieces.last().map(|p| p.1), Some(text.len()));
            assert!(pieces.windows(2).all(|w| w[0].1 == w[1].0 && text.as_bytes()[w[0].1 - 1] == b'\n'), "{n}");
            let (mut recs, mut hosts) = (Vec::new(), Vec::new());
            for (a, b) in pieces {
                let (r, h) = index(&text, a, b).unwrap();
                recs.extend(r);
                hosts.extend(h);
            }
            assert_eq!((recs, hosts), whole, "in {n} pieces");
        }
        assert!(line_pieces("header\n", 7, 4).is_empty());
    }

    #[test]
    fn a_manifest_pxebake_did_not_write_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let (out, _) = saved(dir.path());
        let text = std::fs::read_to_string(path_for(&out)).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        type Edit = fn(&mut Vec<&str>);
        let edits: [(&str, Edit); 4] = [
            ("paths out of order", |l| l.swap(1, 2)),
            ("a path twice", |l| l[2] = l[1]),
            ("a host twice", |l| l[6] = l[5]),
            ("a line without a path", |l| l[1] = "00 1 2"),
        ];
        for (what, edit) in edits {
            let mut bad = lines.clone();
            edit(&mut bad);
            std::fs::write(path_for(&out), bad.join("\n") + "\n").unwrap();
            assert!(load(&out).is_none(), "{what}");
        }
        lines.truncate(1);
        std::fs::write(path_for(&out), lines.join("\n") + "\n").unwrap();
        assert!(load(&out).is_some_and(|m| m.paths().count() == 0), "an empty tree");
    }
}
