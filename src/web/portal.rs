//! The developer portal: consumers sign in, browse published products and
//! the tools they allow, subscribe, get a key (shown once) and watch their
//! own usage.

use super::chart::{self, hours_back, HourlySeries};
use super::layout::{self, Area, Frame};
use super::session::{self, SIGN_IN_COOKIE};
use super::{decode, html, html_response, Web, WebError};
use crate::api::resource;
use crate::api::subscriptions::{self, Subscriptions};
use crate::model::calls::{summarize, GroupBy};
use crate::model::policy::PolicyRule;
use crate::model::{
    Key, KeySlot, Kind, PortalRole, ProductServerSpec, ProductSpec, ProductState, SubscriptionSpec, SubscriptionState, VersionSpec, VersionStatus,
};
use crate::store::{AnalyticsQuery, HourlyColumn, Precondition, Record};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use axum::Form;
use chrono::Utc;
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// How long a product page waits for a server's live `tools/list`.
const TOOLS_TIMEOUT: Duration = Duration::from_secs(5);
/// How far back the usage page looks.
const USAGE_HOURS: i64 = 24;

/// Missing fields default to empty, so the handler (not the extractor)
/// judges every post: sessions and CSRF first.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SignInForm {
    name: String,
    password: String,
    csrf: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct CsrfForm {
    csrf: String,
}

/// A value's name as the API spells it (`preview`, `submitted`, ...).
pub(crate) fn label<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn sign_in_form(token: &str, message: Option<&str>) -> Markup {
    let frame = Frame { area: Area::Portal, title: "Sign in", signed_in: None, operator: false };
    layout::page(
        &frame,
        html! {
            @if let Some(message) = message { (layout::notice("error", message)) }
            form.card.sign-in method="post" action="/portal/sign-in" {
                input type="hidden" name="csrf" value=(token);
                label { "User name" input type="text" name="name" id="name" autocomplete="username" required; }
                label { "Password" input type="password" name="password" id="password" autocomplete="current-password" required; }
                button type="submit" id="sign-in" { "Sign in" }
            }
        },
    )
}

/// The sign-in form, with a fresh double-submit token in a cookie.
pub(crate) async fn sign_in_page(State(web): State<Web>, headers: HeaderMap) -> Response {
    if web.viewer(&headers).await.is_ok() {
        return Redirect::to("/").into_response();
    }
    let token = hex::encode(rand::random::<[u8; 16]>());
    let mut response = html(sign_in_form(&token, None));
    response.headers_mut().append(header::SET_COOKIE, session::set_cookie(&headers, SIGN_IN_COOKIE, &token, 3600));
    response
}

/// Checked against unknown names too, so a wrong name takes as long as a
/// wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| crate::model::portal_user::hash_password("decoy password for unknown users"))
}

pub(crate) async fn sign_in(
    State(web): State<Web>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    let token = session::cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !session::same_origin(&headers) || token.is_empty() || token != form.csrf {
        return Err(WebError::Forbidden("the sign-in form is stale or came from another site; reload it and try again".into()));
    }
    let name = form.name.trim().to_ascii_lowercase();
    let address = peer.map(|Extension(ConnectInfo(peer))| web.client_address(peer.ip(), &headers));
    if let Some(wait) = web.sessions.locked_out(&name, address) {
        let mut response = html_response(
            StatusCode::TOO_MANY_REQUESTS,
            sign_in_form(token, Some(&format!("Too many failed sign-ins for this user or from this address; try again in {wait} seconds."))),
        );
        response.headers_mut().insert(header::RETRY_AFTER, wait.into());
        return Ok(response);
    }
    let user = web.user(&name).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone()).unwrap_or_else(|| decoy_hash().to_string());
    let password = form.password;
    let verified = tokio::task::spawn_blocking(move || crate::model::portal_user::verify_password(&password, &stored))
        .await
        .map_err(crate::api::problem::ApiError::internal)?;
    let Some(user) = user.filter(|_| verified) else {
        web.sessions.record_failure(&name, address);
        return Ok(html_response(StatusCode::UNAUTHORIZED, sign_in_form(token, Some("Wrong user name or password."))));
    };
    web.sessions.record_success(&name);
    let session_token = web.sessions.issue(&name, user.password_hash.as_deref().unwrap_or_default(), Utc::now().timestamp_millis());
    let target = if user.role == PortalRole::Operator { "/console" } else { "/portal" };
    let mut response = Redirect::to(target).into_response();
    response.headers_mut().append(header::SET_COOKIE, session::session_cookie(&headers, &session_token));
    response.headers_mut().append(header::SET_COOKIE, session::set_cookie(&headers, SIGN_IN_COOKIE, "", 0));
    Ok(response)
}

