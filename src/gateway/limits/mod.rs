//! Per-subscription rate limits (sliding window) and quotas (fixed window).
//! Two implementations behind one type: [`local::LocalLimiter`] decides in
//! this process and reserves capacity in the store before spending it, so
//! no crash can make a window admit more than its limit;
//! [`redis::RedisLimiter`] decides in Redis with one atomic script per
//! request, so every gateway replica shares exact counts.

pub mod local;
pub mod redis;

use crate::model::CallLimit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    RateLimit,
    Quota,
}

impl LimitKind {
    pub fn reason(self) -> &'static str {
        match self {
            LimitKind::RateLimit => "rate_limit",
            LimitKind::Quota => "quota",
        }
    }
}

/// The limits of a caller's product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub rate: Option<CallLimit>,
    pub quota: Option<CallLimit>,
}

impl Limits {
    pub fn none(&self) -> bool {
        self.rate.is_none() && self.quota.is_none()
    }
}

/// Where a caller stands against one limit after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub kind: LimitKind,
    pub limit: CallLimit,
    pub remaining: u64,
    /// Seconds until capacity returns (sliding) or the window resets (fixed).
    pub reset_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Admitted(Vec<Standing>),
    Throttled { exceeded: Standing, standings: Vec<Standing> },
}

/// The counters could not be reached; the product's `limit_failure_mode` decides.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the limit counters are unavailable: {0}")]
pub struct Unavailable(pub String);

pub enum Limiter {
    Local(Box<local::LocalLimiter>),
    Redis(redis::RedisLimiter),
}

impl Limiter {
    /// Admits `calls` requests for `caller` if every limit has room, charging all of them.
    pub async fn admit(&self, caller: &str, limits: Limits, calls: u64) -> Result<Decision, Unavailable> {
        if calls == 0 || limits.none() {
            return Ok(Decision::Admitted(Vec::new()));
        }
        match self {
            Limiter::Local(local) => local.admit(caller, limits, calls).await,
            // Boxed: the script call's state would otherwise sit in every
            // call's future on a node that counts locally; beside a Redis
            // round trip, the allocation is nothing.
            Limiter::Redis(redis) => Box::pin(redis.admit(caller, limits, calls)).await,
        }
    }

    /// Gives back calls that were charged but never served (an upstream
    /// that refused a whole batch).
    pub async fn refund(&self, caller: &str, limits: Limits, calls: u64) {
        if calls == 0 || limits.none() {
            return;
        }
        match self {
            Limiter::Local(local) => local.refund(caller, limits, calls),
            Limiter::Redis(redis) => Box::pin(redis.refund(caller, limits, calls)).await,
        }
    }

    /// Returns reserved but unspent capacity to the store (shutdown).
    pub async fn release(&self) {
        if let Limiter::Local(local) = self {
            local.release().await;
        }
    }
}

/// Seconds until a fixed window starting at `window_start` ends.
fn window_reset(window_start: i64, period: i64, unix_now: i64) -> u64 {
    u64::try_from(window_start + period - unix_now).unwrap_or(0).max(1)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
