//! The management REST API (`/api/v1`) and the admin listener's other routes.

pub mod analytics;
pub mod openapi;
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
use axum::Router;
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
    /// Bumped after every committed write, so the gateway reloads at once.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    /// The last change generation the gateway has applied.
    applied: Arc<tokio::sync::watch::Sender<u64>>,
    ready: Arc<AtomicBool>,
    /// Serialises this process's writers per resource, so compare-and-set
    /// retries are needed only against other processes.
    write_locks: Arc<[tokio::sync::Mutex<()>; WRITE_LOCK_STRIPES]>,
    /// Metrics for `/metrics`; absent in API-only setups.
    telemetry: Option<Arc<crate::telemetry::Telemetry>>,
}

const WRITE_LOCK_STRIPES: usize = 64;

impl AppState {
    pub fn new(store: DynStore, admin_token: Option<&str>) -> AppState {
        AppState {
            store,
            admin_token_hash: admin_token.map(|t| Sha256::digest(t.as_bytes()).into()),
            changes: Arc::new(tokio::sync::watch::channel(0).0),
            applied: Arc::new(tokio::sync::watch::channel(0).0),
            ready: Arc::new(AtomicBool::new(false)),
            write_locks: Arc::new(std::array::from_fn(|_| tokio::sync::Mutex::new(()))),
            telemetry: None,
        }
    }

    pub fn with_telemetry(mut self, telemetry: Arc<crate::telemetry::Telemetry>) -> AppState {
        self.telemetry = Some(telemetry);
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

    /// Announces a committed write and, when a gateway in this process
    /// listens, waits (briefly) until it serves the new configuration, so a
    /// caller that got a response can use what it wrote at once.
    pub async fn notify_change(&self) {
        let mut generation = 0;
        self.changes.send_modify(|g| {
            *g += 1;
            generation = *g;
        });
        if self.changes.receiver_count() == 0 {
            return;
        }
        let mut applied = self.applied.subscribe();
        let caught_up = applied.wait_for(|g| *g >= generation);
        if tokio::time::timeout(std::time::Duration::from_secs(1), caught_up).await.is_err() {
            tracing::warn!(generation, "the gateway has not applied a configuration change within 1 s");
        }
    }

    /// For the gateway: the change feed, and where to report what it applied.
    pub fn change_feed(&self) -> ChangeFeed {
        ChangeFeed { changes: self.changes.subscribe(), applied: self.applied.clone() }
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    fn token_matches(&self, presented: &str) -> bool {
        let Some(expected) = &self.admin_token_hash else { return true };
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Comparing digests in full keeps the time independent of the token.
        presented.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// What the gateway listens to for configuration changes.
pub struct ChangeFeed {
    pub changes: tokio::sync::watch::Receiver<u64>,
    pub applied: Arc<tokio::sync::watch::Sender<u64>>,
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.admin_token_hash.is_none() {
        return next.run(request).await;
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    match bearer {
        Some(token) if state.token_matches(token.trim()) => next.run(request).await,
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
}

struct RouteResources(Router<AppState>);

impl ResourceVisitor for RouteResources {
    fn visit<R: ApiResource>(&mut self) {
        use resource::{delete, get_one, list, patch, put};
        let router = std::mem::take(&mut self.0)
            .route(R::COLLECTION, get(list::<R>))
            .route(R::ITEM, get(get_one::<R>).put(put::<R>).patch(patch::<R>).delete(delete::<R>));
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
        .route("/analytics", get(analytics::analytics))
        .route("/calls", get(analytics::calls))
}

/// Prometheus text exposition of the gateway's metrics.
async fn metrics(State(state): State<AppState>) -> Response {
    match &state.telemetry {
        Some(telemetry) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], telemetry.prometheus_text()).into_response(),
        None => ApiError::new(ProblemType::NotFound, "metrics are not collected in this process").into_response(),
    }
}

async fn healthz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn not_found() -> ApiError {
    ApiError::new(ProblemType::NotFound, "no such route")
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
        .with_state(state)
}
