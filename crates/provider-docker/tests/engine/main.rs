//! Tests against real Docker engines, in one binary: the plugin alone and the group controller
//! keeping its containers on the machine's engine, and a group living through the restart of an
//! engine of the test's own.

mod controller;
mod group;
mod plugin;
mod private_engine;
mod restart;
mod support;
