//! One look at a group's health: each listed member's health from the flavor (the listing is
//! [`crate::listing`]'s). Reads only; a failing health check counts as `Unknown` (as in the
//! original).

use futures::StreamExt;
use infrakit_spi::flavor::Health;
use infrakit_spi::instance::Description;

use crate::model::{Member, Observed};
use crate::target::Config;

/// Health checks in flight at once per group: enough to check a large group within a poll over
/// a remote flavor, few enough not to flood it.
pub const HEALTH_CHECK_CONCURRENCY: usize = 32;

/// Asks the flavor about each of a group's members, as listed.
pub async fn observe(config: &Config, descriptions: Vec<Description>) -> Observed {
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
    Observed { members }
}
