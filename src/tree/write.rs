//! Writing a planned tree: atomic as a whole, incremental in effect.
//!
//! The new tree is staged next to `out/` (same filesystem). Files that did not change are hard
//! links to the ones in the current tree, so they keep their inode and mtime (rsync's quick check
//! skips them); only changed files are written. The staged tree then replaces `out/` in one
//! `renameat2(RENAME_EXCHANGE)`, and the old tree is removed. A build that fails or is
//! interrupted before the exchange removes its stage and leaves `out/` as it was. When nothing
//! changed, nothing is staged or written at all.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context as _};
use rayon::prelude::*;

use super::diff::{self, Changes, MARKER};
use super::{Entry, Tree};

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
}

/// The staging directory for `out`: a hidden sibling, so the final rename stays on one filesystem.
fn stage_path(out: &Path) -> anyhow::Result<PathBuf> {
    let name = out.file_name().with_context(|| format!("output directory `{}` has no name", out.display()))?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{}.pxebake-stage", name.to_string_lossy())))
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

/// Writes `tree` to `out`. `changes` must come from `diff::compare(tree, out)`.
pub fn write(tree: &Tree, out: &Path, changes: &Changes, stop: &AtomicBool) -> anyhow::Result<Stats> {
    check_replaceable(out)?;
    let stage = stage_path(out)?;
    // A stage left by a killed build is debris: remove it first.
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("cannot remove stale stage `{}`", stage.display()))?;
    }
    let removed = changes.count(diff::Change::Removed);
    if changes.is_empty() && out.join(MARKER).exists() {
        return Ok(Stats { written: 0, unchanged: changes.unchanged.len(), removed: 0 });
    }
    let result = stage_tree(tree, out, &stage, &changes.unchanged, stop).and_then(|written| {
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted; `{}` was left as it was", out.display());
        }
        swap(&stage, out)?;
        Ok(written)
    });
    match result {
        Ok(written) => {
            // After the exchange the stage holds the old tree.
            let _ = std::fs::remove_dir_all(&stage);
            Ok(Stats { written, unchanged: changes.unchanged.len(), removed })
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&stage);
            Err(e)
        }
    }
}

fn stage_tree(
    tree: &Tree,
    out: &Path,
    stage: &Path,
    unchanged: &BTreeSet<String>,
    stop: &AtomicBool,
) -> anyhow::Result<usize> {
    std::fs::create_dir(stage).with_context(|| format!("cannot create stage `{}`", stage.display()))?;
    let dirs: BTreeSet<&str> = tree.entries.keys().flat_map(|p| parents(p)).collect();
    for d in &dirs {
        let path = stage.join(d);
        std::fs::create_dir(&path).with_context(|| format!("cannot create `{}`", path.display()))?;
    }
    std::fs::write(
        stage.join(MARKER),
        "This directory is written by pxebake; it is replaced as a whole on every build.\n",
    )
    .with_context(|| format!("cannot write into `{}`", stage.display()))?;
    let written: Vec<usize> = tree
        .entries
        .par_iter()
        .map(|(rel, entry)| {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted; `{}` was left as it was", out.display());
            }
            let dest = stage.join(rel);
            if unchanged.contains(rel) && !matches!(entry, Entry::Symlink(_)) {
                let cur = out.join(rel);
                std::fs::hard_link(&cur, &dest)
                    .with_context(|| format!("cannot link `{}` to `{}`", cur.display(), dest.display()))?;
                return Ok(0);
            }
            place(entry, &dest)?;
            Ok(usize::from(!unchanged.contains(rel)))
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
        Entry::Copy(src) => {
            if std::fs::hard_link(src, dest).is_err() {
                std::fs::copy(src, dest)
                    .with_context(|| format!("cannot copy `{}` to `{}`", src.display(), dest.display()))?;
                let mtime = std::fs::metadata(src)?.modified()?;
                std::fs::File::options().write(true).open(dest)?.set_modified(mtime)?;
            }
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
