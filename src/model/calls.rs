//! The call log's records and the analytics computed from them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Ok,
    Error,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Ok => "ok",
            CallStatus::Error => "error",
        }
    }
}

/// One tool call through the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallRecord {
    pub time: DateTime<Utc>,
    pub subscription: Option<String>,
    pub product: String,
    pub server: String,
    pub version: String,
    pub tool: String,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub session_id: Option<String>,
    pub duration_ms: f64,
    pub status: CallStatus,
    /// JSON-RPC error code as a string, `tool_error` for `isError` results,
    /// `tool_not_approved` for calls an approved manifest refused.
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    /// Redacted, truncated JSON; only when the version logs payloads.
    pub arguments: Option<String>,
    pub result: Option<String>,
    pub cost: f64,
    /// The W3C trace id of the call's span (32 hex digits).
    pub trace_id: Option<String>,
    /// The policy rule that refused or throttled the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_rule: Option<String>,
    /// Where the call came in: `/mcp/{server}` or a product's
    /// `/products/{product}/mcp` (whose member `server` answered it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// MCP 2026-07-28: the call's result asked for input (`resultType:
    /// input_required`) with a `requestState`; the call that answers it
    /// `continues` the same key (a digest of the subscription, or the
    /// product when there is none, and the state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaits_input: Option<String>,
    /// The call sent back the `requestState` of the call whose
    /// `awaits_input` is this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues: Option<String>,
    /// Refused by the gateway (allow-list, approval, policy, no string
    /// name) or failed for a tool the version does not offer: its name is
    /// whatever a client sent, so analytics group it under [`REFUSED_TOOL`]
    /// and only this row keeps it.
    #[serde(skip)]
    pub tool_refused: bool,
}

/// The one analytics group of calls whose tool names a client made up.
pub const REFUSED_TOOL: &str = "(refused)";

impl CallRecord {
    /// What analytics group this call under: its tool, unless refused.
    pub fn tool_group(&self) -> &str {
        if self.tool_refused {
            REFUSED_TOOL
        } else {
            &self.tool
        }
    }
}

/// What analytics groups calls by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Tool,
    Version,
    Product,
    Subscription,
    Client,
    Endpoint,
}

impl GroupBy {
    pub fn parse(value: &str) -> Option<GroupBy> {
        match value {
            "tool" => Some(GroupBy::Tool),
            "version" => Some(GroupBy::Version),
            "product" => Some(GroupBy::Product),
            "subscription" => Some(GroupBy::Subscription),
            "client" => Some(GroupBy::Client),
            "endpoint" => Some(GroupBy::Endpoint),
            _ => None,
        }
    }

    pub fn field(self) -> &'static str {
        match self {
            GroupBy::Tool => "tool",
            GroupBy::Version => "version",
            GroupBy::Product => "product",
            GroupBy::Subscription => "subscription",
            GroupBy::Client => "client",
            GroupBy::Endpoint => "endpoint",
        }
    }

    /// The call-log columns a group is keyed by, as (field in the answer, column).
    pub fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            GroupBy::Tool => &[("tool", "tool")],
            GroupBy::Version => &[("server", "server"), ("version", "version")],
            GroupBy::Product => &[("product", "product")],
            GroupBy::Subscription => &[("subscription", "subscription")],
            GroupBy::Client => &[("client", "client_name")],
            GroupBy::Endpoint => &[("endpoint", "endpoint")],
        }
    }
}

/// Latency histogram shared by the call log, its hourly rollups and
/// analytics: bucket `b` holds durations in `[0.05 ms * 1.25^b, 0.05 ms *
/// 1.25^(b+1))`, from 50 µs to over half an hour (longer calls share the last
/// one). Few enough buckets to keep as columns of a rollup row, which SQL
/// sums; a percentile interpolates within its bucket, so it is off by at
/// most the bucket's width (a quarter) and usually by far less.
pub const BUCKETS: usize = 80;
const BUCKET_BASE_MS: f64 = 0.05;
const BUCKET_RATIO: f64 = 1.25;

/// The histogram bucket of a duration.
pub fn latency_bucket(duration_ms: f64) -> usize {
    if !duration_ms.is_finite() || duration_ms <= BUCKET_BASE_MS {
        return 0;
    }
    let bucket = ((duration_ms / BUCKET_BASE_MS).ln() / BUCKET_RATIO.ln()).floor();
    (bucket as usize).min(BUCKETS - 1)
}

/// The durations a bucket holds: `[low, high)`.
fn bucket_bounds(bucket: usize) -> (f64, f64) {
    let low = BUCKET_BASE_MS * BUCKET_RATIO.powi(bucket as i32);
    (low, low * BUCKET_RATIO)
}

/// Calls of one group, with their latency histogram: what the store's
/// aggregation returns (from rollups and the call log; a group may come
/// more than once, and [`summarize`] adds them up).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCount {
    /// Values of [`GroupBy::columns`], in order.
    pub group: Vec<Option<String>>,
    pub calls: u64,
    pub errors: u64,
    pub cost: f64,
    pub histogram: [u64; BUCKETS],
}

