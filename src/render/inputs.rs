//! Input digests: what a host's files are rendered from, so a rebuild can keep the files of a
//! host whose inputs did not change without rendering or reading them.
//!
//! A host's digest covers the pxebake binary, every template's source, the site-wide data any
//! template can read (site, networks, images, bootactions, appliances, attributes, `files` rules,
//! the inventory's `files/` directory for Butane `local`), the whole host list when a template
//! reads `hosts`, and the host itself with its merged attributes. Anything else a host's files
//! could depend on would be a bug here; when in doubt a value goes into the site part.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::inventory::{Host, Inventory};

fn finish(h: Sha256) -> u128 {
    let d = h.finalize();
    u128::from_le_bytes(d[..16].try_into().unwrap_or([0; 16]))
}

fn part(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The running binary's size and mtime: a rebuilt binary may render differently under the
/// same version.
pub fn binary_id() -> String {
    use std::os::unix::fs::MetadataExt;
    match std::env::current_exe().ok().and_then(|p| std::fs::metadata(p).ok()) {
        Some(m) => format!("{} {} {}", m.len(), m.mtime(), m.mtime_nsec()),
        None => String::new(),
    }
}

/// The part every host shares.
pub fn site(inv: &Inventory, templates: &[u8; 32], uses_hosts: bool) -> u128 {
    let mut h = Sha256::new();
    part(&mut h, env!("CARGO_PKG_VERSION").as_bytes());
    part(&mut h, binary_id().as_bytes());
    part(&mut h, templates);
    let site_wide = format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        inv.site, inv.networks, inv.images, inv.bootactions, inv.appliances, inv.attributes, inv.files
    );
    part(&mut h, site_wide.as_bytes());
    files_dir(&mut h, &inv.dir.join("files"), 0);
    if uses_hosts {
        for host in &inv.hosts {
            part(&mut h, format!("{host:?}").as_bytes());
        }
    }
    finish(h)
}

/// Every file under the inventory's `files/` (names, sizes, mtimes; contents are read by Butane).
fn files_dir(h: &mut Sha256, dir: &Path, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let meta = std::fs::metadata(&path).ok();
        use std::os::unix::fs::MetadataExt;
        let id = meta.as_ref().map(|m| format!("{} {} {} {}", m.len(), m.mtime(), m.mtime_nsec(), m.ino()));
        part(h, format!("{} {id:?}", path.display()).as_bytes());
        if meta.is_some_and(|m| m.is_dir()) && depth < 16 {
            files_dir(h, &path, depth + 1);
        }
    }
}

/// Digests of the hosts' attribute maps, one per distinct (shared) map.
pub fn attributes(inv: &Inventory) -> HashMap<usize, [u8; 32]> {
    let mut out = HashMap::new();
    for host in &inv.hosts {
        out.entry(Arc::as_ptr(&host.attributes) as usize).or_insert_with(|| {
            let json = serde_json::to_vec(&*host.attributes).unwrap_or_default();
            Sha256::digest(&json).into()
        });
    }
    out
}

/// One host's digest: the site part, the host (every field templates see) and its attributes.
pub fn host(site: u128, attributes: &HashMap<usize, [u8; 32]>, host: &Host) -> u128 {
    let mut h = Sha256::new();
    h.update(site.to_le_bytes());
    part(&mut h, &serde_json::to_vec(host).unwrap_or_default());
    match attributes.get(&(Arc::as_ptr(&host.attributes) as usize)) {
        Some(a) => h.update(a),
        None => part(&mut h, &serde_json::to_vec(&*host.attributes).unwrap_or_default()),
    }
    finish(h)
}
