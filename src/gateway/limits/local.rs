//! Limits decided in this process, exact under any concurrency: each
//! caller's counters sit behind their own lock.
//!
//! Capacity is reserved in the store before it is spent. Quota units are
//! added to the window's stored count in chunks, and handed out from
//! memory; rate-limit capacity is taken in grants that live one second,
//! recorded with their end time. After a crash, every reserved unit counts
//! as spent (grants at their end time, which is no earlier than any call
//! they admitted), so a window can lose at most a chunk of unspent units
//! but never admit more than its limit. A clean shutdown gives unspent
//! units back.

use super::{to_u64, window_reset, Decision, LimitKind, Limits, Standing, Unavailable};
use crate::lock;
use crate::model::CallLimit;
use crate::store::{DynStore, RateGrant};
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a rate grant may be spent.
const GRANT_LIFETIME: Duration = Duration::from_secs(1);
/// Grants are stored grouped per this many milliseconds.
const GRANT_BUCKET_MS: i64 = 1000;
/// The largest reservation; chunks also stay under an eighth of the limit,
/// which bounds what a crash can strand.
const MAX_CHUNK: u64 = 4096;
/// Bound on sliding-window entries per caller; past it the two oldest merge
/// into the later one (conservative: they expire later).
const MAX_LOG_ENTRIES: usize = 4096;
/// How long a used-up quota window is believed without asking the store again.
const EXHAUSTED_RECHECK: Duration = Duration::from_secs(1);
/// The oldest grants worth replaying: the longest limit period.
const MAX_PERIOD_MS: i64 = crate::model::product::MAX_PERIOD_SECONDS * 1000;
const SHARDS: usize = 16;

/// The moment a decision is made, in both clocks it needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub now: Instant,
    pub unix_ms: i64,
}

impl Clock {
    fn current() -> Clock {
        Clock { now: Instant::now(), unix_ms: chrono::Utc::now().timestamp_millis() }
    }
}

#[derive(Default)]
struct RateState {
    /// Admissions in the sliding window: (time, calls), oldest first.
    log: VecDeque<(Instant, u64)>,
    total: u64,
    /// Units of the current grant still unspent, and when it ends (both clocks).
    grant_left: u64,
    grant_until: Option<(Instant, i64)>,
}

impl RateState {
    fn push(&mut self, at: Instant, calls: u64) {
        match self.log.back_mut() {
            Some((last, count)) if *last == at => *count += calls,
            _ => self.log.push_back((at, calls)),
        }
        self.total += calls;
        if self.log.len() > MAX_LOG_ENTRIES {
            if let (Some((_, oldest)), Some((_, next))) = (self.log.pop_front(), self.log.front_mut()) {
                *next += oldest;
            }
        }
    }

    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some((at, count)) = self.log.front() {
            if now.saturating_duration_since(*at) < window {
                break;
            }
            self.total -= count;
            self.log.pop_front();
        }
    }

    /// Takes the newest `calls` back out of the window.
    fn take_back(&mut self, mut calls: u64) {
        while calls > 0 {
            let Some((_, count)) = self.log.back_mut() else { return };
            let taken = calls.min(*count);
            *count -= taken;
            self.total -= taken;
            calls -= taken;
            if *count == 0 {
                self.log.pop_back();
            }
        }
    }

    fn grant_covers(&self, calls: u64, now: Instant) -> bool {
        self.grant_left >= calls && self.grant_until.is_some_and(|(until, _)| until > now)
    }
}

#[derive(Default)]
struct QuotaState {
    window: i64,
    /// Reserved in the store, not yet spent.
    available: u64,
    /// What the store held for this window (all processes) after the last reservation.
    stored: i64,
    exhausted_at: Option<Instant>,
}

#[derive(Default)]
struct CallerState {
    rate: RateState,
    quota: QuotaState,
    /// Admissions per second, which sizes reservations.
    second: i64,
    this_second: u64,
    last_second: u64,
}

impl CallerState {
    fn count(&mut self, calls: u64, unix_ms: i64) {
        let second = unix_ms / 1000;
        if second != self.second {
            self.last_second = if second == self.second + 1 { self.this_second } else { 0 };
            self.second = second;
            self.this_second = 0;
        }
        self.this_second += calls;
    }

