//! Inputs that once crashed a fuzz target (fuzz/regressions/<target>/), and the fuzz seeds,
//! replayed through the same entry points on every `cargo test`: each must give a result or
//! problems, never a panic.

use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["regressions", "seeds"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
        for e in entries.flatten() {
            out.push((e.path().display().to_string(), std::fs::read(e.path()).unwrap()));
        }
    }
    out
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

#[test]
fn inventory_inputs() {
    for (_, data) in inputs("inventory") {
        let Some(t) = text(&data) else { continue };
        let mut d = pxebake::diag::Diagnostics::default();
        let mut sources = Vec::new();
        match pxebake::yaml::Node::parse_inventory(t) {
            Ok(root) => sources.push(pxebake::inventory::Source { name: "fuzz.yaml".into(), root }),
            Err(e) => d.error("fuzz.yaml", e.line, e.message),
        }
        let _ = pxebake::inventory::validate(Path::new("/nonexistent"), &sources, d);
    }
}

#[test]
fn hostfile_inputs() {
    let cases = inputs("hostfile");
    assert!(!cases.is_empty(), "fuzz/seeds/hostfile is missing");
    let inv = pxebake::inventory::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory")).unwrap();
    for (name, data) in cases {
        let text = String::from_utf8_lossy(&data);
        let _ = pxebake::hostfile::import(&name, &text, &inv, Vec::new(), None);
    }
}

#[test]
fn validator_and_translator_inputs() {
    for (_, data) in inputs("cloud_config") {
        if let Some(t) = text(&data) {
            let _ = pxebake::check::cloud_config::validate(t);
        }
    }
    for (_, data) in inputs("ignition") {
        if let Some(t) = text(&data) {
            let _ = pxebake::check::ignition::validate(t);
        }
    }
    let butane = inputs("butane");
    assert!(!butane.is_empty(), "fuzz/seeds/butane is missing");
    for (name, data) in butane {
        let opts = pxebake::butane::Options { files_dir: None, strict: false };
        let r = pxebake::butane::translate(text(&data).unwrap_or(""), &opts);
        if name.contains("seeds") {
            // The seeds are valid Butane: they must translate, or the fuzzer starts from errors.
            assert!(r.is_ok(), "{name}: {:?}", r.err());
        }
    }
}

#[test]
fn events_inputs() {
    for (name, data) in inputs("events") {
        for line in String::from_utf8_lossy(&data).lines() {
            let r = pxebake::events::parse_line(line);
            if name.contains("seeds") {
                assert!(matches!(r, Ok(Some(_))), "{name}: {line}: {r:?}");
            }
        }
    }
}
