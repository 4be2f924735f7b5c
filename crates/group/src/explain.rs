//! The texts `CommitGroup` returns, exactly as the original words them.

/// The text for the first commit of a group of `size` members.
pub fn managing(size: u64) -> String {
    format!("Managing {size} instances")
}

/// The text for a commit that changes a group of cattle from `old_size` to `new_size`, with
/// `undesired` members on another config and `desired` members on the new one.
pub fn cattle_update(old_size: u64, new_size: u64, undesired: u64, desired: u64) -> String {
    if new_size == old_size {
        return rolling_or_noop(undesired);
    }
    if new_size < old_size {
        let terminate = old_size - new_size;
        let roll = new_size.saturating_sub(desired);
        let text = format!("Terminating {terminate} instances to reduce the group size to {new_size}");
        return if roll == 0 { text } else { format!("{text}, then performing a rolling update on {roll} instances") };
    }
    let add = new_size - old_size;
    if undesired == 0 {
        format!("Adding {add} instances to increase the group size to {new_size}")
    } else {
        format!(
            "Performing a rolling update on {undesired} instances, then adding {add} instances to increase the group size to {new_size}"
        )
    }
}

/// The text for a commit to a group of pets with `undesired` members on another config.
pub fn rolling_or_noop(undesired: u64) -> String {
    if undesired == 0 { "Noop".to_owned() } else { format!("Performing a rolling update on {undesired} instances") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_the_original() {
        assert_eq!(managing(3), "Managing 3 instances");
        assert_eq!(cattle_update(3, 3, 0, 3), "Noop");
        assert_eq!(cattle_update(3, 3, 3, 0), "Performing a rolling update on 3 instances");
        assert_eq!(
            cattle_update(3, 8, 3, 0),
            "Performing a rolling update on 3 instances, then adding 5 instances to increase the group size to 8"
        );
        assert_eq!(cattle_update(3, 8, 0, 3), "Adding 5 instances to increase the group size to 8");
        assert_eq!(cattle_update(3, 1, 0, 3), "Terminating 2 instances to reduce the group size to 1");
        assert_eq!(
            cattle_update(5, 3, 5, 0),
            "Terminating 2 instances to reduce the group size to 3, then performing a rolling update on 3 instances"
        );
    }
}
