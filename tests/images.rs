//! OS images end to end: the real binary against signed test images served from loopback.
//!
//! Keys are generated here with sequoia (signing subkeys, an expired and a revoked one); files
//! are signed here; an in-process HTTP server on 127.0.0.1 serves them and can answer 404/500,
//! cut a connection after N bytes, or stall. Nothing leaves loopback: the "unreachable host"
//! is a closed port on 127.0.0.1.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sequoia_openpgp as openpgp;
use sha2::Digest as _;

use openpgp::cert::prelude::*;
use openpgp::packet::signature::SignatureBuilder;
use openpgp::serialize::Serialize as _;
use openpgp::types::{HashAlgorithm, KeyFlags, ReasonForRevocation, SignatureType};
use openpgp::Packet;

const DAY: Duration = Duration::from_secs(86_400);

// ---------------------------------------------------------------------------------------------
// Keys and signatures

/// A certificate created `age` ago with one signing subkey valid for `validity`.
fn cert(age: Duration, validity: Option<Duration>) -> Cert {
    CertBuilder::new()
        .set_creation_time(SystemTime::now() - age)
        .add_userid("Test Images <images@example.org>")
        .add_subkey(KeyFlags::empty().set_signing(), validity, None)
        .generate()
        .unwrap()
        .0
}

fn subkey_fpr(c: &Cert) -> String {
    c.keys().subkeys().next().unwrap().key().fingerprint().to_string()
}

/// A binary detached signature over `data` by the signing subkey, dated `when`.
fn sign_at(c: &Cert, data: &[u8], when: SystemTime) -> Vec<u8> {
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

fn sign(c: &Cert, data: &[u8]) -> Vec<u8> {
    sign_at(c, data, SystemTime::now() - Duration::from_secs(60))
}

fn armored(c: &Cert) -> Vec<u8> {
    let mut out = Vec::new();
    c.armored().serialize(&mut out).unwrap();
    out
}

/// The certificate with its signing subkey revoked as compromised.
fn revoked(c: &Cert) -> Cert {
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
fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(u32::from(seed % 31)) as u8 ^ seed).collect()
}

