//! The Flatcar Butane schemas (1.0.0 and 1.1.0) as data, in Butane's snake_case.
//!
//! `check::schema` reports unknown keys, wrong types and missing required keys from these
//! tables with lines; the translator walks the same tables to know each value's type.
//! Integers are `INT` (`Ty::Scalar`): YAML writes `0644` for octal, which `Ty::Int` would read
//! as decimal, so the translator parses and checks them itself.

use crate::check::schema::{absolute_path, f, req, ssh_public_key, unit_name, Field, Ty};

/// A YAML integer (decimal, `0o`/leading-`0` octal, `0x` hex); checked by the translator.
pub const INT: Ty = Ty::Scalar;

const HEADER: Ty = Ty::Obj(&[req("name", Ty::Str), f("value", Ty::Str)]);
const VERIFICATION: Ty = Ty::Obj(&[f("hash", Ty::Str)]);
/// A resource: Ignition's fields plus Butane's `inline` and `local`.
const RESOURCE: Ty = Ty::Obj(&[
    f("compression", Ty::Str),
    f("http_headers", Ty::List(&HEADER)),
    f("source", Ty::Str),
    f("inline", Ty::Str),
    f("local", Ty::Str),
    f("verification", VERIFICATION),
]);
const NODE_OWNER: Ty = Ty::Obj(&[f("id", INT), f("name", Ty::Str)]);
const PATH: Ty = Ty::StrWith(absolute_path);

const FILE: Ty = Ty::Obj(&[
    req("path", PATH),
    f("overwrite", Ty::Bool),
    f("contents", RESOURCE),
    f("append", Ty::List(&RESOURCE)),
    f("mode", INT),
    f("user", NODE_OWNER),
    f("group", NODE_OWNER),
]);
const DIRECTORY: Ty = Ty::Obj(&[
    req("path", PATH),
    f("overwrite", Ty::Bool),
    f("mode", INT),
    f("user", NODE_OWNER),
    f("group", NODE_OWNER),
]);
const LINK: Ty = Ty::Obj(&[
    req("path", PATH),
    f("overwrite", Ty::Bool),
    f("user", NODE_OWNER),
    f("group", NODE_OWNER),
    f("target", Ty::Str),
    f("hard", Ty::Bool),
]);
const PARTITION: Ty = Ty::Obj(&[
    f("label", Ty::Str),
    f("number", INT),
    f("size_mib", INT),
    f("start_mib", INT),
    f("type_guid", Ty::Str),
    f("guid", Ty::Str),
    f("wipe_partition_entry", Ty::Bool),
    f("should_exist", Ty::Bool),
    f("resize", Ty::Bool),
]);
const DISK: Ty = Ty::Obj(&[req("device", PATH), f("wipe_table", Ty::Bool), f("partitions", Ty::List(&PARTITION))]);
const RAID: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    req("level", Ty::Str),
    req("devices", Ty::List(&PATH)),
    f("spares", INT),
    f("options", Ty::List(&Ty::Str)),
]);
const FILESYSTEM: Ty = Ty::Obj(&[
    req("device", PATH),
    req("format", Ty::Str),
    f("path", PATH),
    f("wipe_filesystem", Ty::Bool),
    f("label", Ty::Str),
    f("uuid", Ty::Str),
    f("options", Ty::List(&Ty::Str)),
    f("mount_options", Ty::List(&Ty::Str)),
    f("with_mount_unit", Ty::Bool),
]);
const TREE: Ty = Ty::Obj(&[req("local", Ty::Str), f("path", PATH)]);
/// Clevis is in Ignition's schema but Butane refuses it for Flatcar; the translator says so.
const LUKS_10: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    req("device", PATH),
    f("key_file", RESOURCE),
    f("label", Ty::Str),
    f("uuid", Ty::Str),
    f("options", Ty::List(&Ty::Str)),
    f("wipe_volume", Ty::Bool),
    f("clevis", Ty::Any),
]);
const LUKS_11: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    req("device", PATH),
    f("key_file", RESOURCE),
    f("label", Ty::Str),
    f("uuid", Ty::Str),
    f("options", Ty::List(&Ty::Str)),
    f("discard", Ty::Bool),
    f("open_options", Ty::List(&Ty::Str)),
    f("wipe_volume", Ty::Bool),
    f("clevis", Ty::Any),
]);

const DROPIN_10: Ty = Ty::Obj(&[req("name", Ty::Str), f("contents", Ty::Str)]);
const DROPIN_11: Ty = Ty::Obj(&[req("name", Ty::Str), f("contents", Ty::Str), f("contents_local", Ty::Str)]);
const UNIT_10: Ty = Ty::Obj(&[
    req("name", Ty::StrWith(unit_name)),
    f("enabled", Ty::Bool),
    f("mask", Ty::Bool),
    f("contents", Ty::Str),
    f("dropins", Ty::List(&DROPIN_10)),
]);
const UNIT_11: Ty = Ty::Obj(&[
    req("name", Ty::StrWith(unit_name)),
    f("enabled", Ty::Bool),
    f("mask", Ty::Bool),
    f("contents", Ty::Str),
    f("contents_local", Ty::Str),
    f("dropins", Ty::List(&DROPIN_11)),
]);

