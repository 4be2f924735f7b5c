//! The AWS EC2 instance plugin, on the official AWS SDK for Rust.
//!
//! It serves the original's `ec2-instance` object with the original's `Properties`
//! (`RunInstancesInput`, `Tags`, `AttachVolumeInputs`), and does better where the original could
//! leak or overload an account:
//! - instances are tagged at launch (`TagSpecifications`), never untagged and unowned;
//! - a provision is idempotent: a client token derived from the group's provision token (or a
//!   pet's logical ID) means a retry finds or returns the first launch instead of a second;
//! - calls are paced by client-side token buckets shaped like EC2's, back off when EC2 throttles
//!   anyway, and are counted per API.
//!
//! Region, credentials and endpoint come from the standard AWS chain, so an emulator or another
//! region is only configuration.
//!
//! # Layout
//! - [`plugin`]: the Instance interface over EC2.
//! - [`properties`]: the `Properties` schema.
//! - [`launch`]: a spec as one `RunInstances` request.
//! - [`client_token`]: the launch's idempotency token.
//! - [`describe`]: an EC2 instance as a description.
//! - [`ec2`]: the EC2 calls, each through the limiter.
//! - [`rate`]: token buckets, backoff and call counters.
//! - [`error`]: EC2 errors sorted by what to do about them.
//! - [`options`]: region, endpoint, profile and namespace.

pub mod client_token;
pub mod describe;
pub mod ec2;
pub mod error;
pub mod launch;
pub mod options;
pub mod plugin;
pub mod properties;
pub mod rate;

pub use options::AwsOptions;
pub use plugin::Ec2InstancePlugin;

/// The name of the plugin's one object, as group specs address it: `aws/ec2-instance`.
pub const EC2_INSTANCE_OBJECT: &str = "ec2-instance";
