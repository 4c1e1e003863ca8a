//! The upstream leg: Streamable HTTP to the chosen version's backend, with
//! responses streamed back as they arrive. SSE events are read one by one on
//! their way through, JSON bodies whole; both are sent on as received unless
//! a `tools/list` result is filtered or a refusal is added.

use super::backend::{read_all, SendError};
use super::config::{Association, VersionConfig};
use super::limits::{LimitKind, Standing};
use super::observe::Exchanges;
use super::policy::{PolicyCharge, Verdict};
use super::refusal::{Refusal, RequestIds};
use super::screen::Screen;
use super::sessions::Session;
use super::{admit, give_back, Gateway, Routed, SERVER_VERSION_HEADER, SESSION_HEADER};
use crate::mcp::{jsonrpc, revision};
use crate::model::policy::RedactIn;
use crate::model::{CallLimit, Transport, VersionStatus};
use crate::upstream::legacy_sse::BridgeError;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// Headers that belong to one hop, or to the gateway, and never cross it.
/// A match on the name's text (by length, then bytes) where a list of
/// `HeaderName`s cost 18 comparisons per header, every call.
fn stays_on_this_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
            | "accept-encoding"
            // The gateway's own: the key, the version asked for.
            | "x-subscription-key"
            | "mcp-server-version"
            // The client's session id is the gateway's; the upstream gets its own.
            | "mcp-session-id"
            // The client's credentials are for the gateway: never passed
            // through (MCP authorization forbids token passthrough).
            | "authorization"
            // The client's cookies are for the gateway's origin, not the upstream's.
            | "cookie"
            // Where the request came from is the gateway's to say (`forwarded_for`).
            | "x-forwarded-for"
            | "forwarded"
    )
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(super) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
const SUNSET: HeaderName = HeaderName::from_static("sunset");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// Headers the gateway adds to an upstream request: X-Forwarded-For,
/// Forwarded, the session, the protocol and tool name, traceparent.
const ADDED_UPSTREAM: usize = 6;
/// Headers the gateway adds to a response: the version served, the
/// session, `RateLimit-Policy` and `RateLimit`, `Deprecation` and `Sunset`.
const ADDED_RESPONSE: usize = 6;

/// The client's headers as the upstream gets them, edited in place: what
/// stays on this hop removed, what the gateway says added. Copying the
/// rest into a new map cost an allocation per header value and the map's.
pub(super) fn upstream_headers(mut headers: HeaderMap, version: &VersionConfig, routed: &Routed, session: Option<&Session>) -> HeaderMap {
    let forwarded = forwarded_for(&headers, routed.peer, routed.behind_trusted_proxy);
    remove_hop_headers(&mut headers, |_| false);
    headers.reserve(ADDED_UPSTREAM + version.spec.backend_headers.len());
    for (name, value) in forwarded {
        if let Some(value) = value {
            headers.insert(name, value);
        }
    }
    if let Some(value) = session.and_then(|s| HeaderValue::from_str(&s.upstream).ok()) {
        headers.insert(SESSION_HEADER, value);
    }
    if let Some(federated) = &routed.federated {
        if let Some(protocol) = federated.protocol.clone() {
            headers.insert(revision::PROTOCOL_HEADER, protocol);
        }
        if let (Some(name), true) = (federated.name.clone(), headers.contains_key(revision::NAME_HEADER)) {
            headers.insert(revision::NAME_HEADER, name);
        }
    }
    for (name, value) in &version.spec.backend_headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    }
    headers
}

