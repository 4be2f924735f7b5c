//! The swarm flavor, compatible with the original's: the members of a group form a Docker Swarm.
//!
//! Served as two objects of one plugin, `swarm/manager` and `swarm/worker`. `Prepare` asks the
//! swarm (the engine at `Docker.Host`, else a manager it knew) for its state and join tokens and
//! renders the member's init script from them: the manager whose logical ID is `SwarmJoinIP`
//! initialises the swarm when there is none, the others join it with the manager or worker
//! token. The script gives the node's engine labels that link it to its instance (`infrakit-link`),
//! by which `Healthy` finds the node and `Drain` takes it out of the swarm.
//!
//! # Layout
//! - [`properties`]: the flavor's properties and their checks.
//! - [`link`]: the tags and engine labels that link an instance to its swarm node.
//! - [`swarm`]: what the flavor asks of the swarm ([`SwarmApi`]), and its implementation on an
//!   engine's API (bollard).
//! - [`script`]: the init script templates and the functions they see.
//! - [`flavor`]: the flavor itself.

pub mod flavor;
pub mod link;
pub mod properties;
pub mod script;
pub mod swarm;

pub use flavor::{Role, SwarmFlavor};
pub use swarm::{EngineSwarm, SwarmApi};
