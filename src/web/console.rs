//! The operators' console: approvals, adoption of versions over time,
//! errors and latency per version, usage and quota per subscription, top
//! tools, and the call log.

use super::chart::{self, hours_back, HourlySeries};
use super::layout::{self, Area};
use super::portal::label;
use super::{decode, html, Web, WebError};
use crate::api::subscriptions;
use crate::model::calls::{summarize, CallStatus, GroupBy, GroupStats};
use crate::model::{Key, Kind, ProductSpec, SubscriptionSpec, SubscriptionState, VersionSpec};
use crate::store::{AnalyticsQuery, CallQuery, HourlyColumn, Record};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The window the summaries cover.
const SUMMARY_HOURS: i64 = 24;
/// The window the adoption chart covers.
const ADOPTION_HOURS: i64 = 48;
const CALL_LOG_ROWS: u32 = 100;

async fn stats(web: &Web, group_by: GroupBy, server: Option<&str>, since: DateTime<Utc>) -> Result<Vec<GroupStats>, WebError> {
    let query = AnalyticsQuery { group_by, server: server.map(str::to_string), subscription: None, from: Some(since), to: None };
    Ok(summarize(group_by, &web.app.store.analytics(&query).await?))
}

fn field(row: &GroupStats, name: &str) -> String {
    row.group.get(name).cloned().flatten().unwrap_or_else(|| "—".into())
}

fn tools_table(rows: &[GroupStats]) -> Markup {
    html! {
        table.tools {
            thead { tr { th { "Tool" } th.num { "Calls" } th.num { "Errors" } th.num { "Error rate" } th.num { "p95" } th.num { "Cost" } } }
            tbody {
                @for row in rows.iter().take(20) {
                    tr {
                        td { code { (field(row, "tool")) } }
                        td.num { (row.calls) } td.num { (row.errors) } td.num { (format!("{:.1} %", row.error_rate * 100.0)) }
                        td.num { (layout::ms(row.p95_ms)) } td.num { (row.cost) }
                    }
                }
            }
        }
    }
}

/// Reserved quota units of a subscription in its product's current window.
async fn quota_use(web: &Web, subscription: &str, product: Option<&ProductSpec>) -> Result<Option<(i64, i64)>, WebError> {
    let Some(quota) = product.and_then(|p| p.quota.as_ref()) else { return Ok(None) };
    let window = quota.window_start(Utc::now().timestamp());
    Ok(Some((web.app.store.quota_used(subscription, window).await?, quota.calls)))
}

