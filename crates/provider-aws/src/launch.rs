//! Turning a spec into one `RunInstances` request: the properties' launch input, the tags applied
//! at launch through `TagSpecifications` (so no instance ever exists untagged, as the original's
//! tag-after-launch allowed), the `Init` script as user data and the idempotency token.

use std::net::Ipv4Addr;

use aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, IamInstanceProfileSpecification, InstanceInterruptionBehavior,
    InstanceMarketOptionsRequest, InstanceNetworkInterfaceSpecification, InstanceType, MarketType, Placement,
    ResourceType, RunInstancesMonitoringEnabled, ShutdownBehavior, SpotInstanceType, SpotMarketOptions,
    TagSpecification, Tenancy, VolumeType,
};
use aws_smithy_types::base64;
use infrakit_spi::instance::Spec;
use infrakit_spi::types::Tags;

use crate::ec2::ec2_tags;
use crate::properties::{self, Properties};

/// The tags an instance is launched with: the properties' `Tags`, then the spec's, then the
/// namespace, later ones winning, as the original merges them.
pub fn launch_tags(properties: &Properties, spec: &Spec, namespace: &Tags) -> Tags {
    let mut tags = properties.tags.clone();
    tags.extend(spec.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags.extend(namespace.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags
}

/// Fills `request` for one instance of `spec`, tagged with `tags` and idempotent under `token`.
pub fn run_instances(
    request: RunInstancesFluentBuilder,
    properties: &Properties,
    spec: &Spec,
    tags: &Tags,
    token: &str,
) -> RunInstancesFluentBuilder {
    let input = &properties.run_instances_input;
    let mut interfaces: Vec<_> = input.network_interfaces.iter().map(network_interface).collect();
    let mut private_ip = input.private_ip_address.clone();
    // A pet whose logical ID is an IP gets that IP, on the first interface if any, as in the
    // original. Other logical IDs are only a tag: EC2 would refuse them as addresses.
    if let Some(ip) = spec.logical_id.as_ref().filter(|l| l.as_str().parse::<Ipv4Addr>().is_ok()) {
        match interfaces.first_mut() {
            Some(first) => first.private_ip_address = Some(ip.to_string()),
            None => private_ip = Some(ip.to_string()),
        }
    }
    let user_data = match spec.init.as_str() {
        "" => input.user_data.clone(),
        init => Some(base64::encode(init)),
    };
    let tag_specifications = [ResourceType::Instance, ResourceType::Volume]
        .into_iter()
        .map(|resource| TagSpecification::builder().resource_type(resource).set_tags(Some(ec2_tags(tags))).build())
        .collect();
    request
        .min_count(1)
        .max_count(1)
        .client_token(token)
        .set_image_id(input.image_id.clone())
        .set_instance_type(input.instance_type.as_deref().map(InstanceType::from))
        .set_key_name(input.key_name.clone())
        .set_subnet_id(input.subnet_id.clone())
        .set_security_group_ids(non_empty(&input.security_group_ids))
        .set_security_groups(non_empty(&input.security_groups))
        .set_placement(input.placement.as_ref().map(placement))
        .set_block_device_mappings(non_empty_map(&input.block_device_mappings, block_device_mapping))
        .set_iam_instance_profile(input.iam_instance_profile.as_ref().map(|p| {
            IamInstanceProfileSpecification::builder().set_arn(p.arn.clone()).set_name(p.name.clone()).build()
        }))
        .set_network_interfaces((!interfaces.is_empty()).then_some(interfaces))
        .set_private_ip_address(private_ip)
        .set_ebs_optimized(input.ebs_optimized)
        .set_monitoring(
            input.monitoring.as_ref().map(|m| RunInstancesMonitoringEnabled::builder().enabled(m.enabled).build()),
        )
        .set_instance_market_options(input.instance_market_options.as_ref().map(market_options))
        .set_user_data(user_data)
        .set_disable_api_termination(input.disable_api_termination)
        .set_instance_initiated_shutdown_behavior(
            input.instance_initiated_shutdown_behavior.as_deref().map(ShutdownBehavior::from),
        )
        .set_tag_specifications(Some(tag_specifications))
}

fn non_empty(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

fn non_empty_map<T, U>(values: &[T], convert: impl Fn(&T) -> U) -> Option<Vec<U>> {
    (!values.is_empty()).then(|| values.iter().map(convert).collect())
}

fn placement(p: &properties::Placement) -> Placement {
    Placement::builder()
        .set_availability_zone(p.availability_zone.clone())
        .set_group_name(p.group_name.clone())
        .set_tenancy(p.tenancy.as_deref().map(Tenancy::from))
        .build()
}

fn block_device_mapping(m: &properties::BlockDeviceMapping) -> BlockDeviceMapping {
    BlockDeviceMapping::builder()
        .set_device_name(m.device_name.clone())
        .set_virtual_name(m.virtual_name.clone())
        .set_no_device(m.no_device.clone())
        .set_ebs(m.ebs.as_ref().map(|e| {
            EbsBlockDevice::builder()
                .set_delete_on_termination(e.delete_on_termination)
                .set_encrypted(e.encrypted)
                .set_iops(e.iops)
                .set_kms_key_id(e.kms_key_id.clone())
                .set_snapshot_id(e.snapshot_id.clone())
                .set_volume_size(e.volume_size)
                .set_volume_type(e.volume_type.as_deref().map(VolumeType::from))
                .build()
        }))
        .build()
}

fn network_interface(n: &properties::NetworkInterface) -> InstanceNetworkInterfaceSpecification {
    InstanceNetworkInterfaceSpecification::builder()
        .set_associate_public_ip_address(n.associate_public_ip_address)
        .set_delete_on_termination(n.delete_on_termination)
        .set_description(n.description.clone())
        .set_device_index(n.device_index)
        .set_groups(non_empty(&n.groups))
        .set_network_interface_id(n.network_interface_id.clone())
        .set_private_ip_address(n.private_ip_address.clone())
        .set_subnet_id(n.subnet_id.clone())
        .build()
}

fn market_options(m: &properties::InstanceMarketOptions) -> InstanceMarketOptionsRequest {
    InstanceMarketOptionsRequest::builder()
        .set_market_type(m.market_type.as_deref().map(MarketType::from))
        .set_spot_options(m.spot_options.as_ref().map(|s| {
            SpotMarketOptions::builder()
                .set_max_price(s.max_price.clone())
                .set_spot_instance_type(s.spot_instance_type.as_deref().map(SpotInstanceType::from))
                .set_instance_interruption_behavior(
                    s.instance_interruption_behavior.as_deref().map(InstanceInterruptionBehavior::from),
                )
                .build()
        }))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::BehaviorVersion;
    use serde_json::json;

    fn request() -> RunInstancesFluentBuilder {
        let config = aws_sdk_ec2::Config::builder().behavior_version(BehaviorVersion::latest()).build();
        aws_sdk_ec2::Client::from_conf(config).run_instances()
    }

    fn properties(document: serde_json::Value) -> Properties {
        Properties::parse(Some(&document)).unwrap()
    }

    #[test]
    fn one_instance_tagged_at_launch_with_init_as_user_data() {
        let properties = properties(json!({
            "Tags": {"Name": "web", "tier": "properties"},
            "RunInstancesInput": {"ImageId": "ami-1", "InstanceType": "t3.micro", "UserData": "aWdub3JlZA=="},
        }));
        let spec =
            Spec { tags: [("tier".to_owned(), "spec".to_owned())].into(), init: "echo hi".into(), ..Spec::default() };
        let namespace: Tags = [("stack".to_owned(), "prod".to_owned())].into();
        let tags = launch_tags(&properties, &spec, &namespace);
        assert_eq!(tags["tier"], "spec");
        assert_eq!(tags["stack"], "prod");
        let built = run_instances(request(), &properties, &spec, &tags, "token-1");
        let input = built.as_input();
        assert_eq!((input.get_min_count(), input.get_max_count()), (&Some(1), &Some(1)));
        assert_eq!(input.get_client_token().as_deref(), Some("token-1"));
        assert_eq!(input.get_user_data().as_deref(), Some("ZWNobyBoaQ=="), "base64 of Init wins over UserData");
        assert_eq!(input.get_instance_type(), &Some(InstanceType::T3Micro));
        let specifications = input.get_tag_specifications().as_ref().unwrap();
        let resources: Vec<_> = specifications.iter().map(|s| s.resource_type().unwrap().clone()).collect();
        assert_eq!(resources, [ResourceType::Instance, ResourceType::Volume]);
        assert_eq!(specifications[0].tags().len(), 3);
    }

    #[test]
    fn a_pet_with_an_ip_logical_id_gets_that_ip() {
        let pet = |logical_id: &str| Spec { logical_id: Some(logical_id.into()), ..Spec::default() };
        let plain = properties(json!({"RunInstancesInput": {"ImageId": "ami-1"}}));
        let built = run_instances(request(), &plain, &pet("10.0.0.9"), &Tags::new(), "t");
        assert_eq!(built.as_input().get_private_ip_address().as_deref(), Some("10.0.0.9"));
        let built = run_instances(request(), &plain, &pet("db-1"), &Tags::new(), "t");
        assert_eq!(built.as_input().get_private_ip_address(), &None, "a name is not an address");

        let with_interface = properties(json!({
            "RunInstancesInput": {"ImageId": "ami-1", "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-1"}]},
        }));
        let built = run_instances(request(), &with_interface, &pet("10.0.0.9"), &Tags::new(), "t");
        let interfaces = built.as_input().get_network_interfaces().as_ref().unwrap();
        assert_eq!(interfaces[0].private_ip_address(), Some("10.0.0.9"));
        assert_eq!(built.as_input().get_private_ip_address(), &None);
    }

    #[test]
    fn spot_and_placement_are_passed_on() {
        let spot = properties(json!({"RunInstancesInput": {
            "ImageId": "ami-1",
            "Placement": {"AvailabilityZone": "us-west-2a"},
            "InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {"MaxPrice": "0.01"}},
        }}));
        let built = run_instances(request(), &spot, &Spec::default(), &Tags::new(), "t");
        let input = built.as_input();
        let market = input.get_instance_market_options().as_ref().unwrap();
        assert_eq!(market.market_type(), Some(&MarketType::Spot));
        assert_eq!(market.spot_options().and_then(|s| s.max_price()), Some("0.01"));
        assert_eq!(input.get_placement().as_ref().and_then(|p| p.availability_zone()), Some("us-west-2a"));
    }
}
