//! The `Properties` of an `ec2-instance` spec, in the original's schema: Go's
//! `ec2.RunInstancesInput` under `RunInstancesInput`, plus `Tags` and `AttachVolumeInputs`.
//!
//! Field names are the EC2 API's, as the Go SDK writes them, so specs written for the original
//! work unchanged. A spec the original would take but this plugin cannot honour fails validation
//! with the field's name instead of being launched without it: a Go-marshalled input lists every
//! field, so unknown fields are accepted only when `null`.

use std::collections::BTreeMap;

use infrakit_spi::types::{Tags, nullable};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// EC2 allows at most this many tags on a resource; a launch with more fails, so it is caught
/// when the spec is validated.
pub const MAX_TAGS: usize = 50;

/// The whole `Properties` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    /// Tags for every instance of the spec, under the spec's own tags.
    #[serde(default, with = "nullable")]
    pub tags: Tags,
    /// What to launch.
    #[serde(default)]
    pub run_instances_input: RunInstancesInput,
    /// Volumes to attach once the instance runs.
    #[serde(default, with = "nullable")]
    pub attach_volume_inputs: Vec<AttachVolumeInput>,
    /// Anything else, accepted only when null.
    #[serde(flatten, skip_serializing)]
    pub unsupported: BTreeMap<String, Value>,
}

/// The launch request: the fields of EC2's `RunInstances` that this plugin passes on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunInstancesInput {
    /// The AMI; required.
    #[serde(default)]
    pub image_id: Option<String>,
    /// For example `t3.micro`.
    #[serde(default)]
    pub instance_type: Option<String>,
    /// The EC2 key pair for SSH.
    #[serde(default)]
    pub key_name: Option<String>,
    /// The subnet to launch in.
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// Security groups by ID.
    #[serde(default, with = "nullable")]
    pub security_group_ids: Vec<String>,
    /// Security groups by name (EC2-Classic and default VPC).
    #[serde(default, with = "nullable")]
    pub security_groups: Vec<String>,
    /// Availability zone, placement group, tenancy.
    #[serde(default)]
    pub placement: Option<Placement>,
    /// Root and extra volumes.
    #[serde(default, with = "nullable")]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// The instance profile (IAM role) by ARN or name.
    #[serde(default)]
    pub iam_instance_profile: Option<IamInstanceProfile>,
    /// Network interfaces; a pet's IP goes on the first.
    #[serde(default, with = "nullable")]
    pub network_interfaces: Vec<NetworkInterface>,
    /// The primary private IP; a pet whose logical ID is an IP gets that one.
    #[serde(default)]
    pub private_ip_address: Option<String>,
    /// EBS-optimised instance.
    #[serde(default)]
    pub ebs_optimized: Option<bool>,
    /// Detailed monitoring.
    #[serde(default)]
    pub monitoring: Option<Monitoring>,
    /// Spot instances: `{"MarketType":"spot","SpotOptions":{"MaxPrice":"0.01"}}`.
    #[serde(default)]
    pub instance_market_options: Option<InstanceMarketOptions>,
    /// Base64 user data, used only when the spec has no `Init`.
    #[serde(default)]
    pub user_data: Option<String>,
    /// Protects the instance from TerminateInstances.
    #[serde(default)]
    pub disable_api_termination: Option<bool>,
    /// `stop` or `terminate`.
    #[serde(default)]
    pub instance_initiated_shutdown_behavior: Option<String>,
    /// Must be 1 if given: one provision is one instance.
    #[serde(default)]
    pub min_count: Option<i64>,
    /// Must be 1 if given.
    #[serde(default)]
    pub max_count: Option<i64>,
    /// Anything else, accepted only when null.
    #[serde(flatten, skip_serializing)]
    pub unsupported: BTreeMap<String, Value>,
}

/// `Placement`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Placement {
    /// For example `us-west-2a`.
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// A placement group.
    #[serde(default)]
    pub group_name: Option<String>,
    /// `default`, `dedicated` or `host`.
    #[serde(default)]
    pub tenancy: Option<String>,
}

