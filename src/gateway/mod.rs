//! The data plane: the MCP gateway on the gateway listener. For each request
//! it authenticates the subscription key, authorizes the product, picks the
//! server version, enforces the tool allow-list and the limits, and proxies
//! Streamable HTTP to the version's backend.

pub mod access;
mod backend;
mod bridge;
pub mod config;
mod context;
mod federation;
pub mod limits;
pub mod listener;
pub mod oauth;
mod observe;
mod policy;
mod protected_resource;
mod proxy;
mod refusal;
mod request_headers;
mod rest;
mod screen;
pub mod sessions;
pub mod tools;

use crate::mcp::{jsonrpc, revision};
use crate::model::product::LimitFailureMode;
use crate::model::routing::{choose_version, Requested, RouteError};
use crate::store::DynStore;
use crate::telemetry::observation::CallContext;
use crate::telemetry::Telemetry;
use access::{Grant, Resource};
use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use config::{ConfigHandle, Snapshot};
use limits::{Decision, Limiter, Limits};
use refusal::{Refusal, RequestIds};
use request_headers::RequestHeaders;
use sessions::{ServerInfos, Session, SessionKeys};
use std::sync::Arc;
use std::time::Duration;

// Header names as `HeaderName`s: looking one up by `&str` parses and
// lower-cases it on every request.
pub const SUBSCRIPTION_KEY_HEADER: HeaderName = HeaderName::from_static("x-subscription-key");
pub const SERVER_VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-server-version");
pub const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");

/// How long an idle connection is kept for reuse (token and JWKS fetches).
const UPSTREAM_IDLE: Duration = Duration::from_secs(60);

/// How long an idle connection to a backend is kept for reuse: less than
/// the keep-alive timeout common MCP servers close idle connections after
/// (Node's and uvicorn's 5 s). A connection the backend is closing as the
/// gateway reuses it fails the call with "connection closed before message
/// completed" (seen in the cluster test), and a POST cannot safely be sent
/// again. Every client that speaks to backends keeps it: the proxy's
/// (plain and HTTPS), legacy SSE bridges', and tool-manifest fetches'.
const BACKEND_IDLE: Duration = Duration::from_secs(4);

/// Where quota and rate-limit counts live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Counters {
    /// In this process, with reservations in the store (one gateway process).
    #[default]
    Local,
    /// In Redis, shared exactly by every replica.
    Redis(String),
}

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub max_body_bytes: usize,
    pub connect_timeout: Duration,
    /// Most JSON-RPC messages in one batch.
    pub max_batch: usize,
    /// Most bytes of request headers (names and values).
    pub max_header_bytes: usize,
    pub counters: Counters,
    /// How often each version's tool manifest is fetched again (it is also
    /// fetched on first use and whenever the version changes).
    pub tool_refresh: Duration,
    /// Where clients reach the gateway (`--public-url`): each server's
    /// resource URI, which tokens' `aud` must equal, is `{public_url}/mcp/{server}`.
    /// `None`: `http://` plus the request's `Host`.
    pub public_url: Option<String>,
    /// Proxies in front of the gateway (`--trusted-proxies`) whose
    /// `X-Forwarded-For` and `Forwarded` are passed on; anyone else's are
    /// replaced by the connection's peer.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            max_body_bytes: 4 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            max_batch: 100,
            max_header_bytes: 32 * 1024,
            counters: Counters::Local,
            tool_refresh: Duration::from_secs(300),
            public_url: None,
            trusted_proxies: Vec::new(),
        }
    }
}

pub struct Gateway {
    pub config: ConfigHandle,
    pub limiter: Limiter,
    sessions: SessionKeys,
    server_infos: Arc<ServerInfos>,
    tools: Arc<tools::ToolCatalog>,
    pub telemetry: Arc<Telemetry>,
    bridges: crate::upstream::legacy_sse::Bridges,
    pub settings: GatewaySettings,
    backends: backend::Backends,
    tokens: oauth::TokenVerifier,
    upstream: crate::upstream::UpstreamClient,
    /// Product endpoints' sessions: their members' upstream sessions, kept
    /// in the store and cached here.
    members: federation::MemberSessions,
    /// Which backends speak MCP 2026-07-28 (asked once each).
    revisions: bridge::Revisions,
    store: DynStore,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot set up the upstream HTTP client: {0}")]
    Client(String),
    #[error("cannot use Redis at {url}: {message}")]
    Redis { url: String, message: String },
}

