//! The idempotency token of a launch, so that retrying a provision never makes a second instance.
//!
//! EC2's `RunInstances` takes a `ClientToken`: a repeat of a request with the same token returns
//! the instance the first one made. The token is derived from what identifies the provision:
//! the group and the group controller's provision token when there is one (this workspace's
//! controller tags every provision with it), else the group and the pet's logical ID together with
//! the spec, else (the original's controller provisioning cattle) a random token that at least
//! covers this plugin's own retries of one call. The token is also put on the instance as a tag,
//! so that the plugin can find a launch by it even where `ClientToken` is not honoured (EC2
//! emulators), and before calling `RunInstances` at all.

use std::fmt::Write;

use infrakit_spi::group::GROUP_TAG;
use infrakit_spi::instance::Spec;
use sha1::{Digest, Sha1};

/// The tag that carries the launch's client token.
pub const CLIENT_TOKEN_TAG: &str = "infrakit.aws.client-token";

/// The tag in which this workspace's group controller puts its provision token.
pub use infrakit_spi::instance::PROVISION_TOKEN_TAG;

/// The launch's client token: 40 hex digits, under EC2's limit of 64 ASCII characters.
/// `generation` is bumped when EC2 answers a token with an instance that is already gone (a pet
/// relaunched after it was terminated), to get a fresh launch.
pub fn client_token(spec: &Spec, generation: u32) -> String {
    let group = spec.tags.get(GROUP_TAG).map(String::as_str).unwrap_or_default();
    let identity = match (spec.tags.get(PROVISION_TOKEN_TAG), &spec.logical_id) {
        (Some(token), _) => format!("provision\0{group}\0{token}"),
        (None, Some(logical_id)) => {
            let spec_json = serde_json::to_string(spec).unwrap_or_default();
            format!("pet\0{group}\0{logical_id}\0{spec_json}")
        }
        (None, None) => format!("random\0{}", rand::random::<u128>()),
    };
    let digest = Sha1::digest(format!("{identity}\0{generation}"));
    digest.iter().fold(String::with_capacity(40), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use infrakit_spi::instance::LogicalId;

    fn spec(tags: &[(&str, &str)], logical_id: Option<&str>) -> Spec {
        Spec {
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            logical_id: logical_id.map(LogicalId::from),
            ..Spec::default()
        }
    }

    #[test]
    fn a_provision_token_fixes_the_client_token() {
        let first = spec(&[(GROUP_TAG, "workers"), (PROVISION_TOKEN_TAG, "t-1")], None);
        assert_eq!(client_token(&first, 0), client_token(&first, 0));
        assert_eq!(client_token(&first, 0).len(), 40);
        let other = spec(&[(GROUP_TAG, "workers"), (PROVISION_TOKEN_TAG, "t-2")], None);
        assert_ne!(client_token(&first, 0), client_token(&other, 0));
        let elsewhere = spec(&[(GROUP_TAG, "db"), (PROVISION_TOKEN_TAG, "t-1")], None);
        assert_ne!(client_token(&first, 0), client_token(&elsewhere, 0));
        assert_ne!(client_token(&first, 0), client_token(&first, 1), "a new generation is a new launch");
    }

    #[test]
    fn a_pet_without_a_provision_token_is_identified_by_its_logical_id_and_spec() {
        let pet = spec(&[(GROUP_TAG, "db")], Some("10.0.0.1"));
        assert_eq!(client_token(&pet, 0), client_token(&pet, 0));
        assert_ne!(client_token(&pet, 0), client_token(&spec(&[(GROUP_TAG, "db")], Some("10.0.0.2")), 0));
        let changed = spec(&[(GROUP_TAG, "db"), ("infrakit.config.hash", "new")], Some("10.0.0.1"));
        assert_ne!(client_token(&pet, 0), client_token(&changed, 0));
    }

    #[test]
    fn cattle_without_a_provision_token_get_a_fresh_token_each_time() {
        let cattle = spec(&[(GROUP_TAG, "workers")], None);
        assert_ne!(client_token(&cattle, 0), client_token(&cattle, 0));
    }
}
