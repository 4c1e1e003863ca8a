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
    /// JSON-RPC error code as a string, or `tool_error` for `isError` results.
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    /// Redacted, truncated JSON; only when the version logs payloads.
    pub arguments: Option<String>,
    pub result: Option<String>,
    pub cost: f64,
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
}

impl GroupBy {
    pub fn parse(value: &str) -> Option<GroupBy> {
        match value {
            "tool" => Some(GroupBy::Tool),
            "version" => Some(GroupBy::Version),
            "product" => Some(GroupBy::Product),
            "subscription" => Some(GroupBy::Subscription),
            "client" => Some(GroupBy::Client),
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
        }
    }

    /// The group a call belongs to; versions are grouped per server.
    fn key(self, call: &CallRecord) -> Vec<(&'static str, Option<String>)> {
        match self {
            GroupBy::Tool => vec![("tool", Some(call.tool.clone()))],
            GroupBy::Version => vec![("server", Some(call.server.clone())), ("version", Some(call.version.clone()))],
            GroupBy::Product => vec![("product", Some(call.product.clone()))],
            GroupBy::Subscription => vec![("subscription", call.subscription.clone())],
            GroupBy::Client => vec![("client", call.client_name.clone())],
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

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Calls, errors, latency percentiles and cost per group, busiest first.
pub fn summarize(calls: &[CallRecord], group_by: GroupBy) -> Vec<GroupStats> {
    let mut groups: BTreeMap<Vec<(&'static str, Option<String>)>, Vec<&CallRecord>> = BTreeMap::new();
    for call in calls {
        groups.entry(group_by.key(call)).or_default().push(call);
    }
    let mut stats: Vec<GroupStats> = groups
        .into_iter()
        .map(|(key, members)| {
            let mut durations: Vec<f64> = members.iter().map(|c| c.duration_ms).collect();
            durations.sort_by(f64::total_cmp);
            let errors = members.iter().filter(|c| c.status == CallStatus::Error).count() as u64;
            let total = members.len() as u64;
            GroupStats {
                group: key.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                calls: total,
                errors,
                error_rate: round(errors as f64 / total as f64, 4),
                p50_ms: round(percentile(&durations, 50.0), 3),
                p95_ms: round(percentile(&durations, 95.0), 3),
                p99_ms: round(percentile(&durations, 99.0), 3),
                cost: round(members.iter().map(|c| c.cost).sum(), 6),
            }
        })
        .collect();
    stats.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.group.cmp(&b.group)));
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(tool: &str, ms: f64, status: CallStatus, cost: f64) -> CallRecord {
        CallRecord {
            time: Utc::now(),
            subscription: Some("alice".into()),
            product: "gold".into(),
            server: "s".into(),
            version: "v1".into(),
            tool: tool.into(),
            client_name: Some("client".into()),
            client_version: None,
            session_id: None,
            duration_ms: ms,
            status,
            error_type: None,
            error_message: None,
            arguments: None,
            result: None,
            cost,
        }
    }

    #[test]
    fn groups_count_errors_percentiles_and_cost() {
        let mut calls: Vec<CallRecord> = (1..=100).map(|i| call("echo", f64::from(i), CallStatus::Ok, 0.5)).collect();
        calls.push(call("sum", 7.0, CallStatus::Error, 0.1));
        let stats = summarize(&calls, GroupBy::Tool);
        assert_eq!(stats[0].group["tool"].as_deref(), Some("echo"));
        assert_eq!(
            (stats[0].calls, stats[0].errors, stats[0].p50_ms, stats[0].p95_ms, stats[0].p99_ms, stats[0].cost),
            (100, 0, 50.0, 95.0, 99.0, 50.0)
        );
        assert_eq!((stats[1].calls, stats[1].errors, stats[1].error_rate, stats[1].cost), (1, 1, 1.0, 0.1));
        let json = serde_json::to_value(&stats[1]).unwrap();
        assert_eq!(json["tool"], "sum", "the group-by field is carried under its own name");
        let by_version = summarize(&calls, GroupBy::Version);
        assert_eq!(serde_json::to_value(&by_version[0]).unwrap()["version"], "v1");
    }
}
