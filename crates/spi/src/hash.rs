//! The config hash: which config an instance was created from.
//!
//! Every member carries the hash of its group's Instance and Flavor sections in the
//! `infrakit.config.hash` tag; a member whose tag differs from the current hash runs an old
//! config and is rolled. The algorithm is the original's, byte for byte, so that groups created
//! by the original are adopted without a roll:
//! `lower(base32(sha1(stable(instance) ++ stable(flavor))))`, where `stable` is Go's
//! `json.MarshalIndent(v, "  ", "  ")` of the section with sorted keys.

use serde_json::json;
use sha1::{Digest, Sha1};

use crate::go_json;
use crate::group::PluginSpec;

/// The hash of an Instance and a Flavor section: 32 characters of `[a-z2-7]`.
pub fn config_hash(instance: &PluginSpec, flavor: &PluginSpec) -> String {
    let mut sha = Sha1::new();
    for section in [instance, flavor] {
        let value = json!({"Plugin": section.plugin.to_string(), "Properties": section.properties});
        sha.update(go_json::marshal_indent(&value, "  ", "  ").as_bytes());
    }
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &sha.finalize()).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn section(plugin: &str, properties: Value) -> PluginSpec {
        PluginSpec { plugin: plugin.parse().unwrap(), properties: Some(properties) }
    }

    /// The vanilla flavor example of the original's docs, whose hash its README shows.
    fn vanilla_example() -> (PluginSpec, PluginSpec) {
        (
            section("simulator/compute", json!({"Note": "custom field"})),
            section(
                "french_vanilla",
                json!({
                    "Init": ["sudo apt-get update -y", "sudo apt-get install -y nginx", "sudo service nginx start"],
                    "Tags": {"tier": "web", "project": "infrakit"}
                }),
            ),
        )
    }

    #[test]
    fn matches_the_originals_published_hash() {
        let (instance, flavor) = vanilla_example();
        assert_eq!(config_hash(&instance, &flavor), "rvhmljoz72va6rrmbypwsxahwkb6g6sq");
    }

    #[test]
    fn stable_under_key_order_and_sensitive_to_content() {
        let (instance, flavor) = vanilla_example();
        let reordered = section(
            "french_vanilla",
            serde_json::from_str(&format!(
                "{{\"Tags\":{{\"project\":\"infrakit\",\"tier\":\"web\"}},\"Init\":{}}}",
                flavor.properties.as_ref().unwrap()["Init"]
            ))
            .unwrap(),
        );
        let h = config_hash(&instance, &flavor);
        assert_eq!(h, config_hash(&instance, &reordered));
        assert_eq!(h.len(), 32);
        assert!(h.chars().all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c)));
        let mut fewer = flavor.clone();
        fewer.properties.as_mut().unwrap()["Tags"].as_object_mut().unwrap().remove("tier");
        assert_ne!(h, config_hash(&instance, &fewer));
    }
}
