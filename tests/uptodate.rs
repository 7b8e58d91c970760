//! A build whose inputs did not change since the last one only confirms that `out/` is as that
//! build left it (`src/tree/stamp.rs`): no load, render, check or write. Any change to an input
//! or to `out/` makes it plan again, and the tree is then the one a clean build writes.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

use common::{site, state, stderr, stdout};

const SITE: &str = r#"site: { name: lab, domain: lab.example, frontend: 10.0.0.1, http: "http://10.0.0.1/boot" }
networks:
  prov: { address: 10.0.0.0/24, gateway: 10.0.0.1, zone: lab.example, mtu: 1500, pxe: true }
images:
  os:
    url: http://127.0.0.1:9/{version}/
    version: "1.0"
    key: key.asc
    files: { kernel: vmlinuz, initrd: initrd.img }
bootactions:
  install: { kernel: vmlinuz.os, ramdisk: initrd.os, image: os, args: "cloud-config-url={{ site.http }}/cc/{{ host.name }}.yaml" }
  disk: { localboot: 0 }
appliances:
  node: { installaction: install, runaction: disk }
files:
  - { path: "cc/{{ host.name }}.yaml", template: cloud-config.yaml, hosts: node }
hosts:
  - { name: n1, appliance: node, boot: install, interfaces: [{ network: prov, mac: "52:54:00:00:01:01", ip: 10.0.0.11 }] }
  - { name: n2, appliance: node, boot: install, interfaces: [{ network: prov, mac: "52:54:00:00:01:02", ip: 10.0.0.12 }] }
  - { name: n3, appliance: node, boot: os, interfaces: [{ network: prov, mac: "52:54:00:00:01:03", ip: 10.0.0.13 }] }
"#;

fn lab() -> tempfile::TempDir {
    let dir = site(&[("site.yaml", SITE)]);
    fs::write(dir.path().join("inventory/key.asc"), "not used without images\n").unwrap();
    dir
}

/// `build --no-images --no-bootloaders` with JSON output: the run and its summary.
fn build(dir: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec!["--output", "json", "build", "--no-images", "--no-bootloaders"];
    args.extend_from_slice(extra);
    let o = common::run(dir, &args);
    let v = serde_json::from_str(stdout(&o).trim()).unwrap_or(serde_json::Value::Null);
    (o, v)
}

fn ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}\n{}{}", o.status, stdout(o), stderr(o));
}

/// Whether the build only confirmed `out/`, after asserting it succeeded.
fn confirmed(dir: &Path) -> bool {
    let (o, v) = build(dir, &[]);
    ok(&o);
    v["up_to_date"].as_bool().expect("up_to_date in the summary")
}

/// The tree a clean build of the same inventory writes.
fn clean_tree(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let (o, _) = build(dir, &["--out", "clean"]);
    ok(&o);
    let tree = state(&dir.join("clean"));
    fs::remove_dir_all(dir.join("clean")).unwrap();
    tree
}

#[test]
fn an_unchanged_site_is_confirmed_without_planning() {
    let lab = lab();
    let dir = lab.path();
    let (o, first) = build(dir, &[]);
    ok(&o);
    assert_eq!(first["up_to_date"], false, "{first}");
    let before = state(&dir.join("out"));
    let (o, again) = build(dir, &[]);
    ok(&o);
    assert_eq!(again["up_to_date"], true, "{again}");
    assert_eq!((again["written"].as_u64(), again["removed"].as_u64()), (Some(0), Some(0)), "{again}");
    assert_eq!(
        (&again["files"], &again["hosts"], &again["hosts_kept"]),
        (&first["files"], &first["hosts"], &first["hosts"])
    );
    assert_eq!(again["unchanged"], first["files"]);
    assert_eq!(state(&dir.join("out")), before, "nothing in out/ changed");
    // The text summary says so.
    let o = common::run(dir, &["build", "--no-images", "--no-bootloaders"]);
    ok(&o);
    assert!(stderr(&o).contains("up to date: no input changed") && stderr(&o).contains(" 0 written"), "{}", stderr(&o));
    // `--full` plans and checks everything anyway (and still writes nothing).
    let (o, full) = build(dir, &["--full"]);
    ok(&o);
    assert_eq!((&full["up_to_date"], full["written"].as_u64()), (&serde_json::json!(false), Some(0)), "{full}");
}

