//! Checks for values that end up in file names and config lines.
//!
//! Everything a user writes may reach a pxelinux, GRUB, iPXE, dnsmasq or nginx line, or name a
//! file in the tree. These checks make sure it can neither inject a directive (newlines, control
//! characters, quotes) nor escape the tree (`/`, `..`).

use std::fmt;
use std::net::Ipv4Addr;

/// A valid DNS label: what host names must be, so they are safe as file names and in DHCP.
pub fn check_dns_label(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid DNS label (lowercase letters, digits and `-`, not at either end, at most 63 characters)",
            printable(s)
        ))
    }
}

/// A host name dnsmasq reads as a host name in the third field of a `dhcp-host` line: not one of
/// its keywords there (`ignore`, `infinite`) nor a lease time (digits, optionally followed by one
/// of `s m h d w`). dnsmasq has no quoting, so such names are refused.
pub fn check_dhcp_host_name(s: &str) -> Result<(), String> {
    let digits = s.trim_end_matches(['s', 'm', 'h', 'd', 'w', 'S', 'M', 'H', 'D', 'W']);
    let lease_like = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && s.len() - digits.len() <= 1;
    if matches!(s.to_ascii_lowercase().as_str(), "ignore" | "infinite") || lease_like {
        let what = if lease_like { "a lease time" } else { "a keyword" };
        Err(format!(
            "`{}` would be read by dnsmasq as {what}, not as the host name, in its `dhcp-host` line; choose another name",
            printable(s)
        ))
    } else {
        Ok(())
    }
}

/// A DNS name: dot-separated labels.
pub fn check_dns_name(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.len() <= 253 && s.split('.').all(|l| check_dns_label(l).is_ok()) {
        Ok(())
    } else {
        Err(format!("`{}` is not a valid DNS name (dot-separated lowercase labels)", printable(s)))
    }
}

/// A name for an inventory object (network, image, bootaction, appliance).
pub fn check_identifier(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid name (letters, digits, `-`, `_`, `.`, starting with a letter or digit)",
            printable(s)
        ))
    }
}

/// A single file name in the TFTP or image tree: no directories, no hidden files, no spaces.
pub fn check_file_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a safe file name (letters, digits, `-`, `_`, `.`, `+`; no `/`, no leading `.`)",
            printable(s)
        ))
    }
}

/// A relative path inside the tree: safe components joined by `/`.
pub fn check_relative_path(s: &str) -> Result<(), String> {
    let bad = s.is_empty()
        || s.starts_with('/')
        || s.split('/').any(|c| c.is_empty() || c == "." || c == ".." || check_file_name(c).is_err());
    if bad {
        Err(format!(
            "`{}` is not a safe relative path (components of letters, digits, `-`, `_`, `.`, `+`; no `..`, no leading `/` or `.`)",
            printable(s)
        ))
    } else {
        Ok(())
    }
}

/// A value that goes on one config line: no control characters (newline, CR, tab, ...).
pub fn check_line(s: &str) -> Result<(), String> {
    if s.chars().any(|c| c.is_control()) {
        Err(format!("`{}` contains a newline or control character, which could inject config lines", printable(s)))
    } else {
        Ok(())
    }
}

/// An http(s) URL that is safe on a config line: no whitespace, quotes or control characters.
pub fn check_url(s: &str) -> Result<(), String> {
    let scheme_ok = s.starts_with("http://") || s.starts_with("https://");
    let chars_ok =
        !s.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';' | '{' | '}'));
    if scheme_ok && chars_ok && s.len() > 8 {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a usable URL (http:// or https://, no spaces, quotes, `;`, braces or control characters)",
            printable(s)
        ))
    }
}

/// Shows control characters escaped, so an error message never carries them.
pub fn printable(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect::<String>().replace("\\'", "'").replace("\\\"", "\"")
}

