//! The original simulator's special instance properties, which let a group spec steer its own
//! backend: `simulator_cap: N` refuses provisions once the object holds N live instances, and
//! `simulator_delay: 5s` makes each provision take that long.

use std::time::Duration;

use infrakit_spi::duration::GoDuration;
use serde::Deserialize;
use serde_json::Value;
use tracing::warn;

/// The special properties of a spec; both optional.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub(super) struct Control {
    /// At most this many live instances; zero means no cap, as in the original.
    #[serde(rename = "simulator_cap", default)]
    cap: u64,
    #[serde(rename = "simulator_delay", default)]
    delay: GoDuration,
}

impl Control {
    /// Reads the special properties strictly, for Validate: a malformed one is an error.
    pub(super) fn parse(properties: Option<&Value>) -> Result<Self, serde_json::Error> {
        match properties {
            Some(object @ Value::Object(_)) => Self::deserialize(object),
            // Properties that are not an object carry no special properties.
            _ => Ok(Self::default()),
        }
    }

    /// Reads the special properties leniently, for Provision: as in the original, a malformed
    /// one is logged and all of them are ignored.
    pub(super) fn read(properties: Option<&Value>) -> Self {
        Self::parse(properties).unwrap_or_else(|e| {
            warn!(error = %e, "ignoring malformed simulator_cap / simulator_delay");
            Self::default()
        })
    }

    /// The cap on live instances, if any.
    pub(super) fn cap(&self) -> Option<u64> {
        (self.cap > 0).then_some(self.cap)
    }

    /// The extra provision delay (zero for none).
    pub(super) fn delay(&self) -> Duration {
        self.delay.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_cap_and_delay_among_other_properties() {
        let control = Control::parse(Some(&json!({"Note": "x", "simulator_cap": 3, "simulator_delay": "5s"}))).unwrap();
        assert_eq!((control.cap(), control.delay()), (Some(3), Duration::from_secs(5)));
        assert_eq!(Control::parse(Some(&json!({"simulator_cap": 0}))).unwrap().cap(), None);
        assert_eq!(Control::parse(None).unwrap(), Control::default());
        assert_eq!(Control::parse(Some(&json!("text"))).unwrap(), Control::default());
    }

    #[test]
    fn malformed_values_fail_parse_and_are_ignored_by_read() {
        let bad = json!({"simulator_cap": -1, "simulator_delay": "5s"});
        assert!(Control::parse(Some(&bad)).is_err());
        assert_eq!(Control::read(Some(&bad)), Control::default());
        assert!(Control::parse(Some(&json!({"simulator_delay": "soon"}))).is_err());
    }
}
