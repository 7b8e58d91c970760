//! Machines announce themselves: the events log read back (`events`), unknown machines added
//! (`discover`), completed installs flipped to `os` (`set boot --installed-from`).

mod common;

use std::fs;
use std::io::Write as _;

use common::*;

const T0: &str = "2026-11-26T08:00:00+00:00";

fn line(time: &str, from: &str, args: &str) -> String {
    format!("pxebake-events/1 {time} {from} \"{args}\"\n")
}

/// A log as nginx writes it, with the noise and hostile lines a real one may carry.
fn write_logs(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    // The rotated, gzipped part: the first hello of the first machine.
    let old = dir.join("events.log.1.gz");
    let mut gz = flate2::write::GzEncoder::new(fs::File::create(&old).unwrap(), flate2::Compression::default());
    gz.write_all(
        line(T0, "10.2.0.50", "ev=hello&mac=52-54-00-aa-00-02&serial=SN%202&manufacturer=QEMU&product=Standard%20PC&arch=x86_64&platform=pcbios")
            .as_bytes(),
    )
    .unwrap();
    gz.finish().unwrap();
    let new = dir.join("events.log");
    let mut text = String::new();
    text += &line("2026-11-26T08:05:00+00:00", "10.2.0.51", "ev=hello&mac=52-54-00-aa-00-01&serial=SN1&platform=efi");
    // Seen again: one machine, last_seen moves.
    text += &line("2026-11-26T08:06:00+00:00", "10.2.0.50", "ev=hello&mac=52-54-00-aa-00-02&serial=SN%202");
    // A known machine saying hello is not unknown.
    text += &line("2026-11-26T08:07:00+00:00", "10.2.255.254", "ev=hello&mac=52-54-00-00-00-00");
    // Hostile or foreign lines: counted and skipped, never used.
    text += "127.0.0.1 - - [26/Nov/2026:08:00:00 +0000] \"GET / HTTP/1.1\" 200\n";
    text += &line("2026-11-26T08:08:00+00:00", "10.2.0.52", "ev=hello&mac=52-54-00-aa-00-zz");
    text += &line("2026-11-26T08:08:00+00:00", "10.2.0.52", "ev=installed&host=..%2F..%2Fetc");
    text += &line("2026-11-26T08:08:00+00:00", "10.2.0.52", "ev=hello&mac=52-54-00-aa-00-03&serial=a\\x0Ab");
    text += &format!("pxebake-events/1 {T0} 10.2.0.52 \"ev=hello&serial={}\"\n", "x".repeat(20_000));
    // backend-0-0 installed once; backend-0-1 installed, then started again: a loop.
    text += &line("2026-11-26T09:00:00+00:00", "10.2.255.254", "ev=install-start&host=backend-0-0");
    text += &line("2026-11-26T09:10:00+00:00", "10.2.255.254", "ev=installed&host=backend-0-0&version=4757.2.1");
    text += &line("2026-11-26T09:00:00+00:00", "10.2.255.253", "ev=install-start&host=backend-0-1");
    text += &line("2026-11-26T09:10:00+00:00", "10.2.255.253", "ev=installed&host=backend-0-1&version=4757.2.1");
    text += &line("2026-11-26T09:20:00+00:00", "10.2.255.253", "ev=install-start&host=backend-0-1");
    fs::write(&new, text).unwrap();
    (old, new)
}

