//! Times and dates as sources write them.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A change time as unix milliseconds: an RFC 3339 string, or a number of
/// unix seconds (milliseconds when it is too large to be seconds).
pub fn timestamp_ms(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => OffsetDateTime::parse(s.trim(), &Rfc3339)
            .ok()
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
        Value::Number(n) => {
            let n = n.as_f64()?;
            let ms = if n.abs() >= 1e11 { n } else { n * 1000.0 };
            ms.is_finite().then_some(ms as i64)
        }
        _ => None,
    }
}

/// `YYYY-MM-DD` if `raw` is a real calendar date.
pub fn calendar_date(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let mut parts = raw.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    (raw.len() == 10).then(|| {
        format!(
            "{:04}-{:02}-{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times() {
        assert_eq!(timestamp_ms(&json!("1970-01-01T00:00:01Z")), Some(1000));
        assert_eq!(
            timestamp_ms(&json!("1970-01-01T01:00:01+01:00")),
            Some(1000)
        );
        assert_eq!(timestamp_ms(&json!(1)), Some(1000));
        assert_eq!(
            timestamp_ms(&json!(1_700_000_000_000_i64)),
            Some(1_700_000_000_000)
        );
        assert_eq!(timestamp_ms(&json!("yesterday")), None);
        assert_eq!(timestamp_ms(&json!(true)), None);
    }

    #[test]
    fn dates() {
        assert_eq!(calendar_date("1980-04-01").as_deref(), Some("1980-04-01"));
        assert_eq!(calendar_date("1980-02-30"), None);
        assert_eq!(calendar_date("1980-4-1"), None);
        assert_eq!(calendar_date("April 1"), None);
    }
}