fn sha512(b: &[u8]) -> String {
    sha2::Sha512::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// A loopback HTTP server

#[derive(Clone)]
enum Route {
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

struct Server {
    port: u16,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    /// `path range` for each request.
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start() -> Server {
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

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), route);
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(
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

fn status(conn: &mut TcpStream, code: u16) -> std::io::Result<()> {
    let body = format!("status {code}\n");
    write!(conn, "HTTP/1.1 {code} Test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// A test site

const KERNEL: &str = "vmlinuz";
const INITRD: &str = "initrd.img";

fn site_yaml(url: &str, image_extra: &str, site_extra: &str) -> String {
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
  ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtestkeytestkeytestkeytestkeytestkeytest user@lab"]
hosts:
  - name: n1
    appliance: node
    boot: install
    interfaces: [{{ network: prov, mac: "52:54:00:00:01:01", ip: 10.0.0.11 }}]
"#
    )
}

struct Lab {
    dir: tempfile::TempDir,
    cert: Cert,
    kernel: Vec<u8>,
    initrd: Vec<u8>,
}

impl Lab {
    /// A site whose image `os` 1.0 is at `url`, with a fresh key and two files.
    fn new(url: &str) -> Lab {
        Lab::with(url, "", "")
    }

    fn with(url: &str, image_extra: &str, site_extra: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inventory");
        fs::create_dir_all(&inv).unwrap();
        fs::write(inv.join("site.yaml"), site_yaml(url, image_extra, site_extra)).unwrap();
        let cert = cert(DAY, None);
        fs::write(inv.join("key.asc"), armored(&cert)).unwrap();
        Lab { dir, cert, kernel: data(300_000, 1), initrd: data(1_500_000, 2) }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    fn lock(&self) -> PathBuf {
        self.path().join("inventory/images.lock")
    }

    /// Serves the good files and signatures on `s`.
    fn serve(&self, s: &Server) {
        s.route("/1.0/vmlinuz", Route::Body(self.kernel.clone()));
        s.route("/1.0/vmlinuz.sig", Route::Body(sign(&self.cert, &self.kernel)));
        s.route("/1.0/initrd.img", Route::Body(self.initrd.clone()));
        s.route("/1.0/initrd.img.sig", Route::Body(sign(&self.cert, &self.initrd)));
    }

    fn cmd(&self, args: &[&str]) -> Command {
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

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// A previous tree (rendered without images) to prove failures leave it alone.
    fn previous_tree(&self) -> BTreeMap<String, Vec<u8>> {
        let o = self.run(&["build", "--no-images"]);
        assert!(o.status.success(), "{}", err(&o));
        snapshot(&self.out())
    }

    /// Files in the cache under a final name (not .partial/.lock/.rejected).
    fn cached_final(&self) -> Vec<String> {
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

    fn cached_partials(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.cache(), &mut |p| {
            if p.to_string_lossy().ends_with(".partial") {
                out.push(p.to_path_buf());
            }
        });
        out
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
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

fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                out.insert(rel, format!("-> {}", fs::read_link(&p).unwrap().display()).into_bytes());
            } else if ft.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failed run: exit 1, and the message names image, file, URL and key.
fn failed(o: &Output, file: &str, url: &str, lab: &Lab) -> String {
    let e = err(o);
    eprintln!("--- pxebake said:\n{e}");
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("image `os`"), "no image in: {e}");
    assert!(e.contains(&format!("file `{file}`")), "no file in: {e}");
    assert!(e.contains(url), "no url {url} in: {e}");
    assert!(e.contains(&lab.cert.fingerprint().to_string()), "no key fingerprint in: {e}");
    assert!(e.contains("next:"), "no next step in: {e}");
    e
}

// ---------------------------------------------------------------------------------------------
// The good path

#[test]
fn build_places_verified_files_and_pins_them_in_the_lock() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    let o = lab.run(&["build"]);
    assert!(o.status.success(), "{}", err(&o));
    // The tftp links resolve to the verified bytes.
    let out = lab.out();
    assert_eq!(fs::read(out.join("tftp/vmlinuz.os")).unwrap(), lab.kernel);
    assert_eq!(fs::read(out.join("tftp/initrd.os")).unwrap(), lab.initrd);
    assert_eq!(fs::read(out.join("images/os/1.0/vmlinuz.sig")).unwrap(), served(&s, "/1.0/vmlinuz.sig"));
    assert_eq!(fs::read_link(out.join("http/images")).unwrap(), Path::new("../images"));
    assert_eq!(fs::read(out.join("http/images/os/1.0/initrd.img")).unwrap(), lab.initrd);
    // ... and those bytes are what images.lock records.
    let lock: serde_json::Value = serde_json::from_str(&fs::read_to_string(lab.lock()).unwrap()).unwrap();
    let files = lock["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for (f, bytes) in [(INITRD, &lab.initrd), (KERNEL, &lab.kernel)] {
        let e = files.iter().find(|e| e["file"] == f).unwrap();
        assert_eq!(e["sha512"], sha512(bytes));
        assert_eq!(e["size"], bytes.len());
        assert_eq!(e["url"], format!("{}1.0/{f}", s.url()));
        assert_eq!(e["key"], lab.cert.fingerprint().to_string());
        assert_eq!(e["signing_key"], subkey_fpr(&lab.cert));
        assert!(e["signed"].as_str().unwrap().ends_with('Z'));
        let linked = fs::metadata(out.join("images/os/1.0").join(f)).unwrap();
        assert_eq!(linked.mode() & 0o777, 0o444, "cache files are read-only");
    }
    // A second build is offline-capable: verified again from the cache, lock unchanged.
    let before = fs::read(lab.lock()).unwrap();
    let requests = s.requests().len();
    let o = lab.run(&["build", "--offline"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(s.requests().len(), requests, "--offline touched the network");
    assert_eq!(fs::read(lab.lock()).unwrap(), before, "the lock is deterministic");
}

/// The signature the server serves at `path` (to compare with what was placed).
fn served(s: &Server, path: &str) -> Vec<u8> {
    match s.routes.lock().unwrap().get(path) {
        Some(Route::Body(b)) => b.clone(),
        _ => panic!("no body at {path}"),
    }
}

#[test]
fn flatcar_pxe_kernel_falls_back_to_the_image_kernel_signature() {
    let s = Server::start();
    let lab = Lab::with(&s.url(), "", "");
    let inv = lab.path().join("inventory/site.yaml");
    let yaml = fs::read_to_string(&inv).unwrap().replace("kernel: vmlinuz,", "kernel: flatcar_production_pxe.vmlinuz,");
    fs::write(&inv, yaml).unwrap();
    lab.serve(&s);
    s.route("/1.0/flatcar_production_pxe.vmlinuz", Route::Body(lab.kernel.clone()));
    s.route("/1.0/flatcar_production_image.vmlinuz.sig", Route::Body(sign(&lab.cert, &lab.kernel)));
    let o = lab.run(&["build"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(fs::read(lab.out().join("tftp/vmlinuz.os")).unwrap(), lab.kernel);
    let log = s.requests().join("\n");
    assert!(log.contains("/1.0/flatcar_production_pxe.vmlinuz.sig 0"), "{log}");
    assert!(log.contains("/1.0/flatcar_production_image.vmlinuz.sig 0"), "{log}");
    // The fallback signature is placed under the file's own name, for flatcar-install -b.
    assert!(lab.out().join("images/os/1.0/flatcar_production_pxe.vmlinuz.sig").is_file());
}

#[test]
fn key_valid_at_signature_time_verifies_after_it_expired() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    // Subkey made 30 days ago, valid 10 days; signed 25 days ago (while valid).
    let old = cert(30 * DAY, Some(10 * DAY));
    fs::write(lab.path().join("inventory/key.asc"), armored(&old)).unwrap();
    lab.serve(&s);
    let when = SystemTime::now() - 25 * DAY;
    s.route("/1.0/vmlinuz.sig", Route::Body(sign_at(&old, &lab.kernel, when)));
    s.route("/1.0/initrd.img.sig", Route::Body(sign_at(&old, &lab.initrd, when)));
    let o = lab.run(&["build"]);
    assert!(o.status.success(), "{}", err(&o));
    let e = err(&o);
    assert!(e.contains("warning:") && e.contains("expired on"), "expired key warns: {e}");
}

// ---------------------------------------------------------------------------------------------
// Verification failures: nothing placed, previous out/ untouched, nothing unverified cached

/// out/ is as it was, and none of the `bad` files is in the cache under a final name (a good
/// file fetched in the same run may be: it verified).
fn assert_untouched(lab: &Lab, before: &BTreeMap<String, Vec<u8>>, bad: &[&str]) {
    assert_eq!(&snapshot(&lab.out()), before, "out/ changed");
    let cached = lab.cached_final();
    for b in bad {
        assert!(!cached.iter().any(|n| n.starts_with(b)), "unverified `{b}` under a final name: {cached:?}");
    }
}

#[test]
fn tampered_file_is_refused() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    let before = lab.previous_tree();
    let mut evil = lab.kernel.clone();
    evil[1000] ^= 1;
    s.route("/1.0/vmlinuz", Route::Body(evil));
    let o = lab.run(&["build"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains("does not match the file") && e.contains(&subkey_fpr(&lab.cert)), "{e}");
    assert!(e.contains("nothing was placed"), "{e}");
    assert_eq!(snapshot(&lab.out()), before);
    // The good initrd may be cached; the tampered kernel must not be, under any name.
    let cached = lab.cached_final();
    assert!(!cached.iter().any(|n| n.starts_with("vmlinuz")), "{cached:?}");
    assert!(lab.cached_partials().is_empty(), "a rejected download was kept");
    assert!(!lab.lock().exists(), "no lock from a failed build");
}

#[test]
fn signature_by_an_unknown_key_is_refused() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    let before = lab.previous_tree();
    let stranger = cert(DAY, None);
    s.route("/1.0/vmlinuz.sig", Route::Body(sign(&stranger, &lab.kernel)));
    s.route("/1.0/initrd.img.sig", Route::Body(sign(&stranger, &lab.initrd)));
    let o = lab.run(&["build"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains("unknown key") && e.contains(&subkey_fpr(&stranger)), "{e}");
    assert!(e.contains("2 image files failed"), "{e}");
    assert_untouched(&lab, &before, &[KERNEL, INITRD]);
}

#[test]
fn signature_made_after_the_subkey_expired_is_refused() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    let old = cert(30 * DAY, Some(10 * DAY));
    fs::write(lab.path().join("inventory/key.asc"), armored(&old)).unwrap();
    let lab = Lab { cert: old, ..lab };
    lab.serve(&s); // signed a minute ago, 20 days after expiry
    let before = lab.previous_tree();
    let o = lab.run(&["build"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains("had expired on") && e.contains(&subkey_fpr(&lab.cert)), "{e}");
    assert_untouched(&lab, &before, &[KERNEL, INITRD]);
}

#[test]
fn signature_by_a_revoked_subkey_is_refused() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    fs::write(lab.path().join("inventory/key.asc"), armored(&revoked(&lab.cert))).unwrap();
    let before = lab.previous_tree();
    let o = lab.run(&["build"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains("is revoked") && e.contains(&subkey_fpr(&lab.cert)), "{e}");
    assert_untouched(&lab, &before, &[KERNEL, INITRD]);
}

#[test]
fn missing_signature_is_refused() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    s.route("/1.0/initrd.img.sig", Route::Status(404));
    let before = lab.previous_tree();
    let o = lab.run(&["build"]);
    let e = failed(&o, INITRD, &format!("{}1.0/initrd.img", s.url()), &lab);
    assert!(e.contains("missing signature") && e.contains("initrd.img.sig"), "{e}");
    assert_eq!(snapshot(&lab.out()), before);
    assert!(!s.requests().iter().any(|r| r.starts_with("/1.0/initrd.img ")), "fetched a file it cannot verify");
}

#[test]
fn truncated_file_is_refused() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    // The server honestly serves a shorter file than was signed.
    s.route("/1.0/initrd.img", Route::Body(lab.initrd[..700_000].to_vec()));
    let before = lab.previous_tree();
    let o = lab.run(&["build"]);
    let e = failed(&o, INITRD, &format!("{}1.0/initrd.img", s.url()), &lab);
    assert!(e.contains("700000 bytes") && e.contains("truncated"), "{e}");
    assert!(!lab.cached_final().iter().any(|n| n.starts_with("initrd")));
    assert_eq!(snapshot(&lab.out()), before);
}

// ---------------------------------------------------------------------------------------------
// Transfer faults

#[test]
fn connection_cut_mid_file_resumes_and_verifies() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    // The first two responses die after 400 kB each; the third completes the file.
    s.route("/1.0/initrd.img", Route::CutFirst { body: lab.initrd.clone(), after: 400_000, n: 2, ranges: true });
    let o = lab.run(&["build"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(fs::read(lab.out().join("tftp/initrd.os")).unwrap(), lab.initrd);
    let log: Vec<String> = s.requests().into_iter().filter(|r| r.starts_with("/1.0/initrd.img ")).collect();
    assert_eq!(log, ["/1.0/initrd.img 0", "/1.0/initrd.img 400000", "/1.0/initrd.img 800000"]);
}

#[test]
fn server_that_ignores_range_restarts_the_download_and_verifies() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    s.route("/1.0/initrd.img", Route::CutFirst { body: lab.initrd.clone(), after: 400_000, n: 1, ranges: false });
    let o = lab.run(&["build"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(fs::read(lab.out().join("tftp/initrd.os")).unwrap(), lab.initrd);
    let log: Vec<String> = s.requests().into_iter().filter(|r| r.starts_with("/1.0/initrd.img ")).collect();
    assert_eq!(log, ["/1.0/initrd.img 0", "/1.0/initrd.img 400000"], "asked for the rest, got it all");
}

#[test]
fn connection_that_keeps_dying_fails_then_the_next_run_resumes() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    s.route("/1.0/initrd.img", Route::CutAlways { body: lab.initrd.clone(), after: 600_000 });
    let before = lab.previous_tree();
    let t = Instant::now();
    let o = lab.run(&["build"]);
    let e = failed(&o, INITRD, &format!("{}1.0/initrd.img", s.url()), &lab);
    assert!(e.contains("stopped at 600000 of 1500000 bytes") && e.contains("resume"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_untouched(&lab, &before, &[INITRD]);
    let partials = lab.cached_partials();
    assert_eq!(partials.len(), 1, "the partial download is kept");
    assert_eq!(fs::metadata(&partials[0]).unwrap().len(), 600_000);
    // The server recovers: the next run asks only for the rest.
    s.log.lock().unwrap().clear();
    s.route("/1.0/initrd.img", Route::Body(lab.initrd.clone()));
    let o = lab.run(&["build"]);
    assert!(o.status.success(), "{}", err(&o));
    let log: Vec<String> = s.requests().into_iter().filter(|r| r.starts_with("/1.0/initrd.img ")).collect();
    assert_eq!(log, ["/1.0/initrd.img 600000"]);
    assert_eq!(fs::read(lab.out().join("tftp/initrd.os")).unwrap(), lab.initrd);
    assert!(lab.cached_partials().is_empty());
}

#[test]
fn http_404_is_an_error_naming_the_url() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    s.route("/1.0/vmlinuz", Route::Status(404));
    let before = lab.previous_tree();
    let o = lab.run(&["build"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains("HTTP 404") && e.contains("check `version` and `files`"), "{e}");
    assert_untouched(&lab, &before, &[KERNEL]);
}

#[test]
fn http_5xx_is_an_error_naming_the_url() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    s.route("/1.0/vmlinuz", Route::Status(503));
    s.route("/1.0/initrd.img.sig", Route::Status(500));
    let before = lab.previous_tree();
    let o = lab.run(&["build"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains("HTTP 503") && e.contains("HTTP 500") && e.contains("try again later"), "{e}");
    assert_untouched(&lab, &before, &[KERNEL, INITRD]);
}

#[test]
fn unreachable_host_fails_within_seconds_and_says_how_to_go_on() {
    let lab = Lab::new(&format!("http://127.0.0.1:{}/", closed_port()));
    let before = lab.previous_tree();
    let t = Instant::now();
    let o = lab.run(&["build"]);
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    let e = failed(&o, KERNEL, "http://127.0.0.1:", &lab);
    assert!(e.contains("cannot reach the server"), "{e}");
    for hint in ["pxebake fetch --bundle DIR", "--mirror DIR", "--no-images"] {
        assert!(e.contains(hint), "no `{hint}` in: {e}");
    }
    assert_untouched(&lab, &before, &[KERNEL, INITRD]);
}

#[test]
fn server_that_never_answers_times_out() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    s.route("/1.0/vmlinuz.sig", Route::Stall);
    let t = Instant::now();
    let o = lab.cmd(&["build"]).env("PXEBAKE_HTTP_TIMEOUT", "1").output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(8), "took {:?}", t.elapsed());
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz.sig", s.url()), &lab);
    assert!(e.contains("timed out") || e.contains("timeout"), "{e}");
}

#[test]
fn example_inventory_offline_fails_fast_with_an_actionable_message() {
    // The shipped example, pointed at a closed loopback port instead of the real release server.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory");
    fs::create_dir_all(&inv).unwrap();
    for e in fs::read_dir(repo.join("inventory")).unwrap().flatten() {
        let text = fs::read_to_string(e.path()).unwrap();
        let url = format!("http://127.0.0.1:{}/amd64-usr/", closed_port());
        let text = text
            .replace("https://stable.release.flatcar-linux.net/amd64-usr/", &url)
            .replace("../keys/", &format!("{}/keys/", repo.display()));
        fs::write(inv.join(e.file_name()), text).unwrap();
    }
    let _ = fs::remove_file(inv.join("images.lock"));
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_pxebake"))
        .current_dir(dir.path())
        .args(["build"])
        .env("NO_COLOR", "1")
        .env("PXEBAKE_CACHE", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    let e = err(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    for want in [
        "image `flatcar-stable`",
        "flatcar_production_pxe.vmlinuz",
        "F88CFEDEFF29A5B4D9523864E25D9AED0593B34A",
        "pxebake fetch --bundle DIR",
        "--mirror DIR",
        "--no-images",
    ] {
        assert!(e.contains(want), "no `{want}` in: {e}");
    }
    assert!(!dir.path().join("out").exists());
}

#[test]
fn disk_full_in_the_cache_fails_cleanly() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    let before = lab.previous_tree();
    fs::create_dir_all(lab.cache()).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(lab.cache())
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs (needs root); disk-full behaviour not tested here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(lab.cache());
    let o = lab.run(&["build"]);
    let e = failed(&o, INITRD, &format!("{}1.0/initrd.img", s.url()), &lab);
    assert!(e.contains("No space left on device") && e.contains("PXEBAKE_CACHE"), "{e}");
    assert_eq!(snapshot(&lab.out()), before);
    assert!(!lab.cached_final().iter().any(|n| n.starts_with("initrd")), "{:?}", lab.cached_final());
}

// ---------------------------------------------------------------------------------------------
// The lock

#[test]
fn lock_that_disagrees_with_the_files_fails_naming_both_values() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    assert!(lab.run(&["build"]).status.success());
    let good = snapshot(&lab.out());
    let real = sha512(&lab.kernel);
    let fake = "0".repeat(128);
    let text = fs::read_to_string(lab.lock()).unwrap().replace(&real, &fake);
    fs::write(lab.lock(), &text).unwrap();
    let o = lab.run(&["build", "--offline"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains(&real) && e.contains(&fake) && e.contains("--update-lock"), "{e}");
    assert_eq!(snapshot(&lab.out()), good, "out/ untouched");
    assert_eq!(fs::read_to_string(lab.lock()).unwrap(), text, "the lock is not rewritten by a failure");
    // Accepting the change on purpose.
    let o = lab.run(&["fetch", "--update-lock", "--offline"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(fs::read_to_string(lab.lock()).unwrap().contains(&real));
}

#[test]
fn upstream_file_that_changed_since_it_was_locked_is_refused() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    assert!(lab.run(&["build"]).status.success());
    let good = snapshot(&lab.out());
    // Same name and version, new bytes, validly signed: a re-release or a replay.
    let other = data(300_000, 9);
    s.route("/1.0/vmlinuz", Route::Body(other.clone()));
    s.route("/1.0/vmlinuz.sig", Route::Body(sign(&lab.cert, &other)));
    fs::remove_dir_all(lab.cache()).unwrap();
    let o = lab.run(&["build"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains(&sha512(&lab.kernel)) && e.contains(&sha512(&other)), "{e}");
    assert_eq!(snapshot(&lab.out()), good);
    assert!(!lab.cached_final().iter().any(|n| n.starts_with("vmlinuz")));
}

#[test]
fn tampered_cache_file_is_caught_and_moved_aside() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    assert!(lab.run(&["build"]).status.success());
    let good = snapshot(&lab.out());
    let mut cached = None;
    walk(&lab.cache(), &mut |p| {
        if p.file_name().unwrap() == "vmlinuz" {
            cached = Some(p.to_path_buf());
        }
    });
    let cached = cached.unwrap();
    // Writing through the hard link in out/ would change the cache too; do it in the cache.
    let mut bytes = fs::read(&cached).unwrap();
    bytes[0] ^= 0xff;
    fs::remove_file(&cached).unwrap();
    fs::write(&cached, &bytes).unwrap();
    let o = lab.run(&["build", "--offline"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains("cached copy") && e.contains(".rejected"), "{e}");
    assert!(!cached.exists());
    assert_eq!(snapshot(&lab.out()), good);
    // The next online run downloads it afresh.
    let o = lab.run(&["build"]);
    assert!(o.status.success(), "{}", err(&o));
}

// ---------------------------------------------------------------------------------------------
// Offline, mirrors, bundles

#[test]
fn offline_with_an_empty_cache_fails_without_touching_the_network() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    let before = lab.previous_tree();
    let o = lab.run(&["build", "--offline"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains("--offline") && e.contains("--mirror DIR"), "{e}");
    assert!(s.requests().is_empty(), "{:?}", s.requests());
    assert_untouched(&lab, &before, &[KERNEL, INITRD]);
}

/// Lays out `<dir>/os/1.0/<file>{,.sig}` as a bundle or `images/` tree would.
fn mirror_dir(lab: &Lab, dir: &Path) {
    let sub = dir.join("os/1.0");
    fs::create_dir_all(&sub).unwrap();
    for (name, bytes) in [(KERNEL, &lab.kernel), (INITRD, &lab.initrd)] {
        fs::write(sub.join(name), bytes).unwrap();
        fs::write(sub.join(format!("{name}.sig")), sign(&lab.cert, bytes)).unwrap();
    }
}

#[test]
fn mirror_directory_builds_offline() {
    let s = Server::start(); // serves nothing; must not be asked
    let lab = Lab::new(&s.url());
    let m = lab.path().join("mirror");
    mirror_dir(&lab, &m);
    let o = lab.run(&["build", "--mirror", "mirror", "--offline"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(s.requests().is_empty());
    assert_eq!(fs::read(lab.out().join("tftp/vmlinuz.os")).unwrap(), lab.kernel);
    let lock = fs::read_to_string(lab.lock()).unwrap();
    assert!(lock.contains(&format!("{}1.0/vmlinuz", s.url())), "the lock records the upstream URL: {lock}");
}

#[test]
fn mirror_set_in_the_inventory_is_used_and_verified() {
    let s = Server::start();
    let lab = Lab::with(&s.url(), "    mirror: ../mirror", "");
    let m = lab.path().join("mirror");
    mirror_dir(&lab, &m);
    // A bad file in the mirror is refused like a bad download.
    fs::write(m.join("os/1.0/vmlinuz"), b"not the kernel").unwrap();
    let o = lab.run(&["build"]);
    let e = failed(&o, KERNEL, &format!("{}1.0/vmlinuz", s.url()), &lab);
    assert!(e.contains("mirror") && e.contains("does not match"), "{e}");
    assert!(s.requests().is_empty());
}

#[test]
fn mirror_url_is_fetched_and_verified() {
    let s = Server::start();
    let lab = Lab::new(&format!("http://127.0.0.1:{}/", closed_port()));
    s.route("/m/os/1.0/vmlinuz", Route::Body(lab.kernel.clone()));
    s.route("/m/os/1.0/vmlinuz.sig", Route::Body(sign(&lab.cert, &lab.kernel)));
    s.route("/m/os/1.0/initrd.img", Route::Body(lab.initrd.clone()));
    s.route("/m/os/1.0/initrd.img.sig", Route::Body(sign(&lab.cert, &lab.initrd)));
    let o = lab.run(&["build", "--mirror", &format!("{}m", s.url())]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(fs::read(lab.out().join("tftp/initrd.os")).unwrap(), lab.initrd);
    let o = lab.run(&["build", "--mirror", &format!("{}m", s.url()), "--offline"]);
    assert!(o.status.success(), "cache serves offline: {}", err(&o));
}

#[test]
fn bundle_carries_everything_for_an_offline_build() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    let o = lab.run(&["fetch", "--bundle", "bundle"]);
    assert!(o.status.success(), "{}", err(&o));
    let b = lab.path().join("bundle");
    for f in ["os/1.0/vmlinuz", "os/1.0/vmlinuz.sig", "os/1.0/initrd.img", "os/1.0/initrd.img.sig", "images.lock"] {
        assert!(b.join(f).is_file(), "bundle lacks {f}");
    }
    assert_eq!(fs::read(b.join("keys/key.asc")).unwrap(), armored(&lab.cert));
    // The air-gapped site: its own copy of the inventory, an empty cache, no network.
    let site = tempfile::tempdir().unwrap();
    fs::create_dir_all(site.path().join("inventory")).unwrap();
    for f in ["site.yaml", "key.asc"] {
        fs::copy(lab.path().join("inventory").join(f), site.path().join("inventory").join(f)).unwrap();
    }
    let requests = s.requests().len();
    let o = lab
        .cmd(&["build", "--mirror"])
        .arg(&b)
        .arg("--offline")
        .current_dir(site.path())
        .env("PXEBAKE_CACHE", site.path().join("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(s.requests().len(), requests);
    assert_eq!(fs::read(site.path().join("out/tftp/vmlinuz.os")).unwrap(), lab.kernel);
    assert_eq!(
        fs::read(site.path().join("inventory/images.lock")).unwrap(),
        fs::read(lab.lock()).unwrap(),
        "both sites pin the same files"
    );
    // A bundle whose lock disagrees with its files is refused.
    let text = fs::read_to_string(b.join("images.lock")).unwrap().replace(&sha512(&lab.kernel), &"1".repeat(128));
    fs::write(b.join("images.lock"), text).unwrap();
    fs::remove_dir_all(site.path().join("cache")).unwrap();
    let o = lab
        .cmd(&["build", "--mirror"])
        .arg(&b)
        .arg("--offline")
        .current_dir(site.path())
        .env("PXEBAKE_CACHE", site.path().join("cache"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("mirror's images.lock"), "{}", err(&o));
}

// ---------------------------------------------------------------------------------------------
// Keys

#[test]
fn archived_coreos_key_is_refused_unless_opted_in_loudly() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    let coreos = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys/coreos-buildbot-image-signing-key.asc");
    fs::copy(&coreos, lab.path().join("inventory/key.asc")).unwrap();
    let o = lab.run(&["build"]);
    let e = err(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("SHA-1") && e.contains("insecure_sha1_key_before") && e.contains("image `os`"), "{e}");
    assert!(s.requests().is_empty(), "a refused key fails before any download");
    // Opted in: a loud warning, then normal verification (our test files are not CoreOS-signed).
    let inv = lab.path().join("inventory/site.yaml");
    let yaml = fs::read_to_string(&inv)
        .unwrap()
        .replace("    key: key.asc\n", "    key: key.asc\n    insecure_sha1_key_before: \"2023-01-01\"\n");
    fs::write(&inv, yaml).unwrap();
    let o = lab.run(&["build"]);
    let e = err(&o);
    assert!(e.contains("warning: INSECURE") && e.contains("2023-01-01"), "{e}");
    assert!(e.contains("unknown key") && e.contains("04127D0BFABEC8871FFB2CCE50E0885593D2DCB4"), "{e}");
}

#[test]
fn key_expiring_within_90_days_warns_and_says_how_to_update() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    let soon = cert(DAY, Some(40 * DAY));
    fs::write(lab.path().join("inventory/key.asc"), armored(&soon)).unwrap();
    let lab = Lab { cert: soon, ..lab };
    lab.serve(&s);
    let o = lab.run(&["build"]);
    let e = err(&o);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("warning:") && e.contains("expires on") && e.contains("replace `"), "{e}");
    assert!(e.contains(&subkey_fpr(&lab.cert)), "{e}");
}

#[test]
fn fetch_one_image_and_unknown_image() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    let o = lab.run(&["fetch", "--image", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("image `nope` is not in the inventory") && err(&o).contains("`os`"), "{}", err(&o));
    let o = lab.run(&["fetch", "--image", "os"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(lab.lock().is_file());
    let mut buf = String::new();
    fs::File::open(lab.lock()).unwrap().read_to_string(&mut buf).unwrap();
    assert!(buf.contains("\"format\": 1"));
}

#[test]
fn two_builds_sharing_a_cache_at_once_both_succeed() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    let a = lab.cmd(&["build", "--out", "out-a"]).spawn().unwrap();
    let b = lab.cmd(&["build", "--out", "out-b"]).spawn().unwrap();
    for (child, out) in [(a, "out-a"), (b, "out-b")] {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", err(&o));
        assert_eq!(fs::read(lab.path().join(out).join("tftp/initrd.os")).unwrap(), lab.initrd);
    }
    // The per-file lock made one wait for the other: each file was downloaded once.
    let data: Vec<String> = s.requests().into_iter().filter(|r| !r.contains(".sig")).collect();
    assert_eq!(data.len(), 2, "{data:?}");
}
