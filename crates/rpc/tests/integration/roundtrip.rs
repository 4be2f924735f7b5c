//! Every method of Instance, Flavor and Group, through the typed clients, over a real socket, to
//! plugins that record what they were given (the RPC acceptance scenario 24).

use infrakit_rpc::{FlavorClient, GroupClient, InstanceClient, RemoteLookup};
use infrakit_spi::Error;
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{AllocationMethod, GroupId, GroupPlugin, GroupSpec, Index, RolloutState};
use infrakit_spi::instance::{
    Attachment, Description, DestroyContext, InstanceId, InstancePlugin, LogicalId, Promises, Spec,
};
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::types::Tags;
use serde_json::json;

use crate::support::{Plugins, Running, serve_in};

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn instance_methods_round_trip() {
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("simulator")).await;
    let default = InstanceClient::new(running.client(), &"simulator".parse().unwrap());
    let compute = InstanceClient::new(running.client(), &"simulator/compute".parse().unwrap());

    assert_eq!(compute.promises().await.unwrap(), Promises::default(), "the recorder promises nothing");
    default.validate(Some(&json!({"Note": "ok"}))).await.unwrap();
    default.validate(None).await.unwrap();
    assert_eq!(plugins.instances.state().validated, vec![Some(json!({"Note": "ok"})), None]);
    assert_eq!(default.validate(Some(&json!({"fail": "bad Note"}))).await, Err(Error::failed("bad Note")));

    let spec = Spec {
        properties: Some(json!({"Note": "x", "nested": {"b": 1, "a": [true, null]}})),
        tags: tags(&[("infrakit.group", "workers"), ("tier", "web")]),
        init: "echo hi".into(),
        logical_id: Some(LogicalId::from("10.0.0.1")),
        attachments: vec![Attachment { id: "vol-1".into(), r#type: "ebs".into() }],
    };
    let id = compute.provision(spec.clone()).await.unwrap();
    assert_eq!(id, InstanceId::from("inst-1"));
    assert!(plugins.instances.state().instances.is_empty(), "Type selects the compute object");
    let stored = &plugins.computes.state().instances[&id];
    assert_eq!(
        (&stored.tags, &stored.properties, &stored.logical_id),
        (&spec.tags, &spec.properties, &spec.logical_id)
    );

    compute.label(&id, &tags(&[("health", "ok")])).await.unwrap();
    assert_eq!(
        compute.label(&InstanceId::from("nope"), &Tags::new()).await,
        Err(Error::failed("instance nope not found"))
    );

    let with_properties = compute.describe_instances(&tags(&[("tier", "web")]), true).await.unwrap();
    assert_eq!(with_properties.len(), 1);
    assert_eq!(with_properties[0].properties, spec.properties);
    assert_eq!(with_properties[0].tags.get("health").map(String::as_str), Some("ok"));
    let without = compute.describe_instances(&Tags::new(), false).await.unwrap();
    assert_eq!(without[0].properties, None);
    assert!(compute.describe_instances(&tags(&[("tier", "db")]), true).await.unwrap().is_empty());

    compute.destroy(&id, DestroyContext::ROLLING_UPDATE).await.unwrap();
    assert_eq!(plugins.computes.state().destroyed, vec![(id.clone(), DestroyContext::ROLLING_UPDATE)]);
    assert_eq!(compute.destroy(&id, DestroyContext::TERMINATE).await, Err(Error::failed("instance inst-1 not found")));

    let missing = InstanceClient::new(running.client(), &"simulator/disk".parse().unwrap());
    assert_eq!(missing.describe_instances(&Tags::new(), false).await, Err(Error::failed("no-plugin:disk")));
    running.stop().await;
}

#[tokio::test]
async fn flavor_methods_round_trip() {
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("vanilla")).await;
    let flavor = FlavorClient::new(running.client(), &"vanilla".parse().unwrap());
    let properties = json!({"Init": "docker run nginx", "Tags": {"tier": "web"}});
    let allocation = AllocationMethod { size: 3, logical_ids: vec![] };

    flavor.validate(Some(&properties), &allocation).await.unwrap();
    assert_eq!(
        flavor.validate(Some(&properties), &AllocationMethod::default()).await,
        Err(Error::failed("Allocation must not be blank"))
    );

    let spec = Spec { tags: tags(&[("infrakit.group", "workers")]), ..Spec::default() };
    let index = Index { group: GroupId::from("workers"), sequence: 3 };
    let prepared = flavor.prepare(Some(&properties), spec, &allocation, &index).await.unwrap();
    assert_eq!(prepared.init, "docker run nginx");
    assert_eq!(
        prepared.tags,
        tags(&[
            ("flavor", "tagging"),
            ("group", "workers"),
            ("infrakit.group", "workers"),
            ("sequence", "3"),
            ("size", "3")
        ])
    );

    let member =
        |health: &str| Description { id: "i-1".into(), tags: tags(&[("health", health)]), ..Description::default() };
    assert_eq!(flavor.healthy(None, &member("ok")).await, Ok(Health::Healthy));
    assert_eq!(flavor.healthy(None, &member("bad")).await, Ok(Health::Unhealthy));
    assert_eq!(flavor.healthy(None, &member("?")).await, Ok(Health::Unknown));

    flavor.drain(Some(&properties), &member("ok")).await.unwrap();
    let drained = plugins.flavor.drained.lock().unwrap().clone();
    assert_eq!(drained, vec![(Some(properties.clone()), member("ok"))]);

    let typed = FlavorClient::new(running.client(), &"vanilla/french".parse().unwrap());
    assert_eq!(typed.drain(None, &member("ok")).await, Err(Error::failed("no-plugin:french")));
    running.stop().await;
}

