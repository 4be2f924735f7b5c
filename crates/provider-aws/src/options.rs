//! The `aws` plugin's options: where EC2 is and which tags scope this plugin's instances.
//!
//! Region, credentials and endpoint come from the standard AWS chain (`AWS_REGION`,
//! `AWS_PROFILE`, `AWS_ENDPOINT_URL`, `~/.aws/config` and `credentials`, instance metadata), so
//! another region or an emulator is only configuration. The options override the chain where set,
//! from the original's `INFRAKIT_AWS_*` variables or an `--options` document.

use infrakit_spi::types::Tags;
use serde::{Deserialize, Serialize};

/// The original's variable for the region.
pub const REGION_ENV: &str = "INFRAKIT_AWS_REGION";
/// The original's variable for the namespace tags, `k=v,k=v`.
pub const NAMESPACE_TAGS_ENV: &str = "INFRAKIT_AWS_NAMESPACE_TAGS";

/// Options of the `aws` plugin; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AwsOptions {
    /// The region, over the AWS chain's.
    pub region: Option<String>,
    /// An endpoint URL for EC2, over the AWS chain's (an emulator, a VPC endpoint).
    pub endpoint: Option<String>,
    /// The profile of `~/.aws/config` to read, over `AWS_PROFILE`.
    pub profile: Option<String>,
    /// An access key ID, over the AWS chain's credentials; used only with the secret key. The
    /// original's option: prefer the chain (a profile, the environment, an instance role).
    #[serde(rename = "AccessKeyID")]
    pub access_key_id: Option<String>,
    /// The secret of `AccessKeyID`.
    pub secret_access_key: Option<String>,
    /// Tags put on every instance launched and required of every instance listed, so that
    /// several plugins (or stacks) can share an account without seeing each other's instances.
    pub namespace: Tags,
}

impl AwsOptions {
    /// The defaults with the original's `INFRAKIT_AWS_*` variables applied.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The defaults with the variables `lookup` finds applied; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let namespace = match get(NAMESPACE_TAGS_ENV) {
            Some(text) => parse_tags(&text).map_err(|e| format!("{NAMESPACE_TAGS_ENV}={text:?} is invalid: {e}"))?,
            None => Tags::new(),
        };
        Ok(Self { region: get(REGION_ENV), namespace, ..Self::default() })
    }
}

/// `k=v,k=v` as tags; blanks between commas are skipped.
fn parse_tags(text: &str) -> Result<Tags, String> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.trim().to_owned())),
            _ => Err(format!("'{pair}' is not key=value")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_originals_variables() {
        let options = AwsOptions::from_lookup(|name| match name {
            REGION_ENV => Some("eu-west-1".into()),
            NAMESPACE_TAGS_ENV => Some("stack=prod, team=infra,".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(options.region.as_deref(), Some("eu-west-1"));
        assert_eq!(options.namespace.len(), 2);
        assert_eq!(options.namespace["team"], "infra");
        assert_eq!(AwsOptions::from_lookup(|_| Some(String::new())).unwrap(), AwsOptions::default());
    }

    #[test]
    fn a_malformed_namespace_is_an_error() {
        let error = AwsOptions::from_lookup(|name| (name == NAMESPACE_TAGS_ENV).then(|| "stack".into())).unwrap_err();
        assert!(error.contains("'stack' is not key=value"), "{error}");
    }

    #[test]
    fn an_options_document_uses_the_originals_casing() {
        let options: AwsOptions =
            serde_json::from_str(r#"{"Region":"us-east-1","Endpoint":"http://127.0.0.1:5000"}"#).unwrap();
        assert_eq!(options.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        let keys: AwsOptions = serde_json::from_str(r#"{"AccessKeyID":"AKIA","SecretAccessKey":"s"}"#).unwrap();
        assert_eq!((keys.access_key_id.as_deref(), keys.secret_access_key.as_deref()), (Some("AKIA"), Some("s")));
    }
}