impl Gateway {
    /// Loads the configuration and follows the store's changes; sets up the
    /// limit counters and the upstream client.
    pub async fn start(store: DynStore, settings: GatewaySettings, telemetry: Arc<Telemetry>) -> Result<Arc<Gateway>, StartError> {
        let config = ConfigHandle::default();
        config.follow(store.clone()).await?;
        let limiter = match &settings.counters {
            Counters::Local => Limiter::Local(Box::new(limits::local::LocalLimiter::load(store.clone()).await?)),
            Counters::Redis(url) => {
                let namespace = store.installation().await?;
                let redis = limits::redis::RedisLimiter::connect(url, namespace)
                    .map_err(|e| StartError::Redis { url: url.clone(), message: e.to_string() })?;
                Limiter::Redis(redis)
            }
        };
        let client_keeping_idle = |idle: Duration| {
            crate::http_client::client_builder()
                .connect_timeout(settings.connect_timeout)
                .pool_idle_timeout(idle)
                .build()
                .map_err(|e| StartError::Client(e.to_string()))
        };
        let (client, backend_client) = (client_keeping_idle(UPSTREAM_IDLE)?, client_keeping_idle(BACKEND_IDLE)?);
        let sessions = SessionKeys::new(&store.secret_key());
        let backends = backend::Backends::new(backend_client.clone(), settings.connect_timeout, BACKEND_IDLE);
        Ok(Arc::new(Gateway {
            config,
            limiter,
            sessions,
            server_infos: Arc::default(),
            tools: Arc::default(),
            telemetry,
            bridges: Default::default(),
            settings,
            tokens: oauth::TokenVerifier::new(client.clone()),
            upstream: crate::upstream::UpstreamClient::new(backend_client, client.clone()),
            backends,
            members: federation::MemberSessions::default(),
            revisions: bridge::Revisions::default(),
            store,
        }))
    }

    /// Writes what is still unsaved (call records, spans) and gives back
    /// reserved but unspent limit capacity; called on shutdown, and by tests.
    pub async fn flush(&self) {
        self.limiter.release().await;
        self.telemetry.flush().await;
    }
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/mcp/{server}", any(handle))
        .route("/mcp/{server}/{version}", any(handle))
        .route("/products/{product}/mcp", any(federation::handle))
        .route(protected_resource::PRODUCT, get(protected_resource::product))
        .route(protected_resource::ROOT, get(protected_resource::root))
        .route(protected_resource::SERVER, get(protected_resource::server))
        .route(protected_resource::SERVER_VERSION, get(protected_resource::server))
        .fallback(not_routed)
        .with_state(gateway)
}

async fn not_routed() -> Response {
    Refusal::new(StatusCode::NOT_FOUND, "not_found", "MCP servers are served at /mcp/{server}, products at /products/{product}/mcp")
        .respond(&RequestIds::default())
}

/// The request's HTTP version as telemetry names it.
fn http_version(version: axum::http::Version) -> &'static str {
    match version {
        axum::http::Version::HTTP_2 => "2",
        axum::http::Version::HTTP_10 => "1.0",
        _ => "1.1",
    }
}