/// `X-Forwarded-For` and `Forwarded` (RFC 7239) naming the connection's
/// peer. What a client says of itself is dropped; what a trusted proxy in
/// front of the gateway says is kept, with that proxy appended.
fn forwarded_for(client: &HeaderMap, peer: std::net::IpAddr, trusted: bool) -> [(HeaderName, Option<HeaderValue>); 2] {
    let joined = |name: &HeaderName| {
        let values: Vec<&str> = client.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let earlier = if trusted { (joined(&X_FORWARDED_FOR), joined(&header::FORWARDED)) } else { (None, None) };
    let (x_forwarded_for, forwarded) = match earlier {
        (None, None) => peer_values(peer),
        (earlier_for, earlier_forwarded) => {
            let (address, node) = peer_texts(peer);
            let x_forwarded_for = earlier_for.map_or_else(|| address.clone(), |earlier| [&earlier, ", ", &address].concat());
            let forwarded = earlier_forwarded.map_or_else(|| node.clone(), |earlier| [&earlier, ", ", &node].concat());
            (HeaderValue::try_from(x_forwarded_for).ok(), HeaderValue::try_from(forwarded).ok())
        }
    };
    [(X_FORWARDED_FOR, x_forwarded_for), (header::FORWARDED, forwarded)]
}

/// A peer's address as `X-Forwarded-For` names it, and as a `Forwarded` node.
fn peer_texts(peer: std::net::IpAddr) -> (String, String) {
    let address = crate::telemetry::observation::address_text(peer);
    let node = match peer {
        std::net::IpAddr::V4(_) => ["for=", &address].concat(),
        std::net::IpAddr::V6(_) => ["for=\"[", &address, "]\""].concat(),
    };
    (address, node)
}

thread_local! {
    /// The last peer's `X-Forwarded-For` and `Forwarded` values, shared
    /// rather than written and allocated again on every call. A connection's
    /// calls all come from one peer, and behind a load balancer every
    /// connection's do; a thread whose peers alternate writes them afresh.
    static PEER_VALUES: std::cell::RefCell<Option<(std::net::IpAddr, HeaderValue, HeaderValue)>> = const { std::cell::RefCell::new(None) };
}

/// `X-Forwarded-For` and `Forwarded` naming only `peer`.
fn peer_values(peer: std::net::IpAddr) -> (Option<HeaderValue>, Option<HeaderValue>) {
    PEER_VALUES.with_borrow_mut(|last| {
        if let Some((_, x_forwarded_for, forwarded)) = last.as_ref().filter(|(address, ..)| *address == peer) {
            return (Some(x_forwarded_for.clone()), Some(forwarded.clone()));
        }
        let (address, node) = peer_texts(peer);
        // An address's text is always a valid header value.
        let (Ok(x_forwarded_for), Ok(forwarded)) = (HeaderValue::try_from(address), HeaderValue::try_from(node)) else { return (None, None) };
        *last = Some((peer, x_forwarded_for.clone(), forwarded.clone()));
        (Some(x_forwarded_for), Some(forwarded))
    })
}

/// Sets the policies' headers; the version's own `backend_headers` (its
/// credentials among them) win over a policy's.
pub(super) fn with_policy_headers(headers: &mut HeaderMap, policy_headers: Vec<(HeaderName, HeaderValue)>, version: &VersionConfig) {
    for (name, value) in policy_headers {
        if !version.spec.backend_headers.keys().any(|own| own.eq_ignore_ascii_case(name.as_str())) {
            headers.insert(name, value);
        }
    }
}

/// Adds the version's client-credentials token, when it has one.
pub(super) async fn authenticate_upstream(gateway: &Gateway, version: &VersionConfig, headers: &mut HeaderMap) -> Result<(), Refusal> {
    let Some(credentials) = &version.spec.client_credentials else { return Ok(()) };
    // Boxed: only versions with client credentials pay for its state.
    match Box::pin(gateway.upstream.tokens.authorization(credentials)).await {
        Ok(value) => {
            headers.insert(header::AUTHORIZATION, value);
            Ok(())
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot get an access token for an upstream");
            let message = format!("the gateway cannot authenticate to this server's backend: {err}");
            Err(Refusal::new(StatusCode::BAD_GATEWAY, "upstream_credentials", message))
        }
    }
}

pub(super) fn version_of(routed: &Routed) -> Option<&Arc<VersionConfig>> {
    routed.snapshot.servers.get(routed.server())?.versions.get(routed.version())
}

/// The upstream's response headers as the client gets them: those that
/// stay on the upstream's hop removed, the gateway's own added. Edited in
/// place, not copied into a new map: the HTTP layer reads a connection's
/// next head into the map its last one was written from, so the map goes
/// on to carry the client's next request. (The upstream request's map is
/// built anew: a client's request has more to remove, five headers, and
/// removing costs more than copying; count-instructions.sh measured it.)
pub(super) fn response_headers(mut headers: HeaderMap, routed: &Routed, version: &VersionConfig, rewritten: bool) -> HeaderMap {
    remove_hop_headers(&mut headers, |name| name == header::CONTENT_LENGTH && !rewritten);
    // Room for the gateway's own (version, session, RateLimit, deprecation) at once.
    headers.reserve(ADDED_RESPONSE);
    if let Ok(value) = HeaderValue::from_str(routed.version()) {
        headers.insert(SERVER_VERSION_HEADER, value);
    }
    if version.spec.status == VersionStatus::Deprecated {
        if let Ok(value) = HeaderValue::from_str(&format!("@{}", version.updated_at.timestamp())) {
            headers.insert(DEPRECATION, value);
        }
        if let Some(sunset) = version.spec.sunset_at {
            if let Ok(value) = HeaderValue::from_str(&sunset.format("%a, %d %b %Y %H:%M:%S GMT").to_string()) {
                headers.insert(SUNSET, value);
            }
        }
    }
    headers
}

/// Removes the headers that stay on this hop, but those `kept`: their
/// names found in one walk of the map (up to eight; more walk again).
fn remove_hop_headers(headers: &mut HeaderMap, kept: impl Fn(&HeaderName) -> bool) {
    loop {
        let mut found: [Option<HeaderName>; 8] = Default::default();
        let hop = headers.keys().filter(|name| stays_on_this_hop(name) && !kept(name));
        let mut count = 0;
        for (slot, name) in found.iter_mut().zip(hop) {
            *slot = Some(name.clone());
            count += 1;
        }
        for name in found.iter().flatten() {
            headers.remove(name);
        }
        if count < found.len() {
            return;
        }
    }
}

/// `RateLimit-Policy` and `RateLimit` (IETF httpapi ratelimit-headers draft).
pub(super) fn rate_limit_headers(standings: &[Standing], headers: &mut HeaderMap) {
    let Some(tightest) = standings.iter().min_by_key(|s| s.remaining) else { return };
    // Numbers written by itoa into one buffer each, handed over without a
    // copy: this runs on every call, where `write!` cost 2,000 instructions.
    let mut numbers = itoa::Buffer::new();
    if let Some(policy) = rate_limit_policy(standings, &mut numbers) {
        headers.insert(RATELIMIT_POLICY, policy);
    }
    let mut current = String::with_capacity(40);
    write_item(&mut current, tightest.kind.reason(), ("r", tightest.remaining), ("t", tightest.reset_seconds), &mut numbers);
    if let Ok(value) = HeaderValue::try_from(current) {
        headers.insert(RATELIMIT, value);
    }
}

/// A `RateLimit-Policy` value and the limits it names.
struct WrittenPolicy {
    limits: Vec<(LimitKind, CallLimit)>,
    value: HeaderValue,
}

thread_local! {
    /// The thread's last `RateLimit-Policy`. A product's limits change only
    /// with its configuration, so a call mostly names the same ones as the
    /// thread's call before it: the value is shared, not written and
    /// allocated again.
    static LAST_POLICY: std::cell::RefCell<Option<WrittenPolicy>> = const { std::cell::RefCell::new(None) };
}

/// `RateLimit-Policy`: each limit's quota and window.
fn rate_limit_policy(standings: &[Standing], numbers: &mut itoa::Buffer) -> Option<HeaderValue> {
    let limits = || standings.iter().map(|s| (s.kind, s.limit));
    LAST_POLICY.with_borrow_mut(|last| {
        if let Some(written) = last.as_ref().filter(|written| written.limits.iter().copied().eq(limits())) {
            return Some(written.value.clone());
        }
        let mut policy = String::with_capacity(40 * standings.len());
        for (i, s) in standings.iter().enumerate() {
            if i > 0 {
                policy.push_str(", ");
            }
            write_item(&mut policy, s.kind.reason(), ("q", s.limit.calls), ("w", s.limit.period_seconds), numbers);
        }
        let value = HeaderValue::try_from(policy).ok()?;
        *last = Some(WrittenPolicy { limits: limits().collect(), value: value.clone() });
        Some(value)
    })
}

/// `"name";a=1;b=2`: a structured-field item with two integer parameters.
fn write_item<N: itoa::Integer>(out: &mut String, name: &str, first: (&str, N), second: (&str, N), numbers: &mut itoa::Buffer) {
    out.push('"');
    out.push_str(name);
    out.push('"');
    for (key, value) in [first, second] {
        out.push(';');
        out.push_str(key);
        out.push('=');
        out.push_str(numbers.format(value));
    }
}

/// A 429 for a product's limit (`reason` its kind) or a policy's (`rate_limited`,
/// naming the rule): when to retry, in the body and `Retry-After`.
pub(crate) fn throttled(exceeded: Standing, standings: &[Standing], rule: Option<&str>) -> Refusal {
    let limit = match exceeded.kind {
        super::limits::LimitKind::RateLimit => {
            format!("rate limit of {} calls per {} s exceeded", exceeded.limit.calls, exceeded.limit.period_seconds)
        }
        super::limits::LimitKind::Quota => format!("quota of {} calls per {} s exhausted", exceeded.limit.calls, exceeded.limit.period_seconds),
    };
    let (reason, message) = match rule {
        Some(rule) => (super::screen::RATE_LIMITED, format!("policy {rule}: {limit}")),
        None => (exceeded.kind.reason(), limit),
    };
    let mut refusal = Refusal::new(StatusCode::TOO_MANY_REQUESTS, reason, message)
        .with_data("retryAfterSeconds", Value::from(exceeded.reset_seconds))
        .with_header(header::RETRY_AFTER, HeaderValue::from(exceeded.reset_seconds));
    if let Some(rule) = rule {
        refusal = refusal.with_data("rule", Value::from(rule)).with_data("limit", Value::from(exceeded.kind.reason()));
    }
    let mut standings = standings.to_vec();
    for s in &mut standings {
        if s.kind == exceeded.kind {
            s.remaining = 0;
        }
    }
    rate_limit_headers(&standings, &mut refusal.headers);
    refusal
}

fn upstream_failure(err: &SendError, requests: &RequestIds) -> Response {
    if err.is_timeout() {
        return timed_out(requests);
    }
    tracing::warn!(error = %err.cause, "upstream request failed");
    Refusal::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", format!("the MCP server is unreachable: {}", err.cause)).respond(requests)
}

/// A request to the upstream failed: every request waiting on it ends with
/// that failure, and the client gets the refusal.
fn failed_upstream(exchanges: &mut Exchanges, err: &SendError, requests: &RequestIds) -> Response {
    exchanges.fail_all(if err.is_timeout() { "timeout" } else { "upstream_unavailable" }, &err.cause);
    upstream_failure(err, requests)
}

/// The upstream ran out of the version's time.
pub(super) const NOT_IN_TIME: &str = "the MCP server did not answer in time";

fn upstream_timed_out(exchanges: &mut Exchanges, requests: &RequestIds) -> Response {
    exchanges.fail_all("timeout", NOT_IN_TIME);
    timed_out(requests)
}

fn timed_out(requests: &RequestIds) -> Response {
    timeout_refusal().respond(requests)
}

fn timeout_refusal() -> Refusal {
    Refusal::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", NOT_IN_TIME)
}

/// Rewrites upstream messages on their way back (filters `tools/list`
/// results to the product's allow-list), learns what the version offers,
/// and reports each answer.
struct ResponseHook {
    /// The product's association with the server, when its allow-list
    /// restricts tools; shared, not copied per request.
    allow_list: Option<Arc<Association>>,
    /// The version's approved manifest, when it has one.
    approved: Option<Arc<VersionConfig>>,
    list_ids: HashSet<jsonrpc::IdKey>,
    /// Policies' patterns to replace in the results of these requests, by id key.
    redact_results: Vec<(jsonrpc::IdKey, Vec<Arc<regex::Regex>>)>,
    exchanges: Exchanges,
    tools: Arc<super::tools::ToolCatalog>,
    /// The client speaks 2026-07-28 and the upstream session an earlier
    /// revision: each result gains the `resultType` the client requires.
    bridged: bool,
}

impl ResponseHook {
    fn on_message(&mut self, message: &mut Value) -> bool {
        let changed = self.filter_tools(message) | self.redact_result(message) | self.complete_result(message);
        self.exchanges.complete(message);
        changed
    }

    /// Whether answers pass through untouched and unlogged, so reading
    /// their ids and outcomes is enough (`jsonrpc::Answer`).
    fn reads_answers_only(&self) -> bool {
        self.list_ids.is_empty() && self.redact_results.is_empty() && !self.bridged && !self.exchanges.needs_whole_answers()
    }

    /// Completes the answers in `bytes` from their ids and outcomes alone,
    /// when that is all the hook needs of them (and they parse as answers).
    fn completed_answers_only(&mut self, text: &str) -> bool {
        let Some(answers) = self.reads_answers_only().then(|| jsonrpc::Answer::read_all(text)).flatten() else { return false };
        answers.iter().for_each(|answer| self.exchanges.complete_answer(answer));
        true
    }

    /// An SSE event's message: the data to send instead, when the hook changed it.
    fn on_event_data(&mut self, data: &str) -> Option<String> {
        if self.completed_answers_only(data) {
            return None;
        }
        let mut message: Value = serde_json::from_str(data).ok()?;
        self.on_message(&mut message).then(|| message.to_string())
    }

    /// A bridged answer's result, as 2026-07-28 says it: `resultType`
    /// `complete` (an earlier revision has no other kind).
    fn complete_result(&self, message: &mut Value) -> bool {
        if !self.bridged {
            return false;
        }
        let Some(result) = message.get_mut("result").and_then(Value::as_object_mut) else { return false };
        // A list's items, or a read resource's contents.
        let cached =
            ["tools", "prompts", "resources", "resourceTemplates", "contents"].iter().any(|field| result.get(*field).is_some_and(Value::is_array));
        revision::complete_result(result, cached)
    }

    /// Applies `redact … in: result` to an answer the client receives.
    fn redact_result(&self, message: &mut Value) -> bool {
        if self.redact_results.is_empty() {
            return false;
        }
        let Some(key) = jsonrpc::id(message).map(jsonrpc::id_key) else { return false };
        let Some((_, patterns)) = self.redact_results.iter().find(|(id, _)| *id == key) else { return false };
        let Some(result) = message.get_mut("result") else { return false };
        patterns.iter().fold(false, |changed, pattern| super::policy::redact(result, pattern) | changed)
    }

    fn filter_tools(&mut self, message: &mut Value) -> bool {
        let is_list_reply = jsonrpc::id(message).is_some_and(|id| self.list_ids.contains(&jsonrpc::id_key(id)));
        if !is_list_reply {
            return false;
        }
        let id = jsonrpc::id(message).cloned().unwrap_or(Value::Null);
        let Some(tools) = message.pointer_mut("/result/tools").and_then(Value::as_array_mut) else { return false };
        let approved = self.approved.as_ref().and_then(|v| v.spec.approved_tools.as_ref());
        let before = tools.len();
        filter_listed(&self.tools, &mut self.exchanges, &id, tools, approved, self.allow_list.as_deref());
        let filtered = tools.len() != before;
        // A list shaped for this product (allow-list) or version (approved
        // manifest) is this caller's: 2026-07-28 caching fields say so.
        let per_caller = approved.is_some() || self.allow_list.as_ref().is_some_and(|a| a.restricts_tools);
        let Some(result) = message.get_mut("result").and_then(Value::as_object_mut) else { return filtered };
        let cacheable = result.contains_key("ttlMs") || result.contains_key("cacheScope");
        if !(per_caller && cacheable) || result.get("cacheScope").and_then(Value::as_str) == Some("private") && !filtered {
            return filtered;
        }
        let ttl = result.get("ttlMs").and_then(Value::as_u64);
        revision::mark_private(result, ttl);
        true
    }
}

/// What a client sees of a version's `tools/list` page: the catalog learns
/// every tool; a tool whose definition is not the approved one is hidden
/// (noted on the request `id` and counted), and so is one the product's
/// allow-list leaves out.
pub(super) fn filter_listed(
    catalog: &super::tools::ToolCatalog,
    exchanges: &mut Exchanges,
    id: &Value,
    tools: &mut Vec<Value>,
    approved: Option<&std::collections::BTreeMap<String, String>>,
    allow_list: Option<&Association>,
) {
    let (server, version) = (exchanges.context.server.clone(), exchanges.context.version.clone());
    catalog.learn(&server, &version, tools);
    if let Some(approved) = approved {
        let hidden: Vec<String> = tools
            .iter()
            .filter(|tool| !super::tools::is_approved(tool, approved))
            .filter_map(|tool| tool.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        if !hidden.is_empty() {
            tools.retain(|tool| super::tools::is_approved(tool, approved));
            exchanges.note_unapproved(id, &hidden);
            exchanges.telemetry().metrics.record_unapproved("hidden", hidden.len() as u64, &server, &version);
        }
    }
    if let Some(allow_list) = allow_list.filter(|a| a.restricts_tools) {
        tools.retain(|tool| tool.get("name").and_then(Value::as_str).is_some_and(|name| allow_list.tools.allows(name)));
    }
}

/// Whether the `Content-Type` starts with `media_type` (any case), read in
/// place: lower-casing a copy allocated on every call.
fn is_media_type(headers: &HeaderMap, media_type: &str) -> bool {
    let value = headers.get(header::CONTENT_TYPE).map_or(&[][..], HeaderValue::as_bytes);
    value.get(..media_type.len()).is_some_and(|start| start.eq_ignore_ascii_case(media_type.as_bytes()))
}

fn sse_event(message: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {message}\n\n"))
}

/// POST: JSON-RPC messages from the client.
/// Marks the answer to a request in a session the gateway holds with the
/// upstream (a bridge's, a product endpoint member's) when the upstream no
/// longer knows that session (HTTP 404): the caller opens a new one and
/// sends the request again.
#[derive(Debug, Clone, Copy)]
pub(super) struct ForgottenSession;

/// Whether the upstream forgot the session the gateway holds (`ForgottenSession`).
pub(super) fn forgot_session(response: &Response) -> bool {
    response.extensions().get::<ForgottenSession>().is_some()
}

/// Whether `routed` goes upstream in a session the gateway opened and
/// holds, rather than one its client holds.
fn in_held_session(routed: &Routed) -> bool {
    routed.federated.is_some() && routed.session.as_ref().is_some_and(|s| !s.upstream.is_empty())
}

/// A copy of a request's head, to send the request again.
pub(super) fn copy_parts(parts: &Parts) -> Parts {
    let mut request = axum::http::Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request.into_parts().0
}

// Not an `async fn`: an async fn's future keeps each argument twice, as
// it came and moved into its body (rust-lang/rust#62958), and this future
// sits in every call's; an async block uses what it captured in place.
#[allow(clippy::manual_async_fn)]
pub fn forward_messages(
    gateway: &Gateway,
    routed: Routed,
    mut parts: Parts,
    mut body: jsonrpc::Body,
    raw: Bytes,
) -> impl std::future::Future<Output = Response> + Send + '_ {
    async move {
        let requests = RequestIds::of(&body);
        let Some(version) = version_of(&routed).cloned() else {
            return Refusal::new(StatusCode::NOT_FOUND, "unknown_version", "the version vanished").respond(&requests);
        };
        let association = routed.grant.association(routed.server()).cloned();
        let mut exchanges = Exchanges::new(gateway, routed.context.clone(), version.clone(), association.clone());
        let incoming_traceparent = parts.headers.get(&TRACEPARENT).and_then(|v| v.to_str().ok()).map(str::to_string);
        let upstream_traceparent = exchanges.begin(body.messages_mut(), incoming_traceparent.as_deref());
        let allow_list = association.as_ref().filter(|a| a.restricts_tools).cloned();

        let screen = Screen { gateway, routed: &routed, version: &version, association: association.as_ref(), headers: &parts.headers };
        let screened = screen.run(&mut body, &mut exchanges).await;
        let batch = body.is_batch();
        // Unless a message was dropped, rewritten or given trace context, the
        // client's bytes go upstream as they came.
        let kept_whole = !screened.rewritten && screened.refused.is_empty();
        let untouched = kept_whole && upstream_traceparent.is_none();
        let forwarded = body.retain(|i| !screened.is_refused(i));
        let calls = forwarded.as_ref().map_or(0, |b| b.messages().iter().filter(jsonrpc::is_request).count() as u64);
        let charged = match admit(gateway, &routed, calls, screened.charges()).await {
            Ok(charged) => charged,
            Err(refused) => {
                exchanges.fail_all_by(&refused.error_type, &refused.message, refused.rule.as_ref());
                return refused.response(&requests);
            }
        };
        let local_replies = screened.replies;
        let Some(forwarded) = forwarded else {
            exchanges.stored().await;
            return local_only(local_replies, batch, &routed, &version, &charged.standings);
        };
        let charged = Charged { batch: forwarded.is_batch(), ..charged };
        exchanges.forwarded();
        let effects = UpstreamEffects::of(&screened.verdicts);
        let hook = ResponseHook {
            allow_list,
            list_ids: forwarded
                .messages()
                .iter()
                .filter(|m| jsonrpc::method(m) == Some("tools/list"))
                .filter_map(|m| jsonrpc::id(m).map(jsonrpc::id_key))
                .collect(),
            redact_results: effects.redact_results,
            exchanges,
            tools: gateway.tools.clone(),
            approved: version.spec.approved_tools.as_ref().map(|_| version.clone()),
            bridged: routed.federated.as_ref().is_some_and(|f| f.bridged),
        };
        if version.spec.transport == Transport::Sse {
            let exchange = LegacyExchange { routed: &routed, version: &version, parts: &parts, requests: &requests, charged: &charged };
            // Boxed, as rarer branches of a request are (`gateway::handle`).
            return Box::pin(forward_legacy(gateway, exchange, forwarded, hook, local_replies)).await;
        }
        // Given only trace context, a single message goes as it came but for that.
        let traced = upstream_traceparent.as_deref().filter(|_| kept_whole && !batch).and_then(|t| with_trace_context(&raw, t));
        let payload = if untouched { raw } else { traced.unwrap_or_else(|| Bytes::from(forwarded.to_bytes())) };
        // The client's headers become the upstream request's.
        let client = std::mem::take(&mut parts.headers);
        let leg = Upstream { routed: &routed, version: &version, client, requests, headers: effects.headers, timeout: effects.timeout };
        forward_streamable(gateway, leg, (charged, payload), hook, local_replies, upstream_traceparent).await
    }
}

/// A single message's bytes with the `params._meta.traceparent` that
/// `observe` gave the message, added as text.
fn with_trace_context(raw: &[u8], traceparent: &str) -> Option<Bytes> {
    // Ours: hex digits and dashes, nothing a JSON string would escape.
    if !traceparent.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?;
    jsonrpc::with_params_meta(text, &["\"traceparent\":\"", traceparent, "\""].concat()).map(Bytes::from)
}

/// What the forwarded calls' policy verdicts ask of the upstream leg.
pub(super) struct UpstreamEffects {
    /// Headers to set on the upstream request (`set_headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The shortest `timeout` of the forwarded calls.
    pub timeout: Option<Duration>,
    /// Patterns to replace in the results of these requests, by id key.
    pub redact_results: Vec<(jsonrpc::IdKey, Vec<Arc<regex::Regex>>)>,
}

impl UpstreamEffects {
    pub(super) fn of(verdicts: &[(jsonrpc::IdKey, Verdict)]) -> UpstreamEffects {
        let mut effects = UpstreamEffects { headers: Vec::new(), timeout: None, redact_results: Vec::new() };
        for (id, verdict) in verdicts {
            for (name, value) in &verdict.headers {
                effects.headers.retain(|(n, _)| n != name);
                effects.headers.push((name.clone(), value.clone()));
            }
            if let Some(timeout) = verdict.timeout {
                effects.timeout = Some(effects.timeout.map_or(timeout, |t| t.min(timeout)));
            }
            let patterns: Vec<Arc<regex::Regex>> =
                verdict.redact.iter().filter(|(_, target)| *target == RedactIn::Result).map(|(p, _)| p.clone()).collect();
            if !patterns.is_empty() {
                effects.redact_results.push((id.clone(), patterns));
            }
        }
        effects
    }
}

/// What a forwarded body was charged: its requests against the product's
/// limits, its calls against policy limits, and where the caller stands.
#[derive(Debug, Clone, Default)]
pub(crate) struct Charged {
    pub calls: u64,
    pub batch: bool,
    pub policy: Vec<PolicyCharge>,
    pub standings: Vec<Standing>,
}

/// What the upstream leg of one POST needs to know.
struct Upstream<'a> {
    routed: &'a Routed,
    version: &'a VersionConfig,
    /// The client's headers, edited into the upstream request's.
    client: HeaderMap,
    /// Owned: an SSE answer keeps them for the stream's life.
    requests: RequestIds,
    /// Headers the policies set.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// A policy's timeout, when shorter than the version's.
    timeout: Option<Duration>,
}

