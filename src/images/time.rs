//! Dates for the lock file and for messages, without a date crate: UTC only, second precision.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) -> days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// `2025-03-07T12:00:00Z`
pub fn timestamp(t: SystemTime) -> String {
    let s = seconds(t);
    let (y, m, d) = civil_from_days(s.div_euclid(86_400));
    let r = s.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", r / 3600, r / 60 % 60, r % 60)
}

/// `2025-03-07`
pub fn date(t: SystemTime) -> String {
    timestamp(t)[..10].to_string()
}

/// Parses `YYYY-MM-DD` as midnight UTC.
pub fn parse_date(s: &str) -> Option<SystemTime> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return None; // 2023-02-30
    }
    Some(UNIX_EPOCH + Duration::from_secs(days as u64 * 86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_dates() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_741_348_800 + 3_723);
        assert_eq!(timestamp(t), "2025-03-07T13:02:03Z");
        assert_eq!(date(t), "2025-03-07");
        let d = parse_date("2027-03-08").unwrap();
        assert_eq!(timestamp(d), "2027-03-08T00:00:00Z");
        assert_eq!(parse_date("2024-02-29").map(date).as_deref(), Some("2024-02-29"));
        for bad in ["2023-02-30", "2023-13-01", "23-01-01", "2023-1-01", "2023-01-01x", ""] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }
}
