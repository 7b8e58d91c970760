//! Writing a planned tree: atomic, and touching only what changed.
//!
//! Nothing changed: nothing is written. Otherwise the work is split in two phases:
//!
//! 1. **prepare** - every new or changed file is written under a temporary name next to its final
//!    one (`.pxebake-new.NAME`); a failure or Ctrl-C here removes the temporaries, and `out/` is
//!    exactly as it was;
//! 2. **commit** - once the temporaries are durable (`syncfs`), a journal of renames and removals
//!    is written beside `out/` under a temporary name, synced and renamed into place: that rename
//!    is the commit point. The journal is then applied; each rename is atomic.
//!
//! `recover` runs before anything reads `out/` (build, diff, and `make deploy` refuses until it
//! has): a committed journal is replayed to the end (the tree becomes wholly new), and whatever
//! an uncommitted write left - temporaries, the directories made for them, a stage - is removed
//! (the tree stays wholly old). Files are 0644 and directories 0755 whatever the umask.
//!
//! Unchanged files are never touched: they keep their inode and mtime, and rsync skips them. A
//! fresh `out/` (or a change of a file into a directory) is staged as a whole in a hidden sibling
//! directory and renamed into place instead, unchanged files hard-linked into the stage.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use anyhow::{bail, Context as _};
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::diff::{Change, Changes, Unchanged, MARKER};
use super::{manifest, Entry, Tree};

/// Prefix of the temporary names of the prepare phase.
pub const TEMP: &str = ".pxebake-new.";

/// Mode of every file pxebake writes (image files keep the cache's read-only 0444).
pub const FILE_MODE: u32 = 0o644;
/// Mode of every directory pxebake makes.
pub const DIR_MODE: u32 = 0o755;

/// The journal's last line: a journal without it was never committed.
const JOURNAL_END: &str = "end";

/// Test-only hook: with `PXEBAKE_TEST_KILL_AFTER=N` the process kills itself with SIGKILL right
/// after the Nth file operation of the write phase, so tests can cut a write short at every
/// point and prove that the next command recovers. Never set it outside tests.
fn kill_point() {
    static LIMIT: OnceLock<Option<usize>> = OnceLock::new();
    static DONE: AtomicUsize = AtomicUsize::new(0);
    let limit = LIMIT.get_or_init(|| std::env::var("PXEBAKE_TEST_KILL_AFTER").ok().and_then(|v| v.parse().ok()));
    if let Some(n) = *limit {
        if DONE.fetch_add(1, Ordering::SeqCst) + 1 >= n {
            // SAFETY: signalling our own process; SIGKILL cannot be caught, like a power cut.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }
}

/// Makes a directory with mode 0755 whatever the umask.
fn make_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir(path).with_context(|| format!("cannot create `{}`", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(DIR_MODE))
        .with_context(|| format!("cannot set the mode of `{}`", path.display()))?;
    kill_point();
    Ok(())
}

/// Flushes everything written on the filesystem holding `dir` to the disk (one call instead of
/// an fsync per file: the temporaries must be durable before the journal names them).
fn sync_fs(dir: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir).with_context(|| format!("cannot open `{}`", dir.display()))?;
    // SAFETY: syncfs on a descriptor we own.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        let err = std::io::Error::last_os_error();
        bail!("cannot sync `{}` to disk: {err}", dir.display());
    }
    kill_point();
    Ok(())
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory `{}`", dir.display()))
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
}

fn sibling(out: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let name = out.file_name().with_context(|| format!("output directory `{}` has no name", out.display()))?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{}.{suffix}", name.to_string_lossy())))
}

/// Refuses to replace a non-empty directory that pxebake did not write.
pub fn check_replaceable(out: &Path) -> anyhow::Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        bail!("output `{}` exists and is not a directory; remove it or choose another --out", out.display());
    }
    let empty = std::fs::read_dir(out)?.next().is_none();
    if !empty && !out.join(MARKER).exists() {
        bail!(
            "refusing to replace `{}`: it is not empty and was not written by pxebake (no `{MARKER}` in it); choose another --out or empty it",
            out.display()
        );
    }
    Ok(())
}

