//! Integration tests of the RPC transport, all over real unix sockets in temporary directories.

mod bad_input;
mod changes;
mod client;
mod events;
mod external;
mod golden;
mod handshake;
mod keyed;
mod lifecycle;
mod roundtrip;
mod support;
mod tls;
