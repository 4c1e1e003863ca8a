//! `GET /api/v1/analytics` and `GET /api/v1/calls`: answers from the call
//! log, without an external backend.

use super::problem::ApiError;
use super::AppState;
use crate::model::calls::{summarize, CallRecord, CallStatus, GroupBy, GroupStats};
use crate::model::{Reason, ValidationErrors};
use crate::store::CallQuery;
use crate::store::{AnalyticsQuery, AuditEntry};
use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Analytics {
    /// One page of groups, busiest first.
    pub items: Vec<GroupStats>,
    /// Where the next page starts (`offset`); absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Calls {
    pub items: Vec<CallRecord>,
}

const DEFAULT_CALLS: u32 = 100;
const MAX_CALLS: u32 = 1000;

fn reject_unknown(query: &HashMap<String, String>, known: &[&str], errors: &mut ValidationErrors) {
    for name in query.keys().filter(|n| !known.contains(&n.as_str())) {
        errors.add(name.clone(), Reason::UnknownField);
    }
}

/// The `limit` parameter: 1 to 1000, 100 when absent.
fn limit(query: &HashMap<String, String>, errors: &mut ValidationErrors) -> u32 {
    let limit = match query.get("limit").map(|l| l.parse::<i64>()) {
        None => i64::from(DEFAULT_CALLS),
        Some(Ok(n)) => n,
        Some(Err(_)) => -1,
    };
    errors.check("limit", crate::model::rules::range(limit, 1, MAX_CALLS.into()));
    u32::try_from(limit).unwrap_or(DEFAULT_CALLS)
}

/// The `offset` parameter: 0 and up, 0 when absent.
fn offset(query: &HashMap<String, String>, errors: &mut ValidationErrors) -> u64 {
    let offset = match query.get("offset").map(|o| o.parse::<i64>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => -1,
    };
    errors.check("offset", crate::model::rules::range(offset, 0, i64::MAX));
    u64::try_from(offset).unwrap_or(0)
}

fn timestamp(query: &HashMap<String, String>, name: &str, errors: &mut ValidationErrors) -> Option<DateTime<Utc>> {
    let value = query.get(name)?;
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.add(name, Reason::Malformed { message: "must be an RFC 3339 timestamp".into() });
            None
        }
    }
}

pub async fn analytics(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Result<Json<Analytics>, ApiError> {
    let mut errors = ValidationErrors::default();
    reject_unknown(&query, &["group_by", "server", "subscription", "from", "to", "limit", "offset"], &mut errors);
    let group_by = match query.get("group_by").map(String::as_str) {
        None => Some(GroupBy::Tool),
        Some(value) => GroupBy::parse(value).or_else(|| {
            errors.add("group_by", Reason::Malformed { message: "must be tool, version, product, subscription or client".into() });
            None
        }),
    };
    let from = timestamp(&query, "from", &mut errors);
    let to = timestamp(&query, "to", &mut errors);
    let (limit, offset) = (limit(&query, &mut errors), offset(&query, &mut errors));
    errors.into_result()?;
    let group_by = group_by.unwrap_or(GroupBy::Tool);
    let analytics_query =
        AnalyticsQuery { group_by, server: query.get("server").cloned(), subscription: query.get("subscription").cloned(), from, to };
    let counts = state.store.analytics(&analytics_query).await?;
    let groups = summarize(group_by, &counts);
    let total = groups.len() as u64;
    let items: Vec<GroupStats> = groups.into_iter().skip(usize::try_from(offset).unwrap_or(usize::MAX)).take(limit as usize).collect();
    let end = offset.saturating_add(items.len() as u64);
    Ok(Json(Analytics { items, next_offset: (end < total).then_some(end) }))
}

pub async fn calls(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Result<Json<Calls>, ApiError> {
    let mut errors = ValidationErrors::default();
    reject_unknown(&query, &["session_id", "tool", "status", "server", "subscription", "limit"], &mut errors);
    let status = match query.get("status").map(String::as_str) {
        None => None,
        Some("ok") => Some(CallStatus::Ok),
        Some("error") => Some(CallStatus::Error),
        Some(_) => {
            errors.add("status", Reason::Malformed { message: "must be ok or error".into() });
            None
        }
    };
    let limit = limit(&query, &mut errors);
    errors.into_result()?;
    let call_query = CallQuery {
        server: query.get("server").cloned(),
        tool: query.get("tool").cloned(),
        session_id: query.get("session_id").cloned(),
        subscription: query.get("subscription").cloned(),
        status,
        limit: Some(limit),
        ..CallQuery::default()
    };
    Ok(Json(Calls { items: state.store.find_calls(&call_query).await? }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLog {
    pub items: Vec<AuditEntry>,
}

/// The newest entries of the audit log (who listed secrets, and when).
pub async fn audit_log(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Result<Json<AuditLog>, ApiError> {
    let mut errors = ValidationErrors::default();
    reject_unknown(&query, &["limit"], &mut errors);
    let limit = limit(&query, &mut errors);
    errors.into_result()?;
    Ok(Json(AuditLog { items: state.store.audit_log(limit).await? }))
}
