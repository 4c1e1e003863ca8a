//! A product as one MCP endpoint, `/products/{product}/mcp`: the product's
//! servers (its members) behind one MCP server. The gateway answers
//! `initialize` and `ping` itself; fans `tools/list`, `prompts/list`,
//! `resources/list` and `resources/templates/list` out to the members in
//! parallel, each within its association's `list_timeout_ms`, and merges
//! the pages under each member's prefix (a member that fails is left out
//! and counted); and routes everything that names a tool, a prompt or a
//! resource back to its member. `tools/call` goes over the same byte path
//! as `/mcp/{server}` (screening, policies, limits, telemetry), only with
//! the name unprefixed; the rest goes over a message-level [`Conversation`].
//!
//! A client's session here is the gateway's (`fed-…`, inside the signed
//! session id). Each member's upstream session is opened on the session's
//! first use of that member and kept in the store, so any replica serves
//! any session; this replica caches what it read. DELETE ends them all.

use super::access::{Grant, Resource};
use super::config::{Association, ProductConfig, Snapshot, VersionConfig};
use super::context::{self, Asked};
use super::limits::{Decision, Limits};
use super::observe::Exchanges;
use super::refusal::{Refusal, RequestIds};
use super::request_headers::RequestHeaders;
use super::sessions::{ServerInfo, Session};
use super::{Federated, Gateway, Routed, SESSION_HEADER};
use crate::mcp::jsonrpc::Message;
use crate::mcp::{jsonrpc, revision};
use crate::model::federation::{self, Exposed, Naming};
use crate::model::routing::{choose_version, Requested};
use crate::model::Transport;
use crate::store::{MemberSession, StoreError};
use crate::telemetry::observation::CallContext;
use crate::upstream::{ClientInfo, Conversation, UpstreamError};
use axum::body::Body;
use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a product endpoint's session ids start with (inside the signed token).
const SESSION_PREFIX: &str = "fed-";
/// The member-session record (no server has an empty name) saying a
/// session was ended: its id, still validly signed, opens nothing again.
const ENDED: &str = "";
/// The most of an error body read to name the tool it is about.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// `/products/{product}/mcp`: POST, GET and DELETE.
pub async fn handle(
    State(gateway): State<Arc<Gateway>>,
    params: RawPathParams,
    ConnectInfo(connection): ConnectInfo<super::listener::Connection>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if !matches!(parts.method, Method::POST | Method::GET | Method::DELETE) {
        let refusal = Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST, GET or DELETE");
        return refusal.with_header(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE")).respond(&RequestIds::default());
    }
    let headers = RequestHeaders::read(&parts.headers);
    if let Err(refusal) = super::check_headers(&gateway, &headers) {
        return refusal.respond(&RequestIds::default());
    }
    let product = params.iter().next().map(|(_, v)| v.to_string()).unwrap_or_default();
    let mut endpoint = match Endpoint::open(&gateway, &product, &parts, &headers, &connection).await {
        Ok(endpoint) => endpoint,
        Err(refusal) => return refusal.respond(&RequestIds::default()),
    };
    if let Err(refusal) = check_session(&gateway, &endpoint).await {
        return refusal.respond(&RequestIds::default());
    }
    match parts.method {
        Method::GET => stream(&gateway, &endpoint).await,
        Method::DELETE => end(&gateway, &endpoint).await,
        _ => {
            let bytes = match axum::body::to_bytes(body, gateway.settings.max_body_bytes).await {
                Ok(bytes) => bytes,
                Err(_) => {
                    let message = format!("the request body exceeds {} bytes", gateway.settings.max_body_bytes);
                    return Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message).respond(&RequestIds::default());
                }
            };
            match jsonrpc::Body::parse(&bytes) {
                Ok(body) => match super::check_routing_headers(&headers.routing, &body) {
                    Ok(stateless) => serve(&gateway, &mut endpoint, parts, body, stateless).await,
                    Err(refusal) => refusal.respond(&RequestIds::of(&body)),
                },
                Err(err) => Refusal::new(StatusCode::BAD_REQUEST, "parse_error", err).with_code(jsonrpc::PARSE_ERROR).respond(&RequestIds::default()),
            }
        }
    }
}

/// A product endpoint's request: the product, who asks, and their session.
struct Endpoint {
    product: Arc<ProductConfig>,
    /// `/products/{product}/mcp`, what telemetry names the endpoint.
    path: Arc<str>,
    grant: Grant,
    caller: String,
    snapshot: Arc<Snapshot>,
    session: Option<Arc<Session>>,
    /// The session id as the client holds it.
    session_header: Option<HeaderValue>,
    client: SocketAddr,
    behind_trusted_proxy: bool,
    asked: Asked<'static>,
    http_version: &'static str,
}

/// One member server as this caller reaches it.
#[derive(Clone)]
struct Member {
    server: String,
    version: String,
    config: Arc<VersionConfig>,
    association: Arc<Association>,
}

impl Member {
    fn is_rest(&self) -> bool {
        self.config.rest().is_some()
    }
}

/// Why an upstream session could not be opened and recorded.
#[derive(Debug, thiserror::Error)]
pub(super) enum OpenError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("its session cannot be recorded: {0}")]
    Store(#[from] StoreError),
}

impl From<OpenError> for MemberError {
    fn from(err: OpenError) -> MemberError {
        match err {
            OpenError::Upstream(err) => MemberError::Upstream(err),
            OpenError::Store(err) => MemberError::Store(err),
        }
    }
}

/// Why a member is left out of an answer, or a message for it failed.
#[derive(Debug, thiserror::Error)]
enum MemberError {
    #[error("{0}")]
    Unroutable(String),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("it did not answer within {0} ms")]
    Timeout(u128),
    #[error("its session cannot be recorded: {0}")]
    Store(#[from] StoreError),
}

impl MemberError {
    fn reason(&self) -> &'static str {
        match self {
            MemberError::Unroutable(_) => "unsupported",
            MemberError::Upstream(err) => err.kind(),
            MemberError::Timeout(_) => "timeout",
            MemberError::Store(_) => "store_unavailable",
        }
    }
}

impl Endpoint {
    /// Authenticates and authorizes the caller for `product`, and verifies
    /// the session it presents.
    async fn open(
        gateway: &Gateway,
        product: &str,
        parts: &Parts,
        headers: &RequestHeaders<'_>,
        connection: &super::listener::Connection,
    ) -> Result<Endpoint, Box<Refusal>> {
        let client = connection.peer;
        let snapshot = gateway.config.current();
        let Some(config) = snapshot.products.get(product).filter(|p| p.published()).cloned() else {
            let shown: String = product.chars().take(64).collect();
            return Err(Box::new(Refusal::new(StatusCode::NOT_FOUND, "unknown_product", format!("no published product named {shown:?}"))));
        };
        let resource = Resource::Product(product);
        let (grant, caller) = super::admit_caller(gateway, &snapshot, resource, &parts.uri, headers, connection).await?;
        let path: Arc<str> = Arc::from(resource.path());
        let session_header = headers.session_value().cloned();
        let session = match headers.session() {
            Some(id) => Some(gateway.sessions.verify(&connection.kept.session, id, &caller, &path).map_err(|_| super::unknown_session())?),
            None => None,
        };
        let behind_trusted_proxy = gateway.settings.trusted_proxies.iter().any(|net| net.contains(&client.ip()));
        Ok(Endpoint {
            product: config,
            path,
            grant,
            caller,
            snapshot,
            session,
            session_header,
            client,
            behind_trusted_proxy,
            asked: Asked::of(headers).into_owned(),
            http_version: super::http_version(parts.version),
        })
    }

