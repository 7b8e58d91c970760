//! The keys coreos-cloudinit reads, as the `yaml:"..."` tags of its Go structs spell them
//! (flatcar/coreos-cloudinit `config/*.go`), with the value checks it (or the program the value
//! ends up in) applies.

use crate::check::schema::{cloud_config_unit_name, ssh_public_key};

/// A value check: `Err` is an error, `Ok(Some(..))` a warning.
pub type Check = fn(&str) -> Result<Option<String>, String>;

/// The Go type a value is decoded into.
pub enum Go {
    Str,
    Bool,
    Int,
    Float,
    /// `[]string`, each item checked.
    Strs(Option<Check>),
    /// `[]struct`.
    List(&'static [Key]),
    Struct(&'static [Key]),
}

pub struct Key {
    pub name: &'static str,
    pub ty: Go,
    pub check: Option<Check>,
    pub required: bool,
    /// A warning shown after the key's path.
    pub deprecated: Option<&'static str>,
}

const fn k(name: &'static str, ty: Go) -> Key {
    Key { name, ty, check: None, required: false, deprecated: None }
}

const fn s(name: &'static str) -> Key {
    k(name, Go::Str)
}

const fn c(name: &'static str, check: Check) -> Key {
    Key { check: Some(check), ..k(name, Go::Str) }
}

const fn req(key: Key) -> Key {
    Key { required: true, ..key }
}

const fn old(key: Key, note: &'static str) -> Key {
    Key { deprecated: Some(note), ..key }
}

pub const TOP: &[Key] = &[
    k("ssh_authorized_keys", Go::Strs(Some(ssh_key))),
    k("coreos", Go::Struct(COREOS)),
    k("write_files", Go::List(FILE)),
    c("hostname", hostname),
    k("users", Go::List(USER)),
    c("manage_etc_hosts", manage_etc_hosts),
];

const ETCD_NOTE: &str = "is for an etcd Flatcar no longer ships, so nothing reads these settings; run etcd v3 as `etcd-member.service` (configure it with Ignition, or a drop-in in `coreos.units`)";
const FLEET_NOTE: &str = "is for fleet, which was retired and is not shipped by Flatcar, so nothing reads these settings; run services as systemd units in `coreos.units` or with Kubernetes";
const FLANNEL_NOTE: &str = "is for flanneld, which Flatcar no longer ships, so nothing reads these settings; run flannel as a container (e.g. its Kubernetes manifest)";
const LOCKSMITH_NOTE: &str = "is for locksmithd, deprecated on Flatcar (its `etcd-lock` needs an etcd cluster); for coordinated reboots use FLUO or kured, and set the strategy with `coreos.update.reboot_strategy`";

pub const COREOS: &[Key] = &[
    old(k("etcd", Go::Struct(ETCD)), ETCD_NOTE),
    old(k("etcd2", Go::Struct(ETCD2)), ETCD_NOTE),
    old(k("flannel", Go::Struct(FLANNEL)), FLANNEL_NOTE),
    old(k("fleet", Go::Struct(FLEET)), FLEET_NOTE),
    old(k("locksmith", Go::Struct(LOCKSMITH)), LOCKSMITH_NOTE),
    k("oem", Go::Struct(OEM)),
    k("update", Go::Struct(UPDATE)),
    k("units", Go::List(UNIT)),
];

/// Units Flatcar does not ship (or deprecates), and what to say about using them.
pub fn retired_unit(name: &str) -> Option<&'static str> {
    Some(match name {
        "etcd.service" | "etcd2.service" => "does not exist on Flatcar (etcd 0.4 and etcd2 are no longer shipped): starting or enabling it fails at boot and coreos-cloudinit stops before the units after it; run etcd v3 as `etcd-member.service`",
        "fleet.service" | "fleet.socket" => "does not exist on Flatcar (fleet was retired): starting or enabling it fails at boot and coreos-cloudinit stops before the units after it; run services as systemd units or with Kubernetes",
        "flanneld.service" => "is no longer shipped by Flatcar: starting or enabling it fails at boot; run flannel as a container (e.g. its Kubernetes manifest)",
        "locksmithd.service" => "is deprecated on Flatcar: for coordinated reboots use FLUO or kured; to stop reboots, mask it (`mask: true`)",
        _ => return None,
    })
}

const UNIT: &[Key] = &[
    req(c("name", unit)),
    k("mask", Go::Bool),
    k("enable", Go::Bool),
    k("runtime", Go::Bool),
    s("content"),
    c("command", unit_command),
    k("drop_ins", Go::List(DROP_IN)),
];

const DROP_IN: &[Key] = &[req(c("name", drop_in)), s("content")];

const UPDATE: &[Key] = &[c("reboot_strategy", reboot_strategy), s("group"), c("server", update_server)];

const OEM: &[Key] = &[s("id"), s("name"), s("version_id"), s("home_url"), s("bug_report_url")];

const FILE: &[Key] = &[
    c("encoding", encoding),
    s("content"),
    c("owner", owner),
    req(c("path", file_path)),
    c("permissions", permissions),
];

const SSH_IMPORT: &str = "is deprecated: fetching keys from the network at every boot fails intermittently; list the keys in `ssh_authorized_keys`";

const USER: &[Key] = &[
    req(c("name", user_name)),
    c("passwd", password_hash),
    k("ssh_authorized_keys", Go::Strs(Some(ssh_key))),
    old(s("coreos_ssh_import_github"), SSH_IMPORT),
    old(k("coreos_ssh_import_github_users", Go::Strs(None)), SSH_IMPORT),
    old(s("coreos_ssh_import_url"), SSH_IMPORT),
    s("gecos"),
    c("homedir", absolute),
    k("no_create_home", Go::Bool),
    s("primary_group"),
    k("groups", Go::Strs(Some(group_name))),
    k("no_user_group", Go::Bool),
    k("system", Go::Bool),
    k("no_log_init", Go::Bool),
    c("shell", absolute),
];

const ETCD: &[Key] = &[
    s("addr"),
    s("advertise_client_urls"),
    s("bind_addr"),
    s("ca_file"),
    s("cert_file"),
    k("cluster_active_size", Go::Int),
    k("cluster_remove_delay", Go::Float),
    k("cluster_sync_interval", Go::Float),
    s("cors"),
    s("data_dir"),
    s("discovery"),
    s("discovery_fallback"),
    s("discovery_srv"),
    s("discovery_proxy"),
    k("election_timeout", Go::Int),
    k("force_new_cluster", Go::Bool),
    s("graphite_host"),
    k("heartbeat_interval", Go::Int),
    k("http_read_timeout", Go::Float),
    k("http_write_timeout", Go::Float),
    s("initial_advertise_peer_urls"),
    s("initial_cluster"),
    s("initial_cluster_state"),
    s("initial_cluster_token"),
    s("key_file"),
    s("listen_client_urls"),
    s("listen_peer_urls"),
    k("max_result_buffer", Go::Int),
    k("max_retry_attempts", Go::Int),
    k("max_snapshots", Go::Int),
    k("max_wals", Go::Int),
    s("name"),
    s("peer_addr"),
    s("peer_bind_addr"),
    s("peer_ca_file"),
    s("peer_cert_file"),
    k("peer_election_timeout", Go::Int),
    k("peer_heartbeat_interval", Go::Int),
    s("peer_key_file"),
    s("peers"),
    s("peers_file"),
    s("proxy"),
    k("retry_interval", Go::Float),
    k("snapshot", Go::Bool),
    k("snapshot_count", Go::Int),
    s("trace"),
    k("verbose", Go::Bool),
    k("very_verbose", Go::Bool),
    k("very_very_verbose", Go::Bool),
];

const ETCD2: &[Key] = &[
    s("advertise_client_urls"),
    s("ca_file"),
    s("cert_file"),
    k("client_cert_auth", Go::Bool),
    s("cors"),
    s("data_dir"),
    k("debug", Go::Bool),
    s("discovery"),
    s("discovery_fallback"),
    s("discovery_srv"),
    s("discovery_proxy"),
    k("election_timeout", Go::Int),
    k("enable_pprof", Go::Bool),
    k("force_new_cluster", Go::Bool),
    k("heartbeat_interval", Go::Int),
    s("initial_advertise_peer_urls"),
    s("initial_cluster"),
    s("initial_cluster_state"),
    s("initial_cluster_token"),
    s("key_file"),
    s("listen_client_urls"),
    s("listen_peer_urls"),
    s("log_package_levels"),
    k("max_snapshots", Go::Int),
    k("max_wals", Go::Int),
    s("name"),
    s("peer_ca_file"),
    s("peer_cert_file"),
    s("peer_key_file"),
    k("peer_client_cert_auth", Go::Bool),
    s("peer_trusted_ca_file"),
    c("proxy", etcd2_proxy),
    k("proxy_dial_timeout", Go::Int),
    k("proxy_failure_wait", Go::Int),
    k("proxy_read_timeout", Go::Int),
    k("proxy_refresh_interval", Go::Int),
    k("proxy_write_timeout", Go::Int),
    k("snapshot_count", Go::Int),
    k("strict_reconfig_check", Go::Bool),
    s("trusted_ca_file"),
    s("wal_dir"),
];

const FLANNEL: &[Key] = &[
    s("etcd_endpoints"),
    s("etcd_cafile"),
    s("etcd_certfile"),
    s("etcd_keyfile"),
    s("etcd_prefix"),
    s("etcd_username"),
    s("etcd_password"),
    s("ip_masq"),
    s("subnet_file"),
    s("interface"),
    s("public_ip"),
];

const FLEET: &[Key] = &[
    s("agent_ttl"),
    s("authorized_keys_file"),
    k("disable_engine", Go::Bool),
    k("engine_reconcile_interval", Go::Float),
    s("etcd_cafile"),
    s("etcd_certfile"),
    s("etcd_keyfile"),
    s("etcd_key_prefix"),
    k("etcd_request_timeout", Go::Float),
    s("etcd_servers"),
    s("etcd_username"),
    s("etcd_password"),
    s("metadata"),
    s("public_ip"),
    k("token_limit", Go::Int),
    k("verbosity", Go::Int),
    k("verify_units", Go::Bool),
];

const LOCKSMITH: &[Key] = &[
    s("endpoint"),
    s("etcd_cafile"),
    s("etcd_certfile"),
    s("etcd_keyfile"),
    s("etcd_username"),
    s("etcd_password"),
    s("group"),
    c("window_start", window_start),
    c("window_length", window_length),
];

fn one_of(what: &str, v: &str, ok: &[&str]) -> Result<Option<String>, String> {
    if ok.contains(&v) {
        Ok(None)
    } else {
        Err(format!("`{}` is not {what} ({})", crate::names::printable(v), ok.join(", ")))
    }
}

fn ssh_key(v: &str) -> Result<Option<String>, String> {
    ssh_public_key(v).map(|()| None)
}

/// The suffixes coreos-cloudinit places in /etc/systemd/network (it restarts networkd for them).
pub fn is_networkd(name: &str) -> bool {
    [".network", ".netdev", ".link"].iter().any(|s| name.len() > s.len() && name.ends_with(s))
}

fn unit(v: &str) -> Result<Option<String>, String> {
    if v.ends_with(".snapshot") {
        return Err(format!("`{}`: snapshot units were removed from systemd (v228)", crate::names::printable(v)));
    }
    cloud_config_unit_name(v).map(|()| None)
}

fn drop_in(v: &str) -> Result<Option<String>, String> {
    let shown = crate::check::schema::Printable(v);
    if v.contains('/') || v.chars().any(char::is_control) {
        Err(format!("drop-in name `{shown}` must be a plain file name"))
    } else if !v.ends_with(".conf") || v == ".conf" {
        Err(format!("drop-in `{shown}` would never be read: systemd reads only `*.conf` files in a unit's `.d` directory; name it `{shown}.conf`"))
    } else {
        Ok(None)
    }
}

fn unit_command(v: &str) -> Result<Option<String>, String> {
    one_of(
        "a unit command",
        v,
        &["start", "stop", "restart", "reload", "try-restart", "reload-or-restart", "reload-or-try-restart"],
    )
}

fn reboot_strategy(v: &str) -> Result<Option<String>, String> {
    if v == "best-effort" {
        return Err("`best-effort` is no longer a reboot strategy: coreos-cloudinit refuses it and applies nothing after it; use `reboot`, `etcd-lock` or `off`".into());
    }
    one_of("a reboot strategy", v, &["reboot", "etcd-lock", "off"])
}

fn update_server(v: &str) -> Result<Option<String>, String> {
    let rest = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !v.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Ok(None)
        }
        _ => Err(format!(
            "update server `{}` must be an http(s) URL, e.g. `https://public.update.flatcar-linux.net/v1/update/`",
            crate::names::printable(v)
        )),
    }
}