fn header(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Everything decided about a request before it goes upstream.
#[derive(Clone)]
pub struct Routed {
    /// Who sent the request: the connection's peer.
    pub peer: std::net::IpAddr,
    /// Whether the peer is a trusted proxy (its forwarding headers are kept).
    pub behind_trusted_proxy: bool,
    pub grant: Grant,
    pub caller: String,
    /// The verified session the request belongs to.
    pub session: Option<Arc<Session>>,
    pub snapshot: Arc<Snapshot>,
    /// What telemetry reports about this exchange; also where the server
    /// and version routed to are kept ([`Routed::server`], [`Routed::version`]).
    pub context: Arc<CallContext>,
    /// A call that came through a product's endpoint: the client holds the
    /// endpoint's session, not the member's.
    pub federated: Option<Federated>,
}

/// What a member's answer carries back to a product endpoint's client.
#[derive(Debug, Clone)]
pub struct Federated {
    /// The endpoint's session id, sent back instead of anything the member says.
    pub session_header: Option<axum::http::HeaderValue>,
    /// The protocol revision the member's session speaks (the client's may be newer).
    pub protocol: Option<axum::http::HeaderValue>,
    /// `Mcp-Name` as the member knows the tool (the client named it prefixed).
    pub name: Option<axum::http::HeaderValue>,
    /// The client speaks 2026-07-28, the member's session an earlier revision.
    pub bridged: bool,
}

impl Routed {
    pub fn server(&self) -> &str {
        &self.context.server
    }

    pub fn version(&self) -> &str {
        &self.context.version
    }

    /// Whether the version is a REST API (the gateway answers MCP itself).
    pub fn is_rest(&self) -> bool {
        self.snapshot.servers.get(self.server()).and_then(|s| s.versions.get(self.version())).is_some_and(|v| v.rest().is_some())
    }

    pub fn limits(&self) -> Limits {
        Limits { rate: self.grant.product.spec.rate_limit, quota: self.grant.product.spec.quota }
    }
}

fn route_refusal(err: RouteError) -> Refusal {
    let status = match err {
        RouteError::UnknownVersion(_) => StatusCode::NOT_FOUND,
        RouteError::Retired(_) => StatusCode::GONE,
        RouteError::NotAllowed(_) => StatusCode::FORBIDDEN,
        RouteError::NoVersion => StatusCode::SERVICE_UNAVAILABLE,
    };
    let reason = match err {
        RouteError::UnknownVersion(_) => "unknown_version",
        RouteError::Retired(_) => "version_retired",
        RouteError::NotAllowed(_) => "version_not_allowed",
        RouteError::NoVersion => "no_version",
    };
    Refusal::new(status, reason, err.to_string())
}

fn unknown_session() -> Box<Refusal> {
    Box::new(Refusal::new(StatusCode::NOT_FOUND, "unknown_session", "no such session; initialize a new one"))
}

/// What the caller presented: a subscription key wins over a bearer token
/// (clients that hold a key may still send an unrelated `Authorization`).
fn credential<'a>(headers: &RequestHeaders<'a>) -> access::Credential<'a> {
    if let Some(key) = headers.subscription_key() {
        return access::Credential::Key(key);
    }
    match headers.authorization().and_then(|v| v.split_once(' ')) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => access::Credential::Token(token.trim()),
        _ => access::Credential::None,
    }
}

/// `access_token` in the query string (RFC 6750 §2.3), which this
/// gateway refuses: URLs end up in logs.
fn token_in_query(uri: &axum::http::Uri) -> bool {
    uri.query().is_some_and(|q| q.split('&').any(|pair| pair.split('=').next() == Some("access_token")))
}

/// The refusal for a denial, with its `WWW-Authenticate` challenge.
fn denial_refusal(gateway: &Gateway, headers: &RequestHeaders, resource: Resource<'_>, denial: access::Denial) -> Box<Refusal> {
    let mut refusal = Refusal::new(denial.status, denial.reason, denial.message.clone());
    if let Some(challenge) = &denial.challenge {
        let metadata = protected_resource::metadata_url(&gateway.public_url(headers.host()), resource);
        if let Ok(value) = protected_resource::www_authenticate(&metadata, challenge, &denial.message).parse() {
            refusal = refusal.with_header(axum::http::header::WWW_AUTHENTICATE, value);
        }
    }
    Box::new(refusal)
}

impl Gateway {
    /// `--public-url`, else `http://` plus the request's `Host`.
    fn public_url(&self, host: Option<&str>) -> String {
        match &self.settings.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", host.unwrap_or("localhost")),
        }
    }
}

/// Authenticates and authorizes the caller of `resource`: its grant, and
/// the name its limits and stickiness are kept under.
pub(crate) async fn admit_caller(
    gateway: &Gateway,
    snapshot: &Snapshot,
    resource: Resource<'_>,
    uri: &axum::http::Uri,
    headers: &RequestHeaders<'_>,
    connection: &listener::Connection,
) -> Result<(Grant, String), Box<Refusal>> {
    if token_in_query(uri) {
        let message = "access tokens are accepted only in the Authorization header, never in the URL".to_string();
        let challenge = access::Challenge { error: Some("invalid_request"), scopes: access::scopes_for(snapshot, resource) };
        let denial = access::Denial { status: StatusCode::UNAUTHORIZED, reason: "token_in_query", message, challenge: Some(challenge) };
        return Err(denial_refusal(gateway, headers, resource, denial));
    }
    let credential = credential(headers);
    // Only a token is checked against the resource URI; key callers skip building it.
    let audience = match credential {
        access::Credential::Token(_) => protected_resource::resource_uri(&gateway.public_url(headers.host()), resource),
        _ => String::new(),
    };
    let grant = access::authorize(snapshot, &gateway.tokens, resource, credential, &audience, &connection.kept.key)
        .await
        .map_err(|denial| denial_refusal(gateway, headers, resource, denial))?;
    let caller = grant.caller(connection.peer.ip());
    Ok((grant, caller))
}