impl GroupCount {
    pub fn new(group: Vec<Option<String>>) -> GroupCount {
        GroupCount { group, calls: 0, errors: 0, cost: 0.0, histogram: [0; BUCKETS] }
    }

    fn add(&mut self, other: &GroupCount) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.cost += other.cost;
        for (mine, theirs) in self.histogram.iter_mut().zip(other.histogram) {
            *mine += theirs;
        }
    }
}

/// One row of an analytics answer. `group` holds the group-by field(s)
/// (`tool`, or `server` and `version`, ...), flattened into the item.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupStats {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub group: BTreeMap<String, Option<String>>,
    pub calls: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub cost: f64,
}

/// The nearest-rank percentile of a histogram, placed inside its bucket
/// as if durations there were spread evenly on a log scale.
fn percentile(histogram: &[u64; BUCKETS], total: u64, p: f64) -> f64 {
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0);
    let mut below = 0.0;
    for (bucket, count) in histogram.iter().enumerate().filter(|(_, c)| **c > 0) {
        let count = *count as f64;
        if below + count >= rank {
            let (low, high) = bucket_bounds(bucket);
            let within = (rank - below) / count;
            return low * (high / low).powf(within);
        }
        below += count;
    }
    0.0
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Calls, errors, latency percentiles and cost per group, busiest first.
pub fn summarize(group_by: GroupBy, counts: &[GroupCount]) -> Vec<GroupStats> {
    let mut groups: BTreeMap<&[Option<String>], GroupCount> = BTreeMap::new();
    for count in counts {
        groups.entry(&count.group).or_insert_with(|| GroupCount::new(count.group.clone())).add(count);
    }
    let mut stats: Vec<GroupStats> = groups
        .into_values()
        .filter(|g| g.calls > 0)
        .map(|g| GroupStats {
            group: group_by.columns().iter().zip(&g.group).map(|((field, _), value)| (field.to_string(), value.clone())).collect(),
            calls: g.calls,
            errors: g.errors,
            error_rate: round(g.errors as f64 / g.calls as f64, 4),
            p50_ms: round(percentile(&g.histogram, g.calls, 50.0), 3),
            p95_ms: round(percentile(&g.histogram, g.calls, 95.0), 3),
            p99_ms: round(percentile(&g.histogram, g.calls, 99.0), 3),
            cost: round(g.cost, 6),
        })
        .collect();
    stats.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.group.cmp(&b.group)));
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(tool: &str, ms: f64, errors: u64, cost: f64) -> GroupCount {
        let mut count = GroupCount { calls: 1, errors, cost, ..GroupCount::new(vec![Some(tool.into())]) };
        count.histogram[latency_bucket(ms)] = 1;
        count
    }

    fn near(value: f64, expected: f64) -> bool {
        (value - expected).abs() <= expected * 0.15
    }

    #[test]
    fn buckets_hold_their_durations() {
        for ms in [0.06, 0.5, 1.0, 7.3, 250.0, 59_000.0] {
            let (low, high) = bucket_bounds(latency_bucket(ms));
            assert!(low <= ms && ms < high, "{ms} in [{low}, {high})");
        }
        assert_eq!(latency_bucket(0.0), 0);
        assert_eq!(latency_bucket(f64::NAN), 0);
        assert_eq!(latency_bucket(1e12), BUCKETS - 1);
        assert!(bucket_bounds(BUCKETS - 1).0 > 30.0 * 60_000.0, "the last bucket starts past half an hour");
    }

    #[test]
    fn groups_count_errors_percentiles_and_cost() {
        let mut counts: Vec<GroupCount> = (1..=100).map(|i| count("echo", f64::from(i), 0, 0.5)).collect();
        counts.push(count("sum", 7.0, 1, 0.1));
        let stats = summarize(GroupBy::Tool, &counts);
        assert_eq!(stats[0].group["tool"].as_deref(), Some("echo"));
        assert_eq!((stats[0].calls, stats[0].errors, stats[0].cost), (100, 0, 50.0));
        assert!(near(stats[0].p50_ms, 50.0) && near(stats[0].p95_ms, 95.0) && near(stats[0].p99_ms, 99.0), "{:?}", stats[0]);
        assert_eq!((stats[1].calls, stats[1].errors, stats[1].error_rate, stats[1].cost), (1, 1, 1.0, 0.1));
        let json = serde_json::to_value(&stats[1]).unwrap();
        assert_eq!(json["tool"], "sum", "the group-by field is carried under its own name");
        let by_version = summarize(GroupBy::Version, &[GroupCount { group: vec![Some("s".into()), Some("v1".into())], ..count("x", 1.0, 0, 0.0) }]);
        assert_eq!(serde_json::to_value(&by_version[0]).unwrap()["version"], "v1");
    }
}
