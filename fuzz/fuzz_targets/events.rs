//! The events-log parser: every line is untrusted.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in String::from_utf8_lossy(data).lines() {
        let _ = pxebake::events::parse_line(line);
    }
});
