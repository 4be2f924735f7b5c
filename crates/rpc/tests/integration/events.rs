//! Events over SSE (the RPC acceptance scenario 26): prefix and exact subscriptions, order, the wire format, and
//! streams that end when the plugin stops.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use infrakit_rpc::{Event, EventBus, PluginServer};
use serde_json::json;
use tokio::net::UnixStream;

use crate::support::Running;

fn event(id: usize) -> Event {
    let mut event = Event::new(id.to_string(), format!("tick {id}"));
    event.r#type = "Tick".into();
    event.data = Some(json!({"n": id}));
    event
}

#[tokio::test]
async fn prefix_and_exact_subscribers_hear_their_topics_in_order() {
    let bus = EventBus::new();
    let running = Running::start(PluginServer::new("local").events(bus.clone())).await;
    let client = running.client();
    let mut everything_local = client.subscribe("local/").await.unwrap();
    let mut time = client.subscribe("local/time/").await.unwrap();
    let mut exact = client.subscribe("local/time/now").await.unwrap();
    assert_eq!(bus.subscriber_count(), 3);

    for id in 0..20 {
        bus.publish("local/time/now", event(id));
        if id % 5 == 0 {
            bus.publish("local/other", event(100 + id));
            bus.publish("elsewhere/time/now", event(200 + id));
        }
    }
    bus.publish("local/time/now", Event::new("end", ""));
    bus.publish("local/end", Event::new("end", ""));

    let mut heard_by_time = Vec::new();
    while let Some(event) = time.next().await {
        let event = event.unwrap();
        if event.id == "end" {
            break;
        }
        assert_eq!(event.topic, "local/time/now");
        heard_by_time.push(event.id);
    }
    assert_eq!(heard_by_time, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());

    let mut heard_by_exact = Vec::new();
    while let Some(event) = exact.next().await {
        let event = event.unwrap();
        if event.id == "end" {
            break;
        }
        heard_by_exact.push(event.id);
    }
    assert_eq!(heard_by_exact, heard_by_time, "the exact subscriber hears the same events in the same order");

    let mut heard_by_local = Vec::new();
    while let Some(event) = everything_local.next().await {
        let event = event.unwrap();
        if event.topic == "local/end" {
            break;
        }
        heard_by_local.push(event.id);
    }
    let expected_local: Vec<String> = (0..20)
        .flat_map(|id| if id % 5 == 0 { vec![id.to_string(), (100 + id).to_string()] } else { vec![id.to_string()] })
        .chain(["end".to_owned()])
        .collect();
    assert_eq!(heard_by_local, expected_local);

    let first = event(0);
    let mut again = client.subscribe("local/time/").await.unwrap();
    bus.publish("local/time/now", first.clone());
    let received = again.next().await.unwrap().unwrap();
    assert_eq!((received.id, received.message, received.data), (first.id, first.message, first.data));
    assert_eq!(received.timestamp, first.timestamp, "timestamps survive the wire to the nanosecond");
    running.stop().await;
}

#[tokio::test]
async fn the_stream_is_sse_with_one_json_line_per_event() {
    let bus = EventBus::new();
    let running = Running::start(PluginServer::new("local").events(bus.clone())).await;
    let stream = UnixStream::connect(&running.socket).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request =
        Request::get("/events?topic=local%2Ftime%2F").header("host", "rpc").body(Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");

    let mut tick = event(1);
    tick.message = "line one\nline two".into();
    bus.publish("local/time/now", tick);
    let mut body = response.into_body();
    let mut frame = Vec::new();
    while !frame.ends_with(b"\n\n") {
        let chunk = body.frame().await.unwrap().unwrap().into_data().unwrap();
        frame.extend_from_slice(&chunk);
    }
    let frame = String::from_utf8(frame).unwrap();
    let json = frame.strip_prefix("data: ").and_then(|f| f.strip_suffix("\n\n")).expect("data: <json>\\n\\n");
    assert!(!json.contains('\n'));
    let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(parsed["Topic"], "local/time/now");
    assert_eq!(parsed["Type"], "Tick");
    assert_eq!(parsed["Message"], "line one\nline two");
    assert_eq!(parsed["Received"], "0001-01-01T00:00:00Z");
    assert_eq!(parsed["Data"], json!({"n": 1}));
    running.stop().await;
}

#[tokio::test]
async fn stopping_the_plugin_ends_event_streams_at_once() {
    let bus = EventBus::new();
    let running = Running::start(PluginServer::new("local").events(bus.clone())).await;
    let mut subscription = running.client().subscribe("").await.unwrap();
    // Far below the shutdown grace: an open stream must not hold the shutdown back.
    tokio::time::timeout(Duration::from_secs(5), running.stop()).await.expect("stopped promptly");
    assert!(subscription.next().await.is_none());
    assert_eq!(bus.subscriber_count(), 0);
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_dropped_without_blocking_the_publisher() {
    let bus = EventBus::new();
    let running = Running::start(PluginServer::new("local").events(bus.clone())).await;
    let stuck = running.client().subscribe("big/").await.unwrap();
    let mut reader = running.client().subscribe("big/").await.unwrap();
    let payload = json!("x".repeat(64 * 1024));
    let mut published = 0;
    // Fill the stuck subscriber's socket buffers and then its queue; publishing never waits.
    while bus.subscriber_count() == 2 {
        let mut big = event(published);
        big.data = Some(payload.clone());
        bus.publish("big/data", big);
        published += 1;
        assert_eq!(reader.next().await.unwrap().unwrap().id, (published - 1).to_string());
    }
    assert!(published > infrakit_rpc::events::SUBSCRIBER_QUEUE);
    bus.publish("big/data", event(published));
    assert_eq!(reader.next().await.unwrap().unwrap().id, published.to_string(), "the reader keeps hearing");
    // The stuck client's connection is held until it reads or goes away; once it goes, nothing
    // holds the shutdown back.
    drop(stuck);
    tokio::time::timeout(Duration::from_secs(5), running.stop()).await.expect("stopped promptly");
}