/// `payload`: what was charged for it, and its bytes.
// Not an `async fn`, for the reason `forward_messages` gives.
#[allow(clippy::manual_async_fn)]
fn forward_streamable<'a>(
    gateway: &'a Gateway,
    leg: Upstream<'a>,
    payload: (Charged, Bytes),
    mut hook: ResponseHook,
    local_replies: Vec<Value>,
    traceparent: Option<String>,
) -> impl std::future::Future<Output = Response> + Send + 'a {
    async move {
        let Upstream { routed, version, client, requests, headers: policy_headers, timeout: policy_timeout } = leg;
        let wait = policy_timeout.map_or(timeout_of(version), |t| t.min(timeout_of(version)));
        let deadline = Instant::now() + wait;
        let sent_session = client.get(SESSION_HEADER).cloned();
        let mut headers = upstream_headers(client, version, routed, routed.session.as_deref());
        if let Some(value) = traceparent.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert(TRACEPARENT, value);
        }
        with_policy_headers(&mut headers, policy_headers, version);
        let (mut charged, payload) = payload;
        // Taken, not copied: a refund reads only the charges.
        let standings = std::mem::take(&mut charged.standings);
        if let Err(refusal) = authenticate_upstream(gateway, version, &mut headers).await {
            give_back(gateway, routed, charged.calls, &charged.policy).await;
            hook.exchanges.fail_all(&StatusCode::BAD_GATEWAY.as_u16().to_string(), &refusal.message);
            return refusal.respond(&requests);
        }
        let Some(target) = version.mcp() else {
            return Refusal::new(StatusCode::NOT_FOUND, "unknown_version", "not an MCP backend").respond(&requests);
        };
        let request = gateway.backends.send(target, Method::POST, headers, payload);
        let mut upstream = match timeout(deadline - Instant::now(), request).await {
            Err(_) => return upstream_timed_out(&mut hook.exchanges, &requests),
            Ok(Err(err)) => {
                if err.is_connect() {
                    // Nothing reached the upstream: nothing was served.
                    give_back(gateway, routed, charged.calls, &charged.policy).await;
                }
                return failed_upstream(&mut hook.exchanges, &err, &requests);
            }
            Ok(Ok(response)) => response,
        };
        let standings = &standings[..];
        let session = session_header(gateway, routed, sent_session, upstream.headers(), &mut hook.exchanges);
        let status = upstream.status();
        let sse = is_media_type(upstream.headers(), "text/event-stream");
        let json = !sse && is_media_type(upstream.headers(), "application/json");
        // Only a successful SSE or JSON answer is rewritten (its length may
        // change) and carries the limits' standing.
        let rewritten = status.is_success() && (sse || json);
        let mut headers = response_headers(std::mem::take(upstream.headers_mut()), routed, version, rewritten);
        if let Some(session) = session {
            headers.insert(SESSION_HEADER, session);
        }
        if rewritten {
            rate_limit_headers(standings, &mut headers);
        }

        if status == StatusCode::ACCEPTED && !local_replies.is_empty() {
            // Only notifications went upstream; the client still awaits the refusals.
            hook.exchanges.stored().await;
            return local_only(local_replies, charged.batch, routed, version, standings);
        }
        let metrics_server = routed.server().to_string();
        if !status.is_success() {
            if status.is_client_error() {
                // The upstream refused the whole body: none of it was served.
                give_back(gateway, routed, charged.calls, &charged.policy).await;
            }
            if matches!(status, StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST) && in_held_session(routed) {
                let remaining = deadline.saturating_duration_since(Instant::now());
                let body = timeout(remaining, read_all(upstream.into_body())).await.ok().and_then(Result::ok).unwrap_or_default();
                let mut response = (status, headers, body.clone()).into_response();
                if crate::upstream::forgets_session(status, &body) {
                    // The request is sent again in a new session, and recorded then.
                    hook.exchanges.abandon();
                    response.extensions_mut().insert(ForgottenSession);
                } else {
                    hook.exchanges.fail_all(status.as_str(), &format!("the MCP server answered HTTP {status}"));
                }
                return response;
            }
            hook.exchanges.fail_all(status.as_str(), &format!("the MCP server answered HTTP {status}"));
            return stream_through(status, headers, upstream, gateway, metrics_server);
        }
        if sse {
            let answer = SseAnswer { status, headers, upstream, deadline, requests };
            return rewrite_sse(answer, hook, local_replies, gateway, metrics_server).await;
        }
        if json {
            let remaining = deadline.saturating_duration_since(Instant::now());
            return match timeout(remaining, read_all(upstream.into_body())).await {
                Err(_) => upstream_timed_out(&mut hook.exchanges, &requests),
                Ok(Err(err)) => failed_upstream(&mut hook.exchanges, &err, &requests),
                Ok(Ok(bytes)) => {
                    gateway.telemetry.metrics.record_bytes(0, bytes.len() as u64, routed.server());
                    let response = rewrite_json(status, headers, bytes, &mut hook, local_replies);
                    hook.exchanges.stored().await;
                    response
                }
            };
        }
        stream_through(status, headers, upstream, gateway, metrics_server)
    }
}

