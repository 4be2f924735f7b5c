//! One look at a group: its members from the instance plugin, each member's health from the
//! flavor. Reads only; an unreachable instance plugin fails the pass, a failing health check
//! counts as `Unknown` (as in the original).

use futures::StreamExt;
use infrakit_spi::Result;
use infrakit_spi::flavor::Health;

use crate::model::{Member, Observed};
use crate::target::Config;

/// Health checks in flight at once per group: enough to check a large group within a poll over
/// a remote flavor, few enough not to flood it.
pub const HEALTH_CHECK_CONCURRENCY: usize = 32;

/// Lists a group's members and asks the flavor about each.
pub async fn observe(config: &Config) -> Result<Observed> {
    let descriptions = config.list().await?;
    let properties = config.flavor_properties();
    let flavor = &config.flavor;
    // Boxed futures built up front keep the stream's type free of closure lifetimes, which the
    // spawned group task needs.
    let checks: Vec<_> = descriptions.iter().map(|d| flavor.healthy(properties, d)).collect();
    let healths: Vec<Health> = futures::stream::iter(checks)
        .buffered(HEALTH_CHECK_CONCURRENCY)
        .map(|health| health.unwrap_or(Health::Unknown))
        .collect()
        .await;
    let members = descriptions.into_iter().zip(healths).map(|(d, h)| Member::new(d, h)).collect();
    Ok(Observed { members })
}
