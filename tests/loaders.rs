//! Bootloaders pinned like images: images.lock records each loader's SHA-256 and the Debian
//! package and version it came from; a builder whose file differs fails naming both until
//! `fetch --update-lock`; a bundle carries the loaders, so a builder without the packages builds
//! the same bytes; a machine without the packages is told the one `apt-get` line (and `make
//! build` runs it as root). Loader files are looked up under `PXEBAKE_LOADER_ROOT`, so these
//! tests use a stand-in root with its own dpkg database instead of uninstalling anything.

mod common;

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{example_site, repo, state, stderr, stdout};
use sha2::Digest as _;

const SITE: &str = r#"site:
  name: lab
  domain: lab.example
  frontend: 10.0.0.1
  http: http://10.0.0.1/boot
networks:
  prov: { address: 10.0.0.0/24, gateway: 10.0.0.1, pxe: true }
hosts: []
"#;

/// A site directory with a stand-in root (`root/`) and its own cache.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(site: &str) -> Lab {
        let dir = common::site(&[("site.yaml", site)]);
        fs::create_dir_all(dir.path().join("root")).unwrap();
        Lab { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn root(&self) -> PathBuf {
        self.path().join("root")
    }

    /// Installs the stand-in `ipxe` package: its two loaders with these bytes, at `version`.
    fn install_ipxe(&self, version: &str, undionly: &[u8], snponly: &[u8]) {
        let r = self.root();
        fs::create_dir_all(r.join("usr/lib/ipxe")).unwrap();
        fs::write(r.join("usr/lib/ipxe/undionly.kpxe"), undionly).unwrap();
        fs::write(r.join("usr/lib/ipxe/snponly.efi"), snponly).unwrap();
        let db = r.join("var/lib/dpkg");
        fs::create_dir_all(db.join("info")).unwrap();
        fs::write(
            db.join("status"),
            format!(
                "Package: ipxe\nStatus: install ok installed\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n\n"
            ),
        )
        .unwrap();
        fs::write(db.join("info/ipxe.list"), "/usr/lib/ipxe\n/usr/lib/ipxe/undionly.kpxe\n/usr/lib/ipxe/snponly.efi\n")
            .unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = common::bin();
        c.current_dir(self.path())
            .env("PXEBAKE_LOADER_ROOT", self.root())
            .env("PXEBAKE_CACHE", self.path().join("cache"))
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn lock(&self) -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(self.path().join("inventory/images.lock")).unwrap()).unwrap()
    }
}

fn ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}\n{}{}", o.status, stdout(o), stderr(o));
}

fn sha256(b: &[u8]) -> String {
    sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn pinned<'a>(lock: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    lock["bootloaders"].as_array().unwrap().iter().find(|l| l["name"] == name).unwrap_or_else(|| panic!("{lock}"))
}

