//! Fetched resources: URL schemes per spec, `data:` URLs, hashes, compression, HTTP headers.

use base64::Engine as _;

use super::{at, line_of, list, set, text, Entry, Rules};
use crate::check::ignition::spec::{v, Ver};
use crate::yaml::Node;

pub fn check(root: &Node, r: &mut Rules) {
    let v3 = r.v3();
    let mut found: Vec<(String, &Node, bool)> = Vec::new();
    let merge = if v3 { "merge" } else { "append" };
    for (i, n) in list(root, &["ignition", "config", merge]).iter().enumerate() {
        found.push((format!("ignition.config.{merge}[{i}]"), n, v3));
    }
    if let Some(n) = at(root, &["ignition", "config", "replace"]) {
        found.push(("ignition.config.replace".into(), n, false));
    }
    let cas = list(root, &["ignition", "security", "tls", "certificateAuthorities"]);
    for (i, n) in cas.iter().enumerate() {
        found.push((format!("ignition.security.tls.certificateAuthorities[{i}]"), n, v3));
    }
    for (i, file) in list(root, &["storage", "files"]).iter().enumerate() {
        if let Some(n) = file.get("contents") {
            found.push((format!("storage.files[{i}].contents"), n, false));
        }
        if v3 {
            for (j, n) in list(file, &["append"]).iter().enumerate() {
                found.push((format!("storage.files[{i}].append[{j}]"), n, false));
            }
        }
    }
    for (i, luks) in list(root, &["storage", "luks"]).iter().enumerate() {
        if let Some(n) = luks.get("keyFile") {
            found.push((format!("storage.luks[{i}].keyFile"), n, false));
        }
    }
    for (path, node, required) in &found {
        resource(path, node, *required, r);
    }
    for (what, items) in [(merge, list(root, &["ignition", "config", merge])), ("certificateAuthorities", cas)] {
        let parent = if what == "certificateAuthorities" { "ignition.security.tls" } else { "ignition.config" };
        r.unique(
            items.iter().enumerate().filter_map(|(i, n)| {
                let src = text(n, "source")?;
                Some(Entry::new(
                    src,
                    line_of(n, "source"),
                    format!("{parent}.{what}[{i}].source"),
                    format!("{parent}.{what}[{i}]"),
                ))
            }),
            "source",
        );
    }
}

fn resource(path: &str, node: &Node, required: bool, r: &mut Rules) {
    let v3 = r.v3();
    let source = set(node, "source");
    match source {
        Some(src) => {
            if let Some(problem) = url_problem(src, r.ver) {
                r.err(line_of(node, "source"), format!("`{path}.source`: {problem}"));
            }
        }
        None if required => r.err(node.line, format!("`{path}` needs a `source` URL")),
        None => {}
    }
    if let Some(c) = text(node, "compression") {
        if !c.is_empty() && c != "gzip" {
            r.err(
                line_of(node, "compression"),
                format!("`{path}.compression`: `{c}` is not a compression Ignition knows; use `gzip` or leave it out"),
            );
        }
    }
    if let Some(verification) = node.get("verification") {
        if let Some(hash) = text(verification, "hash") {
            let line = line_of(verification, "hash");
            if v3 && source.is_none() && text(node, "source").is_none() {
                r.err(line, format!("`{path}.verification.hash` needs a `source` to verify"));
            } else if let Some(problem) = hash_problem(hash, r.ver) {
                r.err(line, format!("`{path}.verification.hash`: {problem}"));
            } else if let Some(problem) = source
                .and_then(|src| digest_problem(src, hash, text(node, "compression").is_some_and(|c| !c.is_empty())))
            {
                r.err(line, format!("`{path}.verification.hash`: {problem}"));
            }
        }
    }
    let headers = list(node, &["httpHeaders"]);
    if !headers.is_empty() && !matches!(source.and_then(scheme), Some("http" | "https")) {
        r.err(
            line_of(node, "httpHeaders"),
            format!("`{path}.httpHeaders` work only with an http:// or https:// `source`"),
        );
    }
    let mut names: Vec<(&str, usize)> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        match text(h, "name") {
            Some("") => r.err(line_of(h, "name"), format!("`{path}.httpHeaders[{i}].name` is empty")),
            Some(name) => {
                if let Some((_, first)) = names.iter().find(|(n, _)| *n == name) {
                    let first = *first;
                    r.err(
                        line_of(h, "name"),
                        format!("`{path}.httpHeaders[{i}]`: header `{name}` is already set on line {first}"),
                    );
                }
                names.push((name, line_of(h, "name")));
            }
            None => {}
        }
        if v3 && text(h, "value") == Some("") {
            r.err(
                line_of(h, "value"),
                format!("`{path}.httpHeaders[{i}].value` is empty; give a value or leave the key out"),
            );
        }
    }
}

/// The URL scheme, lowercased as Go's url.Parse does; None without one.
pub fn scheme(url: &str) -> Option<&'static str> {
    let (s, _) = url.split_once(':')?;
    let mut chars = s.chars();
    let ok = chars.next()?.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let lower = s.to_ascii_lowercase();
    // Only names that matter here come back; anything else is "other".
    Some(match lower.as_str() {
        "http" => "http",
        "https" => "https",
        "tftp" => "tftp",
        "s3" => "s3",
        "gs" => "gs",
        "arn" => "arn",
        "data" => "data",
        "oem" => "oem",
        _ if ok => "other",
        _ => return None,
    })
}

