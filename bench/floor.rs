//! The file-creation floor of benches/scale.rs: what it costs to create a tree pxebake built,
//! with nothing but plain syscalls. The tree is first read into memory (paths, bytes, link
//! targets); then `write` creates the same directories (one thread, parents first), files
//! (`open(O_CREAT|O_EXCL)`, `write`, `close`, mode 0644) and symlinks from two threads into an
//! empty directory, and ends with one `syncfs`, as a build makes its tree durable before it
//! becomes the tree. No rendering, no comparing, no journal: a build cannot be cheaper.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub enum Item {
    File(Vec<u8>),
    Link(PathBuf),
}

/// A tree in memory: directories (parents first) and the files and links inside them.
pub struct Snapshot {
    pub dirs: Vec<PathBuf>,
    pub items: Vec<(PathBuf, Item)>,
}

impl Snapshot {
    pub fn bytes(&self) -> u64 {
        self.items.iter().map(|(_, i)| if let Item::File(b) = i { b.len() as u64 } else { 0 }).sum()
    }
}

/// Reads the tree under `root` into memory.
pub fn snapshot(root: &Path) -> Snapshot {
    let mut snap = Snapshot { dirs: Vec::new(), items: Vec::new() };
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let mut names: Vec<_> = fs::read_dir(root.join(&rel)).expect("read_dir").map(|e| e.expect("entry")).collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let r = rel.join(e.file_name());
            let t = e.file_type().expect("file type");
            if t.is_dir() {
                snap.dirs.push(r.clone());
                todo.push(r);
            } else if t.is_symlink() {
                snap.items.push((r, Item::Link(fs::read_link(e.path()).expect("read_link"))));
            } else {
                snap.items.push((r, Item::File(fs::read(e.path()).expect("read"))));
            }
        }
    }
    // Parents before children.
    snap.dirs.sort_by_key(|d| d.components().count());
    snap
}

/// Creates `snap` under `dest` (which must not exist) with `threads` writers; returns the time taken.
pub fn write(snap: &Snapshot, dest: &Path, threads: usize) -> Duration {
    let start = Instant::now();
    fs::create_dir(dest).expect("create floor directory");
    for d in &snap.dirs {
        fs::create_dir(dest.join(d)).expect("mkdir");
    }
    let chunk = snap.items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for part in snap.items.chunks(chunk) {
            s.spawn(move || {
                for (rel, item) in part {
                    let path = dest.join(rel);
                    match item {
                        Item::File(bytes) => {
                            let mut f = fs::OpenOptions::new()
                                .write(true)
                                .create_new(true)
                                .mode(0o644)
                                .open(&path)
                                .expect("create");
                            f.write_all(bytes).expect("write");
                        }
                        Item::Link(target) => std::os::unix::fs::symlink(target, &path).expect("symlink"),
                    }
                }
            });
        }
    });
    let dir = fs::File::open(dest).expect("open floor directory");
    // SAFETY: syncfs on a descriptor we own.
    unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) };
    start.elapsed()
}
