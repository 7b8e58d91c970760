//! The operator's workflow: list, select, set boot state, import a hostfile, install to disk.

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn build(dir: &Path) -> std::process::Output {
    run(dir, &["build", "--no-images", "--no-bootloaders"])
}

#[test]
fn list_host_prints_the_tutorials_table() {
    let dir = example_site();
    let o = run(dir.path(), &["list", "host"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "HOST         RACK RANK CPUS APPLIANCE RUNACTION INSTALLACTION BOOT\n\
         stacki7:     0    0    1    frontend  -         -             os\n\
         backend-0-0: 0    0    2    backend   os        coreos        install\n\
         backend-0-1: 0    1    2    backend   os        coreos        install\n\
         backend-0-2: 0    2    2    backend   os        coreos        install\n\
         backend-0-3: 0    3    2    backend   os        coreos        install\n\
         backend-0-4: 0    4    2    backend   os        coreos        install\n"
    );
    let o = run(dir.path(), &["list", "network"]);
    assert!(
        stdout(&o).contains("private:   10.2.0.0    255.255.0.0   10.2.1.1    1500 jkloud.com true\n"),
        "{}",
        stdout(&o)
    );
    let o = run(dir.path(), &["list", "bootaction", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v.as_array().unwrap().iter().any(|b| b["action"] == "os" && b["kernel"] == "localboot 0"));
    let o = run(dir.path(), &["list", "host", "backend-0-[1-3]", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let names: Vec<&str> = v.as_array().unwrap().iter().map(|h| h["host"].as_str().unwrap()).collect();
    assert_eq!(names, ["backend-0-1", "backend-0-2", "backend-0-3"]);
}

#[test]
fn selectors_that_match_nothing_are_errors() {
    let dir = example_site();
    let o = run(dir.path(), &["list", "host", "backnd"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("selector `backnd` is neither a host nor an appliance (did you mean `backend`?)"),
        "{}",
        stderr(&o)
    );
    let o = run(dir.path(), &["set", "boot", "backend-9-*", "os"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("selector `backend-9-*` matches no host"), "{}", stderr(&o));
    assert!(!dir.path().join("inventory/boot.yaml").exists());
}

#[test]
fn set_boot_flips_exactly_the_selected_hosts_and_keeps_hand_written_yaml() {
    let dir = example_site();
    assert!(build(dir.path()).status.success());
    let out = dir.path().join("out");
    let before = snapshot(&out);
    let hosts_yaml = fs::read(dir.path().join("inventory/hosts.yaml")).unwrap();

    let o = run(dir.path(), &["set", "boot", "backend-0-[1-3]", "os"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("backend-0-2: install -> os"), "{}", stderr(&o));
    assert_eq!(fs::read(dir.path().join("inventory/hosts.yaml")).unwrap(), hosts_yaml, "hand-written YAML untouched");
    let state = fs::read_to_string(dir.path().join("inventory/boot.yaml")).unwrap();
    assert!(state.ends_with("boot:\n  backend-0-1: os\n  backend-0-2: os\n  backend-0-3: os\n"), "{state}");

    assert!(build(dir.path()).status.success());
    let after = snapshot(&out);
    let changed: Vec<&String> = after.keys().filter(|p| before.get(*p) != after.get(*p)).collect();
    let mut expected = Vec::new();
    for (mac, ip) in [("01", "FD"), ("02", "FC"), ("03", "FB")] {
        expected.push(format!("http/ipxe/52-54-00-00-00-{mac}.ipxe"));
        expected.push(format!("tftp/grub/grub.cfg-01-52-54-00-00-00-{mac}"));
        expected.push(format!("tftp/grub/grub.cfg-0A02FF{ip}"));
        expected.push(format!("tftp/pxelinux.cfg/01-52-54-00-00-00-{mac}"));
        expected.push(format!("tftp/pxelinux.cfg/0A02FF{ip}"));
    }
    expected.sort();
    assert_eq!(changed, expected.iter().collect::<Vec<_>>());
    for ip in ["FD", "FC", "FB"] {
        assert!(String::from_utf8_lossy(&after[&format!("tftp/pxelinux.cfg/0A02FF{ip}")]).contains("LOCALBOOT 0"));
    }
    assert!(String::from_utf8_lossy(&after["tftp/pxelinux.cfg/0A02FFFE"]).contains("KERNEL vmlinuz.coreos"));

    // And back: the state file says install again, the tree is as before.
    assert!(run(dir.path(), &["set", "boot", "backend", "install"]).status.success());
    assert!(build(dir.path()).status.success());
    assert_eq!(snapshot(&out), before);
}

#[test]
fn set_refuses_an_unknown_bootaction_and_leaves_the_state_file() {
    let dir = example_site();
    assert!(run(dir.path(), &["set", "boot", "backend-0-0", "os"]).status.success());
    let state = fs::read_to_string(dir.path().join("inventory/boot.yaml")).unwrap();
    let o = run(dir.path(), &["set", "installaction", "backend", "flatcar-instal"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown bootaction `flatcar-instal` (did you mean `flatcar-install`?)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read_to_string(dir.path().join("inventory/boot.yaml")).unwrap(), state);
}

#[test]
fn disk_install_renders_a_bootstrap_that_passes_the_tree_lint() {
    let dir = example_site();
    let o = run(dir.path(), &["set", "installaction", "backend-0-1", "flatcar-install"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = build(dir.path());
    assert!(o.status.success(), "lint must pass: {}", stderr(&o));
    // Both actions use vmlinuz.coreos and initrd.coreos: two links, not four.
    assert!(stderr(&o).contains("--no-images: 2 kernel/initrd links"), "{}", stderr(&o));
    let out = dir.path().join("out");
    let pxe = fs::read_to_string(out.join("tftp/pxelinux.cfg/0A02FFFD")).unwrap();
    assert!(
        pxe.contains(
            "APPEND ignition.config.url=http://10.2.1.1/install/install/backend-0-1.ign flatcar.first_boot=1 "
        ),
        "{pxe}"
    );
    let installer = fs::read_to_string(out.join("http/install/backend-0-1.ign")).unwrap();
    assert!(installer.contains("http://10.2.1.1/install/install/backend-0-1.sh"), "{installer}");
    let script = fs::read_to_string(out.join("http/install/backend-0-1.sh")).unwrap();
    assert!(!script.contains("sudo"), "non-interactive: {script}");
    // The installed system gets the host's own Ignition config; UEFI machines get a boot entry.
    assert!(script.contains("IGNITION_URL='http://10.2.1.1/install/ignition/backend-0-1.ign'"), "{script}");
    assert!(
        script.contains(
            "flatcar-install -d \"${DISK}\" -b \"${MIRROR}\" -V \"${VERSION}\" -i /tmp/ignition.ign \"${uefi[@]}\""
        ),
        "{script}"
    );
    assert!(script.contains("if [ -d /sys/firmware/efi ]; then uefi=(-u); fi"), "{script}");
    assert!(
        script.contains("MIRROR='http://10.2.1.1/install/images/flatcar-stable'"),
        "installs from the site's mirror"
    );
    assert!(script.contains("systemctl 'poweroff'"), "ends without an install loop by default");
    // The lint really looks at the bootstrap: break its URL and the build fails.
    let t = dir.path().join("templates/flatcar-install.bu");
    fs::write(&t, fs::read_to_string(&t).unwrap().replace("{{ host.name }}.sh", "{{ host.name }}.bash")).unwrap();
    let o = build(dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("URL `http://10.2.1.1/install/install/backend-0-1.bash` is served by no file"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("error: http/install/backend-0-1.ign:"), "{}", stderr(&o));
}

const HOSTFILE: &str = "NAME,APPLIANCE,RACK,RANK,IP,MAC,INTERFACE,NETWORK\n\
backend-1-0,backend,1,0,10.2.254.254,52:54:00:00:01:00,eth0,private\n\
backend-1-0,backend,1,0,192.168.2.10,,eth1,public\n\
backend-1-1,backend,1,1,10.2.254.253,52:54:00:00:01:0G,eth0,private\n\
backend-1-2,backnd,1,two,10.2.254.252,52:54:00:00:01:02,eth0,privat\n";

#[test]
fn a_hostfile_with_a_bad_mac_on_row_4_is_refused_naming_row_4() {
    let dir = example_site();
    fs::write(dir.path().join("hosts.csv"), HOSTFILE).unwrap();
    let o = run(dir.path(), &["import", "hostfile", "hosts.csv", "--out", "inventory/rack1.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    for expected in [
        "hosts.csv:4: column MAC: `52:54:00:00:01:0G` is not a MAC address",
        "hosts.csv:5: column APPLIANCE: unknown appliance `backnd`",
        "hosts.csv:5: column RANK: `two` is not a number",
        "hosts.csv:5: column NETWORK: unknown network `privat`",
    ] {
        assert!(err.contains(expected), "expected {expected:?} in\n{err}");
    }
    assert!(!dir.path().join("inventory/rack1.yaml").exists(), "nothing written");
}

#[test]
fn a_good_hostfile_becomes_inventory_that_builds() {
    let dir = example_site();
    let good: String = HOSTFILE.lines().take(3).map(|l| format!("{l}\n")).collect();
    fs::write(dir.path().join("hosts.csv"), good).unwrap();
    let o = run(dir.path(), &["import", "hostfile", "hosts.csv", "--out", "inventory/rack1.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // No DEFAULT column: the first interface is the default, and the import says so.
    assert!(
        stderr(&o).contains("host `backend-1-0`: no DEFAULT column, so its first interface is the default"),
        "{}",
        stderr(&o)
    );
    let yaml = fs::read_to_string(dir.path().join("inventory/rack1.yaml")).unwrap();
    assert!(yaml.contains("  - name: backend-1-0\n    appliance: backend\n    rack: 1\n    rank: 0\n    interfaces:\n      - { network: private, name: eth0, mac: \"52:54:00:00:01:00\", ip: 10.2.254.254, default: true }\n      - { network: public, name: eth1, ip: 192.168.2.10 }\n"), "{yaml}");
    // Importing again updates the hosts of that file, like Stacki: here nothing changes.
    let o = run(dir.path(), &["import", "hostfile", "hosts.csv", "--out", "inventory/rack1.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("0 changes, 1 host unchanged; `inventory/rack1.yaml` is up to date"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(dir.path().join("inventory/rack1.yaml")).unwrap(), yaml);
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("out/http/coreos/backend-1-0.yaml").exists());
}
