//! Timestamps as instants: RFC 3339 with any offset, epoch seconds or epoch milliseconds.
//!
//! Compared as instants, never as strings: `2024-01-01T10:00:00+02:00` is before
//! `2024-01-01T09:00:00Z`.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Nanoseconds since the Unix epoch, from a JSON value's text (a string or a number).
pub(crate) fn parse(raw: &[u8]) -> Option<i128> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let inner = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner,
        None => text,
    };
    if let Some(n) = epoch(inner) {
        return Some(n);
    }
    // RFC 3339 also allows a space or lower-case `t` between date and time.
    let normalized: String = inner
        .char_indices()
        .map(|(i, c)| {
            if i == 10 && (c == ' ' || c == 't') {
                'T'
            } else {
                c
            }
        })
        .collect();
    OffsetDateTime::parse(&normalized, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// Epoch seconds or milliseconds (a value past year 5138 in seconds is taken as milliseconds).
fn epoch(text: &str) -> Option<i128> {
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let seconds = if value.abs() >= 1e11 {
        value / 1000.0
    } else {
        value
    };
    Some((seconds * 1e9) as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_compared_as_instants() {
        let plus2 = parse(br#""2024-01-01T10:00:00+02:00""#).unwrap();
        let utc = parse(br#""2024-01-01T09:00:00Z""#).unwrap();
        assert!(plus2 < utc);
    }

    #[test]
    fn seconds_and_milliseconds_agree() {
        assert_eq!(parse(b"1700000000"), parse(b"1700000000000"));
        assert_eq!(parse(b"1700000000"), parse(br#""2023-11-14T22:13:20Z""#));
    }

    #[test]
    fn words_are_not_instants() {
        assert_eq!(parse(br#""yesterday""#), None);
        assert_eq!(parse(b"true"), None);
    }
}
