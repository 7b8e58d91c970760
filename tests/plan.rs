//! One plan for every command, and no half trees: `diff` right after a build with images finds
//! nothing to change; a build killed with SIGKILL at any point leaves, after the next command, a
//! tree byte-identical to a clean build of the old or of the new inventory; `make deploy`
//! refuses a tree cut short; modes do not follow the umask; every failure answers in JSON when
//! asked to.

mod common;

use std::fs;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Command, Output};

use common::images::*;
use common::{release_of, releases, repo, state, stderr, stdout};

/// Three hosts beside the lab's `n1`, a files rule, and what the tests change about them.
#[derive(Clone, Copy)]
struct Variant {
    /// `n2`'s boot state.
    n2_boot: &'static str,
    /// Whether `n3` exists (else `n4` does).
    n3: bool,
    /// The files rule's path template.
    cc_path: &'static str,
}

const OLD: Variant = Variant { n2_boot: "install", n3: true, cc_path: "cc/{{ host.name }}.yaml" };
const NEW: Variant = Variant { n2_boot: "os", n3: false, cc_path: "cc/{{ host.name }}.yaml" };
/// Only `n2` differs from OLD.
const NEW_N2: Variant = Variant { n2_boot: "os", ..OLD };
/// `cc/<host>` files of the old tree become directories: a whole-tree (staged) write.
const OLD_FLAT: Variant = Variant { n2_boot: "install", n3: true, cc_path: "cc/{{ host.name }}" };
const NEW_NESTED: Variant = Variant { n2_boot: "install", n3: true, cc_path: "cc/{{ host.name }}/user-data" };

fn files_rule(v: Variant) -> String {
    format!("files:\n  - {{ path: \"{}\", template: cloud-config.yaml, hosts: node }}\n", v.cc_path)
}

fn host(name: &str, n: u8, boot: &str) -> String {
    format!(
        "  - name: {name}\n    appliance: node\n    boot: {boot}\n    interfaces: [{{ network: prov, mac: \"52:54:00:00:02:{n:02x}\", ip: 10.0.0.{n} }}]\n"
    )
}

fn set_inventory(lab: &Lab, url: &str, v: Variant) {
    let inv = lab.path().join("inventory");
    let site = site_yaml(url, "", &files_rule(v));
    fs::write(inv.join("site.yaml"), site).unwrap();
    let mut hosts = String::from("hosts:\n");
    hosts.push_str(&host("n2", 12, v.n2_boot));
    hosts.push_str(&if v.n3 { host("n3", 13, "install") } else { host("n4", 14, "install") });
    fs::write(inv.join("more.yaml"), hosts).unwrap();
}

fn ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}\n{}{}", o.status, stdout(o), stderr(o));
}

/// The lab with images served and cached, and the tree of `v` built into `out`.
fn served_lab(s: &Server, v: Variant) -> Lab {
    let lab = Lab::new(&s.url());
    lab.serve(s);
    set_inventory(&lab, &s.url(), v);
    ok(&lab.run(&["build"]));
    lab
}

/// The state of a clean build of `v` (into a fresh directory).
fn clean_build(lab: &Lab, url: &str, v: Variant, name: &str) -> std::collections::BTreeMap<String, String> {
    set_inventory(lab, url, v);
    let out = lab.path().join(name);
    ok(&lab.run(&["build", "--out", out.to_str().unwrap()]));
    state(&out)
}

/// Traces of a cut-short write next to and in `out`.
fn debris(lab: &Lab) -> Vec<String> {
    let mut found: Vec<String> = fs::read_dir(lab.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("pxebake-stage") || n.contains("pxebake-journal"))
        .collect();
    if lab.out().is_dir() {
        found.extend(state(&lab.out()).into_keys().filter(|p| p.contains(".pxebake-new.")));
    }
    found
}

