//! The validity period of an X.509 certificate, read from its DER encoding.
//!
//! A pinned certificate is accepted outside WebPKI's chain checks (see the parent module), so its
//! dates must be checked here. rustls does not expose them and no X.509 parser is in the build;
//! the period sits at a fixed place in the certificate (`tbsCertificate`: version, serial number,
//! signature algorithm, issuer, then validity), so walking four DER elements reaches it.

/// DER tags of the elements on the way.
const SEQUENCE: u8 = 0x30;
const EXPLICIT_VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// When a certificate is valid, in seconds since the Unix epoch, both ends included (RFC 5280).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

/// The validity period of a DER certificate; `None` if it is not encoded as X.509 requires.
pub(crate) fn validity(certificate: &[u8]) -> Option<Validity> {
    let (SEQUENCE, certificate, _) = element(certificate)? else { return None };
    let (SEQUENCE, tbs, _) = element(certificate)? else { return None };
    let (tag, _, mut rest) = element(tbs)?;
    if tag == EXPLICIT_VERSION {
        rest = element(rest)?.2; // the serial number
    }
    let rest = element(rest)?.2; // the signature algorithm
    let rest = element(rest)?.2; // the issuer
    let (SEQUENCE, period, _) = element(rest)? else { return None };
    let (before_tag, before, rest) = element(period)?;
    let (after_tag, after, _) = element(rest)?;
    Some(Validity { not_before: time(before_tag, before)?, not_after: time(after_tag, after)? })
}

/// The first DER element of `input`: its tag, its contents, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        (bytes.iter().fold(0usize, |length, &byte| length << 8 | usize::from(byte)), rest)
    };
    if rest.len() < length {
        return None;
    }
    let (contents, rest) = rest.split_at(length);
    Some((tag, contents, rest))
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as DER
/// writes them, in seconds since the Unix epoch.
fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        UTC_TIME if text.len() == 12 => {
            let short = number(&text[..2])?;
            (if short >= 50 { 1900 + short } else { 2000 + short }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 14 => (number(&text[..4])?, &text[4..]),
        _ => return None,
    };
    let field = |at: usize| number(&rest[at..at + 2]);
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_since_epoch(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn number(digits: &str) -> Option<i64> {
    if digits.bytes().all(|b| b.is_ascii_digit()) { digits.parse().ok() } else { None }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar, counting years from March
/// so that the leap day falls at the end of one.
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_from_the_epoch() {
        assert_eq!(days_since_epoch(1970, 1, 1), 0);
        assert_eq!(days_since_epoch(2000, 3, 1), 11_017);
        assert_eq!(days_since_epoch(2024, 2, 29), 19_782);
        assert_eq!(time(UTC_TIME, b"200101000000Z"), Some(1_577_836_800));
        assert_eq!(time(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(time(GENERALIZED_TIME, b"20991231000000Z"), Some(4_102_358_400));
        assert_eq!(time(UTC_TIME, b"200101000000"), None, "no Z");
        assert_eq!(time(UTC_TIME, b"201301000000Z"), None, "month 13");
        assert_eq!(time(GENERALIZED_TIME, b"200101000000Z"), None, "too short");
    }

    #[test]
    fn garbage_has_no_validity() {
        assert_eq!(validity(b""), None);
        assert_eq!(validity(&[SEQUENCE, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(validity(&[SEQUENCE, 0x03, SEQUENCE, 0x01, 0x00]), None);
    }
}
