//! The init script of a member: a template, the role's built-in one or `InitScriptTemplateURL`,
//! rendered with the original's functions for the swarm:
//!
//! - `SPEC`: the flavor's properties; `INSTANCE_LOGICAL_ID` (empty for cattle); `ALLOCATIONS`;
//!   `INDEX` (`{Group, Sequence}`);
//! - `INFRAKIT_LABELS`: the engine labels to give the node (`EngineLabels` and the link), as
//!   `key=value` strings; `INFRAKIT_LINK`: the link's own label;
//! - `SWARM_INITIALIZED`, `SWARM_CLUSTER_ID`, `SWARM_JOIN_TOKENS` (`.Manager`, `.Worker`),
//!   `SWARM_MANAGER_ADDR` (the leader's `ip:port`); the last three fail when there is no swarm
//!   yet, and so does `Prepare`, which the group controller then retries;
//! - `ENGINE_LABELS_SCRIPT`: shell that waits for the node's engine and gives it those labels.
//!
//! The template's dot is the member, as for the vanilla flavor: `{LogicalID, Group, Index, Tags}`.

use std::sync::Arc;

use infrakit_template::{Engine, FuncMap, RenderError, TemplateError, Value, ValueFunc};
use serde_json::json;

use crate::link::Link;
use crate::swarm::SwarmState;

/// The built-in init script of a manager.
pub const MANAGER_INIT: &str = include_str!("../templates/manager-init.sh");
/// The built-in init script of a worker.
pub const WORKER_INIT: &str = include_str!("../templates/worker-init.sh");
/// The script that labels the node's engine (`ENGINE_LABELS_SCRIPT`).
const ENGINE_LABELS: &str = include_str!("../templates/engine-labels.sh");

/// What a member's init script is rendered from.
#[derive(Debug, Clone)]
pub struct ScriptContext {
    /// The flavor's properties (`SPEC`).
    pub properties: serde_json::Value,
    /// The member's logical ID, empty for cattle.
    pub logical_id: String,
    /// The group's allocation (`ALLOCATIONS`).
    pub allocation: serde_json::Value,
    /// The member's index (`INDEX`).
    pub index: serde_json::Value,
    /// The engine labels, `key=value`.
    pub labels: Vec<String>,
    /// The link to the instance.
    pub link: Link,
    /// The swarm as a manager sees it, if there is one.
    pub swarm: Option<SwarmState>,
    /// The member as the template's dot.
    pub member: serde_json::Value,
}

/// Renders the init script: the template at `url`, or `builtin` when `url` is empty.
pub fn render(engine: &Engine, url: &str, builtin: &str, context: &ScriptContext) -> Result<String, RenderError> {
    let functions = functions(context)?;
    let engine = engine.clone().with_functions(functions.clone());
    let labels_script = engine.render_text("str://engine-labels.sh", ENGINE_LABELS, &context.member)?;
    let mut with_labels = FuncMap::new();
    with_labels.insert("ENGINE_LABELS_SCRIPT".into(), constant(Value::from(labels_script)));
    let engine = engine.with_functions(with_labels);
    match url.is_empty() {
        true => engine.render_text("str://swarm-init.sh", builtin, &context.member),
        false => engine.render_url(url, &context.member),
    }
}

fn constant(value: Value) -> ValueFunc {
    Arc::new(move |_: &[Value]| Ok(value.clone()))
}

fn json_value(json: &serde_json::Value) -> Result<Value, RenderError> {
    infrakit_template::functions::from_json(json)
        .map_err(|error| RenderError::Template { name: "swarm flavor context".into(), error })
}

fn functions(context: &ScriptContext) -> Result<FuncMap, RenderError> {
    let mut map = FuncMap::new();
    map.insert("SPEC".into(), constant(json_value(&context.properties)?));
    map.insert("INSTANCE_LOGICAL_ID".into(), constant(Value::from(context.logical_id.clone())));
    map.insert("ALLOCATIONS".into(), constant(json_value(&context.allocation)?));
    map.insert("INDEX".into(), constant(json_value(&context.index)?));
    let labels = context.labels.iter().cloned().map(Value::from).collect::<Vec<_>>();
    map.insert("INFRAKIT_LABELS".into(), constant(Value::from(labels)));
    map.insert("INFRAKIT_LINK".into(), constant(Value::from(context.link.filter())));
    map.insert("SWARM_INITIALIZED".into(), constant(Value::Bool(context.swarm.is_some())));
    let swarm = context.swarm.clone();
    let needs_swarm = move |what: &'static str, read: fn(&SwarmState) -> serde_json::Value| {
        let swarm = swarm.clone();
        Arc::new(move |_: &[Value]| match &swarm {
            Some(state) => infrakit_template::functions::from_json(&read(state)),
            None => Err(TemplateError::Exec(format!(
                "cannot prepare: no manager of a swarm answered (is the swarm initialised?), so {what} is unknown"
            ))),
        }) as ValueFunc
    };
    map.insert("SWARM_CLUSTER_ID".into(), needs_swarm("SWARM_CLUSTER_ID", |s| json!(s.cluster_id)));
    map.insert(
        "SWARM_JOIN_TOKENS".into(),
        needs_swarm("SWARM_JOIN_TOKENS", |s| json!({"Manager": s.manager_token, "Worker": s.worker_token})),
    );
    map.insert("SWARM_MANAGER_ADDR".into(), needs_swarm("SWARM_MANAGER_ADDR", |s| json!(manager_addr(s))));
    Ok(map)
}

/// The address to join at: the leader's, else any reachable manager's.
pub fn manager_addr(state: &SwarmState) -> Option<String> {
    let managers = state.nodes.iter().filter(|n| n.manager_addr.is_some());
    let mut ordered: Vec<_> = managers.collect();
    ordered.sort_by_key(|n| (!n.leader, !n.reachable));
    ordered.first().and_then(|n| n.manager_addr.clone())
}
