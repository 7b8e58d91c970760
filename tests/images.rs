//! OS images end to end: the real binary against signed test images served from loopback.
//!
//! Keys are generated here with sequoia (signing subkeys, an expired and a revoked one); files
//! are signed here; an in-process HTTP server on 127.0.0.1 serves them and can answer 404/500,
//! cut a connection after N bytes, or stall. Nothing leaves loopback: the "unreachable host"
//! is a closed port on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

use common::images::*;
use common::snapshot;

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
    // The earlier build without images pinned only the bootloaders; no image file got pinned.
    let lock = fs::read_to_string(lab.lock()).unwrap_or_default();
    assert!(!lock.contains("\"image\""), "a failed build pinned images: {lock}");
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
    let _disk = common::tmpfs(&lab.cache(), "512k");
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
    for f in [
        "os/1.0/vmlinuz",
        "os/1.0/vmlinuz.sig",
        "os/1.0/initrd.img",
        "os/1.0/initrd.img.sig",
        "images.lock",
        "bootloaders/undionly.kpxe",
        "bootloaders/snponly.efi",
    ] {
        assert!(b.join(f).is_file(), "bundle lacks {f}");
    }
    assert_eq!(fs::read(b.join("keys/key.asc")).unwrap(), armored(&lab.cert));
    // The air-gapped site: its own copy of the inventory, an empty cache, no network.
    let site = tempfile::tempdir().unwrap();
    fs::create_dir_all(site.path().join("inventory")).unwrap();
    for f in ["site.yaml", "key.asc"] {
        fs::copy(lab.path().join("inventory").join(f), site.path().join("inventory").join(f)).unwrap();
    }
    // It has no Debian bootloader packages either (an empty stand-in for `/`).
    let bare = site.path().join("bare-root");
    fs::create_dir(&bare).unwrap();
    let requests = s.requests().len();
    let o = lab
        .cmd(&["build", "--mirror"])
        .arg(&b)
        .arg("--offline")
        .current_dir(site.path())
        .env("PXEBAKE_CACHE", site.path().join("cache"))
        .env("PXEBAKE_LOADER_ROOT", &bare)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(s.requests().len(), requests);
    assert_eq!(fs::read(site.path().join("out/tftp/vmlinuz.os")).unwrap(), lab.kernel);
    assert_eq!(
        fs::read(site.path().join("out/tftp/undionly.kpxe")).unwrap(),
        fs::read(b.join("bootloaders/undionly.kpxe")).unwrap()
    );
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
    assert!(buf.contains("\"format\": 2"));
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