/// Held while a build compares and writes `out`: a second build on the same tree fails at once
/// instead of interleaving its temporaries and journal with the first one's.
pub struct Lock(#[allow(dead_code)] std::fs::File);

/// Takes the write lock of `out` (a sibling lock file, released when the process ends).
pub fn lock(out: &Path) -> anyhow::Result<Lock> {
    use std::os::fd::AsRawFd;
    let path = sibling(out, "pxebake-lock")?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file `{}`", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!(
            "another pxebake build is writing `{}` (lock `{}`); wait for it to finish",
            out.display(),
            path.display()
        );
    }
    Ok(Lock(file))
}

/// Finishes a write that was cut short after its commit point, or undoes one cut short before
/// it, and removes stale stages. Call (holding `lock`) before anything reads `out`, so it sees a
/// whole tree: wholly the old one or wholly the new one.
pub fn recover(out: &Path) -> anyhow::Result<()> {
    let stage = sibling(out, "pxebake-stage")?;
    if stage.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("cannot remove stale stage `{}`", stage.display()))?;
    }
    let journal = sibling(out, "pxebake-journal")?;
    let uncommitted = journal_tmp(&journal);
    if uncommitted.symlink_metadata().is_ok() {
        std::fs::remove_file(&uncommitted).with_context(|| format!("cannot remove `{}`", uncommitted.display()))?;
    }
    if let Ok(text) = std::fs::read_to_string(&journal) {
        check_journal(out, &text).with_context(|| {
            format!(
                "refusing to replay `{}`: pxebake writes no such journal; delete it and build again",
                journal.display()
            )
        })?;
        manifest::remove(out);
        let finish = || -> anyhow::Result<()> {
            if text.lines().last() == Some(JOURNAL_END) {
                replay(out, &text, false)?;
                sync_fs(out)?;
            }
            std::fs::remove_file(&journal).with_context(|| format!("cannot remove `{}`", journal.display()))
        };
        finish().with_context(|| {
            format!(
                "cannot finish the write recorded in `{}` (a build was cut short while committing); fix the cause, or delete it and `{}` and build again",
                journal.display(),
                out.display()
            )
        })?;
    }
    // What is left of a prepare that never committed: its temporaries and the directories made
    // for them (a planned tree has no empty directories). Only in a tree pxebake wrote.
    if out.join(MARKER).is_file() {
        remove_debris(out, out)?;
    }
    Ok(())
}

/// Whether `out` holds the traces of a write that was cut short (what `recover` would act on).
pub fn pending(out: &Path) -> anyhow::Result<bool> {
    if interrupted(out)? {
        return Ok(true);
    }
    Ok(super::diff::existing(out).iter().any(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with(TEMP))))
}

/// Whether a stage or a journal of a write cut short lies next to `out` (`pending` without
/// looking for temporaries inside it).
pub fn interrupted(out: &Path) -> anyhow::Result<bool> {
    let journal = sibling(out, "pxebake-journal")?;
    Ok([sibling(out, "pxebake-stage")?, journal_tmp(&journal), journal].iter().any(|p| p.symlink_metadata().is_ok()))
}

fn journal_tmp(journal: &Path) -> PathBuf {
    journal.with_extension("pxebake-journal.tmp")
}

/// Removes temporaries and empty directories under `dir`; returns whether `dir` is now empty.
fn remove_debris(root: &Path, dir: &Path) -> anyhow::Result<bool> {
    let mut empty = true;
    let rd = std::fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    for e in rd {
        let e = e.with_context(|| format!("cannot read `{}`", dir.display()))?;
        let path = e.path();
        let ft = e.file_type().with_context(|| format!("cannot inspect `{}`", path.display()))?;
        if ft.is_dir() {
            if remove_debris(root, &path)? {
                std::fs::remove_dir(&path).with_context(|| format!("cannot remove `{}`", path.display()))?;
            } else {
                empty = false;
            }
        } else if e.file_name().as_bytes().starts_with(TEMP.as_bytes()) {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove `{}`", path.display()))?;
        } else {
            empty = false;
        }
    }
    Ok(empty && dir != root)
}

