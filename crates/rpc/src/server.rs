//! Serving a plugin: [`PluginServer`] gathers its objects and services, [`PluginServer::bind`]
//! claims its name in the plugins directory, and [`BoundServer::serve`] answers until told to stop.
//!
//! One task per connection runs hyper's HTTP/1.1 server (keep-alive, so a client's pooled
//! connection serves many calls). On shutdown the server stops accepting, lets every connection
//! finish the request it is serving (event streams end at once), waits at most
//! [`SHUTDOWN_GRACE`], then removes its socket and pid file.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use infrakit_spi::changes::{ChangeStream, changes_topic};
use infrakit_spi::flavor::FlavorPlugin;
use infrakit_spi::group::GroupPlugin;
use infrakit_spi::instance::InstancePlugin;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::claim::{Claim, ServeError};
use crate::endpoints::{self, Plugin};
use crate::events::{Event, EventBus};
use crate::info::VendorInfo;
use crate::service::Service;
use crate::services::flavor::{self, FlavorService};
use crate::services::group::{self, GroupObjects, GroupService};
use crate::services::instance::{self, InstanceService};
use crate::services::{Registry, Typed};

/// How many connections a plugin serves at once; more wait in the listen backlog. Bounds the
/// memory a burst of clients can pin (each may be buffering a request body).
pub const MAX_CONNECTIONS: usize = 1024;

/// How long shutdown waits for calls in progress (the original's graceful timeout).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long to pause after a failed `accept` (say, out of file descriptors) before the next, so
/// that a persistent failure does not spin.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// A plugin to serve, built up object by object.
///
/// ```no_run
/// # use std::sync::Arc;
/// # async fn run(compute: Arc<dyn infrakit_spi::instance::InstancePlugin>) -> Result<(), infrakit_rpc::ServeError> {
/// let server = infrakit_rpc::PluginServer::new("simulator")
///     .instance("compute", compute)
///     .bind(&infrakit_rpc::plugins_dir())
///     .await?;
/// server.serve(async { tokio::signal::ctrl_c().await.unwrap_or_default() }).await
/// # }
/// ```
pub struct PluginServer {
    name: String,
    /// In registration order, one per service; the first is what `/info/api.json` describes.
    services: Vec<Registration>,
    events: EventBus,
    /// Instance objects that push changes, published on the bus while the plugin serves.
    changes: Vec<(String, ChangeStream)>,
    vendor: Option<VendorInfo>,
    /// The first object registered twice: reported by `bind`, since the builder cannot fail.
    duplicate: Option<(&'static str, String)>,
}

enum Registration {
    Instance(Typed<dyn InstancePlugin>),
    Flavor(Typed<dyn FlavorPlugin>),
    Group(GroupObjects),
    Custom(Arc<dyn Service>),
}

impl Registration {
    fn instances(&mut self) -> Option<&mut Typed<dyn InstancePlugin>> {
        if let Self::Instance(objects) = self { Some(objects) } else { None }
    }

    fn flavors(&mut self) -> Option<&mut Typed<dyn FlavorPlugin>> {
        if let Self::Flavor(objects) = self { Some(objects) } else { None }
    }

