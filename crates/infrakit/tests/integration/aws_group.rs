//! A group of EC2 instances kept by the real binary against moto, an EC2 emulator:
//! `infrakit plugin start group aws vanilla`, ten instances committed on `aws/ec2-instance`,
//! three terminated from outside with boto3 and healed, then a rolling update.
//!
//! `scripts/test.sh` starts moto, names it in `INFRAKIT_TEST_MOTO_URL` and its Python (with
//! boto3) in `INFRAKIT_TEST_MOTO_PYTHON`. Without them the test skips on a developer's machine
//! and fails in CI (`CI=true`).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::Home;

/// How long the group may take to reach a state: a few polls at 200 ms and moto's answers,
/// with room for a slow CI.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(90);

/// The group's size.
const SIZE: usize = 10;

/// moto's URL and a Python with boto3, or `None` to skip outside CI.
fn moto() -> Option<(String, String)> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (get("INFRAKIT_TEST_MOTO_URL"), get("INFRAKIT_TEST_MOTO_PYTHON")) {
        (Some(url), Some(python)) => Some((url, python)),
        _ if get("CI").as_deref() == Some("true") => {
            panic!("INFRAKIT_TEST_MOTO_URL and INFRAKIT_TEST_MOTO_PYTHON must be set in CI (scripts/test.sh sets them)")
        }
        _ => {
            eprintln!("skipped: INFRAKIT_TEST_MOTO_URL or INFRAKIT_TEST_MOTO_PYTHON is not set");
            None
        }
    }
}

fn group_spec(id: &str, init: &str) -> String {
    serde_json::json!({
        "ID": id,
        "Properties": {
            "Allocation": {"Size": SIZE},
            "Instance": {"Plugin": "aws/ec2-instance", "Properties": {
                "Tags": {"Name": id},
                "RunInstancesInput": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "t3.micro"},
            }},
            "Flavor": {"Plugin": "vanilla", "Properties": {"Init": [init]}},
        }
    })
    .to_string()
}

/// The IDs of the group's live instances as EC2 lists them, with their config hashes.
fn members(home: &Home, group: &str) -> Vec<(String, String)> {
    let listing = home.ok(&[
        "instance",
        "aws/ec2-instance",
        "describe",
        "-o",
        "json",
        "--tags",
        &format!("infrakit.group={group}"),
    ]);
    let instances: serde_json::Value = serde_json::from_str(&listing).unwrap();
    instances
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["ID"].as_str().unwrap().to_owned(), i["Tags"]["infrakit.config.hash"].as_str().unwrap().to_owned()))
        .collect()
}

fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let started = Instant::now();
    while !probe() {
        assert!(started.elapsed() < CONVERGE_DEADLINE, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Terminates instances behind InfraKit's back, as an operator or a spot reclaim would.
fn terminate_from_outside(python: &str, url: &str, ids: &[String]) {
    let script = "import boto3, sys\n\
        ec2 = boto3.client('ec2', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                           aws_access_key_id='testing', aws_secret_access_key='testing')\n\
        ec2.terminate_instances(InstanceIds=sys.argv[2:])\n";
    let status = Command::new(python).arg("-c").arg(script).arg(url).args(ids).status().unwrap();
    assert!(status.success(), "boto3 could not terminate {ids:?}");
}

#[test]
fn a_group_on_ec2_heals_and_rolls() {
    let Some((url, python)) = moto() else { return };
    let home = Home::create();
    let options = home.write("aws.json", &serde_json::json!({"Region": "us-east-1", "Endpoint": url}).to_string());
    let mut server = home.start_with_env(
        &["group", "aws", "vanilla", "--options", &format!("aws={options}")],
        &[
            ("INFRAKIT_GROUP_POLL_INTERVAL", "200ms"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    for socket in ["group-stateless", "aws", "vanilla"] {
        home.wait_for_socket(socket);
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let group = format!("ec2-{:x}", std::process::id() ^ nanos);

    let first = home.write("v1.json", &group_spec(&group, "echo v1"));
    assert_eq!(home.ok(&["group", "commit", &first]).trim(), format!("Committed {group}: Managing {SIZE} instances"));
    eventually("ten instances", || members(&home, &group).len() == SIZE);
    let initial = members(&home, &group);
    let first_hash = initial[0].1.clone();

    let victims: Vec<String> = initial.iter().take(3).map(|(id, _)| id.clone()).collect();
    terminate_from_outside(&python, &url, &victims);
    eventually("three replacements", || {
        let now = members(&home, &group);
        now.len() == SIZE && now.iter().all(|(id, _)| !victims.contains(id))
    });

    let second = home.write("v2.json", &group_spec(&group, "echo v2"));
    let plan = home.ok(&["group", "commit", &second]);
    assert!(plan.contains(&format!("Performing a rolling update on {SIZE} instances")), "{plan}");
    eventually("every member on the new config", || {
        let now = members(&home, &group);
        now.len() == SIZE && now.iter().all(|(_, hash)| *hash != first_hash)
    });
    let hashes: BTreeSet<_> = members(&home, &group).into_iter().map(|(_, hash)| hash).collect();
    assert_eq!(hashes.len(), 1, "{hashes:?}");

    home.ok(&["group", "destroy", &group]);
    eventually("no instances left", || members(&home, &group).is_empty());
    server.kill().unwrap();
    server.wait().unwrap();
}