/// Authenticates, authorizes, verifies the session and picks the version.
async fn route(
    gateway: &Gateway,
    params: &RawPathParams,
    parts: &axum::http::request::Parts,
    headers: &RequestHeaders<'_>,
    connection: &listener::Connection,
) -> Result<Routed, Box<Refusal>> {
    let (uri, http_version, client) = (&parts.uri, http_version(parts.version), connection.peer);
    let mut segments = params.iter().map(|(_, v)| v);
    let server = segments.next().unwrap_or_default();
    let path_version = segments.next();
    let snapshot = gateway.config.current();
    let Some(server_config) = snapshot.servers.get(server) else {
        let shown: String = server.chars().take(64).collect();
        return Err(Box::new(Refusal::new(StatusCode::NOT_FOUND, "unknown_server", format!("no MCP server named {shown:?}"))));
    };
    let (grant, caller) = admit_caller(gateway, &snapshot, Resource::Server(server), uri, headers, connection).await?;
    let session = match headers.session() {
        Some(id) => Some(gateway.sessions.verify(&connection.kept.session, id, &caller, server).map_err(|_| unknown_session())?),
        None => None,
    };
    let requested = match (&path_version, headers.server_version(), &session) {
        (Some(v), _, _) => Requested::Path(v),
        (None, Some(v), _) => Requested::Header(v),
        (None, None, Some(s)) => Requested::Session(&s.version),
        (None, None, None) => Requested::Unspecified,
    };
    let allowed = grant.association(server).and_then(|a| a.versions.as_deref());
    let version = choose_version(&server_config.specs, allowed, requested, &caller).map_err(route_refusal)?;
    if session.as_ref().is_some_and(|s| s.version != version) {
        // The session lives on another version's upstream, which would not know it.
        return Err(unknown_session());
    }
    let asked = context::Asked::of(headers);
    let info = gateway.server_infos.get(server, version);
    let source =
        context::Source { server, version, grant: &grant, session: session.as_deref(), asked: &asked, client, http_version, info: info.as_deref() };
    let context = connection.kept.context.context(&source);
    let behind_trusted_proxy = gateway.settings.trusted_proxies.iter().any(|net| net.contains(&client.ip()));
    Ok(Routed { peer: client.ip(), behind_trusted_proxy, grant, caller, session, snapshot: snapshot.clone(), context, federated: None })
}

/// Refuses a request whose `Mcp-Method`, `Mcp-Name` or protocol header
/// disagrees with its body (MCP 2026-07-28), before it is charged or
/// forwarded: HTTP 400 and -32020; or that names a revision not served
/// here. A batch (no 2026-07-28 request is one) may not carry them. `Ok`
/// says whether a single request speaks 2026-07-28.
fn check_routing_headers(routing: &revision::RoutingHeaders, body: &jsonrpc::Body) -> Result<bool, Box<Refusal>> {
    let mismatch = match body {
        jsonrpc::Body::Single(message) => match revision::check_arrival(routing, message) {
            Ok(stateless) => return Ok(stateless),
            Err(revision::Refused::Unservable(unservable)) => return Err(Box::new(unservable_refusal(unservable))),
            Err(revision::Refused::Mismatch(mismatch)) => mismatch,
        },
        jsonrpc::Body::Batch(_) if routing.has_method() => revision::Mismatch("a batch cannot carry the Mcp-Method header".to_string()),
        jsonrpc::Body::Batch(_) => return Ok(false),
    };
    Err(Box::new(Refusal::new(StatusCode::BAD_REQUEST, "header_mismatch", mismatch.to_string()).with_code(revision::HEADER_MISMATCH)))
}

