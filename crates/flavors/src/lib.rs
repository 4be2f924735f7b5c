//! InfraKit's built-in flavors.
//!
//! - [`vanilla`]: adds an init script, tags and attachments to every member; always healthy.
//! - [`combo`]: runs several flavors in order and merges what they prepare.
//!
//! Both are compatible with the original's flavors of the same names: the same properties, the
//! same merged specs, the same messages.

pub mod combo;
pub mod vanilla;

pub use combo::Combo;
pub use vanilla::Vanilla;

use infrakit_spi::{Error, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads a flavor's properties; absent properties read as the default, as the original's
/// `types.Any.Decode` treats a nil value.
fn decode<T: DeserializeOwned + Default>(flavor: &str, properties: Option<&Value>) -> Result<T> {
    match properties {
        None | Some(Value::Null) => Ok(T::default()),
        Some(value) => {
            T::deserialize(value).map_err(|e| Error::invalid(format!("invalid {flavor} flavor properties: {e}")))
        }
    }
}
