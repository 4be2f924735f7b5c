//! Client-side rate limiting shaped like EC2's own, with backoff when EC2 throttles anyway.
//!
//! EC2 limits each account and region with token buckets per API class (see the table in
//! [`Api::buckets`]). Spending a bucket down makes EC2 answer `RequestLimitExceeded` to every tool
//! in the account, not just this one, so the plugin keeps its own estimate of each bucket and
//! waits for tokens before calling. When EC2 throttles anyway (another tool shares the account),
//! the estimate was too generous: the API's buckets are emptied, so concurrent callers wait too,
//! and the call is retried after a jittered exponential backoff. Every call is counted per API.

mod backoff;
mod bucket;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use tokio::time::Instant;
use tracing::debug;

pub use bucket::{BucketShape, TokenBucket};

use crate::error::{Ec2Error, ErrorKind};

/// Attempts of one call before its last error is returned: eight backoffs add up to about
/// 45 s at most, beyond which the caller (the group controller's next pass) is the better retry.
const MAX_ATTEMPTS: u32 = 9;

/// The EC2 APIs this plugin calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Api {
    /// `DescribeInstances`, always filtered.
    DescribeInstances,
    /// `DescribeVolumes`, always filtered.
    DescribeVolumes,
    /// `RunInstances`, one instance per call.
    RunInstances,
    /// `TerminateInstances`.
    TerminateInstances,
    /// `CreateTags`.
    CreateTags,
    /// `AttachVolume`.
    AttachVolume,
}

impl Api {
    /// Every API, in counter order.
    pub const ALL: [Api; 6] = [
        Api::DescribeInstances,
        Api::DescribeVolumes,
        Api::RunInstances,
        Api::TerminateInstances,
        Api::CreateTags,
        Api::AttachVolume,
    ];

    /// The buckets a call spends from, and whether it spends one token per request or one per
    /// resource (instance) it names. EC2's published shapes, per account and region:
    ///
    /// | bucket | capacity | refill / s |
    /// |---|---|---|
    /// | non-mutating, filtered or paginated | 100 | 20 |
    /// | mutating (default) | 50 | 5 |
    /// | `RunInstances` requests / instances | 5 / 1000 | 2 / 2 |
    /// | `TerminateInstances` requests / instances | 100 / 1000 | 5 / 20 |
    /// | `CreateTags` | 100 | 10 |
    fn buckets(self) -> &'static [(Bucket, Cost)] {
        match self {
            Api::DescribeInstances | Api::DescribeVolumes => &[(Bucket::NonMutating, Cost::Request)],
            Api::RunInstances => {
                &[(Bucket::RunInstancesRequests, Cost::Request), (Bucket::RunInstancesResources, Cost::Resources)]
            }
            Api::TerminateInstances => &[
                (Bucket::TerminateInstancesRequests, Cost::Request),
                (Bucket::TerminateInstancesResources, Cost::Resources),
            ],
            Api::CreateTags => &[(Bucket::CreateTags, Cost::Request)],
            Api::AttachVolume => &[(Bucket::Mutating, Cost::Request)],
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// EC2's token buckets that this plugin's calls spend from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    NonMutating,
    Mutating,
    RunInstancesRequests,
    RunInstancesResources,
    TerminateInstancesRequests,
    TerminateInstancesResources,
    CreateTags,
}

impl Bucket {
    const ALL: [Bucket; 7] = [
        Bucket::NonMutating,
        Bucket::Mutating,
        Bucket::RunInstancesRequests,
        Bucket::RunInstancesResources,
        Bucket::TerminateInstancesRequests,
        Bucket::TerminateInstancesResources,
        Bucket::CreateTags,
    ];

