//! `inventory/images.lock`: what each image file verified as, like Cargo.lock for images, and
//! the SHA-256 and origin (Debian package and version) of every bootloader the tree carries.
//!
//! Pretty JSON, entries sorted by image, version and file, no timestamps of its own: the same
//! files give the same bytes. The name does not end in `.yaml`, so the inventory loader, which
//! reads every `*.yaml` in the directory, leaves it alone.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "images.lock";
const FORMAT: u32 = 2;
const COMMENT: &str = "Written by pxebake: the digest and signer of every verified image file, and the digest and \
origin of every bootloader. A build that finds different values fails. To accept a changed file on purpose, run \
`pxebake fetch --update-lock`.";

/// One verified file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub image: String,
    pub version: String,
    pub file: String,
    /// The upstream URL (not a mirror's).
    pub url: String,
    pub size: u64,
    pub sha512: String,
    /// Primary fingerprint of the certificate in the key file.
    pub key: String,
    /// The (sub)key that made the signature.
    pub signing_key: String,
    /// The signature's creation time, UTC.
    pub signed: String,
}

impl Entry {
    pub fn id(&self) -> Id {
        (self.image.clone(), self.version.clone(), self.file.clone())
    }
}

/// (image, version, file)
pub type Id = (String, String, String);

/// One pinned bootloader: a file under `tftp/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loader {
    /// Its name in `tftp/`.
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// Where it was taken from when pinned: the Debian path, or the `site.bootloaders` value.
    pub source: String,
    /// The Debian package that installed it, and its version, when a package did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Loader {
    /// `/usr/lib/ipxe/undionly.kpxe` (package `ipxe` 1.0.0-1), for messages.
    pub fn origin(&self) -> String {
        match (&self.package, &self.version) {
            (Some(p), Some(v)) => format!("`{}` (package `{p}` {v})", self.source),
            (Some(p), None) => format!("`{}` (package `{p}`, version unknown)", self.source),
            _ => format!("`{}`", self.source),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lock {
    pub files: BTreeMap<Id, Entry>,
    /// Bootloaders by name in `tftp/`.
    pub loaders: BTreeMap<String, Loader>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    #[serde(default)]
    comment: String,
    format: u32,
    files: Vec<Entry>,
    #[serde(default)]
    bootloaders: Vec<Loader>,
}

impl std::str::FromStr for Lock {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Lock> {
        let d: OnDisk = serde_json::from_str(text)?;
        // Format 1 had no bootloaders; it reads as a lock that pins none yet.
        if d.format != FORMAT && d.format != 1 {
            anyhow::bail!("format {} is not supported (this pxebake writes format {FORMAT})", d.format);
        }
        let mut files = BTreeMap::new();
        for e in d.files {
            if files.insert(e.id(), e.clone()).is_some() {
                anyhow::bail!("file `{}` of image `{}` {} is listed twice", e.file, e.image, e.version);
            }
        }
        let mut loaders = BTreeMap::new();
        for l in d.bootloaders {
            if loaders.insert(l.name.clone(), l.clone()).is_some() {
                anyhow::bail!("bootloader `{}` is listed twice", l.name);
            }
        }
        Ok(Lock { files, loaders })
    }
}

impl Lock {
    /// Reads a lock file; a missing file is an empty lock.
    pub fn from_file(path: &Path) -> anyhow::Result<Lock> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        };
        text.parse::<Lock>().with_context(|| {
            format!(
                "`{}` is not a valid images.lock; restore it from version control, or delete it to pin the files verified by the next build",
                path.display()
            )
        })
    }

    pub fn to_text(&self) -> String {
        let d = OnDisk {
            comment: COMMENT.into(),
            format: FORMAT,
            files: self.files.values().cloned().collect(),
            bootloaders: self.loaders.values().cloned().collect(),
        };
        // Serializing plain strings and numbers cannot fail.
        let mut s = serde_json::to_string_pretty(&d).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Writes the lock atomically (temporary file + rename).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension(format!("lock.{}.tmp", std::process::id()));
        std::fs::write(&tmp, self.to_text()).with_context(|| format!("cannot write `{}`", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace `{}`", path.display()))
    }
}

/// How a freshly verified file compares with its lock entry.
pub fn disagreement(locked: &Entry, now: &Entry) -> Option<String> {
    let mut diffs = Vec::new();
    if locked.size != now.size || locked.sha512 != now.sha512 {
        diffs.push(format!(
            "images.lock pins {} bytes with sha512 {}, but the file has {} bytes with sha512 {}",
            locked.size, locked.sha512, now.size, now.sha512
        ));
    }
    if locked.key != now.key || locked.signing_key != now.signing_key {
        diffs.push(format!(
            "images.lock says it was signed by key {} (certificate {}), but it verified with key {} (certificate {})",
            locked.signing_key, locked.key, now.signing_key, now.key
        ));
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    fn entry(image: &str, file: &str) -> Entry {
        Entry {
            image: image.into(),
            version: "1.0".into(),
            file: file.into(),
            url: format!("http://h/1.0/{file}"),
            size: 3,
            sha512: "ab".into(),
            key: "K".into(),
            signing_key: "S".into(),
            signed: "2025-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn round_trips_sorted_and_deterministic() {
        let mut l = Lock::default();
        for (i, f) in [("b", "z"), ("a", "y"), ("a", "x")] {
            let e = entry(i, f);
            l.files.insert(e.id(), e);
        }
        let text = l.to_text();
        let a = text.find("\"x\"").unwrap();
        let b = text.find("\"y\"").unwrap();
        let c = text.find("\"z\"").unwrap();
        assert!(a < b && b < c, "{text}");
        assert_eq!(Lock::from_str(&text).unwrap(), l);
        assert_eq!(Lock::from_str(&text).unwrap().to_text(), text);
        assert!(Lock::from_str("{\"format\": 3, \"files\": []}").is_err());
        assert!(Lock::from_str("{\"format\": 1, \"files\": []}").unwrap().loaders.is_empty());
        assert!(Lock::from_str("{\"format\": 1, \"files\": [], \"extra\": 1}").is_err());
    }

    #[test]
    fn disagreement_names_both_values() {
        let a = entry("os", "vmlinuz");
        assert!(disagreement(&a, &a).is_none());
        let mut b = a.clone();
        b.sha512 = "cd".into();
        let d = disagreement(&a, &b).unwrap();
        assert!(d.contains("sha512 ab") && d.contains("sha512 cd"), "{d}");
        let mut c = a.clone();
        c.signing_key = "T".into();
        let d = disagreement(&a, &c).unwrap();
        assert!(d.contains("key S") && d.contains("key T"), "{d}");
        let mut e = a.clone();
        e.signed = "2026-01-01T00:00:00Z".into();
        e.url = "http://elsewhere/".into();
        assert!(disagreement(&a, &e).is_none(), "a new signature time or URL alone is not a change of content");
    }
}
