//! Deploys as releases over ssh: `make deploy` (which runs `pxebake deploy`) to
//! `root@127.0.0.1:/path` through a real sshd that the test starts on a free loopback port with
//! a throwaway host key and an authorized key made here; then a redeploy with changed
//! reservations, an unchanged one, and a rollback. Needs root and openssh-server (`.ci/run`
//! installs it); without them the test fails saying so.

mod common;

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{example_site, release_of, releases, repo, state, stderr, stdout};

const SSHD: &str = "/usr/sbin/sshd";

/// An sshd on 127.0.0.1 for this test only; killed when dropped.
struct Sshd {
    child: Child,
    dir: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "pxebake-test", "-f"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ssh-keygen ({e}); install openssh-client (as .ci/run does)"));
    assert!(o.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&o.stderr));
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the ssh deploy test starts sshd and logs in as root; run the tests as root (as .ci/run does)"
        );
        assert!(Path::new(SSHD).is_file(), "`{SSHD}` is missing: install openssh-server (as .ci/run does)");
        // sshd's privilege separation directory (the package's service makes it at boot).
        fs::create_dir_all("/run/sshd").unwrap();
        let dir = dir.to_path_buf();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.display();
        fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            ),
        )
        .unwrap();
        let host_pub = fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        fs::write(dir.join("known_hosts"), format!("[127.0.0.1]:{port} {}\n", host_pub.join(" "))).unwrap();
        fs::write(
            dir.join("ssh_config"),
            format!(
                "Host 127.0.0.1\n  Port {port}\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
            ),
        )
        .unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{SSHD}`: {e}"));
        let mut sshd = Sshd { child, dir };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd exited ({status}): {}", sshd.log());
            }
            assert!(start.elapsed() < Duration::from_secs(10), "sshd did not listen on {port}: {}", sshd.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// `--ssh` for pxebake: the test's client config.
    fn ssh(&self) -> String {
        format!("ssh -F {}", self.dir.join("ssh_config").display())
    }
}

fn ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}\n{}{}", o.status, stdout(o), stderr(o));
}

#[test]
fn deploys_over_ssh_as_releases_redeploys_and_rolls_back() {
    let site = example_site();
    let sshd = Sshd::start(&{
        let d = site.path().join("ssh");
        fs::create_dir(&d).unwrap();
        d
    });
    let build = || {
        let o = common::run(site.path(), &["build", "--no-images"]);
        ok(&o);
    };
    build();
    let srv = site.path().join("srv");
    fs::create_dir(&srv).unwrap();
    let dest = srv.join("pxebake");
    let remote = format!("root@127.0.0.1:{}", dest.display());
    let reloads = site.path().join("reloads");
    let reload = format!("echo reloaded >> {}", reloads.display());
    let reloaded = || fs::read_to_string(&reloads).map(|t| t.lines().count()).unwrap_or(0);
    let ssh = sshd.ssh();
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", &remote, "--ssh", &ssh, "--keep", "2", "--reload", &reload];
        args.extend_from_slice(extra);
        common::run(site.path(), &args)
    };

    // First deploy through `make deploy`: the destination becomes a link to a release that holds
    // the tree, and the new reservations are reloaded.
    let o = Command::new("make")
        .current_dir(site.path())
        .args(["-s", "-f"])
        .arg(repo().join("Makefile"))
        .arg("deploy")
        .arg(format!("DEST={remote}"))
        .arg(format!("PXEBAKE={}", env!("CARGO_BIN_EXE_pxebake")))
        .arg(format!("DEPLOY_FLAGS=--ssh '{}' --keep 2 --reload '{reload}'", sshd.ssh()))
        .output()
        .unwrap();
    ok(&o);
    assert!(sshd.log().contains("Accepted publickey for root"), "not over ssh: {}", sshd.log());
    let first = release_of(&dest);
    assert_eq!(state(&dest), state(&site.path().join("out")));
    assert_eq!(reloaded(), 1, "new reservations: reload");

    // A changed reservation: a new release, unchanged files hard-linked to the previous one.
    let hosts = site.path().join("inventory/hosts.yaml");
    let text = fs::read_to_string(&hosts).unwrap();
    assert!(text.contains("52:54:00:00:00:00"), "the example's first MAC moved; update this test");
    fs::write(&hosts, text.replacen("52:54:00:00:00:00", "52:54:00:00:00:aa", 1)).unwrap();
    build();
    ok(&deploy(&[]));
    let second = release_of(&dest);
    assert_ne!(first, second);
    assert_eq!(state(&dest), state(&site.path().join("out")));
    let rel = srv.join("pxebake.releases");
    let ino = |r: &str| fs::metadata(rel.join(r).join("etc/nginx.conf")).unwrap().ino();
    assert_eq!(ino(&first), ino(&second), "unchanged files are linked (--link-dest), not copied");
    assert_eq!(reloaded(), 2, "changed reservations: reload");

    // Unchanged: a third release, no reload, and --keep 2 drops the first.
    let now = state(&site.path().join("out"));
    ok(&deploy(&[]));
    let third = release_of(&dest);
    assert_eq!(reloaded(), 2, "same reservations: no reload");
    assert_eq!(releases(&dest), [second.clone(), third.clone()]);

    // Rollback over ssh: the link points at the release before; nothing is copied, and the same
    // reservations need no reload.
    let rollback = || common::run(site.path(), &["deploy", &remote, "--ssh", &ssh, "--reload", &reload, "--rollback"]);
    let o = rollback();
    ok(&o);
    assert_eq!(release_of(&dest), second);
    assert_eq!(state(&dest), now);
    assert!(stderr(&o).contains(&format!("now serves release `{second}` again (was `{third}`)")), "{}", stderr(&o));
    assert_eq!(reloaded(), 2, "same reservations: no reload");

    // The MAC back: a fourth release (reload); rolling back to the third brings the changed
    // reservation back, so that reloads too.
    fs::write(&hosts, &text).unwrap();
    build();
    ok(&deploy(&[]));
    let fourth = release_of(&dest);
    assert_eq!(reloaded(), 3);
    assert_eq!(releases(&dest), [third.clone(), fourth.clone()]);
    ok(&rollback());
    assert_eq!(release_of(&dest), third);
    assert_eq!(reloaded(), 4, "a rollback that changes reservations reloads");

    // A server that refuses the key: the error says so and the current release stays.
    fs::write(sshd.dir.join("authorized_keys"), "").unwrap();
    let o = deploy(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    assert_eq!(release_of(&dest), third);
}
