//! The planned tree: every path pxebake will write, and what goes there.
//!
//! Rendering produces a `Tree` in memory; checks run over it; `write` makes it real on disk
//! (atomically, touching only what changed); `diff` compares it with what is on disk.

pub mod diff;
pub mod dirs;
pub mod manifest;
pub mod stamp;
pub mod write;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A set of the tree's paths (or directories), hashed with foldhash rather than the default,
/// which resists flooding by crafted keys at several times the cost: at scale such a set is
/// built from 800,000 paths, and they come from the inventory the user builds with.
pub type PathSet<'a> = std::collections::HashSet<&'a str, foldhash::fast::RandomState>;

/// What one path in the tree holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A generated file (shared when the same bytes appear under several names).
    File(Arc<[u8]>),
    /// A relative symbolic link.
    Symlink(String),
    /// A file copied into the tree (bootloader binaries: never linked, so editing the tree can
    /// never change a system file).
    Copy(PathBuf),
    /// A verified file from the image cache, hard-linked (copied across filesystems): 400 MB
    /// initrds are not duplicated, and the cache re-verifies its files on every build.
    Link(PathBuf),
    /// A host's file whose inputs did not change since the last build: the file already in
    /// `out/`, as the manifest recorded it (digest, size, mtime, inode). Not rendered again and
    /// not read unless a lint needs it.
    Kept(manifest::Rec),
    /// A generated file already written into the stage of a whole-tree write (`write::Stage`),
    /// as it was written: its bytes are not kept in memory but read back from `Tree::stage`
    /// when a lint needs them. `linked`: the same bytes are hard-linked under other names too.
    Staged { rec: manifest::Rec, linked: bool },
}

/// Paths are relative to the tree root, `/`-separated, already checked to stay inside it.
#[derive(Debug, Default)]
pub struct Tree {
    pub entries: BTreeMap<String, Entry>,
    /// For files rendered from `files` rules: which template and host produced them (for messages).
    /// (files rule index, host index); see `render::rule_origin`.
    pub origins: BTreeMap<String, (u32, u32)>,
    /// What render already validated in rendered files (the Ignition a Butane template translates
    /// to): their problems, by `origins` value, sorted by it. The lint takes these instead of
    /// parsing and validating the same bytes again.
    pub checked: Vec<CheckedFile>,
    /// Every host's input digest and the paths it rendered (kept in the manifest).
    pub hosts: Vec<HostRecord>,
    /// How many hosts kept their files from the last build (not rendered).
    pub kept_hosts: usize,
    /// Where the `Entry::Staged` files are (the stage directory), when there are any.
    pub stage: Option<PathBuf>,
}

/// A rendered file's problems as render found them: its `origins` value, and the problems.
pub type CheckedFile = ((u32, u32), Box<[crate::check::schema::Problem]>);

/// What the manifest remembers of one host: a digest of everything its files are rendered from,
/// and their paths (space-separated: paths hold no spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    pub name: String,
    pub inputs: u128,
    pub paths: String,
}

impl Tree {
    pub fn files(&self) -> usize {
        self.entries.len()
    }
}

/// Hands memory freed in the worker threads' heaps back to the system: glibc keeps it for reuse,
/// but the large lists of a big plan are not made again once their contents moved on.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}
