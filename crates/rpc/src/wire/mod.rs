//! The params and results of every method, field for field as the original's `pkg/rpc/<spi>/types.go`.
//!
//! Both sides use these types: the server decodes requests and encodes responses with them, the
//! typed clients the other way round, so the two cannot drift apart. Field order is Go's, because
//! the JSON is written in declaration order and the golden tests compare bytes. Every response
//! echoes the request's `Type` (Instance, Flavor) or `Name` (Group).
//!
//! Fields that carry a call's payload or target (a spec, an instance ID, a size) are required: a
//! request without them is rejected before it reaches a plugin, so it cannot change any state.
//! Original clients always send every field, so this strictness costs them nothing.

pub mod flavor;
pub mod group;
pub mod handshake;
pub mod instance;