    fn shape(self) -> BucketShape {
        let (capacity, refill_per_second) = match self {
            Bucket::NonMutating => (100.0, 20.0),
            Bucket::Mutating => (50.0, 5.0),
            Bucket::RunInstancesRequests => (5.0, 2.0),
            Bucket::RunInstancesResources => (1000.0, 2.0),
            Bucket::TerminateInstancesRequests => (100.0, 5.0),
            Bucket::TerminateInstancesResources => (1000.0, 20.0),
            Bucket::CreateTags => (100.0, 10.0),
        };
        BucketShape { capacity, refill_per_second }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a call costs a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cost {
    /// One token per request.
    Request,
    /// One token per resource the request names.
    Resources,
}

/// How one API has fared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiCount {
    /// Requests sent, retries included.
    pub calls: u64,
    /// Requests EC2 answered with a throttling error.
    pub throttled: u64,
    /// Calls that failed for good, after any retries.
    pub failed: u64,
}

/// The plugin's estimate of EC2's buckets, and its call counters.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    buckets: Vec<TokenBucket>,
    counts: BTreeMap<Api, ApiCount>,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Limiter {
    /// A limiter whose buckets start full, as EC2's do for an idle account.
    pub fn new() -> Self {
        let now = Instant::now();
        let buckets = Bucket::ALL.iter().map(|b| TokenBucket::full(b.shape(), now)).collect();
        Self { state: Mutex::new(State { buckets, counts: BTreeMap::new() }) }
    }

    /// Calls `attempt` once tokens allow, retrying with backoff while it fails retryably.
    /// `resources` is the number of instances the call names, for the buckets that count them.
    pub async fn call<T, F, Fut>(&self, api: Api, resources: u32, mut attempt: F) -> Result<T, Ec2Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Ec2Error>>,
    {
        let mut attempts = 0;
        loop {
            self.acquire(api, resources).await;
            attempts += 1;
            self.count(api, |c| c.calls += 1);
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if error.kind == ErrorKind::Throttled {
                self.throttled(api);
            }
            if !error.retryable() || attempts >= MAX_ATTEMPTS {
                self.count(api, |c| c.failed += 1);
                return Err(error);
            }
            let pause = backoff::delay(attempts, rand::random::<f64>());
            debug!(%api, attempts, ?pause, %error, "retrying an EC2 call");
            tokio::time::sleep(pause).await;
        }
    }

    /// The counters of every API called so far.
    pub fn counts(&self) -> BTreeMap<Api, ApiCount> {
        self.lock().counts.clone()
    }

    /// Waits until every bucket of `api` holds the call's cost, then takes it.
    async fn acquire(&self, api: Api, resources: u32) {
        loop {
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                let costs = api.buckets().iter().map(|&(bucket, cost)| (bucket.index(), cost.of(resources)));
                let wait = costs.clone().map(|(b, cost)| state.buckets[b].available_in(cost, now)).max();
                match wait {
                    Some(wait) if !wait.is_zero() => wait,
                    _ => {
                        costs.for_each(|(b, cost)| state.buckets[b].take(cost, now));
                        return;
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn throttled(&self, api: Api) {
        let mut state = self.lock();
        let now = Instant::now();
        for &(bucket, _) in api.buckets() {
            state.buckets[bucket.index()].drain(now);
        }
        state.counts.entry(api).or_default().throttled += 1;
    }

    fn count(&self, api: Api, update: impl FnOnce(&mut ApiCount)) {
        update(self.lock().counts.entry(api).or_default());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain numbers, valid after any panic of a holder.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Cost {
    fn of(self, resources: u32) -> f64 {
        match self {
            Cost::Request => 1.0,
            Cost::Resources => f64::from(resources.max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn throttle(api: Api) -> Ec2Error {
        Ec2Error {
            api,
            kind: ErrorKind::Throttled,
            code: Some("RequestLimitExceeded".into()),
            message: "Request limit exceeded.".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn run_instances_bursts_five_then_runs_at_two_a_second() {
        let limiter = Limiter::new();
        let start = Instant::now();
        for _ in 0..5 {
            limiter.call(Api::RunInstances, 1, || async { Ok(()) }).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        for _ in 0..4 {
            limiter.call(Api::RunInstances, 1, || async { Ok(()) }).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2), "then two a second");
        assert_eq!(limiter.counts()[&Api::RunInstances], ApiCount { calls: 9, throttled: 0, failed: 0 });
    }

    #[tokio::test(start_paused = true)]
    async fn buckets_are_per_class() {
        let limiter = Limiter::new();
        for _ in 0..5 {
            limiter.call(Api::RunInstances, 1, || async { Ok(()) }).await.unwrap();
        }
        let start = Instant::now();
        limiter.call(Api::DescribeInstances, 1, || async { Ok(()) }).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO, "describes do not wait for RunInstances tokens");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_backs_off_and_is_retried() {
        let limiter = Limiter::new();
        let tries = AtomicU32::new(0);
        let start = Instant::now();
        let answer = limiter
            .call(Api::CreateTags, 1, || async {
                if tries.fetch_add(1, Ordering::SeqCst) < 2 { Err(throttle(Api::CreateTags)) } else { Ok("tagged") }
            })
            .await;
        assert_eq!(answer.unwrap(), "tagged");
        assert_eq!(limiter.counts()[&Api::CreateTags], ApiCount { calls: 3, throttled: 2, failed: 0 });
        // Each throttle empties the 10/s bucket: two refills of one token at least, and the two
        // backoffs at most 200 ms + 400 ms on top.
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(200) && waited <= Duration::from_millis(800), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_slows_concurrent_callers_of_the_same_api() {
        let limiter = Limiter::new();
        limiter.throttled(Api::TerminateInstances);
        let start = Instant::now();
        limiter.call(Api::TerminateInstances, 1, || async { Ok(()) }).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(200), "one request token at 5 a second");
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_call_is_not_retried_and_persistent_throttling_gives_up() {
        let limiter = Limiter::new();
        let rejected = Ec2Error {
            api: Api::RunInstances,
            kind: ErrorKind::Rejected,
            code: Some("InvalidAMIID.Malformed".into()),
            message: "bad".into(),
        };
        let error = limiter.call(Api::RunInstances, 1, || async { Err::<(), _>(rejected.clone()) }).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Rejected);
        assert_eq!(limiter.counts()[&Api::RunInstances], ApiCount { calls: 1, throttled: 0, failed: 1 });

        let error =
            limiter.call(Api::CreateTags, 1, || async { Err::<(), _>(throttle(Api::CreateTags)) }).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Throttled);
        assert_eq!(
            limiter.counts()[&Api::CreateTags],
            ApiCount { calls: MAX_ATTEMPTS as u64, throttled: MAX_ATTEMPTS as u64, failed: 1 }
        );
    }
}