#[test]
fn events_reports_unknown_machines_installs_and_loops() {
    let dir = example_site();
    let (old, new) = write_logs(dir.path());
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    let o = run(dir.path(), &["events", old, new, "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let unknown = v["unknown"].as_array().unwrap();
    let macs: Vec<&str> = unknown.iter().map(|u| u["mac"].as_str().unwrap()).collect();
    assert_eq!(macs, ["52:54:00:aa:00:02", "52:54:00:aa:00:01"], "in the order first seen");
    assert_eq!(unknown[0]["serial"], "SN 2");
    assert_eq!(unknown[0]["product"], "Standard PC");
    assert_eq!(unknown[0]["network"], "private");
    assert_eq!(unknown[0]["first_seen"], T0);
    assert_eq!(unknown[0]["last_seen"], "2026-11-26T08:06:00+00:00");
    assert_eq!(unknown[0]["hellos"], 2);
    assert_eq!(v["skipped"], 5, "{v}");
    let installs = v["installs"].as_array().unwrap();
    assert_eq!(installs.len(), 2);
    assert_eq!((installs[0]["host"].as_str(), installs[0]["loops"].as_u64()), (Some("backend-0-0"), Some(0)));
    assert_eq!((installs[1]["host"].as_str(), installs[1]["loops"].as_u64()), (Some("backend-0-1"), Some(1)));

    let o = run(dir.path(), &["events", old, new]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("unknown machines: 2\n"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("host `backend-0-1` started its install again after a completed install"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("5 of 14 log lines were not pxebake events"), "{}", stderr(&o));
    assert!(stderr(&o).contains("events.log:4: does not start with `pxebake-events/1`"), "{}", stderr(&o));
    // Nothing from a hostile line reaches the output.
    assert!(!stdout(&o).contains("etc") && !stdout(&o).contains("zz"), "{}", stdout(&o));
}

#[test]
fn discover_adds_unknown_machines_like_insert_ethers_once() {
    let dir = example_site();
    let (old, new) = write_logs(dir.path());
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    let hosts_before = fs::read_to_string(dir.path().join("inventory/hosts.yaml")).unwrap();
    let args = ["discover", old, new, "--appliance", "backend", "--network", "private", "--rack", "0"];
    let o = run(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    // Ranks after the rack's highest (backend-0-4); addresses from the top of 10.2.0.0/16 down,
    // past the five taken ones (10.2.255.254 .. .250).
    let o = run(dir.path(), &["list", "host", "backend-0-[5-6]", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let names: Vec<&str> = v.as_array().unwrap().iter().map(|h| h["host"].as_str().unwrap()).collect();
    assert_eq!(names, ["backend-0-5", "backend-0-6"]);
    let text = fs::read_to_string(dir.path().join("inventory/discovered.yaml")).unwrap();
    assert!(text.contains("  - name: backend-0-5 "), "{text}");
    assert!(text.contains("{ network: private, mac: \"52:54:00:aa:00:02\", ip: 10.2.255.249 }"), "{text}");
    assert!(text.contains("{ network: private, mac: \"52:54:00:aa:00:01\", ip: 10.2.255.248 }"), "{text}");
    assert!(text.contains("serial \"SN 2\""), "{text}");
    assert_eq!(fs::read_to_string(dir.path().join("inventory/hosts.yaml")).unwrap(), hosts_before);
    // Known now: a second run adds nothing.
    let o = run(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("0 hosts added"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(dir.path().join("inventory/discovered.yaml")).unwrap(), text);
    // Bad placement is invalid input.
    let o = run(dir.path(), &["discover", new, "--appliance", "backnd", "--network", "private"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown appliance `backnd` (did you mean `backend`?)"), "{}", stderr(&o));
}

#[test]
fn set_boot_installed_from_flips_only_completed_installs() {
    let dir = example_site();
    let (old, new) = write_logs(dir.path());
    let o =
        run(dir.path(), &["set", "boot", "--installed-from", old.to_str().unwrap(), new.to_str().unwrap(), "--", "os"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(dir.path(), &["list", "host", "backend-0-[0-1]", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let boots: Vec<(&str, &str)> =
        v.as_array().unwrap().iter().map(|h| (h["host"].as_str().unwrap(), h["boot"].as_str().unwrap())).collect();
    // backend-0-1 started installing again after its install completed: it stays `install`.
    assert_eq!(boots, [("backend-0-0", "os"), ("backend-0-1", "install")]);
    let o = run(dir.path(), &["set", "boot", "--installed-from", new.to_str().unwrap(), "--", "install"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
