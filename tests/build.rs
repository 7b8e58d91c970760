//! `pxebake build`, `check` and `diff` on real inventories: the golden example tree, every class
//! of bad input with its message and line, determinism, atomicity and incremental writes.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;

/// A small valid site; tests replace parts of it to make one mistake at a time.
const SITE: &str = r#"site:
  name: lab
  domain: lab.example
  frontend: 10.0.0.1
  http: http://10.0.0.1/boot
networks:
  prov: { address: 10.0.0.0/24, gateway: 10.0.0.1, zone: lab.example, mtu: 1500, pxe: true }
images:
  os:
    url: http://127.0.0.1:9/{version}/
    version: "1.0"
    key: key.asc
    files: { kernel: vmlinuz, initrd: initrd.img }
bootactions:
  install:
    kernel: vmlinuz.os
    ramdisk: initrd.os
    image: os
    args: "cloud-config-url={{ site.http }}/cc/{{ host.name }}.yaml console=ttyS0"
  disk: { localboot: 0 }
appliances:
  node: { installaction: install, runaction: disk }
attributes:
  ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d user@lab"]
files:
  - { path: "cc/{{ host.name }}.yaml", template: cloud-config.yaml, hosts: node }
"#;

const HOSTS: &str = r#"hosts:
  - name: n1
    appliance: node
    boot: install
    interfaces: [{ network: prov, mac: "52:54:00:00:01:01", ip: 10.0.0.11 }]
  - name: n2
    appliance: node
    boot: install
    interfaces: [{ network: prov, mac: "52:54:00:00:01:02", ip: 10.0.0.12 }]
  - name: n3
    appliance: node
    boot: os
    interfaces: [{ network: prov, mac: "52:54:00:00:01:03", ip: 10.0.0.13 }]
"#;

fn lab(site: &str, hosts: &str) -> tempfile::TempDir {
    let dir = common::site(&[("site.yaml", site), ("hosts.yaml", hosts)]);
    fs::write(dir.path().join("inventory/key.asc"), "not used without images\n").unwrap();
    dir
}

fn build(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build", "--no-images", "--no-bootloaders"];
    args.extend_from_slice(extra);
    run(dir, &args)
}

#[test]
fn example_site_matches_golden_tree() {
    let dir = example_site();
    let o = build(dir.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_tree_eq(&dir.path().join("out"), &repo().join("tests/fixtures/example/expected"));
}

/// Decodes the `data:` URLs of an Ignition config in place, so configs compare by content
/// whatever encoding the translator picked (percent-encoding or base64).
fn decode_data_urls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(serde_json::Value::String(src)) = m.get("source") {
                if let Some(bytes) = data_url_bytes(src) {
                    m.insert("source".into(), String::from_utf8(bytes).unwrap().into());
                }
            }
            // An empty compression is no compression.
            if m.get("compression").is_some_and(|c| c == "") {
                m.remove("compression");
            }
            m.values_mut().for_each(decode_data_urls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(decode_data_urls),
        _ => {}
    }
}

