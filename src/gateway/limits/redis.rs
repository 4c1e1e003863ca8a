//! Limits shared by every gateway replica, in Redis: one Lua script per
//! request checks and charges both limits atomically on the server, so N
//! replicas admit exactly what one would. Nothing is read, changed and
//! written back by the gateway.
//!
//! Keys, per installation and caller (the `{…}` hash tag keeps a caller's
//! keys in one Redis Cluster slot): `mcpgate:{installation}:{caller}:rate:at`
//! (a sorted set of the milliseconds with admissions), `…:rate:n` (calls
//! per millisecond), `…:rate:total`, and `…:quota:{window}` (the window's
//! count, expiring with it).

use super::{to_u64, window_reset, Decision, LimitKind, Limits, Standing, Unavailable};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// Admits `calls` if both limits have room. Returns
/// `{verdict, rate_used, rate_reset_ms, quota_used}`; verdict 0 admitted
/// (counts include the calls), 1 rate limit, 2 quota.
const ADMIT: &str = r#"
local now, calls = tonumber(ARGV[1]), tonumber(ARGV[2])
local rate_max, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local quota_max, quota_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local rate_used, rate_reset, quota_used = 0, 0, 0
if rate_max > 0 then
  local cutoff = now - window
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff)
  if #expired > 0 then
    local gone = 0
    for _, ms in ipairs(expired) do
      gone = gone + tonumber(redis.call('HGET', KEYS[2], ms) or '0')
      redis.call('HDEL', KEYS[2], ms)
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
    redis.call('DECRBY', KEYS[3], gone)
  end
  rate_used = tonumber(redis.call('GET', KEYS[3]) or '0')
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #oldest > 0 then rate_reset = tonumber(oldest[2]) + window - now end
end
if quota_max > 0 then quota_used = tonumber(redis.call('GET', KEYS[4]) or '0') end
if rate_max > 0 and rate_used + calls > rate_max then return {1, rate_used, rate_reset, quota_used} end
if quota_max > 0 and quota_used + calls > quota_max then return {2, rate_used, rate_reset, quota_used} end
if rate_max > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('HINCRBY', KEYS[2], ARGV[1], calls)
  rate_used = redis.call('INCRBY', KEYS[3], calls)
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], window) end
  if rate_reset <= 0 then rate_reset = window end
end
if quota_max > 0 then
  quota_used = redis.call('INCRBY', KEYS[4], calls)
  redis.call('PEXPIRE', KEYS[4], quota_ttl)
end
return {0, rate_used, rate_reset, quota_used}
"#;

/// Takes `calls` back: from the newest admissions of the rate window, and
/// from the quota window.
const REFUND: &str = r#"
local calls = tonumber(ARGV[1])
if tonumber(ARGV[2]) > 0 then
  local left = calls
  while left > 0 do
    local newest = redis.call('ZRANGE', KEYS[1], -1, -1)
    if #newest == 0 then break end
    local ms = newest[1]
    local count = tonumber(redis.call('HGET', KEYS[2], ms) or '0')
    local taken = math.min(left, count)
    if count - taken <= 0 then
      redis.call('HDEL', KEYS[2], ms)
      redis.call('ZREM', KEYS[1], ms)
    else
      redis.call('HINCRBY', KEYS[2], ms, -taken)
    end
    redis.call('DECRBY', KEYS[3], taken)
    left = left - taken
    if taken == 0 then break end
  end
end
if tonumber(ARGV[3]) > 0 and redis.call('EXISTS', KEYS[4]) == 1 then redis.call('DECRBY', KEYS[4], calls) end
return 1
"#;

pub struct RedisLimiter {
    connection: ConnectionManager,
    /// Keeps installations sharing one Redis apart.
    namespace: String,
    admit: redis::Script,
    refund: redis::Script,
}

/// How long a request waits for Redis before the product's failure mode applies.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