#[test]
fn bootloaders_are_pinned_with_their_package_and_a_changed_one_fails_naming_both() {
    let lab = Lab::new(SITE);
    lab.install_ipxe("1.0-test1", b"undionly one", b"snponly one");
    ok(&lab.run(&["build", "--no-images"]));
    let lock = lab.lock();
    assert_eq!(lock["format"], 2);
    let u = pinned(&lock, "undionly.kpxe");
    assert_eq!(u["sha256"], sha256(b"undionly one"));
    assert_eq!(u["size"], 12);
    assert_eq!(u["source"], "/usr/lib/ipxe/undionly.kpxe");
    assert_eq!(u["package"], "ipxe");
    assert_eq!(u["version"], "1.0-test1");
    assert_eq!(pinned(&lock, "snponly.efi")["sha256"], sha256(b"snponly one"));
    let out = lab.path().join("out");
    assert_eq!(fs::read(out.join("tftp/undionly.kpxe")).unwrap(), b"undionly one");
    assert_eq!(fs::read(out.join("http/loaders/snponly.efi")).unwrap(), b"snponly one");
    let before = state(&out);
    let lock_text = fs::read(lab.path().join("inventory/images.lock")).unwrap();

    // The package is upgraded: the new file fails the build, naming both files and versions.
    lab.install_ipxe("1.0-test2", b"undionly two!", b"snponly one");
    let o = lab.run(&["build", "--no-images"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    for part in [
        "bootloader `undionly.kpxe`",
        &format!("pins 12 bytes with sha256 {}", sha256(b"undionly one")),
        "`/usr/lib/ipxe/undionly.kpxe` (package `ipxe` 1.0-test1)",
        &format!("this builder has 13 bytes with sha256 {}", sha256(b"undionly two!")),
        "`/usr/lib/ipxe/undionly.kpxe` (package `ipxe` 1.0-test2)",
        "pxebake fetch --update-lock",
        "`apt-get install ipxe=1.0-test1`",
    ] {
        assert!(e.contains(part), "no `{part}` in\n{e}");
    }
    assert!(!e.contains("snponly.efi"), "only the changed file is named: {e}");
    assert_eq!(state(&out), before, "a failed build wrote the tree");
    assert_eq!(fs::read(lab.path().join("inventory/images.lock")).unwrap(), lock_text, "a failed build wrote the lock");
    // Every command plans the same tree: check and diff refuse it too.
    for cmd in ["check", "diff"] {
        let o = lab.run(&[cmd, "--no-images"]);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains("1.0-test2"), "{cmd}: {}", stderr(&o));
    }

    // Accepted on purpose: the lock pins the new file and its version, and the build places it.
    let o = lab.run(&["fetch", "--no-images", "--update-lock"]);
    ok(&o);
    assert!(stderr(&o).contains("undionly.kpxe` differed from images.lock"), "{}", stderr(&o));
    let lock = lab.lock();
    assert_eq!(pinned(&lock, "undionly.kpxe")["sha256"], sha256(b"undionly two!"));
    assert_eq!(pinned(&lock, "undionly.kpxe")["version"], "1.0-test2");
    ok(&lab.run(&["build", "--no-images"]));
    assert_eq!(fs::read(out.join("tftp/undionly.kpxe")).unwrap(), b"undionly two!");
    let o = lab.run(&["diff", "--no-images", "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn a_loader_the_inventory_takes_from_elsewhere_is_a_new_pin_not_a_mismatch() {
    let lab = Lab::new(SITE);
    lab.install_ipxe("1.0-test1", b"undionly one", b"snponly one");
    ok(&lab.run(&["build", "--no-images"]));
    // The site now ships its own undionly.kpxe: a change of the inventory, pinned anew.
    fs::write(lab.path().join("inventory/undionly.kpxe"), b"our own build").unwrap();
    let site = SITE.replace(
        "  http: http://10.0.0.1/boot\n",
        "  http: http://10.0.0.1/boot\n  bootloaders: { undionly.kpxe: undionly.kpxe }\n",
    );
    fs::write(lab.path().join("inventory/site.yaml"), site).unwrap();
    ok(&lab.run(&["build", "--no-images"]));
    let lock = lab.lock();
    let u = pinned(&lock, "undionly.kpxe");
    assert_eq!(u["source"], "undionly.kpxe");
    assert_eq!(u["sha256"], sha256(b"our own build"));
    assert!(u.get("package").is_none() && u.get("version").is_none(), "{u}");
    assert_eq!(fs::read(lab.path().join("out/tftp/undionly.kpxe")).unwrap(), b"our own build");
    // But that file changing under the same name is a mismatch again.
    fs::write(lab.path().join("inventory/undionly.kpxe"), b"someone else's").unwrap();
    let o = lab.run(&["build", "--no-images"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("from `undionly.kpxe`, but this builder has 14 bytes"), "{}", stderr(&o));
}

#[test]
fn a_builder_without_the_packages_is_told_the_one_apt_get_line() {
    // Every loader choice: iPXE by default, PXELINUX/GRUB on one network, Secure Boot on another.
    let site = SITE.replace(
        "hosts: []",
        "  tftp: { address: 10.1.0.0/24, pxe: true, loader: tftp }\n  sb: { address: 10.2.0.0/24, pxe: true, loader: secureboot }\nhosts: []",
    );
    let lab = Lab::new(&site);
    let o = lab.run(&["build", "--no-images"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("apt-get install -y grub-efi-amd64-signed ipxe pxelinux shim-signed syslinux-common`"), "{e}");
    assert!(e.contains("site.yaml:8: bootloader `pxelinux.0` (for loader `tftp` of network `tftp`)"), "{e}");
    assert!(!lab.path().join("out").exists(), "something was written");
    assert!(!lab.path().join("inventory/images.lock").exists(), "a failed build wrote the lock");
    let o = lab.run(&["loaders", "--missing", "--no-images"]);
    ok(&o);
    assert_eq!(stdout(&o), "grub-efi-amd64-signed ipxe pxelinux shim-signed syslinux-common\n");
    let o = lab.run(&["--output", "json", "loaders", "--missing"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["missing"].as_array().unwrap().len(), 5, "{v}");
    // Nothing is missing where --no-bootloaders leaves them out.
    let o = lab.run(&["loaders", "--missing", "--no-bootloaders"]);
    ok(&o);
    assert_eq!(stdout(&o), "");
}

#[test]
fn pinned_loaders_come_from_the_cache_when_the_packages_are_gone() {
    let lab = Lab::new(SITE);
    lab.install_ipxe("1.0-test1", b"undionly one", b"snponly one");
    ok(&lab.run(&["build", "--no-images"]));
    fs::remove_dir_all(lab.root()).unwrap();
    fs::create_dir(lab.root()).unwrap();
    let o = lab.run(&["loaders", "--missing"]);
    ok(&o);
    assert_eq!(stdout(&o), "", "pinned and cached: nothing to install");
    let o = lab.run(&["diff", "--no-images", "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let o = lab.run(&["loaders"]);
    assert!(stdout(&o).contains("undionly.kpxe: cache"), "{}", stdout(&o));
}

/// Runs the script `make build` runs first, with a fake `apt-get` on PATH that records its
/// arguments, as root or (with `setpriv`) as nobody.
fn install_loaders(lab: &Lab, as_root: bool) -> (Output, String) {
    let bin = lab.path().join("fakebin");
    fs::create_dir_all(&bin).unwrap();
    let calls = lab.path().join("apt-calls");
    fs::write(bin.join("apt-get"), format!("#!/bin/sh\necho \"$@\" >> '{}'\n", calls.display())).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    fs::set_permissions(bin.join("apt-get"), mode).unwrap();
    let mut c = if as_root {
        Command::new("sh")
    } else {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh"]);
        c
    };
    c.arg(repo().join("scripts/install-loaders.sh"))
        .arg(env!("CARGO_BIN_EXE_pxebake"))
        .arg("--no-images")
        .current_dir(lab.path())
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .env("PXEBAKE_LOADER_ROOT", lab.root())
        .env("PXEBAKE_CACHE", lab.path().join("cache"));
    let o = c.output().unwrap_or_else(|e| panic!("cannot run the install script: {e}"));
    (o, fs::read_to_string(&calls).unwrap_or_default())
}

#[test]
fn make_build_installs_the_missing_loader_packages_as_root_and_otherwise_prints_the_line() {
    let makefile = fs::read_to_string(repo().join("Makefile")).unwrap();
    assert!(
        makefile.contains("\t@sh scripts/install-loaders.sh $(BIN) $(PXEBAKE_FLAGS)\n\t$(BIN) build"),
        "{makefile}"
    );
    assert!(
        is_root(),
        "this test runs the install step as root and as nobody; run the tests as root (as .ci/run does)"
    );
    let lab = Lab::new(SITE);
    // nobody must be able to read the site.
    let open = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    fs::set_permissions(lab.path(), open).unwrap();

    let (o, calls) = install_loaders(&lab, true);
    ok(&o);
    assert_eq!(calls, "install -y -q --no-install-recommends ipxe\n");
    assert!(stderr(&o).contains("installing the Debian packages of the site's bootloaders: ipxe"), "{}", stderr(&o));

    let (o, calls) = install_loaders(&lab, false);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("\n  apt-get install -y ipxe\n"), "{}", stderr(&o));
    assert_eq!(calls.lines().count(), 1, "apt-get ran without root: {calls}");

    // With the package there, nothing is installed.
    lab.install_ipxe("1.0-test1", b"u", b"s");
    let (o, calls) = install_loaders(&lab, true);
    ok(&o);
    assert_eq!(calls.lines().count(), 1, "{calls}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The example site's bootloaders must be installed for the byte-identity test (`.ci/run`
/// installs them); a missing one fails the test with the reason.
fn require_debian_loaders() {
    for (path, pkg) in [("/usr/lib/ipxe/undionly.kpxe", "ipxe"), ("/usr/lib/ipxe/snponly.efi", "ipxe")] {
        assert!(
            Path::new(path).is_file(),
            "`{path}` is missing: this test builds from Debian's packages; `apt-get install {pkg}` (as .ci/run does)"
        );
    }
}

fn build_with(c: &mut Command, umask: u32, tz: &str, lang: &str) -> Output {
    c.env("TZ", tz).env("LANG", lang).env("LC_ALL", lang);
    // SAFETY: umask is async-signal-safe; it runs in the child before exec.
    unsafe {
        c.pre_exec(move || {
            libc::umask(umask as libc::mode_t);
            Ok(())
        });
    }
    c.output().unwrap()
}

#[test]
fn two_builds_from_packages_and_from_a_bundle_without_them_are_byte_identical() {
    require_debian_loaders();
    // A: the example, built where it lies, loaders from Debian's packages.
    let a = example_site();
    let mut c = common::bin();
    c.current_dir(a.path()).env("PXEBAKE_CACHE", a.path().join("cache")).args(["build", "--no-images"]);
    ok(&build_with(&mut c, 0o022, "UTC", "C.UTF-8"));
    // Its bootloaders, carried in a bundle.
    let bundle = a.path().join("bundle");
    let o = common::bin()
        .current_dir(a.path())
        .env("PXEBAKE_CACHE", a.path().join("cache"))
        .args(["fetch", "--no-images", "--bundle", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&o);
    assert!(bundle.join("bootloaders/undionly.kpxe").is_file());

    // B: another copy, built from elsewhere with another umask, time zone and language, with the
    // package paths hidden (an empty loader root) and an empty cache: the bundle is all it has.
    let b = example_site();
    let elsewhere = b.path().join("some/other/dir");
    fs::create_dir_all(&elsewhere).unwrap();
    let empty = b.path().join("empty-root");
    fs::create_dir(&empty).unwrap();
    let (inv, tpl, out) = (b.path().join("inventory"), b.path().join("templates"), b.path().join("out"));
    let mut c = common::bin();
    c.current_dir(&elsewhere)
        .env("PXEBAKE_CACHE", b.path().join("cache"))
        .env("PXEBAKE_LOADER_ROOT", &empty)
        .args(["build", "--no-images", "--mirror", bundle.to_str().unwrap()])
        .args(["--inventory", inv.to_str().unwrap(), "--templates", tpl.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()]);
    ok(&build_with(&mut c, 0o077, "Asia/Kathmandu", "de_DE.UTF-8"));

    // Every file's bytes and mode, every directory's mode, every link's target.
    let (sa, sb) = (state(&a.path().join("out")), state(&out));
    assert!(sa.contains_key("tftp/undionly.kpxe") && sa.contains_key("http/loaders/snponly.efi"), "{sa:#?}");
    assert_eq!(sa, sb, "the two trees differ");
    assert_eq!(
        fs::read(a.path().join("inventory/images.lock")).unwrap(),
        fs::read(inv.join("images.lock")).unwrap(),
        "the bundle carried the loaders' pins (package and version) unchanged"
    );
    // And B's tree is what B's plan says, without the bundle or the packages (from the cache).
    let o = common::bin()
        .current_dir(b.path())
        .env("PXEBAKE_CACHE", b.path().join("cache"))
        .env("PXEBAKE_LOADER_ROOT", &empty)
        .args(["diff", "--no-images", "--exit-code"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}