    fn groups(&mut self) -> Option<&mut GroupObjects> {
        if let Self::Group(objects) = self { Some(objects) } else { None }
    }
}

impl PluginServer {
    /// A plugin that will listen under this name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            services: Vec::new(),
            events: EventBus::new(),
            changes: Vec::new(),
            vendor: None,
            duplicate: None,
        }
    }

    /// Serves an instance plugin as the object `object` (`""` for the default object), selected
    /// by the `Type` of requests. If the plugin pushes changes, they are published on the
    /// plugin's events at [`changes_topic`]`(object)` while it serves.
    pub fn instance(mut self, object: &str, plugin: Arc<dyn InstancePlugin>) -> Self {
        if let Some(changes) = plugin.changes() {
            self.changes.push((object.to_owned(), changes));
        }
        let inserted = self.add(Registration::instances, Registration::Instance, |o| o.insert(object, plugin));
        self.note_duplicate(inserted, instance::NAME, object)
    }

    /// Serves a flavor plugin as the object `object` (`""` for the default object), selected by
    /// the `Type` of requests.
    pub fn flavor(mut self, object: &str, plugin: Arc<dyn FlavorPlugin>) -> Self {
        let inserted = self.add(Registration::flavors, Registration::Flavor, |o| o.insert(object, plugin));
        self.note_duplicate(inserted, flavor::NAME, object)
    }

    /// Serves a group plugin as the object `object` (`""` for the default object), resolved from
    /// the `Name` of requests with the original's rules.
    pub fn group(mut self, object: &str, plugin: Arc<dyn GroupPlugin>) -> Self {
        let inserted = self.add(Registration::groups, Registration::Group, |o| o.fixed.insert(object, plugin));
        self.note_duplicate(inserted, group::NAME, object)
    }

    /// Serves every group that `plugin` manages as an object of its own, named by the group ID
    /// (so `<socket>/<ID>` reaches it), beside the objects given to [`group`](Self::group), as
    /// the original's manager does. The groups are listed with `inspect_groups` when a handshake
    /// or a request needs them; an ID that names a fixed object stays with that object. Given
    /// twice, the second plugin wins.
    pub fn groups_as_objects(mut self, plugin: Arc<dyn GroupPlugin>) -> Self {
        self.add(Registration::groups, Registration::Group, |o| o.per_group.replace(plugin).is_none());
        self
    }

    /// Serves another RPC service (the manager, a controller's extra methods).
    pub fn service(mut self, service: Arc<dyn Service>) -> Self {
        self.services.push(Registration::Custom(service));
        self
    }

    /// Serves this bus at `/events`. Without one, `/events` streams nothing.
    pub fn events(mut self, bus: EventBus) -> Self {
        self.events = bus;
        self
    }

    /// Reports who made the plugin in `/info/api.json`.
    pub fn vendor(mut self, vendor: VendorInfo) -> Self {
        self.vendor = Some(vendor);
        self
    }

    /// Claims the plugin's name in `dir`: the socket `<dir>/<name>` and the pid file
    /// `<dir>/<name>.pid`, replacing those of a dead plugin and refusing if a live one has them.
    pub async fn bind(self, dir: &Path) -> Result<BoundServer, ServeError> {
        let registry = registry(&self.name, self.duplicate, self.services)?;
        let (listener, claim) = Claim::take(dir, &self.name).await?;
        let changes = self.changes;
        let plugin = Arc::new(Plugin { registry, events: self.events, vendor: self.vendor });
        Ok(BoundServer { listener, claim, plugin, changes })
    }

    /// The plugin's JSON-RPC methods without a socket, refusing what [`bind`](Self::bind)
    /// refuses. Its events and pushed changes are not served.
    pub fn handler(self) -> Result<RequestHandler, ServeError> {
        Ok(RequestHandler { registry: registry(&self.name, self.duplicate, self.services)? })
    }

    /// Inserts into the objects of a built-in service, registering the service on first use.
    fn add<O: Default>(
        &mut self,
        existing: fn(&mut Registration) -> Option<&mut O>,
        register: fn(O) -> Registration,
        insert: impl FnOnce(&mut O) -> bool,
    ) -> bool {
        let index = match self.services.iter_mut().position(|r| existing(r).is_some()) {
            Some(index) => index,
            None => {
                self.services.push(register(O::default()));
                self.services.len() - 1
            }
        };
        existing(&mut self.services[index]).is_some_and(insert)
    }

    fn note_duplicate(mut self, inserted: bool, service: &'static str, object: &str) -> Self {
        if !inserted && self.duplicate.is_none() {
            self.duplicate = Some((service, object.to_owned()));
        }
        self
    }
}