/// The session id the client gets: the one it sent (verified when routed;
/// issuing it again would sign the same token), while the upstream keeps
/// the session; a new one, owned by the caller, when the upstream starts a
/// session.
fn session_header(
    gateway: &Gateway,
    routed: &Routed,
    sent: Option<HeaderValue>,
    upstream: &HeaderMap,
    exchanges: &mut Exchanges,
) -> Option<HeaderValue> {
    if let Some(federated) = &routed.federated {
        return federated.session_header.clone();
    }
    let upstream_id = upstream.get(SESSION_HEADER).and_then(|v| v.to_str().ok())?;
    if let Some(session) = routed.session.as_ref().filter(|s| s.upstream == upstream_id) {
        return match sent {
            Some(sent) => Some(sent),
            None => HeaderValue::from_str(&gateway.sessions.issue(session)).ok(),
        };
    }
    exchanges.context_mut().session_id = Some(upstream_id.to_string());
    let session = Session::start(&exchanges.context, &routed.caller, upstream_id);
    HeaderValue::from_str(&gateway.sessions.issue(&session)).ok()
}

/// The gateway answers alone: refusals for the requests it did not forward,
/// or, when only notifications came, 202 with no body.
pub(super) fn local_only(replies: Vec<Value>, batch: bool, routed: &Routed, version: &VersionConfig, standings: &[Standing]) -> Response {
    let mut headers = response_headers(HeaderMap::new(), routed, version, true);
    rate_limit_headers(standings, &mut headers);
    if replies.is_empty() {
        return (StatusCode::ACCEPTED, headers).into_response();
    }
    let body = if batch || replies.len() != 1 { Value::Array(replies) } else { replies.into_iter().next().unwrap_or(Value::Null) };
    (StatusCode::OK, headers, axum::Json(body)).into_response()
}

