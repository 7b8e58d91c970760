//! The Butane translator (no files directory: `local` must fail cleanly).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let opts = pxebake::butane::Options { files_dir: None, strict: false };
        let _ = pxebake::butane::translate(text, &opts);
    }
});
