//! Go duration strings, as InfraKit's specs and environment variables write them.
//!
//! Specs say `"Duration": "30s"` and `INFRAKIT_GROUP_POLL_INTERVAL=500ms`; re-encoded specs must
//! read as the original wrote them (`"1m0s"`, `"0s"`), so both parsing and printing follow Go's
//! `time.ParseDuration` and `time.Duration.String`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A non-negative duration that reads and writes Go's syntax.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// The zero duration, written `0s`.
    pub const ZERO: Self = Self(Duration::ZERO);

    /// True for the zero duration.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

/// Nanoseconds per unit, longest suffix first so that `ms` is not read as `m`.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

impl FromStr for GoDuration {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad =
            || Error::invalid(format!("invalid duration \"{text}\": want a Go duration such as 500ms, 30s or 1m30s"));
        let s = text.strip_prefix('+').unwrap_or(text);
        if s.starts_with('-') {
            return Err(Error::invalid(format!("invalid duration \"{text}\": must not be negative")));
        }
        if s == "0" {
            return Ok(Self::ZERO);
        }
        if s.is_empty() {
            return Err(bad());
        }
        let mut rest = s;
        let mut total_nanos: u128 = 0;
        while !rest.is_empty() {
            let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
            let (number, tail) = rest.split_at(number_len);
            let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
            if whole.is_empty() && frac.is_empty() {
                return Err(bad());
            }
            let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_len);
            let scale = UNITS.iter().find(|(name, _)| *name == unit).map(|(_, scale)| *scale).ok_or_else(bad)?;
            let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
            let mut nanos = whole.checked_mul(scale).ok_or_else(bad)?;
            let mut place = scale;
            for digit in frac.chars() {
                place /= 10;
                nanos += u128::from(digit.to_digit(10).ok_or_else(bad)?) * place;
            }
            total_nanos = total_nanos.checked_add(nanos).ok_or_else(bad)?;
            rest = tail;
        }
        let nanos = u64::try_from(total_nanos).map_err(|_| bad())?;
        Ok(Self(Duration::from_nanos(nanos)))
    }
}

/// Writes `value / 10^precision` with the fraction's trailing zeros dropped, as Go's `fmtFrac`.
fn write_fraction(f: &mut fmt::Formatter<'_>, value: u128, precision: u32) -> fmt::Result {
    let scale = 10u128.pow(precision);
    let (whole, frac) = (value / scale, value % scale);
    write!(f, "{whole}")?;
    if frac != 0 {
        let digits = format!("{frac:0width$}", width = precision as usize);
        write!(f, ".{}", digits.trim_end_matches('0'))?;
    }
    Ok(())
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000 {
            return write!(f, "{nanos}ns");
        }
        if nanos < 1_000_000 {
            write_fraction(f, nanos, 3)?;
            return f.write_str("µs");
        }
        if nanos < 1_000_000_000 {
            write_fraction(f, nanos, 6)?;
            return f.write_str("ms");
        }
        let total_secs = nanos / 1_000_000_000;
        let (hours, minutes) = (total_secs / 3600, (total_secs / 60) % 60);
        if hours > 0 {
            write!(f, "{hours}h{minutes}m")?;
        } else if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write_fraction(f, nanos % 60_000_000_000, 9)?;
        f.write_str("s")
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Go accepts a duration string; plain integers are nanoseconds (`time.Duration`).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Nanos(u64),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Repr::Nanos(nanos) => Ok(Self(Duration::from_nanos(nanos))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Duration {
        s.parse::<GoDuration>().unwrap().0
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(parse("10s"), Duration::from_secs(10));
        assert_eq!(parse("1m30s"), Duration::from_secs(90));
        assert_eq!(parse("500ms"), Duration::from_millis(500));
        assert_eq!(parse("1.5h"), Duration::from_secs(5400));
        assert_eq!(parse("0"), Duration::ZERO);
        assert_eq!(parse("2us"), Duration::from_micros(2));
        for bad in ["", "10", "s", "1x", "-1s", "1.2.3s"] {
            assert!(bad.parse::<GoDuration>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn prints_as_go_does() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_nanos(12), "12ns"),
            (Duration::from_secs(3723), "1h2m3s"),
        ];
        for (d, text) in cases {
            assert_eq!(GoDuration(d).to_string(), text);
            assert_eq!(parse(text), d);
        }
    }
}
