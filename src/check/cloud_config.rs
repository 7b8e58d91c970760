//! cloud-config validation (the coreos-cloudinit format read by CoreOS and Flatcar).
//!
//! coreos-cloudinit ignores what it does not understand: a misspelt header makes it treat the
//! file as a script or skip it, an unknown key is dropped. So every deviation is an error here.

use super::schema::{absolute_path, check, cloud_config_unit_name, f, req, ssh_public_key, Field, Problem, Ty};
use crate::yaml::Node;

const DROP_IN: Ty = Ty::Obj(&[req("name", Ty::Str), f("content", Ty::Str)]);

const UNIT: Ty = Ty::Obj(&[
    req("name", Ty::StrWith(cloud_config_unit_name)),
    f("command", Ty::StrWith(unit_command)),
    f("enable", Ty::Bool),
    f("runtime", Ty::Bool),
    f("mask", Ty::Bool),
    f("content", Ty::Str),
    f("drop-ins", Ty::List(&DROP_IN)),
]);

const UPDATE: Ty =
    Ty::Obj(&[f("reboot-strategy", Ty::StrWith(reboot_strategy)), f("group", Ty::Str), f("server", Ty::Str)]);

const COREOS: Ty = Ty::Obj(&[
    f("units", Ty::List(&UNIT)),
    f("etcd", Ty::MapOf(&Ty::Scalar)),
    f("etcd2", Ty::MapOf(&Ty::Scalar)),
    f("fleet", Ty::MapOf(&Ty::Scalar)),
    f("flannel", Ty::MapOf(&Ty::Scalar)),
    f("locksmith", Ty::MapOf(&Ty::Scalar)),
    f("update", UPDATE),
    f("oem", Ty::MapOf(&Ty::Scalar)),
]);

const USER: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    f("passwd", Ty::Str),
    f("gecos", Ty::Str),
    f("homedir", Ty::StrWith(absolute_path)),
    f("no-create-home", Ty::Bool),
    f("primary-group", Ty::Str),
    f("groups", Ty::List(&Ty::Str)),
    f("no-user-group", Ty::Bool),
    f("system", Ty::Bool),
    f("no-log-init", Ty::Bool),
    f("shell", Ty::StrWith(absolute_path)),
    f("ssh-authorized-keys", Ty::List(&Ty::StrWith(ssh_public_key))),
    f("coreos-ssh-import-github", Ty::Str),
    f("coreos-ssh-import-github-users", Ty::List(&Ty::Str)),
    f("coreos-ssh-import-url", Ty::Str),
]);

const WRITE_FILE: Ty = Ty::Obj(&[
    req("path", Ty::StrWith(absolute_path)),
    f("content", Ty::Str),
    f("permissions", Ty::StrWith(permissions)),
    f("owner", Ty::Str),
    f("encoding", Ty::StrWith(encoding)),
]);

const TOP: &[Field] = &[
    f("coreos", COREOS),
    f("ssh_authorized_keys", Ty::List(&Ty::StrWith(ssh_public_key))),
    f("hostname", Ty::StrWith(hostname)),
    f("users", Ty::List(&USER)),
    f("write_files", Ty::List(&WRITE_FILE)),
    f("manage_etc_hosts", Ty::StrWith(manage_etc_hosts)),
];

/// Validates a cloud-config; problems carry lines in `text`.
pub fn validate(text: &str) -> Vec<Problem> {
    let first = text.lines().next().unwrap_or("");
    if first.trim_end() != "#cloud-config" {
        return vec![Problem::error(
            1,
            format!(
                "the first line must be exactly `#cloud-config`, not `{}`; coreos-cloudinit would not read this file as a cloud-config",
                crate::names::printable(first)
            ),
        )];
    }
    let node = match Node::parse(text) {
        Ok(n) => n,
        Err(e) => return vec![Problem::error(e.line.unwrap_or(1), e.message)],
    };
    let mut out = Vec::new();
    if !matches!(node.kind, crate::yaml::Kind::Null) {
        check(&node, &Ty::Obj(TOP), "", &mut out); // an empty cloud-config is valid
    }
    out
}