/// The schemes each spec fetches, with the minor that added each one.
fn schemes(major: u8) -> &'static [(&'static str, u8)] {
    if major == 2 {
        &[("http", 0), ("https", 0), ("tftp", 1), ("s3", 1), ("oem", 0), ("data", 0)]
    } else {
        &[("http", 0), ("https", 0), ("tftp", 0), ("s3", 0), ("gs", 2), ("arn", 4), ("data", 0)]
    }
}

pub fn url_problem(url: &str, ver: Ver) -> Option<String> {
    let table = schemes(ver.major);
    let usable =
        || table.iter().filter(|(_, since)| *since <= ver.minor).map(|(s, _)| *s).collect::<Vec<_>>().join(", ");
    let Some(scheme) = scheme(url) else {
        return Some(format!("`{url}` is not a URL; Ignition fetches {} URLs", usable()));
    };
    match table.iter().find(|(s, _)| *s == scheme) {
        None => {
            let written = url.split(':').next().unwrap_or_default();
            return Some(format!("Ignition does not fetch `{written}:` URLs (`{url}`); use {}", usable()));
        }
        Some((_, since)) if *since > ver.minor => {
            return Some(format!(
                "`{scheme}:` URLs need spec {} or later; this config declares {ver}",
                v(ver.major, *since)
            ));
        }
        Some(_) => {}
    }
    match scheme {
        "data" => data_problem(url),
        "s3" | "arn" if version_id_empty(url) => Some(format!("`{url}`: `versionId` is empty")),
        "arn" => arn_problem(url),
        _ => None,
    }
}

fn version_id_empty(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else { return false };
    query.split('&').any(|kv| kv == "versionId" || kv == "versionId=")
}

/// An S3 access point or bucket object ARN, as Ignition's validateURL accepts it.
fn arn_problem(url: &str) -> Option<String> {
    let base = url.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = base.splitn(6, ':').collect();
    let bad = || {
        Some(format!("`{url}` is not an S3 object ARN (`arn:aws:s3:::BUCKET/KEY` or `arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME/object/KEY`)"))
    };
    if parts.len() < 6 || parts[2] != "s3" || parts[5].is_empty() {
        return bad();
    }
    let slashes = base.split('/').count();
    if (parts[5].starts_with("accesspoint/") && slashes < 3) || slashes < 2 {
        return bad();
    }
    None
}

/// RFC 2397: `data:[MEDIATYPE][;base64],DATA`, percent-escaped; base64 must decode.
fn data_problem(url: &str) -> Option<String> {
    data_bytes(url).err()
}

/// The bytes a `data:` URL holds, or what is wrong with it.
fn data_bytes(url: &str) -> Result<Vec<u8>, String> {
    let rest = url.get("data:".len()..).unwrap_or_default();
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(format!(
            "`{}` has no `,` before its data (write `data:,TEXT` or `data:;base64,BASE64`)",
            short(url)
        ));
    };
    let Some(bytes) = percent_decode(data) else {
        return Err(format!("`{}` has a `%` not followed by two hex digits", short(url)));
    };
    if !meta.rsplit(';').next().is_some_and(|last| last.eq_ignore_ascii_case("base64")) {
        return Ok(bytes);
    }
    let compact: Vec<u8> = bytes.into_iter().filter(|b| *b != b'\n' && *b != b'\r').collect();
    base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|e| format!("the base64 data of `{}` does not decode ({e})", short(url)))
}

/// Inline contents whose digest is not the declared one: Ignition fails the boot on them.
fn digest_problem(source: &str, hash: &str, compressed: bool) -> Option<String> {
    use sha2::Digest as _;
    if compressed || scheme(source) != Some("data") {
        return None;
    }
    let bytes = data_bytes(source).ok()?;
    let (function, want) = hash.split_once('-')?;
    let got = match function {
        "sha512" => hex(&sha2::Sha512::digest(&bytes)),
        "sha256" => hex(&sha2::Sha256::digest(&bytes)),
        _ => return None,
    };
    (!got.eq_ignore_ascii_case(want)).then(|| {
        format!("the `data:` contents hash to `{function}-{got}`, not the declared digest; Ignition would refuse them")
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn short(url: &str) -> String {
    if url.chars().count() > 48 {
        format!("{}...", url.chars().take(45).collect::<String>())
    } else {
        url.to_string()
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// `FUNCTION-HEXDIGEST`; sha512 in every spec, sha256 since 3.1.0.
pub fn hash_problem(hash: &str, ver: Ver) -> Option<String> {
    let Some((function, sum)) = hash.split_once('-') else {
        return Some(format!("`{hash}` is not `FUNCTION-DIGEST` (e.g. `sha512-` and 128 hex digits)"));
    };
    let digits = match function {
        "sha512" => 128,
        "sha256" if ver >= v(3, 1) => 64,
        "sha256" if ver.major == 3 => {
            return Some(format!("`sha256` hashes need spec 3.1.0 or later; this config declares {ver} (use sha512)"))
        }
        "sha256" => return Some(format!("spec {ver} verifies only `sha512` hashes")),
        _ => {
            let known = if ver >= v(3, 1) { "sha512 or sha256" } else { "sha512" };
            return Some(format!("`{function}` is not a hash function Ignition knows; use {known}"));
        }
    };
    if sum.len() != digits {
        return Some(format!("a `{function}` digest has {digits} hex digits, this one has {}", sum.len()));
    }
    if !sum.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(format!("the `{function}` digest is not hexadecimal"));
    }
    None
}
