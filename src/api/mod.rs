//! The management REST API (`/api/v1`) and the admin listener's other routes.

pub mod analytics;
pub mod authorization_servers;
pub mod openapi;
pub mod portal_users;
pub mod problem;
pub mod product_servers;
pub mod products;
pub mod resource;
pub mod servers;
pub mod subscriptions;
pub mod versions;

use crate::store::DynStore;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use problem::{ApiError, ProblemType};
use resource::ApiResource;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared by every admin handler.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    /// SHA-256 of the admin token; `None` only with `--insecure-no-auth`.
    admin_token_hash: Option<[u8; 32]>,
    /// Who may read `/metrics`.
    metrics_access: MetricsAccess,
    ready: Arc<AtomicBool>,
    /// Serialises this process's writers per resource, so compare-and-set
    /// retries are needed only against other processes (the store's
    /// compare-and-set is what keeps writes correct across processes).
    write_locks: Arc<[tokio::sync::Mutex<()>; WRITE_LOCK_STRIPES]>,
    /// Metrics for `/metrics`; absent in processes without a gateway.
    telemetry: Option<Arc<crate::telemetry::Telemetry>>,
    /// For asking upstream MCP servers directly (live tool manifests).
    upstream: crate::upstream::UpstreamClient,
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone who reaches the admin listener (scrapers on a private network).
    Open,
    /// The bearer token with this SHA-256 (the admin token or `--metrics-token`).
    Token([u8; 32]),
}

impl MetricsAccess {
    pub fn token(token: &str) -> MetricsAccess {
        MetricsAccess::Token(Sha256::digest(token.as_bytes()).into())
    }
}

const WRITE_LOCK_STRIPES: usize = 64;

/// How long a write waits for a gateway in its process to serve it.
const SERVED_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Compares digests in full, so the time taken does not depend on the token.
fn same_digest(presented: &str, expected: &[u8; 32]) -> bool {
    let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    presented.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn bearer(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

impl AppState {
    pub fn new(store: DynStore, admin_token: Option<&str>) -> AppState {
        let admin_token_hash: Option<[u8; 32]> = admin_token.map(|t| Sha256::digest(t.as_bytes()).into());
        AppState {
            store,
            admin_token_hash,
            metrics_access: MetricsAccess::Open,
            ready: Arc::new(AtomicBool::new(false)),
            write_locks: Arc::new(std::array::from_fn(|_| tokio::sync::Mutex::new(()))),
            telemetry: None,
            upstream: {
                let http = crate::http_client::client_builder().build().unwrap_or_default();
                crate::upstream::UpstreamClient::new(http.clone(), http)
            },
        }
    }

    pub fn with_telemetry(mut self, telemetry: Arc<crate::telemetry::Telemetry>) -> AppState {
        self.telemetry = Some(telemetry);
        self
    }

    pub fn with_metrics_access(mut self, access: MetricsAccess) -> AppState {
        self.metrics_access = access;
        self
    }

    /// Held for the read-modify-write of one resource.
    pub async fn lock_for_write(&self, key: &crate::model::Key) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        let stripe = (hasher.finish() % WRITE_LOCK_STRIPES as u64) as usize;
        self.write_locks[stripe].lock().await
    }

    /// After a committed write: waits (briefly) until a gateway in this
    /// process serves it, so a caller that got a response can use what it
    /// wrote at once. Gateways in other processes follow the change feed.
    pub async fn served(&self, change: Option<i64>) {
        if let Some(change) = change {
            self.store.await_served(change, SERVED_WITHIN).await;
        }
    }

    /// This process's metrics, when it runs a gateway.
    pub fn telemetry(&self) -> Option<&Arc<crate::telemetry::Telemetry>> {
        self.telemetry.as_ref()
    }

    /// How the API reaches upstream MCP servers (the live tool manifest).
    pub fn upstream(&self) -> &crate::upstream::UpstreamClient {
        &self.upstream
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    fn token_matches(&self, presented: &str) -> bool {
        self.admin_token_hash.as_ref().is_none_or(|expected| same_digest(presented, expected))
    }
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.admin_token_hash.is_none() {
        return next.run(request).await;
    }
    match bearer(&request) {
        Some(token) if state.token_matches(token) => next.run(request).await,
        Some(_) => ApiError::new(ProblemType::Unauthorized, "the bearer token is not the admin token").into_response(),
        None => ApiError::new(ProblemType::Unauthorized, "send the admin token as `Authorization: Bearer <token>`").into_response(),
    }
}

/// Something done once per resource type: routing it, documenting it.
pub trait ResourceVisitor {
    fn visit<R: ApiResource>(&mut self);
}

/// The one list of resource types the API serves.
pub fn for_each_resource(visitor: &mut impl ResourceVisitor) {
    visitor.visit::<servers::Servers>();
    visitor.visit::<versions::Versions>();
    visitor.visit::<products::Products>();
    visitor.visit::<product_servers::ProductServers>();
    visitor.visit::<subscriptions::Subscriptions>();
    visitor.visit::<authorization_servers::AuthorizationServers>();
    visitor.visit::<portal_users::PortalUsers>();
}

struct RouteResources(Router<AppState>);

impl ResourceVisitor for RouteResources {
    fn visit<R: ApiResource>(&mut self) {
        use resource::{delete, get_one, list, patch, put};
        let mut item = get(get_one::<R>).put(put::<R>).patch(patch::<R>).delete(delete::<R>);
        if let Some(limit) = R::BODY_LIMIT {
            item = item.layer(axum::extract::DefaultBodyLimit::max(limit));
        }
        let router = std::mem::take(&mut self.0).route(R::COLLECTION, get(list::<R>)).route(R::ITEM, item);
        self.0 = router;
    }
}

/// The `/api/v1` routes, behind the admin token.
fn management_routes() -> Router<AppState> {
    let mut routes = RouteResources(Router::new());
    for_each_resource(&mut routes);
    routes
        .0
        .route("/subscriptions/{subscription}/approve", post(subscriptions::approve))
        .route("/subscriptions/{subscription}/reject", post(subscriptions::reject))
        .route("/subscriptions/{subscription}/regenerate-key", post(subscriptions::regenerate_key))
        .route("/subscriptions/{subscription}/list-secrets", post(subscriptions::list_secrets))
        .route("/audit-log", get(analytics::audit_log))
        .route("/servers/{server}/versions/{version}/promote", post(versions::promote))
        .route("/servers/{server}/versions/{version}/tools", get(versions::tools))
        .route("/analytics", get(analytics::analytics))
        .route("/calls", get(analytics::calls))
        .route("/info", get(info))
}

/// Prometheus text exposition of the gateway's metrics.
async fn metrics(State(state): State<AppState>, request: Request) -> Response {
    if let MetricsAccess::Token(expected) = &state.metrics_access {
        match bearer(&request) {
            Some(token) if same_digest(token, expected) => {}
            Some(_) => return ApiError::new(ProblemType::Unauthorized, "the bearer token is not the metrics token").into_response(),
            None => return ApiError::new(ProblemType::Unauthorized, "send the metrics token as `Authorization: Bearer <token>`").into_response(),
        }
    }
    match &state.telemetry {
        Some(telemetry) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], telemetry.prometheus_text()).into_response(),
        None => ApiError::new(ProblemType::NotFound, "metrics are not collected in this process").into_response(),
    }
}