/// A streamed response's bytes, added to the metric when the stream ends
/// (dropped) or every `FLUSH_BYTES` of a long one: a metric update per chunk
/// was one per SSE event.
struct ResponseBytes {
    telemetry: Arc<crate::telemetry::Telemetry>,
    server: String,
    pending: u64,
}

impl ResponseBytes {
    const FLUSH_BYTES: u64 = 64 * 1024;

    fn new(gateway: &Gateway, server: String) -> ResponseBytes {
        ResponseBytes { telemetry: gateway.telemetry.clone(), server, pending: 0 }
    }

    fn add(&mut self, bytes: usize) {
        self.pending += bytes as u64;
        if self.pending >= Self::FLUSH_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.pending > 0 {
            self.telemetry.metrics.record_bytes(0, std::mem::take(&mut self.pending), &self.server);
        }
    }
}

impl Drop for ResponseBytes {
    fn drop(&mut self) {
        self.flush();
    }
}

fn stream_through(status: StatusCode, headers: HeaderMap, upstream: Response, gateway: &Gateway, server: String) -> Response {
    let mut counted_bytes = ResponseBytes::new(gateway, server);
    let counted = upstream.into_body().into_data_stream().inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            counted_bytes.add(chunk.len());
        }
    });
    let mut response = Response::new(Body::from_stream(counted));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn as_received(status: StatusCode, headers: HeaderMap, bytes: Bytes) -> Response {
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn rewrite_json(status: StatusCode, headers: HeaderMap, bytes: Bytes, hook: &mut ResponseHook, local: Vec<Value>) -> Response {
    // Nothing to rewrite or log: read only what the records need.
    if local.is_empty() && std::str::from_utf8(&bytes).is_ok_and(|text| hook.completed_answers_only(text)) {
        return as_received(status, headers, bytes);
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&bytes) else { return as_received(status, headers, bytes) };
    let changed = match &mut body {
        Value::Array(items) => items.iter_mut().fold(false, |changed, m| hook.on_message(m) | changed),
        single => hook.on_message(single),
    };
    if !changed && local.is_empty() {
        return as_received(status, headers, bytes);
    }
    match &mut body {
        Value::Array(items) => items.extend(local),
        single if !local.is_empty() => {
            let mut items = vec![single.clone()];
            items.extend(local);
            *single = Value::Array(items);
        }
        _ => {}
    }
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().extend(headers);
    response
}

/// Streams an SSE answer through, rewriting what the hook changes. Requests
/// still unanswered at `deadline` (the version's timeout, or a policy's)
/// are answered with a timeout error and the stream ends.
struct SseAnswer {
    status: StatusCode,
    headers: HeaderMap,
    upstream: Response,
    deadline: Instant,
    requests: RequestIds,
}

// Not an `async fn`: the state is built before the future, which holds it
// once (an async fn would keep its arguments beside it, rust-lang/rust#62958).
#[allow(clippy::manual_async_fn)]
fn rewrite_sse(
    answer: SseAnswer,
    hook: ResponseHook,
    local: Vec<Value>,
    gateway: &Gateway,
    server: String,
) -> impl std::future::Future<Output = Response> + Send {
    let SseAnswer { status, headers, upstream, deadline, requests } = answer;
    let mut state = SseRewrite {
        ready: local.iter().map(|m| Ok(sse_event(m))).collect(),
        upstream: Some(upstream.into_body().into_data_stream()),
        rewriter: crate::mcp::sse::EventRewriter::default(),
        hook,
        deadline,
        requests,
        counted_bytes: ResponseBytes::new(gateway, server),
        got_message: false,
    };
    async move {
        state.hold_until_first_message().await;
        let body = match state.whole() {
            Some(bytes) => Body::from(bytes),
            // Polled by the connection's own task as the client reads: no task
            // or channel per answer.
            None => Body::from_stream(futures::stream::unfold(state, |mut state| async move { state.next_item().await.map(|item| (item, state)) })),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

/// An SSE answer on its way through: what is ready to go out, and the
/// upstream stream still to read.
///
/// Once every request of the body is answered the client's stream ends (an
/// MCP server closes it after the response, and nothing after it belongs to
/// these requests), so the last answer and the closing chunk go out in one
/// write; the upstream's rest is read to its end apart, keeping its
/// connection reusable.
struct SseRewrite {
    ready: std::collections::VecDeque<Result<Bytes, std::io::Error>>,
    upstream: Option<axum::body::BodyDataStream>,
    rewriter: crate::mcp::sse::EventRewriter,
    hook: ResponseHook,
    deadline: Instant,
    requests: RequestIds,
    counted_bytes: ResponseBytes,
    /// Whether an event carrying data (a message) was read.
    got_message: bool,
}

impl SseRewrite {
    /// How long the upstream's rest is read after the last answer.
    const DRAIN: Duration = Duration::from_secs(10);
    /// How long the response's head and the events before the first message
    /// (a priming event) wait for that message.
    const FIRST_MESSAGE_WAIT: Duration = Duration::from_millis(100);

    /// Holds the response back until the upstream's first message (or its
    /// end, or FIRST_MESSAGE_WAIT): a server's priming event, then its answer
    /// a moment later, would otherwise go out in two writes with the head,
    /// where a quick answer now goes out whole in one. A client of a JSON
    /// answering server already waits for the head until the answer.
    async fn hold_until_first_message(&mut self) {
        let until = (Instant::now() + Self::FIRST_MESSAGE_WAIT).min(self.deadline);
        while !self.got_message {
            let Some(upstream) = self.upstream.as_mut() else { return };
            let next = match next_if_read(upstream).await {
                Some(next) => next,
                None => match tokio::time::timeout_at(until, upstream.next()).await {
                    Ok(next) => next,
                    Err(_) => return,
                },
            };
            self.take(next);
            self.settle().await;
        }
    }

    /// The whole answer, when every request is answered and the upstream's
    /// stream is done with (the usual quick call): it goes out as one body
    /// of known length, where a stream cost a poll of this state per event
    /// and a chunk per event (count-instructions: 2,100 fewer instructions
    /// a call, two more allocations). None when more may come, or a read
    /// failed and the client's stream must break as the upstream's did.
    fn whole(&mut self) -> Option<Bytes> {
        if self.upstream.is_some() || self.ready.iter().any(Result::is_err) {
            return None;
        }
        if self.ready.len() == 1 {
            return self.ready.pop_front().and_then(Result::ok);
        }
        let length = self.ready.iter().flatten().map(Bytes::len).sum();
        let mut whole = bytes::BytesMut::with_capacity(length);
        for event in self.ready.drain(..).flatten() {
            whole.extend_from_slice(&event);
        }
        Some(whole.freeze())
    }

    async fn next_item(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            self.upstream.as_ref()?;
            self.read_upstream().await;
        }
    }

    /// Reads the next upstream chunk into `ready`, rewritten; an answer goes
    /// out once its call is recorded.
    async fn read_upstream(&mut self) {
        let Some(upstream) = self.upstream.as_mut() else { return };
        let next =
            if self.hook.exchanges.awaiting() { tokio::time::timeout_at(self.deadline, upstream.next()).await } else { Ok(upstream.next().await) };
        match next {
            Ok(next) => self.take(next),
            Err(_) => {
                let hook = &mut self.hook;
                let refusal = timeout_refusal();
                for id in self.requests.ids.iter().filter(|id| hook.exchanges.is_pending(id)) {
                    self.ready.push_back(Ok(sse_event(&refusal.error_for(Some(id)))));
                }
                hook.exchanges.fail_all("timeout", NOT_IN_TIME);
                self.upstream = None;
            }
        }
        self.settle().await;
    }

    /// After a read: what was answered is stored before it goes out, and
    /// once everything is answered the stream ends.
    async fn settle(&mut self) {
        if self.upstream.is_none() || self.hook.exchanges.awaiting() {
            self.hook.exchanges.stored().await;
            return;
        }
        // Everything is answered: what the upstream has already sent still
        // goes out (looked at before and after the records are stored,
        // while its connection delivers the rest), then the stream ends.
        self.take_arrived();
        self.hook.exchanges.stored().await;
        self.take_arrived();
        if self.upstream.is_some() {
            // The upstream's end usually came in the answer's read: one turn
            // lets its connection's task hand it over (nothing new waits to
            // be written, so hyper writes nothing meanwhile).
            yield_to_ready_tasks().await;
            self.take_arrived();
        }
        if let Some(mut rest) = self.upstream.take() {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Self::DRAIN, async { while rest.next().await.is_some() {} }).await;
            });
        }
    }

    /// Takes what the upstream has delivered already, without waiting.
    fn take_arrived(&mut self) {
        while let Some(next) = self.upstream.as_mut().and_then(|upstream| upstream.next().now_or_never()) {
            self.take(next);
        }
    }

    fn take(&mut self, next: Option<Result<Bytes, axum::Error>>) {
        let hook = &mut self.hook;
        match next {
            Some(Ok(chunk)) => {
                self.counted_bytes.add(chunk.len());
                let got_message = &mut self.got_message;
                let rewritten = self.rewriter.push(chunk, &mut |data| {
                    // A priming event's data is empty.
                    if data.trim().is_empty() {
                        return None;
                    }
                    *got_message = true;
                    hook.on_event_data(data)
                });
                self.ready.push_back(Ok(rewritten));
            }
            Some(Err(err)) => {
                self.ready.push_back(Err(std::io::Error::other(err)));
                self.upstream = None;
            }
            None => {
                self.ready.push_back(Ok(self.rewriter.finish(&mut |data| hook.on_event_data(data))));
                self.upstream = None;
            }
        }
    }
}

