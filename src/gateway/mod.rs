//! The data plane: the MCP gateway on the gateway listener. For each request
//! it authenticates the subscription key, authorizes the product, picks the
//! server version, enforces the tool allow-list and the limits, and proxies
//! Streamable HTTP to the version's backend.

pub mod access;
pub mod config;
pub mod jsonrpc;
mod legacy_sse;
pub mod limits;
mod observe;
mod proxy;
mod refusal;
pub mod sessions;
pub mod sse;

use crate::model::routing::{choose_version, Requested, RouteError};
use crate::store::DynStore;
use crate::telemetry::observation::CallContext;
use crate::telemetry::Telemetry;
use access::Grant;
use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use config::{ConfigHandle, Snapshot};
use limits::{Decision, Limiter};
use refusal::{Refusal, RequestIds};
use sessions::Sessions;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SUBSCRIPTION_KEY_HEADER: &str = "x-subscription-key";
pub const SERVER_VERSION_HEADER: &str = "mcp-server-version";
pub const SESSION_HEADER: &str = "mcp-session-id";

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub max_body_bytes: usize,
    pub connect_timeout: Duration,
    /// How often configuration is re-read even without a local change.
    pub config_poll: Duration,
    /// How often quota counts are written to the store.
    pub quota_flush: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            max_body_bytes: 4 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            config_poll: Duration::from_secs(1),
            quota_flush: Duration::from_millis(500),
        }
    }
}

pub struct Gateway {
    pub config: ConfigHandle,
    pub limiter: Arc<Limiter>,
    pub sessions: Arc<Sessions>,
    pub telemetry: Arc<Telemetry>,
    bridges: legacy_sse::Bridges,
    pub settings: GatewaySettings,
    client: reqwest::Client,
    store: DynStore,
}

impl Gateway {
    /// Loads the configuration and quota counts, and starts the background
    /// reload and flush tasks.
    pub async fn start(
        store: DynStore,
        changes: crate::api::ChangeFeed,
        settings: GatewaySettings,
        telemetry: Arc<Telemetry>,
    ) -> Result<Arc<Gateway>, crate::store::StoreError> {
        let config = ConfigHandle::default();
        config.reload(&store).await?;
        config.watch(store.clone(), changes, settings.config_poll);
        let limiter = Arc::new(Limiter::load(&store).await?);
        let client = crate::http_client::client_builder()
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| crate::store::StoreError::Corrupt(format!("HTTP client: {e}")))?;
        let gateway =
            Arc::new(Gateway { config, limiter, sessions: Arc::default(), telemetry, bridges: Default::default(), settings, client, store });
        gateway.spawn_quota_flush();
        Ok(gateway)
    }

    fn spawn_quota_flush(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let period = self.settings.quota_flush;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(gateway) = weak.upgrade() else { return };
                gateway.limiter.flush(&gateway.store).await;
            }
        });
    }

    /// Writes what is still unsaved (quota counts, call records, spans);
    /// called on shutdown, and by tests.
    pub async fn flush(&self) {
        self.limiter.flush(&self.store).await;
        self.telemetry.flush().await;
    }
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new().route("/mcp/{server}", any(handle)).route("/mcp/{server}/{version}", any(handle)).fallback(not_routed).with_state(gateway)
}

async fn not_routed() -> Response {
    Refusal::new(StatusCode::NOT_FOUND, "not_found", "MCP servers are served at /mcp/{server}").respond(&RequestIds::default())
}