fn encoding(v: &str) -> Result<Option<String>, String> {
    one_of("an encoding", v, &["", "b64", "base64", "gz", "gzip", "gz+base64", "gzip+base64", "gz+b64", "gzip+b64"])
}

/// `^0?[0-7]{3,4}$`, as coreos-cloudinit validates it; a decimal mode is a common slip.
fn permissions(v: &str) -> Result<Option<String>, String> {
    let digits = v.strip_prefix('0').filter(|d| d.len() >= 3).unwrap_or(v);
    if !(3..=4).contains(&digits.len()) || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
        return Err(format!(
            "permissions `{}` must be an octal mode like '0644'; coreos-cloudinit fails on this file",
            crate::names::printable(v)
        ));
    }
    if !v.starts_with('0') {
        if let Ok(n) = v.parse::<u32>() {
            let octal = format!("{n:04o}");
            if ["0400", "0444", "0555", "0600", "0640", "0644", "0700", "0750", "0755", "0777"]
                .contains(&octal.as_str())
            {
                return Ok(Some(format!(
                    "permissions `{v}` are read as octal 0{v}; if you meant decimal {v} (= {octal}), write '{octal}'"
                )));
            }
        }
    }
    Ok(None)
}

/// `chown` takes USER, USER:GROUP or :GROUP (names or ids).
fn owner(v: &str) -> Result<Option<String>, String> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('-')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
    };
    let ok = match v.split_once(':') {
        None => name_ok(v),
        Some((u, g)) => (u.is_empty() || name_ok(u)) && (g.is_empty() || name_ok(g)) && !(u.is_empty() && g.is_empty()),
    };
    if ok {
        Ok(None)
    } else {
        Err(format!(
            "owner `{}` is not `USER`, `USER:GROUP` or `:GROUP`; `chown` fails and coreos-cloudinit stops",
            crate::names::printable(v)
        ))
    }
}

