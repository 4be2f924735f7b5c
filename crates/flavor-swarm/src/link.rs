//! The link between an instance and its swarm node, as the original made it: a random value in
//! the instance's tags (`infrakit-link`) and in the node engine's labels, with a context naming
//! the swarm and the role (`infrakit-link-context: swarm::<cluster ID>::<role>`).

use std::collections::BTreeMap;

use rand::Rng;
use rand::distr::Alphanumeric;

/// The tag and engine label holding the link's value.
pub const LINK: &str = "infrakit-link";
/// The tag and engine label holding the link's context.
pub const LINK_CONTEXT: &str = "infrakit-link-context";

/// A link: its value and context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The random value shared by the instance's tags and its node's engine labels.
    pub value: String,
    /// `swarm::<cluster ID>::<role>`.
    pub context: String,
}

impl Link {
    /// A new link for a member of `role` in the swarm `cluster` (`?` when there is none yet).
    pub fn new(cluster: &str, role: &str) -> Self {
        let value = rand::rng().sample_iter(&Alphanumeric).take(16).map(char::from).collect();
        Self { value, context: format!("swarm::{cluster}::{role}") }
    }

    /// The link an instance's tags carry, if any.
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Option<Self> {
        let value = tags.get(LINK).filter(|v| !v.is_empty())?.clone();
        Some(Self { value, context: tags.get(LINK_CONTEXT).cloned().unwrap_or_default() })
    }

    /// The tags (and engine labels) that carry the link.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(LINK.to_owned(), self.value.clone()), (LINK_CONTEXT.to_owned(), self.context.clone())])
    }

    /// The node-list filter that finds the linked node: `label=infrakit-link=<value>`.
    pub fn filter(&self) -> String {
        format!("{LINK}={}", self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_reads_back_from_the_tags_it_writes() {
        let link = Link::new("abc", "worker");
        assert_eq!(link.value.len(), 16);
        assert_eq!(link.context, "swarm::abc::worker");
        let tags: BTreeMap<_, _> = link.labels().into_iter().collect();
        assert_eq!(Link::from_tags(&tags), Some(link.clone()));
        assert_eq!(link.filter(), format!("infrakit-link={}", link.value));
        assert_eq!(Link::from_tags(&BTreeMap::new()), None);
    }
}
