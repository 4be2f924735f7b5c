//! Integration tests: the real `infrakit` binary against real plugins on real unix sockets,
//! one test binary with a module per area.

mod aws_group;
mod ceiling;
mod destroy;
mod docker;
mod etcd_ha;
mod group_e2e;
mod keyed;
mod playbook;
mod plugins;
mod reap;
mod remote;
mod swarm;
mod template;
mod up;
mod util;