fn make_deploy(lab: &Lab, dest: &Path) -> Output {
    Command::new("make")
        .current_dir(lab.path())
        .arg("-s")
        .arg("-f")
        .arg(repo().join("Makefile"))
        .arg("deploy")
        .arg(format!("DEST={}", dest.display()))
        .arg(format!("PXEBAKE={}", env!("CARGO_BIN_EXE_pxebake")))
        .output()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// One plan

#[test]
fn diff_right_after_a_build_with_images_finds_nothing_then_exactly_the_edited_host() {
    let s = Server::start();
    let lab = served_lab(&s, OLD);
    assert!(lab.out().join("images/os/1.0/initrd.img").is_file(), "the build placed the images");
    let requests = s.requests().len();
    let o = lab.run(&["diff", "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("0 added, 0 changed, 0 removed"), "{}", stdout(&o));
    // check plans the same tree: the links into images/ resolve, so nothing is relaxed.
    ok(&lab.run(&["check"]));
    assert_eq!(s.requests().len(), requests, "diff and check plan the images without fetching them");
    // Another host boots its disk now.
    set_inventory(&lab, &s.url(), Variant { n2_boot: "os", ..OLD });
    let o = lab.run(&["diff", "--exit-code"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    // Without a runaction, n2 falls back to `default`: its own boot files go.
    assert!(text.contains("removed: tftp/pxelinux.cfg/0A00000C\n"), "{text}");
    assert!(text.contains("removed: tftp/pxelinux.cfg/01-52-54-00-00-02-0c\n"), "{text}");
    assert!(text.contains("0 added, 0 changed, 5 removed"), "{text}");
    assert!(!text.contains("images/"), "image files are part of the plan: {text}");
    let o = lab.run(&["diff", "--exit-code", "--output", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let paths: Vec<&str> = v["changes"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert!(paths.iter().all(|p| p.contains("0A00000C") || p.contains("02-0c")), "only n2's files: {paths:?}");
}

/// A build without images; returns its JSON summary.
fn quick_build(lab: &Lab, out: &str) -> serde_json::Value {
    let o = lab.run(&["--output", "json", "build", "--no-images", "--no-bootloaders", "--out", out]);
    ok(&o);
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn a_rebuild_renders_only_the_hosts_whose_inputs_changed() {
    let url = "http://127.0.0.1:9";
    let lab = Lab::new(url);
    set_inventory(&lab, url, OLD);
    let first = quick_build(&lab, "out");
    let hosts = first["hosts"].as_u64().unwrap();
    assert_eq!((hosts, first["hosts_kept"].as_u64()), (3, Some(0)), "{first}");
    let kept_written = |v: &serde_json::Value| (v["hosts_kept"].as_u64().unwrap(), v["written"].as_u64().unwrap());
    // Nothing changed: no host is rendered, nothing is written.
    assert_eq!(kept_written(&quick_build(&lab, "out")), (hosts, 0));
    // n2 boots its disk: only n2 is rendered again (its boot configs go, nothing is written).
    set_inventory(&lab, url, NEW_N2);
    let v = quick_build(&lab, "out");
    assert_eq!((kept_written(&v), v["removed"].as_u64()), ((hosts - 1, 0), Some(5)), "{v}");
    // A file changed by hand in `out/` is noticed: its host is rendered and the file written again.
    let edited = lab.out().join("http/cc/n3.yaml");
    let mut text = fs::read_to_string(&edited).unwrap();
    text.push_str("# edited by hand\n");
    fs::write(&edited, text).unwrap();
    assert_eq!(kept_written(&quick_build(&lab, "out")), (hosts - 1, 1));
    // An edited template: every host is rendered again.
    fs::create_dir_all(lab.path().join("templates")).unwrap();
    fs::write(lab.path().join("templates/cloud-config.yaml"), "#cloud-config\nhostname: {{ host.name }}\n").unwrap();
    let configs = fs::read_dir(lab.out().join("http/cc")).unwrap().count() as u64;
    assert_eq!(kept_written(&quick_build(&lab, "out")), (0, configs), "each cloud-config is rewritten");
    // A template that reads `hosts`: one edited host renders every host again.
    let listing = "#cloud-config\nhostname: {{ host.name }}\n# one of {{ hosts | length }}\n";
    fs::write(lab.path().join("templates/cloud-config.yaml"), listing).unwrap();
    quick_build(&lab, "out");
    set_inventory(&lab, url, OLD);
    assert_eq!(quick_build(&lab, "out")["hosts_kept"].as_u64(), Some(0));
    // Whatever was kept, the tree is the one a clean build writes.
    quick_build(&lab, "clean");
    assert_eq!(state(&lab.out()), state(&lab.path().join("clean")));
}

#[test]
fn a_build_that_fails_its_lint_does_not_write_the_lock() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    set_inventory(&lab, &s.url(), OLD);
    fs::create_dir_all(lab.path().join("templates")).unwrap();
    fs::write(lab.path().join("templates/cloud-config.yaml"), "#cloud-confie\nhostname: {{ host.name }}\n").unwrap();
    let o = lab.run(&["build"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("#cloud-confie"), "{}", stderr(&o));
    assert!(!lab.lock().exists(), "a failed build pinned images");
    assert!(!lab.out().exists());
    // The same build, fixed, pins them.
    fs::remove_dir_all(lab.path().join("templates")).unwrap();
    ok(&lab.run(&["build"]));
    let lock = fs::read_to_string(lab.lock()).unwrap();
    assert!(lock.contains("\"vmlinuz\"") && lock.contains("\"undionly.kpxe\""), "{lock}");
}

// ---------------------------------------------------------------------------------------------
// Crash safety

/// Kills the build of `new` after each file operation of its write phase in turn (the test-only
/// hook `PXEBAKE_TEST_KILL_AFTER`), starting each time from a clean build of `old` (or no tree).
/// After each kill, `make deploy` must refuse a tree cut short, and the next command (`diff`)
/// must leave exactly the old or the new tree. Returns how many points were tried and which
/// traces the kills left, to prove every phase was hit.
fn kill_everywhere(old: Option<Variant>, new: Variant) -> (usize, Vec<String>) {
    let s = Server::start();
    let lab = served_lab(&s, new);
    let new_state = clean_build(&lab, &s.url(), new, "ref-new");
    let old_state = old.map(|v| clean_build(&lab, &s.url(), v, "ref-old"));
    let mut seen = Vec::new();
    for n in 1.. {
        assert!(n < 2000, "the build never finished");
        let _ = fs::remove_dir_all(lab.out());
        for e in fs::read_dir(lab.path()).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with(".out.") {
                let _ = fs::remove_file(lab.path().join(&name)).or_else(|_| fs::remove_dir_all(lab.path().join(&name)));
            }
        }
        if let Some(v) = old {
            set_inventory(&lab, &s.url(), v);
            ok(&lab.run(&["build"]));
        }
        set_inventory(&lab, &s.url(), new);
        let o = lab.cmd(&["build"]).env("PXEBAKE_TEST_KILL_AFTER", n.to_string()).output().unwrap();
        if o.status.success() {
            assert_eq!(state(&lab.out()), new_state, "the build that was not killed");
            eprintln!("{n} kill points, traces seen: {seen:?}");
            return (n, seen);
        }
        assert_eq!(o.status.signal(), Some(9), "kill point {n}: {}", stderr(&o));
        let traces = debris(&lab);
        for t in &traces {
            let kind = if t.contains("journal") {
                "journal"
            } else if t.contains("stage") {
                "stage"
            } else {
                "temporaries"
            };
            if !seen.iter().any(|k| k == kind) {
                seen.push(kind.to_string());
            }
        }
        if !traces.is_empty() && lab.out().join(".pxebake-tree").exists() {
            let dest = lab.path().join("deployed");
            let d = make_deploy(&lab, &dest);
            assert_eq!(d.status.code(), Some(2), "kill point {n}: make deploy shipped a cut-short tree {traces:?}");
            assert!(stderr(&d).contains("cut short"), "{}", stderr(&d));
            assert!(!dest.exists());
        }
        // The next command that reads out/ finishes or undoes the write.
        let d = lab.run(&["diff"]);
        assert!(d.status.success(), "kill point {n}: {}", stderr(&d));
        assert_eq!(debris(&lab), Vec::<String>::new(), "kill point {n}: traces left");
        let now = lab.out().exists().then(|| state(&lab.out()));
        let is_old = match &old_state {
            Some(o) => now.as_ref() == Some(o),
            None => now.is_none(),
        };
        assert!(is_old || now.as_ref() == Some(&new_state), "kill point {n}: a half tree: {now:#?}");
        // And a build from there ends with the new tree.
        ok(&lab.run(&["build"]));
        assert_eq!(state(&lab.out()), new_state, "kill point {n}: rebuilt");
    }
    unreachable!()
}

#[test]
fn a_build_killed_anywhere_in_an_in_place_write_leaves_the_old_or_the_new_tree() {
    let (points, seen) = kill_everywhere(Some(OLD), NEW);
    assert!(points > 10, "only {points} kill points");
    assert!(seen.contains(&"temporaries".to_string()) && seen.contains(&"journal".to_string()), "{seen:?}");
}

#[test]
fn a_build_killed_anywhere_in_a_whole_tree_swap_leaves_the_old_or_the_new_tree() {
    let (points, seen) = kill_everywhere(Some(OLD_FLAT), NEW_NESTED);
    assert!(points > 20, "only {points} kill points");
    assert!(seen.contains(&"stage".to_string()), "{seen:?}");
}

#[test]
fn a_first_build_killed_anywhere_leaves_no_tree_or_the_whole_tree() {
    let (points, seen) = kill_everywhere(None, NEW);
    assert!(points > 20, "only {points} kill points");
    assert!(seen.contains(&"stage".to_string()), "{seen:?}");
}

// ---------------------------------------------------------------------------------------------
// Modes

fn build_with_umask(lab: &Lab, mask: u32) -> Output {
    let mut c = lab.cmd(&["build"]);
    // SAFETY: umask is async-signal-safe; it runs in the child before exec.
    unsafe {
        c.pre_exec(move || {
            libc::umask(mask as libc::mode_t);
            Ok(())
        });
    }
    c.output().unwrap()
}

#[test]
fn modes_are_the_same_whatever_the_umask() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    set_inventory(&lab, &s.url(), OLD);
    let mut states = Vec::new();
    for mask in [0o077, 0o000, 0o022] {
        let _ = fs::remove_dir_all(lab.out());
        let o = build_with_umask(&lab, mask);
        ok(&o);
        let st = state(&lab.out());
        for (path, what) in &st {
            let expected = if what.starts_with("dir ") {
                "dir 755"
            } else if what.starts_with("link ") {
                continue;
            } else if path.starts_with("images/") {
                "file 444" // hard links to the cache's read-only verified copies
            } else {
                "file 644"
            };
            assert!(what.starts_with(expected), "umask {mask:o}: {path} is {what}, expected {expected}");
        }
        let root = fs::metadata(lab.out()).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&root.permissions()) & 0o7777, 0o755, "out/ itself");
        states.push(st);
    }
    assert_eq!(states[0], states[1]);
    assert_eq!(states[1], states[2]);
    // A tree written under umask 077 by an older pxebake (files 0600) is repaired by a rebuild.
    let f = lab.out().join("etc/dnsmasq.conf");
    fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let o = lab.run(&["diff", "--exit-code"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    ok(&lab.run(&["build"]));
    assert_eq!(state(&lab.out()), states[0]);
}

// ---------------------------------------------------------------------------------------------
// JSON errors

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}\n{}", stdout(o), stderr(o)))
}

#[test]
fn every_failure_answers_in_json_when_asked() {
    let s = Server::start();
    let lab = Lab::new(&s.url());
    lab.serve(&s);
    set_inventory(&lab, &s.url(), OLD);
    // A failure (exit 1): the output is a file.
    fs::write(lab.path().join("a-file"), "x").unwrap();
    let o = lab.run(&["build", "--out", "a-file", "--output", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json_of(&o);
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("`a-file` exists and is not a directory"), "{v}");
    // Without --output json, standard output stays empty.
    let o = lab.run(&["build", "--out", "a-file"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    // A failure of the network (exit 1).
    let lab2 = Lab::new(&format!("http://127.0.0.1:{}/", closed_port()));
    let o = lab2.run(&["fetch", "--output", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json_of(&o);
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("image `os`"), "{v}");
    // Invalid input (exit 2): the problems, each with file and line.
    fs::write(lab.path().join("inventory/more.yaml"), "hosts:\n  - name: n1\n    appliance: nope\n").unwrap();
    let o = lab.run(&["check", "--output", "json"]);
    assert_eq!(o.status.code(), Some(2));
    let v = json_of(&o);
    assert_eq!(v["ok"], false);
    assert!(!v["problems"].as_array().unwrap().is_empty(), "{v}");
    // Bad usage (exit 2).
    let o = lab.run(&["build", "--no-such-flag", "--output", "json"]);
    assert_eq!(o.status.code(), Some(2));
    let v = json_of(&o);
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("--no-such-flag"), "{v}");
}

// ---------------------------------------------------------------------------------------------
// Deploys as releases

#[test]
fn deploys_are_releases_switched_at_once_kept_and_rolled_back() {
    use std::os::unix::fs::MetadataExt as _;
    let s = Server::start();
    let lab = served_lab(&s, OLD);
    let srv = lab.path().join("srv");
    fs::create_dir(&srv).unwrap();
    let dest = srv.join("pxebake");
    let reloads = lab.path().join("reloads");
    let reload = format!("echo reloaded >> '{}'", reloads.display());
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", dest.to_str().unwrap(), "--keep", "2", "--reload", &reload];
        args.extend_from_slice(extra);
        lab.run(&args)
    };
    let reloaded = || fs::read_to_string(&reloads).map(|t| t.lines().count()).unwrap_or(0);

    // First deploy: the destination becomes a link to the first release, which is the tree.
    ok(&deploy(&[]));
    let first = release_of(&dest);
    assert_eq!(state(&dest), state(&lab.out()));
    assert_eq!(reloaded(), 1, "new reservations: reload");

    // A changed site: a new release; unchanged files are hard links to the previous release.
    set_inventory(&lab, &s.url(), NEW);
    ok(&lab.run(&["build"]));
    ok(&deploy(&[]));
    let second = release_of(&dest);
    assert_ne!(first, second);
    assert_eq!(state(&dest), state(&lab.out()));
    let rel = srv.join("pxebake.releases");
    let ino = |r: &str| fs::metadata(rel.join(r).join("etc/nginx.conf")).unwrap().ino();
    assert_eq!(ino(&first), ino(&second), "unchanged files are linked, not copied");
    assert_eq!(reloaded(), 2, "n3 left, n4 came: reload");

    // Nothing changed: a third release, no reload; --keep 2 drops the first.
    let new_state = state(&lab.out());
    ok(&deploy(&[]));
    let third = release_of(&dest);
    assert_eq!(reloaded(), 2, "same reservations: no reload");
    assert_eq!(releases(&dest), [second.clone(), third.clone()]);

    // Roll back: the link points at the release before, nothing is copied.
    let o = lab.run(&["deploy", dest.to_str().unwrap(), "--rollback"]);
    ok(&o);
    assert_eq!(release_of(&dest), second);
    assert_eq!(state(&dest), new_state);
    let o = lab.run(&["deploy", dest.to_str().unwrap(), "--rollback"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nothing to roll back to"), "{}", stderr(&o));

    // A tree cut short is not deployed.
    fs::write(lab.out().join("etc/.pxebake-new.nginx.conf"), "half").unwrap();
    let o = deploy(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cut short"), "{}", stderr(&o));
    assert_eq!(releases(&dest), [second.clone(), third]);
    fs::remove_file(lab.out().join("etc/.pxebake-new.nginx.conf")).unwrap();

    // A plain directory at the destination (an rsync deploy) is not replaced behind the user's back.
    let plain = srv.join("plain");
    fs::create_dir(&plain).unwrap();
    let o = lab.run(&["deploy", plain.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is a directory, not a release link"), "{}", stderr(&o));
}
