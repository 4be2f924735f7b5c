//! An EC2 instance as the Instance interface reports it: its ID, tags, logical ID and, when
//! asked, its properties as JSON in EC2's own field names (as the original's `ec2.Instance`).

use aws_sdk_ec2::types::Instance;
use infrakit_spi::instance::{Description, InstanceId, LOGICAL_ID_TAG, LogicalId};
use infrakit_spi::types::Tags;
use serde_json::{Map, Value, json};

/// The instance's description. Its logical ID is the `infrakit.logical_id` tag (a pet's name,
/// whatever form it takes), else its private IP as the original reports every instance.
pub fn description(instance: &Instance, properties: bool) -> Description {
    let tags: Tags =
        instance.tags().iter().filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default()))).collect();
    let logical_id = tags.get(LOGICAL_ID_TAG).cloned().or_else(|| instance.private_ip_address.clone()).map(LogicalId);
    Description {
        id: InstanceId(instance.instance_id.clone().unwrap_or_default()),
        logical_id,
        properties: properties.then(|| instance_json(instance)),
        tags,
    }
}

/// The instance's most used fields in EC2's names, absent fields left out.
pub fn instance_json(instance: &Instance) -> Value {
    let mut fields = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value.filter(|v| !v.is_null()) {
            fields.insert(key.to_owned(), value);
        }
    };
    let text = |value: Option<&str>| value.map(|v| json!(v));
    put("InstanceId", text(instance.instance_id()));
    put("ImageId", text(instance.image_id()));
    put("InstanceType", text(instance.instance_type().map(|t| t.as_str())));
    put("KeyName", text(instance.key_name()));
    put("LaunchTime", text(instance.launch_time().map(|t| t.to_string()).as_deref()));
    put("State", instance.state().map(|s| json!({"Code": s.code(), "Name": s.name().map(|n| n.as_str())})));
    put(
        "Placement",
        instance
            .placement()
            .map(|p| json!({"AvailabilityZone": p.availability_zone(), "Tenancy": p.tenancy().map(|t| t.as_str())})),
    );
    put("PrivateIpAddress", text(instance.private_ip_address()));
    put("PrivateDnsName", text(instance.private_dns_name()));
    put("PublicIpAddress", text(instance.public_ip_address()));
    put("PublicDnsName", text(instance.public_dns_name()));
    put("SubnetId", text(instance.subnet_id()));
    put("VpcId", text(instance.vpc_id()));
    put("Architecture", text(instance.architecture().map(|a| a.as_str())));
    put("ClientToken", text(instance.client_token()));
    put("InstanceLifecycle", text(instance.instance_lifecycle().map(|l| l.as_str())));
    put("SpotInstanceRequestId", text(instance.spot_instance_request_id()));
    put("IamInstanceProfile", instance.iam_instance_profile().map(|p| json!({"Arn": p.arn(), "Id": p.id()})));
    let groups: Vec<_> = instance
        .security_groups()
        .iter()
        .map(|g| json!({"GroupId": g.group_id(), "GroupName": g.group_name()}))
        .collect();
    put("SecurityGroups", (!groups.is_empty()).then(|| json!(groups)));
    let devices: Vec<_> = instance
        .block_device_mappings()
        .iter()
        .map(|m| {
            json!({"DeviceName": m.device_name(), "Ebs": m.ebs().map(|e| json!({
                "VolumeId": e.volume_id(), "Status": e.status().map(|s| s.as_str()),
                "DeleteOnTermination": e.delete_on_termination()}))})
        })
        .collect();
    put("BlockDeviceMappings", (!devices.is_empty()).then(|| json!(devices)));
    let tags: Vec<_> = instance.tags().iter().map(|t| json!({"Key": t.key(), "Value": t.value()})).collect();
    put("Tags", (!tags.is_empty()).then(|| json!(tags)));
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{InstanceState, InstanceStateName, Tag};

    fn instance(tags: &[(&str, &str)]) -> Instance {
        let mut builder = Instance::builder()
            .instance_id("i-0abc")
            .private_ip_address("10.0.0.7")
            .state(InstanceState::builder().code(16).name(InstanceStateName::Running).build());
        for (k, v) in tags {
            builder = builder.tags(Tag::builder().key(*k).value(*v).build());
        }
        builder.build()
    }

    #[test]
    fn cattle_are_named_by_their_private_ip_as_in_the_original() {
        let d = description(&instance(&[("infrakit.group", "workers")]), false);
        assert_eq!(d.id.as_str(), "i-0abc");
        assert_eq!(d.logical_id, Some(LogicalId::from("10.0.0.7")));
        assert_eq!(d.tags["infrakit.group"], "workers");
        assert!(d.properties.is_none());
    }

    #[test]
    fn a_pet_is_named_by_its_logical_id_tag() {
        let d = description(&instance(&[(LOGICAL_ID_TAG, "db-1")]), false);
        assert_eq!(d.logical_id, Some(LogicalId::from("db-1")));
    }

    #[test]
    fn properties_are_the_instance_in_ec2s_field_names() {
        let d = description(&instance(&[("Name", "web")]), true);
        let properties = d.properties.unwrap();
        assert_eq!(properties["InstanceId"], "i-0abc");
        assert_eq!(properties["State"], json!({"Code": 16, "Name": "running"}));
        assert_eq!(properties["Tags"], json!([{"Key": "Name", "Value": "web"}]));
        assert!(properties.get("PublicIpAddress").is_none());
    }
}
