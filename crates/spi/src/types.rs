//! Small types shared by every interface: tags, interface versions and plugin names.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// Key/value tags on an instance. A `BTreeMap` so that they serialize in sorted key order, as
/// Go's `encoding/json` writes maps.
pub type Tags = BTreeMap<String, String>;

/// Serde helpers for collections that Go writes as `null` when empty (a nil map or slice).
///
/// An empty collection serializes as `null`; `null` or a missing key reads as empty. This keeps
/// the Rust side free of `Option<Vec<_>>` while the JSON stays byte-compatible with the original.
pub mod nullable {
    use super::*;

    /// Writes an empty collection as `null`.
    pub fn serialize<S, T>(value: &T, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: Serialize + IsEmpty,
    {
        if value.is_empty() { serializer.serialize_none() } else { value.serialize(serializer) }
    }

    /// Reads `null` as an empty collection.
    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default,
    {
        Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
    }

    /// Collections that can tell whether they are empty.
    pub trait IsEmpty {
        /// True when there is nothing to write.
        fn is_empty(&self) -> bool;
    }

    impl<T> IsEmpty for Vec<T> {
        fn is_empty(&self) -> bool {
            Vec::is_empty(self)
        }
    }

    impl<K, V> IsEmpty for BTreeMap<K, V> {
        fn is_empty(&self) -> bool {
            BTreeMap::is_empty(self)
        }
    }
}

/// An interface and its version, as the handshake names them: `Instance/0.6.1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InterfaceSpec {
    /// The interface, e.g. `Instance`.
    pub name: String,
    /// Its exact version; clients require an exact match.
    pub version: String,
    /// A sub-interface, rarely used; empty for none.
    #[serde(default)]
    pub sub: String,
}

impl InterfaceSpec {
    /// The Instance interface as the original's current code serves it.
    pub fn instance() -> Self {
        Self::new("Instance", "0.6.1")
    }

    /// The Flavor interface.
    pub fn flavor() -> Self {
        Self::new("Flavor", "0.1.1")
    }

    /// The Group interface.
    pub fn group() -> Self {
        Self::new("Group", "0.1.1")
    }

    /// The manager's interface (`Stack`, served under the RPC service name `Manager`).
    pub fn manager() -> Self {
        Self::new("Stack", "0.1.1")
    }

    /// An interface spec from its name and version.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self { name: name.into(), version: version.into(), sub: String::new() }
    }
}

impl fmt::Display for InterfaceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.version)?;
        if !self.sub.is_empty() {
            write!(f, "/{}", self.sub)?;
        }
        Ok(())
    }
}

impl FromStr for InterfaceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let mut parts = s.splitn(3, '/');
        match (parts.next(), parts.next()) {
            (Some(name), Some(version)) if !name.is_empty() && !version.is_empty() => Ok(Self {
                name: name.to_owned(),
                version: version.to_owned(),
                sub: parts.next().unwrap_or_default().to_owned(),
            }),
            _ => Err(Error::invalid(format!("invalid interface spec '{s}': want Name/Version"))),
        }
    }
}

/// Declares a string newtype used as an identifier on the wire (serialized as a bare string).
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}
pub(crate) use string_id;

/// A plugin name in the original's `lookup[/type]` form: `simulator/compute` is the object
/// `compute` of the plugin whose socket is named `simulator`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginName {
    lookup: String,
    object: Option<String>,
}

impl PluginName {
    /// The socket part: which plugin process to talk to.
    pub fn lookup(&self) -> &str {
        &self.lookup
    }

    /// The object inside the plugin, if any (the `Type` or `Name` of a request).
    pub fn object(&self) -> Option<&str> {
        self.object.as_deref()
    }
}

impl FromStr for PluginName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (lookup, object) = match s.split_once('/') {
            Some((lookup, object)) => (lookup, Some(object.to_owned()).filter(|o| !o.is_empty())),
            None => (s, None),
        };
        if lookup.is_empty() {
            return Err(Error::invalid(format!("invalid plugin name '{s}': the part before '/' is empty")));
        }
        Ok(Self { lookup: lookup.to_owned(), object })
    }
}

impl fmt::Display for PluginName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(object) => write!(f, "{}/{}", self.lookup, object),
            None => f.write_str(&self.lookup),
        }
    }
}

impl Serialize for PluginName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PluginName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_name_splits_at_the_first_slash() {
        let name: PluginName = "us-east/ec2/instance".parse().unwrap();
        assert_eq!(name.lookup(), "us-east");
        assert_eq!(name.object(), Some("ec2/instance"));
        let name: PluginName = "vanilla".parse().unwrap();
        assert_eq!((name.lookup(), name.object()), ("vanilla", None));
        assert!("/compute".parse::<PluginName>().is_err());
    }

    #[test]
    fn interface_spec_round_trips_as_text() {
        let spec: InterfaceSpec = "Instance/0.6.1".parse().unwrap();
        assert_eq!(spec, InterfaceSpec::instance());
        assert_eq!(spec.to_string(), "Instance/0.6.1");
        assert!("Instance".parse::<InterfaceSpec>().is_err());
    }
}