/// What a request the gateway cannot serve in the revision it names is told.
fn unservable_refusal(unservable: revision::Unservable) -> Refusal {
    match unservable {
        revision::Unservable::Version { requested, supported } => {
            Refusal::new(StatusCode::BAD_REQUEST, "unsupported_protocol_version", format!("MCP protocol version {requested:?} is not spoken here"))
                .with_code(revision::UNSUPPORTED_PROTOCOL_VERSION)
                .with_data("supported", serde_json::json!(supported))
                .with_data("requested", serde_json::Value::from(requested))
        }
        revision::Unservable::Envelope(why) => Refusal::new(StatusCode::BAD_REQUEST, "invalid_envelope", why).with_code(jsonrpc::INVALID_PARAMS),
        revision::Unservable::Removed(method) => {
            Refusal::new(StatusCode::NOT_FOUND, "method_not_found", format!("{method} is not a method of MCP {}", revision::STATELESS))
                .with_code(jsonrpc::METHOD_NOT_FOUND)
        }
    }
}

/// Refuses a 2026-07-28 `tools/call` whose `Mcp-Param-*` headers disagree
/// with the arguments the called tool's schema mirrors into them (as the gateway last
/// saw `server`'s `version` list it): HTTP 400 and -32020. `stateless`:
/// whether the request speaks 2026-07-28, as its arrival's checks found.
fn check_param_headers(
    gateway: &Gateway,
    server: &str,
    version: &str,
    headers: &HeaderMap,
    message: &jsonrpc::Message,
    stateless: bool,
) -> Result<(), Box<Refusal>> {
    // Only a 2026-07-28 request carries them.
    if !stateless {
        return Ok(());
    }
    let jsonrpc::CalledTool::Named(tool) = jsonrpc::CalledTool::of(message) else { return Ok(()) };
    let Some(offered) = gateway.tools.tool(server, version, tool).filter(|t| !t.param_headers.is_empty()) else { return Ok(()) };
    let arguments = jsonrpc::at(message, &["params", "arguments"]).cloned().unwrap_or(serde_json::Value::Null);
    revision::check_param_headers(headers, &offered.param_headers, &arguments).map_err(|mismatch| {
        Box::new(Refusal::new(StatusCode::BAD_REQUEST, "header_mismatch", mismatch.to_string()).with_code(revision::HEADER_MISMATCH))
    })
}

/// Refuses requests whose headers exceed the limit, with a JSON-RPC body.
fn check_headers(gateway: &Gateway, headers: &RequestHeaders) -> Result<(), Box<Refusal>> {
    let size = headers.size;
    if size > gateway.settings.max_header_bytes {
        let message = format!("the request headers take {size} bytes, more than the {} allowed", gateway.settings.max_header_bytes);
        return Err(Box::new(
            Refusal::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large", message).with_code(jsonrpc::INVALID_REQUEST),
        ));
    }
    Ok(())
}

