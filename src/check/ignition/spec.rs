//! The Ignition config schema as data: one table per major spec (2.x, 3.x), each field marked
//! with the minor spec that introduced it, so a version is "base + additions".
//!
//! Read from Ignition's `docs/configuration-v*.md` (3.x on main, 2.x on the `spec2x` branch).
//! A key newer than the declared spec is an error: Ignition would only warn "unused key" and
//! drop that part of the config.

use std::fmt;

/// A spec version `major.minor.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ver {
    pub major: u8,
    pub minor: u8,
}

impl fmt::Display for Ver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.0", self.major, self.minor)
    }
}

pub const fn v(major: u8, minor: u8) -> Ver {
    Ver { major, minor }
}

/// The stable specs, oldest first.
pub const KNOWN: [Ver; 12] =
    [v(2, 0), v(2, 1), v(2, 2), v(2, 3), v(2, 4), v(3, 0), v(3, 1), v(3, 2), v(3, 3), v(3, 4), v(3, 5), v(3, 6)];

pub enum T {
    Str,
    Bool,
    Int,
    List(&'static T),
    Obj(&'static [F]),
}

pub struct F {
    pub name: &'static str,
    pub ty: T,
    /// The minor spec (within the table's major) that introduced the key.
    pub since: u8,
    pub required: bool,
    /// Set when the key is deprecated: (since minor, what to use instead).
    pub deprecated: Option<(u8, &'static str)>,
}

const fn f(name: &'static str, ty: T) -> F {
    F { name, ty, since: 0, required: false, deprecated: None }
}

const fn req(name: &'static str, ty: T) -> F {
    F { name, ty, since: 0, required: true, deprecated: None }
}

impl F {
    const fn since(self, minor: u8) -> F {
        F { since: minor, ..self }
    }

    const fn deprecated(self, minor: u8, instead: &'static str) -> F {
        F { deprecated: Some((minor, instead)), ..self }
    }
}

const STRS: T = T::List(&T::Str);
const VERIFICATION: T = T::Obj(&[f("hash", T::Str)]);
const NODE_USER: T = T::Obj(&[f("id", T::Int), f("name", T::Str)]);
const PROXY: T = T::Obj(&[f("httpProxy", T::Str), f("httpsProxy", T::Str), f("noProxy", STRS)]);
const TIMEOUTS: T = T::Obj(&[f("httpResponseHeaders", T::Int), f("httpTotal", T::Int)]);

// ---- spec 3.x ----
const HEADERS3: T = T::List(&T::Obj(&[req("name", T::Str), f("value", T::Str)]));
/// File contents, appended fragments and LUKS key files (compression since 3.0).
const FILE_RES3: T = T::Obj(&[
    f("source", T::Str),
    f("compression", T::Str),
    f("verification", VERIFICATION),
    f("httpHeaders", HEADERS3).since(1),
]);
/// Merged and replacing configs, certificate authorities (compression since 3.1).
const CONFIG_RES3: T = T::Obj(&[
    f("source", T::Str),
    f("compression", T::Str).since(1),
    f("verification", VERIFICATION),
    f("httpHeaders", HEADERS3).since(1),
]);
const PARTITION3: T = T::Obj(&[
    f("label", T::Str),
    f("number", T::Int),
    f("sizeMiB", T::Int),
    f("startMiB", T::Int),
    f("typeGuid", T::Str),
    f("guid", T::Str),
    f("wipePartitionEntry", T::Bool),
    f("shouldExist", T::Bool),
    f("resize", T::Bool).since(2),
]);
const CLEVIS: T = T::Obj(&[
    f("tang", T::List(&T::Obj(&[req("url", T::Str), req("thumbprint", T::Str), f("advertisement", T::Str).since(4)]))),
    f("tpm2", T::Bool),
    f("threshold", T::Int),
    f("custom", T::Obj(&[f("pin", T::Str), f("config", T::Str), f("needsNetwork", T::Bool)])),
]);
const LUKS3: T = T::Obj(&[
    req("name", T::Str),
    req("device", T::Str),
    f("keyFile", FILE_RES3),
    f("label", T::Str),
    f("uuid", T::Str),
    f("options", STRS),
    f("wipeVolume", T::Bool),
    f("clevis", CLEVIS),
    f("discard", T::Bool).since(4),
    f("openOptions", STRS).since(4),
    f("cex", T::Obj(&[f("enabled", T::Bool)])).since(5),
]);
const STORAGE3: T = T::Obj(&[
    f(
        "disks",
        T::List(&T::Obj(&[req("device", T::Str), f("wipeTable", T::Bool), f("partitions", T::List(&PARTITION3))])),
    ),
    f(
        "raid",
        T::List(&T::Obj(&[
            req("name", T::Str),
            f("level", T::Str),
            f("devices", STRS),
            f("spares", T::Int),
            f("options", STRS),
        ])),
    ),
    f(
        "filesystems",
        T::List(&T::Obj(&[
            req("device", T::Str),
            f("format", T::Str),
            f("path", T::Str),
            f("wipeFilesystem", T::Bool),
            f("label", T::Str),
            f("uuid", T::Str),
            f("options", STRS),
            f("mountOptions", STRS).since(1),
        ])),
    ),
    f(
        "files",
        T::List(&T::Obj(&[
            req("path", T::Str),
            f("overwrite", T::Bool),
            f("contents", FILE_RES3),
            f("append", T::List(&FILE_RES3)),
            f("mode", T::Int),
            f("user", NODE_USER),
            f("group", NODE_USER),
        ])),
    ),
    f(
        "directories",
        T::List(&T::Obj(&[
            req("path", T::Str),
            f("overwrite", T::Bool),
            f("mode", T::Int),
            f("user", NODE_USER),
            f("group", NODE_USER),
        ])),
    ),
    f(
        "links",
        T::List(&T::Obj(&[
            req("path", T::Str),
            f("overwrite", T::Bool),
            f("user", NODE_USER),
            f("group", NODE_USER),
            f("target", T::Str),
            f("hard", T::Bool),
        ])),
    ),
    f("luks", T::List(&LUKS3)).since(2),
]);
const UNIT3: T = T::Obj(&[
    req("name", T::Str),
    f("enabled", T::Bool),
    f("mask", T::Bool),
    f("contents", T::Str),
    f("dropins", T::List(&T::Obj(&[req("name", T::Str), f("contents", T::Str)]))),
]);
const USER3: T = T::Obj(&[
    req("name", T::Str),
    f("passwordHash", T::Str),
    f("sshAuthorizedKeys", STRS),
    f("uid", T::Int),
    f("gecos", T::Str),
    f("homeDir", T::Str),
    f("noCreateHome", T::Bool),
    f("primaryGroup", T::Str),
    f("groups", STRS),
    f("noUserGroup", T::Bool),
    f("noLogInit", T::Bool),
    f("shell", T::Str),
    f("shouldExist", T::Bool).since(2),
    f("system", T::Bool),
]);
const GROUP3: T = T::Obj(&[
    req("name", T::Str),
    f("gid", T::Int),
    f("passwordHash", T::Str),
    f("shouldExist", T::Bool).since(2),
    f("system", T::Bool),
]);
pub const TOP3: T = T::Obj(&[
    req(
        "ignition",
        T::Obj(&[
            req("version", T::Str),
            f("config", T::Obj(&[f("merge", T::List(&CONFIG_RES3)), f("replace", CONFIG_RES3)])),
            f("timeouts", TIMEOUTS),
            f("security", T::Obj(&[f("tls", T::Obj(&[f("certificateAuthorities", T::List(&CONFIG_RES3))]))])),
            f("proxy", PROXY).since(1),
        ]),
    ),
    f("storage", STORAGE3),
    f("systemd", T::Obj(&[f("units", T::List(&UNIT3))])),
    f("passwd", T::Obj(&[f("users", T::List(&USER3)), f("groups", T::List(&GROUP3))])),
    f("kernelArguments", T::Obj(&[f("shouldExist", STRS), f("shouldNotExist", STRS)])).since(3),
]);

// ---- spec 2.x ----
const HEADERS2: T = T::List(&T::Obj(&[req("name", T::Str), req("value", T::Str)]));
const CONFIG_RES2: T =
    T::Obj(&[req("source", T::Str), f("verification", VERIFICATION), f("httpHeaders", HEADERS2).since(4)]);
// Flatcar translates 2.x configs to spec 3 and that translation refuses deprecated fields.
const SIZE_MIB: &str = "`sizeMiB` (MiB, not 512-byte sectors); Flatcar's translation to spec 3 refuses deprecated keys";
const START_MIB: &str =
    "`startMiB` (MiB, not 512-byte sectors); Flatcar's translation to spec 3 refuses deprecated keys";
const PARTITION2: T = T::Obj(&[
    f("label", T::Str),
    f("number", T::Int),
    f("size", T::Int).deprecated(3, SIZE_MIB),
    f("start", T::Int).deprecated(3, START_MIB),
    f("typeGuid", T::Str),
    f("guid", T::Str).since(1),
    f("sizeMiB", T::Int).since(3),
    f("startMiB", T::Int).since(3),
    f("wipePartitionEntry", T::Bool).since(3),
    f("shouldExist", T::Bool).since(3),
]);
const MOUNT2: T = T::Obj(&[
    req("device", T::Str),
    req("format", T::Str),
    f("create", T::Obj(&[f("force", T::Bool), f("options", STRS)])).deprecated(1, "`wipeFilesystem` and `options`"),
    f("wipeFilesystem", T::Bool).since(1),
    f("label", T::Str).since(1),
    f("uuid", T::Str).since(1),
    f("options", STRS).since(1),
]);
const NODE_USER2: T = T::Obj(&[f("id", T::Int), f("name", T::Str).since(1)]);
const STORAGE2: T = T::Obj(&[
    f(
        "disks",
        T::List(&T::Obj(&[req("device", T::Str), f("wipeTable", T::Bool), f("partitions", T::List(&PARTITION2))])),
    ),
    f(
        "raid",
        T::List(&T::Obj(&[
            req("name", T::Str),
            req("level", T::Str),
            req("devices", STRS),
            f("spares", T::Int),
            f("options", STRS).since(2),
        ])),
    ),
    f("filesystems", T::List(&T::Obj(&[req("name", T::Str), f("mount", MOUNT2), f("path", T::Str)]))),
    f(
        "files",
        T::List(&T::Obj(&[
            req("filesystem", T::Str),
            req("path", T::Str),
            f(
                "contents",
                T::Obj(&[
                    f("compression", T::Str),
                    f("source", T::Str),
                    f("verification", VERIFICATION),
                    f("httpHeaders", HEADERS2).since(4),
                ]),
            ),
            f("mode", T::Int),
            f("user", NODE_USER2),
            f("group", NODE_USER2),
            f("overwrite", T::Bool).since(2),
            f("append", T::Bool).since(2),
        ])),
    ),
    f(
        "directories",
        T::List(&T::Obj(&[
            req("filesystem", T::Str),
            req("path", T::Str),
            f("mode", T::Int),
            f("user", NODE_USER2),
            f("group", NODE_USER2),
            f("overwrite", T::Bool).since(2),
        ])),
    )
    .since(1),
    f(
        "links",
        T::List(&T::Obj(&[
            req("filesystem", T::Str),
            req("path", T::Str),
            f("user", NODE_USER2),
            f("group", NODE_USER2),
            f("target", T::Str),
            f("hard", T::Bool),
            f("overwrite", T::Bool).since(2),
        ])),
    )
    .since(1),
]);
const DROPINS2: T = T::List(&T::Obj(&[req("name", T::Str), f("contents", T::Str)]));
const USER2: T = T::Obj(&[
    req("name", T::Str),
    f("passwordHash", T::Str),
    f("sshAuthorizedKeys", STRS),
    f(
        "create",
        T::Obj(&[
            f("uid", T::Int),
            f("gecos", T::Str),
            f("homeDir", T::Str),
            f("noCreateHome", T::Bool),
            f("primaryGroup", T::Str),
            f("groups", STRS),
            f("noUserGroup", T::Bool),
            f("noLogInit", T::Bool),
            f("shell", T::Str),
            f("system", T::Bool),
        ]),
    )
    .deprecated(1, "the same keys directly on the user"),
    f("uid", T::Int).since(1),
    f("gecos", T::Str).since(1),
    f("homeDir", T::Str).since(1),
    f("noCreateHome", T::Bool).since(1),
    f("primaryGroup", T::Str).since(1),
    f("groups", STRS).since(1),
    f("noUserGroup", T::Bool).since(1),
    f("noLogInit", T::Bool).since(1),
    f("shell", T::Str).since(1),
    f("system", T::Bool).since(1),
]);
pub const TOP2: T = T::Obj(&[
    req(
        "ignition",
        T::Obj(&[
            req("version", T::Str),
            f("config", T::Obj(&[f("append", T::List(&CONFIG_RES2)), f("replace", CONFIG_RES2)])),
            f("timeouts", TIMEOUTS).since(1),
            f("security", T::Obj(&[f("tls", T::Obj(&[f("certificateAuthorities", T::List(&CONFIG_RES2))]))])).since(2),
            f("proxy", PROXY).since(4),
        ]),
    ),
    f("storage", STORAGE2),
    f(
        "systemd",
        T::Obj(&[f(
            "units",
            T::List(&T::Obj(&[
                req("name", T::Str),
                f("enable", T::Bool).deprecated(1, "`enabled`"),
                f("enabled", T::Bool).since(1),
                f("mask", T::Bool),
                f("contents", T::Str),
                f("dropins", DROPINS2),
            ])),
        )]),
    ),
    f(
        "networkd",
        T::Obj(&[f(
            "units",
            T::List(&T::Obj(&[req("name", T::Str), f("contents", T::Str), f("dropins", DROPINS2).since(2)])),
        )]),
    ),
    f(
        "passwd",
        T::Obj(&[
            f("users", T::List(&USER2)),
            f(
                "groups",
                T::List(&T::Obj(&[
                    req("name", T::Str),
                    f("gid", T::Int),
                    f("passwordHash", T::Str),
                    f("system", T::Bool),
                ])),
            ),
        ]),
    ),
]);

pub fn top(major: u8) -> &'static T {
    if major == 2 {
        &TOP2
    } else {
        &TOP3
    }
}

/// The field at a dotted key path (list levels skipped) in a major's table.
pub fn lookup(major: u8, keys: &[&str]) -> Option<&'static F> {
    let mut ty = top(major);
    let mut found = None;
    for key in keys {
        while let T::List(inner) = ty {
            ty = inner;
        }
        let T::Obj(fields) = ty else { return None };
        let field = fields.iter().find(|f| f.name == *key)?;
        ty = &field.ty;
        found = Some(field);
    }
    found
}
