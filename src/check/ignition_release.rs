//! Which Ignition config spec versions an Ignition release reads.
//!
//! An image states the Ignition release it ships (`images.X.ignition`); a config whose spec
//! version that release does not know is refused at boot, so it is refused at build time.
//! The table is Ignition's own (docs/specs.md: the first release that reads each stable spec).

/// A version as (major, minor, patch).
type Version = (u32, u32, u32);

/// (spec version, first Ignition release that reads it), oldest first.
const STABLE: [(Version, Version); 7] = [
    ((3, 0, 0), (2, 0, 0)),
    ((3, 1, 0), (2, 3, 0)),
    ((3, 2, 0), (2, 7, 0)),
    ((3, 3, 0), (2, 11, 0)),
    ((3, 4, 0), (2, 15, 0)),
    ((3, 5, 0), (2, 20, 0)),
    ((3, 6, 0), (2, 26, 0)),
];

/// `"2.24.0"` -> (2, 24, 0); None for anything that is not three dot-separated numbers.
pub fn parse(v: &str) -> Option<Version> {
    let mut it = v.split('.').map(|p| (!p.is_empty() && p.len() <= 6).then(|| p.parse::<u32>().ok()).flatten());
    let out = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(out)
}

/// The newest stable spec version an Ignition release reads (None before Ignition 2.0.0, which
/// read only spec 2.x).
pub fn max_spec(release: Version) -> Option<Version> {
    STABLE.iter().rev().find(|(_, first)| release >= *first).map(|(spec, _)| *spec)
}

/// Why `release` cannot read a config of `spec` (both as written), if it cannot.
/// Spec 2.x configs are read by every release: Flatcar's Ignition translates them to 3.x.
pub fn unreadable(spec: &str, release: &str) -> Option<String> {
    let (s, r) = (parse(spec)?, parse(release)?);
    if s.0 < 3 {
        return None;
    }
    match max_spec(r) {
        Some(max) if s <= max => None,
        Some(max) => Some(format!(
            "the config declares Ignition spec {spec}, but Ignition {release} reads specs up to {}.{}.{}",
            max.0, max.1, max.2
        )),
        None => Some(format!("the config declares Ignition spec {spec}, but Ignition {release} reads only spec 2.x")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_read_the_specs_of_ignitions_table() {
        // Flatcar stable 4757.2.1 ships Ignition 2.24.0, LTS 4081.3.10 ships 2.19.0.
        assert_eq!(max_spec(parse("2.24.0").unwrap()), Some((3, 5, 0)));
        assert_eq!(max_spec(parse("2.19.0").unwrap()), Some((3, 4, 0)));
        assert_eq!(max_spec(parse("2.26.0").unwrap()), Some((3, 6, 0)));
        assert_eq!(max_spec(parse("0.35.0").unwrap()), None);
        assert_eq!(unreadable("3.4.0", "2.19.0"), None);
        assert_eq!(
            unreadable("3.5.0", "2.19.0").as_deref(),
            Some("the config declares Ignition spec 3.5.0, but Ignition 2.19.0 reads specs up to 3.4.0")
        );
        assert_eq!(unreadable("2.3.0", "2.19.0"), None);
    }

    #[test]
    fn versions_are_three_numbers() {
        assert_eq!(parse("2.24.0"), Some((2, 24, 0)));
        for bad in ["2.24", "2.24.0.1", "v2.24.0", "2..0", "", "2.x.0"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