    /// Member `server` as this caller reaches it: on `pinned` (the version
    /// its session lives on), else the version routing picks.
    fn member(&self, server: &str, pinned: Option<&str>) -> Result<Member, MemberError> {
        let unroutable = |why: String| MemberError::Unroutable(why);
        let association = self.product.servers.get(server).ok_or_else(|| unroutable(format!("server {server} left the product")))?;
        let server_config = self.snapshot.servers.get(server).ok_or_else(|| unroutable(format!("server {server} does not exist")))?;
        let requested = pinned.map_or(Requested::Unspecified, Requested::Session);
        let version = choose_version(&server_config.specs, association.versions.as_deref(), requested, &self.caller)
            .map_err(|err| unroutable(format!("server {server}: {err}")))?;
        let config = server_config.versions.get(version).cloned().ok_or_else(|| unroutable(format!("server {server} has no version {version}")))?;
        if config.spec.transport == Transport::Sse && config.rest().is_none() {
            return Err(unroutable(format!("server {server} speaks the legacy HTTP+SSE transport, served at /mcp/{server} only")));
        }
        Ok(Member { server: server.to_string(), version: version.to_string(), config, association: association.clone() })
    }

    /// What telemetry reports about a request to `member`.
    fn context(&self, gateway: &Gateway, member: &Member, member_session: Option<&Session>) -> CallContext {
        let info = gateway.server_infos.get(&member.server, &member.version);
        let source = context::Source {
            server: &member.server,
            version: &member.version,
            grant: &self.grant,
            session: member_session,
            asked: &self.asked,
            client: self.client,
            http_version: self.http_version,
            info: info.as_deref(),
        };
        let mut context = source.context();
        context.endpoint = Some(self.path.clone());
        context.session_id = self.session.as_ref().map(|s| s.upstream.clone());
        if let Some(session) = &self.session {
            session.fill(&mut context);
        }
        context
    }

    /// The request to `member` as `/mcp/{server}` would have routed it, for
    /// the tool the member calls `name`.
    fn routed(&self, gateway: &Gateway, member: &Member, stored: &MemberSession, name: &str, bridged: bool) -> Routed {
        let member_session = self.session.as_ref().filter(|_| !stored.upstream.is_empty()).map(|session| Session {
            server: member.server.clone(),
            version: member.version.clone(),
            owner: self.caller.clone(),
            upstream: stored.upstream.clone(),
            started: session.started,
            client_name: session.client_name.clone(),
            client_version: session.client_version.clone(),
            protocol_version: Some(stored.protocol.clone()),
        });
        let context = self.context(gateway, member, member_session.as_ref());
        Routed {
            peer: self.client.ip(),
            behind_trusted_proxy: self.behind_trusted_proxy,
            grant: self.grant.clone(),
            caller: self.caller.clone(),
            session: member_session.map(Arc::new),
            snapshot: self.snapshot.clone(),
            context: Arc::new(context),
            federated: Some(Federated {
                session_header: self.session_header.clone(),
                protocol: HeaderValue::from_str(&stored.protocol).ok().filter(|_| !stored.protocol.is_empty()),
                name: HeaderValue::from_str(&revision::encode(name)).ok(),
                bridged,
            }),
        }
    }

    fn limits(&self) -> Limits {
        Limits { rate: self.grant.product.spec.rate_limit, quota: self.grant.product.spec.quota }
    }
}

/// Each product endpoint session's member sessions, as this replica last
/// read or wrote them (the store has them all). Sharded by session id so
/// requests of different sessions do not wait on one lock; a shard that
/// fills up is emptied (what it held is read again from the store).
///
/// Also which member listed each resource URI, per product, so a read goes
/// back to it (a URI this replica never saw listed is asked of each member).
#[derive(Default)]
pub(crate) struct MemberSessions {
    shards: [Shard; SHARDS],
    resources: Mutex<HashMap<(String, String), String>>,
}

/// One endpoint session's member sessions, by server.
type Members = Arc<HashMap<String, MemberSession>>;
type Shard = Mutex<HashMap<String, Members>>;

const SHARDS: usize = 16;
const SESSIONS_PER_SHARD: usize = 4096;
const REMEMBERED_RESOURCES: usize = 16_384;

impl MemberSessions {
    fn shard(&self, session: &str) -> &Shard {
        let hash = session.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        &self.shards[(hash % SHARDS as u64) as usize]
    }

    fn get(&self, session: &str) -> Option<Members> {
        crate::lock(self.shard(session)).get(session).cloned()
    }

    fn put(&self, session: &str, members: Members) {
        let mut shard = crate::lock(self.shard(session));
        if shard.len() >= SESSIONS_PER_SHARD && !shard.contains_key(session) {
            shard.clear();
        }
        shard.insert(session.to_string(), members);
    }

    fn add(&self, member: &MemberSession) {
        let mut shard = crate::lock(self.shard(&member.session));
        let mut members = shard.get(&member.session).map(|m| HashMap::clone(m)).unwrap_or_default();
        members.insert(member.server.clone(), member.clone());
        if shard.len() >= SESSIONS_PER_SHARD && !shard.contains_key(&member.session) {
            shard.clear();
        }
        shard.insert(member.session.clone(), Arc::new(members));
    }

    fn forget(&self, session: &str) {
        crate::lock(self.shard(session)).remove(session);
    }

    fn remember_resource(&self, product: &str, uri: &str, server: &str) {
        let mut resources = crate::lock(&self.resources);
        if resources.len() >= REMEMBERED_RESOURCES {
            resources.clear();
        }
        resources.insert((product.to_string(), uri.to_string()), server.to_string());
    }

    fn resource(&self, product: &str, uri: &str) -> Option<String> {
        crate::lock(&self.resources).get(&(product.to_string(), uri.to_string())).cloned()
    }
}

/// The member sessions of endpoint session `id`: cached, else read from the store.
pub(super) async fn members_of(gateway: &Gateway, id: &str) -> Result<Members, StoreError> {
    if let Some(members) = gateway.members.get(id) {
        return Ok(members);
    }
    let members: HashMap<String, MemberSession> = gateway.store.member_sessions(id).await?.into_iter().map(|m| (m.server.clone(), m)).collect();
    let members = Arc::new(members);
    gateway.members.put(id, members.clone());
    Ok(members)
}

/// Member `server` and its session within `session`, opened on first use.
async fn member_session(gateway: &Gateway, endpoint: &Endpoint, session: &Session, server: &str) -> Result<(Member, MemberSession), MemberError> {
    let members = members_of(gateway, &session.upstream).await?;
    if let Some(existing) = members.get(server) {
        return Ok((endpoint.member(server, Some(&existing.version))?, existing.clone()));
    }
    let member = endpoint.member(server, None)?;
    let opened = open_member(gateway, session, &member).await?;
    Ok((member, opened))
}

