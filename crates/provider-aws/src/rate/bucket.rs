//! A token bucket, the shape in which EC2 publishes its request limits: a burst capacity and a
//! steady refill rate. The bucket is plain arithmetic over a caller-supplied clock, so the limiter
//! runs on tokio's (pausable) clock and tests step time by hand.

use std::time::Duration;

use tokio::time::Instant;

/// A capacity and a refill rate, as EC2's documentation lists them per API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketShape {
    /// Tokens held when full: the largest burst.
    pub capacity: f64,
    /// Tokens added per second, up to the capacity.
    pub refill_per_second: f64,
}

/// A token bucket at a moment in time.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    shape: BucketShape,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket of this shape, as at `now`.
    pub fn full(shape: BucketShape, now: Instant) -> Self {
        Self { shape, tokens: shape.capacity, updated: now }
    }

    /// How long until the bucket holds `cost` tokens, zero if it does at `now`. A cost above the
    /// capacity is clamped to it, so a large request waits for a full bucket rather than forever.
    pub fn available_in(&mut self, cost: f64, now: Instant) -> Duration {
        self.refill(now);
        let missing = cost.min(self.shape.capacity) - self.tokens;
        if missing <= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(missing / self.shape.refill_per_second) }
    }

    /// Takes `cost` tokens (clamped to the capacity); call it once [`Self::available_in`] is zero.
    pub fn take(&mut self, cost: f64, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - cost.min(self.shape.capacity)).max(0.0);
    }

    /// Empties the bucket: the server said it is throttling us, so our estimate of its bucket was
    /// too generous and every caller should wait for a refill.
    pub fn drain(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = 0.0;
    }

    /// The tokens held at `now`.
    pub fn tokens(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.shape.refill_per_second).min(self.shape.capacity);
        self.updated = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: BucketShape = BucketShape { capacity: 5.0, refill_per_second: 2.0 };

    #[test]
    fn a_full_bucket_allows_its_burst_then_says_how_long_to_wait() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(SHAPE, start);
        for _ in 0..5 {
            assert_eq!(bucket.available_in(1.0, start), Duration::ZERO);
            bucket.take(1.0, start);
        }
        assert_eq!(bucket.available_in(1.0, start), Duration::from_millis(500));
    }

    #[test]
    fn tokens_come_back_at_the_refill_rate_and_never_past_capacity() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(SHAPE, start);
        bucket.drain(start);
        assert_eq!(bucket.tokens(start + Duration::from_secs(1)), 2.0);
        assert_eq!(bucket.tokens(start + Duration::from_secs(60)), 5.0);
    }

    #[test]
    fn a_cost_above_capacity_waits_for_a_full_bucket() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(SHAPE, start);
        bucket.drain(start);
        assert_eq!(bucket.available_in(50.0, start), Duration::from_millis(2500));
        assert_eq!(bucket.available_in(50.0, start + Duration::from_millis(2500)), Duration::ZERO);
    }
}
