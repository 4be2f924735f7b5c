//! Reading the gateway's JSON encodings (proto3's JSON mapping): `bytes` fields are base64,
//! `int64` fields are decimal strings (requests are written with the same encodings in `kv` and
//! `lease`). Both are read leniently (a number is taken for an integer too)
//! and fields left out are their zero value, as proto3 omits them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// `bytes` as base64.
pub(crate) mod bytes {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text.as_bytes()).map_err(de::Error::custom)
    }
}

/// `int64` as a decimal string.
pub(crate) mod int64 {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        deserializer.deserialize_any(Int64)
    }

    struct Int64;

    impl Visitor<'_> for Int64 {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a 64-bit integer, as a string or a number")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<i64, E> {
            text.parse().map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
            Ok(value)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
            i64::try_from(value).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Field {
        #[serde(with = "super::bytes")]
        key: Vec<u8>,
        #[serde(with = "super::int64")]
        revision: i64,
    }

    #[test]
    fn bytes_are_base64_and_integers_strings() {
        let text = json!({"key": "aW5mcmFraXQvbGVhZGVy", "revision": "9223372036854775807"});
        let field = Field { key: b"infrakit/leader".to_vec(), revision: i64::MAX };
        assert_eq!(serde_json::from_value::<Field>(text).unwrap(), field);
    }

    #[test]
    fn integers_are_read_as_numbers_too_and_bad_ones_refused() {
        let field: Field = serde_json::from_value(json!({"key": "", "revision": 7})).unwrap();
        assert_eq!(field, Field { key: Vec::new(), revision: 7 });
        assert!(serde_json::from_value::<Field>(json!({"key": "", "revision": "7x"})).is_err());
        assert!(serde_json::from_value::<Field>(json!({"key": "not base64!", "revision": "1"})).is_err());
    }
}