/// The rarer branches (REST versions, bridges, GET streams, token checks,
/// the legacy SSE transport) are awaited boxed: axum boxes this future on every request, at the size
/// of its largest branch, so unboxed they made every call allocate and copy
/// a 9.2 KB future (6.6 KB now; count-instructions: 200,600 -> 188,400
/// instructions per call).
// Not an `async fn`, for the reason `proxy::forward_messages` gives.
#[allow(clippy::manual_async_fn)]
fn handle(
    State(gateway): State<Arc<Gateway>>,
    params: RawPathParams,
    ConnectInfo(connection): ConnectInfo<listener::Connection>,
    request: Request,
) -> impl std::future::Future<Output = Response> + Send {
    async move {
        let (mut parts, body) = request.into_parts();
        if !matches!(parts.method, Method::POST | Method::GET | Method::DELETE) {
            let refusal = Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST, GET or DELETE");
            return refusal
                .with_header(axum::http::header::ALLOW, axum::http::HeaderValue::from_static("GET, POST, DELETE"))
                .respond(&RequestIds::default());
        }
        let headers = RequestHeaders::read(&parts.headers);
        if let Err(refusal) = check_headers(&gateway, &headers) {
            return refusal.respond(&RequestIds::default());
        }
        if parts.method != Method::POST {
            return match route(&gateway, &params, &parts, &headers, &connection).await {
                Ok(routed) if routed.is_rest() => rest::stream(&gateway, &routed, &parts.method),
                Ok(routed) => match bridge::without_upstream_session(&routed, &parts.method) {
                    Some(response) => response,
                    None => Box::pin(proxy::forward_stream(&gateway, &routed, parts)).await,
                },
                Err(refusal) => refusal.respond(&RequestIds::default()),
            };
        }
        let bytes = match axum::body::to_bytes(body, gateway.settings.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(_) => {
                let message = format!("the request body exceeds {} bytes", gateway.settings.max_body_bytes);
                return Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
                    .with_code(jsonrpc::INVALID_REQUEST)
                    .respond(&RequestIds::default());
            }
        };
        let message = match jsonrpc::Body::parse(&bytes) {
            Ok(message) => message,
            Err(err) => {
                return Refusal::new(StatusCode::BAD_REQUEST, "parse_error", err).with_code(jsonrpc::PARSE_ERROR).respond(&RequestIds::default());
            }
        };
        let stateless = match check_routing_headers(&headers.routing, &message) {
            Ok(stateless) => stateless,
            Err(refusal) => return refusal.respond(&RequestIds::of(&message)),
        };
        if message.messages().len() > gateway.settings.max_batch {
            let message_text = format!("a batch of {} messages exceeds the limit of {}", message.messages().len(), gateway.settings.max_batch);
            let refusal = Refusal::new(StatusCode::BAD_REQUEST, "batch_too_large", message_text).with_code(jsonrpc::INVALID_REQUEST);
            return refusal.respond(&RequestIds::of(&message));
        }
        match route(&gateway, &params, &parts, &headers, &connection).await {
            Ok(mut routed) => {
                gateway.telemetry.metrics.record_bytes(bytes.len() as u64, 0, routed.server());
                if let jsonrpc::Body::Single(single) = &message {
                    if let Err(refusal) = check_param_headers(&gateway, routed.server(), routed.version(), &parts.headers, single, stateless) {
                        return refusal.respond(&RequestIds::of(&message));
                    }
                }
                if routed.is_rest() {
                    return Box::pin(rest::serve(&gateway, routed, parts, message)).await;
                }
                match bridge_stateless(&gateway, &mut routed, &mut parts, message, bytes, stateless).await {
                    Ok((message, bytes)) if routed.federated.as_ref().is_some_and(|f| f.bridged) => {
                        Box::pin(bridge::forward(&gateway, routed, parts, message, bytes)).await
                    }
                    Ok((message, bytes)) => proxy::forward_messages(&gateway, routed, parts, message, bytes).await,
                    Err(response) => response,
                }
            }
            Err(refusal) => refusal.respond(&RequestIds::of(&message)),
        }
    }
}

