//! `GET /info/api.json`: what a plugin is and how to call it.
//!
//! The original describes only the plugin's first RPC object (a `TODO` there); so does this, with
//! the same shape, so that tools written against the original read it unchanged: `Vendor`,
//! `Implements`, and `Interfaces` with one example request and response per method, sorted by
//! method name, zero-valued, with the id set to the current Unix time as a string.

use std::time::{SystemTime, UNIX_EPOCH};

use infrakit_spi::types::InterfaceSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::JSONRPC_VERSION;
use crate::service::Service;

/// Who made a plugin, as `/info/api.json` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorInfo {
    /// The vendor's name and version for the plugin (e.g. `infrakit-instance-file`, `0.3.0`).
    #[serde(flatten)]
    pub interface: InterfaceSpec,
    /// Where to read more.
    #[serde(rename = "URL", default)]
    pub url: String,
}

/// The document served at `/info/api.json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PluginInfo<'a> {
    vendor: Option<&'a VendorInfo>,
    implements: Vec<InterfaceSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    interfaces: Vec<InterfaceDescription>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct InterfaceDescription {
    #[serde(flatten)]
    interface: InterfaceSpec,
    methods: Vec<MethodDescription>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct MethodDescription {
    request: ExampleRequest,
    response: ExampleResponse,
}

#[derive(Debug, Serialize)]
struct ExampleRequest {
    jsonrpc: &'static str,
    method: String,
    params: Value,
    id: String,
}

#[derive(Debug, Serialize)]
struct ExampleResponse {
    result: Value,
    id: String,
}

impl<'a> PluginInfo<'a> {
    /// Describes a plugin by its vendor and its first service.
    pub(crate) fn new(vendor: Option<&'a VendorInfo>, first: Option<&dyn Service>) -> Self {
        let Some(service) = first else {
            return Self { vendor, implements: Vec::new(), interfaces: Vec::new() };
        };
        let id = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs().to_string();
        let mut examples = service.examples();
        examples.sort_by(|a, b| a.method.cmp(&b.method));
        let methods = examples
            .into_iter()
            .map(|example| MethodDescription {
                request: ExampleRequest {
                    jsonrpc: JSONRPC_VERSION,
                    method: format!("{}.{}", service.name(), example.method),
                    params: example.params,
                    id: id.clone(),
                },
                response: ExampleResponse { result: example.result, id: id.clone() },
            })
            .collect();
        let interface = service.interface();
        Self {
            vendor,
            implements: vec![interface.clone()],
            interfaces: vec![InterfaceDescription { interface, methods }],
        }
    }
}
