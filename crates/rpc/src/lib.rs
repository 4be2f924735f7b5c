//! InfraKit's plugin transport: JSON-RPC 2.0 over HTTP/1.1 on unix sockets, wire-compatible with
//! the original, so that an original (Go) client or plugin works with these unchanged.
//!
//! This crate adapts; it decides nothing. A server turns requests into calls on the
//! `infrakit-spi` traits, a client turns trait calls into requests, and the plugin behind either
//! is the same `Arc<dyn InstancePlugin>` (or flavor, or group) to its callers.
//!
//! # Layout
//! - [`envelope`]: the JSON-RPC envelope as gorilla's `json2` codec writes it; [`RpcError`].
//! - [`wire`]: the params and results of every method, field for field as the original's.
//! - [`service`]: the [`Service`] trait, the extension point for more RPC services on a socket.
//! - `services`: the built-in Instance, Flavor and Group services, object selection by `Type` and
//!   by `Name`, and the handshake.
//! - `server`: [`PluginServer`] and [`BoundServer`]: serve a plugin, shut down gracefully;
//!   [`RequestHandler`]: its methods without a socket.
//! - `endpoints`: the HTTP routes, limits and status codes of a plugin.
//! - `claim`: the plugins directory, the socket and the pid file, stale-file recovery.
//! - [`events`]: [`Event`], [`EventBus`] and its topics, served as Server-Sent Events.
//! - `info`: `/info/api.json`.
//! - [`discovery`]: finding plugins in the directory.
//! - [`client`]: [`Client`] and the typed clients that implement the spi traits.
//! - `lookup`: [`RemoteLookup`], a [`PluginLookup`](infrakit_spi::lookup::PluginLookup) over
//!   discovery.
//! - `inventory`: [`plugin_info`], what every plugin serves (`infrakit plugin ls`).

mod claim;
pub mod client;
pub mod discovery;
mod endpoints;
pub mod envelope;
pub mod events;
mod info;
mod inventory;
mod lookup;
mod server;
pub mod service;
mod services;
pub mod tls;
pub mod wire;

pub use claim::{PLUGINS_DIR_ENV, PidDisplay, ServeError, plugins_dir};
pub use client::{Client, ClientOptions, FlavorClient, GroupClient, InstanceClient, RemoteSubscription};
pub use endpoints::MAX_REQUEST_BODY;
pub use envelope::RpcError;
pub use events::{Event, EventBus, Subscription};
pub use info::VendorInfo;
pub use inventory::{InterfaceObjects, PROBE_TIMEOUT, PluginInfo, plugin_info, qualified_name};
pub use lookup::RemoteLookup;
pub use server::{BoundServer, MAX_CONNECTIONS, PluginServer, RequestHandler, SHUTDOWN_GRACE};
pub use service::{MethodExample, Service, decode_params, encode_result};
