//! The hostfile importer: any text as a CSV file, checked against the example site.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn site() -> &'static pxebake::inventory::Inventory {
    static SITE: OnceLock<pxebake::inventory::Inventory> = OnceLock::new();
    SITE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../inventory");
        pxebake::inventory::load(&dir).expect("the example inventory loads")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pxebake::hostfile::import("fuzz.csv", text, site(), Vec::new(), None);
    }
});