/// Opens `member`'s upstream session for endpoint session `session` and
/// records it; when another replica recorded one first, that one is kept
/// and this one ended.
async fn open_member(gateway: &Gateway, session: &Session, member: &Member) -> Result<MemberSession, MemberError> {
    if member.is_rest() {
        let record = MemberSession {
            session: session.upstream.clone(),
            server: member.server.clone(),
            version: member.version.clone(),
            upstream: String::new(),
            protocol: String::new(),
            created_at: chrono::Utc::now(),
        };
        let stored = gateway.store.open_member_session(&record).await?;
        gateway.members.add(&stored);
        return Ok(stored);
    }
    Ok(open_upstream_session(gateway, &session.upstream, &member.server, &member.version, &member.config, session).await?)
}

/// Opens an upstream session with `server`'s `version` for the gateway's
/// session `key` (speaking for the client `session` names) and records it
/// in the store. When another request (on any replica) recorded one first,
/// that one is used and this one ended.
pub(super) async fn open_upstream_session(
    gateway: &Gateway,
    key: &str,
    server: &str,
    version: &str,
    config: &VersionConfig,
    session: &Session,
) -> Result<MemberSession, OpenError> {
    let (record, opened) = start_upstream_session(gateway, key, server, version, config, session).await?;
    let stored = gateway.store.open_member_session(&record).await?;
    keep(gateway, opened, &record, stored).await
}

/// Opens a new upstream session in place of `stale`, which its server
/// forgot (it answered 404: restarted, or expired it), for the gateway's
/// session `stale.session`. When another replica replaced it first, that
/// one is used and this one ended.
pub(super) async fn reopen(gateway: &Gateway, stale: &MemberSession, config: &VersionConfig, session: &Session) -> Result<MemberSession, OpenError> {
    tracing::info!(server = %stale.server, version = %stale.version, "the MCP server forgot a session the gateway holds; opening a new one");
    let (record, opened) = start_upstream_session(gateway, &stale.session, &stale.server, &stale.version, config, session).await?;
    let stored = gateway.store.replace_member_session(&stale.upstream, &record).await?;
    keep(gateway, opened, &record, stored).await
}

/// What is stored is the session used: a session opened here that lost the
/// race to record is ended.
async fn keep(gateway: &Gateway, opened: Conversation<'_>, record: &MemberSession, stored: MemberSession) -> Result<MemberSession, OpenError> {
    if stored.upstream != record.upstream {
        opened.end().await;
    }
    gateway.members.add(&stored);
    Ok(stored)
}

/// An upstream session with `server`'s `version`, opened for the gateway's
/// session `key`, and its record (not yet stored).
async fn start_upstream_session<'a>(
    gateway: &'a Gateway,
    key: &str,
    server: &str,
    version: &str,
    config: &VersionConfig,
    session: &Session,
) -> Result<(MemberSession, Conversation<'a>), OpenError> {
    let timeout = super::proxy::timeout_of(config);
    let mut opened = Conversation::open(&gateway.upstream, &config.spec, timeout, None).await?;
    let defaults = ClientInfo::default();
    let client = ClientInfo {
        protocol_version: session.protocol_version.clone().unwrap_or(defaults.protocol_version),
        name: session.client_name.clone().unwrap_or(defaults.name),
        version: session.client_version.clone().unwrap_or(defaults.version),
    };
    // A member that speaks only 2026-07-28 (or a 2026-07-28 client's member
    // that speaks it) keeps no session: recorded with none, and the revision.
    let result = opened.begin(&client).await?;
    gateway.server_infos.learn(server, version, ServerInfo::of(&result));
    let upstream = opened.session_id().unwrap_or_default().to_string();
    let protocol = result.get("protocolVersion").and_then(Value::as_str).unwrap_or(&client.protocol_version).to_string();
    let record = MemberSession {
        session: key.to_string(),
        server: server.to_string(),
        version: version.to_string(),
        upstream,
        protocol,
        created_at: chrono::Utc::now(),
    };
    Ok((record, opened))
}

/// A conversation with `member` in its session.
async fn conversation<'a>(gateway: &'a Gateway, member: &Member, stored: &MemberSession, wait: Duration) -> Result<Conversation<'a>, UpstreamError> {
    let mut conversation = Conversation::open(&gateway.upstream, &member.config.spec, wait, Some(&stored.upstream)).await?;
    if stored.protocol == revision::STATELESS {
        conversation.go_stateless(&ClientInfo::default());
    } else if !stored.protocol.is_empty() {
        conversation.use_protocol(&stored.protocol);
    }
    Ok(conversation)
}

/// POST: one message (MCP 2025-06-18 removed batches; a product endpoint
/// does not take them).
/// Refuses a session that was ended (or cannot be read now).
async fn check_session(gateway: &Gateway, endpoint: &Endpoint) -> Result<(), Box<Refusal>> {
    let Some(session) = &endpoint.session else { return Ok(()) };
    match members_of(gateway, &session.upstream).await {
        Ok(members) if members.contains_key(ENDED) => Err(super::unknown_session()),
        Ok(_) => Ok(()),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read a product endpoint's member sessions");
            let refusal = Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the session cannot be read right now; try again")
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Err(Box::new(refusal))
        }
    }
}