/// Writes `tree` to `out`. `changes` must come from `diff::compare(tree, out, ..)` after `recover`.
/// `pb` counts the files written (a hidden bar when nobody watches).
pub fn write(tree: &Tree, out: &Path, changes: &Changes, stop: &AtomicBool, pb: &ProgressBar) -> anyhow::Result<Stats> {
    check_replaceable(out)?;
    if !changes.odd_names.is_empty() {
        bail!(
            "`{}` holds names pxebake does not write and cannot remove safely: {}; remove them by hand",
            out.display(),
            changes.odd_names.join(", ")
        );
    }
    let removed = changes.count(Change::Removed);
    let unchanged = changes.unchanged.len();
    if changes.is_empty() && out.join(MARKER).exists() {
        // Files found unchanged by content, or hosts rendered again (their input digests are
        // new), make a new manifest.
        if changes.quick != unchanged || tree.kept_hosts < tree.hosts.len() {
            manifest::save(out, tree, &changes.digests, changes.structure)?;
        }
        return Ok(Stats { written: 0, unchanged, removed: 0 });
    }
    let written = if out.join(MARKER).exists() && !needs_restructure(out, changes) {
        pb.set_length(changes.paths.len() as u64);
        in_place(tree, out, changes, stop, pb)?
    } else {
        // The manifest describes the old tree; it must not outlive a swap that is cut short.
        manifest::remove(out);
        pb.set_length(tree.entries.len() as u64);
        staged(tree, out, &changes.unchanged, stop, pb)?
    };
    manifest::save(out, tree, &changes.digests, changes.structure)?;
    kill_point();
    Ok(Stats { written, unchanged, removed })
}

/// Would writing in place need a file turned into a directory or back?
fn needs_restructure(out: &Path, changes: &Changes) -> bool {
    changes.paths.iter().any(|(p, c)| {
        *c != Change::Removed
            && (std::fs::symlink_metadata(out.join(p)).is_ok_and(|m| m.is_dir())
                || parents(p).any(|d| std::fs::symlink_metadata(out.join(d)).is_ok_and(|m| !m.is_dir())))
    })
}

fn temp_of(rel: &str) -> String {
    match rel.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/{TEMP}{name}"),
        None => format!("{TEMP}{rel}"),
    }
}

/// The two-phase in-place write; returns how many files were written.
fn in_place(tree: &Tree, out: &Path, changes: &Changes, stop: &AtomicBool, pb: &ProgressBar) -> anyhow::Result<usize> {
    let to_write: Vec<&str> =
        changes.paths.iter().filter(|(_, c)| *c != Change::Removed).map(|(p, _)| p.as_str()).collect();
    // New directories, shallowest first, so a failure can remove exactly those.
    let mut created: Vec<PathBuf> = Vec::new();
    let needed: BTreeSet<&str> = to_write.iter().flat_map(|p| parents(p)).collect();
    let prepare = (|| -> anyhow::Result<()> {
        for d in needed {
            let path = out.join(d);
            if !path.exists() {
                make_dir(&path)?;
                created.push(path);
            }
        }
        to_write.par_iter().try_for_each(|rel| {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let entry = tree.entries.get(*rel).context("planned entry missing")?;
            let tmp = out.join(temp_of(rel));
            let _ = std::fs::remove_file(&tmp);
            place(entry, &tmp)?;
            pb.inc(1);
            Ok(())
        })?;
        // The journal may name only temporaries that survive a power cut.
        sync_fs(out)
    })();
    // Before the commit point a failure undoes the prepare: `out` is then exactly as it was.
    let undo = |e: anyhow::Error| {
        to_write.par_iter().for_each(|rel| {
            let _ = std::fs::remove_file(out.join(temp_of(rel)));
        });
        for d in created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
        e.context(format!("`{}` was left as it was", out.display()))
    };
    prepare.map_err(undo)?;
    // Commit: from here on the write is finished, by this process or by the next one's `recover`.
    let (jpath, journal) = write_journal(out, changes).map_err(undo)?;
    replay(out, &journal, true).with_context(|| {
        format!(
            "`{}` is half updated: the write was committed in `{}`; run the build again to finish it",
            out.display(),
            jpath.display()
        )
    })?;
    // The renames must be durable before the journal that would redo them goes.
    sync_fs(out)?;
    std::fs::remove_file(&jpath).with_context(|| format!("cannot remove `{}`", jpath.display()))?;
    kill_point();
    Ok(to_write.len())
}