/// `BlockDeviceMapping`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlockDeviceMapping {
    /// For example `/dev/sdh`.
    #[serde(default)]
    pub device_name: Option<String>,
    /// An instance store volume, `ephemeral0`...
    #[serde(default)]
    pub virtual_name: Option<String>,
    /// Suppresses the AMI's mapping of this device.
    #[serde(default)]
    pub no_device: Option<String>,
    /// An EBS volume.
    #[serde(default)]
    pub ebs: Option<EbsBlockDevice>,
}

/// `EbsBlockDevice`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EbsBlockDevice {
    /// Delete the volume with the instance.
    #[serde(default)]
    pub delete_on_termination: Option<bool>,
    /// Encrypt the volume.
    #[serde(default)]
    pub encrypted: Option<bool>,
    /// Provisioned IOPS.
    #[serde(default)]
    pub iops: Option<i32>,
    /// The KMS key for encryption.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Start from this snapshot.
    #[serde(default)]
    pub snapshot_id: Option<String>,
    /// Size in GiB.
    #[serde(default)]
    pub volume_size: Option<i32>,
    /// `gp3`, `io2`...
    #[serde(default)]
    pub volume_type: Option<String>,
}

/// `IamInstanceProfileSpecification`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IamInstanceProfile {
    /// The profile's ARN.
    #[serde(default)]
    pub arn: Option<String>,
    /// The profile's name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `InstanceNetworkInterfaceSpecification`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInterface {
    /// Give the interface a public IP.
    #[serde(default)]
    pub associate_public_ip_address: Option<bool>,
    /// Delete the interface with the instance.
    #[serde(default)]
    pub delete_on_termination: Option<bool>,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// Its position; 0 is the primary interface.
    #[serde(default)]
    pub device_index: Option<i32>,
    /// Security groups by ID.
    #[serde(default, with = "nullable")]
    pub groups: Vec<String>,
    /// An existing interface to attach.
    #[serde(default)]
    pub network_interface_id: Option<String>,
    /// Its primary private IP.
    #[serde(default)]
    pub private_ip_address: Option<String>,
    /// Its subnet.
    #[serde(default)]
    pub subnet_id: Option<String>,
}

/// `RunInstancesMonitoringEnabled`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Monitoring {
    /// Detailed monitoring on.
    #[serde(default)]
    pub enabled: bool,
}

/// `InstanceMarketOptionsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceMarketOptions {
    /// `spot`.
    #[serde(default)]
    pub market_type: Option<String>,
    /// The spot request's terms.
    #[serde(default)]
    pub spot_options: Option<SpotOptions>,
}

/// `SpotMarketOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpotOptions {
    /// The highest hourly price, in USD, as a decimal string.
    #[serde(default)]
    pub max_price: Option<String>,
    /// `one-time` or `persistent`.
    #[serde(default)]
    pub spot_instance_type: Option<String>,
    /// `terminate`, `stop` or `hibernate`.
    #[serde(default)]
    pub instance_interruption_behavior: Option<String>,
}

/// One `AttachVolumeInput`: a volume to attach once the instance runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachVolumeInput {
    /// The device name, for example `/dev/sdf`.
    pub device: String,
    /// The volume.
    pub volume_id: String,
    /// Anything else (the original's input has `InstanceId`, filled in at launch), ignored
    /// when null.
    #[serde(flatten, skip_serializing)]
    pub unsupported: BTreeMap<String, Value>,
}

impl Properties {
    /// Reads and checks a spec's properties; a missing document is an error because an instance
    /// needs at least an image.
    pub fn parse(properties: Option<&Value>) -> Result<Self, String> {
        let document = properties.filter(|p| !p.is_null()).ok_or("ec2-instance properties are missing")?;
        let parsed: Self = serde_json::from_value(document.clone())
            .map_err(|e| format!("ec2-instance properties do not match the schema: {e}"))?;
        parsed.check()?;
        Ok(parsed)
    }