    /// Units to reserve at once: what a second of traffic spends.
    fn chunk(&self, limit: CallLimit) -> u64 {
        let cap = (to_u64(limit.calls) / 8).clamp(1, MAX_CHUNK);
        self.last_second.max(self.this_second).clamp(1, cap)
    }
}

struct Caller {
    state: Mutex<CallerState>,
    /// One reservation at a time per caller.
    reserving: tokio::sync::Mutex<()>,
}

/// What a decision needs before it can be made.
enum Step {
    Done(Decision),
    Reserve { quota: u64, rate: bool },
}

fn rate_standing(rate: &RateState, limit: CallLimit, now: Instant) -> Standing {
    let window = Duration::from_secs(to_u64(limit.period_seconds));
    let reset = rate.log.front().map_or(0, |(at, _)| (*at + window).saturating_duration_since(now).as_secs_f64().ceil() as u64);
    Standing { kind: LimitKind::RateLimit, limit, remaining: to_u64(limit.calls).saturating_sub(rate.total), reset_seconds: reset.max(1) }
}

/// Decides from memory, or says what must be reserved first. With
/// `reserved`, a reservation was just attempted: what is still missing
/// means the limit is reached.
fn try_admit(state: &mut CallerState, limits: Limits, calls: u64, clock: Clock, reserved: bool) -> Step {
    let mut standings = Vec::new();
    let mut exceeded = None;
    let mut need_rate = false;
    let mut need_quota = 0;
    if let Some(limit) = limits.rate {
        state.rate.prune(clock.now, Duration::from_secs(to_u64(limit.period_seconds)));
        let standing = rate_standing(&state.rate, limit, clock.now);
        if state.rate.total + calls > to_u64(limit.calls) {
            exceeded = Some(standing);
        } else if !state.rate.grant_covers(calls, clock.now) {
            need_rate = true;
        }
        standings.push(standing);
    }
    if let Some(limit) = limits.quota {
        let unix = clock.unix_ms.div_euclid(1000);
        let window = limit.window_start(unix);
        let quota = &mut state.quota;
        if quota.window != window {
            *quota = QuotaState { window, ..QuotaState::default() };
        }
        let used = to_u64(quota.stored).saturating_sub(quota.available);
        let standing = Standing {
            kind: LimitKind::Quota,
            limit,
            remaining: to_u64(limit.calls).saturating_sub(used),
            reset_seconds: window_reset(window, limit.period_seconds.max(1), unix),
        };
        let believed_exhausted = quota.exhausted_at.is_some_and(|at| clock.now.saturating_duration_since(at) < EXHAUSTED_RECHECK);
        if exceeded.is_none() && quota.available < calls {
            if reserved || believed_exhausted {
                exceeded = Some(standing);
            } else {
                need_quota = calls - quota.available;
            }
        }
        standings.push(standing);
    }
    if let Some(exceeded) = exceeded {
        return Step::Done(Decision::Throttled { exceeded, standings });
    }
    if need_quota > 0 || need_rate {
        return Step::Reserve { quota: need_quota, rate: need_rate };
    }
    if limits.rate.is_some() {
        state.rate.push(clock.now, calls);
        state.rate.grant_left -= calls;
    }
    if limits.quota.is_some() {
        state.quota.available -= calls;
    }
    state.count(calls, clock.unix_ms);
    for standing in &mut standings {
        standing.remaining = standing.remaining.saturating_sub(calls);
    }
    Step::Done(Decision::Admitted(standings))
}

pub struct LocalLimiter {
    store: DynStore,
    shards: [Mutex<HashMap<String, Arc<Caller>>>; SHARDS],
    /// Picks a caller's shard.
    sharding: hashbrown::DefaultHashBuilder,
    /// Rate grants a crashed process left, replayed into callers' windows on first use.
    replay: Mutex<HashMap<String, Vec<(Instant, u64)>>>,
}

fn unavailable(err: crate::store::StoreError) -> Unavailable {
    Unavailable(err.to_string())
}