/// The stream's next item when its connection has read it already: it is
/// handed over once the connection's task has had a turn. None when it has
/// to be waited for.
///
/// Taken this way, the usual quick answer arms no timer: on a
/// current-thread runtime, a timer earlier than the driver's next wake-up
/// writes the driver's eventfd even from the runtime's own thread (tokio
/// #5207), a system call and an extra `epoll_wait` on the answer's way out.
async fn next_if_read(upstream: &mut axum::body::BodyDataStream) -> Option<Option<Result<Bytes, axum::Error>>> {
    if let Some(next) = upstream.next().now_or_never() {
        return Some(next);
    }
    // The poll above told the connection's task the body is wanted.
    yield_to_ready_tasks().await;
    upstream.next().now_or_never()
}

/// Lets the tasks this thread has ready run once, then resumes: the wake
/// goes to the back of the thread's own run queue. `tokio::task::yield_now`
/// defers it until the runtime has polled its I/O driver, an `epoll_wait`
/// on the answer's way out of every call that waited this way.
async fn yield_to_ready_tasks() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

pub(super) fn timeout_of(version: &VersionConfig) -> Duration {
    Duration::from_secs(u64::try_from(version.spec.timeout_seconds).unwrap_or(30))
}

struct LegacyExchange<'a> {
    routed: &'a Routed,
    version: &'a VersionConfig,
    parts: &'a Parts,
    requests: &'a RequestIds,
    charged: &'a Charged,
}