fn unit_command(s: &str) -> Result<(), String> {
    const OK: [&str; 7] =
        ["start", "stop", "restart", "reload", "try-restart", "reload-or-restart", "reload-or-try-restart"];
    if OK.contains(&s) {
        Ok(())
    } else {
        Err(format!("`{s}` is not a unit command ({})", OK.join(", ")))
    }
}

fn reboot_strategy(s: &str) -> Result<(), String> {
    const OK: [&str; 4] = ["reboot", "etcd-lock", "best-effort", "off"];
    if OK.contains(&s) {
        Ok(())
    } else {
        Err(format!("`{s}` is not a reboot strategy ({})", OK.join(", ")))
    }
}

fn permissions(s: &str) -> Result<(), String> {
    let ok = (3..=4).contains(&s.len()) && s.chars().all(|c| ('0'..='7').contains(&c));
    if ok {
        Ok(())
    } else {
        Err(format!("permissions `{s}` must be an octal mode string like '0644' (quote it in YAML)"))
    }
}

fn encoding(s: &str) -> Result<(), String> {
    const OK: [&str; 7] = ["b64", "base64", "gz", "gzip", "gz+base64", "gzip+base64", "gz+b64"];
    if OK.contains(&s) || s == "gzip+b64" {
        Ok(())
    } else {
        Err(format!("`{s}` is not an encoding ({})", OK.join(", ")))
    }
}

fn hostname(s: &str) -> Result<(), String> {
    crate::names::check_dns_name(s).or_else(|_| crate::names::check_dns_label(s))
}

fn manage_etc_hosts(s: &str) -> Result<(), String> {
    if s == "localhost" {
        Ok(())
    } else {
        Err(format!("`{s}` is not supported; the only value is `localhost`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        validate(text).into_iter().map(|p| format!("{}: {}", p.line, p.message)).collect()
    }

    #[test]
    fn the_tutorials_typo_in_the_header_is_line_1() {
        let m = messages("#cloud-confie\ncoreos:\n  units: []\n");
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with("1: the first line must be exactly `#cloud-config`, not `#cloud-confie`"), "{m:?}");
    }

    #[test]
    fn unknown_keys_get_suggestions_with_lines() {
        let m = messages("#cloud-config\ncoreos:\n  unit:\n    - name: a.service\nssh_authorised_keys: []\n");
        assert_eq!(
            m,
            [
                "3: unknown key `coreos.unit` (did you mean `units`?)",
                "5: unknown key `ssh_authorised_keys` (did you mean `ssh_authorized_keys`?)"
            ]
        );
    }

    #[test]
    fn types_and_values_are_checked() {
        let text = "#cloud-config\ncoreos:\n  units:\n    - name: etcd2\n      command: begin\n      enable: yes\nssh_authorized_keys:\n  - put your /root/.ssh/id_rsa.pub here\nwrite_files:\n  - path: etc/x\n    permissions: \"999\"\n";
        let m = messages(text);
        assert!(m.iter().any(|s| s.starts_with("4: `coreos.units[0].name`: unit name `etcd2` needs")), "{m:?}");
        assert!(
            m.iter().any(|s| s.starts_with("5: `coreos.units[0].command`: `begin` is not a unit command")),
            "{m:?}"
        );
        assert!(m.iter().any(|s| s.starts_with("6: `coreos.units[0].enable` must be true or false")), "{m:?}");
        assert!(m.iter().any(|s| s.starts_with("8: `ssh_authorized_keys[0]`: `put your")), "{m:?}");
        assert!(m.iter().any(|s| s.starts_with("10: `write_files[0].path`: path `etc/x` must be absolute")), "{m:?}");
        assert!(m.iter().any(|s| s.starts_with("11: `write_files[0].permissions`")), "{m:?}");
    }

    #[test]
    fn the_tutorials_cloud_config_is_valid_once_fixed() {
        let text = "#cloud-config\ncoreos:\n  units:\n    - name: etcd2.service\n      command: start\n    - name: fleet.service\n      command: start\nssh_authorized_keys:\n  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d root@x\n";
        assert!(messages(text).is_empty(), "{:?}", messages(text));
    }
}