/// A message as it may go to a terminal: control characters (escape sequences, carriage
/// returns, and newlines unless `keep_newlines`) are shown escaped, everything else as it is.
pub fn terminal_safe(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && !(keep_newlines && c == '\n') {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// A MAC address, parsed from `52:54:00:00:00:01` or `52-54-00-00-00-01` (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub fn parse(s: &str) -> Result<Mac, String> {
        let err = || format!("`{}` is not a MAC address (six hex pairs like 52:54:00:00:00:01)", printable(s));
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 || s.contains(':') && s.contains('-') {
            return Err(err());
        }
        let mut mac = [0u8; 6];
        for (b, p) in mac.iter_mut().zip(&parts) {
            // from_str_radix alone would take `+f` as a byte.
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        // A typo, never a network card: DHCP would never see a client with it.
        if mac[0] & 1 == 1 {
            return Err(format!(
                "`{}` is a multicast or broadcast address (its first byte is odd), never a network card's; check the MAC",
                printable(s)
            ));
        }
        if mac == [0; 6] {
            return Err(format!("`{}` is the all-zero address, never a network card's; check the MAC", printable(s)));
        }
        Ok(Mac(mac))
    }

    /// `52-54-00-00-00-01`: PXELINUX `01-` files, GRUB and iPXE `${mac:hexhyp}` names.
    pub fn hyphenated(&self) -> String {
        self.join('-')
    }

    fn join(&self, sep: char) -> String {
        let mut s = String::with_capacity(17);
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(sep);
            }
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join(':'))
    }
}

/// The PXELINUX/GRUB name of an IPv4 address: 8 uppercase hex digits.
pub fn hex_ip(ip: Ipv4Addr) -> String {
    format!("{:08X}", u32::from(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_cannot_name_paths() {
        assert!(check_dns_label("backend-0-0").is_ok());
        for bad in ["../x", "a/b", "", "-a", "A", "a\nb", "a.b"] {
            assert!(check_dns_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dnsmasq_keywords_and_lease_times_are_not_host_names() {
        for bad in ["ignore", "infinite", "12h", "30m", "7d", "1w", "45s", "3600", "0"] {
            assert!(check_dhcp_host_name(bad).is_err(), "{bad}");
        }
        for good in ["h12", "12h-a", "node1", "backend-0-0", "12hh", "ignored"] {
            assert!(check_dhcp_host_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn macs_parse_both_separators() {
        let m = Mac::parse("52:54:00:AB:00:01").unwrap();
        assert_eq!(m.to_string(), "52:54:00:ab:00:01");
        assert_eq!(m.hyphenated(), "52-54-00-ab-00-01");
        assert_eq!(Mac::parse("52-54-00-ab-00-01").unwrap(), m);
        for bad in ["52:54:00:00:00", "52:54:00:00:00:0g", "52:54-00:00:00:00", "5:54:00:00:00:001"] {
            assert!(Mac::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn broadcast_multicast_and_all_zero_macs_are_rejected() {
        for bad in ["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33-33-00-00-00-01", "00:00:00:00:00:00"] {
            let e = Mac::parse(bad).unwrap_err();
            assert!(e.contains("never a network card's"), "{bad}: {e}");
        }
        assert!(Mac::parse("02:00:00:00:00:01").is_ok(), "locally administered is fine");
    }

    #[test]
    fn a_mac_byte_with_a_plus_sign_is_rejected() {
        for bad in ["52:54:00:00:00:+f", "+5:54:00:00:00:01", "52:54:00:00:-1:01"] {
            assert!(Mac::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_never_carry_raw_escape_characters() {
        assert_eq!(terminal_safe("a\u{1b}[31mb\r\n`\\`", false), "a\\u{1b}[31mb\\r\\n`\\`");
        assert_eq!(terminal_safe("one\ntwo\u{7}", true), "one\ntwo\\u{7}");
    }

    #[test]
    fn hex_ip_is_upper_8_digits() {
        assert_eq!(hex_ip("10.2.255.254".parse().unwrap()), "0A02FFFE");
    }

    #[test]
    fn relative_paths_stay_inside() {
        assert!(check_relative_path("coreos/backend-0-0.yaml").is_ok());
        for bad in ["../x", "/etc/passwd", "a//b", "a/./b", "a/.hidden", "a b"] {
            assert!(check_relative_path(bad).is_err(), "{bad}");
        }
    }
}
