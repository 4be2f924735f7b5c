//! Integration tests of the RPC transport, all over real unix sockets in temporary directories.

mod bad_input;
mod golden;
mod handshake;
mod roundtrip;
mod support;