/// `stateless`: whether the request speaks 2026-07-28, as its arrival's
/// checks found.
async fn serve(gateway: &Gateway, endpoint: &mut Endpoint, parts: Parts, body: jsonrpc::Body, stateless: bool) -> Response {
    let requests = RequestIds::of(&body);
    let jsonrpc::Body::Single(message) = body else {
        let message = "a product endpoint takes one JSON-RPC message per request (MCP 2025-06-18 removed batches)";
        return Refusal::new(StatusCode::BAD_REQUEST, "batch_not_supported", message).respond(&requests);
    };
    if !jsonrpc::is_request(&message) {
        // Notifications and responses are the client's to its members' sessions, which the gateway holds for it.
        return StatusCode::ACCEPTED.into_response();
    }
    let id = jsonrpc::id(&message).cloned().unwrap_or(Value::Null);
    let method = jsonrpc::method(&message).unwrap_or_default().to_string();
    if stateless && endpoint.session.is_none() {
        endpoint.session = Some(Arc::new(stateless_session(endpoint, &message)));
    }
    let endpoint = &*endpoint;
    if method == "tools/call" {
        return call(gateway, endpoint, parts, message, &requests, stateless).await;
    }
    let answered_here = matches!(method.as_str(), "initialize" | "server/discover" | "ping" | "logging/setLevel");
    if !answered_here && List::of(&method).is_none() && !ROUTED_BY_REFERENCE.contains(&method.as_str()) {
        let reply = jsonrpc::error(Some(&id), jsonrpc::METHOD_NOT_FOUND, &format!("Method not found: {method}"), None);
        return (StatusCode::OK, axum::Json(reply)).into_response();
    }
    if !matches!(method.as_str(), "initialize" | "server/discover" | "ping") && endpoint.session.is_none() {
        let refusal = Refusal::new(StatusCode::BAD_REQUEST, "missing_session", "send the Mcp-Session-Id header initialize returned");
        return refusal.respond(&requests);
    }
    let standings = match charge(gateway, endpoint).await {
        Ok(standings) => standings,
        Err(refusal) => return refusal.respond(&requests),
    };
    let traceparent = parts.headers.get(&super::proxy::TRACEPARENT).and_then(|v| v.to_str().ok());
    let (mut reply, session) = match method.as_str() {
        "initialize" => {
            let (reply, session) = initialize(gateway, endpoint, &id, &message).await;
            (reply, Some(session))
        }
        "server/discover" => (discover(gateway, endpoint, &id, &message).await, None),
        "ping" | "logging/setLevel" => (json!({ "jsonrpc": "2.0", "id": id, "result": {} }), None),
        method => match List::of(method) {
            Some(list) => (list_all(gateway, endpoint, list, &id, &message, traceparent).await, None),
            None => (by_reference(gateway, endpoint, &id, &message, traceparent).await, None),
        },
    };
    if stateless {
        if let Some(result) = reply.get_mut("result").and_then(Value::as_object_mut) {
            revision::complete_result(result, revision::has_cache_fields(&method));
        }
    }
    let mut response = (StatusCode::OK, axum::Json(reply)).into_response();
    super::proxy::rate_limit_headers(&standings, response.headers_mut());
    let session_header = match session {
        Some(session) => HeaderValue::from_str(&gateway.sessions.issue(&session)).ok(),
        None => endpoint.session_header.clone(),
    };
    if let Some(value) = session_header {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

/// Charges one request the gateway answers (or fans out) against the
/// product's limits: once, whatever number of members it reaches.
async fn charge(gateway: &Gateway, endpoint: &Endpoint) -> Result<Vec<super::limits::Standing>, Refusal> {
    match super::charge(gateway, &endpoint.grant.product, &endpoint.caller, endpoint.limits(), 1).await {
        Ok(Decision::Admitted(standings)) => Ok(standings),
        Ok(Decision::Throttled { exceeded, standings }) => {
            gateway.telemetry.metrics.record_throttled(exceeded.kind.reason(), "", &endpoint.product.name);
            Err(super::proxy::throttled(exceeded, &standings, None))
        }
        Err(throttle) => Err(throttle.refusal),
    }
}

/// `initialize`: the product's server info, the union of its members'
/// capabilities, their instructions joined. Members whose offer is not
/// known yet have their sessions opened now, in parallel.
async fn initialize(gateway: &Gateway, endpoint: &Endpoint, id: &Value, message: &Message) -> (Value, Session) {
    let protocol = crate::mcp::negotiate(jsonrpc::at(message, &["params", "protocolVersion"]).and_then(Value::as_str));
    let text = |field: &str| jsonrpc::at(message, &["params", "clientInfo", field]).and_then(Value::as_str).map(str::to_string);
    let context = CallContext {
        server: endpoint.path.to_string(),
        client_name: text("name"),
        client_version: text("version"),
        protocol_version: Some(protocol.to_string()),
        ..CallContext::default()
    };
    let id_text = format!("{SESSION_PREFIX}{}", hex::encode(rand::random::<[u8; 16]>()));
    let session = Session::start(&context, &endpoint.caller, &id_text);
    let (capabilities, instructions) = describe(gateway, endpoint, &session, "initialize").await;
    let mut result = json!({ "protocolVersion": protocol, "capabilities": capabilities, "serverInfo": server_info(endpoint) });
    if let Some(instructions) = instructions {
        result["instructions"] = json!(instructions);
    }
    (json!({ "jsonrpc": "2.0", "id": id, "result": result }), session)
}

/// The product, as the server a client sees.
fn server_info(endpoint: &Endpoint) -> Value {
    let mut info = json!({ "name": endpoint.product.name, "version": env!("CARGO_PKG_VERSION") });
    if let Some(title) = &endpoint.product.spec.display_name {
        info["title"] = json!(title);
    }
    info
}

/// `server/discover` (2026-07-28): the revisions spoken here, the union of
/// the members' capabilities and their instructions, as `initialize` says
/// them (the server info in `_meta`); private to the caller's product,
/// never cached.
async fn discover(gateway: &Gateway, endpoint: &Endpoint, id: &Value, message: &Message) -> Value {
    let session = match &endpoint.session {
        Some(session) => session.clone(),
        None => Arc::new(stateless_session(endpoint, message)),
    };
    let (capabilities, instructions) = describe(gateway, endpoint, &session, "server/discover").await;
    let result = revision::discover_result(capabilities, instructions, Some(server_info(endpoint)));
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// The union of the members' capabilities and their instructions joined
/// (each under its server's name). Members whose offer is not known yet
/// have their sessions opened now, in parallel.
async fn describe(gateway: &Gateway, endpoint: &Endpoint, session: &Session, method: &str) -> (Value, Option<String>) {
    let offers = futures::future::join_all(endpoint.product.members.iter().map(|(server, _)| offer(gateway, endpoint, session, server))).await;
    let mut capabilities = json!({ "tools": { "listChanged": true } });
    let mut instructions = Vec::new();
    for (server, offer) in endpoint.product.members.iter().map(|(s, _)| s).zip(offers) {
        match offer {
            Ok(info) => {
                merge_capabilities(&mut capabilities, info.capabilities.as_ref());
                if let Some(text) = info.instructions.filter(|t| !t.trim().is_empty()) {
                    instructions.push(format!("## {server}\n{text}"));
                }
            }
            Err(err) => left_out(gateway, endpoint, server, method, &err),
        }
    }
    (capabilities, (!instructions.is_empty()).then(|| instructions.join("\n\n")))
}

/// The session a 2026-07-28 request, which carries none, is served in: one
/// per caller and product, never issued to the client. Members that speak
/// 2026-07-28 are sent its requests as they came (no member session); the
/// others' sessions speak 2025-11-25 (the gateway bridges) and live in the
/// store like any member session, so every replica serves the caller with
/// the same ones.
fn stateless_session(endpoint: &Endpoint, message: &Message) -> Session {
    let (client_name, client_version) = revision::envelope_client(message);
    Session {
        server: endpoint.path.to_string(),
        version: String::new(),
        owner: endpoint.caller.clone(),
        upstream: super::bridge::held_session_key(&format!("{SESSION_PREFIX}stateless-"), &[&endpoint.product.name, &endpoint.caller]),
        started: chrono::Utc::now().timestamp(),
        client_name,
        client_version,
        protocol_version: Some(revision::STATELESS.to_string()),
    }
}

/// What member `server` offers: known from an earlier initialize, or
/// learned by opening its session now, within its list timeout.
async fn offer(gateway: &Gateway, endpoint: &Endpoint, session: &Session, server: &str) -> Result<ServerInfo, MemberError> {
    let member = endpoint.member(server, None)?;
    if member.is_rest() {
        return Ok(ServerInfo { capabilities: Some(json!({ "tools": {} })), ..ServerInfo::default() });
    }
    if let Some(info) = gateway.server_infos.get(server, &member.version).filter(|info| info.capabilities.is_some()) {
        return Ok(ServerInfo::clone(&info));
    }
    let wait = member.association.list_timeout;
    match tokio::time::timeout(wait, open_member(gateway, session, &member)).await {
        Err(_) => Err(MemberError::Timeout(wait.as_millis())),
        Ok(opened) => {
            opened?;
            Ok(gateway.server_infos.get(server, &member.version).map(|info| ServerInfo::clone(&info)).unwrap_or_default())
        }
    }
}

/// Adds a member's capabilities to the endpoint's: tools, prompts and
/// resources announce list changes (members' notifications are passed on).
fn merge_capabilities(into: &mut Value, member: Option<&Value>) {
    let Some(offered) = member.and_then(Value::as_object) else { return };
    for (name, value) in offered {
        match name.as_str() {
            "tools" | "prompts" => into[name] = json!({ "listChanged": true }),
            "resources" => {
                let subscribe =
                    into.pointer("/resources/subscribe") == Some(&Value::Bool(true)) || value.get("subscribe") == Some(&Value::Bool(true));
                into["resources"] = json!({ "listChanged": true, "subscribe": subscribe });
            }
            "logging" | "completions" => into[name] = json!({}),
            _ => {}
        }
    }
}

/// A member left out of an answer: counted and logged.
fn left_out(gateway: &Gateway, endpoint: &Endpoint, server: &str, method: &str, err: &MemberError) {
    gateway.telemetry.metrics.record_member_failure(&endpoint.product.name, server, method, err.reason());
    tracing::warn!(product = %endpoint.product.name, server, method, error = %err, "a member of a product endpoint is left out of an answer");
}

/// The four lists a product endpoint merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Tools,
    Prompts,
    Resources,
    Templates,
}

impl List {
    fn of(method: &str) -> Option<List> {
        match method {
            "tools/list" => Some(List::Tools),
            "prompts/list" => Some(List::Prompts),
            "resources/list" => Some(List::Resources),
            "resources/templates/list" => Some(List::Templates),
            _ => None,
        }
    }

    fn method(self) -> &'static str {
        match self {
            List::Tools => "tools/list",
            List::Prompts => "prompts/list",
            List::Resources => "resources/list",
            List::Templates => "resources/templates/list",
        }
    }

    /// The result's array.
    fn field(self) -> &'static str {
        match self {
            List::Tools => "tools",
            List::Prompts => "prompts",
            List::Resources => "resources",
            List::Templates => "resourceTemplates",
        }
    }

    /// The capability a member announces when it has this list.
    fn capability(self) -> &'static str {
        match self {
            List::Tools => "tools",
            List::Prompts => "prompts",
            List::Resources | List::Templates => "resources",
        }
    }

    /// Tools and prompts are renamed by their member's prefix.
    fn named(self) -> bool {
        matches!(self, List::Tools | List::Prompts)
    }
}

