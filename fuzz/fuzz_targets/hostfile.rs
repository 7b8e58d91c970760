//! The hostfile importer: any bytes as a CSV file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut f) = tempfile::NamedTempFile::new() else { return };
    if std::io::Write::write_all(&mut f, data).is_err() {
        return;
    }
    let _ = pxebake::hostfile::import(f.path(), None);
});
