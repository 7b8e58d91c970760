//! `pxebake fetch --bundle DIR`: everything an air-gapped site needs to build with images.
//!
//! DIR gets `<image>/<version>/<file>` and `<file>.sig` (the layout `--mirror` reads), the key
//! files under `keys/`, the lock of the bundled files as `images.lock`, and a README. At the
//! site, `pxebake build --mirror DIR --offline` verifies every file again with the keys of the
//! site's own inventory: the bundle is carried, not trusted.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use super::lock::{self, Lock};
use super::Done;
use crate::inventory::Inventory;

const README: &str = "This directory was written by `pxebake fetch --bundle`. It holds OS image files with \
their detached OpenPGP signatures (<image>/<version>/<file> and <file>.sig), the public keys they verify \
with (keys/), and images.lock with the SHA-512 and signer of each file.

At the air-gapped site:  pxebake build --mirror THIS_DIR --offline
Every file is verified again there, against the keys in that site's inventory.
";

/// Writes the bundle (hard links from the cache where possible, copies otherwise).
pub fn write(dir: &Path, inv: &Inventory, done: &[Done]) -> anyhow::Result<()> {
    if inv.images.contains_key("keys") {
        bail!("an image named `keys` would collide with the bundle's `keys/` directory; rename the image");
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create bundle directory `{}`", dir.display()))?;
    let mut lock = Lock::default();
    for d in done {
        let sub = dir.join(&d.entry.image).join(&d.entry.version);
        fs::create_dir_all(&sub).with_context(|| format!("cannot create `{}`", sub.display()))?;
        link_or_copy(&d.file, &sub.join(&d.entry.file))?;
        link_or_copy(&d.sig, &sub.join(format!("{}.sig", d.entry.file)))?;
        lock.files.insert(d.entry.id(), d.entry.clone());
    }
    // Key files by name; two different files with one name get the image name in front.
    let mut keys: BTreeMap<String, PathBuf> = BTreeMap::new();
    for d in done {
        let name = d.key.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "key.asc".into());
        match keys.get(&name) {
            Some(p) if *p == d.key => {}
            Some(_) => {
                keys.insert(format!("{}-{name}", d.entry.image), d.key.clone());
            }
            None => {
                keys.insert(name, d.key.clone());
            }
        }
    }
    let kdir = dir.join("keys");
    fs::create_dir_all(&kdir).with_context(|| format!("cannot create `{}`", kdir.display()))?;
    for (name, from) in &keys {
        fs::copy(from, kdir.join(name))
            .with_context(|| format!("cannot copy key `{}` into `{}`", from.display(), kdir.display()))?;
    }
    lock.write(&dir.join(lock::FILE_NAME))?;
    fs::write(dir.join("README.txt"), README).with_context(|| format!("cannot write `{}`", dir.display()))?;
    Ok(())
}

fn link_or_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    match fs::symlink_metadata(to) {
        Ok(_) => fs::remove_file(to).with_context(|| format!("cannot replace `{}`", to.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot inspect `{}`", to.display())),
    }
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to).with_context(|| format!("cannot copy `{}` to `{}`", from.display(), to.display()))?;
    }
    Ok(())
}