/// Locks a mutex, taking over a poisoned one: the gateway's maps stay
/// usable after a panicking request.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Everything decided about a request before it goes upstream.
pub struct Routed {
    pub server: String,
    pub version: String,
    pub grant: Grant,
    pub caller: String,
    pub session_id: Option<String>,
    pub snapshot: Arc<Snapshot>,
    /// What telemetry reports about this exchange.
    pub context: Arc<CallContext>,
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

/// Authenticates, authorizes and picks the version.
fn route(gateway: &Gateway, params: &RawPathParams, headers: &HeaderMap, client: SocketAddr) -> Result<Routed, Box<Refusal>> {
    let mut segments = params.iter().map(|(_, v)| v.to_string());
    let server = segments.next().unwrap_or_default();
    let path_version = segments.next();
    let snapshot = gateway.config.current();
    let Some(server_config) = snapshot.servers.get(&server) else {
        return Err(Box::new(Refusal::new(StatusCode::NOT_FOUND, "unknown_server", format!("no MCP server named {server:?}"))));
    };
    let grant =
        access::authorize(&snapshot, &server, header(headers, SUBSCRIPTION_KEY_HEADER)).map_err(|d| Refusal::new(d.status, d.reason, d.message))?;
    let caller = grant.caller(&client.ip().to_string());
    let session_id = header(headers, SESSION_HEADER).map(str::to_string);
    let pinned = match &session_id {
        Some(id) => match gateway.sessions.get(&server, id) {
            Some(session) if session.caller != caller => {
                return Err(Box::new(Refusal::new(StatusCode::NOT_FOUND, "unknown_session", "no such session")));
            }
            Some(session) => Some(session.version),
            None => None,
        },
        None => None,
    };
    let requested = match (&path_version, header(headers, SERVER_VERSION_HEADER), &pinned) {
        (Some(v), _, _) => Requested::Path(v),
        (None, Some(v), _) => Requested::Header(v),
        (None, None, Some(v)) => Requested::Session(v),
        (None, None, None) => Requested::Unspecified,
    };
    let allowed = grant.association(&server).and_then(|a| a.versions.as_deref());
    let version = choose_version(&server_config.specs, allowed, requested, &caller).map_err(route_refusal)?.to_string();
    let context = call_context(&server, &version, &grant, session_id.as_deref(), headers, client, &gateway.sessions);
    Ok(Routed { server, version, grant, caller, session_id, snapshot: snapshot.clone(), context: Arc::new(context) })
}

fn call_context(
    server: &str,
    version: &str,
    grant: &Grant,
    session_id: Option<&str>,
    headers: &HeaderMap,
    client: SocketAddr,
    sessions: &Sessions,
) -> CallContext {
    let host = header(headers, "host").unwrap_or_default();
    let (server_address, server_port) = match host.rsplit_once(':') {
        Some((address, port)) => (Some(address.to_string()), port.parse().ok()),
        None => ((!host.is_empty()).then(|| host.to_string()), None),
    };
    let mut context = CallContext {
        server: server.to_string(),
        version: version.to_string(),
        product: grant.product.name.clone(),
        subscription: grant.subscription.as_ref().map(|s| s.name.clone()),
        auth_type: grant.auth_type(),
        session_id: session_id.map(str::to_string),
        protocol_version: header(headers, "mcp-protocol-version").map(str::to_string),
        client_address: Some(client.ip().to_string()),
        client_port: Some(client.port()),
        server_address,
        server_port,
        http_version: "1.1",
        ..CallContext::default()
    };
    if let Some(session) = session_id.and_then(|id| sessions.get(server, id)) {
        session.info.fill(&mut context);
    }
    context
}

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    params: RawPathParams,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if !matches!(parts.method, Method::POST | Method::GET | Method::DELETE) {
        let refusal = Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST, GET or DELETE");
        return refusal
            .with_header(axum::http::header::ALLOW, axum::http::HeaderValue::from_static("GET, POST, DELETE"))
            .respond(&RequestIds::default());
    }
    let http_version = match parts.version {
        axum::http::Version::HTTP_2 => "2",
        axum::http::Version::HTTP_10 => "1.0",
        _ => "1.1",
    };
    if parts.method != Method::POST {
        return match route(&gateway, &params, &parts.headers, client) {
            Ok(routed) => proxy::forward_stream(&gateway, &routed, parts).await,
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
    match route(&gateway, &params, &parts.headers, client) {
        Ok(mut routed) => {
            Arc::make_mut(&mut routed.context).http_version = http_version;
            gateway.telemetry.metrics.record_bytes(bytes.len() as u64, 0, &routed.server);
            proxy::forward_messages(&gateway, routed, parts, message, bytes).await
        }
        Err(refusal) => refusal.respond(&RequestIds::of(&message)),
    }
}

/// Charges the forwarded requests against the product's limits.
fn admit(gateway: &Gateway, routed: &Routed, calls: u64) -> Decision {
    let spec = &routed.grant.product.spec;
    let unix_now = chrono::Utc::now().timestamp();
    gateway.limiter.admit(&routed.caller, spec.rate_limit, spec.quota, calls, Instant::now(), unix_now)
}
