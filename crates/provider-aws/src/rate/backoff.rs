//! How long to wait before retrying a call that EC2 throttled or failed transiently: capped
//! exponential backoff with full jitter, so many callers throttled together do not retry together.

use std::time::Duration;

/// The first retry waits up to this long.
const BASE_DELAY: Duration = Duration::from_millis(200);

/// No retry waits longer than this: longer than EC2's slowest bucket takes to give back a token
/// (the RunInstances request bucket refills 2 a second), short enough for a group poll.
const MAX_DELAY: Duration = Duration::from_secs(20);

/// The delay before retry number `attempt` (1 for the first retry), given a `jitter` drawn
/// uniformly from `[0, 1)`: a uniform pick between zero and the capped exponential bound.
pub fn delay(attempt: u32, jitter: f64) -> Duration {
    let bound = BASE_DELAY.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1))).min(MAX_DELAY);
    bound.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_doubles_until_the_cap() {
        let almost_one = 1.0 - f64::EPSILON;
        let bounds: Vec<_> = (1..=9).map(|a| delay(a, almost_one).as_millis().div_ceil(100) * 100).collect();
        assert_eq!(bounds, [200, 400, 800, 1600, 3200, 6400, 12800, 20000, 20000]);
        assert_eq!(delay(u32::MAX, almost_one).as_secs().div_ceil(10) * 10, 20);
    }

    #[test]
    fn jitter_picks_within_the_bound() {
        assert_eq!(delay(3, 0.0), Duration::ZERO);
        assert_eq!(delay(3, 0.5), Duration::from_millis(400));
    }
}