impl LocalLimiter {
    /// Reads the rate grants an earlier process left: each counts as spent
    /// at its end (or now, if it has not ended yet).
    pub async fn load(store: DynStore) -> Result<LocalLimiter, crate::store::StoreError> {
        let clock = Clock::current();
        let mut replay: HashMap<String, Vec<(Instant, u64)>> = HashMap::new();
        for grant in store.rate_grants(clock.unix_ms - MAX_PERIOD_MS).await? {
            let age = Duration::from_millis(to_u64(clock.unix_ms - grant.until_ms));
            let at = clock.now.checked_sub(age).unwrap_or(clock.now);
            replay.entry(grant.subscription).or_default().push((at, to_u64(grant.count)));
        }
        Ok(LocalLimiter { store, shards: std::array::from_fn(|_| Mutex::default()), sharding: Default::default(), replay: Mutex::new(replay) })
    }

    fn caller(&self, name: &str) -> Arc<Caller> {
        use std::hash::BuildHasher;
        let shard = &self.shards[(self.sharding.hash_one(name) % SHARDS as u64) as usize];
        if let Some(caller) = lock(shard).get(name) {
            return caller.clone();
        }
        let mut state = CallerState::default();
        for (at, count) in lock(&self.replay).remove(name).unwrap_or_default() {
            state.rate.push(at, count);
        }
        let caller = Arc::new(Caller { state: Mutex::new(state), reserving: tokio::sync::Mutex::new(()) });
        lock(shard).entry(name.to_string()).or_insert(caller).clone()
    }

    pub async fn admit(&self, name: &str, limits: Limits, calls: u64) -> Result<Decision, Unavailable> {
        self.admit_at(name, limits, calls, Clock::current()).await
    }

    pub(crate) async fn admit_at(&self, name: &str, limits: Limits, calls: u64, clock: Clock) -> Result<Decision, Unavailable> {
        let caller = self.caller(name);
        let step = try_admit(&mut lock(&caller.state), limits, calls, clock, false);
        if let Step::Done(decision) = step {
            return Ok(decision);
        }
        // Boxed: a reservation (the store's state) is taken once a chunk,
        // and would otherwise sit in every call's future.
        Box::pin(self.reserve_and_admit(name, &caller, limits, calls, clock)).await
    }

    /// Reserves capacity from the store, in the caller's turn, then admits.
    async fn reserve_and_admit(&self, name: &str, caller: &Caller, limits: Limits, calls: u64, clock: Clock) -> Result<Decision, Unavailable> {
        let _turn = caller.reserving.lock().await;
        let (quota, rate, chunk_quota, chunk_rate, allowed_rate, window) = {
            let mut state = lock(&caller.state);
            let (quota, rate) = match try_admit(&mut state, limits, calls, clock, false) {
                Step::Done(decision) => return Ok(decision),
                Step::Reserve { quota, rate } => (quota, rate),
            };
            let chunk_quota = limits.quota.map_or(0, |l| state.chunk(l));
            let chunk_rate = limits.rate.map_or(0, |l| state.chunk(l));
            let allowed_rate = limits.rate.map_or(0, |l| to_u64(l.calls).saturating_sub(state.rate.total));
            (quota, rate, chunk_quota, chunk_rate, allowed_rate, state.quota.window)
        };
        if let (Some(limit), true) = (limits.quota, quota > 0) {
            let want = quota.max(chunk_quota);
            let reserved = self.store.reserve_quota(name, window, to_i64(want), limit.calls).await.map_err(unavailable)?;
            let (granted, stored) = (reserved.granted, reserved.stored);
            let mut state = lock(&caller.state);
            if state.quota.window == window {
                state.quota.available += to_u64(granted);
                state.quota.stored = stored;
                if stored >= limit.calls {
                    state.quota.exhausted_at = Some(clock.now);
                }
            }
        }
        if rate {
            let size = chunk_rate.max(calls).min(allowed_rate);
            let until_ms = clock.unix_ms + GRANT_LIFETIME.as_millis() as i64;
            let grant = RateGrant { subscription: name.to_string(), count: to_i64(size), until_ms };
            self.store.record_rate_grant(&grant, GRANT_BUCKET_MS).await.map_err(unavailable)?;
            let mut state = lock(&caller.state);
            state.rate.grant_left = size;
            state.rate.grant_until = Some((clock.now + GRANT_LIFETIME, until_ms));
        }
        let step = try_admit(&mut lock(&caller.state), limits, calls, clock, true);
        match step {
            Step::Done(decision) => Ok(decision),
            Step::Reserve { .. } => Err(Unavailable("capacity could not be reserved".into())),
        }
    }

