//! Writing a planned tree: atomic, and touching only what changed.
//!
//! Nothing changed: nothing is written. Otherwise the work is split in two phases:
//!
//! 1. **prepare** - every new or changed file is written under a temporary name next to its final
//!    one (`.pxebake-new.NAME`); a failure or Ctrl-C here removes the temporaries, and `out/` is
//!    exactly as it was;
//! 2. **commit** - a journal of renames and removals is written and synced next to `out/`, then
//!    applied. Each rename is atomic; if the process dies midway, the next build replays the
//!    journal first, so the tree always ends up either wholly old or wholly new.
//!
//! Unchanged files are never touched: they keep their inode and mtime, and rsync skips them. A
//! fresh `out/` (or a change of a file into a directory) is staged as a whole in a hidden sibling
//! directory and renamed into place instead, unchanged files hard-linked into the stage.

use std::collections::{BTreeSet, HashSet};
use std::ffi::CString;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context as _};
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::diff::{Change, Changes, MARKER};
use super::{manifest, Entry, Tree};

/// Prefix of the temporary names of the prepare phase.
pub const TEMP: &str = ".pxebake-new.";

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

/// Finishes a write that was interrupted after its commit began, and removes stale stages.
/// Call before comparing, so the comparison sees a whole tree.
pub fn recover(out: &Path) -> anyhow::Result<()> {
    let stage = sibling(out, "pxebake-stage")?;
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("cannot remove stale stage `{}`", stage.display()))?;
    }
    let journal = sibling(out, "pxebake-journal")?;
    if let Ok(text) = std::fs::read_to_string(&journal) {
        check_journal(out, &text).with_context(|| {
            format!(
                "refusing to replay `{}`: pxebake writes no such journal; delete it and build again",
                journal.display()
            )
        })?;
        manifest::remove(out);
        replay(out, &text, false).with_context(|| {
            format!(
                "cannot finish the write recorded in `{}` (a build was interrupted while committing); fix the cause, or delete it and `{}` and build again",
                journal.display(),
                out.display()
            )
        })?;
        std::fs::remove_file(&journal).with_context(|| format!("cannot remove `{}`", journal.display()))?;
    }
    Ok(())
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
        if changes.quick != unchanged {
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
                std::fs::create_dir(&path).with_context(|| format!("cannot create `{}`", path.display()))?;
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
        })
    })();
    if let Err(e) = prepare {
        to_write.par_iter().for_each(|rel| {
            let _ = std::fs::remove_file(out.join(temp_of(rel)));
        });
        for d in created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
        return Err(e.context(format!("`{}` was left as it was", out.display())));
    }
    // Commit: from here on the write is finished, by this process or by the next one's `recover`.
    let (jpath, journal) = write_journal(out, changes)?;
    replay(out, &journal, true)?;
    std::fs::remove_file(&jpath).with_context(|| format!("cannot remove `{}`", jpath.display()))?;
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
    let jpath = sibling(out, "pxebake-journal")?;
    manifest::remove(out);
    let mut f = std::fs::File::create(&jpath).with_context(|| format!("cannot write `{}`", jpath.display()))?;
    f.write_all(journal.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write `{}`", jpath.display()))?;
    Ok((jpath, journal))
}

/// A journal found on disk may have been planted: replay it only when every line is an operation
/// pxebake writes on a path that stays inside `out` (relative, no `.`/`..`, no symlinked
/// directory on the way: a removal or rename through one would act outside the tree).
fn check_journal(out: &Path, journal: &str) -> anyhow::Result<()> {
    for (i, line) in journal.lines().enumerate() {
        let n = i + 1;
        let shown = crate::names::printable(line);
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
                } else if strict {
                    bail!("prepared file `{}` disappeared before the commit", tmp.display());
                }
            }
            "D" => {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
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

/// Builds the whole tree in a hidden sibling and renames it into place; returns files written.
fn staged(
    tree: &Tree,
    out: &Path,
    unchanged: &HashSet<&str>,
    stop: &AtomicBool,
    pb: &ProgressBar,
) -> anyhow::Result<usize> {
    let stage = sibling(out, "pxebake-stage")?;
    let result = stage_tree(tree, out, &stage, unchanged, stop, pb).and_then(|written| {
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        swap(&stage, out)?;
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
    unchanged: &HashSet<&str>,
    stop: &AtomicBool,
    pb: &ProgressBar,
) -> anyhow::Result<usize> {
    std::fs::create_dir(stage).with_context(|| format!("cannot create stage `{}`", stage.display()))?;
    let dirs: BTreeSet<&str> = tree.entries.keys().flat_map(|p| parents(p)).collect();
    for d in &dirs {
        let path = stage.join(d);
        std::fs::create_dir(&path).with_context(|| format!("cannot create `{}`", path.display()))?;
    }
    std::fs::write(
        stage.join(MARKER),
        "This directory is written by pxebake; every build makes it hold exactly the planned tree.\n",
    )
    .with_context(|| format!("cannot write into `{}`", stage.display()))?;
    let written: Vec<usize> = tree
        .entries
        .par_iter()
        .map(|(rel, entry)| {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let dest = stage.join(rel);
            if unchanged.contains(rel.as_str()) && !matches!(entry, Entry::Symlink(_)) {
                let cur = out.join(rel);
                std::fs::hard_link(&cur, &dest)
                    .with_context(|| format!("cannot link `{}` to `{}`", cur.display(), dest.display()))?;
                pb.inc(1);
                return Ok(0);
            }
            place(entry, &dest)?;
            pb.inc(1);
            Ok(usize::from(!unchanged.contains(rel.as_str())))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(written.into_iter().sum())
}

/// Makes one entry at `dest`.
fn place(entry: &Entry, dest: &Path) -> anyhow::Result<()> {
    match entry {
        Entry::File(bytes) => {
            let mut f = std::fs::File::create(dest).with_context(|| format!("cannot create `{}`", dest.display()))?;
            f.write_all(bytes).with_context(|| format!("cannot write `{}`", dest.display()))?;
        }
        Entry::Symlink(target) => {
            std::os::unix::fs::symlink(target, dest)
                .with_context(|| format!("cannot create symlink `{}`", dest.display()))?;
        }
        Entry::Link(src) if std::fs::hard_link(src, dest).is_ok() => {}
        Entry::Copy(src) | Entry::Link(src) => {
            std::fs::copy(src, dest)
                .with_context(|| format!("cannot copy `{}` to `{}`", src.display(), dest.display()))?;
            // The source's mtime, so an unchanged copy is recognised by size and mtime.
            let mtime = std::fs::metadata(src)?.modified()?;
            std::fs::File::options().write(true).open(dest)?.set_modified(mtime)?;
        }
    }
    Ok(())
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
