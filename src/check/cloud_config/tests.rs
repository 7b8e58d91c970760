use super::*;
use crate::diag::Severity;

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d ops@laptop";

/// `LINE SEVERITY: MESSAGE` for every problem.
fn report(text: &str) -> Vec<String> {
    validate(text)
        .into_iter()
        .map(|p| {
            let sev = match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            format!("{} {sev}: {}", p.line, p.message)
        })
        .collect()
}

fn clean(text: &str) {
    let r = report(text);
    assert!(r.is_empty(), "expected no problems in\n{text}\ngot {r:#?}");
}

/// A cloud-config in the shape of Flatcar's documentation examples.
fn docs_like() -> String {
    format!(
        "#cloud-config
hostname: web1
ssh_authorized_keys:
  - {KEY}
coreos:
  update:
    reboot_strategy: reboot
    group: stable
    server: https://public.update.flatcar-linux.net/v1/update/
  units:
    - name: 00-eth0.network
      runtime: true
      content: |
        [Match]
        Name=eth0

        [Network]
        DHCP=yes
    - name: docker.service
      drop_ins:
        - name: 50-proxy.conf
          content: |
            [Service]
            Environment=HTTP_PROXY=http://proxy.example.com:3128
    - name: hello.service
      command: start
      enable: true
      content: |
        [Unit]
        Description=Say hello
        [Service]
        ExecStart=/usr/bin/echo hello
        [Install]
        WantedBy=multi-user.target
users:
  - name: ops
    passwd: $6$rounds=4096$saltsalt$0123456789abcdef
    primary_group: ops
    groups: [sudo, docker]
    no_create_home: false
    ssh_authorized_keys:
      - {KEY}
write_files:
  - path: /etc/motd
    permissions: \"0644\"
    owner: root:root
    content: |
      provisioned by pxebake
  - path: /etc/hello.txt
    encoding: b64
    content: aGVsbG8K
  - path: /opt/hello.gz
    permissions: 0600
    encoding: gz+b64
    content: H4sIAAAAAAACA8tIzcnJV0grys9VKKhITUrMTuUCAOF6oOwTAAAA
manage_etc_hosts: localhost
"
    )
}

#[test]
fn a_cloud_config_shaped_like_flatcars_docs_passes() {
    clean(&docs_like());
}

#[test]
fn the_same_with_reboot_dash_strategy_fails_naming_reboot_strategy() {
    let text = docs_like().replace("reboot_strategy: reboot", "reboot-strategy: reboot");
    assert_eq!(
        report(&text),
        ["7 error: `coreos.update.reboot-strategy` is ignored by coreos-cloudinit since 2024 (yaml.v3); write `reboot_strategy`"]
    );
}