#[test]
fn any_change_to_an_input_or_to_out_makes_the_build_plan_again() {
    let lab = lab();
    let dir = lab.path();
    let out = dir.join("out");
    ok(&build(dir, &[]).0);
    let expected = clean_tree(dir);
    // Each change to `out/` is undone by the build that follows.
    let tampered: [(&str, &dyn Fn()); 5] = [
        ("a file edited in place, same length", &|| {
            let p = out.join("http/cc/n1.yaml");
            let text = fs::read_to_string(&p).unwrap();
            fs::write(&p, text.replacen("n1", "x1", 1)).unwrap();
        }),
        ("a file removed", &|| fs::remove_file(out.join("tftp/pxelinux.cfg/01-52-54-00-00-01-02")).unwrap()),
        ("a stray file added", &|| fs::write(out.join("http/cc/stray.yaml"), "x").unwrap()),
        ("a file made private", &|| {
            fs::set_permissions(out.join("http/cc/n2.yaml"), fs::Permissions::from_mode(0o600)).unwrap()
        }),
        ("a link pointed elsewhere", &|| {
            let link = out.join("tftp/vmlinuz.os");
            let target = fs::read_link(&link).unwrap();
            fs::remove_file(&link).unwrap();
            std::os::unix::fs::symlink(target.join("elsewhere"), &link).unwrap();
        }),
    ];
    for (what, change) in tampered {
        assert!(confirmed(dir), "before: {what}");
        change();
        assert!(!confirmed(dir), "{what}: the build confirmed a changed out/");
        assert_eq!(state(&out), expected, "{what}: the tree is not the clean build's");
    }
    // Each change to an input plans again (the output is the same, so nothing is written).
    let inv = dir.join("inventory");
    let inputs: [(&str, &dyn Fn()); 4] = [
        ("a comment in the inventory", &|| {
            fs::write(inv.join("site.yaml"), format!("{SITE}# a comment\n")).unwrap();
        }),
        ("a file under inventory/files", &|| {
            fs::create_dir_all(inv.join("files")).unwrap();
            fs::write(inv.join("files/motd"), "hello\n").unwrap();
        }),
        ("images.lock", &|| fs::write(inv.join("images.lock"), "{\"format\": 2, \"files\": []}\n").unwrap()),
        ("a template the same as the built-in one", &|| {
            fs::create_dir_all(dir.join("templates")).unwrap();
            let builtin = common::repo().join("templates/cloud-config.yaml");
            fs::copy(builtin, dir.join("templates/cloud-config.yaml")).unwrap();
        }),
    ];
    for (what, change) in inputs {
        assert!(confirmed(dir), "before: {what}");
        change();
        let (o, v) = build(dir, &[]);
        assert_eq!(v["up_to_date"], false, "{what}: {}{}", stdout(&o), stderr(&o));
    }
    // Other settings are other builds.
    assert!(confirmed(dir));
    let (o, v) = build(dir, &["--deny-warnings"]);
    ok(&o);
    assert_eq!(v["up_to_date"], false, "--deny-warnings");
    assert!(confirmed(dir) || confirmed(dir), "the settings of the last build are confirmed again");
}