    pub fn refund(&self, name: &str, limits: Limits, calls: u64) {
        let caller = self.caller(name);
        let mut state = lock(&caller.state);
        if limits.rate.is_some() {
            state.rate.take_back(calls);
            state.rate.grant_left += calls;
        }
        if limits.quota.is_some() {
            state.quota.available += calls;
        }
    }

    /// Gives unspent reservations back, so a restart starts from what was spent.
    pub async fn release(&self) {
        let callers: Vec<(String, Arc<Caller>)> =
            self.shards.iter().flat_map(|shard| lock(shard).iter().map(|(n, c)| (n.clone(), c.clone())).collect::<Vec<_>>()).collect();
        for (name, caller) in callers {
            let (window, available, grant) = {
                let mut state = lock(&caller.state);
                let grant =
                    state.rate.grant_until.filter(|(until, _)| *until > Instant::now()).map(|(_, until_ms)| (state.rate.grant_left, until_ms));
                state.rate.grant_left = 0;
                let available = std::mem::take(&mut state.quota.available);
                state.quota.stored -= to_i64(available);
                (state.quota.window, available, grant)
            };
            if available > 0 {
                if let Err(err) = self.store.release_quota(&name, window, to_i64(available)).await {
                    tracing::warn!(error = %err, subscription = %name, "could not give back reserved quota");
                }
            }
            if let Some((left, until_ms)) = grant.filter(|(left, _)| *left > 0) {
                let unspent = RateGrant { subscription: name.clone(), count: -to_i64(left), until_ms };
                if let Err(err) = self.store.record_rate_grant(&unspent, GRANT_BUCKET_MS).await {
                    tracing::warn!(error = %err, subscription = %name, "could not give back a rate grant");
                }
            }
        }
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: CallLimit = CallLimit { calls: 3, period_seconds: 10 };

    async fn limiter(store: &DynStore) -> LocalLimiter {
        LocalLimiter::load(store.clone()).await.unwrap()
    }

    fn at(t0: Clock, seconds: u64) -> Clock {
        Clock { now: t0.now + Duration::from_secs(seconds), unix_ms: t0.unix_ms + seconds as i64 * 1000 }
    }

    fn admitted(decision: &Result<Decision, Unavailable>) -> bool {
        matches!(decision, Ok(Decision::Admitted(_)))
    }

    #[tokio::test]
    async fn sliding_window_admits_exactly_the_limit() {
        let store = crate::store::open("sqlite::memory:").await.unwrap();
        let limiter = limiter(&store).await;
        let rate = Limits { rate: Some(RATE), quota: None };
        let t0 = Clock { now: Instant::now(), unix_ms: 0 };
        for _ in 0..3 {
            assert!(admitted(&limiter.admit_at("s", rate, 1, t0).await));
        }
        match limiter.admit_at("s", rate, 1, at(t0, 4)).await {
            Ok(Decision::Throttled { exceeded, .. }) => {
                assert_eq!(exceeded.kind, LimitKind::RateLimit);
                assert_eq!(exceeded.reset_seconds, 6);
            }
            other => panic!("expected throttling, got {other:?}"),
        }
        assert!(admitted(&limiter.admit_at("s", rate, 1, at(t0, 10)).await));
        assert!(admitted(&limiter.admit_at("other", rate, 1, t0).await), "per subscription");
    }

    #[tokio::test]
    async fn fixed_window_quota_resets_at_the_boundary() {
        let store = crate::store::open("sqlite::memory:").await.unwrap();
        let limiter = limiter(&store).await;
        let quota = Limits { rate: None, quota: Some(CallLimit { calls: 2, period_seconds: 60 }) };
        let t = Clock { now: Instant::now(), unix_ms: 61_000 };
        assert!(admitted(&limiter.admit_at("s", quota, 2, t).await));
        match limiter.admit_at("s", quota, 1, Clock { unix_ms: 100_000, ..t }).await {
            Ok(Decision::Throttled { exceeded, .. }) => assert_eq!((exceeded.kind, exceeded.reset_seconds), (LimitKind::Quota, 20)),
            other => panic!("expected throttling, got {other:?}"),
        }
        assert!(admitted(&limiter.admit_at("s", quota, 1, Clock { unix_ms: 120_000, ..t }).await));
        assert_eq!(store.quota_used("s", 120).await.unwrap(), 1, "reserved in the store before spent");
    }

    #[tokio::test]
    async fn a_refused_batch_charges_nothing_and_a_refund_gives_back() {
        let store = crate::store::open("sqlite::memory:").await.unwrap();
        let limiter = limiter(&store).await;
        let rate = Limits { rate: Some(RATE), quota: None };
        let t = Clock::current();
        assert!(matches!(limiter.admit_at("s", rate, 4, t).await, Ok(Decision::Throttled { .. })));
        assert!(admitted(&limiter.admit_at("s", rate, 3, t).await));
        limiter.refund("s", rate, 2);
        assert!(admitted(&limiter.admit_at("s", rate, 2, t).await), "refunded calls are free again");
    }

    #[tokio::test]
    async fn a_crash_never_lets_a_window_admit_more_than_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/limits.db", dir.path().display());
        let limits =
            Limits { rate: Some(CallLimit { calls: 1000, period_seconds: 3600 }), quota: Some(CallLimit { calls: 40, period_seconds: 3600 }) };
        let mut admitted_total = 0;
        for round in 0..5 {
            let store = crate::store::open(&url).await.unwrap();
            let limiter = limiter(&store).await;
            // Each "process" spends some and is dropped without releasing: a crash.
            for _ in 0..(7 + round) {
                if admitted(&limiter.admit("s", limits, 1).await) {
                    admitted_total += 1;
                }
            }
        }
        assert!(admitted_total <= 40, "admitted {admitted_total} with a quota of 40");
        let store = crate::store::open(&url).await.unwrap();
        let limiter = limiter(&store).await;
        limiter.release().await;
        let mut more = 0;
        while admitted(&limiter.admit("s", limits, 1).await) {
            more += 1;
        }
        assert!(admitted_total + more <= 40, "{admitted_total} + {more} over a quota of 40");
        assert!(admitted_total + more >= 40 - 5 * 5, "at most a chunk stranded per crash");
    }

