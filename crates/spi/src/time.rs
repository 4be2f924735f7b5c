//! Times as Go's `time.Time` writes them in JSON: RFC 3339 with up to nine fraction digits, trailing zeros trimmed
//! (`2018-02-14T00:28:07.1Z`), as `time.RFC3339Nano` writes it.
//!
//! Events carry two timestamps; Go subscribers parse them with `time.Time.UnmarshalJSON`, so the
//! exact layout matters. Times are written in UTC; offsets are accepted when reading. Go writes
//! an unset time as year 1, which reads back here as `None`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serializer};

/// Go's zero `time.Time`.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";
const SECONDS_PER_DAY: i64 = 86_400;

/// Writes a time as Go's `RFC3339Nano` in UTC.
pub fn format_rfc3339(time: SystemTime) -> String {
    let (secs, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let borrow = i64::from(d.subsec_nanos() > 0);
            (-(d.as_secs() as i64) - borrow, (1_000_000_000 - d.subsec_nanos()) % 1_000_000_000)
        }
    };
    let (days, rest) = (secs.div_euclid(SECONDS_PER_DAY), secs.rem_euclid(SECONDS_PER_DAY));
    let (year, month, day) = civil_from_days(days);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, (rest / 60) % 60, rest % 60);
    if nanos > 0 {
        out.push_str(format!(".{nanos:09}").trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Reads an RFC 3339 time (`Z` or `±hh:mm`, optional fraction of up to nine digits).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't') {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos: i64 = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = fraction[..digits].parse::<i64>().ok()? * 10i64.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (number(text.len() - 5..text.len() - 3)? * 3600 + number(text.len() - 2..text.len())? * 60)
        }
    };
    let secs = days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset;
    let since_epoch = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    let magnitude = Duration::from_nanos(u64::try_from(since_epoch.unsigned_abs()).ok()?);
    if since_epoch >= 0 { UNIX_EPOCH.checked_add(magnitude) } else { UNIX_EPOCH.checked_sub(magnitude) }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Serde for a required time.
pub fn serialize<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_rfc3339(*time))
}

/// Serde for a required time.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_rfc3339(&text).ok_or_else(|| serde::de::Error::custom(format!("invalid RFC 3339 time \"{text}\"")))
}

/// Serde for a time that Go writes as its zero value when unset.
pub mod optional {
    use super::*;

    /// `None` is written as Go's zero time.
    pub fn serialize<S: Serializer>(time: &Option<SystemTime>, serializer: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => super::serialize(time, serializer),
            None => serializer.serialize_str(GO_ZERO_TIME),
        }
    }

    /// Go's zero time (and `null`) read as `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SystemTime>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) if text == GO_ZERO_TIME => Ok(None),
            Some(text) => parse_rfc3339(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid RFC 3339 time \"{text}\""))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_gos_rfc3339nano() {
        let t = UNIX_EPOCH + Duration::new(1_518_568_087, 100_000_000);
        assert_eq!(format_rfc3339(t), "2018-02-14T00:28:07.1Z");
        assert_eq!(format_rfc3339(UNIX_EPOCH + Duration::new(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(UNIX_EPOCH + Duration::new(0, 123_456_789)), "1970-01-01T00:00:00.123456789Z");
        assert_eq!(format_rfc3339(UNIX_EPOCH - Duration::new(1, 0)), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parses_what_go_writes() {
        let t = UNIX_EPOCH + Duration::new(1_518_568_087, 100_000_000);
        assert_eq!(parse_rfc3339("2018-02-14T00:28:07.1Z"), Some(t));
        assert_eq!(parse_rfc3339("2018-02-14T01:28:07.100+01:00"), Some(t));
        assert_eq!(parse_rfc3339("2018-02-13T19:28:07.1-05:00"), Some(t));
        for bad in ["", "2018-02-14", "2018-02-14T00:28:07", "2018-13-14T00:28:07Z", "2018-02-14T00:28:07.Z"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        let now = SystemTime::now();
        assert_eq!(parse_rfc3339(&format_rfc3339(now)), Some(now));
    }
}