#[test]
fn a_rebuild_finds_what_was_added_to_out_even_with_the_directory_dated_back() {
    // A rebuild after an input changed takes `out/`'s paths from the manifest instead of
    // walking it, while every directory is as the last build left it. A stray file whose
    // directory's mtime was put back (as `rsync -t` or `touch -d` do) must still be found.
    let lab = lab();
    let dir = lab.path();
    let out = dir.join("out");
    ok(&build(dir, &[]).0);
    let expected = clean_tree(dir);
    let cc = out.join("http/cc");
    let mtime = fs::metadata(&cc).unwrap().modified().unwrap();
    fs::write(cc.join("stray.yaml"), "x").unwrap();
    fs::File::open(&cc).unwrap().set_modified(mtime).unwrap();
    assert_eq!(fs::metadata(&cc).unwrap().modified().unwrap(), mtime);
    fs::write(dir.join("inventory/site.yaml"), format!("{SITE}# a comment\n")).unwrap();
    let (o, v) = build(dir, &[]);
    ok(&o);
    assert_eq!((v["up_to_date"].as_bool(), v["removed"].as_u64()), (Some(false), Some(1)), "{v}");
    assert_eq!(state(&out), expected);
    // With nothing touched, the next change is built from the manifest's listing alone, and
    // leaves the clean build's tree.
    fs::write(dir.join("inventory/site.yaml"), SITE).unwrap();
    let (o, v) = build(dir, &[]);
    ok(&o);
    assert_eq!(
        (v["up_to_date"].as_bool(), v["written"].as_u64(), v["removed"].as_u64()),
        (Some(false), Some(0), Some(0)),
        "{v}"
    );
    assert_eq!(state(&out), expected);
}

#[test]
fn a_racy_file_is_judged_by_its_content() {
    // A change within the same timestamp tick as the last build leaves the mtime as it was;
    // such files are read. Every file is racy once the stamp (or the manifest) is dated back:
    // files no older than it are racy.
    let lab = lab();
    let dir = lab.path();
    ok(&build(dir, &[]).0);
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let date_back = |name: &str| {
        fs::File::options().write(true).open(dir.join(name)).unwrap().set_modified(past).unwrap();
    };
    date_back(".out.pxebake-stamp");
    assert!(confirmed(dir), "racy files with the planned content are confirmed");
    // A same-size edit with its mtime put back: size, mtime and inode are as written.
    let p = dir.join("out/http/cc/n3.yaml");
    let (meta, text) = (fs::metadata(&p).unwrap(), fs::read_to_string(&p).unwrap());
    let edit = || {
        fs::write(&p, text.replacen("n3", "x3", 1)).unwrap();
        fs::File::options().write(true).open(&p).unwrap().set_modified(meta.modified().unwrap()).unwrap();
    };
    edit();
    date_back(".out.pxebake-stamp");
    assert!(!confirmed(dir), "the stamp vouched for a racy file");
    // The same for the manifest a planning build keeps hosts' files by.
    edit();
    date_back(".out.pxebake-manifest");
    let (o, v) = build(dir, &[]);
    ok(&o);
    assert_eq!((v["up_to_date"].as_bool(), v["written"].as_u64()), (Some(false), Some(1)), "{v}");
    assert_eq!(fs::read_to_string(&p).unwrap(), text);
}