/// The services of a plugin under their names; refuses an object or a service given twice.
fn registry(
    name: &str,
    duplicate: Option<(&'static str, String)>,
    registrations: Vec<Registration>,
) -> Result<Registry, ServeError> {
    if let Some((service, object)) = duplicate {
        return Err(ServeError::DuplicateObject { name: name.to_owned(), service: service.to_owned(), object });
    }
    let services = registrations
        .into_iter()
        .map(|registration| -> Arc<dyn Service> {
            match registration {
                Registration::Instance(objects) => Arc::new(InstanceService { objects }),
                Registration::Flavor(objects) => Arc::new(FlavorService { objects }),
                Registration::Group(objects) => Arc::new(GroupService { objects }),
                Registration::Custom(service) => service,
            }
        })
        .collect();
    Registry::new(services).map_err(|service| ServeError::DuplicateService { name: name.to_owned(), service })
}

/// A plugin's JSON-RPC methods in this process: request bodies in, response bodies out, by the
/// same code as a socket's `POST /` but without HTTP. What the fuzz target drives, since a socket
/// would bury the decoding under connection handling.
pub struct RequestHandler {
    registry: Registry,
}

impl RequestHandler {
    /// The body `POST /` answers to `body` with (empty for a notification).
    pub async fn answer(&self, body: &[u8]) -> Vec<u8> {
        endpoints::answer(&self.registry, body).await
    }
}

/// A plugin that owns its socket and is ready to serve. Dropping it without serving releases the
/// socket and the pid file.
pub struct BoundServer {
    listener: UnixListener,
    claim: Claim,
    plugin: Arc<Plugin>,
    changes: Vec<(String, ChangeStream)>,
}

impl BoundServer {
    /// The socket the plugin listens on.
    pub fn socket_path(&self) -> &Path {
        self.claim.socket()
    }

    /// Serves until `shutdown` completes, then stops gracefully and removes the socket and the
    /// pid file.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let Self { listener, claim, plugin, changes } = self;
        let mut publishers = JoinSet::new();
        for (object, changes) in changes {
            publishers.spawn(publish_changes(changes, changes_topic(&object), plugin.events.clone()));
        }
        let (stop, stopping) = watch::channel(false);
        let capacity = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = accept(&listener, &capacity) => match accepted {
                    Ok((stream, permit)) => {
                        connections.spawn(connection(stream, Arc::clone(&plugin), stopping.clone(), permit));
                    }
                    Err(e) => {
                        tracing::warn!(socket = %claim.socket().display(), error = %e, "accept failed");
                        tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                    }
                },
            }
        }

        drop(listener);
        publishers.abort_all();
        stop.send_replace(true);
        let drained =
            tokio::time::timeout(SHUTDOWN_GRACE, async { while connections.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(socket = %claim.socket().display(), remaining = connections.len(),
                "calls still running after the shutdown grace period; aborting them");
            connections.shutdown().await;
        }
        tracing::info!(socket = %claim.socket().display(), "plugin stopped");
        drop(claim);
        Ok(())
    }
}

/// Publishes an instance object's changes at `topic`, each as an event whose `Data` is the
/// change, until the plugin stops reporting them.
async fn publish_changes(mut changes: ChangeStream, topic: String, events: EventBus) {
    let mut sequence: u64 = 0;
    while let Some(change) = changes.next().await {
        sequence += 1;
        let mut event = Event::new(sequence.to_string(), format!("{:?} {}", change.kind, change.id));
        event.r#type = "InstanceChange".to_owned();
        event.data = serde_json::to_value(&change).ok();
        events.publish(&topic, event);
    }
}

async fn accept(
    listener: &UnixListener,
    capacity: &Arc<Semaphore>,
) -> std::io::Result<(UnixStream, OwnedSemaphorePermit)> {
    let permit = Arc::clone(capacity).acquire_owned().await.map_err(std::io::Error::other)?;
    let (stream, _) = listener.accept().await?;
    Ok((stream, permit))
}

/// Serves one connection until the client closes it or the server stops.
async fn connection(
    stream: UnixStream,
    plugin: Arc<Plugin>,
    mut stopping: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let streams_stop = stopping.clone();
    let service = service_fn(move |request| endpoints::handle(Arc::clone(&plugin), streams_stop.clone(), request));
    let served = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    let result = tokio::select! {
        result = served.as_mut() => result,
        // The server only ever signals stop (or goes away): either way, finish up.
        _ = stopping.changed() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_handler_answers_like_the_socket() {
        let handler = PluginServer::new("p").handler().unwrap();
        let hello = handler.answer(br#"{"jsonrpc":"2.0","method":"Handshake.Hello","params":[{}],"id":1}"#).await;
        assert_eq!(String::from_utf8(hello).unwrap(), "{\"jsonrpc\":\"2.0\",\"result\":{\"Objects\":{}},\"id\":1}\n");
        let unknown = handler.answer(br#"{"jsonrpc":"2.0","method":"Nope.Call","id":"a"}"#).await;
        assert!(String::from_utf8(unknown).unwrap().contains(r#""message":"rpc: can't find service \"Nope.Call\"""#));
        assert!(handler.answer(br#"{"jsonrpc":"2.0","method":"Nope.Call"}"#).await.is_empty());
    }
}