/// Where a paged list stands: each member still to page and its own
/// cursor. Members that finished are not in it, so no page is asked twice
/// or dropped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    #[serde(rename = "l")]
    list: String,
    #[serde(rename = "m")]
    members: BTreeMap<String, String>,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str, list: List) -> Option<Cursor> {
        let cursor: Cursor = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        (cursor.list == list.method()).then_some(cursor)
    }
}

/// One member's page of a list.
struct Page {
    items: Vec<Value>,
    next: Option<String>,
}

/// A list across the members: a page of each, in parallel, merged.
async fn list_all(gateway: &Gateway, endpoint: &Endpoint, list: List, id: &Value, message: &Message, traceparent: Option<&str>) -> Value {
    let Some(session) = &endpoint.session else { return json!({}) };
    let wanted: Vec<(String, Option<String>)> = match jsonrpc::at(message, &["params", "cursor"]).and_then(Value::as_str) {
        None => endpoint.product.members.iter().map(|(server, _)| (server.clone(), None)).collect(),
        Some(text) => match Cursor::decode(text, list) {
            Some(cursor) => cursor.members.into_iter().map(|(server, at)| (server, Some(at))).collect(),
            None => return jsonrpc::error(Some(id), jsonrpc::INVALID_PARAMS, "the cursor is not one this endpoint gave", None),
        },
    };
    let pages = futures::future::join_all(
        wanted.iter().map(|(server, cursor)| page_of(gateway, endpoint, session, server, list, cursor.as_deref(), id, traceparent)),
    )
    .await;
    // Prefixed members first: a name routes to the member whose prefix it
    // starts with, so the unprefixed member yields a name it shares.
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|&i| naming_of(endpoint, &wanted[i].0).is_none_or(|n| n.prefix.is_empty()));
    let prefixes: HashSet<&str> = endpoint.product.members.iter().map(|(_, n)| n.prefix.as_str()).filter(|p| !p.is_empty()).collect();
    let mut items = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    let mut next = BTreeMap::new();
    let mut pages: Vec<Option<Result<Page, MemberError>>> = pages.into_iter().map(Some).collect();
    for i in order {
        let server = &wanted[i].0;
        match pages[i].take() {
            Some(Ok(page)) => {
                if let Some(cursor) = page.next {
                    next.insert(server.clone(), cursor);
                }
                let naming = naming_of(endpoint, server).cloned().unwrap_or_default();
                items.extend(expose(gateway, endpoint, server, &naming, list, page.items, &mut taken, &prefixes));
            }
            Some(Err(err)) => left_out(gateway, endpoint, server, list.method(), &err),
            None => {}
        }
    }
    let mut result = json!({ list.field(): items });
    if !next.is_empty() {
        result["nextCursor"] = json!(Cursor { list: list.method().into(), members: next }.encode());
    }
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

fn naming_of<'a>(endpoint: &'a Endpoint, server: &str) -> Option<&'a Naming> {
    endpoint.product.members.iter().find(|(s, _)| s == server).map(|(_, naming)| naming)
}

/// A member's items as the endpoint shows them: tools and prompts renamed
/// (names clients reject, and names another member holds, left out,
/// counted and logged); resources remembered for routing reads back.
#[allow(clippy::too_many_arguments)]
fn expose(
    gateway: &Gateway,
    endpoint: &Endpoint,
    server: &str,
    naming: &Naming,
    list: List,
    items: Vec<Value>,
    taken: &mut HashSet<String>,
    prefixes: &HashSet<&str>,
) -> Vec<Value> {
    if !list.named() {
        for item in &items {
            if let Some(uri) = item.get("uri").or_else(|| item.get("uriTemplate")).and_then(Value::as_str) {
                gateway.members.remember_resource(&endpoint.product.name, uri, server);
            }
        }
        return items;
    }
    let mut shown = Vec::with_capacity(items.len());
    let (mut rejected, mut collided) = (0u64, 0u64);
    for mut item in items {
        let Some(name) = item.get("name").and_then(Value::as_str).map(str::to_string) else { continue };
        let exposed = match naming.expose(&name) {
            Exposed::Name(exposed) => exposed,
            Exposed::Rejected(exposed) => {
                rejected += 1;
                tracing::warn!(product = %endpoint.product.name, server, tool = %name, exposed = %exposed,
                    "left out of a product endpoint's list: clients reject the name; set tool_aliases to rename it");
                continue;
            }
        };
        let claimed_by_prefix = naming.prefix.is_empty() && exposed.split_once(federation::SEPARATOR).is_some_and(|(p, _)| prefixes.contains(p));
        if claimed_by_prefix || !taken.insert(exposed.clone()) {
            collided += 1;
            tracing::warn!(product = %endpoint.product.name, server, tool = %name, exposed = %exposed,
                "left out of a product endpoint's list: another member holds the name");
            continue;
        }
        item["name"] = json!(exposed);
        shown.push(item);
    }
    let metrics = &gateway.telemetry.metrics;
    if rejected > 0 {
        metrics.record_names_left_out(&endpoint.product.name, server, "rejected_name", rejected);
    }
    if collided > 0 {
        metrics.record_names_left_out(&endpoint.product.name, server, "collision", collided);
    }
    shown
}