#[test]
fn example_backend_0_0_boots_flatcar_with_its_ignition_config() {
    let dir = example_site();
    let o = build(dir.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out");
    let by_ip = fs::read_to_string(out.join("tftp/pxelinux.cfg/0A02FFFE")).unwrap();
    let by_mac = fs::read_to_string(out.join("tftp/pxelinux.cfg/01-52-54-00-00-00-00")).unwrap();
    assert_eq!(by_ip, by_mac);
    assert!(by_ip.contains("\n  KERNEL vmlinuz.coreos\n"), "{by_ip}");
    assert!(by_ip.contains("\n  INITRD initrd.coreos\n"), "{by_ip}");
    // Flatcar's PXE docs: the config URL and first_boot, on every loader's kernel line.
    let args = "ignition.config.url=http://10.2.1.1/install/ignition/backend-0-0.ign flatcar.first_boot=1 console=tty0 console=ttyS0,115200n8";
    assert!(by_ip.contains(&format!("\n  APPEND {args}\n")), "{by_ip}");
    let grub = fs::read_to_string(out.join("tftp/grub/grub.cfg-01-52-54-00-00-00-00")).unwrap();
    assert!(grub.contains(&format!("  linux /vmlinuz.coreos {args}\n")), "{grub}");
    let ipxe = fs::read_to_string(out.join("http/ipxe/52-54-00-00-00-00.ipxe")).unwrap();
    assert!(ipxe.contains(&format!("initrd=flatcar_production_pxe_image.cpio.gz {args}\n")), "{ipxe}");

    // The Ignition config, as Butane's flatcar 1.1.0 spec says templates/flatcar.bu translates
    // (written by hand from the spec: spec 3.4.0, mode 0644 = 420, units verbatim).
    let ign = fs::read_to_string(out.join("http/ignition/backend-0-0.ign")).unwrap();
    let mut actual: serde_json::Value = serde_json::from_str(&ign).unwrap();
    decode_data_urls(&mut actual);
    let unit = "[Unit]\nDescription=The tutorial's web server: httpd in a container on port 9000\n\
        After=docker.service network-online.target\nRequires=docker.service\nWants=network-online.target\n\
        [Service]\nEnvironmentFile=/etc/pxebake/httpd.env\nTimeoutStartSec=0\n\
        ExecStartPre=-/usr/bin/docker rm -f httpd\nExecStartPre=/usr/bin/docker pull ${HTTPD_IMAGE}\n\
        ExecStart=/usr/bin/docker run --name httpd -p 9000:80 ${HTTPD_IMAGE}\nExecStop=/usr/bin/docker stop httpd\n\
        Restart=always\nRestartSec=10\n[Install]\nWantedBy=multi-user.target\n";
    let expected = serde_json::json!({
        "ignition": { "version": "3.4.0" },
        "passwd": { "users": [ { "name": "core", "sshAuthorizedKeys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d root@stacki7.jkloud.com"
        ] } ] },
        "storage": { "files": [
            { "path": "/etc/hostname", "mode": 420, "overwrite": true, "contents": { "source": "backend-0-0" } },
            { "path": "/etc/pxebake/httpd.env", "mode": 420,
              "contents": { "source": "HTTPD_IMAGE=docker.io/library/httpd:2.4\n" } },
            // The tutorial's "make the public network work", done at first boot (systemd.network(5)):
            // eth0 keeps DHCP but not its router; eth1 (default: true) carries the default route.
            { "path": "/etc/systemd/network/20-eth0.network", "mode": 420, "contents": { "source":
                "[Match]\nMACAddress=52:54:00:00:00:00\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nUseGateway=false\n" } },
            { "path": "/etc/systemd/network/20-eth1.network", "mode": 420, "contents": { "source":
                "[Match]\nName=eth1\n\n[Network]\nAddress=192.168.1.41/16\nGateway=192.168.1.1\n" } }
        ] },
        "systemd": { "units": [ { "name": "httpd.service", "enabled": true, "contents": unit } ] }
    });
    assert_eq!(actual, expected);
    let o = run(
        dir.path(),
        &["validate", "ignition", "out/http/ignition/backend-0-0.ign", "out/http/install/backend-0-0.ign"],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // Flatcar ships no etcd2 or fleet: nothing in the tree starts them.
    for (path, bytes) in snapshot(&out) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("etcd2") && !text.contains("fleet"), "{path} mentions etcd2/fleet");
    }
    // The coreos-cloudinit action's cloud-config runs the same container, spelt as it reads it.
    let cc = fs::read_to_string(out.join("http/coreos/backend-0-0.yaml")).unwrap();
    assert!(
        cc.starts_with("#cloud-config\n") && cc.contains("ssh_authorized_keys:") && cc.contains("-p 9000:80"),
        "{cc}"
    );
    let o = run(dir.path(), &["validate", "cloud-config", "out/http/coreos/backend-0-0.yaml", "--deny-warnings"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Unknown machines never install by accident.
    let default = fs::read_to_string(out.join("tftp/pxelinux.cfg/default")).unwrap();
    assert!(default.contains("LOCALBOOT 0") && !default.contains("KERNEL"));
    assert_eq!(
        fs::read_link(out.join("tftp/vmlinuz.coreos")).unwrap().to_string_lossy(),
        "../images/flatcar-stable/4757.2.1/flatcar_production_pxe.vmlinuz"
    );
}

#[test]
fn an_ignition_config_newer_than_the_images_ignition_is_refused() {
    let dir = example_site();
    // Flatcar LTS 4081.3.10 ships Ignition 2.19.0, which reads specs up to 3.4.0; Butane flatcar
    // 1.1.0 gives 3.4.0 (fine), and a hand-written 3.5.0 config is not readable.
    let site = dir.path().join("inventory/site.yaml");
    let text = fs::read_to_string(&site).unwrap().replace("ignition: \"2.24.0\"", "ignition: \"2.19.0\"");
    fs::write(&site, &text).unwrap();
    assert!(build(dir.path(), &[]).status.success());
    fs::create_dir_all(dir.path().join("templates")).unwrap();
    fs::write(&site, text.replace("template: flatcar.bu", "template: plain.json")).unwrap();
    fs::write(dir.path().join("templates/plain.json"), "{\"ignition\": {\"version\": \"3.5.0\"}}\n").unwrap();
    let o = build(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bootaction `coreos` for host `backend-0-0`: `http/ignition/backend-0-0.ign`: the config declares Ignition spec 3.5.0, but Ignition 2.19.0 reads specs up to 3.4.0 (image `flatcar-stable` ships Ignition 2.19.0)"),
        "{}",
        stderr(&o)
    );
    // A bootaction naming a config no rule writes.
    let site_text = fs::read_to_string(&site)
        .unwrap()
        .replace("ignition: \"ignition/{{ host.name }}.ign\"", "ignition: \"nowhere/{{ host.name }}.ign\"");
    fs::write(&site, site_text).unwrap();
    let o = build(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("its Ignition config `http/nowhere/backend-0-0.ign` is written by no `files` rule"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn switching_a_host_to_os_rewrites_exactly_its_boot_files() {
    let dir = lab(SITE, HOSTS);
    assert!(build(dir.path(), &[]).status.success());
    let out = dir.path().join("out");
    let before = snapshot(&out);
    let inode = |p: &str| fs::metadata(out.join(p)).unwrap().ino();
    let kept = inode("tftp/pxelinux.cfg/0A00000B");

    let edited = HOSTS.replacen(
        "boot: install\n    interfaces: [{ network: prov, mac: \"52:54:00:00:01:02\"",
        "boot: os\n    interfaces: [{ network: prov, mac: \"52:54:00:00:01:02\"",
        1,
    );
    fs::write(dir.path().join("inventory/hosts.yaml"), edited).unwrap();
    let o = build(dir.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = snapshot(&out);
    let changed: Vec<&String> = after.keys().filter(|p| before.get(*p) != after.get(*p)).collect();
    // Its boot configs under every name any firmware asks for, and nothing else.
    assert_eq!(
        changed,
        [
            "http/ipxe/52-54-00-00-01-02.ipxe",
            "tftp/grub/grub.cfg-01-52-54-00-00-01-02",
            "tftp/grub/grub.cfg-0A00000C",
            "tftp/pxelinux.cfg/01-52-54-00-00-01-02",
            "tftp/pxelinux.cfg/0A00000C"
        ]
    );
    assert!(String::from_utf8_lossy(&after["tftp/pxelinux.cfg/0A00000C"]).contains("LOCALBOOT 0"));
    assert_eq!(inode("tftp/pxelinux.cfg/0A00000B"), kept, "unchanged files keep their inode");
    assert!(stderr(&o).contains(" 5 written"), "{}", stderr(&o));
}

#[test]
fn readdressing_a_host_touches_only_its_files() {
    let dir = lab(SITE, HOSTS);
    assert!(build(dir.path(), &[]).status.success());
    let out = dir.path().join("out");
    let before = snapshot(&out);
    fs::write(dir.path().join("inventory/hosts.yaml"), HOSTS.replace("10.0.0.12", "10.0.0.22")).unwrap();
    let o = build(dir.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = snapshot(&out);
    let mut touched: Vec<&String> =
        after.keys().chain(before.keys()).filter(|p| before.get(*p) != after.get(*p)).collect();
    touched.sort();
    touched.dedup();
    // Its DHCP reservation and boot configs (the IP-named ones move), nothing of the other hosts.
    assert_eq!(
        touched,
        [
            "etc/dnsmasq.hosts/n2",
            "tftp/grub/grub.cfg-0A00000C",
            "tftp/grub/grub.cfg-0A000016",
            "tftp/pxelinux.cfg/0A00000C",
            "tftp/pxelinux.cfg/0A000016"
        ]
    );
    assert!(!out.join("tftp/pxelinux.cfg/0A00000C").exists());
    assert!(stderr(&o).contains(" 3 written") && stderr(&o).contains(" 2 removed"), "{}", stderr(&o));
}

#[test]
fn unchanged_rebuild_writes_nothing() {
    let dir = lab(SITE, HOSTS);
    assert!(build(dir.path(), &[]).status.success());
    let out = dir.path().join("out");
    let ino = fs::metadata(&out).unwrap().ino();
    let o = build(dir.path(), &[]);
    assert!(stderr(&o).contains(" 0 written"), "{}", stderr(&o));
    assert_eq!(fs::metadata(&out).unwrap().ino(), ino, "no swap when nothing changed");
}

#[test]
fn removed_hosts_lose_their_files() {
    let dir = lab(SITE, HOSTS);
    assert!(build(dir.path(), &[]).status.success());
    let hosts = HOSTS.split("  - name: n3").next().unwrap();
    fs::write(dir.path().join("inventory/hosts.yaml"), hosts).unwrap();
    let o = build(dir.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out");
    assert!(!out.join("tftp/pxelinux.cfg/0A00000D").exists());
    assert!(!out.join("http/cc/n3.yaml").exists());
    assert!(out.join("http/cc/n2.yaml").exists());
}

#[test]
fn same_tree_at_any_job_count() {
    let dir = lab(&big_site(), &many_hosts(300));
    let a = build(dir.path(), &["-j", "1", "--out", "a"]);
    assert!(a.status.success(), "{}", stderr(&a));
    let a = snapshot(&dir.path().join("a"));
    assert!(a.len() > 300 * 3);
    for (run, jobs) in ["8", "2", "3"].iter().enumerate() {
        let out = format!("b{run}");
        let b = build(dir.path(), &["-j", jobs, "--out", &out]);
        assert!(b.status.success(), "{}", stderr(&b));
        assert!(a == snapshot(&dir.path().join(&out)), "trees differ between -j 1 and -j {jobs}");
    }
}

/// The lab site with room for many hosts (10.0.0.0/16).
fn big_site() -> String {
    // Several networks: map iteration order in templates must not depend on the run.
    let mut site = SITE.replace("10.0.0.0/24", "10.0.0.0/16");
    for (i, n) in ["zeta", "alpha", "mid"].iter().enumerate() {
        site = site.replace(
            "images:\n",
            &format!(
                "  {n}: {{ address: 10.{}.0.0/16, gateway: 10.{}.0.1, mtu: 1500, pxe: true }}\nimages:\n",
                10 + i,
                10 + i
            ),
        );
    }
    site
}

fn many_hosts(n: usize) -> String {
    let mut s = String::from("hosts:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  - {{ name: n{i}, appliance: node, boot: install, interfaces: [{{ network: prov, mac: \"52:54:00:00:{:02x}:{:02x}\", ip: 10.0.{}.{} }}] }}\n",
            i / 256,
            i % 256,
            i / 200,
            10 + i % 200
        ));
    }
    s
}

#[test]
fn a_failing_build_leaves_out_exactly_as_it_was() {
    let dir = lab(SITE, HOSTS);
    assert!(build(dir.path(), &[]).status.success());
    let out = dir.path().join("out");
    let before = snapshot(&out);
    let ino = fs::metadata(out.join("tftp/pxelinux.cfg/0A00000B")).unwrap().ino();
    // A template that fails only for the last host.
    fs::create_dir_all(dir.path().join("templates")).unwrap();
    fs::write(
        dir.path().join("templates/cloud-config.yaml"),
        "#cloud-config\nhostname: {{ host.name }}\n{% if host.name == \"n3\" %}{{ host.nope }}{% endif %}\n",
    )
    .unwrap();
    fs::write(dir.path().join("inventory/hosts.yaml"), HOSTS.replace("10.0.0.11", "10.0.0.21")).unwrap();
    let o = build(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("templates/cloud-config.yaml:3: rendering `cloud-config.yaml` for host `n3`"), "{err}");
    assert_eq!(snapshot(&out), before);
    assert_eq!(fs::metadata(out.join("tftp/pxelinux.cfg/0A00000B")).unwrap().ino(), ino);
    assert_no_debris(dir.path());
}

fn assert_no_debris(dir: &Path) {
    let names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains("stage")), "staging debris left: {names:?}");
}

#[test]
fn a_full_disk_leaves_out_exactly_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("disk");
    fs::create_dir(&mnt).unwrap();
    let _disk = tmpfs(&mnt, "256k");
    {
        let site = lab(SITE, HOSTS);
        let out = mnt.join("out");
        let o = run(site.path(), &["build", "--no-images", "--no-bootloaders", "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let before = snapshot(&out);
        // 400 hosts with padded cloud-configs do not fit in what is left of 256 KiB.
        fs::write(site.path().join("inventory/site.yaml"), big_site()).unwrap();
        fs::write(site.path().join("inventory/hosts.yaml"), many_hosts(400)).unwrap();
        fs::create_dir_all(site.path().join("templates")).unwrap();
        let padded = format!("#cloud-config\nhostname: {{{{ host.name }}}}\n# {}\n", "x".repeat(2000));
        fs::write(site.path().join("templates/cloud-config.yaml"), padded).unwrap();
        let o = run(site.path(), &["build", "--no-images", "--no-bootloaders", "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("left as it was"), "{}", stderr(&o));
        assert_eq!(snapshot(&out), before);
        assert_no_debris(&mnt);
    }
}

#[test]
fn interrupting_a_build_during_its_write_leaves_out_exactly_as_it_was() {
    let dir = lab(&big_site(), &many_hosts(20000));
    let out = dir.path().join("out");
    assert!(build(dir.path(), &["-j", "1"]).status.success());
    let before = snapshot(&out);
    fs::write(dir.path().join("inventory/site.yaml"), big_site().replace("console=ttyS0", "console=ttyS1")).unwrap();
    let child = bin()
        .current_dir(dir.path())
        .args(["build", "--no-images", "--no-bootloaders", "-j", "1"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the write phase: its temporaries appear next to the boot configs.
    let started = std::time::Instant::now();
    let temporaries = |d: &str| {
        fs::read_dir(out.join(d))
            .map(|rd| rd.flatten().any(|e| e.file_name().to_string_lossy().starts_with(".pxebake-new.")))
            .unwrap_or(false)
    };
    while !(temporaries("http/ipxe") || temporaries("tftp/pxelinux.cfg") || temporaries("tftp/grub")) {
        assert!(started.elapsed().as_secs() < 120, "no write phase seen within 120 s");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "the build was not interrupted in its write phase: {err}");
    assert!(err.contains("interrupted") && err.contains("left as it was"), "{err}");
    // `snapshot` lists temporaries too: none may be left.
    assert_eq!(snapshot(&out), before, "an interrupted build changed out/");
    assert_no_debris(dir.path());
}

#[test]
fn a_second_build_on_the_same_tree_waits_for_no_one_and_fails_clearly() {
    use std::os::fd::AsRawFd;
    let dir = lab(SITE, HOSTS);
    assert!(build(dir.path(), &[]).status.success());
    let lock = fs::File::create(dir.path().join(".out.pxebake-lock")).unwrap();
    // SAFETY: flock on our own descriptor, as a concurrent build would hold it.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let o = build(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("another pxebake build is writing `out`"), "{}", stderr(&o));
    drop(lock);
    assert!(build(dir.path(), &[]).status.success());
}

#[test]
fn a_path_that_other_paths_need_as_a_directory_is_an_error() {
    // A files rule whose path is the directory of another rule's files.
    let site = SITE.replace("files:\n", "files:\n  - { path: \"cc\", template: cloud-config.yaml, hosts: n1 }\n");
    let err = check_error(&site, HOSTS);
    assert_has(&err, "http/cc: this path is a file, but `http/cc/n1.yaml` needs it to be a directory");
}

// Issue 15: a first build writes hosts' files into its stage as they are rendered; two hosts
// writing one path is still the same error (the stage takes only the first).
#[test]
fn two_hosts_writing_one_path_is_an_error_on_a_first_build_too() {
    let site =
        SITE.replace("files:\n", "files:\n  - { path: \"same.yaml\", template: cloud-config.yaml, hosts: node }\n");
    let err = check_error(&site, HOSTS);
    assert_has(&err, "http/same.yaml: two rules write this path: template `cloud-config.yaml` for host `n1`");
}

// Issue 15: the first build's staged files are written once under all their names, and the
// manifest made from their records vouches for them: a full rebuild keeps every host.
#[test]
fn a_first_build_links_a_boot_config_under_its_names_and_a_rebuild_keeps_every_host() {
    let dir = lab(SITE, HOSTS);
    assert!(build(dir.path(), &[]).status.success());
    let out = dir.path().join("out");
    let ip = fs::metadata(out.join("tftp/pxelinux.cfg/0A00000B")).unwrap();
    let mac = fs::metadata(out.join("tftp/pxelinux.cfg/01-52-54-00-00-01-01")).unwrap();
    assert_eq!(ip.ino(), mac.ino(), "the MAC and IP names are one file");
    assert_eq!(ip.mode() & 0o7777, 0o644);
    let before = snapshot(&out);
    let o = run(dir.path(), &["--output", "json", "build", "--no-images", "--no-bootloaders", "--full"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((v["hosts_kept"].as_u64(), v["written"].as_u64()), (Some(3), Some(0)), "{v}");
    assert_eq!(snapshot(&out), before);
    assert_no_debris(dir.path());
}

#[test]
fn a_symlinked_out_updates_the_directory_it_points_to() {
    let dir = lab(SITE, HOSTS);
    let real = dir.path().join("real-out");
    std::os::unix::fs::symlink("real-out", dir.path().join("out")).unwrap();
    assert!(build(dir.path(), &[]).status.success());
    assert!(real.join("tftp/pxelinux.cfg/0A00000B").exists());
    assert!(fs::symlink_metadata(dir.path().join("out")).unwrap().file_type().is_symlink(), "the link stays");
    fs::write(dir.path().join("inventory/hosts.yaml"), HOSTS.replacen("boot: install", "boot: os", 1)).unwrap();
    assert!(build(dir.path(), &[]).status.success());
    assert!(fs::read_to_string(real.join("tftp/pxelinux.cfg/0A00000B")).unwrap().contains("LOCALBOOT 0"));
}

#[test]
fn names_pxebake_cannot_handle_are_refused_not_mangled() {
    let dir = lab(SITE, HOSTS);
    assert!(build(dir.path(), &[]).status.success());
    fs::create_dir(dir.path().join("out/x\nD ..")).unwrap();
    fs::write(dir.path().join("out/x\nD ../y"), "keep").unwrap();
    fs::write(dir.path().join("y"), "outside").unwrap();
    fs::write(dir.path().join("inventory/hosts.yaml"), HOSTS.replacen("boot: install", "boot: os", 1)).unwrap();
    let o = build(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot remove safely: \"x\\nD ..\"; remove them by hand"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(dir.path().join("y")).unwrap(), "outside");
}

#[test]
fn refuses_to_replace_a_directory_pxebake_did_not_write() {
    let dir = lab(SITE, HOSTS);
    fs::create_dir(dir.path().join("out")).unwrap();
    fs::write(dir.path().join("out/precious.txt"), "keep me").unwrap();
    let o = build(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("refusing to replace"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(dir.path().join("out/precious.txt")).unwrap(), "keep me");
}

#[test]
fn check_writes_nothing() {
    let dir = lab(SITE, HOSTS);
    let o = run(dir.path(), &["check", "--no-bootloaders"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!dir.path().join("out").exists());
}

/// Runs `check` on the lab site with one file replaced and returns stderr; expects exit 2.
fn check_error(site: &str, hosts: &str) -> String {
    let dir = lab(site, hosts);
    let o = run(dir.path(), &["check"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "expected invalid input:\n{err}");
    // `build` reports the same and writes nothing.
    let b = build(dir.path(), &[]);
    assert_eq!(b.status.code(), Some(2));
    assert_eq!(stderr(&b), err.replace(" found\n", " found; nothing was written\n"));
    assert!(!dir.path().join("out").exists());
    // A first build renders into a stage: gone with the failed build.
    assert_no_debris(dir.path());
    err
}

fn assert_has(err: &str, expected: &str) {
    assert!(err.contains(expected), "expected\n  {expected}\nin\n{err}");
}

#[test]
fn malformed_yaml_names_its_line() {
    // The unclosed `[` is on line 3, the last line (not the line after the end of the file).
    let err = check_error(SITE, "hosts:\n  - name: n1\n    appliance: [node\n");
    assert_has(&err, "inventory/hosts.yaml:3: invalid YAML");
}

#[test]
fn unknown_keys_are_errors_with_suggestions() {
    let err = check_error(SITE, &HOSTS.replacen("    boot: install\n", "    boot: install\n    rak: 3\n", 1));
    assert_has(&err, "inventory/hosts.yaml:5: unknown field `rak`, expected one of");
    let err = check_error(&format!("{SITE}hostz: []\n"), HOSTS);
    assert_has(&err, "inventory/site.yaml:27: unknown section `hostz` (did you mean `hosts`?)");
}

#[test]
fn duplicate_names_macs_and_ips_across_files_are_errors() {
    let dir = lab(SITE, HOSTS);
    fs::write(
        dir.path().join("inventory/more.yaml"),
        "hosts:\n  - name: n1\n    appliance: node\n    interfaces: [{ network: prov, mac: \"52:54:00:00:01:02\", ip: 10.0.0.13 }]\n",
    )
    .unwrap();
    let o = run(dir.path(), &["check"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2));
    assert_has(&err, "inventory/more.yaml:2: host `n1` is defined twice (first at inventory/hosts.yaml:2)");
    assert_has(&err, "inventory/more.yaml:4: host `n1`: mac `52:54:00:00:01:02` is already used by host `n2` (inventory/hosts.yaml:9)");
    assert_has(
        &err,
        "inventory/more.yaml:4: host `n1`: ip `10.0.0.13` is already used by host `n3` (inventory/hosts.yaml:13)",
    );
}

#[test]
fn bad_addresses_are_errors_with_their_values() {
    let hosts = HOSTS
        .replace("10.0.0.11", "10.9.0.11")
        .replace("52:54:00:00:01:02", "52:54:00:00:01")
        .replace("10.0.0.13", "10.0.0.300");
    let err = check_error(SITE, &hosts);
    assert_has(&err, "inventory/hosts.yaml:5: host `n1`: ip `10.9.0.11` is outside network `prov` (10.0.0.0/24)");
    assert_has(&err, "inventory/hosts.yaml:9: host `n2`: mac `52:54:00:00:01` is not a MAC address");
    assert_has(&err, "inventory/hosts.yaml:13: host `n3`: ip `10.0.0.300` is not an IPv4 address");
    let err = check_error(&SITE.replace("10.0.0.0/24, gateway: 10.0.0.1", "10.0.0.5/24, gateway: 10.1.0.1"), HOSTS);
    assert_has(
        &err,
        "inventory/site.yaml:7: network `prov`: address `10.0.0.5/24` has host bits set (did you mean `10.0.0.0/24`?)",
    );
}

#[test]
fn unknown_references_are_errors() {
    let site = SITE.replace("image: os\n", "image: oss\n").replace("installaction: install,", "installaction: instal,");
    let hosts = HOSTS.replacen("appliance: node", "appliance: nod", 1).replacen("network: prov", "network: private", 1);
    let err = check_error(&site, &hosts);
    assert_has(&err, "inventory/site.yaml:18: bootaction `install`: unknown image `oss` (did you mean `os`?)");
    assert_has(&err, "inventory/site.yaml:22: appliance `node`: installaction: unknown bootaction `instal` (did you mean `install`?)");
    assert_has(&err, "inventory/hosts.yaml:3: host `n1`: unknown appliance `nod` (did you mean `node`?)");
    assert_has(&err, "inventory/hosts.yaml:5: host `n1`: unknown network `private`");
    // Templates are checked once the inventory is valid.
    let err = check_error(&SITE.replace("template: cloud-config.yaml", "template: cloud-confg.yaml"), HOSTS);
    assert_has(
        &err,
        "inventory/site.yaml:26: files: unknown template `cloud-confg.yaml` (did you mean `cloud-config.yaml`?)",
    );
}

#[test]
fn host_names_that_could_name_paths_are_refused() {
    let err = check_error(SITE, &HOSTS.replacen("name: n1", "name: \"../x\"", 1).replacen("name: n2", "name: a/b", 1));
    assert_has(&err, "inventory/hosts.yaml:2: host name `../x` is not a valid DNS label");
    assert_has(&err, "inventory/hosts.yaml:6: host name `a/b` is not a valid DNS label");
}

#[test]
fn control_characters_cannot_reach_config_lines() {
    let site = SITE
        .replace("console=ttyS0\"", "console=ttyS0\\nLABEL evil\"")
        .replace("kernel: vmlinuz.os", "kernel: \"../vmlinuz\"");
    let err = check_error(&site, HOSTS);
    assert_has(&err, "inventory/site.yaml:19: bootaction `install`: args `cloud-config-url={{ site.http }}/cc/{{ host.name }}.yaml console=ttyS0\\nLABEL evil` contains a newline or control character");
    assert_has(&err, "inventory/site.yaml:16: bootaction `install`: kernel `../vmlinuz` is not a safe file name");
    // A value that only becomes dangerous once rendered: an attribute spliced into the args.
    let site = SITE.replace("console=ttyS0\"", "{{ host.attributes.extra }}\"");
    let hosts = HOSTS.replacen("    boot: install\n", "    boot: install\n    attributes: { extra: \"x\\ny\" }\n", 1);
    let err = check_error(&site, &hosts);
    assert_has(&err, "inventory/site.yaml:15: bootaction `install` args rendered for host `n1`: `cloud-config-url=http://10.0.0.1/boot/cc/n1.yaml x\\ny` contains a newline");
}

#[test]
fn files_rules_cannot_write_over_the_served_images() {
    let err =
        check_error(&SITE.replace("path: \"cc/{{ host.name }}.yaml\"", "path: \"images/{{ host.name }}\""), HOSTS);
    assert_has(&err, "inventory/site.yaml:26: files: path rendered for host `n1`: `images/n1` is reserved for the verified OS images");
}

#[test]
fn template_errors_name_template_line_and_host() {
    let dir = lab(SITE, HOSTS);
    fs::create_dir_all(dir.path().join("templates")).unwrap();
    fs::write(dir.path().join("templates/cloud-config.yaml"), "#cloud-config\nhostname: {{ host.nme }}\n").unwrap();
    let o = run(dir.path(), &["check"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_has(
        &err,
        "templates/cloud-config.yaml:2: rendering `cloud-config.yaml` for host `n1` (inventory/hosts.yaml:2)",
    );
    assert_has(&err, "for host `n2`");
    fs::write(dir.path().join("templates/cloud-config.yaml"), "#cloud-config\n{% if %}\n").unwrap();
    let err = stderr(&run(dir.path(), &["check"]));
    assert_has(&err, "templates/cloud-config.yaml:2: template syntax error in `cloud-config.yaml`");
}

#[test]
fn an_inventory_full_of_mistakes_gets_all_of_them_reported() {
    let site = SITE.replace("mtu: 1500", "mtu: 15").replace("image: os\n", "image: nope\n");
    let hosts = r#"hosts:
  - name: Bad_Name
    appliance: node
    boot: maybe
    interfaces: [{ network: prov, mac: "zz:54:00:00:01:01", ip: 10.0.0.11 }]
  - name: ok1
    appliance: nobody
    interfaces: [{ network: prov, mac: "52:54:00:00:01:02", ip: 10.0.0.11, name: eth0, vlan: 5000 }]
  - name: ok2
    appliance: node
    interfaces: [{ network: prov, mac: "52:54:00:00:01:03", ip: 10.0.0.11 }]
  - name: ok3
    appliance: node
    interfaces: [{ network: prov, ip: 10.0.1.12 }]
"#;
    let err = check_error(&site, hosts);
    for expected in [
        "inventory/site.yaml:7: network `prov`: mtu 15 is outside 576..9216",
        "inventory/site.yaml:18: bootaction `install`: unknown image `nope`",
        "inventory/hosts.yaml:2: host name `Bad_Name` is not a valid DNS label",
        "inventory/hosts.yaml:4: host `Bad_Name`: boot `maybe` must be `install` or `os`",
        "inventory/hosts.yaml:5: host `Bad_Name`: mac `zz:54:00:00:01:01` is not a MAC address",
        "inventory/hosts.yaml:8: host `ok1`: vlan 5000 is outside 1..4094",
        "inventory/hosts.yaml:11: host `ok2`: ip `10.0.0.11` is already used by host `Bad_Name` (inventory/hosts.yaml:5)",
        "inventory/hosts.yaml:14: host `ok3`: ip `10.0.1.12` is outside network `prov`",
    ] {
        assert_has(&err, expected);
    }
    assert_has(&err, "problems found");
}

#[test]
fn boot_state_file_overrides_the_hosts_own_boot() {
    let dir = lab(SITE, HOSTS);
    fs::write(dir.path().join("inventory/boot.yaml"), "boot:\n  n1: os\n  n3: install\n").unwrap();
    assert!(build(dir.path(), &[]).status.success());
    let out = dir.path().join("out/tftp/pxelinux.cfg");
    assert!(fs::read_to_string(out.join("0A00000B")).unwrap().contains("LOCALBOOT 0"));
    assert!(fs::read_to_string(out.join("0A00000D")).unwrap().contains("KERNEL vmlinuz.os"));
    fs::write(dir.path().join("inventory/boot.yaml"), "boot:\n  n9: os\n").unwrap();
    let err = stderr(&run(dir.path(), &["check"]));
    assert_has(&err, "inventory/boot.yaml:2: boot state for unknown host `n9`");
}

#[test]
fn diff_shows_exactly_the_edited_hosts_files() {
    let dir = lab(SITE, HOSTS);
    assert!(build(dir.path(), &[]).status.success());
    let o = run(dir.path(), &["diff", "--no-images", "--no-bootloaders", "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    fs::write(dir.path().join("inventory/hosts.yaml"), HOSTS.replacen("boot: install", "boot: os", 1)).unwrap();
    let o = run(dir.path(), &["diff", "--no-images", "--no-bootloaders", "--exit-code"]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert_has(&text, "changed: tftp/pxelinux.cfg/01-52-54-00-00-01-01\n");
    assert_has(&text, "changed: tftp/pxelinux.cfg/0A00000B\n");
    assert_has(&text, "-  KERNEL vmlinuz.os\n");
    assert_has(&text, "+  LOCALBOOT 0\n");
    assert_has(&text, "changed: tftp/grub/grub.cfg-0A00000B\n");
    assert_has(&text, "changed: http/ipxe/52-54-00-00-01-01.ipxe\n");
    assert_has(&text, "0 added, 5 changed, 0 removed");
}

#[test]
fn two_images_at_one_url_are_an_error_not_shared_files() {
    // Files are cached by URL: an arm64 image pinned at the amd64 image's URL once booted the
    // amd64 VMs of the e2e with the arm64 initramfs.
    let dir = example_site();
    let site = dir.path().join("inventory/site.yaml");
    let text = fs::read_to_string(&site).unwrap().replace(
        "\nbootactions:",
        "  flatcar-copy:\n    url: https://stable.release.flatcar-linux.net/amd64-usr/{version}/\n    version: \"4757.2.1\"\n    key: ../keys/flatcar-image-signing-key.asc\n    files: { kernel: flatcar_production_pxe.vmlinuz }\n\nbootactions:",
    );
    fs::write(&site, text).unwrap();
    let o = build(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("image `flatcar-stable` has the same url as image `flatcar-copy`")
            || stderr(&o).contains("image `flatcar-copy` has the same url as image `flatcar-stable`"),
        "{}",
        stderr(&o)
    );
}