/// The legacy bridge failed: every waiting request ends with it, and the
/// client gets the refusal.
fn bridge_failure(exchanges: &mut Exchanges, err: BridgeError, requests: &RequestIds) -> Response {
    exchanges.fail_all(err.error_type(), &err.to_string());
    match err {
        BridgeError::Timeout => timed_out(requests),
        other => Refusal::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", other.to_string()).respond(requests),
    }
}

/// Legacy HTTP+SSE backends: the gateway holds the upstream SSE stream and
/// answers the client in Streamable HTTP. The bridge lives in the replica
/// that opened it; its session id says so, and other replicas answer 404.
async fn forward_legacy(
    gateway: &Gateway,
    exchange: LegacyExchange<'_>,
    forwarded: jsonrpc::Body,
    mut hook: ResponseHook,
    local: Vec<Value>,
) -> Response {
    let LegacyExchange { routed, version, parts, requests, charged } = exchange;
    let standings = &charged.standings[..];
    let mut upstream_headers = upstream_headers(parts.headers.clone(), version, routed, None);
    if let Err(refusal) = authenticate_upstream(gateway, version, &mut upstream_headers).await {
        hook.exchanges.fail_all(&StatusCode::BAD_GATEWAY.as_u16().to_string(), &refusal.message);
        return refusal.respond(requests);
    }
    let wait = timeout_of(version);
    let existing = routed.session.as_ref().map(|s| (s.clone(), gateway.bridges.get(&s.upstream)));
    let starts_session = forwarded.messages().iter().any(|m| jsonrpc::method(m) == Some("initialize"));
    let (session, bridge) = match existing {
        Some((session, Some(bridge))) => (session, bridge),
        Some((_, None)) => {
            hook.exchanges.fail_all(&jsonrpc::INVALID_REQUEST.to_string(), "bridge not here");
            let message = "this session's bridge to the legacy SSE server is not on this gateway (it ended, or lives on another replica)";
            return Refusal::new(StatusCode::NOT_FOUND, "unknown_session", message).respond(requests);
        }
        None if starts_session => {
            let backend = version.mcp().map(|t| t.url.as_str()).unwrap_or_default();
            match gateway.bridges.open(gateway.backends.reqwest(), backend, upstream_headers.clone(), wait).await {
                Ok((id, bridge)) => {
                    hook.exchanges.context_mut().session_id = Some(id.clone());
                    (Arc::new(Session::start(&hook.exchanges.context, &routed.caller, &id)), bridge)
                }
                Err(err) => return bridge_failure(&mut hook.exchanges, err, requests),
            }
        }
        None => {
            hook.exchanges.fail_all(&jsonrpc::INVALID_REQUEST.to_string(), "no such session");
            return Refusal::new(StatusCode::NOT_FOUND, "unknown_session", "no such session; initialize first").respond(requests);
        }
    };
    let mut replies = match bridge.exchange(gateway.backends.reqwest(), upstream_headers, forwarded.messages(), wait).await {
        Ok(replies) => replies,
        Err(err) => return bridge_failure(&mut hook.exchanges, err, requests),
    };
    replies.iter_mut().for_each(|m| {
        hook.on_message(m);
    });
    replies.extend(local);
    let mut headers = response_headers(HeaderMap::new(), routed, version, true);
    rate_limit_headers(standings, &mut headers);
    if let Ok(value) = HeaderValue::from_str(&gateway.sessions.issue(&session)) {
        headers.insert(SESSION_HEADER, value);
    }
    if replies.is_empty() {
        return (StatusCode::ACCEPTED, headers).into_response();
    }
    let body = if forwarded.is_batch() || replies.len() > 1 { Value::Array(replies) } else { replies.remove(0) };
    (StatusCode::OK, headers, axum::Json(body)).into_response()
}

/// GET and DELETE on a legacy backend's bridged session.
fn legacy_stream(gateway: &Gateway, routed: &Routed, method: &Method) -> Response {
    let requests = RequestIds::default();
    let Some(session) = routed.session.as_ref() else {
        return Refusal::new(StatusCode::BAD_REQUEST, "missing_session", "send the Mcp-Session-Id header").respond(&requests);
    };
    if *method == Method::DELETE {
        return if gateway.bridges.end(&session.upstream) {
            end_session(gateway, session);
            StatusCode::NO_CONTENT.into_response()
        } else {
            Refusal::new(StatusCode::NOT_FOUND, "unknown_session", "no such session").respond(&requests)
        };
    }
    let Some(receiver) = gateway.bridges.get(&session.upstream).and_then(|b| b.take_server_messages()) else {
        return Refusal::new(StatusCode::CONFLICT, "stream_taken", "this session's stream is already open or gone").respond(&requests);
    };
    let events = futures::stream::unfold(receiver, |mut rx| async move {
        let message = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(sse_event(&message)), rx))
    });
    let mut response = Response::new(Body::from_stream(events));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response
}