const SSH_KEY: Ty = Ty::StrWith(ssh_public_key);
const USER_10: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    f("password_hash", Ty::Str),
    f("ssh_authorized_keys", Ty::List(&SSH_KEY)),
    f("uid", INT),
    f("gecos", Ty::Str),
    f("home_dir", PATH),
    f("no_create_home", Ty::Bool),
    f("primary_group", Ty::Str),
    f("groups", Ty::List(&Ty::Str)),
    f("no_user_group", Ty::Bool),
    f("no_log_init", Ty::Bool),
    f("shell", Ty::Str),
    f("should_exist", Ty::Bool),
    f("system", Ty::Bool),
]);
const USER_11: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    f("password_hash", Ty::Str),
    f("ssh_authorized_keys", Ty::List(&SSH_KEY)),
    f("ssh_authorized_keys_local", Ty::List(&Ty::Str)),
    f("uid", INT),
    f("gecos", Ty::Str),
    f("home_dir", PATH),
    f("no_create_home", Ty::Bool),
    f("primary_group", Ty::Str),
    f("groups", Ty::List(&Ty::Str)),
    f("no_user_group", Ty::Bool),
    f("no_log_init", Ty::Bool),
    f("shell", Ty::Str),
    f("should_exist", Ty::Bool),
    f("system", Ty::Bool),
]);
const GROUP: Ty = Ty::Obj(&[
    req("name", Ty::Str),
    f("gid", INT),
    f("password_hash", Ty::Str),
    f("should_exist", Ty::Bool),
    f("system", Ty::Bool),
]);

const IGNITION: Ty = Ty::Obj(&[
    f("config", Ty::Obj(&[f("merge", Ty::List(&RESOURCE)), f("replace", RESOURCE)])),
    f("timeouts", Ty::Obj(&[f("http_response_headers", INT), f("http_total", INT)])),
    f("security", Ty::Obj(&[f("tls", Ty::Obj(&[f("certificate_authorities", Ty::List(&RESOURCE))]))])),
    f("proxy", Ty::Obj(&[f("http_proxy", Ty::Str), f("https_proxy", Ty::Str), f("no_proxy", Ty::List(&Ty::Str))])),
]);
const KERNEL_ARGUMENTS: Ty =
    Ty::Obj(&[f("should_exist", Ty::List(&Ty::Str)), f("should_not_exist", Ty::List(&Ty::Str))]);

/// `variant: flatcar`, `version: 1.0.0` (Ignition 3.3.0).
pub const FLATCAR_10: &[Field] = &[
    req("variant", Ty::Str),
    req("version", Ty::Str),
    f("ignition", IGNITION),
    f(
        "storage",
        Ty::Obj(&[
            f("disks", Ty::List(&DISK)),
            f("raid", Ty::List(&RAID)),
            f("filesystems", Ty::List(&FILESYSTEM)),
            f("files", Ty::List(&FILE)),
            f("directories", Ty::List(&DIRECTORY)),
            f("links", Ty::List(&LINK)),
            f("luks", Ty::List(&LUKS_10)),
            f("trees", Ty::List(&TREE)),
        ]),
    ),
    f("systemd", Ty::Obj(&[f("units", Ty::List(&UNIT_10))])),
    f("passwd", Ty::Obj(&[f("users", Ty::List(&USER_10)), f("groups", Ty::List(&GROUP))])),
    f("kernel_arguments", KERNEL_ARGUMENTS),
];

/// `variant: flatcar`, `version: 1.1.0` (Ignition 3.4.0): adds luks `discard` and
/// `open_options`, `contents_local` for units and drop-ins, `ssh_authorized_keys_local`.
pub const FLATCAR_11: &[Field] = &[
    req("variant", Ty::Str),
    req("version", Ty::Str),
    f("ignition", IGNITION),
    f(
        "storage",
        Ty::Obj(&[
            f("disks", Ty::List(&DISK)),
            f("raid", Ty::List(&RAID)),
            f("filesystems", Ty::List(&FILESYSTEM)),
            f("files", Ty::List(&FILE)),
            f("directories", Ty::List(&DIRECTORY)),
            f("links", Ty::List(&LINK)),
            f("luks", Ty::List(&LUKS_11)),
            f("trees", Ty::List(&TREE)),
        ]),
    ),
    f("systemd", Ty::Obj(&[f("units", Ty::List(&UNIT_11))])),
    f("passwd", Ty::Obj(&[f("users", Ty::List(&USER_11)), f("groups", Ty::List(&GROUP))])),
    f("kernel_arguments", KERNEL_ARGUMENTS),
];
