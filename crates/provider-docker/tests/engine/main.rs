//! Tests against the machine's real Docker engine, in one binary: the plugin alone, and the group
//! controller keeping its containers.

mod group;
mod plugin;
mod support;