/// Ends the user's sessions on every admin replica (the store remembers
/// when), not only the cookie in this browser.
pub(crate) async fn sign_out(State(web): State<Web>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Result<Response, WebError> {
    let viewer = web.poster(&headers, &form.csrf, false).await?;
    let key = Key::top(Kind::PortalUser, &viewer.name);
    let now_ms = Utc::now().timestamp_millis();
    resource::write::<crate::api::portal_users::PortalUsers>(&web.app, &key, &Precondition::None, |current| {
        let current = current.ok_or_else(|| crate::api::problem::ApiError::not_found(&key))?;
        let mut spec: crate::model::PortalUserSpec = resource::stored_spec::<crate::api::portal_users::PortalUsers>(current)?;
        spec.sessions_revoked_at = Some(now_ms);
        Ok(spec)
    })
    .await?;
    let mut response = Redirect::to("/portal/sign-in").into_response();
    response.headers_mut().append(header::SET_COOKIE, session::set_cookie(&headers, session::SESSION_COOKIE, "", 0));
    Ok(response)
}

async fn published_product(web: &Web, name: &str) -> Result<ProductSpec, WebError> {
    let missing = || WebError::NotFound(format!("there is no published product {name:?}"));
    if crate::model::rules::name(name).is_err() {
        return Err(missing());
    }
    let record = web.app.store.get(&Key::top(Kind::Product, name)).await?.ok_or_else(missing)?;
    let product: ProductSpec = decode(&record)?;
    if product.state != ProductState::Published {
        return Err(missing());
    }
    Ok(product)
}

/// The servers of a product with their associations, by server name.
async fn product_servers(web: &Web, product: &str) -> Result<Vec<(String, ProductServerSpec)>, WebError> {
    web.children(Kind::ProductServer, product).await
}

async fn versions_of(web: &Web, server: &str) -> Result<Vec<(String, VersionSpec)>, WebError> {
    web.children(Kind::Version, server).await
}

/// The viewer's subscriptions, newest first.
async fn subscriptions_of(web: &Web, owner: &str) -> Result<Vec<(Record, SubscriptionSpec)>, WebError> {
    let mut mine = Vec::new();
    for record in web.app.store.list_all(Kind::Subscription).await? {
        let spec: SubscriptionSpec = decode(&record)?;
        if spec.owner.as_deref() == Some(owner) {
            mine.push((record, spec));
        }
    }
    mine.sort_by_key(|(record, _)| std::cmp::Reverse(record.created_at));
    Ok(mine)
}

pub(crate) async fn products(State(web): State<Web>, headers: HeaderMap) -> Result<Response, WebError> {
    let viewer = web.viewer(&headers).await?;
    let mut published = Vec::new();
    for record in web.app.store.list_all(Kind::Product).await? {
        let product: ProductSpec = decode(&record)?;
        if product.state == ProductState::Published {
            let servers = product_servers(&web, &record.key.name).await?;
            published.push((record.key.name.clone(), product, servers));
        }
    }
    let body = html! {
        p { "Products bundle MCP servers and the tools you may call. Subscribe to one to get a key." }
        @if published.is_empty() { p.empty { "No products are published yet." } }
        div.cards {
            @for (name, product, servers) in &published {
                a.card.product href={ "/portal/products/" (name) } {
                    h2 { (product.display_name.as_deref().unwrap_or(name)) }
                    p { (product.description) }
                    p.meta {
                        @if product.approval_required { (layout::badge("approval required")) " " }
                        @for (server, _) in servers { code { (server) } " " }
                    }
                }
            }
        }
    };
    Ok(html(layout::page(&viewer.frame(Area::Portal, "Products"), body)))
}

/// The tools a product allows on one of its servers, from the server's
/// live `tools/list` (the version most traffic goes to), filtered by the
/// product's allow-list and the version's approved manifest.
async fn allowed_tools(web: &Web, association: &ProductServerSpec, versions: &[(String, VersionSpec)]) -> Result<Vec<Value>, String> {
    let serving = versions
        .iter()
        .filter(|(name, _)| association.versions.as_ref().is_none_or(|allowed| allowed.contains(name)))
        .filter(|(_, v)| v.status == VersionStatus::Active)
        .max_by_key(|(_, v)| v.traffic_weight)
        .ok_or("no active version serves this server")?;
    let version = &serving.1;
    let tools = crate::upstream::list_tools(web.app.upstream(), version, TOOLS_TIMEOUT).await.map_err(|e| e.to_string())?;
    let filter = association.tool_filter();
    Ok(tools
        .into_iter()
        .filter(|tool| {
            let Some(name) = tool.get("name").and_then(Value::as_str) else { return false };
            let approved = version
                .approved_tools
                .as_ref()
                .is_none_or(|approved| approved.get(name).is_some_and(|hash| *hash == crate::model::tools::definition_hash(tool)));
            filter.allows(name) && approved
        })
        .collect())
}

fn tool_list(tools: &Result<Vec<Value>, String>) -> Markup {
    match tools {
        Err(reason) => html! { p.notice.notice-error { "The tools cannot be listed right now: " (reason) } },
        Ok(tools) if tools.is_empty() => html! { p.empty { "This product allows no tools of this server." } },
        Ok(tools) => html! {
            ul.tools {
                @for tool in tools {
                    li.tool {
                        code.tool-name { (tool.get("name").and_then(Value::as_str).unwrap_or_default()) }
                        p.description { (tool.get("description").and_then(Value::as_str).unwrap_or_default()) }
                        details {
                            summary { "Input schema" }
                            pre { (serde_json::to_string_pretty(tool.get("inputSchema").unwrap_or(&Value::Null)).unwrap_or_default()) }
                        }
                    }
                }
            }
        },
    }
}

fn version_badges(name: &str, version: &VersionSpec) -> Markup {
    html! {
        span.version {
            code { (name) } " " (layout::badge(&label(&version.status)))
            @if let Some(sunset) = version.sunset_at { " " span.badge.badge-sunset { "sunset " (sunset.format("%Y-%m-%d")) } }
        }
    }
}

pub(crate) async fn product(State(web): State<Web>, headers: HeaderMap, Path(name): Path<String>) -> Result<Response, WebError> {
    let viewer = web.viewer(&headers).await?;
    let product = published_product(&web, &name).await?;
    let mine = subscriptions_of(&web, &viewer.name).await?;
    let live = mine.iter().find(|(_, s)| s.product == name && s.current_state().is_live());
    let mut servers = Vec::new();
    for (server, association) in product_servers(&web, &name).await? {
        let versions = versions_of(&web, &server).await?;
        let tools = allowed_tools(&web, &association, &versions).await;
        servers.push((server, association, versions, tools));
    }
    let title = product.display_name.clone().unwrap_or_else(|| name.clone());
    let endpoint = product_endpoint(&web, &name);
    let federated = federated_tools(&servers);
    let body = html! {
        p { (product.description) }
        @if !product.terms.is_empty() { section.terms { h2 { "Terms of use" } p { (product.terms) } } }
        ul.limits {
            @if let Some(limit) = &product.rate_limit { li { "Rate limit: " (limit.calls) " calls per " (limit.period_seconds) " s" } }
            @if let Some(limit) = &product.quota { li { "Quota: " (limit.calls) " calls per " (limit.period_seconds) " s" } }
            (policy_limits(&product.policies))
            @if product.approval_required { li { "New subscriptions wait for an operator's approval." } }
        }
        @match live {
            Some((record, spec)) => p.notice.notice-info {
                "You subscribed to this product (" (record.key.name) "): " (layout::badge(spec.current_state().as_str())) " "
                a href="/portal/subscriptions" { "My subscriptions" }
            },
            None => form.subscribe method="post" action={ "/portal/products/" (name) "/subscribe" } {
                input type="hidden" name="csrf" value=(viewer.csrf);
                button type="submit" id="subscribe" { "Subscribe" }
            },
        }
        section.server.product-endpoint {
            h2 { "Product endpoint" }
            p.meta { "One MCP server with every tool below: " code { (endpoint) } }
            (layout::snippets(&endpoint, &name, "<your subscription key>"))
            (tool_list(&federated))
        }
        @for (server, association, versions, tools) in &servers {
            section.server {
                h2 { "Server " code { (server) } }
                p.meta { "Endpoint " code { (web.gateway_url) "/mcp/" (server) } }
                p.versions { @for (version, spec) in versions { (version_badges(version, spec)) " " } }
                ul.limits { (policy_limits(&association.policies)) }
                (tool_list(tools))
            }
        }
    };
    Ok(html(layout::page(&viewer.frame(Area::Portal, &title), body)))
}

/// A server of a product as its page shows it: the association, its
/// versions, and the tools it allows (or why they cannot be listed).
type ServerShown = (String, ProductServerSpec, Vec<(String, VersionSpec)>, Result<Vec<Value>, String>);

fn product_endpoint(web: &Web, product: &str) -> String {
    format!("{}/products/{product}/mcp", web.gateway_url)
}

/// The tools of every server as the product's endpoint names them
/// (`{tool_prefix}__{name}`, aliases applied); names clients would reject
/// are left out, as the endpoint leaves them out.
fn federated_tools(servers: &[ServerShown]) -> Result<Vec<Value>, String> {
    let mut exposed = Vec::new();
    let mut unavailable = Vec::new();
    for (server, association, _, tools) in servers {
        let Ok(tools) = tools else {
            unavailable.push(server.as_str());
            continue;
        };
        let naming = association.naming(server);
        for tool in tools {
            let Some(name) = tool.get("name").and_then(Value::as_str) else { continue };
            if let crate::model::federation::Exposed::Name(shown) = naming.expose(name) {
                let mut tool = tool.clone();
                tool["name"] = Value::String(shown);
                exposed.push(tool);
            }
        }
    }
    if exposed.is_empty() && !unavailable.is_empty() {
        return Err(format!("the servers {} do not answer", unavailable.join(", ")));
    }
    Ok(exposed)
}

/// The per-tool limits of a list of policy rules, as the portal lists them.
fn policy_limits(policies: &[PolicyRule]) -> Markup {
    html! {
        @for rule in policies {
            @let tools = rule.tools.as_ref().map_or_else(|| "every tool".to_string(), |t| t.join(", "));
            @if let Some(limit) = &rule.rate_limit {
                li.policy { "Rate limit for " code { (tools) } ": " (limit.calls) " calls per " (limit.period_seconds) " s (" (rule.name) ")" }
            }
            @if let Some(limit) = &rule.quota {
                li.policy { "Quota for " code { (tools) } ": " (limit.calls) " calls per " (limit.period_seconds) " s (" (rule.name) ")" }
            }
        }
    }
}

/// A subscription name of the viewer's own: `{user}-{product}` and a random
/// suffix, within the 63 characters names may have.
fn subscription_name(user: &str, product: &str) -> String {
    let mut base = format!("{user}-{product}");
    base.truncate(54);
    format!("{}-{}", base.trim_end_matches('-'), hex::encode(rand::random::<[u8; 4]>()))
}

pub(crate) async fn subscribe(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let viewer = web.poster(&headers, &form.csrf, false).await?;
    published_product(&web, &name).await?;
    if subscriptions_of(&web, &viewer.name).await?.iter().any(|(_, s)| s.product == name && s.current_state().is_live()) {
        return Ok(Redirect::to("/portal/subscriptions").into_response());
    }
    let key = Key::top(Kind::Subscription, subscription_name(&viewer.name, &name));
    let spec = SubscriptionSpec {
        product: name.clone(),
        display_name: Some(format!("{} ({name})", viewer.display_name)),
        owner: Some(viewer.name.clone()),
        state: None,
        token_subjects: Vec::new(),
    };
    spec.validate().map_err(crate::api::problem::ApiError::from)?;
    let (written, revealed) = resource::write::<Subscriptions>(&web.app, &key, &Precondition::Absent, |_| Ok(spec.clone())).await?;
    let stored: SubscriptionSpec = decode(&written.record)?;
    let servers = product_servers(&web, &name).await?;
    let body = match (stored.current_state(), revealed.primary) {
        (SubscriptionState::Active, Some(primary)) => html! {
            (layout::notice("ok", "Subscribed."))
            (layout::key_once(&primary, snippets(&web, &name, &servers, &primary)))
        },
        _ => html! {
            (layout::notice("info", "Your request was sent. An operator approves it; then get your key under My subscriptions."))
            a href="/portal/subscriptions" { "My subscriptions" }
        },
    };
    Ok(html(layout::page(&viewer.frame(Area::Portal, "Subscription"), body)))
}

/// How to connect with `key`: the product's endpoint first, then each server's own.
fn snippets(web: &Web, product: &str, servers: &[(String, ProductServerSpec)], key: &str) -> Markup {
    html! {
        (layout::snippets(&product_endpoint(web, product), product, key))
        @for (server, _) in servers { (layout::snippets(&format!("{}/mcp/{server}", web.gateway_url), server, key)) }
    }
}

pub(crate) async fn subscriptions(State(web): State<Web>, headers: HeaderMap) -> Result<Response, WebError> {
    let viewer = web.viewer(&headers).await?;
    let mine = subscriptions_of(&web, &viewer.name).await?;
    let body = html! {
        @if mine.is_empty() { p.empty { "No subscriptions yet. " a href="/portal" { "Browse the products." } } }
        table.subscriptions {
            thead { tr { th { "Subscription" } th { "Product" } th { "State" } th { "Since" } th { "Key" } } }
            tbody {
                @for (record, spec) in &mine {
                    tr id={ "subscription-" (record.key.name) } {
                        td { code { (record.key.name) } }
                        td { a href={ "/portal/products/" (spec.product) } { (spec.product) } }
                        td { (layout::badge(spec.current_state().as_str())) }
                        td { (layout::time(record.created_at)) }
                        td {
                            @if spec.current_state() == SubscriptionState::Active {
                                form method="post" action={ "/portal/subscriptions/" (record.key.name) "/key" } {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    button type="submit" class="new-key" { "Get a new key" }
                                }
                            } @else { "—" }
                        }
                    }
                }
            }
        }
        p.meta { "Keys are shown once, when made. Getting a new key replaces your primary key: the previous one stops working at once." }
    };
    Ok(html(layout::page(&viewer.frame(Area::Portal, "My subscriptions"), body)))
}

pub(crate) async fn new_key(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let viewer = web.poster(&headers, &form.csrf, false).await?;
    let not_yours = || WebError::NotFound(format!("you have no subscription {name:?}"));
    let mine = subscriptions_of(&web, &viewer.name).await?;
    let (record, spec) = mine.iter().find(|(r, _)| r.key.name == name).ok_or_else(not_yours)?;
    if spec.current_state() != SubscriptionState::Active {
        return Err(WebError::Forbidden(format!("subscription {name} is {}; keys are for active subscriptions", spec.current_state())));
    }
    let (_, key) = subscriptions::replace_key(&web.app, &record.key, KeySlot::Primary).await?;
    let servers = product_servers(&web, &spec.product).await?;
    let body = html! {
        (layout::notice("ok", "Your previous primary key no longer works."))
        (layout::key_once(&key, snippets(&web, &spec.product, &servers, &key)))
    };
    Ok(html(layout::page(&viewer.frame(Area::Portal, "New key"), body)))
}

pub(crate) async fn usage(State(web): State<Web>, headers: HeaderMap) -> Result<Response, WebError> {
    let viewer = web.viewer(&headers).await?;
    let since = hours_back(USAGE_HOURS);
    let mine = subscriptions_of(&web, &viewer.name).await?;
    // One subscription's numbers are independent of the next one's: ask for all at once.
    let per_subscription = futures::future::try_join_all(mine.iter().map(|(record, _)| {
        let store = &web.app.store;
        let name = record.key.name.as_str();
        let query = AnalyticsQuery { group_by: GroupBy::Tool, server: None, subscription: Some(name.to_string()), from: Some(since), to: None };
        async move { tokio::try_join!(store.analytics(&query), store.hourly(HourlyColumn::Tool, None, Some(name), since)) }
    }))
    .await?;
    let mut counts = Vec::new();
    let mut series = HourlySeries::since(since, Utc::now());
    for (analytics, hours) in per_subscription {
        counts.extend(analytics);
        for hour in hours {
            series.add(&hour.group, hour.hour, hour.calls);
        }
    }
    let stats = summarize(GroupBy::Tool, &counts);
    let body = html! {
        p { "Calls through the gateway with your subscriptions in the last " (USAGE_HOURS) " hours." }
        (chart::line_chart("calls per tool per hour", &series))
        table.usage {
            thead { tr { th { "Tool" } th.num { "Calls" } th.num { "Errors" } th.num { "p50" } th.num { "p95" } th.num { "Cost" } } }
            tbody {
                @for row in &stats {
                    tr {
                        td { code { (row.group.get("tool").cloned().flatten().unwrap_or_default()) } }
                        td.num { (row.calls) } td.num { (row.errors) }
                        td.num { (layout::ms(row.p50_ms)) } td.num { (layout::ms(row.p95_ms)) } td.num { (row.cost) }
                    }
                }
            }
        }
        @if stats.is_empty() { p.empty { "No calls yet." } }
    };
    Ok(html(layout::page(&viewer.frame(Area::Portal, "My usage"), body)))
}