    #[tokio::test]
    async fn a_crash_never_lets_a_rate_window_admit_more_than_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/limits.db", dir.path().display());
        let limits = Limits { rate: Some(CallLimit { calls: 30, period_seconds: 3600 }), quota: None };
        let mut admitted_total = 0;
        for _ in 0..6 {
            let store = crate::store::open(&url).await.unwrap();
            let limiter = limiter(&store).await;
            for _ in 0..8 {
                if admitted(&limiter.admit("s", limits, 1).await) {
                    admitted_total += 1;
                }
            }
        }
        assert!(admitted_total <= 30, "admitted {admitted_total} in a window of 30");
        assert!(admitted_total >= 30 - 6 * 3, "at most a grant stranded per crash: {admitted_total}");
    }

    #[tokio::test]
    async fn a_clean_release_strands_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/limits.db", dir.path().display());
        let limits = Limits { rate: None, quota: Some(CallLimit { calls: 100, period_seconds: 3600 }) };
        let mut total = 0;
        for _ in 0..4 {
            let store = crate::store::open(&url).await.unwrap();
            let limiter = limiter(&store).await;
            for _ in 0..10 {
                assert!(admitted(&limiter.admit("s", limits, 1).await));
                total += 1;
            }
            limiter.release().await;
        }
        let store = crate::store::open(&url).await.unwrap();
        let limiter = limiter(&store).await;
        while admitted(&limiter.admit("s", limits, 1).await) {
            total += 1;
        }
        assert_eq!(total, 100, "exactly the quota over clean restarts");
    }
}