/// A 2026-07-28 request without a session, for a backend that speaks only an
/// earlier revision, goes into the caller's bridge session (rewritten), or
/// is answered here (`server/discover`); an earlier revision's request for a
/// backend that speaks only 2026-07-28 goes to it statelessly (its
/// `initialize` answered here); anything else goes as it came. `stateless`:
/// whether the request speaks 2026-07-28.
async fn bridge_stateless(
    gateway: &Gateway,
    routed: &mut Routed,
    parts: &mut axum::http::request::Parts,
    body: jsonrpc::Body,
    bytes: axum::body::Bytes,
    stateless: bool,
) -> Result<(jsonrpc::Body, axum::body::Bytes), Response> {
    let jsonrpc::Body::Single(mut message) = body else { return Ok((body, bytes)) };
    let outcome = match (stateless, routed.session.is_some()) {
        (false, _) => Box::pin(bridge::earlier(gateway, routed, parts, &mut message))
            .await
            .map_err(|why| format!("cannot reach the MCP server, which speaks only {}: {why}", revision::STATELESS)),
        (true, true) => Ok(bridge::Bridged::Through),
        (true, false) => Box::pin(bridge::prepare(gateway, routed, &mut message))
            .await
            .map_err(|why| format!("cannot open a session with the MCP server for this {} client: {why}", revision::STATELESS)),
    };
    match outcome {
        Ok(bridge::Bridged::Through) => Ok((jsonrpc::Body::Single(message), bytes)),
        Ok(bridge::Bridged::Into) => {
            let body = jsonrpc::Body::Single(message);
            let bytes = axum::body::Bytes::from(body.to_bytes());
            Ok((body, bytes))
        }
        Ok(bridge::Bridged::Answered(response)) => Err(response),
        Err(text) => {
            let requests = RequestIds::of(&jsonrpc::Body::Single(message));
            Err(Refusal::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", text).respond(&requests))
        }
    }
}

/// A body refused as a whole before it went upstream (a limit, or limits
/// that cannot be checked): the refusal, and what the call log records.
pub(crate) struct Throttle {
    refusal: Refusal,
    pub error_type: String,
    pub message: String,
    pub rule: Option<Arc<str>>,
}

impl Throttle {
    pub fn response(self, requests: &RequestIds) -> Response {
        self.refusal.respond(requests)
    }
}

/// One charge against the limit counters. When they cannot be reached, the
/// product's failure mode decides.
async fn charge(gateway: &Gateway, product: &config::ProductConfig, caller: &str, limits: Limits, calls: u64) -> Result<Decision, Throttle> {
    match gateway.limiter.admit(caller, limits, calls).await {
        Ok(decision) => Ok(decision),
        Err(err) if product.spec.limit_failure_mode == LimitFailureMode::Open => {
            tracing::warn!(error = %err, product = %product.name, "limit counters unavailable; admitting (failure mode open)");
            Ok(Decision::Admitted(Vec::new()))
        }
        Err(err) => {
            tracing::warn!(error = %err, product = %product.name, "limit counters unavailable; refusing (failure mode closed)");
            let refusal = Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "limits_unavailable",
                "the gateway cannot check this product's limits right now; try again shortly",
            )
            .with_header(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
            Err(Throttle { error_type: refusal.code.to_string(), message: refusal.reason.to_string(), refusal, rule: None })
        }
    }
}

/// Charges a body's requests against the product's limits, then each
/// forwarded call against the policy limits that cover it. A refused charge
/// gives back the ones made before it, so counts stay exact.
async fn admit(gateway: &Gateway, routed: &Routed, calls: u64, policy: Vec<policy::PolicyCharge>) -> Result<proxy::Charged, Throttle> {
    let product = &routed.grant.product.name;
    let mut standings = match charge(gateway, &routed.grant.product, &routed.caller, routed.limits(), calls).await? {
        Decision::Admitted(standings) => standings,
        Decision::Throttled { exceeded, standings } => {
            gateway.telemetry.metrics.record_throttled(exceeded.kind.reason(), routed.server(), product);
            let refusal = proxy::throttled(exceeded, &standings, None);
            return Err(Throttle { error_type: refusal.code.to_string(), message: exceeded.kind.reason().to_string(), refusal, rule: None });
        }
    };
    let mut charged: Vec<policy::PolicyCharge> = Vec::new();
    for current in &policy {
        let decision = match charge(gateway, &routed.grant.product, &current.bucket, current.limits(), 1).await {
            Ok(decision) => decision,
            Err(throttle) => {
                give_back(gateway, routed, calls, &charged).await;
                return Err(throttle);
            }
        };
        match decision {
            Decision::Admitted(mut policy_standings) => {
                standings.append(&mut policy_standings);
                charged.push(current.clone());
            }
            Decision::Throttled { exceeded, standings: policy_standings } => {
                give_back(gateway, routed, calls, &charged).await;
                gateway.telemetry.metrics.record_throttled(exceeded.kind.reason(), routed.server(), product);
                gateway.telemetry.metrics.record_policy(screen::RATE_LIMITED, product, &current.rule);
                let refusal = proxy::throttled(exceeded, &policy_standings, Some(&current.rule));
                let message = refusal.message.clone();
                return Err(Throttle { error_type: screen::RATE_LIMITED.to_string(), message, refusal, rule: Some(current.rule.clone()) });
            }
        }
    }
    Ok(proxy::Charged { calls, batch: false, policy: charged, standings })
}

/// Takes back a body's charges: a later charge of it was refused, or
/// nothing of it was served.
async fn give_back(gateway: &Gateway, routed: &Routed, calls: u64, policy: &[policy::PolicyCharge]) {
    gateway.limiter.refund(&routed.caller, routed.limits(), calls).await;
    for charge in policy {
        gateway.limiter.refund(&charge.bucket, charge.limits(), 1).await;
    }
}
