//! Reading the user's input files (inventory, templates) so that no entry is skipped or hangs.
//!
//! A dangling link (an unmounted share), a link loop, a FIFO or a directory where a file is
//! expected must be an error naming it: passing over it silently would delete that part of the site
//! from `out/`, and reading a FIFO would block forever. Files are opened without blocking,
//! checked to be regular files, and read up to a size bound.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// A problem reading one input file: the message, and the line when the text is not UTF-8.
#[derive(Debug)]
pub struct Unreadable {
    pub line: Option<usize>,
    pub message: String,
}

fn fail(message: String) -> Unreadable {
    Unreadable { line: None, message }
}

/// What kind of thing a non-regular entry is, for messages.
fn kind(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Reads `path` as UTF-8 text of at most `max` bytes; it must be (or link to) a regular file.
pub fn read_text(path: &Path, max: usize) -> Result<String, Unreadable> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(|e| {
        let dangling = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let what =
            if dangling { "is a symlink that does not resolve (dangling, or a link loop)" } else { "cannot be opened" };
        fail(format!("{what}: {e}; fix or remove it"))
    })?;
    let meta = file.metadata().map_err(|e| fail(format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(fail(format!("is {}, not a regular file; remove it or rename it", kind(meta.file_type()))));
    }
    if meta.len() > max as u64 {
        return Err(fail(too_large(meta.len(), max)));
    }
    read_bounded(file, max)
}

fn too_large(len: u64, max: usize) -> String {
    format!("is {} MiB; pxebake reads input files of at most {} MiB: split it into several files", len >> 20, max >> 20)
}

fn read_bounded(file: File, max: usize) -> Result<String, Unreadable> {
    let mut bytes = Vec::new();
    // The file may grow after the size check: never read more than the bound.
    file.take(max as u64 + 1).read_to_end(&mut bytes).map_err(|e| fail(format!("cannot be read: {e}")))?;
    if bytes.len() > max {
        return Err(fail(too_large(bytes.len() as u64, max)));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = 1 + bytes[..valid].iter().filter(|b| **b == b'\n').count();
        let column = valid - bytes[..valid].iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1) + 1;
        Unreadable {
            line: Some(line),
            message: format!(
                "invalid UTF-8 (byte 0x{:02x} at column {column}); save the file as UTF-8",
                bytes.get(valid).copied().unwrap_or(0)
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_names_its_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.yaml");
        std::fs::write(&p, b"a: 1\nb: \xff\n").unwrap();
        let e = read_text(&p, 1000).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.message, "invalid UTF-8 (byte 0xff at column 4); save the file as UTF-8");
    }

    #[test]
    fn fifos_directories_and_dangling_links_are_errors_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f.yaml");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        assert!(read_text(&fifo, 10).unwrap_err().message.starts_with("is a FIFO, not a regular file"));
        std::fs::create_dir(dir.path().join("d.yaml")).unwrap();
        assert!(read_text(&dir.path().join("d.yaml"), 10).unwrap_err().message.starts_with("is a directory"));
        std::os::unix::fs::symlink("nowhere", dir.path().join("l.yaml")).unwrap();
        assert!(read_text(&dir.path().join("l.yaml"), 10).unwrap_err().message.contains("does not resolve"));
        std::fs::write(dir.path().join("big"), "x".repeat(11)).unwrap();
        assert!(read_text(&dir.path().join("big"), 10).unwrap_err().message.contains("at most"));
    }
}
