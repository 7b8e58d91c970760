//! OS images: fetch, verify against pinned OpenPGP keys, cache, lock. (Being built: issue 3.)

use std::path::PathBuf;

use anyhow::bail;

use crate::bake::Ui;
use crate::cli::{FetchArgs, ImageSource};
use crate::inventory::Inventory;
use crate::tree::Entry;

/// Makes sure every image file the tree needs is verified in the cache, and returns the tree
/// entries that place them (`images/<image>/<version>/<file>` and the `http/images` view).
pub fn place(inv: &Inventory, source: &ImageSource, ui: &Ui) -> anyhow::Result<Vec<(String, Entry)>> {
    let _ = (inv, source, ui, PathBuf::new());
    bail!("image fetching is not implemented yet; run `pxebake build --no-images` to render everything else")
}

/// `pxebake fetch`.
pub fn fetch(args: &FetchArgs, ui: &Ui) -> anyhow::Result<()> {
    let _ = (args, ui);
    bail!("image fetching is not implemented yet")
}