/// Writes and syncs the journal of a prepared write: the commit point.
fn write_journal(out: &Path, changes: &Changes) -> anyhow::Result<(PathBuf, String)> {
    // Renames first: a removal may name a stale temporary of a file that is also renamed.
    let mut journal = String::new();
    for (p, _) in changes.paths.iter().filter(|(_, c)| *c != Change::Removed) {
        journal.push_str(&format!("R {p}\n"));
    }
    for (p, _) in changes.paths.iter().filter(|(_, c)| *c == Change::Removed) {
        journal.push_str(&format!("D {p}\n"));
    }
    journal.push_str(JOURNAL_END);
    journal.push('\n');
    let jpath = sibling(out, "pxebake-journal")?;
    manifest::remove(out);
    // Written whole under a temporary name, then renamed: a journal is complete or absent.
    let tmp = journal_tmp(&jpath);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(journal.as_bytes()).and_then(|()| f.sync_all()))
        .with_context(|| format!("cannot write the journal `{}`", tmp.display()));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    kill_point();
    if let Err(e) = std::fs::rename(&tmp, &jpath) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write the journal `{}`", jpath.display()));
    }
    if let Err(e) = sync_dir(jpath.parent().unwrap_or(Path::new("."))) {
        // Not durable, so not committed: take it back, and the caller undoes the prepare.
        std::fs::remove_file(&jpath).with_context(|| format!("cannot remove `{}`", jpath.display()))?;
        return Err(e);
    }
    kill_point();
    Ok((jpath, journal))
}

/// A journal found on disk may have been planted: replay it only when every line is an operation
/// pxebake writes on a path that stays inside `out` (relative, no `.`/`..`, no symlinked
/// directory on the way: a removal or rename through one would act outside the tree).
fn check_journal(out: &Path, journal: &str) -> anyhow::Result<()> {
    for (i, line) in journal.lines().enumerate() {
        let n = i + 1;
        let shown = crate::names::printable(line);
        if line == JOURNAL_END {
            continue;
        }
        let Some(("R" | "D", rel)) = line.split_once(' ') else {
            bail!("line {n} `{shown}` is not `R PATH` or `D PATH`");
        };
        let bad = rel.is_empty()
            || rel.starts_with('/')
            || rel.chars().any(char::is_control)
            || rel.split('/').any(|c| c.is_empty() || c == "." || c == "..");
        if bad {
            bail!("line {n} names `{shown}`, which leaves the tree");
        }
        for dir in parents(rel) {
            if std::fs::symlink_metadata(out.join(dir)).is_ok_and(|m| m.file_type().is_symlink()) {
                bail!("line {n} names `{shown}`, which goes through the symlink `{dir}` and may leave the tree");
            }
        }
    }
    Ok(())
}

/// Applies a journal. Replays after a crash (`strict` false) are idempotent: a rename whose
/// temporary is gone was done before. In the writing process itself, a missing temporary is a bug.
fn replay(out: &Path, journal: &str, strict: bool) -> anyhow::Result<()> {
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for line in journal.lines() {
        let Some((op, rel)) = line.split_once(' ') else { continue };
        let path = out.join(rel);
        match op {
            "R" => {
                let tmp = out.join(temp_of(rel));
                if tmp.symlink_metadata().is_ok() {
                    std::fs::rename(&tmp, &path).with_context(|| format!("cannot rename into `{}`", path.display()))?;
                    kill_point();
                } else if strict {
                    bail!("prepared file `{}` disappeared before the commit", tmp.display());
                }
            }
            "D" => {
                match std::fs::remove_file(&path) {
                    Ok(()) => kill_point(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("cannot remove `{}`", path.display())),
                }
                dirs.extend(parents(rel).map(|d| out.join(d)));
            }
            _ => {}
        }
    }
    // Directories left empty by removals go too (deepest first); non-empty ones stay.
    for d in dirs.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    Ok(())
}

