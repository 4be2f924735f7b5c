//! The services a plugin serves, and how a request finds its object.
//!
//! - [`Registry`]: every service of one plugin by name, the dispatch of `Service.Method`, and the
//!   `Handshake.Hello` answer built from them.
//! - [`Typed`]: objects picked by a request's `Type` field (Instance, Flavor).
//! - [`Keyed`]: objects picked by a request's `Name` field with the original's rules (Group).
//!   The group service adds the groups of a plugin as objects of their own, as the original's
//!   manager does (`group/web`).
//! - [`instance`], [`flavor`], [`group`]: the adapters from JSON-RPC to the spi traits.

pub(crate) mod flavor;
pub(crate) mod group;
pub(crate) mod instance;

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::envelope::{RpcError, SERVER_ERROR};
use crate::service::{Codec, Json, Service};
use crate::wire::handshake::{HelloRequest, HelloResponse, Object};

/// The name of the service every plugin serves to describe itself.
pub(crate) const HANDSHAKE: &str = "Handshake";

/// The object name the handshake gives the default object.
const DEFAULT_OBJECT: &str = ".";

/// All services of one plugin.
pub(crate) struct Registry {
    /// In registration order: `/info/api.json` describes the first.
    services: Vec<Arc<dyn Service>>,
    by_name: HashMap<String, Arc<dyn Service>>,
}

impl Registry {
    /// A registry of these services; `Err` names a service given twice (or named `Handshake`).
    pub(crate) fn new(services: Vec<Arc<dyn Service>>) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for service in &services {
            let name = service.name().to_owned();
            if name == HANDSHAKE || by_name.insert(name.clone(), Arc::clone(service)).is_some() {
                return Err(name);
            }
        }
        Ok(Self { services, by_name })
    }

    /// The first service registered, which `/info/api.json` describes (as the original does).
    pub(crate) fn first(&self) -> Option<&Arc<dyn Service>> {
        self.services.first()
    }

    /// Runs `Service.Method` with params as JSON text; returns the result as JSON.
    pub(crate) async fn dispatch(&self, method: &str, params: &str) -> Result<Vec<u8>, RpcError> {
        let mut parts = method.split('.');
        let (Some(service), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(RpcError::ill_formed(method));
        };
        if service == HANDSHAKE {
            return match name {
                "Hello" => {
                    let _: HelloRequest = Json::decode(params)?;
                    Json::encode(&self.hello().await)
                }
                _ => Err(RpcError::unknown_method(service, name)),
            };
        }
        match self.by_name.get(service) {
            Some(target) => target.call_json(name, params).await,
            None => Err(RpcError::unknown_service(method)),
        }
    }

    /// The handshake: every service's interface with its objects.
    pub(crate) async fn hello(&self) -> HelloResponse {
        let mut objects: BTreeMap<String, Vec<Object>> = BTreeMap::new();
        for service in &self.services {
            objects
                .entry(service.interface().to_string())
                .or_default()
                .extend(service.objects().await.into_iter().map(|name| Object { name, proxy_for: String::new() }));
        }
        HelloResponse { objects }
    }
}

/// Objects picked by the `Type` field of a request: `""` is the default object.
pub(crate) struct Typed<T: ?Sized> {
    default: Option<Arc<T>>,
    by_type: BTreeMap<String, Arc<T>>,
}

impl<T: ?Sized> Default for Typed<T> {
    fn default() -> Self {
        Self { default: None, by_type: BTreeMap::new() }
    }
}

impl<T: ?Sized> Typed<T> {
    /// Adds an object (`""` for the default); `false` if the name is taken.
    pub(crate) fn insert(&mut self, object: &str, plugin: Arc<T>) -> bool {
        if object.is_empty() {
            return self.default.is_none() && self.default.replace(plugin).is_none();
        }
        match self.by_type.entry(object.to_owned()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert(plugin);
                true
            }
        }
    }

    /// The object for a request's `Type`, or the original's `no-plugin:<type>`.
    pub(crate) fn select(&self, r#type: &str) -> Result<&Arc<T>, RpcError> {
        let found = if r#type.is_empty() { self.default.as_ref() } else { self.by_type.get(r#type) };
        found.ok_or_else(|| RpcError::new(SERVER_ERROR, format!("no-plugin:{type}")))
    }

    /// The handshake's object names: sorted, `"."` for the default.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_type.keys().cloned().collect();
        if self.default.is_some() {
            names.push(DEFAULT_OBJECT.to_owned());
        }
        names.sort();
        names
    }
}

/// Objects picked by the `Name` field of a request (the caller's full plugin name), with the
/// original's rules (`pkg/rpc/internal/keyed.go`). The default object is keyed `"."`.
pub(crate) struct Keyed<T: ?Sized> {
    by_key: BTreeMap<String, Arc<T>>,
}

impl<T: ?Sized> Default for Keyed<T> {
    fn default() -> Self {
        Self { by_key: BTreeMap::new() }
    }
}

impl<T: ?Sized> Clone for Keyed<T> {
    fn clone(&self) -> Self {
        Self { by_key: self.by_key.clone() }
    }
}

