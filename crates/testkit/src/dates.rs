//! RFC 3339 timestamps for generated cases (proleptic Gregorian calendar, Howard Hinnant's
//! day algorithms), without a date crate.

/// Days since 1970-01-01 of the civil date `y`-`m`-`d`.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) `z` days after 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `secs` since the epoch as RFC 3339 local time at `offset` minutes east:
/// `2023-11-14T22:13:20Z` (offset 0), `2023-11-15T00:13:20+02:00`.
pub fn rfc3339(secs: i64, offset: i64) -> String {
    let local = secs + offset * 60;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let t = local.rem_euclid(86_400);
    let off = if offset == 0 {
        "Z".to_string()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        format!("{sign}{:02}:{:02}", offset.abs() / 60, offset.abs() % 60)
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{off}",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// Seconds since the epoch of what [`rfc3339`] writes; `None` for anything else.
pub fn epoch_of(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || [b[4], b[7], b[10], b[13], b[16]] != *b"--T::" {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    let local = days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?;
    let offset = match s.get(19..)? {
        "Z" => 0,
        o if o.len() == 6 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (n(20..22)? * 60 + n(23..25)?)
        }
        _ => return None,
    };
    Some(local - offset * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_and_read_back() {
        for (secs, offset) in [
            (1_700_000_000, 0),
            (1_700_000_000, 330),
            (1_700_000_000, -300),
            (0, 120),
            (-86_401, 0),
            (951_782_400, 0), // 2000-02-29
        ] {
            let s = rfc3339(secs, offset);
            assert_eq!(epoch_of(&s), Some(secs), "{s}");
        }
        assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_700_000_000, 120), "2023-11-15T00:13:20+02:00");
        assert_eq!(rfc3339(951_782_400, -90), "2000-02-28T22:30:00-01:30");
        assert_eq!(epoch_of("2023-11-14 22:13:20Z"), None);
        assert_eq!(epoch_of("2023-11-14T22:13:20"), None);
    }
}
