//! A group spec document as `infrakit group commit` and the manager read it: JSON, or YAML when
//! it does not look like JSON, through the CLI's own reader; then the legacy `{ID, Properties}`
//! form, the properties' validation, and the rollout policy the controller derives from them.
//!
//! Checked beyond not crashing: a spec that parses re-encodes (as `InspectGroups` returns it)
//! into a spec that parses to the same properties, config hash and policy, so that a spec read
//! back from a controller or a store means what was committed.

#![no_main]

use infrakit_group::policy::Policy;
use infrakit_spi::group::{GroupProperties, GroupSpec};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The CLI's document reader, compiled here from its source: it lives in the binary crate.
#[allow(dead_code)]
#[path = "../../crates/infrakit/src/input.rs"]
mod input;

fn policy(properties: &GroupProperties) -> Policy {
    let pets = !properties.allocation.logical_ids.is_empty();
    Policy::new(&properties.updating, properties.target_size(), pets, 0)
}

fuzz_target!(|text: &str| {
    // Typed straight from the text, as the CLI reads a single spec file.
    let _ = input::parse_document::<GroupSpec>("spec", text);
    let Ok(document) = input::parse_document::<Value>("spec", text) else { return };
    let Ok(spec) = serde_json::from_value::<GroupSpec>(document) else { return };
    let Ok(properties) = GroupProperties::parse(&spec) else { return };

    let encoded = serde_json::to_value(&properties).expect("parsed properties encode");
    let again = GroupSpec { id: spec.id.clone(), properties: Some(encoded) };
    let reread = GroupProperties::parse(&again).expect("re-encoded properties parse");
    assert_eq!(reread, properties, "re-encoding changes the properties");
    assert_eq!(reread.instance_hash(), properties.instance_hash(), "re-encoding changes the config hash");
    assert_eq!(policy(&reread), policy(&properties), "re-encoding changes the policy");
});