/// One member's page of `list`, within its list timeout, recorded as a
/// request of its own (span and metrics, naming the endpoint).
#[allow(clippy::too_many_arguments)]
async fn page_of(
    gateway: &Gateway,
    endpoint: &Endpoint,
    session: &Session,
    server: &str,
    list: List,
    cursor: Option<&str>,
    id: &Value,
    traceparent: Option<&str>,
) -> Result<Page, MemberError> {
    let wait = endpoint.product.servers.get(server).map_or(Duration::from_millis(3000), |a| a.list_timeout);
    let fetched = tokio::time::timeout(wait, async {
        let (member, stored) = member_session(gateway, endpoint, session, server).await?;
        let mut exchanges =
            Exchanges::new(gateway, Arc::new(endpoint.context(gateway, &member, None)), member.config.clone(), Some(member.association.clone()));
        let mut request = [Message::from(json!({ "jsonrpc": "2.0", "id": id, "method": list.method() }))];
        exchanges.begin(&mut request, traceparent);
        let mut fetched = fetch_page(gateway, &member, &stored, list, cursor, wait).await;
        if !stored.upstream.is_empty() && matches!(fetched, Err(MemberError::Upstream(UpstreamError::UnknownSession))) {
            let fresh = reopen(gateway, &stored, &member.config, session).await?;
            fetched = fetch_page(gateway, &member, &fresh, list, cursor, wait).await;
        }
        match &fetched {
            Ok(page) => {
                exchanges.complete(&json!({ "jsonrpc": "2.0", "id": id, "result": {} }));
                let mut page = Page { items: page.items.clone(), next: page.next.clone() };
                if list == List::Tools {
                    let approved = member.config.spec.approved_tools.as_ref();
                    super::proxy::filter_listed(&gateway.tools, &mut exchanges, id, &mut page.items, approved, Some(&member.association));
                }
                return Ok(page);
            }
            Err(err) => exchanges.fail_all(err.reason(), &err.to_string()),
        }
        fetched
    })
    .await;
    fetched.unwrap_or(Err(MemberError::Timeout(wait.as_millis())))
}

async fn fetch_page(
    gateway: &Gateway,
    member: &Member,
    stored: &MemberSession,
    list: List,
    cursor: Option<&str>,
    wait: Duration,
) -> Result<Page, MemberError> {
    if let Some(rest) = member.config.rest() {
        let items = if list == List::Tools { rest.api.tools() } else { Vec::new() };
        return Ok(Page { items, next: None });
    }
    let offered = gateway.server_infos.get(&member.server, &member.version).and_then(|info| info.capabilities.clone());
    if offered.as_ref().is_some_and(|caps| caps.get(list.capability()).is_none()) {
        return Ok(Page { items: Vec::new(), next: None });
    }
    let mut conversation = conversation(gateway, member, stored, wait).await?;
    let params = cursor.map_or_else(|| json!({}), |cursor| json!({ "cursor": cursor }));
    let result = match conversation.request(list.method(), params).await {
        Ok(result) => result,
        // A member without this list (its capabilities unknown here) has none of it.
        Err(UpstreamError::Rpc(_)) if list != List::Tools => return Ok(Page { items: Vec::new(), next: None }),
        Err(err) => return Err(err.into()),
    };
    let items = result.get(list.field()).and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(Page { items, next: result.get("nextCursor").and_then(Value::as_str).map(str::to_string) })
}

/// `tools/call`: routed by the name's prefix to its member and sent on the
/// member's byte path (what `/mcp/{server}` does), the name unprefixed. A
/// name no member holds, or a member that is down, is a JSON-RPC error
/// naming the tool. `stateless`: whether the client's request speaks 2026-07-28.
async fn call(
    gateway: &Gateway,
    endpoint: &Endpoint,
    mut parts: Parts,
    mut message: Message,
    requests: &RequestIds,
    stateless_client: bool,
) -> Response {
    let id = jsonrpc::id(&message).cloned();
    let Some(name) = jsonrpc::tool_name(&message).map(str::to_string) else {
        return (StatusCode::OK, axum::Json(jsonrpc::invalid_tool_name(id.as_ref()))).into_response();
    };
    let Some(session) = &endpoint.session else {
        let refusal = Refusal::new(StatusCode::BAD_REQUEST, "missing_session", "send the Mcp-Session-Id header initialize returned");
        return refusal.respond(requests);
    };
    let Some((server, upstream_name)) = federation::route(&endpoint.product.members, &name).map(|(s, n)| (s.clone(), n.to_string())) else {
        let text = format!("Unknown tool: {name} (no server of product {} offers it)", endpoint.product.name);
        return named_error(id.as_ref(), jsonrpc::INVALID_PARAMS, &text, "unknown_tool");
    };
    let (member, stored) = match member_session(gateway, endpoint, session, &server).await {
        Ok(found) => found,
        Err(err) => {
            left_out(gateway, endpoint, &server, "tools/call", &err);
            let text = format!("tool {name}: server {server} is unavailable: {err}");
            return named_error(id.as_ref(), jsonrpc::INTERNAL_ERROR, &text, err.reason());
        }
    };
    if let Some(params) = message.params.as_mut().and_then(Value::as_object_mut) {
        params.insert("name".into(), json!(upstream_name));
    }
    if let Err(refusal) = super::check_param_headers(gateway, &member.server, &member.version, &parts.headers, &message, stateless_client) {
        return refusal.respond(requests);
    }
    let bridged = stateless_client && stored.protocol != revision::STATELESS;
    if bridged {
        revision::strip_envelope(&mut message);
    }
    if !stateless_client && stored.protocol == revision::STATELESS {
        super::bridge::into_stateless(gateway, &member.server, &member.version, &mut parts.headers, &mut message, session);
    }
    let body = jsonrpc::Body::Single(message);
    let raw = Bytes::from(body.to_bytes());
    let routed = endpoint.routed(gateway, &member, &stored, &upstream_name, bridged);
    gateway.telemetry.metrics.record_bytes(raw.len() as u64, 0, &member.server);
    if member.is_rest() {
        return name_the_tool(super::rest::serve(gateway, routed, parts, body).await, &name, &server).await;
    }
    let again = (!stored.upstream.is_empty()).then(|| (super::proxy::copy_parts(&parts), raw.clone()));
    let mut response = super::proxy::forward_messages(gateway, routed, parts, body, raw).await;
    if let Some((parts, raw)) = again.filter(|_| super::proxy::forgot_session(&response)) {
        // The member forgot its session: a new one, and the call again, once.
        if let (Ok(fresh), Ok(body)) = (reopen(gateway, &stored, &member.config, session).await, jsonrpc::Body::parse(&raw)) {
            let routed = endpoint.routed(gateway, &member, &fresh, &upstream_name, bridged);
            response = super::proxy::forward_messages(gateway, routed, parts, body, raw).await;
        }
    }
    name_the_tool(response, &name, &server).await
}