pub(crate) async fn overview(State(web): State<Web>, headers: HeaderMap) -> Result<Response, WebError> {
    let viewer = web.operator(&headers).await?;
    let since = hours_back(SUMMARY_HOURS);
    let mut products = BTreeMap::new();
    for record in web.app.store.list_all(Kind::Product).await? {
        products.insert(record.key.name.clone(), decode::<ProductSpec>(&record)?);
    }
    let mut subscriptions: Vec<(Record, SubscriptionSpec)> = Vec::new();
    for record in web.app.store.list_all(Kind::Subscription).await? {
        let spec = decode(&record)?;
        subscriptions.push((record, spec));
    }
    let pending: Vec<&(Record, SubscriptionSpec)> = subscriptions.iter().filter(|(_, s)| s.state == Some(SubscriptionState::Submitted)).collect();
    // The summaries are independent queries: run them side by side.
    let quotas = async {
        let mut quotas = BTreeMap::new();
        for (record, spec) in &subscriptions {
            quotas.insert(record.key.name.clone(), quota_use(&web, &record.key.name, products.get(&spec.product)).await?);
        }
        Ok::<_, WebError>(quotas)
    };
    let (usage, tools, endpoints, quotas) = tokio::try_join!(
        stats(&web, GroupBy::Subscription, None, since),
        stats(&web, GroupBy::Tool, None, since),
        stats(&web, GroupBy::Endpoint, None, since),
        quotas
    )?;
    let usage: BTreeMap<String, GroupStats> = usage.into_iter().map(|row| (field(&row, "subscription"), row)).collect();
    let mut throttled: BTreeMap<String, u64> = BTreeMap::new();
    for (product, _, count) in web.app.telemetry().map(|t| t.throttled_counts()).unwrap_or_default() {
        *throttled.entry(product).or_default() += count;
    }
    let policy_refusals = web.app.telemetry().map(|t| t.policy_counts()).unwrap_or_default();
    let servers = web.app.store.list_all(Kind::Server).await?;
    let body = html! {
        section id="approvals" {
            h2 { "Pending subscriptions" }
            @if pending.is_empty() { p.empty { "Nothing waits for approval." } }
            table {
                tbody {
                    @for (record, spec) in &pending {
                        tr id={ "pending-" (record.key.name) } {
                            td { code { (record.key.name) } }
                            td { (spec.owner.as_deref().unwrap_or("—")) }
                            td { (spec.product) }
                            td { (layout::time(record.created_at)) }
                            td {
                                form.inline method="post" action={ "/console/subscriptions/" (record.key.name) "/decide" } {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    button type="submit" name="decision" value="approve" class="approve" { "Approve" }
                                    " "
                                    button type="submit" name="decision" value="reject" class="reject" { "Reject" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section id="servers" {
            h2 { "Servers" }
            p { @for server in &servers { a.pill href={ "/console/servers/" (server.key.name) } { (server.key.name) } " " } }
        }
        section id="products" {
            h2 { "Products (last " (SUMMARY_HOURS) " h)" }
            table {
                thead { tr { th { "Product" } th { "State" } th.num { "Live subscriptions" } th.num { "Calls" } th.num { "Errors" } th.num { "429s since start" } } }
                tbody {
                    @for (name, product) in &products {
                        @let subs: Vec<_> = subscriptions.iter().filter(|(_, s)| &s.product == name).collect();
                        tr {
                            td { (product.display_name.as_deref().unwrap_or(name)) }
                            td { (layout::badge(&label(&product.state))) }
                            td.num { (subs.iter().filter(|(_, s)| s.current_state().is_live()).count()) }
                            td.num { (subs.iter().filter_map(|(r, _)| usage.get(&r.key.name)).map(|u| u.calls).sum::<u64>()) }
                            td.num { (subs.iter().filter_map(|(r, _)| usage.get(&r.key.name)).map(|u| u.errors).sum::<u64>()) }
                            td.num { (throttled.get(name).copied().unwrap_or(0)) }
                        }
                    }
                }
            }
        }
        section id="policies" {
            h2 { "Policy refusals since start" }
            @if policy_refusals.is_empty() { p.empty { "No policy rule has refused a call." } }
            @else {
                table {
                    thead { tr { th { "Product" } th { "Rule" } th { "Reason" } th.num { "Calls" } } }
                    tbody {
                        @for (product, rule, reason, count) in &policy_refusals {
                            tr { td { (product) } td { code { (rule) } } td { (reason) } td.num { (count) } }
                        }
                    }
                }
            }
        }
        section id="subscriptions" {
            h2 { "Subscriptions (last " (SUMMARY_HOURS) " h)" }
            table {
                thead { tr { th { "Subscription" } th { "Owner" } th { "Product" } th { "State" } th.num { "Calls" } th.num { "Errors" } th.num { "p95" } th.num { "Cost" } th.num title="Units taken from this window's quota; gateways with local counters reserve them in chunks ahead of use" { "Quota taken / limit" } } }
                tbody {
                    @for (record, spec) in &subscriptions {
                        @let row = usage.get(&record.key.name);
                        tr {
                            td { code { (record.key.name) } }
                            td { (spec.owner.as_deref().unwrap_or("—")) }
                            td { (spec.product) }
                            td { (layout::badge(spec.current_state().as_str())) }
                            td.num { (row.map_or(0, |r| r.calls)) }
                            td.num { (row.map_or(0, |r| r.errors)) }
                            td.num { (row.map_or("—".to_string(), |r| layout::ms(r.p95_ms))) }
                            td.num { (row.map_or(0.0, |r| r.cost)) }
                            td.num {
                                @match quotas.get(&record.key.name).copied().flatten() {
                                    Some((used, limit)) => { (used) " / " (limit) }
                                    None => "—",
                                }
                            }
                        }
                    }
                }
            }
        }
        section id="endpoints" {
            h2 { "Tool calls per endpoint (last " (SUMMARY_HOURS) " h)" }
            @if endpoints.is_empty() { p.empty { "No tool calls yet." } }
            @else {
                table {
                    thead { tr { th { "Endpoint" } th.num { "Calls" } th.num { "Errors" } th.num { "p95" } th.num { "Cost" } } }
                    tbody {
                        @for row in &endpoints {
                            tr {
                                td { code { (field(row, "endpoint")) } }
                                td.num { (row.calls) }
                                td.num { (row.errors) }
                                td.num { (layout::ms(row.p95_ms)) }
                                td.num { (row.cost) }
                            }
                        }
                    }
                }
            }
        }
        section id="top-tools" {
            h2 { "Top tools (last " (SUMMARY_HOURS) " h)" }
            (tools_table(&tools))
        }
    };
    Ok(html(layout::page(&viewer.frame(Area::Console, "Console"), body)))
}

pub(crate) async fn server(State(web): State<Web>, headers: HeaderMap, Path(server): Path<String>) -> Result<Response, WebError> {
    let viewer = web.operator(&headers).await?;
    if crate::model::rules::name(&server).is_err() || web.app.store.get(&Key::top(Kind::Server, &server)).await?.is_none() {
        return Err(WebError::NotFound(format!("there is no server {server:?}")));
    }
    let versions: Vec<(String, VersionSpec)> = web.children(Kind::Version, &server).await?;
    let since = hours_back(ADOPTION_HOURS);
    let summary_since = hours_back(SUMMARY_HOURS);
    let (hours, per_version, tools) = tokio::try_join!(
        async { Ok::<_, WebError>(web.app.store.hourly(HourlyColumn::Version, Some(&server), None, since).await?) },
        stats(&web, GroupBy::Version, Some(&server), summary_since),
        stats(&web, GroupBy::Tool, Some(&server), summary_since),
    )?;
    let mut adoption = HourlySeries::since(since, Utc::now());
    for hour in hours {
        adoption.add(&hour.group, hour.hour, hour.calls);
    }
    let per_version: BTreeMap<String, GroupStats> = per_version.into_iter().map(|row| (field(&row, "version"), row)).collect();
    let body = html! {
        section id="adoption" {
            h2 { "Adoption: calls per version per hour (last " (ADOPTION_HOURS) " h)" }
            (chart::line_chart("calls per version per hour", &adoption))
        }
        section id="versions" {
            h2 { "Versions (last " (SUMMARY_HOURS) " h)" }
            table {
                thead { tr { th { "Version" } th { "Status" } th.num { "Weight" } th { "Sunset" } th.num { "Calls" } th.num { "Errors" } th.num { "Error rate" } th.num { "p95" } } }
                tbody {
                    @for (name, spec) in &versions {
                        @let row = per_version.get(name);
                        tr {
                            td { code { (name) } }
                            td { (layout::badge(&label(&spec.status))) }
                            td.num { (spec.traffic_weight) }
                            td { (spec.sunset_at.map(layout::time).unwrap_or_default()) }
                            td.num { (row.map_or(0, |r| r.calls)) }
                            td.num { (row.map_or(0, |r| r.errors)) }
                            td.num { (row.map_or("—".to_string(), |r| format!("{:.1} %", r.error_rate * 100.0))) }
                            td.num { (row.map_or("—".to_string(), |r| layout::ms(r.p95_ms))) }
                        }
                    }
                }
            }
        }
        section id="top-tools" {
            h2 { "Top tools (last " (SUMMARY_HOURS) " h)" }
            (tools_table(&tools))
            p { a href={ "/console/calls?server=" (server) } { "Recent calls of this server" } }
        }
    };
    Ok(html(layout::page(&viewer.frame(Area::Console, &format!("Server {server}")), body)))
}

#[derive(Deserialize, Default)]
pub(crate) struct CallFilters {
    #[serde(default)]
    server: String,
    #[serde(default)]
    tool: String,
    #[serde(default)]
    subscription: String,
    #[serde(default)]
    status: String,
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

pub(crate) async fn calls(State(web): State<Web>, headers: HeaderMap, Query(filters): Query<CallFilters>) -> Result<Response, WebError> {
    let viewer = web.operator(&headers).await?;
    let status = match filters.status.as_str() {
        "ok" => Some(CallStatus::Ok),
        "error" => Some(CallStatus::Error),
        _ => None,
    };
    let query = CallQuery {
        server: non_empty(&filters.server),
        tool: non_empty(&filters.tool),
        subscription: non_empty(&filters.subscription),
        status,
        limit: Some(CALL_LOG_ROWS),
        ..CallQuery::default()
    };
    let calls = web.app.store.find_calls(&query).await?;
    let body = html! {
        form.filters method="get" action="/console/calls" {
            label { "Server " input type="text" name="server" value=(filters.server); }
            label { "Tool " input type="text" name="tool" value=(filters.tool); }
            label { "Subscription " input type="text" name="subscription" value=(filters.subscription); }
            label { "Status "
                select name="status" {
                    option value="" selected[status.is_none()] { "any" }
                    option value="ok" selected[status == Some(CallStatus::Ok)] { "ok" }
                    option value="error" selected[status == Some(CallStatus::Error)] { "error" }
                }
            }
            button type="submit" { "Filter" }
        }
        p.meta { "The newest " (CALL_LOG_ROWS) " calls that match." }
        table.calls {
            thead { tr { th { "Time" } th { "Subscription" } th { "Server / version" } th { "Tool" } th { "Status" } th.num { "Duration" } th { "Trace" } th { "Payload" } } }
            tbody {
                @for call in &calls {
                    tr {
                        td { (layout::time(call.time)) }
                        td { (call.subscription.as_deref().unwrap_or("—")) }
                        td { (call.server) " / " (call.version) }
                        td { code { (call.tool) } }
                        td {
                            (layout::badge(call.status.as_str()))
                            @if let Some(error) = &call.error_type { " " span.error-type { (error) } }
                            @if let Some(message) = &call.error_message { div.error-message { (message) } }
                        }
                        td.num { (layout::ms(call.duration_ms)) }
                        td {
                            @if let Some(trace) = &call.trace_id {
                                @match &web.trace_url {
                                    Some(template) => a.trace href=(template.replace("{trace_id}", trace)) { code { (trace) } },
                                    None => code.trace { (trace) },
                                }
                            }
                        }
                        td {
                            @if call.arguments.is_some() || call.result.is_some() {
                                details {
                                    summary { "arguments / result" }
                                    pre { (call.arguments.as_deref().unwrap_or("")) }
                                    pre { (call.result.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if calls.is_empty() { p.empty { "No calls match." } }
    };
    Ok(html(layout::page(&viewer.frame(Area::Console, "Call log"), body)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Decision {
    csrf: String,
    decision: String,
}

pub(crate) async fn decide(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<Decision>,
) -> Result<Response, WebError> {
    let viewer = web.poster(&headers, &form.csrf, true).await?;
    let to = match form.decision.as_str() {
        "approve" => SubscriptionState::Active,
        "reject" => SubscriptionState::Rejected,
        other => return Err(WebError::Forbidden(format!("decision must be approve or reject, not {other:?}"))),
    };
    if crate::model::rules::name(&name).is_err() {
        return Err(WebError::NotFound(format!("there is no subscription {name:?}")));
    }
    subscriptions::decide(&web.app, &Key::top(Kind::Subscription, &name), to).await?;
    web.app.store.append_audit(&format!("console:{}", viewer.name), &form.decision, &format!("subscriptions/{name}")).await?;
    Ok(Redirect::to("/console#approvals").into_response())
}