fn file_path(v: &str) -> Result<Option<String>, String> {
    let shown = crate::check::schema::Printable(v);
    if v.chars().any(char::is_control) {
        return Err(format!("path `{shown}` holds a control character"));
    }
    // coreos-cloudinit joins the path to `/` and cleans it.
    let mut parts: Vec<&str> = Vec::new();
    for part in v.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let full = format!("/{}", parts.join("/"));
    if full == "/usr" || full.starts_with("/usr/") {
        return Err(format!(
            "path `{shown}` is under /usr, which is read-only on Flatcar: writing it fails at boot; write under /etc, /opt or /var"
        ));
    }
    if parts.is_empty() {
        return Err(format!("path `{shown}` names no file"));
    }
    if !v.starts_with('/') {
        return Ok(Some(format!("path `{shown}` is relative: coreos-cloudinit writes `{full}`; write that")));
    }
    Ok(None)
}

fn absolute(v: &str) -> Result<Option<String>, String> {
    if v.starts_with('/') && !v.chars().any(char::is_control) {
        Ok(None)
    } else {
        Err(format!("path `{}` must be absolute (useradd refuses it)", crate::names::printable(v)))
    }
}

/// coreos-cloudinit keeps the part before the first `.` (and at most 63 characters).
fn hostname(v: &str) -> Result<Option<String>, String> {
    crate::names::check_dns_name(v)?;
    match v.split_once('.') {
        Some((short, _)) => Ok(Some(format!(
            "coreos-cloudinit sets the hostname to `{short}` (the part before the first `.`); write `{short}`"
        ))),
        None => Ok(None),
    }
}