/// How long readiness waits for the store to answer (more than the
/// store's own wait for a connection, so its error is the one reported).
const STORE_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// The health check format of draft-inadarei-api-health-check
/// (`application/health+json`), which the problem-document layer leaves as it is.
pub const HEALTH_JSON: &str = "application/health+json";

/// Readiness, per the health check draft: `status` is `pass`, `warn` or
/// `fail`, and `checks` says what each dependency is doing
/// (`"store:connection": [{"status": "fail", "output": "…"}]`). A process
/// serving the management API fails (503, with `Retry-After`) while its
/// store is down; a gateway-only process keeps serving the configuration it
/// holds, so it only warns (200).
async fn readiness(state: &AppState, needs_store: bool) -> Response {
    let health = |status: StatusCode, body: serde_json::Value| {
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(HEALTH_JSON));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
        }
        response
    };
    let version = env!("CARGO_PKG_VERSION");
    if !state.ready.load(Ordering::Acquire) {
        return health(StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({ "status": "fail", "version": version, "output": "starting" }));
    }
    let store = match tokio::time::timeout(STORE_CHECK, state.store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(_) => Some(format!("no answer within {} s", STORE_CHECK.as_secs())),
    };
    let (status, code, check) = match (&store, needs_store) {
        (None, _) => ("pass", StatusCode::OK, serde_json::json!({ "status": "pass" })),
        (Some(problem), true) => ("fail", StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({ "status": "fail", "output": problem })),
        (Some(problem), false) => ("warn", StatusCode::OK, serde_json::json!({ "status": "warn", "output": problem })),
    };
    health(code, serde_json::json!({ "status": status, "version": version, "checks": { "store:connection": [check] } }))
}

async fn healthz(State(state): State<AppState>) -> Response {
    readiness(&state, true).await
}

/// A gateway-only process: the store is not needed to serve MCP traffic.
async fn gateway_healthz(State(state): State<AppState>) -> Response {
    readiness(&state, false).await
}

/// What is answering: mcpgate, and which version. The Terraform provider
/// asks it once when it is configured (the token is checked on the way).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ServiceInfo {
    /// Always `mcpgate`.
    pub service: &'static str,
    pub version: &'static str,
}

pub const SERVICE_NAME: &str = "mcpgate";

async fn info() -> Json<ServiceInfo> {
    Json(ServiceInfo { service: SERVICE_NAME, version: env!("CARGO_PKG_VERSION") })
}

async fn not_found() -> ApiError {
    ApiError::new(ProblemType::NotFound, "no such route")
}

/// What the admin listener of a gateway-only process serves: health and
/// metrics, no management API.
pub fn operations_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(gateway_healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::map_response(problem::normalize))
        .with_state(state)
}

/// Everything the admin listener serves.
pub fn admin_router(state: AppState) -> Router {
    let protected = management_routes().route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi::serve))
        .nest("/api/v1", protected)
        .fallback(not_found)
        .layer(middleware::map_response(problem::normalize))
        .with_state(state)
}
