//! `pxebake fetch --bundle DIR`: everything an air-gapped site needs to build with images.
//!
//! DIR gets `<image>/<version>/<file>` and `<file>.sig` (the layout `--mirror` reads), the key
//! files under `keys/`, the site's bootloaders under `bootloaders/`, the lock of the bundled
//! files as `images.lock`, and a README. At the site, `pxebake build --mirror DIR --offline`
//! verifies every image file again with the keys of the site's own inventory, and takes the
//! bootloaders from the bundle (checked against the bundle's lock and the site's own): the
//! bundle is carried, not trusted, and the builder needs no Debian bootloader packages.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use super::loaders::{Pinned, BUNDLE_DIR};
use super::lock::{self, Lock};
use super::Done;
use crate::inventory::Inventory;

const README: &str = "This directory was written by `pxebake fetch --bundle`. It holds OS image files with \
their detached OpenPGP signatures (<image>/<version>/<file> and <file>.sig), the public keys they verify \
with (keys/), the bootloaders the site hands out (bootloaders/), and images.lock with the SHA-512 and \
signer of each image file and the SHA-256 and Debian package of each bootloader.

At the air-gapped site:  pxebake build --mirror THIS_DIR --offline
Every image file is verified again there, against the keys in that site's inventory; the bootloaders
are taken from here, so that builder needs no Debian bootloader packages.
";

/// Writes the bundle (hard links from the cache where possible, copies otherwise).
pub fn write(dir: &Path, inv: &Inventory, done: &[Done], loaders: Option<&Pinned>) -> anyhow::Result<()> {
    for taken in ["keys", BUNDLE_DIR] {
        if inv.images.contains_key(taken) {
            bail!("an image named `{taken}` would collide with the bundle's `{taken}/` directory; rename the image");
        }
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
    if let Some(l) = loaders {
        let ldir = dir.join(BUNDLE_DIR);
        fs::create_dir_all(&ldir).with_context(|| format!("cannot create `{}`", ldir.display()))?;
        for p in &l.loaders {
            link_or_copy(&p.file, &ldir.join(&p.entry.name))?;
        }
        lock.loaders = l.lock_entries();
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