/// Replaces `rel` in `out/` with a new file holding `text`, then records `out/`'s directories in
/// the stamp as they now are: as if the change had come while the last build was finishing,
/// before its stamp was written (the stamp then vouches for the directories as changed).
fn replace_before_the_stamp(dir: &Path, rel: &str, text: &str) {
    use std::os::unix::fs::MetadataExt as _;
    let p = dir.join("out").join(rel);
    fs::remove_file(&p).unwrap();
    fs::write(&p, text).unwrap();
    // Past the tick of the directories' change, so they are not racy (those are read whole).
    std::thread::sleep(std::time::Duration::from_millis(50));
    let stamp = dir.join(".out.pxebake-stamp");
    let lines: Vec<String> = fs::read_to_string(&stamp)
        .unwrap()
        .lines()
        .map(|l| match l.strip_prefix("dir ") {
            Some(rest) => {
                let f: Vec<&str> = rest.splitn(4, ' ').collect();
                let m = fs::symlink_metadata(dir.join("out").join(f[3])).unwrap();
                let ctime = i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec());
                format!("dir {} {ctime} {} {}", m.ino(), f[2], f[3])
            }
            None => l.to_string(),
        })
        .collect();
    fs::write(&stamp, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_boot_config_under_two_names_is_checked_through_both() {
    // A first build writes a host's boot config once, hard-linked under its MAC and IP names,
    // and a rebuild looks at such a file through one of its names. A change made through the
    // other name is seen, whether the file was edited in place or that name now leads to
    // another file.
    let lab = lab();
    let dir = lab.path();
    let out = dir.join("out");
    ok(&build(dir, &[]).0);
    let expected = clean_tree(dir);
    let (mac, ip) = ("tftp/pxelinux.cfg/01-52-54-00-00-01-01", "tftp/pxelinux.cfg/0A00000B");
    let ino = |rel: &str| std::os::unix::fs::MetadataExt::ino(&fs::metadata(out.join(rel)).unwrap());
    // A first build again (into an empty `out/`), whose files a rebuild then confirms.
    let first_build = || {
        fs::remove_dir_all(&out).unwrap();
        ok(&build(dir, &[]).0);
        assert_eq!(ino(mac), ino(ip), "the first build links a boot config's two names");
        assert!(confirmed(dir));
    };
    let text = fs::read_to_string(out.join(ip)).unwrap();
    let edited = text.replacen("LABEL", "LABEL edited", 1);
    assert_ne!(edited, text);

    // Edited in place through its IP name (both names still lead to it).
    first_build();
    fs::write(out.join(ip), &edited).unwrap();
    assert_eq!(ino(mac), ino(ip));
    assert!(!confirmed(dir), "a boot config edited through its IP name was confirmed");
    assert_eq!(state(&out), expected);

    // The IP name replaced by another file, with the stamp taken after that: a no-op.
    first_build();
    replace_before_the_stamp(dir, ip, &edited);
    assert!(!confirmed(dir), "a boot config's IP name replaced by another file was confirmed");
    assert_eq!(state(&out), expected);

    // The same with its MAC name, found by a rebuild that keeps hosts' files (a comment changes
    // no host).
    first_build();
    replace_before_the_stamp(dir, mac, &edited);
    fs::write(dir.join("inventory/site.yaml"), format!("{SITE}# a comment\n")).unwrap();
    let (o, v) = build(dir, &[]);
    ok(&o);
    assert_eq!((v["up_to_date"].as_bool(), v["hosts_kept"].as_u64()), (Some(false), Some(2)), "{v}");
    assert_eq!(state(&out), expected);
}

#[test]
fn warnings_of_the_last_build_are_repeated() {
    let lab = lab();
    let dir = lab.path();
    fs::create_dir_all(dir.join("templates")).unwrap();
    // coreos-cloudinit ignores `command` for networkd units: a warning, not an error.
    let template = "#cloud-config\nhostname: {{ host.name }}\ncoreos:\n  units:\n    - name: 10-eth.network\n      command: start\n      content: \"[Match]\\nName=eth0\\n\"\n";
    fs::write(dir.join("templates/cloud-config.yaml"), template).unwrap();
    let (o, first) = build(dir, &[]);
    ok(&o);
    let (o2, again) = build(dir, &[]);
    ok(&o2);
    assert_eq!(again["up_to_date"], true);
    assert!(first["problems"].as_array().is_some_and(|p| !p.is_empty()), "{first}");
    assert_eq!(again["problems"], first["problems"]);
    assert_eq!(stderr(&o2), stderr(&o), "the same warnings, shown the same way");
    // Denied warnings fail every time, never confirmed.
    for _ in 0..2 {
        let (o, v) = build(dir, &["--deny-warnings"]);
        assert_eq!(o.status.code(), Some(2), "{v}");
    }
}

#[test]
fn a_build_cut_short_is_never_confirmed() {
    let lab = lab();
    let dir = lab.path();
    ok(&build(dir, &[]).0);
    let expected = clean_tree(dir);
    // Another inventory, whose write is killed after one file...
    let other = SITE.replace("boot: os", "boot: install");
    fs::write(dir.join("inventory/site.yaml"), &other).unwrap();
    let o = common::bin()
        .current_dir(dir)
        .env("PXEBAKE_TEST_KILL_AFTER", "1")
        .args(["build", "--no-images", "--no-bootloaders"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "the write was not cut short: {}", stderr(&o));
    // ... then the first inventory again: the same inputs as the stamp's, but `out/` is not.
    fs::write(dir.join("inventory/site.yaml"), SITE).unwrap();
    assert!(!confirmed(dir), "a tree cut short was confirmed");
    assert_eq!(state(&dir.join("out")), expected);
}