impl<T: ?Sized> Keyed<T> {
    /// Adds an object (`""` for the default); `false` if the name is taken.
    pub(crate) fn insert(&mut self, object: &str, plugin: Arc<T>) -> bool {
        let key = if object.is_empty() { DEFAULT_OBJECT } else { object };
        match self.by_key.entry(key.to_owned()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert(plugin);
                true
            }
        }
    }

    /// Resolves `lookup[/sub]`:
    /// - with no `sub` (or lookup `.`) and a single object, that object;
    /// - with no `sub`, the default object `.`;
    /// - else the object named like the lookup, then like `sub` (after its first `/`, if any);
    /// - else `not found: <name> (key=<sub>)`.
    pub(crate) fn resolve(&self, name: &str) -> Result<&Arc<T>, RpcError> {
        let (mut lookup, sub) = name.split_once('/').unwrap_or((name, ""));
        if (sub.is_empty() || lookup == DEFAULT_OBJECT)
            && self.by_key.len() == 1
            && let Some(only) = self.by_key.values().next()
        {
            return Ok(only);
        }
        if sub.is_empty() {
            lookup = DEFAULT_OBJECT;
        }
        let shifted = sub.split_once('/').map_or(sub, |(_, rest)| rest);
        self.by_key
            .get(lookup)
            .or_else(|| self.by_key.get(shifted))
            .ok_or_else(|| RpcError::new(SERVER_ERROR, format!("not found: {name} (key={sub})")))
    }

    /// The object that [`resolve`](Self::resolve) picks for `name` whatever objects are added
    /// later, if there is one: the object named by the lookup part (`.` with no `sub`), once
    /// there are two objects or more, since then the single-object rule cannot apply and the
    /// lookup is tried first. Lets a caller skip listing the objects that come and go.
    pub(crate) fn settled(&self, name: &str) -> Option<&Arc<T>> {
        if self.by_key.len() < 2 {
            return None;
        }
        let lookup = match name.split_once('/') {
            Some((lookup, sub)) if !sub.is_empty() => lookup,
            _ => DEFAULT_OBJECT,
        };
        self.by_key.get(lookup)
    }

    /// The handshake's object names, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.by_key.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(keys: &[&str]) -> Keyed<str> {
        let mut k = Keyed::default();
        for key in keys {
            assert!(k.insert(key, Arc::from(if key.is_empty() { "." } else { *key })));
        }
        k
    }

    fn resolve(k: &Keyed<str>, name: &str) -> Result<String, String> {
        k.resolve(name).map(|s| s.to_string()).map_err(|e| e.message)
    }

    #[test]
    fn keyed_resolution_follows_the_original() {
        let single = keyed(&[""]);
        assert_eq!(resolve(&single, "group-stateless"), Ok(".".into()));
        assert_eq!(resolve(&single, "group"), Ok(".".into()));
        assert_eq!(resolve(&single, "./anything"), Ok(".".into()));
        let named = keyed(&["workers"]);
        assert_eq!(resolve(&named, "mystack"), Ok("workers".into()));
        assert_eq!(resolve(&named, "mystack/workers"), Ok("workers".into()));
        assert_eq!(resolve(&named, "mystack/a/workers"), Ok("workers".into()));
        let many = keyed(&["", "workers", "managers"]);
        assert_eq!(resolve(&many, "mystack"), Ok(".".into()));
        assert_eq!(resolve(&many, "mystack/managers"), Ok("managers".into()));
        assert_eq!(resolve(&many, "workers/x"), Ok("workers".into()));
        assert_eq!(resolve(&many, "mystack/nope"), Err("not found: mystack/nope (key=nope)".into()));
        let no_default = keyed(&["workers", "managers"]);
        assert_eq!(resolve(&no_default, "mystack"), Err("not found: mystack (key=)".into()));
    }

    #[test]
    fn a_settled_object_is_what_resolve_picks_with_any_objects_added() {
        let single = keyed(&["groups"]);
        assert!(single.settled("group").is_none(), "one object: the single-object rule may apply");
        let manager = keyed(&["", "groups"]);
        for name in ["group", "group/groups", "web", "group/web", "./web", "group/a/web"] {
            let mut more = manager.clone();
            assert!(more.insert("web", Arc::from("web")));
            let settled = manager.settled(name).map(|s| s.to_string());
            if let Some(settled) = settled {
                assert_eq!(resolve(&more, name), Ok(settled), "{name}");
            }
        }
        assert_eq!(manager.settled("group").map(|s| s.to_string()), Some(".".into()));
        assert_eq!(manager.settled("web").map(|s| s.to_string()), Some(".".into()));
        assert!(manager.settled("group/web").is_none());
        assert!(manager.settled("group/groups").is_none(), "found by sub, which an added key may shadow");
    }

    #[test]
    fn typed_selection_and_names() {
        let mut t: Typed<str> = Typed::default();
        assert!(t.insert("compute", Arc::from("c")));
        assert!(t.insert("", Arc::from("d")));
        assert!(!t.insert("compute", Arc::from("again")));
        assert!(!t.insert("", Arc::from("again")));
        assert_eq!(t.select("").map(|s| s.to_string()), Ok("d".into()));
        assert_eq!(t.select("compute").map(|s| s.to_string()), Ok("c".into()));
        assert_eq!(t.select("disk").map_err(|e| e.message), Err("no-plugin:disk".into()));
        assert_eq!(t.names(), vec![".".to_owned(), "compute".to_owned()]);
    }
}
