//! HTTP downloads: connect and read timeouts, resume with `Range`, a progress callback.
//!
//! A download goes to a `.partial` file. When the connection drops mid-file, the next
//! request asks for the rest (`Range: bytes=N-`), in this run (a few attempts while each
//! one makes progress) or in the next one. Only `verify` decides what a file is worth; this
//! module only moves bytes.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ureq::config::AutoHeaderValue;
use ureq::Agent;

/// How many requests one download may take while each one still makes progress.
const ATTEMPTS: u32 = 5;

/// Why a download failed.
#[derive(Debug)]
pub enum Failure {
    /// HTTP 404 or 410.
    NotFound(u16),
    /// Any other unexpected HTTP status.
    Status(u16),
    /// The server could not be reached (name lookup, connect, TLS).
    Unreachable(String),
    /// The server stopped sending (timeout or closed connection) and retries made no progress.
    Cut { got: u64, total: Option<u64>, attempts: u32, why: String },
    /// The server sent more than expected.
    TooLarge { limit: u64 },
    /// Writing the partial file failed (disk full, permissions).
    Write { path: PathBuf, error: std::io::Error },
    /// Ctrl-C.
    Interrupted { got: u64 },
}

impl Failure {
    /// Whether this failure means the host was not reachable at all (the air-gap hint applies).
    pub fn unreachable(&self) -> bool {
        matches!(self, Failure::Unreachable(_))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotFound(code) => write!(f, "HTTP {code}: the server has no such file"),
            Failure::Status(code) if *code >= 500 => {
                write!(f, "HTTP {code}: server error; try again later or use another mirror")
            }
            Failure::Status(code) => write!(f, "HTTP {code}: unexpected response"),
            Failure::Unreachable(why) => write!(f, "cannot reach the server: {why}"),
            Failure::Cut { got, total, attempts, why } => {
                let total = total.map(|t| format!(" of {t}")).unwrap_or_default();
                write!(
                    f,
                    "the download stopped at {got}{total} bytes after {attempts} attempt{} ({why}); the partial file is kept and the next run resumes it",
                    if *attempts == 1 { "" } else { "s" }
                )
            }
            Failure::TooLarge { limit } => {
                write!(f, "the server sends more than the {limit} bytes pinned in images.lock")
            }
            Failure::Write { path, error } => {
                write!(f, "cannot write `{}`: {error}", path.display())?;
                if error.raw_os_error() == Some(libc::ENOSPC) {
                    write!(
                        f,
                        "; the disk holding the cache is full: free space there, or point $PXEBAKE_CACHE at a larger disk (the partial file is kept and resumes)"
                    )?;
                }
                Ok(())
            }
            Failure::Interrupted { got } => {
                write!(f, "interrupted after {got} bytes; the partial file is kept and the next run resumes it")
            }
        }
    }
}

/// What a download hands to its consumer (the verifier, hashing as the bytes arrive).
pub enum Chunk<'a> {
    /// The next bytes of the file.
    Data(&'a [u8]),
    /// Everything handed over so far is void: the file starts again from byte 0.
    Restart,
}

/// Hands the first `len` bytes of `file` (a partial download being resumed) to `sink`.
fn replay(file: &Path, len: u64, sink: &mut dyn FnMut(Chunk)) -> std::io::Result<()> {
    let mut f = File::open(file)?.take(len);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        sink(Chunk::Data(&buf[..n]));
    }
}

/// An HTTP client with the timeouts every request uses.
pub struct Http {
    agent: Agent,
}

/// Idle timeout: `$PXEBAKE_HTTP_TIMEOUT` seconds, default 30 (connecting: at most 10).
fn timeout() -> Duration {
    let secs = std::env::var("PXEBAKE_HTTP_TIMEOUT").ok().and_then(|s| s.parse::<f64>().ok());
    Duration::from_secs_f64(secs.filter(|s| *s > 0.0).unwrap_or(30.0))
}

impl Http {
    pub fn new() -> Http {
        let idle = timeout();
        let connect = idle.min(Duration::from_secs(10));
        let config = Agent::config_builder()
            .http_status_as_error(false)
            // Bytes must arrive as published: no transparent decompression of `.gz` files.
            .accept_encoding(AutoHeaderValue::None)
            .user_agent(concat!("pxebake/", env!("CARGO_PKG_VERSION")))
            .timeout_resolve(Some(connect))
            .timeout_connect(Some(connect))
            .timeout_send_request(Some(idle))
            .timeout_recv_response(Some(idle))
            .timeout_per_read(Some(idle))
            .build();
        Http { agent: config.into() }
    }

    fn get(&self, url: &str, from: u64) -> Result<ureq::http::Response<ureq::Body>, Failure> {
        let mut req = self.agent.get(url);
        if from > 0 {
            req = req.header("Range", format!("bytes={from}-"));
        }
        req.call().map_err(|e| match e {
            ureq::Error::Timeout(t) => Failure::Unreachable(format!("timed out ({t})")),
            e => Failure::Unreachable(e.to_string()),
        })
    }

    /// Fetches a small file (a signature) into memory, at most `limit` bytes.
    pub fn get_small(&self, url: &str, limit: u64) -> Result<Vec<u8>, Failure> {
        let resp = self.get(url, 0)?;
        let status = resp.status().as_u16();
        match status {
            200 => {}
            404 | 410 => return Err(Failure::NotFound(status)),
            _ => return Err(Failure::Status(status)),
        }
        let mut out = Vec::new();
        let mut reader = resp.into_body().into_with_config().limit(limit + 1).reader();
        reader.read_to_end(&mut out).map_err(|e| Failure::Cut {
            got: out.len() as u64,
            total: None,
            attempts: 1,
            why: e.to_string(),
        })?;
        if out.len() as u64 > limit {
            return Err(Failure::TooLarge { limit });
        }
        Ok(out)
    }

