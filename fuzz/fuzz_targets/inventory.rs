//! The inventory loader: any bytes as one inventory file must give a model or problems, never
//! a crash, a hang or a blow-up.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let dir = std::path::Path::new("/nonexistent-pxebake-fuzz");
    let mut d = pxebake::diag::Diagnostics::default();
    let mut sources = Vec::new();
    match pxebake::yaml::Node::parse_inventory(text) {
        Ok(root) => sources.push(pxebake::inventory::Source { name: "fuzz.yaml".into(), root }),
        Err(e) => d.error("fuzz.yaml", e.line, e.message),
    }
    let _ = pxebake::inventory::validate(dir, &sources, d);
});
