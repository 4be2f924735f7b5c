//! Instance plugins that need nothing installed, for tests, demos and the quick start.
//!
//! Each plugin implements [`infrakit_spi::instance::InstancePlugin`] and knows nothing of
//! transports: the `infrakit` binary serves them on unix sockets.
//!
//! # Layout
//! - [`file`]: one JSON file per instance in a folder, byte-compatible with the original's
//!   `file` plugin. Deleting a file by hand is an instance dying.
//! - [`simulator`]: in-memory typed objects (`compute`, `disk`, `net`) with knobs for latency,
//!   failures, capacity and eventually-consistent listing; the scale and fault test backend.
//! - [`process`]: each instance is a local OS process, tracked in a state folder so that a
//!   restarted plugin finds its processes again.
//! - [`options`]: what the plugins' options have in common: environment lookup and laying an
//!   options document over defaults.
//!
//! Every plugin has an options struct with PascalCase serde keys, like the original's, and a
//! `from_env()` that applies the original's environment variables.

mod atomic_write;
mod blocking;
pub mod file;
mod go_json;
pub mod options;
pub mod process;
pub mod simulator;

pub use file::{FileOptions, FilePlugin};
pub use options::OptionsError;
pub use process::{ProcessOptions, ProcessPlugin};
pub use simulator::{Knobs, Simulator, SimulatorObject, SimulatorOptions};