fn manage_etc_hosts(v: &str) -> Result<Option<String>, String> {
    if v.is_empty() || v == "localhost" {
        Ok(None)
    } else {
        Err(format!(
            "`{}` is not supported: the only value is `localhost`, and coreos-cloudinit refuses the file",
            crate::names::printable(v)
        ))
    }
}

/// What useradd accepts as a user or group name (shadow's rules, loosely).
fn posix_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 32
        && !v.starts_with('-')
        && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || (v.len() > 1 && v.ends_with('$') && posix_name(&v[..v.len() - 1]))
}

fn user_name(v: &str) -> Result<Option<String>, String> {
    if posix_name(v) {
        Ok(None)
    } else {
        Err(format!(
            "user name `{}` is not one useradd accepts (letters, digits, `_`, `-`, `.`; at most 32)",
            crate::names::printable(v)
        ))
    }
}

fn group_name(v: &str) -> Result<Option<String>, String> {
    if posix_name(v) {
        Ok(None)
    } else {
        Err(format!("group name `{}` is not one useradd accepts", crate::names::printable(v)))
    }
}

/// `passwd` is handed to useradd as the hash: a clear-text password locks the user out.
fn password_hash(v: &str) -> Result<Option<String>, String> {
    let des = v.len() == 13 && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/'));
    if v.starts_with('$') || v.starts_with('!') || v.starts_with('*') || des {
        Ok(None)
    } else {
        Ok(Some(
            "is not a password hash; useradd stores it as the hash, so no password logs in; write the output of `mkpasswd --method=SHA-512`".into(),
        ))
    }
}