fn named_error(id: Option<&Value>, code: i64, text: &str, reason: &str) -> Response {
    (StatusCode::OK, axum::Json(jsonrpc::error(id, code, text, Some(json!({ "reason": reason }))))).into_response()
}

/// A member's failure (5xx: unreachable, timed out) as a JSON-RPC error
/// that names the tool, answered 200: one tool of the endpoint failed, not
/// the endpoint. Anything else passes untouched.
async fn name_the_tool(response: Response, tool: &str, server: &str) -> Response {
    if !response.status().is_server_error() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else { return Response::from_parts(parts, Body::empty()) };
    let Ok(mut reply) = serde_json::from_slice::<Value>(&bytes) else { return Response::from_parts(parts, Body::from(bytes)) };
    if let Some(message) = reply.pointer_mut("/error/message") {
        let text = message.as_str().unwrap_or_default().to_string();
        *message = json!(format!("tool {tool} (server {server}): {text}"));
    }
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(serde_json::to_vec(&reply).unwrap_or_default()))
}

/// The methods [`by_reference`] routes.
const ROUTED_BY_REFERENCE: &[&str] = &["prompts/get", "resources/read", "resources/subscribe", "resources/unsubscribe", "completion/complete"];

/// `prompts/get`, `resources/read`, `resources/subscribe`,
/// `resources/unsubscribe`, `completion/complete`: sent to the member the
/// prompt's name or the resource's URI belongs to.
async fn by_reference(gateway: &Gateway, endpoint: &Endpoint, id: &Value, message: &Message, traceparent: Option<&str>) -> Value {
    let Some(session) = &endpoint.session else { return json!({}) };
    let method = jsonrpc::method(message).unwrap_or_default();
    let mut params = message.get("params").cloned().unwrap_or_else(|| json!({}));
    let target = match method {
        "prompts/get" => by_name(endpoint, &mut params, &["name"]),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => by_uri(gateway, endpoint, params.get("uri")),
        "completion/complete" => match jsonrpc::at(&params, &["ref", "type"]).and_then(Value::as_str) {
            Some("ref/prompt") => by_name(endpoint, &mut params, &["ref", "name"]),
            _ => by_uri(gateway, endpoint, jsonrpc::at(&params, &["ref", "uri"])),
        },
        other => return jsonrpc::error(Some(id), jsonrpc::METHOD_NOT_FOUND, &format!("Method not found: {other}"), None),
    };
    let candidates = match target {
        Target::Member(server) => vec![server],
        Target::Unknown(what) => return jsonrpc::error(Some(id), jsonrpc::INVALID_PARAMS, &what, Some(json!({ "reason": "unknown_reference" }))),
        // A URI no list showed this replica: the members that have resources, in turn.
        Target::Any => endpoint.product.members.iter().map(|(server, _)| server.clone()).collect(),
    };
    let mut last_error = None;
    for server in &candidates {
        match ask(gateway, endpoint, session, server, method, &params, id, traceparent).await {
            Ok(reply) if reply.get("error").is_none() || candidates.len() == 1 => {
                if let Some(uri) = params.get("uri").and_then(Value::as_str).filter(|_| candidates.len() > 1) {
                    gateway.members.remember_resource(&endpoint.product.name, uri, server);
                }
                return reply;
            }
            Ok(reply) => last_error = reply.get("error").cloned(),
            Err(err) => {
                left_out(gateway, endpoint, server, method, &err);
                if candidates.len() == 1 {
                    let text = format!("{method}: server {server} is unavailable: {err}");
                    return jsonrpc::error(Some(id), jsonrpc::INTERNAL_ERROR, &text, Some(json!({ "reason": err.reason() })));
                }
            }
        }
    }
    match last_error {
        Some(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error }),
        None => jsonrpc::error(
            Some(id),
            jsonrpc::INVALID_PARAMS,
            "no server of this product has that resource",
            Some(json!({ "reason": "unknown_reference" })),
        ),
    }
}

enum Target {
    Member(String),
    Unknown(String),
    Any,
}

/// The member a prefixed name at `path` of `params` belongs to; the name
/// is replaced by the member's own.
fn by_name(endpoint: &Endpoint, params: &mut Value, path: &[&str]) -> Target {
    let Some(name) = jsonrpc::at(params, path).and_then(Value::as_str).map(str::to_string) else {
        return Target::Unknown(format!("params.{} must be a string", path.join(".")));
    };
    let Some((server, upstream)) = federation::route(&endpoint.product.members, &name) else {
        return Target::Unknown(format!("no server of product {} offers {name:?}", endpoint.product.name));
    };
    let slot = path.iter().try_fold(&mut *params, |value, key| value.get_mut(*key));
    if let Some(slot) = slot {
        *slot = json!(upstream);
    }
    Target::Member(server.clone())
}

/// The member that listed resource `uri`, when this replica saw it listed.
fn by_uri(gateway: &Gateway, endpoint: &Endpoint, uri: Option<&Value>) -> Target {
    let Some(uri) = uri.and_then(Value::as_str) else { return Target::Unknown("params.uri must be a string".into()) };
    match gateway.members.resource(&endpoint.product.name, uri) {
        Some(server) if endpoint.product.servers.contains_key(&server) => Target::Member(server),
        _ => Target::Any,
    }
}

/// Sends one request to member `server` in its session, recorded as a
/// request of its own.
#[allow(clippy::too_many_arguments)]
async fn ask(
    gateway: &Gateway,
    endpoint: &Endpoint,
    session: &Session,
    server: &str,
    method: &str,
    params: &Value,
    id: &Value,
    traceparent: Option<&str>,
) -> Result<Value, MemberError> {
    let (member, stored) = member_session(gateway, endpoint, session, server).await?;
    if member.is_rest() {
        return Ok(jsonrpc::error(Some(id), jsonrpc::METHOD_NOT_FOUND, &format!("Method not found: {method}"), None));
    }
    let mut exchanges =
        Exchanges::new(gateway, Arc::new(endpoint.context(gateway, &member, None)), member.config.clone(), Some(member.association.clone()));
    let mut request = [Message::from(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))];
    exchanges.begin(&mut request, traceparent);
    let wait = super::proxy::timeout_of(&member.config);
    let answered = async {
        let mut talk = conversation(gateway, &member, &stored, wait).await.map_err(MemberError::from)?;
        let answer = talk.exchange(method, params.clone()).await;
        if stored.upstream.is_empty() || !matches!(answer, Err(UpstreamError::UnknownSession)) {
            return answer.map_err(MemberError::from);
        }
        // The member forgot its session: a new one, and the request again, once.
        let fresh = reopen(gateway, &stored, &member.config, session).await?;
        Ok(conversation(gateway, &member, &fresh, wait).await?.exchange(method, params.clone()).await?)
    };
    match tokio::time::timeout(wait, answered).await {
        Ok(Ok(mut reply)) => {
            reply["id"] = id.clone();
            exchanges.complete(&reply);
            Ok(reply)
        }
        Ok(Err(err)) => {
            exchanges.fail_all(err.reason(), &err.to_string());
            Err(err)
        }
        Err(_) => {
            exchanges.fail_all("timeout", super::proxy::NOT_IN_TIME);
            Err(MemberError::Timeout(wait.as_millis()))
        }
    }
}