struct Keys {
    rate_at: String,
    rate_counts: String,
    rate_total: String,
    quota: String,
}

fn keys(namespace: &str, caller: &str, limits: Limits, unix: i64) -> (Keys, i64) {
    let window = limits.quota.map_or(0, |q| q.window_start(unix));
    let base = format!("mcpgate:{namespace}:{{{caller}}}");
    let keys = Keys {
        rate_at: format!("{base}:rate:at"),
        rate_counts: format!("{base}:rate:n"),
        rate_total: format!("{base}:rate:total"),
        quota: format!("{base}:quota:{window}"),
    };
    (keys, window)
}

impl RedisLimiter {
    /// Connects lazily: a gateway starts while Redis is down, and requests
    /// then meet the products' failure modes.
    pub fn connect(url: &str, namespace: String) -> Result<RedisLimiter, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisLimiter { connection, namespace, admit: redis::Script::new(ADMIT), refund: redis::Script::new(REFUND) })
    }

    pub async fn admit(&self, caller: &str, limits: Limits, calls: u64) -> Result<Decision, Unavailable> {
        let now = chrono::Utc::now();
        let (unix, now_ms) = (now.timestamp(), now.timestamp_millis());
        let (keys, window) = keys(&self.namespace, caller, limits, unix);
        let rate_window_ms = limits.rate.map_or(0, |r| r.period_seconds.max(1) * 1000);
        let quota_ttl_ms = limits.quota.map_or(0, |q| (window + q.period_seconds.max(1) - unix + 60) * 1000);
        let mut connection = self.connection.clone();
        let reply: (i64, i64, i64, i64) = self
            .admit
            .key(&keys.rate_at)
            .key(&keys.rate_counts)
            .key(&keys.rate_total)
            .key(&keys.quota)
            .arg(now_ms)
            .arg(calls)
            .arg(limits.rate.map_or(0, |r| r.calls))
            .arg(rate_window_ms)
            .arg(limits.quota.map_or(0, |q| q.calls))
            .arg(quota_ttl_ms)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| Unavailable(e.to_string()))?;
        let (verdict, rate_used, rate_reset_ms, quota_used) = reply;
        let mut standings = Vec::new();
        if let Some(limit) = limits.rate {
            let reset_seconds = (to_u64(rate_reset_ms) as f64 / 1000.0).ceil() as u64;
            standings.push(Standing {
                kind: LimitKind::RateLimit,
                limit,
                remaining: to_u64(limit.calls - rate_used),
                reset_seconds: reset_seconds.max(1),
            });
        }
        if let Some(limit) = limits.quota {
            let reset_seconds = window_reset(window, limit.period_seconds.max(1), unix);
            standings.push(Standing { kind: LimitKind::Quota, limit, remaining: to_u64(limit.calls - quota_used), reset_seconds });
        }
        let exceeded = match verdict {
            0 => return Ok(Decision::Admitted(standings)),
            1 => LimitKind::RateLimit,
            _ => LimitKind::Quota,
        };
        let exceeded = standings.iter().copied().find(|s| s.kind == exceeded).ok_or_else(|| Unavailable("inconsistent limit reply".into()))?;
        Ok(Decision::Throttled { exceeded, standings })
    }

    pub async fn refund(&self, caller: &str, limits: Limits, calls: u64) {
        let (keys, _) = keys(&self.namespace, caller, limits, chrono::Utc::now().timestamp());
        let mut connection = self.connection.clone();
        let result: Result<i64, _> = self
            .refund
            .key(&keys.rate_at)
            .key(&keys.rate_counts)
            .key(&keys.rate_total)
            .key(&keys.quota)
            .arg(calls)
            .arg(i64::from(limits.rate.is_some()))
            .arg(i64::from(limits.quota.is_some()))
            .invoke_async(&mut connection)
            .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, caller, calls, "refunding calls in Redis failed");
        }
    }
}