#[test]
fn every_dash_spelling_the_runtime_ignores_is_an_error_naming_the_one_that_works() {
    // `{s}` is the separator in the keys: `-` (ignored at boot) or `_` (read).
    let text = |s: &str| {
        format!(
            "#cloud-config
ssh{s}authorized{s}keys: []
manage{s}etc{s}hosts: localhost
write{s}files: []
coreos:
  units:
    - name: a.service
      drop{s}ins:
        - name: x.conf
users:
  - name: ops
    ssh{s}authorized{s}keys: [\"{KEY}\"]
    primary{s}group: ops
    no{s}create{s}home: true
    no{s}user{s}group: true
    no{s}log{s}init: true
    coreos{s}ssh{s}import{s}url: https://example.com/keys
"
        )
    };
    let fix = |line: usize, path: &str, fixed: &str| {
        format!("{line} error: `{path}` is ignored by coreos-cloudinit since 2024 (yaml.v3); write `{fixed}`")
    };
    assert_eq!(
        report(&text("-")),
        [
            fix(2, "ssh-authorized-keys", "ssh_authorized_keys"),
            fix(3, "manage-etc-hosts", "manage_etc_hosts"),
            fix(4, "write-files", "write_files"),
            fix(8, "coreos.units[0].drop-ins", "drop_ins"),
            fix(12, "users[0].ssh-authorized-keys", "ssh_authorized_keys"),
            fix(13, "users[0].primary-group", "primary_group"),
            fix(14, "users[0].no-create-home", "no_create_home"),
            fix(15, "users[0].no-user-group", "no_user_group"),
            fix(16, "users[0].no-log-init", "no_log_init"),
            fix(17, "users[0].coreos-ssh-import-url", "coreos_ssh_import_url"),
        ]
    );
    // The underscore spellings pass (the remote key import is only deprecated).
    assert_eq!(
        report(&text("_")),
        ["17 warning: `users[0].coreos_ssh_import_url` is deprecated: fetching keys from the network at every boot fails intermittently; list the keys in `ssh_authorized_keys`"]
    );
}

#[test]
fn did_you_mean_suggests_only_spellings_that_work() {
    let text = "#cloud-config\ncoreos:\n  update:\n    reboot_stratgy: reboot\n  units:\n    - name: a.service\n      drop-in: []\nssh_authorised_keys: []\n";
    assert_eq!(
        report(text),
        [
            "4 error: unknown key `coreos.update.reboot_stratgy` (did you mean `reboot_strategy`?); coreos-cloudinit ignores it",
            "7 error: unknown key `coreos.units[0].drop-in` (did you mean `drop_ins`?); coreos-cloudinit ignores it",
            "8 error: unknown key `ssh_authorised_keys` (did you mean `ssh_authorized_keys`?); coreos-cloudinit ignores it",
        ]
    );
}

#[test]
fn keys_in_the_wrong_section_say_where_they_belong() {
    let text = "#cloud-config\nunits: []\ncoreos:\n  write_files: []\n";
    assert_eq!(
        report(text),
        [
            "2 error: `units` is ignored at the top level; it belongs under `coreos:`",
            "4 error: `coreos.write_files` is ignored; `write_files` belongs at the top level, not under `coreos:`",
        ]
    );
}

#[test]
fn networkd_units_are_accepted_and_their_command_is_ignored() {
    clean("#cloud-config\ncoreos:\n  units:\n    - name: 10-static.network\n      content: \"[Match]\\nName=eth0\\n\"\n    - name: br0.netdev\n    - name: 70-eth.link\n      runtime: true\n");
    let text = "#cloud-config\ncoreos:\n  units:\n    - name: 10-static.network\n      command: start\n      enable: true\n    - name: static\n    - name: before-upgrade.snapshot\n";
    let r = report(text);
    assert_eq!(r.len(), 4, "{r:#?}");
    assert_eq!(
        r[3],
        "8 error: `coreos.units[2].name`: `before-upgrade.snapshot`: snapshot units were removed from systemd (v228)"
    );
    assert_eq!(r[0], "5 warning: `coreos.units[0].command` is ignored for the networkd unit `10-static.network`: coreos-cloudinit restarts systemd-networkd instead; drop `command`");
    assert_eq!(r[1], "6 warning: `coreos.units[0].enable` is ignored for the networkd unit `10-static.network`: coreos-cloudinit restarts systemd-networkd instead; drop `enable`");
    assert!(
        r[2].starts_with("7 error: `coreos.units[1].name`: unit name `static` needs a unit type suffix ("),
        "{}",
        r[2]
    );
    assert!(r[2].ends_with("; or a networkd unit (.network, .netdev, .link)"), "{}", r[2]);
}

#[test]
fn drop_ins_must_be_conf_files() {
    let text = "#cloud-config\ncoreos:\n  units:\n    - name: docker.service\n      drop_ins:\n        - name: 10-env\n          content: x\n        - content: y\n";
    assert_eq!(
        report(text),
        [
            "6 error: `coreos.units[0].drop_ins[0].name`: drop-in `10-env` would never be read: systemd reads only `*.conf` files in a unit's `.d` directory; name it `10-env.conf`",
            "8 error: `coreos.units[0].drop_ins[1]` is missing `name` (coreos-cloudinit skips or fails on it)",
        ]
    );
}

#[test]
fn retired_services_are_warnings_saying_what_replaced_them() {
    let text = "#cloud-config
coreos:
  etcd2:
    name: node1
    advertise_client_urls: http://10.0.0.1:2379
    discovry: https://discovery.etcd.io/x
    initial-cluster-token: t
    proxy: maybe
  fleet:
    metadata: role=web
  flannel:
    interface: eth0
  locksmith:
    window_start: Thu 04:00
    window_length: 1h30m
  etcd:
    addr: 10.0.0.1:4001
";
    let r = report(text);
    assert_eq!(
        r,
        [
            "3 warning: `coreos.etcd2` is for an etcd Flatcar no longer ships, so nothing reads these settings; run etcd v3 as `etcd-member.service` (configure it with Ignition, or a drop-in in `coreos.units`)",
            "6 error: unknown key `coreos.etcd2.discovry` (did you mean `discovery`?); coreos-cloudinit ignores it",
            "7 error: `coreos.etcd2.initial-cluster-token` is ignored by coreos-cloudinit since 2024 (yaml.v3); write `initial_cluster_token`",
            "8 error: `coreos.etcd2.proxy`: `maybe` is not an etcd2 proxy mode (on, off, readonly)",
            "9 warning: `coreos.fleet` is for fleet, which was retired and is not shipped by Flatcar, so nothing reads these settings; run services as systemd units in `coreos.units` or with Kubernetes",
            "11 warning: `coreos.flannel` is for flanneld, which Flatcar no longer ships, so nothing reads these settings; run flannel as a container (e.g. its Kubernetes manifest)",
            "13 warning: `coreos.locksmith` is for locksmithd, deprecated on Flatcar (its `etcd-lock` needs an etcd cluster); for coordinated reboots use FLUO or kured, and set the strategy with `coreos.update.reboot_strategy`",
            "16 warning: `coreos.etcd` is for an etcd Flatcar no longer ships, so nothing reads these settings; run etcd v3 as `etcd-member.service` (configure it with Ignition, or a drop-in in `coreos.units`)",
        ]
    );
    // Keys under those sections are the runtime's, not any key.
    let r = report("#cloud-config\ncoreos:\n  fleet:\n    etcd_servers: http://x\n    anything: 1\n  locksmith:\n    window_start: 25:00\n    window_length: soon\n");
    assert_eq!(r.len(), 5, "{r:#?}");
    assert_eq!(r[1], "5 error: unknown key `coreos.fleet.anything`; coreos-cloudinit ignores it");
    assert_eq!(r[3], "7 error: `coreos.locksmith.window_start`: `25:00` is not a reboot window start (`[Day ]HH:MM`, e.g. `Thu 04:00`)");
    assert_eq!(
        r[4],
        "8 error: `coreos.locksmith.window_length`: `soon` is not a reboot window length (a duration such as `1h30m`)"
    );
}

#[test]
fn retired_units_are_warnings_unless_defined_or_masked() {
    let text = "#cloud-config
coreos:
  units:
    - name: etcd2.service
      command: start
    - name: fleet.service
      command: start
    - name: etcd2.service
      content: \"[Service]\\nExecStart=/opt/bin/etcd\\n\"
    - name: locksmithd.service
      mask: true
    - name: flanneld.service
      enable: true
";
    let r = report(text);
    assert_eq!(r.len(), 3, "{r:#?}");
    assert_eq!(r[0], "4 warning: `coreos.units[0]`: unit `etcd2.service` does not exist on Flatcar (etcd 0.4 and etcd2 are no longer shipped): starting or enabling it fails at boot and coreos-cloudinit stops before the units after it; run etcd v3 as `etcd-member.service`");
    assert!(
        r[1].starts_with(
            "6 warning: `coreos.units[1]`: unit `fleet.service` does not exist on Flatcar (fleet was retired)"
        ),
        "{}",
        r[1]
    );
    assert!(
        r[2].starts_with("12 warning: `coreos.units[4]`: unit `flanneld.service` is no longer shipped by Flatcar"),
        "{}",
        r[2]
    );
}

#[test]
fn write_files_content_must_decode_as_its_encoding() {
    let text = "#cloud-config
write_files:
  - path: /etc/a
    encoding: b64
    content: not base64!
  - path: /etc/b
    encoding: gzip+base64
    content: bm90IGd6aXAgYXQgYWxs
  - path: /etc/c
    encoding: base64
    content: |
      aGVsbG8g
      d29ybGQK
  - path: /etc/d
    encoding: base32
    content: x
";
    let r = report(text);
    assert_eq!(r.len(), 3, "{r:#?}");
    assert!(r[0].starts_with("5 error: `write_files[0].content` does not decode as `b64`: not base64 ("), "{}", r[0]);
    assert!(r[0].ends_with("; coreos-cloudinit fails on this file"), "{}", r[0]);
    assert!(
        r[1].starts_with("8 error: `write_files[1].content` does not decode as `gzip+base64`: not gzip data ("),
        "{}",
        r[1]
    );
    assert!(r[2].starts_with("15 error: `write_files[3].encoding`: `base32` is not an encoding ("), "{}", r[2]);
}

#[test]
fn write_files_under_usr_are_refused_and_relative_paths_warned() {
    let text = "#cloud-config
write_files:
  - path: /usr/share/oem/x
  - path: /etc/../usr/lib/y
  - path: etc/z
  - path: /usrlocal/ok
";
    assert_eq!(
        report(text),
        [
            "3 error: `write_files[0].path`: path `/usr/share/oem/x` is under /usr, which is read-only on Flatcar: writing it fails at boot; write under /etc, /opt or /var",
            "4 error: `write_files[1].path`: path `/etc/../usr/lib/y` is under /usr, which is read-only on Flatcar: writing it fails at boot; write under /etc, /opt or /var",
            "5 warning: `write_files[2].path`: path `etc/z` is relative: coreos-cloudinit writes `/etc/z`; write that",
        ]
    );
}

#[test]
fn file_modes_and_owners_are_what_chmod_and_chown_take() {
    clean("#cloud-config\nwrite_files:\n  - {path: /etc/a, permissions: 0755, owner: core}\n  - {path: /etc/b, permissions: '644', owner: ':wheel'}\n  - {path: /etc/c, permissions: '00600', owner: '500:500'}\n");
    let r = report("#cloud-config\nwrite_files:\n  - path: /etc/a\n    permissions: \"999\"\n  - path: /etc/b\n    permissions: 420\n  - path: /etc/c\n    owner: root wheel\n");
    assert_eq!(
        r,
        [
            "4 error: `write_files[0].permissions`: permissions `999` must be an octal mode like '0644'; coreos-cloudinit fails on this file",
            "6 warning: `write_files[1].permissions`: permissions `420` are read as octal 0420; if you meant decimal 420 (= 0644), write '0644'",
            "8 error: `write_files[2].owner`: owner `root wheel` is not `USER`, `USER:GROUP` or `:GROUP`; `chown` fails and coreos-cloudinit stops",
        ]
    );
}

#[test]
fn values_the_runtime_checks() {
    let text = format!(
        "#cloud-config
hostname: node1.example.com
manage_etc_hosts: true
coreos:
  update:
    reboot_strategy: best-effort
    server: ftp://updates.example.com
  units:
    - name: a.service
      command: begin
      enable: \"true\"
      mask: yes
users:
  - name: John Doe
    passwd: hunter2
    homedir: home/john
ssh_authorized_keys:
  - put your key here
  - {KEY}
"
    );
    let r = report(&text);
    let expected = [
        "2 warning: `hostname`: coreos-cloudinit sets the hostname to `node1` (the part before the first `.`); write `node1`",
        "3 error: `manage_etc_hosts`: `true` is not supported: the only value is `localhost`, and coreos-cloudinit refuses the file",
        "6 error: `coreos.update.reboot_strategy`: `best-effort` is no longer a reboot strategy: coreos-cloudinit refuses it and applies nothing after it; use `reboot`, `etcd-lock` or `off`",
        "7 error: `coreos.update.server`: update server `ftp://updates.example.com` must be an http(s) URL, e.g. `https://public.update.flatcar-linux.net/v1/update/`",
        "10 error: `coreos.units[0].command`: `begin` is not a unit command (start, stop, restart, reload, try-restart, reload-or-restart, reload-or-try-restart)",
        "11 error: `coreos.units[0].enable` must be true or false, not `true`",
        "14 error: `users[0].name`: user name `John Doe` is not one useradd accepts (letters, digits, `_`, `-`, `.`; at most 32)",
        "15 warning: `users[0].passwd`: is not a password hash; useradd stores it as the hash, so no password logs in; write the output of `mkpasswd --method=SHA-512`",
        "16 error: `users[0].homedir`: path `home/john` must be absolute (useradd refuses it)",
    ];
    assert_eq!(r[..expected.len()], expected, "{r:#?}");
    assert_eq!(r.len(), expected.len() + 1, "{r:#?}");
    assert!(
        r[expected.len()]
            .starts_with("18 error: `ssh_authorized_keys[0]`: `put your key here` is not an OpenSSH public key"),
        "{r:#?}"
    );
    // Plain hostnames, `etcd-lock`, `off` and YAML 1.1 booleans pass.
    clean("#cloud-config\nhostname: node1\ncoreos:\n  update:\n    reboot_strategy: off\n  units:\n    - {name: a.service, enable: on, mask: No, runtime: TRUE}\n");
    clean("#cloud-config\ncoreos:\n  update:\n    reboot_strategy: etcd-lock\n");
}

#[test]
fn types_follow_what_yaml_v3_decodes() {
    let r = report("#cloud-config\nhostname: [a]\ncoreos:\n  units: {name: a.service}\n  etcd2:\n    election_timeout: soon\n    snapshot_count: 0x10\n");
    assert_eq!(
        r,
        [
            "2 error: `hostname` must be a string, not a list",
            "4 error: `coreos.units` must be a list, not a mapping",
            "5 warning: `coreos.etcd2` is for an etcd Flatcar no longer ships, so nothing reads these settings; run etcd v3 as `etcd-member.service` (configure it with Ignition, or a drop-in in `coreos.units`)",
            "6 error: `coreos.etcd2.election_timeout` must be an integer, not `soon`",
        ]
    );
    // Null decodes to the zero value; a number where a string belongs is read as text.
    clean("#cloud-config\ncoreos:\n  units:\n  update:\nhostname: 42\nusers:\n");
    assert_eq!(report("#cloud-config\n- a\n"), ["2 error: the document must be a mapping, not a list"]);
}

#[test]
fn a_yaml_syntax_error_is_reported_at_its_line() {
    let r = report("#cloud-config\ncoreos:\n  units: [\n    {name: a.service}\n\n");
    assert_eq!(r.len(), 1, "{r:#?}");
    assert!(r[0].starts_with("3 error: invalid YAML: "), "{r:#?}");
}

#[test]
fn a_line_holding_only_a_tab_is_refused_like_yaml_v3_does() {
    let tab = "a tab in the indentation of this line (a blank line too): coreos-cloudinit's YAML parser (yaml.v3) refuses the whole file; use spaces";
    assert_eq!(report("#cloud-config\nhostname: a\n\t\nmanage_etc_hosts: localhost\n"), [format!("3 error: {tab}")]);
    // After a quoted value or a comment, any tab in the indentation is refused...
    assert_eq!(report("#cloud-config\nhostname: 'a'\n  \t\n"), [format!("3 error: {tab}")]);
    assert_eq!(report("#cloud-config\nhostname: a # x\n  \t\n"), [format!("3 error: {tab}")]);
    assert_eq!(report("#cloud-config\nhostname: 'a'\n\t# note\n"), [format!("3 error: {tab}")]);
    // ... after a plain value only left of its collection's indentation (yaml.v3 reads on).
    clean("#cloud-config\nhostname: a\n  \t\nmanage_etc_hosts: localhost\n");
    assert_eq!(
        report("#cloud-config\ncoreos:\n  update:\n    group: a\n   \t\n    server: https://u.example/\n"),
        [format!("5 error: {tab}")]
    );
    clean("#cloud-config\ncoreos:\n  update:\n    group: a\n     \t\n    server: https://u.example/\n");
    // In a block scalar a tab left of the content's indentation is refused, right of it is content.
    let block = "a tab where an indentation space is expected (column 1): coreos-cloudinit's YAML parser (yaml.v3) refuses the whole file; indent with spaces";
    assert_eq!(
        report("#cloud-config\nwrite_files:\n  - path: /etc/a\n    content: |\n      x\n\t\n      y\n"),
        [format!("6 error: {block}")]
    );
    clean("#cloud-config\nwrite_files:\n  - path: /etc/a\n    content: |\n      x\n      \t\n      y\n");
    // A comment line (the header too) reads on through the blank and comment lines after it, up
    // to the last comment.
    clean("#cloud-config\n\t# note\nhostname: a\n");
    clean("#cloud-config\nhostname: 'a'\n# about users\n\t\n  \t# more\nusers: []\n");
    assert_eq!(report("#cloud-config\nhostname: 'a'\n# about users\n\t\nusers: []\n"), [format!("4 error: {tab}")]);
    // An indentless sequence is indented like its key; `|2` gives the block's indentation.
    clean(&format!("#cloud-config\nssh_authorized_keys:\n- {KEY}\n \t\nhostname: b\n"));
    let text = "#cloud-config\nwrite_files:\n- path: /etc/a\n  content: |2\n   \t\n     x\n";
    assert_eq!(report(text), ["5 error: a tab where an indentation space is expected (column 4): coreos-cloudinit's YAML parser (yaml.v3) refuses the whole file; indent with spaces"]);
    clean(&text.replace("   \t", "    \t"));
    // Inside flow collections and quoted scalars tabs are fine.
    clean("#cloud-config\nssh_authorized_keys: [\n\t]\nwrite_files:\n  - path: /etc/a\n    content: \"x\n     \ty\"\n");
}

#[test]
fn many_tab_lines_are_all_judged() {
    let text = format!("#cloud-config\n# c\n{}# d\nhostname: a\n{}", "\t\n".repeat(50_000), "\t\n".repeat(50_000));
    let r = report(&text);
    assert_eq!(r.len(), 50_000);
    assert!(r[0].starts_with("50005 error: a tab in the indentation"), "{}", r[0]);
    let flow = format!("#cloud-config\nwrite_files: [\n{}]\n", "\t{path: /etc/a},\n".repeat(50_000));
    assert_eq!(report(&flow), Vec::<String>::new());
}