/// GET: the members' own messages on one stream. Each member with a
/// session of its own is followed; its notifications (list changes,
/// progress, logs, resource updates) are passed on as they come. Requests
/// from members (sampling, elicitation) are not: their answers could not be
/// routed back.
async fn stream(gateway: &Gateway, endpoint: &Endpoint) -> Response {
    let Some(session) = &endpoint.session else {
        return Refusal::new(StatusCode::BAD_REQUEST, "missing_session", "send the Mcp-Session-Id header initialize returned")
            .respond(&RequestIds::default());
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let mut followed = 0;
    for (server, _) in &endpoint.product.members {
        let (member, stored) = match member_session(gateway, endpoint, session, server).await {
            Ok(found) => found,
            Err(err) => {
                left_out(gateway, endpoint, server, "GET", &err);
                continue;
            }
        };
        if member.is_rest() || stored.upstream.is_empty() {
            continue;
        }
        let listening = match conversation(gateway, &member, &stored, super::proxy::timeout_of(&member.config)).await {
            Ok(conversation) => conversation.listen().await,
            Err(err) => Err(err),
        };
        match listening {
            Ok(response) => {
                followed += 1;
                tokio::spawn(relay(response, sender.clone(), endpoint.product.name.clone(), member.server.clone()));
            }
            // A member that sends nothing of its own answers 405.
            Err(UpstreamError::Status(405)) => {}
            Err(err) => left_out(gateway, endpoint, server, "GET", &MemberError::Upstream(err)),
        }
    }
    if followed == 0 {
        let refusal = Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "no_stream", "no server of this product sends messages of its own");
        return refusal.with_header(header::ALLOW, HeaderValue::from_static("POST, DELETE")).respond(&RequestIds::default());
    }
    drop(sender);
    let mut response = Response::new(Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver)));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(value) = &endpoint.session_header {
        response.headers_mut().insert(SESSION_HEADER, value.clone());
    }
    response
}

/// Passes a member's notifications on until either side goes away.
async fn relay(response: reqwest::Response, sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>, product: String, server: String) {
    let mut events = crate::mcp::sse::EventReader::default();
    let mut body = response.bytes_stream();
    loop {
        let chunk = tokio::select! {
            _ = sender.closed() => return,
            chunk = body.next() => chunk,
        };
        let Some(Ok(chunk)) = chunk else { return };
        for event in events.push(&chunk) {
            let Ok(message) = serde_json::from_str::<Value>(&event.data) else { continue };
            if jsonrpc::id(&message).is_some() {
                tracing::info!(%product, %server, method = jsonrpc::method(&message).unwrap_or_default(),
                    "a member's request to the client is not passed on by a product endpoint");
                continue;
            }
            if sender.send(Ok(Bytes::from(format!("event: message\ndata: {message}\n\n")))).await.is_err() {
                return;
            }
        }
    }
}

/// DELETE: ends the session and every member session in it.
async fn end(gateway: &Gateway, endpoint: &Endpoint) -> Response {
    let Some(session) = &endpoint.session else {
        return Refusal::new(StatusCode::BAD_REQUEST, "missing_session", "send the Mcp-Session-Id header").respond(&RequestIds::default());
    };
    gateway.members.forget(&session.upstream);
    let ended = match gateway.store.end_member_sessions(&session.upstream).await {
        Ok(ended) => ended,
        Err(err) => {
            tracing::warn!(error = %err, "cannot end a product endpoint's member sessions");
            return Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the session cannot be ended right now; try again")
                .respond(&RequestIds::default());
        }
    };
    let endings = ended.iter().filter(|m| !m.upstream.is_empty()).filter_map(|stored| {
        let member = endpoint.member(&stored.server, Some(&stored.version)).ok()?;
        Some(async move {
            if let Ok(conversation) = conversation(gateway, &member, stored, super::proxy::timeout_of(&member.config)).await {
                conversation.end().await;
            }
        })
    });
    futures::future::join_all(endings).await;
    let ended_mark = MemberSession {
        session: session.upstream.clone(),
        server: ENDED.into(),
        version: String::new(),
        upstream: String::new(),
        protocol: String::new(),
        created_at: chrono::Utc::now(),
    };
    if let Err(err) = gateway.store.open_member_session(&ended_mark).await {
        tracing::warn!(error = %err, "cannot mark a product endpoint's session ended");
    }
    let seconds = (chrono::Utc::now().timestamp() - session.started).max(0) as f64;
    for stored in ended.iter().filter(|m| m.server != ENDED) {
        gateway.telemetry.metrics.record_session(seconds, &stored.server, &stored.version);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_belong_to_their_list() {
        let cursor = Cursor { list: "tools/list".into(), members: BTreeMap::from([("crm".into(), "p2".into()), ("kb".into(), "eyJ9".into())]) };
        let text = cursor.encode();
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::decode(&text, List::Tools), Some(cursor));
        assert_eq!(Cursor::decode(&text, List::Prompts), None, "a tools cursor pages tools only");
        assert_eq!(Cursor::decode("not a cursor", List::Tools), None);
    }

    #[test]
    fn capabilities_are_the_union_of_the_members() {
        let mut capabilities = json!({ "tools": { "listChanged": true } });
        merge_capabilities(&mut capabilities, Some(&json!({ "tools": {}, "resources": { "subscribe": true }, "experimental": { "x": {} } })));
        merge_capabilities(&mut capabilities, Some(&json!({ "prompts": {}, "resources": {}, "logging": {} })));
        assert_eq!(
            capabilities,
            json!({ "tools": { "listChanged": true }, "prompts": { "listChanged": true }, "resources": { "listChanged": true, "subscribe": true }, "logging": {} })
        );
    }

    #[test]
    fn member_sessions_are_cached_per_session() {
        let cache = MemberSessions::default();
        let member = |session: &str, server: &str| MemberSession {
            session: session.into(),
            server: server.into(),
            version: "v1".into(),
            upstream: "u".into(),
            protocol: String::new(),
            created_at: chrono::Utc::now(),
        };
        cache.add(&member("fed-1", "a"));
        cache.add(&member("fed-1", "b"));
        cache.add(&member("fed-2", "a"));
        assert_eq!(cache.get("fed-1").map(|m| m.len()), Some(2));
        cache.forget("fed-1");
        assert!(cache.get("fed-1").is_none());
        assert_eq!(cache.get("fed-2").map(|m| m.len()), Some(1));
    }
}