/// GET (the server's SSE stream) and DELETE (ending the session): no body,
/// streamed through untouched.
pub async fn forward_stream(gateway: &Gateway, routed: &Routed, parts: Parts) -> Response {
    let requests = RequestIds::default();
    let Some(version) = version_of(routed) else {
        return Refusal::new(StatusCode::NOT_FOUND, "unknown_version", "the version vanished").respond(&requests);
    };
    if version.spec.transport == Transport::Sse {
        return legacy_stream(gateway, routed, &parts.method);
    }
    let wait = timeout_of(version);
    let mut headers = upstream_headers(parts.headers, version, routed, routed.session.as_deref());
    if let Err(refusal) = authenticate_upstream(gateway, version, &mut headers).await {
        return refusal.respond(&requests);
    }
    let Some(target) = version.mcp() else { return Refusal::new(StatusCode::NOT_FOUND, "unknown_version", "not an MCP backend").respond(&requests) };
    let request = gateway.backends.send(target, parts.method.clone(), headers, Bytes::new());
    let mut upstream = match timeout(wait, request).await {
        Err(_) => return timed_out(&requests),
        Ok(Err(err)) => return upstream_failure(&err, &requests),
        Ok(Ok(response)) => response,
    };
    if parts.method == Method::DELETE && upstream.status().is_success() {
        if let Some(session) = &routed.session {
            end_session(gateway, session);
        }
    }
    let headers = response_headers(std::mem::take(upstream.headers_mut()), routed, version, false);
    stream_through(upstream.status(), headers, upstream, gateway, routed.server().to_string())
}

/// Records how long an ended session lasted.
pub(super) fn end_session(gateway: &Gateway, session: &Session) {
    let seconds = (chrono::Utc::now().timestamp() - session.started).max(0) as f64;
    gateway.telemetry.metrics.record_session(seconds, &session.server, &session.version);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::SUBSCRIPTION_KEY_HEADER;

    #[test]
    fn forwarded_headers_name_each_calls_own_peer() {
        // One thread, its peer changing between calls: the values kept from
        // the last call are never handed to another peer's.
        let (v4, v6): (std::net::IpAddr, std::net::IpAddr) = ("10.0.0.7".parse().unwrap(), "2001:db8::1".parse().unwrap());
        let expected = [(v4, "10.0.0.7", "for=10.0.0.7"), (v6, "2001:db8::1", "for=\"[2001:db8::1]\""), (v4, "10.0.0.7", "for=10.0.0.7")];
        let mut trusted_proxy = HeaderMap::new();
        trusted_proxy.insert(X_FORWARDED_FOR, HeaderValue::from_static("192.0.2.1"));
        for (peer, x_forwarded_for, forwarded) in expected.into_iter().chain(expected) {
            let [(_, direct_for), (_, direct_forwarded)] = forwarded_for(&trusted_proxy, peer, false);
            assert_eq!(direct_for.unwrap(), x_forwarded_for, "{peer}");
            assert_eq!(direct_forwarded.unwrap(), forwarded, "{peer}");
            // Behind a trusted proxy, what it says comes first.
            let [(_, proxied_for), (_, proxied_forwarded)] = forwarded_for(&trusted_proxy, peer, true);
            assert_eq!(proxied_for.unwrap(), format!("192.0.2.1, {x_forwarded_for}"));
            assert_eq!(proxied_forwarded.unwrap(), forwarded);
        }
    }

    #[test]
    fn hop_headers_and_the_gateways_own_stay() {
        for name in
            [header::HOST, header::AUTHORIZATION, header::COOKIE, SUBSCRIPTION_KEY_HEADER, SESSION_HEADER, SERVER_VERSION_HEADER, X_FORWARDED_FOR]
        {
            assert!(stays_on_this_hop(&name), "{name}");
        }
        for name in [header::ACCEPT, header::CONTENT_TYPE, header::USER_AGENT, revision::PROTOCOL_HEADER, TRACEPARENT] {
            assert!(!stays_on_this_hop(&name), "{name}");
        }
    }

    #[test]
    fn hop_headers_are_removed_in_place_and_the_rest_kept_in_order() {
        let hop = [
            header::HOST,
            header::CONNECTION,
            header::TE,
            header::TRAILER,
            header::TRANSFER_ENCODING,
            header::UPGRADE,
            header::CONTENT_LENGTH,
            header::AUTHORIZATION,
            header::COOKIE,
            SESSION_HEADER,
            X_FORWARDED_FOR,
        ];
        let mut headers = HeaderMap::new();
        headers.append(header::LINK, HeaderValue::from_static("<a>"));
        for name in &hop {
            headers.append(name.clone(), HeaderValue::from_static("1"));
            headers.append(name.clone(), HeaderValue::from_static("2"));
        }
        headers.append(header::LINK, HeaderValue::from_static("<b>"));
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        // Eleven names to remove: more than one walk finds.
        remove_hop_headers(&mut headers, |name| name == header::CONTENT_LENGTH);
        let mut names: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-length", "content-length", "content-type", "link", "link"]);
        assert_eq!(headers.get_all(header::LINK).iter().collect::<Vec<_>>(), ["<a>", "<b>"], "one name's values keep their order");
        assert_eq!(headers.get_all(header::CONTENT_LENGTH).iter().collect::<Vec<_>>(), ["1", "2"]);
    }

    #[test]
    fn rate_limit_headers_name_every_limit_and_the_tightest() {
        let standing = |kind, calls, period_seconds, remaining, reset_seconds| Standing {
            kind,
            limit: CallLimit { calls, period_seconds },
            remaining,
            reset_seconds,
        };
        let standings = [standing(LimitKind::RateLimit, 60, 60, 59, 1), standing(LimitKind::Quota, 1000, 86_400, 12, 3600)];
        let mut headers = HeaderMap::new();
        rate_limit_headers(&standings, &mut headers);
        assert_eq!(headers[RATELIMIT_POLICY], "\"rate_limit\";q=60;w=60, \"quota\";q=1000;w=86400");
        assert_eq!(headers[RATELIMIT], "\"quota\";r=12;t=3600");
        // The policy kept from the call before is not another product's.
        let other = [standing(LimitKind::RateLimit, 60, 60, 59, 1), standing(LimitKind::Quota, 1000, 3600, 12, 3600)];
        for (standings, policy) in
            [(&other, "\"rate_limit\";q=60;w=60, \"quota\";q=1000;w=3600"), (&standings, "\"rate_limit\";q=60;w=60, \"quota\";q=1000;w=86400")]
        {
            rate_limit_headers(standings, &mut headers);
            assert_eq!(headers[RATELIMIT_POLICY], policy);
        }
        rate_limit_headers(&standings[..1], &mut headers);
        assert_eq!(headers[RATELIMIT_POLICY], "\"rate_limit\";q=60;w=60");
        let mut none = HeaderMap::new();
        rate_limit_headers(&[], &mut none);
        assert!(none.is_empty());
    }
}