    /// Downloads `url` into `partial`, continuing what is already there. `limit` caps the
    /// size (from the lock); `progress(done, total)` follows the bytes; `sink` sees every byte
    /// of the file in order (those already in `partial` first).
    pub fn download(
        &self,
        url: &str,
        partial: &Path,
        limit: Option<u64>,
        progress: &dyn Fn(u64, Option<u64>),
        sink: &mut dyn FnMut(Chunk),
        stop: &AtomicBool,
    ) -> Result<u64, Failure> {
        let write_err = |error| Failure::Write { path: partial.to_path_buf(), error };
        let mut file = OpenOptions::new().create(true).append(true).open(partial).map_err(write_err)?;
        let mut have = file.metadata().map_err(write_err)?.len();
        if have > 0 && replay(partial, have, sink).is_err() {
            file.set_len(0).map_err(write_err)?;
            have = 0;
            sink(Chunk::Restart);
        }
        let mut attempts = 0;
        let mut restarted = false;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            attempts += 1;
            if attempts > ATTEMPTS + 1 {
                let why = "the server's answers to range requests do not line up".to_string();
                return Err(Failure::Cut { got: have, total: None, attempts: attempts - 1, why });
            }
            let resp = self.get(url, have);
            let resp = match resp {
                Ok(r) => r,
                // Reachable a moment ago: the connection broke between attempts.
                Err(Failure::Unreachable(why)) if attempts > 1 => {
                    return Err(Failure::Cut { got: have, total: None, attempts, why })
                }
                Err(e) => return Err(e),
            };
            let status = resp.status().as_u16();
            let total = match status {
                200 => {
                    if have > 0 {
                        // The server ignores Range: start over.
                        file.set_len(0).map_err(write_err)?;
                        have = 0;
                        sink(Chunk::Restart);
                    }
                    resp.body().content_length()
                }
                206 => match content_range(&resp) {
                    Some((start, total)) if start == have => total,
                    _ => {
                        file.set_len(0).map_err(write_err)?;
                        have = 0;
                        sink(Chunk::Restart);
                        continue;
                    }
                },
                416 if have > 0 && !restarted => {
                    // What we have is not a prefix the server recognizes: start over, once.
                    restarted = true;
                    file.set_len(0).map_err(write_err)?;
                    have = 0;
                    sink(Chunk::Restart);
                    continue;
                }
                404 | 410 => return Err(Failure::NotFound(status)),
                _ => return Err(Failure::Status(status)),
            };
            if let (Some(t), Some(l)) = (total, limit) {
                if t > l {
                    return Err(Failure::TooLarge { limit: l });
                }
            }
            progress(have, total);
            let before = have;
            let mut reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
            let outcome = loop {
                if stop.load(Ordering::SeqCst) {
                    let _ = file.flush();
                    return Err(Failure::Interrupted { got: have });
                }
                match reader.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        file.write_all(&buf[..n]).map_err(write_err)?;
                        sink(Chunk::Data(&buf[..n]));
                        have += n as u64;
                        if limit.is_some_and(|l| have > l) {
                            return Err(Failure::TooLarge { limit: limit.unwrap_or_default() });
                        }
                        progress(have, total);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e.to_string()),
                }
            };
            let complete = match (&outcome, total) {
                (Ok(()), Some(t)) => have >= t,
                (Ok(()), None) => true, // no length given: the server's end is the end
                (Err(_), _) => false,
            };
            if complete {
                // No fsync: every use of a cached file verifies it again, so bytes lost in a crash
                // are caught, never trusted; and syncing 400 MB costs more than the download.
                return Ok(have);
            }
            let why = match outcome {
                Err(e) => format!("connection lost: {e}"),
                Ok(()) => "the server closed the connection early".to_string(),
            };
            if have == before || attempts >= ATTEMPTS {
                return Err(Failure::Cut { got: have, total, attempts, why });
            }
            std::thread::sleep(Duration::from_millis(100 * u64::from(attempts)));
        }
    }
}

/// `Content-Range: bytes START-END/TOTAL` -> (START, TOTAL).
fn content_range(resp: &ureq::http::Response<ureq::Body>) -> Option<(u64, Option<u64>)> {
    let v = resp.headers().get("content-range")?.to_str().ok()?;
    let rest = v.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

/// Copies a file from a mirror directory into `partial` (same progress reporting and sink).
pub fn copy(
    from: &Path,
    partial: &Path,
    progress: &dyn Fn(u64, Option<u64>),
    sink: &mut dyn FnMut(Chunk),
) -> Result<u64, Failure> {
    let write_err = |error| Failure::Write { path: partial.to_path_buf(), error };
    let mut src = File::open(from).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Failure::NotFound(404)
        } else {
            Failure::Unreachable(format!("cannot read `{}`: {e}", from.display()))
        }
    })?;
    let total = src.metadata().ok().map(|m| m.len());
    let mut dst = File::create(partial).map_err(write_err)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Unreachable(format!("cannot read `{}`: {e}", from.display()))),
        };
        dst.write_all(&buf[..n]).map_err(write_err)?;
        sink(Chunk::Data(&buf[..n]));
        done += n as u64;
        progress(done, total);
    }
    Ok(done)
}