#[tokio::test]
async fn group_methods_round_trip_and_resolve_objects_by_name() {
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("mystack")).await;
    let default = GroupClient::new(running.client(), &"mystack".parse().unwrap());
    let workers = GroupClient::new(running.client(), &"mystack/workers".parse().unwrap());
    let id = GroupId::from("workers");
    let spec = GroupSpec { id: id.clone(), properties: Some(json!({"Allocation": {"Size": 3}})) };

    assert_eq!(workers.commit_group(spec.clone(), true).await, Ok("Managing 3 instances".into()));
    assert!(plugins.workers.state().specs.is_empty(), "pretend changes nothing");
    assert_eq!(workers.commit_group(spec.clone(), false).await, Ok("Managing 3 instances".into()));
    assert_eq!(plugins.workers.state().specs[&id], spec);
    assert!(plugins.groups.state().specs.is_empty(), "mystack/workers resolves to the workers object");
    assert_eq!(
        default.commit_group(GroupSpec::default(), false).await,
        Err(Error::failed("Group ID must not be blank"))
    );

    assert_eq!(workers.inspect_groups().await, Ok(vec![spec.clone()]));
    assert_eq!(default.inspect_groups().await, Ok(vec![]));
    assert_eq!(workers.size(&id).await, Ok(3));
    workers.set_size(&id, 5).await.unwrap();
    assert_eq!(workers.size(&id).await, Ok(5));
    let description = workers.describe_group(&id).await.unwrap();
    assert_eq!((description.instances.len(), description.converged), (5, true));
    let doomed = vec![InstanceId::from("workers-0"), InstanceId::from("workers-1")];
    workers.destroy_instances(&id, &doomed).await.unwrap();
    assert_eq!(plugins.workers.state().destroyed_instances, vec![(id.clone(), doomed)]);
    let paused = workers.pause_rollout(&id).await.unwrap();
    assert_eq!((paused.state, paused.reason.as_deref()), (RolloutState::Paused, Some("paused by an operator")));
    assert_eq!(plugins.workers.state().paused, vec![id.clone()]);
    assert_eq!(workers.rollout_status(&id).await, Err(Error::failed("this group plugin does not control rollouts")));
    workers.free_group(&id).await.unwrap();
    assert_eq!(workers.describe_group(&id).await, Err(Error::failed("Group 'workers' is not being watched")));
    workers.commit_group(spec, false).await.unwrap();
    workers.destroy_group(&id).await.unwrap();
    assert_eq!(workers.size(&id).await, Err(Error::failed("Group 'workers' is not being watched")));

    let unknown = GroupClient::new(running.client(), &"mystack/nope".parse().unwrap());
    assert_eq!(unknown.inspect_groups().await, Err(Error::failed("not found: mystack/nope (key=nope)")));
    running.stop().await;
}

#[tokio::test]
async fn remote_lookup_reaches_plugins_in_the_directory() {
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("simulator")).await;
    let lookup = RemoteLookup::new(running.plugins_dir());

    let compute = lookup.instance(&"simulator/compute".parse().unwrap()).unwrap();
    let id = compute.provision(Spec::default()).await.unwrap();
    assert!(plugins.computes.state().instances.contains_key(&id));
    let flavor = lookup.flavor(&"simulator".parse().unwrap()).unwrap();
    assert_eq!(flavor.healthy(None, &Description::default()).await, Ok(Health::Unknown));
    let group = lookup.group(&"simulator/workers".parse().unwrap()).unwrap();
    assert_eq!(group.inspect_groups().await, Ok(vec![]));

    assert_eq!(
        lookup.instance(&"nope/compute".parse().unwrap()).err(),
        Some(Error::not_found("plugin not found:nope/compute"))
    );
    running.stop().await;
}

#[tokio::test]
async fn a_client_survives_the_plugin_restarting() {
    let plugins = Plugins::default();
    let mut running = Running::start(plugins.server("simulator")).await;
    let client = InstanceClient::new(running.client(), &"simulator".parse().unwrap());
    client.describe_instances(&Tags::new(), false).await.unwrap();

    running.stop_server().await;
    let down = client.describe_instances(&Tags::new(), false).await.unwrap_err();
    assert!(matches!(&down, Error::Unavailable(m) if m.contains("plugin")), "{down:?}");

    let (_, stop, task) = serve_in(&running.plugins_dir(), plugins.server("simulator")).await.unwrap();
    client.provision(Spec::default()).await.unwrap();
    assert_eq!(client.describe_instances(&Tags::new(), false).await.unwrap().len(), 1);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
