//! Signed OS images for tests: keys generated with sequoia, files signed here, and a loopback
//! HTTP server that can also fail in the ways real servers do. `Lab` is a small site whose image
//! `os` 1.0 is served by such a server.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sequoia_openpgp as openpgp;
use sha2::Digest as _;

use openpgp::cert::prelude::*;
use openpgp::packet::signature::SignatureBuilder;
use openpgp::serialize::Serialize as _;
use openpgp::types::{HashAlgorithm, KeyFlags, ReasonForRevocation, SignatureType};
use openpgp::Packet;

use super::snapshot;

pub const DAY: Duration = Duration::from_secs(86_400);

// ---------------------------------------------------------------------------------------------
// Keys and signatures

/// A certificate created `age` ago with one signing subkey valid for `validity`.
pub fn cert(age: Duration, validity: Option<Duration>) -> Cert {
    CertBuilder::new()
        .set_creation_time(SystemTime::now() - age)
        .add_userid("Test Images <images@example.org>")
        .add_subkey(KeyFlags::empty().set_signing(), validity, None)
        .generate()
        .unwrap()
        .0
}

pub fn subkey_fpr(c: &Cert) -> String {
    c.keys().subkeys().next().unwrap().key().fingerprint().to_string()
}

/// A binary detached signature over `data` by the signing subkey, dated `when`.
pub fn sign_at(c: &Cert, data: &[u8], when: SystemTime) -> Vec<u8> {
    let key = c.keys().subkeys().secret().next().unwrap().key().clone();
    let mut signer = key.into_keypair().unwrap();
    let mut hash = HashAlgorithm::SHA512.context().unwrap().for_signature(4);
    hash.update(data);
    let sig = SignatureBuilder::new(SignatureType::Binary)
        .set_signature_creation_time(when)
        .unwrap()
        .sign_hash(&mut signer, hash)
        .unwrap();
    let mut out = Vec::new();
    Packet::from(sig).serialize(&mut out).unwrap();
    out
}

pub fn sign(c: &Cert, data: &[u8]) -> Vec<u8> {
    sign_at(c, data, SystemTime::now() - Duration::from_secs(60))
}

pub fn armored(c: &Cert) -> Vec<u8> {
    let mut out = Vec::new();
    c.armored().serialize(&mut out).unwrap();
    out
}

/// The certificate with its signing subkey revoked as compromised.
pub fn revoked(c: &Cert) -> Cert {
    let sub = c.keys().subkeys().next().unwrap();
    let mut primary = c.primary_key().key().clone().parts_into_secret().unwrap().into_keypair().unwrap();
    let rev = SubkeyRevocationBuilder::new()
        .set_reason_for_revocation(ReasonForRevocation::KeyCompromised, b"test")
        .unwrap()
        .build(&mut primary, c, sub.key(), None)
        .unwrap();
    c.clone().insert_packets(rev).unwrap().0
}

/// Deterministic test bytes.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(u32::from(seed % 31)) as u8 ^ seed).collect()
}

pub fn sha512(b: &[u8]) -> String {
    sha2::Sha512::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// A loopback HTTP server

#[derive(Clone)]
pub enum Route {
    /// 200, or 206 for `Range: bytes=N-`.
    Body(Vec<u8>),
    /// The first `n` responses send only `after` bytes of the body, then close; with
    /// `ranges: false` the server ignores `Range` and always sends the file from the start.
    CutFirst {
        body: Vec<u8>,
        after: usize,
        n: usize,
        ranges: bool,
    },
    /// Every response stops at byte `after` of the file.
    CutAlways {
        body: Vec<u8>,
        after: usize,
    },
    Status(u16),
    /// Reads the request and never answers.
    Stall,
}

pub struct Server {
    pub port: u16,
    pub routes: Arc<Mutex<HashMap<String, Route>>>,
    /// `path range` for each request.
    pub log: Arc<Mutex<Vec<String>>>,
    pub stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, l, s) = (routes.clone(), log.clone(), stop.clone());
        std::thread::spawn(move || {
            let served: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (r, l, served) = (r.clone(), l.clone(), served.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, &r, &l, &served);
                });
            }
        });
        Server { port, routes, log, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), route);
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

pub fn handle(
    mut conn: TcpStream,
    routes: &Mutex<HashMap<String, Route>>,
    log: &Mutex<Vec<String>>,
    served: &Mutex<HashMap<String, usize>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut from = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("range: bytes=") {
            from = v.trim().trim_end_matches('-').parse().unwrap_or(0);
        }
    }
    log.lock().unwrap().push(format!("{path} {from}"));
    let route = routes.lock().unwrap().get(&path).cloned();
    let nth = {
        let mut s = served.lock().unwrap();
        let c = s.entry(path.clone()).or_default();
        *c += 1;
        *c
    };
    let (body, stop_at) = match route {
        None => return status(&mut conn, 404),
        Some(Route::Status(code)) => return status(&mut conn, code),
        Some(Route::Stall) => {
            std::thread::sleep(Duration::from_secs(60));
            return Ok(());
        }
        Some(Route::Body(b)) => {
            let n = b.len();
            (b, n)
        }
        Some(Route::CutFirst { body, after, n, ranges }) => {
            if !ranges {
                from = 0;
            }
            let stop = if nth <= n { (from + after).min(body.len()) } else { body.len() };
            (body, stop)
        }
        Some(Route::CutAlways { body, after }) => (body, after),
    };
    if from > 0 && from >= body.len() {
        return status(&mut conn, 416);
    }
    let head = if from > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n",
            body.len() - from,
            body.len() - 1,
            body.len()
        )
    } else {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
    };
    conn.write_all(head.as_bytes())?;
    conn.write_all(&body[from.min(stop_at)..stop_at])?;
    conn.flush()?;
    Ok(())
}

