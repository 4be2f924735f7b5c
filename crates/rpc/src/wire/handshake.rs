//! `Handshake.Hello`: which interfaces, at which versions, and which objects a plugin serves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `Handshake.Hello` params: none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloRequest {}

/// `Handshake.Hello` result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HelloResponse {
    /// Objects by interface, keyed `Name/Version` (sorted, as Go writes maps).
    #[serde(default)]
    pub objects: BTreeMap<String, Vec<Object>>,
}

/// One object of a plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Object {
    /// `"."` for the default object, else its name.
    #[serde(default)]
    pub name: String,
    /// The plugin this object proxies for; empty for plugins served here.
    #[serde(default)]
    pub proxy_for: String,
}