fn etcd2_proxy(v: &str) -> Result<Option<String>, String> {
    one_of("an etcd2 proxy mode", v, &["on", "off", "readonly"])
}

/// `[DAY ]HH:MM`, as locksmith reads it.
fn window_start(v: &str) -> Result<Option<String>, String> {
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let time = match v.split_once(' ') {
        Some((day, time)) if DAYS.contains(&day.to_ascii_lowercase().as_str()) => time,
        Some(_) => "",
        None => v,
    };
    let number = |s: &str, max: u64| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_digit())
            && s.trim_start_matches('0').parse::<u64>().map_or(s.trim_start_matches('0').is_empty(), |n| n <= max)
    };
    match time.split_once(':') {
        Some((h, m)) if number(h, 23) && number(m, 59) => Ok(None),
        _ => Err(format!(
            "`{}` is not a reboot window start (`[Day ]HH:MM`, e.g. `Thu 04:00`)",
            crate::names::printable(v)
        )),
    }
}

/// A Go duration such as `1h30m` (locksmithd parses it with `time.ParseDuration`).
fn window_length(v: &str) -> Result<Option<String>, String> {
    const UNITS: [&str; 7] = ["ns", "us", "µs", "ms", "s", "m", "h"];
    let body = v.strip_prefix(['-', '+']).unwrap_or(v);
    let mut rest = body;
    let mut ok = body == "0" || !body.is_empty();
    while ok && !rest.is_empty() && body != "0" {
        let num = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let digits = &rest[..num];
        let unit_len = rest[num..].find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len() - num);
        ok = digits.chars().any(|c| c.is_ascii_digit())
            && digits.matches('.').count() <= 1
            && UNITS.contains(&&rest[num..num + unit_len]);
        rest = &rest[num + unit_len..];
    }
    if ok {
        Ok(None)
    } else {
        Err(format!("`{}` is not a reboot window length (a duration such as `1h30m`)", crate::names::printable(v)))
    }
}