pub fn status(conn: &mut TcpStream, code: u16) -> std::io::Result<()> {
    let body = format!("status {code}\n");
    write!(conn, "HTTP/1.1 {code} Test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

/// A port on 127.0.0.1 where nothing listens: connecting to it is refused.
///
/// The port stays bound (never listening) for the rest of the test process. A port taken from a
/// dropped listener could be handed to another test's server running at the same time, which then
/// answers instead of refusing.
pub fn closed_port() -> u16 {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain socket calls on a fresh descriptor that this function owns; the sockaddr is a
    // zeroed, fully initialised sockaddr_in whose size is passed with it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let fd = OwnedFd::from_raw_fd(fd);
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        assert_eq!(libc::bind(raw, (&raw const a).cast(), len), 0, "bind: {}", std::io::Error::last_os_error());
        let mut got: libc::sockaddr_in = std::mem::zeroed();
        let mut glen = len;
        assert_eq!(libc::getsockname(raw, (&raw mut got).cast(), &mut glen), 0);
        std::mem::forget(fd);
        u16::from_be(got.sin_port)
    }
}

// ---------------------------------------------------------------------------------------------
// A test site

pub const KERNEL: &str = "vmlinuz";
pub const INITRD: &str = "initrd.img";

pub fn site_yaml(url: &str, image_extra: &str, site_extra: &str) -> String {
    format!(
        r#"site:
  name: lab
  domain: lab.example
  frontend: 10.0.0.1
  http: http://10.0.0.1/boot
{site_extra}
networks:
  prov: {{ address: 10.0.0.0/24, gateway: 10.0.0.1, zone: lab.example, mtu: 1500, pxe: true }}
images:
  os:
    url: {url}{{version}}/
    version: "1.0"
    key: key.asc
    files: {{ kernel: {KERNEL}, initrd: {INITRD} }}
{image_extra}
bootactions:
  install:
    kernel: vmlinuz.os
    ramdisk: initrd.os
    image: os
    args: "console=ttyS0"
appliances:
  node: {{ installaction: install }}
attributes:
  ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d user@lab"]
hosts:
  - name: n1
    appliance: node
    boot: install
    interfaces: [{{ network: prov, mac: "52:54:00:00:01:01", ip: 10.0.0.11 }}]
"#
    )
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub cert: Cert,
    pub kernel: Vec<u8>,
    pub initrd: Vec<u8>,
}

impl Lab {
    /// A site whose image `os` 1.0 is at `url`, with a fresh key and two files.
    pub fn new(url: &str) -> Lab {
        Lab::with(url, "", "")
    }

    pub fn with(url: &str, image_extra: &str, site_extra: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inventory");
        fs::create_dir_all(&inv).unwrap();
        fs::write(inv.join("site.yaml"), site_yaml(url, image_extra, site_extra)).unwrap();
        let cert = cert(DAY, None);
        fs::write(inv.join("key.asc"), armored(&cert)).unwrap();
        Lab { dir, cert, kernel: data(300_000, 1), initrd: data(1_500_000, 2) }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    pub fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    pub fn lock(&self) -> PathBuf {
        self.path().join("inventory/images.lock")
    }

    /// Serves the good files and signatures on `s`.
    pub fn serve(&self, s: &Server) {
        s.route("/1.0/vmlinuz", Route::Body(self.kernel.clone()));
        s.route("/1.0/vmlinuz.sig", Route::Body(sign(&self.cert, &self.kernel)));
        s.route("/1.0/initrd.img", Route::Body(self.initrd.clone()));
        s.route("/1.0/initrd.img.sig", Route::Body(sign(&self.cert, &self.initrd)));
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pxebake"));
        c.current_dir(self.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("PXEBAKE_CACHE", self.cache())
            .env("PXEBAKE_HTTP_TIMEOUT", "5");
        // Loopback only, never through a proxy.
        for v in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"] {
            c.env_remove(v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// A previous tree (rendered without images) to prove failures leave it alone.
    pub fn previous_tree(&self) -> BTreeMap<String, Vec<u8>> {
        let o = self.run(&["build", "--no-images"]);
        assert!(o.status.success(), "{}", err(&o));
        snapshot(&self.out())
    }

    /// Files in the cache under a final name (not .partial/.lock/.rejected).
    pub fn cached_final(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.cache(), &mut |p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            if !(n.ends_with(".partial") || n.ends_with(".lock") || n.ends_with(".rejected")) {
                out.push(n);
            }
        });
        out.sort();
        out
    }

    pub fn cached_partials(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.cache(), &mut |p| {
            if p.to_string_lossy().ends_with(".partial") {
                out.push(p.to_path_buf());
            }
        });
        out
    }
}

pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
