//! Scalar rules: YAML integers as Butane reads them, modes, unit-name escaping, URLs, hashes,
//! key names.

/// Butane's snake_case key as Ignition's camelCase (`size_mib` -> `sizeMiB`).
pub fn camel(key: &str) -> String {
    let mut out = String::new();
    for (i, part) in key.split('_').enumerate() {
        if i == 0 {
            out.push_str(part);
        } else if part == "mib" {
            out.push_str("MiB");
        } else {
            let mut c = part.chars();
            if let Some(f) = c.next() {
                out.push(f.to_ascii_uppercase());
                out.push_str(c.as_str());
            }
        }
    }
    out
}

/// An integer as yaml.v3 resolves a plain scalar: decimal, `0x` hex, `0o`/leading-`0` octal,
/// `0b` binary, with an optional sign and `_` separators.
pub fn yaml_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let body = body.replace('_', "");
    let (digits, radix) = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (o, 8)
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (b, 2)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// Whether a mode looks like octal digits written without the leading zero: unusual as
/// written, usual when read as octal (Butane's heuristic, reimplemented).
pub fn looks_decimal(mode: i64, directory: bool) -> bool {
    let Some(octal) = decimal_digits_as_octal(mode) else { return false };
    !typical_mode(mode, directory) && typical_mode(octal, directory)
}

fn decimal_digits_as_octal(mode: i64) -> Option<i64> {
    if !(0..=7777).contains(&mode) {
        return None;
    }
    let mut out = 0;
    for div in [1000, 100, 10, 1] {
        let d = (mode / div) % 10;
        if d > 7 {
            return None;
        }
        out = out * 8 + d;
    }
    Some(out)
}

/// A permission set a person would plausibly choose: each wider class has no bit the narrower
/// one lacks, someone can read, and special bits only where they make sense.
fn typical_mode(mode: i64, directory: bool) -> bool {
    if mode == 0 {
        return true;
    }
    let (mut r_seen, mut w_seen, mut x_seen) = (false, false, false);
    for perm in [mode & 7, (mode >> 3) & 7, (mode >> 6) & 7] {
        let (r, w, x) = (perm & 4 != 0, perm & 2 != 0, perm & 1 != 0);
        if (!r && r_seen) || (!w && w_seen) || (!x && x_seen) {
            return false;
        }
        if x && r_seen && !x_seen {
            return false;
        }
        if (w || x) && !r {
            return false;
        }
        r_seen |= r;
        w_seen |= w;
        x_seen |= x;
    }
    if !r_seen {
        return false;
    }
    if directory {
        x_seen && mode & 0o4000 == 0 && (mode & 0o3000 == 0 || w_seen)
    } else {
        let special_ok = mode & 0o6000 == 0 || (x_seen && mode & 2 == 0);
        special_ok && mode & 0o1000 == 0
    }
}

/// systemd-escape --path: the unit name of a path (`/var/lib/data` -> `var-lib-data`).
pub fn escape_path(path: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !start {
            out.push('-');
        }
        for (i, b) in part.bytes().enumerate() {
            let leading_dot = start && i == 0 && b == b'.';
            if !leading_dot && (b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.')) {
                out.push(b as char);
            } else {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        start = false;
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

/// URL schemes Ignition fetches from (`arn` since spec 3.4.0).
pub fn check_url(url: &str, ignition: &str) -> Result<(), String> {
    let shown = crate::names::printable(url);
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    let mut known = vec!["http", "https", "tftp", "s3", "gs", "data"];
    if ignition != "3.3.0" {
        known.push("arn");
    }
    match scheme {
        Some(s) if known.contains(&s.as_str()) => {
            if s == "data" && !url.contains(',') {
                return Err(format!("`{shown}` is not a valid data URL (no `,` before the data)"));
            }
            Ok(())
        }
        _ => Err(format!("`{shown}` is not a URL Ignition can fetch (schemes: {})", known.join(", "))),
    }
}

/// `sha512-<128 hex>` or `sha256-<64 hex>`.
pub fn check_hash(h: &str) -> Result<(), String> {
    let ok = match h.split_once('-') {
        Some(("sha512", hex)) => hex.len() == 128 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        Some(("sha256", hex)) => hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{}` is not `sha512-<128 hex digits>` or `sha256-<64 hex digits>`", crate::names::printable(h)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_integers_read_like_butane() {
        assert_eq!(yaml_int("0644"), Some(420));
        assert_eq!(yaml_int("0o755"), Some(493));
        assert_eq!(yaml_int("420"), Some(420));
        assert_eq!(yaml_int("0x1ed"), Some(493));
        assert_eq!(yaml_int("0"), Some(0));
        assert_eq!(yaml_int("-1"), Some(-1));
        assert_eq!(yaml_int("0999"), None);
        assert_eq!(yaml_int("big"), None);
        assert_eq!(yaml_int("4.2"), None);
    }

    #[test]
    fn decimal_looking_modes_are_spotted() {
        assert!(looks_decimal(644, false));
        assert!(looks_decimal(755, true));
        assert!(!looks_decimal(0o644, false));
        assert!(!looks_decimal(420, false));
        assert!(!looks_decimal(0, false));
    }

    #[test]
    fn paths_escape_like_systemd() {
        assert_eq!(escape_path("/var/lib/data"), "var-lib-data");
        assert_eq!(escape_path("/"), "-");
        assert_eq!(escape_path("/dev/disk/by-label/my-data"), "dev-disk-by\\x2dlabel-my\\x2ddata");
        assert_eq!(escape_path("//srv//.hidden/"), "srv-.hidden");
        assert_eq!(escape_path("/.x"), "\\x2ex");
        assert_eq!(camel("size_mib"), "sizeMiB");
        assert_eq!(camel("wipe_partition_entry"), "wipePartitionEntry");
    }
}