    fn check(&self) -> Result<(), String> {
        let input = &self.run_instances_input;
        let unsupported = set_fields(&self.unsupported, "")
            .chain(set_fields(&input.unsupported, "RunInstancesInput."))
            .chain(self.attach_volume_inputs.iter().flat_map(|a| set_fields(&a.unsupported, "AttachVolumeInputs[].")))
            .filter(|field| field != "AttachVolumeInputs[].InstanceId")
            .collect::<Vec<_>>();
        if !unsupported.is_empty() {
            return Err(format!(
                "ec2-instance properties set fields this plugin does not pass on: {}",
                unsupported.join(", ")
            ));
        }
        if input.image_id.as_deref().is_none_or(str::is_empty) {
            return Err("ec2-instance properties need RunInstancesInput.ImageId".into());
        }
        for (name, count) in [("MinCount", input.min_count), ("MaxCount", input.max_count)] {
            if count.is_some_and(|c| c != 1) {
                return Err(format!("RunInstancesInput.{name} must be 1 if set: each provision launches one instance"));
            }
        }
        if self.tags.len() > MAX_TAGS {
            return Err(format!("ec2-instance properties have {} Tags; EC2 allows {MAX_TAGS}", self.tags.len()));
        }
        Ok(())
    }
}

/// The names of the non-null members of `others`, prefixed.
fn set_fields<'a>(others: &'a BTreeMap<String, Value>, prefix: &'a str) -> impl Iterator<Item = String> + 'a {
    others.iter().filter(|(_, v)| !v.is_null()).map(move |(k, _)| format!("{prefix}{k}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_originals_example() {
        let properties = Properties::parse(Some(&json!({
            "Tags": {"Name": "infrakit-example"},
            "RunInstancesInput": {
                "ImageId": "ami-4926fd29", "KeyName": "my-laptop", "InstanceType": "t2.micro",
                "Placement": {"AvailabilityZone": "us-west-2a"}, "SecurityGroupIds": ["sg-57411931"]
            },
            "AttachVolumeInputs": [{"Device": "/dev/sdf", "VolumeId": "vol-1"}]
        })))
        .unwrap();
        assert_eq!(properties.tags["Name"], "infrakit-example");
        let input = &properties.run_instances_input;
        assert_eq!(input.image_id.as_deref(), Some("ami-4926fd29"));
        assert_eq!(input.placement.as_ref().unwrap().availability_zone.as_deref(), Some("us-west-2a"));
        assert_eq!(input.security_group_ids, ["sg-57411931"]);
        assert_eq!(properties.attach_volume_inputs[0].volume_id, "vol-1");
    }

    #[test]
    fn a_go_marshalled_input_with_nulls_is_accepted() {
        let properties = Properties::parse(Some(&json!({
            "Tags": null, "AttachVolumeInputs": null,
            "RunInstancesInput": {"ImageId": "ami-1", "AdditionalInfo": null, "SecurityGroups": null, "MinCount": 1,
                "MaxCount": 1, "Ipv6Addresses": null},
        })))
        .unwrap();
        assert!(properties.tags.is_empty() && properties.run_instances_input.security_groups.is_empty());
    }

    #[test]
    fn fields_that_would_be_dropped_are_refused_by_name() {
        let error = Properties::parse(Some(&json!({
            "RunInstancesInput": {"ImageId": "ami-1", "Ipv6AddressCount": 2, "LaunchTemplate": {"LaunchTemplateId": "lt-1"}},
            "Spot": true,
        })))
        .unwrap_err();
        assert!(
            error.ends_with("Spot, RunInstancesInput.Ipv6AddressCount, RunInstancesInput.LaunchTemplate"),
            "{error}"
        );
    }

    #[test]
    fn an_image_and_one_instance_per_provision_are_required() {
        assert!(Properties::parse(None).unwrap_err().contains("missing"));
        assert!(Properties::parse(Some(&json!({"RunInstancesInput": {}}))).unwrap_err().contains("ImageId"));
        let many = json!({"RunInstancesInput": {"ImageId": "ami-1", "MaxCount": 3}});
        assert!(Properties::parse(Some(&many)).unwrap_err().contains("MaxCount must be 1"));
        let tags: Tags = (0..=MAX_TAGS).map(|i| (format!("k{i}"), "v".into())).collect();
        let tagged = json!({"RunInstancesInput": {"ImageId": "ami-1"}, "Tags": tags});
        assert!(Properties::parse(Some(&tagged)).unwrap_err().contains("EC2 allows 50"));
    }

    #[test]
    fn a_type_mismatch_names_the_field() {
        let error = Properties::parse(Some(&json!({"RunInstancesInput": {"ImageId": 7}}))).unwrap_err();
        assert!(error.contains("invalid type"), "{error}");
    }
}
