//! `GET /api/v1/analytics` and `GET /api/v1/calls`: answers from the call
//! log, without an external backend.

use super::problem::ApiError;
use super::AppState;
use crate::model::calls::{summarize, CallRecord, CallStatus, GroupBy, GroupStats};
use crate::model::{Reason, ValidationErrors};
use crate::store::CallQuery;
use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Analytics {
    pub items: Vec<GroupStats>,
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
    reject_unknown(&query, &["group_by", "server", "from", "to"], &mut errors);
    let group_by = match query.get("group_by").map(String::as_str) {
        None => Some(GroupBy::Tool),
        Some(value) => GroupBy::parse(value).or_else(|| {
            errors.add("group_by", Reason::Malformed { message: "must be tool, version, product, subscription or client".into() });
            None
        }),
    };
    let from = timestamp(&query, "from", &mut errors);
    let to = timestamp(&query, "to", &mut errors);
    errors.into_result()?;
    let call_query = CallQuery { server: query.get("server").cloned(), from, to, ..CallQuery::default() };
    let calls = state.store.find_calls(&call_query).await?;
    Ok(Json(Analytics { items: summarize(&calls, group_by.unwrap_or(GroupBy::Tool)) }))
}

pub async fn calls(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Result<Json<Calls>, ApiError> {
    let mut errors = ValidationErrors::default();
    reject_unknown(&query, &["session_id", "tool", "status", "server", "limit"], &mut errors);
    let status = match query.get("status").map(String::as_str) {
        None => None,
        Some("ok") => Some(CallStatus::Ok),
        Some("error") => Some(CallStatus::Error),
        Some(_) => {
            errors.add("status", Reason::Malformed { message: "must be ok or error".into() });
            None
        }
    };
    let limit = match query.get("limit").map(|l| l.parse::<i64>()) {
        None => i64::from(DEFAULT_CALLS),
        Some(Ok(n)) => n,
        Some(Err(_)) => -1,
    };
    errors.check("limit", crate::model::rules::range(limit, 1, MAX_CALLS.into()));
    errors.into_result()?;
    let call_query = CallQuery {
        server: query.get("server").cloned(),
        tool: query.get("tool").cloned(),
        session_id: query.get("session_id").cloned(),
        status,
        limit: u32::try_from(limit).ok(),
        ..CallQuery::default()
    };
    Ok(Json(Calls { items: state.store.find_calls(&call_query).await? }))
}