/// The stage of a whole-tree write into a fresh `out/` (absent or empty), filled while the tree
/// is rendered: each host's files are written as soon as they are rendered instead of being held
/// in memory until the write (`Entry::Staged`), and `staged` then only places the rest. Made
/// under the build lock, after `recover`; removed when dropped, so a build that fails or is
/// interrupted leaves `out/` as it was; a kill leaves it to the next `recover`, like any stage.
pub struct Stage {
    dir: PathBuf,
}

impl Stage {
    /// Makes the stage of `out` (fails if one is there: `recover` removes stale ones first).
    pub fn create(out: &Path) -> anyhow::Result<Stage> {
        let dir = sibling(out, "pxebake-stage")?;
        make_dir(&dir).with_context(|| format!("cannot create stage `{}`", dir.display()))?;
        Ok(Stage { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `bytes` under each of `paths` (of the tree): once, the other names hard-linked.
    /// Returns each path's entry, or None where the stage cannot take it (a path another output
    /// writes too, a file where a directory is needed, a failed write): the caller keeps those
    /// bytes in memory, and the plan reports the clash, or `staged` places them (or says why not).
    pub fn put(&self, bytes: &[u8], paths: &[&str]) -> Vec<Option<Entry>> {
        let mut first: Option<(PathBuf, manifest::Rec)> = None;
        let linked = paths.len() > 1;
        paths
            .iter()
            .map(|rel| {
                let dest = self.dir.join(rel);
                let rec = match &first {
                    None => {
                        let rec = self.write_file(rel, &dest, bytes).ok()?;
                        first = Some((dest, rec));
                        rec
                    }
                    Some((src, rec)) => {
                        self.parents_then(rel, || std::fs::hard_link(src, &dest)).ok()?;
                        kill_point();
                        *rec
                    }
                };
                Some(Entry::Staged { rec, linked })
            })
            .collect()
    }

    /// A new file at `dest` holding `bytes`, 0644 whatever the umask; its record from its `fstat`.
    fn write_file(&self, rel: &str, dest: &Path, bytes: &[u8]) -> std::io::Result<manifest::Rec> {
        use std::os::unix::fs::MetadataExt as _;
        let open = || std::fs::File::options().write(true).create_new(true).mode(FILE_MODE).open(dest);
        let mut f = self.parents_then(rel, open)?;
        f.write_all(bytes)?;
        if umask().is_none_or(|m| m & FILE_MODE != 0) {
            f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
        }
        let meta = f.metadata()?;
        kill_point();
        let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        Ok(manifest::Rec { digest: manifest::file_digest(bytes), size: meta.len(), mtime_ns, ino: meta.ino() })
    }

    /// Runs `op`; when a directory of `rel` is missing, makes the directories and runs it again.
    fn parents_then<T>(&self, rel: &str, op: impl Fn() -> std::io::Result<T>) -> std::io::Result<T> {
        match op() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                for d in parents(rel) {
                    let dir = self.dir.join(d);
                    // Other workers make the same directories at the same time.
                    match std::fs::create_dir(&dir) {
                        Ok(()) => {
                            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(DIR_MODE))?;
                            kill_point();
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
                op()
            }
            r => r,
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        // After a write the stage was swapped into place and is gone; otherwise `out` is as it was.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a write of `tree` into a fresh `out` (absent or empty) changes: every path is added.
/// The paths are not listed one by one (`staged` writes the whole tree whatever they are), and
/// staged files carry their own records for the manifest.
pub fn fresh_changes<'a>(tree: &'a Tree, context: &str) -> Changes<'a> {
    let digests = tree
        .entries
        .iter()
        .filter(|(_, e)| !matches!(e, Entry::Staged { .. } | Entry::Kept(_)))
        .map(|(p, e)| (p.as_str(), manifest::digest(e)))
        .collect();
    Changes { digests, structure: manifest::structure(tree, context), ..Changes::default() }
}

/// Builds the whole tree in a hidden sibling and renames it into place; returns files written.
fn staged(
    tree: &Tree,
    out: &Path,
    unchanged: &Unchanged,
    stop: &AtomicBool,
    pb: &ProgressBar,
) -> anyhow::Result<usize> {
    let stage = sibling(out, "pxebake-stage")?;
    let result = stage_tree(tree, out, &stage, unchanged, stop, pb).and_then(|written| {
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        // The new tree must be durable before it becomes the tree.
        sync_fs(&stage)?;
        swap(&stage, out)?;
        kill_point();
        Ok(written)
    });
    // After a swap the stage holds the old tree; after a failure, the partial new one.
    let _ = std::fs::remove_dir_all(&stage);
    result.with_context(|| format!("`{}` was left as it was", out.display()))
}

fn stage_tree(
    tree: &Tree,
    out: &Path,
    stage: &Path,
    unchanged: &Unchanged,
    stop: &AtomicBool,
    pb: &ProgressBar,
) -> anyhow::Result<usize> {
    // A stage that rendering filled already (`Stage`) holds some of the files and directories.
    let filled = tree.stage.as_deref() == Some(stage);
    if !filled {
        make_dir(stage).with_context(|| format!("cannot create stage `{}`", stage.display()))?;
    }
    let dirs: BTreeSet<&str> = tree.entries.keys().flat_map(|p| parents(p)).collect();
    for d in &dirs {
        if !(filled && std::fs::symlink_metadata(stage.join(d)).is_ok_and(|m| m.is_dir())) {
            make_dir(&stage.join(d))?;
        }
    }
    let marker = "This directory is written by pxebake; every build makes it hold exactly the planned tree.\n";
    place(&Entry::File(marker.as_bytes().into()), &stage.join(MARKER))?;
    // Files rendering wrote into the stage are there already.
    let already = |e: &Entry| filled && matches!(e, Entry::Staged { .. });
    let staged = tree.entries.values().filter(|e| already(e)).count();
    pb.inc(staged as u64);
    // In the tree's order, as `unchanged` marks them.
    let entries: Vec<(&String, &Entry)> = tree.entries.iter().collect();
    let written: Vec<usize> = entries
        .par_iter()
        .enumerate()
        .filter(|(_, (_, entry))| !already(entry))
        .map(|(i, &(rel, entry))| {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let dest = stage.join(rel);
            if unchanged.at(i) && !matches!(entry, Entry::Symlink(_)) {
                let cur = out.join(rel);
                std::fs::hard_link(&cur, &dest)
                    .with_context(|| format!("cannot link `{}` to `{}`", cur.display(), dest.display()))?;
                kill_point();
                pb.inc(1);
                return Ok(0);
            }
            place(entry, &dest)?;
            pb.inc(1);
            Ok(usize::from(!unchanged.at(i)))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(staged + written.into_iter().sum::<usize>())
}

/// Makes one entry at `dest`: files 0644 whatever the umask; image files are hard links to the
/// cache's read-only copies.
fn place(entry: &Entry, dest: &Path) -> anyhow::Result<()> {
    let mode = || {
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(FILE_MODE))
            .with_context(|| format!("cannot set the mode of `{}`", dest.display()))
    };
    match entry {
        Entry::File(bytes) => {
            let mut f = std::fs::File::options()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(FILE_MODE)
                .open(dest)
                .with_context(|| format!("cannot create `{}`", dest.display()))?;
            f.write_all(bytes).with_context(|| format!("cannot write `{}`", dest.display()))?;
            // Created with FILE_MODE; only a umask that takes bits away needs one more call.
            if umask().is_none_or(|m| m & FILE_MODE != 0) {
                f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
                    .with_context(|| format!("cannot set the mode of `{}`", dest.display()))?;
            }
        }
        Entry::Symlink(target) => {
            std::os::unix::fs::symlink(target, dest)
                .with_context(|| format!("cannot create symlink `{}`", dest.display()))?;
        }
        // Only an unchanged file is kept; it changed on disk after planning.
        Entry::Kept(_) => bail!("`{}` changed while the build was planning; run the build again", dest.display()),
        // Its bytes are only in the stage it was written to.
        Entry::Staged { .. } => bail!("`{}` was written to a stage that is gone; run the build again", dest.display()),
        Entry::Link(src) if std::fs::hard_link(src, dest).is_ok() => {}
        Entry::Copy(src) | Entry::Link(src) => {
            std::fs::copy(src, dest)
                .with_context(|| format!("cannot copy `{}` to `{}`", src.display(), dest.display()))?;
            // The source's mtime, so an unchanged copy is recognised by size and mtime.
            let mtime = std::fs::metadata(src)?.modified()?;
            std::fs::File::options().write(true).open(dest)?.set_modified(mtime)?;
            if matches!(entry, Entry::Copy(_)) {
                mode()?;
            }
        }
    }
    kill_point();
    Ok(())
}

/// The process's umask, read without changing it (Linux 4.7+); None when unknown.
fn umask() -> Option<u32> {
    static UMASK: OnceLock<Option<u32>> = OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let value = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(value.trim(), 8).ok()
    })
}

/// `a/b/c` -> `a`, `a/b`.
fn parents(p: &str) -> impl Iterator<Item = &str> {
    p.match_indices('/').map(move |(i, _)| &p[..i])
}

/// Puts `stage` in place of `out` in one step.
fn swap(stage: &Path, out: &Path) -> anyhow::Result<()> {
    if !out.exists() {
        return std::fs::rename(stage, out)
            .with_context(|| format!("cannot move `{}` to `{}`", stage.display(), out.display()));
    }
    let a = CString::new(stage.as_os_str().as_bytes())?;
    let b = CString::new(out.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 only reads them.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        bail!("cannot swap the new tree into `{}`: {err}", out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::diff;

    fn tree(files: &[(&str, &str)]) -> Tree {
        let mut t = Tree::default();
        for (p, c) in files {
            t.entries.insert(p.to_string(), Entry::File(c.as_bytes().to_vec().into()));
        }
        t
    }

    fn read_all(out: &Path) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = diff::existing(out)
            .into_iter()
            .filter(|p| p != MARKER)
            .map(|p| {
                let c = std::fs::read_to_string(out.join(&p)).unwrap();
                (p, c)
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_stage_writes_bytes_once_under_every_name_and_takes_no_path_twice() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let stage = Stage::create(&out).unwrap();
        let put = stage.put(b"cfg\n", &["t/a/ip", "t/a/mac"]);
        let meta = std::fs::metadata(stage.dir().join("t/a/ip")).unwrap();
        let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        let rec = manifest::Rec { digest: manifest::file_digest(b"cfg\n"), size: 4, mtime_ns, ino: meta.ino() };
        assert_eq!(put, [Some(Entry::Staged { rec, linked: true }), Some(Entry::Staged { rec, linked: true })]);
        assert_eq!(std::fs::read(stage.dir().join("t/a/mac")).unwrap(), b"cfg\n");
        assert_eq!(meta.mode() & 0o7777, FILE_MODE);
        assert_eq!(std::fs::metadata(stage.dir().join("t/a")).unwrap().mode() & 0o7777, DIR_MODE);
        // A path written already, and a file where a directory is needed: left to the caller.
        assert_eq!(stage.put(b"other\n", &["t/a/ip", "t/a/ip/x", "t/b"])[..2], [None, None]);
        assert_eq!(std::fs::read(stage.dir().join("t/a/ip")).unwrap(), b"cfg\n", "the first write stays");
        // Dropped before a write swaps it into place: gone, and `out` was never made.
        let path = stage.dir().to_path_buf();
        drop(stage);
        assert!(!path.exists() && !out.exists());
    }

    #[test]
    fn a_commit_cut_short_is_finished_by_the_next_build() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let stop = AtomicBool::new(false);
        let old = tree(&[("a/keep", "k"), ("a/change", "1"), ("b/gone", "g")]);
        let changes = diff::compare(&old, &out, "");
        write(&old, &out, &changes, &stop, &ProgressBar::hidden()).unwrap();

        let new = tree(&[("a/keep", "k"), ("a/change", "2"), ("c/new", "n")]);
        let changes = diff::compare(&new, &out, "");
        assert_eq!(changes.unchanged.len(), 1);
        // Prepare and commit the journal, then "crash" before replaying it.
        let to_write = ["a/change", "c/new"];
        std::fs::create_dir(out.join("c")).unwrap();
        for p in to_write {
            place(&new.entries[p], &out.join(temp_of(p))).unwrap();
        }
        write_journal(&out, &changes).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a/change")).unwrap(), "1", "not applied yet");

        recover(&out).unwrap();
        assert_eq!(
            read_all(&out),
            [("a/change".into(), "2".into()), ("a/keep".into(), "k".into()), ("c/new".into(), "n".into())]
        );
        assert!(!out.join("b").exists(), "emptied directories go");
        assert!(!sibling(&out, "pxebake-journal").unwrap().exists());
        // Replaying twice changes nothing.
        recover(&out).unwrap();
        assert_eq!(read_all(&out).len(), 3);
    }

    #[test]
    fn a_prepare_cut_short_is_undone_by_recover() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let stop = AtomicBool::new(false);
        let old = tree(&[("a/x", "1")]);
        write(&old, &out, &diff::compare(&old, &out, ""), &stop, &ProgressBar::hidden()).unwrap();
        // Temporaries, a directory made for a new file, and a journal that never got its end line
        // (as if written by something that died before the commit point).
        std::fs::write(out.join(temp_of("a/x")), "2").unwrap();
        std::fs::create_dir_all(out.join("b/c")).unwrap();
        std::fs::write(out.join("b/c").join(format!("{TEMP}y")), "new").unwrap();
        let journal = sibling(&out, "pxebake-journal").unwrap();
        std::fs::write(&journal, "R a/x\n").unwrap();
        std::fs::write(journal_tmp(&journal), "R a/x\nend\n").unwrap();
        assert!(pending(&out).unwrap());
        recover(&out).unwrap();
        assert_eq!(read_all(&out), [("a/x".into(), "1".into())]);
        assert!(!out.join("b").exists(), "directories made for the prepare go");
        assert!(!journal.exists() && !journal_tmp(&journal).exists());
        assert!(!pending(&out).unwrap());
    }

    #[test]
    fn recover_leaves_a_directory_pxebake_did_not_write_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        std::fs::write(dir.path().join(format!("{TEMP}mine")), "x").unwrap();
        recover(dir.path()).unwrap();
        assert!(dir.path().join("empty").is_dir());
        assert!(dir.path().join(format!("{TEMP}mine")).is_file());
    }

    #[test]
    fn a_prepare_cut_short_before_a_change_still_lets_the_change_through() {
        // A killed build left the temporary of a file that the next build changes too.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let stop = AtomicBool::new(false);
        let t = tree(&[("a/x", "1")]);
        write(&t, &out, &diff::compare(&t, &out, ""), &stop, &ProgressBar::hidden()).unwrap();
        std::fs::write(out.join(temp_of("a/x")), "half").unwrap();
        let t = tree(&[("a/x", "2")]);
        let changes = diff::compare(&t, &out, "");
        write(&t, &out, &changes, &stop, &ProgressBar::hidden()).unwrap();
        assert_eq!(read_all(&out), [("a/x".into(), "2".into())]);
        // And the manifest now vouches for the right content.
        let again = diff::compare(&t, &out, "");
        assert!(again.is_empty() && again.quick == 1);
    }

    #[test]
    fn a_prepare_cut_short_leaves_debris_the_next_build_removes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let stop = AtomicBool::new(false);
        let t = tree(&[("a/x", "1")]);
        write(&t, &out, &diff::compare(&t, &out, ""), &stop, &ProgressBar::hidden()).unwrap();
        std::fs::write(out.join(temp_of("a/x")), "half").unwrap();
        let changes = diff::compare(&t, &out, "");
        assert_eq!(changes.paths, [(temp_of("a/x"), diff::Change::Removed)]);
        write(&t, &out, &changes, &stop, &ProgressBar::hidden()).unwrap();
        assert_eq!(read_all(&out), [("a/x".into(), "1".into())]);
    }
}
