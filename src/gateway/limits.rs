//! Per-subscription rate limits (sliding window) and quotas (fixed window,
//! persisted). Both are checked and charged under one lock, so under any
//! concurrency a limit of N admits exactly N.

use super::lock;
use crate::model::CallLimit;
use crate::store::{DynStore, QuotaCounter};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

#[derive(Debug, Default)]
struct Counters {
    /// Admission times within the sliding window, oldest first.
    recent: VecDeque<Instant>,
    quota_window_start: i64,
    quota_count: u64,
}

#[derive(Default)]
pub struct Limiter {
    counters: Mutex<HashMap<String, Counters>>,
    /// Subscriptions whose quota count changed since the last flush.
    dirty: Mutex<HashSet<String>>,
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Limiter {
    /// Restores persisted quota counts.
    pub async fn load(store: &DynStore) -> Result<Limiter, crate::store::StoreError> {
        let limiter = Limiter::default();
        let stored = store.load_quota_counters().await?;
        {
            let mut counters = lock(&limiter.counters);
            for counter in stored {
                let entry = counters.entry(counter.subscription).or_default();
                entry.quota_window_start = counter.window_start;
                entry.quota_count = to_u64(counter.count);
            }
        }
        Ok(limiter)
    }

    /// Admits `calls` requests for `caller` if both limits have room, charging both.
    pub fn admit(&self, caller: &str, rate: Option<CallLimit>, quota: Option<CallLimit>, calls: u64, now: Instant, unix_now: i64) -> Decision {
        if calls == 0 || (rate.is_none() && quota.is_none()) {
            return Decision::Admitted(Vec::new());
        }
        let mut all = lock(&self.counters);
        let counters = all.entry(caller.to_string()).or_default();
        let mut standings = Vec::new();
        let mut exceeded = None;

        if let Some(limit) = rate {
            let window = Duration::from_secs(to_u64(limit.period_seconds));
            while counters.recent.front().is_some_and(|t| now.duration_since(*t) >= window) {
                counters.recent.pop_front();
            }
            let used = counters.recent.len() as u64;
            let max = to_u64(limit.calls);
            let oldest_expiry = counters.recent.front().map_or(0, |t| (window.saturating_sub(now.duration_since(*t))).as_secs_f64().ceil() as u64);
            let standing = Standing { kind: LimitKind::RateLimit, limit, remaining: max.saturating_sub(used), reset_seconds: oldest_expiry.max(1) };
            if used + calls > max {
                exceeded = Some(standing);
            }
            standings.push(standing);
        }
        if let Some(limit) = quota {
            let period = limit.period_seconds.max(1);
            let window_start = unix_now - unix_now.rem_euclid(period);
            if counters.quota_window_start != window_start {
                counters.quota_window_start = window_start;
                counters.quota_count = 0;
            }
            let max = to_u64(limit.calls);
            let reset = to_u64(window_start + period - unix_now).max(1);
            let standing = Standing { kind: LimitKind::Quota, limit, remaining: max.saturating_sub(counters.quota_count), reset_seconds: reset };
            if exceeded.is_none() && counters.quota_count + calls > max {
                exceeded = Some(standing);
            }
            standings.push(standing);
        }
        if let Some(exceeded) = exceeded {
            return Decision::Throttled { exceeded, standings };
        }
        for standing in &mut standings {
            standing.remaining = standing.remaining.saturating_sub(calls);
        }
        if rate.is_some() {
            counters.recent.extend(std::iter::repeat_n(now, calls as usize));
        }
        if quota.is_some() {
            counters.quota_count += calls;
            drop(all);
            lock(&self.dirty).insert(caller.to_string());
        }
        Decision::Admitted(standings)
    }

    fn take_dirty(&self) -> Vec<QuotaCounter> {
        let names: Vec<String> = lock(&self.dirty).drain().collect();
        let all = lock(&self.counters);
        names
            .into_iter()
            .filter_map(|name| {
                let c = all.get(&name)?;
                Some(QuotaCounter { subscription: name, window_start: c.quota_window_start, count: i64::try_from(c.quota_count).unwrap_or(i64::MAX) })
            })
            .collect()
    }

    /// Writes changed quota counts to the store.
    pub async fn flush(&self, store: &DynStore) {
        let changed = self.take_dirty();
        if changed.is_empty() {
            return;
        }
        if let Err(err) = store.save_quota_counters(&changed).await {
            tracing::warn!(error = %err, "saving quota counters failed; will retry");
            lock(&self.dirty).extend(changed.into_iter().map(|c| c.subscription));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: CallLimit = CallLimit { calls: 3, period_seconds: 10 };

    #[test]
    fn sliding_window_admits_exactly_the_limit() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(matches!(limiter.admit("s", Some(RATE), None, 1, t0, 0), Decision::Admitted(_)));
        }
        match limiter.admit("s", Some(RATE), None, 1, t0 + Duration::from_secs(4), 4) {
            Decision::Throttled { exceeded, .. } => {
                assert_eq!(exceeded.kind, LimitKind::RateLimit);
                assert_eq!(exceeded.reset_seconds, 6);
            }
            other => panic!("expected throttling, got {other:?}"),
        }
        assert!(matches!(limiter.admit("s", Some(RATE), None, 1, t0 + Duration::from_secs(10), 10), Decision::Admitted(_)));
        assert!(matches!(limiter.admit("other", Some(RATE), None, 1, t0, 0), Decision::Admitted(_)), "per subscription");
    }

    #[test]
    fn fixed_window_quota_resets_at_the_boundary() {
        let limiter = Limiter::default();
        let quota = CallLimit { calls: 2, period_seconds: 60 };
        let t = Instant::now();
        assert!(matches!(limiter.admit("s", None, Some(quota), 2, t, 61), Decision::Admitted(_)));
        match limiter.admit("s", None, Some(quota), 1, t, 100) {
            Decision::Throttled { exceeded, .. } => assert_eq!((exceeded.kind, exceeded.reset_seconds), (LimitKind::Quota, 20)),
            other => panic!("expected throttling, got {other:?}"),
        }
        assert!(matches!(limiter.admit("s", None, Some(quota), 1, t, 120), Decision::Admitted(_)));
        assert_eq!(limiter.take_dirty(), vec![QuotaCounter { subscription: "s".into(), window_start: 120, count: 1 }]);
    }

    #[test]
    fn a_refused_batch_charges_nothing() {
        let limiter = Limiter::default();
        assert!(matches!(limiter.admit("s", Some(RATE), None, 4, Instant::now(), 0), Decision::Throttled { .. }));
        assert!(matches!(limiter.admit("s", Some(RATE), None, 3, Instant::now(), 0), Decision::Admitted(_)));
    }
}
