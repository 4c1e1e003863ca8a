//! `mcpgate serve`: one process, two listeners (admin and gateway) over one store.

use crate::api::{self, AppState};
use crate::gateway::{self, Gateway, GatewaySettings};
use crate::store;
use crate::telemetry::call_log::Retention;
use crate::telemetry::payload::PayloadPolicy;
use crate::telemetry::{Telemetry, TelemetrySettings};
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// Address of the admin listener (management API, health, metrics).
    #[arg(long, env = "MCPGATE_ADMIN_LISTEN", default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,
    /// Address of the gateway listener (MCP traffic).
    #[arg(long, env = "MCPGATE_GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub gateway_listen: SocketAddr,
    /// Store URL: `sqlite://PATH` or `sqlite::memory:`.
    #[arg(long, env = "MCPGATE_DATABASE", default_value = "sqlite://mcpgate.db")]
    pub database: String,
    /// Bearer token the management API requires.
    #[arg(long, env = "MCPGATE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Serve the management API without a token (local experiments only).
    #[arg(long, env = "MCPGATE_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Largest MCP request body the gateway accepts, in bytes.
    #[arg(long, env = "MCPGATE_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How long the gateway waits to connect to an upstream MCP server, in seconds.
    #[arg(long, env = "MCPGATE_UPSTREAM_CONNECT_TIMEOUT", default_value_t = 5)]
    pub upstream_connect_timeout: u64,
    /// Largest tool payload recorded (when a version enables payload logging), in bytes.
    #[arg(long, env = "MCPGATE_PAYLOAD_MAX_BYTES", default_value_t = crate::telemetry::payload::DEFAULT_MAX_BYTES)]
    pub payload_max_bytes: usize,
    /// JSON keys whose values are redacted in recorded payloads (comma-separated).
    #[arg(long, env = "MCPGATE_PAYLOAD_REDACT_KEYS", value_delimiter = ',', default_values_t = crate::telemetry::payload::DEFAULT_REDACT_KEYS.iter().map(|k| k.to_string()))]
    pub payload_redact_keys: Vec<String>,
    /// Call-log records older than this many days are pruned.
    #[arg(long, env = "MCPGATE_CALL_LOG_MAX_AGE_DAYS", default_value_t = 30)]
    pub call_log_max_age_days: u64,
    /// At most this many call-log records are kept (the newest).
    #[arg(long, env = "MCPGATE_CALL_LOG_MAX_ROWS", default_value_t = 1_000_000)]
    pub call_log_max_rows: u64,
    /// Throwaway instance: in-memory store, free loopback ports, a random
    /// token unless one is given; prints its URLs and token as one JSON line.
    #[arg(long, env = "MCPGATE_EPHEMERAL")]
    pub ephemeral: bool,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    #[error("no admin token: set --admin-token or MCPGATE_ADMIN_TOKEN, or pass --insecure-no-auth to run the management API unauthenticated")]
    NoAdminToken,
    #[error("cannot listen on {addr} ({listener} listener): {source}")]
    Bind { listener: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("cannot open the store {url}: {source}")]
    Store { url: String, source: store::StoreError },
    #[error("{0}")]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ServeArgs {
    /// Applies `--ephemeral`'s defaults.
    fn resolved(mut self) -> ServeArgs {
        if self.ephemeral {
            self.database = "sqlite::memory:".into();
            self.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
            self.gateway_listen = SocketAddr::from(([127, 0, 0, 1], 0));
            if self.admin_token.is_none() && !self.insecure_no_auth {
                self.admin_token = Some(crate::model::subscription::generate_key().replacen("mcpk_", "mcpa_", 1));
            }
        }
        self
    }
}

async fn bind(listener: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { listener, addr, source })
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), ServeError> {
    let args = args.resolved();
    let token = match (&args.admin_token, args.insecure_no_auth) {
        (Some(token), _) => Some(token.clone()),
        (None, true) => {
            tracing::warn!("the management API accepts requests without a token (--insecure-no-auth)");
            None
        }
        (None, false) => return Err(ServeError::NoAdminToken),
    };
    let store = store::open(&args.database).await.map_err(|source| ServeError::Store { url: args.database.clone(), source })?;
    let admin_listener = bind("admin", args.admin_listen).await?;
    let gateway_listener = bind("gateway", args.gateway_listen).await?;
    let admin_addr = admin_listener.local_addr()?;
    let gateway_addr = gateway_listener.local_addr()?;

    let telemetry_settings = TelemetrySettings {
        otlp: TelemetrySettings::otlp_from_env(),
        payload: PayloadPolicy {
            max_bytes: args.payload_max_bytes,
            redact_keys: args.payload_redact_keys.iter().map(|k| k.trim().to_lowercase()).collect(),
        },
        retention: Retention { max_age: Duration::from_secs(args.call_log_max_age_days * 24 * 3600), max_rows: args.call_log_max_rows },
        ..TelemetrySettings::default()
    };
    let telemetry = Telemetry::start(&telemetry_settings, store.clone())?;
    if let Some(otlp) = &telemetry_settings.otlp {
        tracing::info!(endpoint = %otlp.endpoint, protocol = ?otlp.protocol, "exporting traces and metrics over OTLP");
    }
    let state = AppState::new(store.clone(), token.as_deref()).with_telemetry(telemetry.clone());
    let settings = GatewaySettings {
        max_body_bytes: args.max_body_bytes,
        connect_timeout: Duration::from_secs(args.upstream_connect_timeout),
        ..GatewaySettings::default()
    };
    let gateway = Gateway::start(store, state.change_feed(), settings, telemetry)
        .await
        .map_err(|source| ServeError::Store { url: args.database.clone(), source })?;
    let admin = axum::serve(admin_listener, api::admin_router(state.clone())).with_graceful_shutdown(shutdown_signal());
    let gateway_app = gateway::router(gateway.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let gateway_server = axum::serve(gateway_listener, gateway_app).with_graceful_shutdown(shutdown_signal());
    state.set_ready();

    tracing::info!(admin = %format!("http://{admin_addr}"), gateway = %format!("http://{gateway_addr}"), database = %args.database, "mcpgate is serving");
    if args.ephemeral {
        let line = serde_json::json!({
            "admin_url": format!("http://{admin_addr}"),
            "gateway_url": format!("http://{gateway_addr}"),
            "token": token,
        });
        println!("{line}");
    }
    let (admin_result, gateway_result) = tokio::join!(async { admin.await }, async { gateway_server.await });
    gateway.flush().await;
    admin_result?;
    gateway_result?;
    tracing::info!("mcpgate stopped");
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
