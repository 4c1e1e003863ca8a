//! `mcpgate serve`: the admin listener, the gateway listener, or both
//! (`--role`), over one store. Any number of `admin` and `gateway`
//! processes may share one PostgreSQL store (and Redis for the limits).

use crate::api::{self, AppState, MetricsAccess};
use crate::gateway::{self, Counters, Gateway, GatewaySettings};
use crate::secrets::SecretKey;
use crate::store::{self, DefaultKey};
use crate::telemetry::call_log::Retention;
use crate::telemetry::payload::PayloadPolicy;
use crate::telemetry::{Telemetry, TelemetrySettings};
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// What a process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Role {
    /// Both listeners (one process does everything).
    All,
    /// The management API; no MCP traffic.
    Admin,
    /// MCP traffic; the admin listener serves only /healthz and /metrics.
    Gateway,
}

impl Role {
    fn admin(self) -> bool {
        matches!(self, Role::All | Role::Admin)
    }

    fn gateway(self) -> bool {
        matches!(self, Role::All | Role::Gateway)
    }
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// What this process serves: `all`, `admin` (management API) or `gateway` (MCP traffic).
    #[arg(long, env = "MCPGATE_ROLE", value_enum, default_value = "all")]
    pub role: Role,
    /// Address of the admin listener (management API, health, metrics).
    #[arg(long, env = "MCPGATE_ADMIN_LISTEN", default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,
    /// Address of the gateway listener (MCP traffic).
    #[arg(long, env = "MCPGATE_GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub gateway_listen: SocketAddr,
    /// Where clients reach the gateway, e.g. `https://mcp.example.com`: each
    /// server's OAuth resource URI, which access tokens' `aud` must equal, is
    /// `{public-url}/mcp/{server}`. Default: `http://` plus the gateway's listen address.
    #[arg(long, env = "MCPGATE_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Proxies in front of mcpgate (comma-separated addresses or CIDR
    /// ranges, e.g. `10.0.0.0/8`): the gateway passes their
    /// `X-Forwarded-For` and `Forwarded` upstream (anyone else's are
    /// replaced by the connection's address), and the portal's sign-in
    /// limit counts per the client they name.
    #[arg(long, env = "MCPGATE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A trace viewer's page for one trace, with `{trace_id}` where the id
    /// goes, e.g. `http://jaeger:16686/trace/{trace_id}`: the console's call
    /// log links each call to its trace.
    #[arg(long, env = "MCPGATE_TRACE_URL", value_parser = parse_trace_url)]
    pub trace_url: Option<String>,
    /// Store URL: `sqlite://PATH`, `sqlite::memory:` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "MCPGATE_DATABASE", default_value = "sqlite://mcpgate.db")]
    pub database: String,
    /// File holding the secret key (32 random bytes, base64; further lines:
    /// older keys, for rotation). Without it, MCPGATE_SECRET_KEY; without
    /// both, an SQLite store keeps one in `<database>.key`.
    #[arg(long, env = "MCPGATE_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// The secret key itself (base64; comma-separated, newest first, to rotate).
    #[arg(long, env = "MCPGATE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Where limit counts live: `local` (this process, reservations in the
    /// store) or `redis://HOST:PORT` (exact across every gateway replica).
    #[arg(long, env = "MCPGATE_COUNTERS", default_value = "local")]
    pub counters: String,
    /// Bearer token the management API requires.
    #[arg(long, env = "MCPGATE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Serve the management API without a token (local experiments only).
    #[arg(long, env = "MCPGATE_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Bearer token `/metrics` requires. Without it `/metrics` is open to
    /// whoever reaches the admin listener, unless --metrics-require-admin-token.
    #[arg(long, env = "MCPGATE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// `/metrics` requires the admin token.
    #[arg(long, env = "MCPGATE_METRICS_REQUIRE_ADMIN_TOKEN")]
    pub metrics_require_admin_token: bool,
    /// Largest MCP request body the gateway accepts, in bytes.
    #[arg(long, env = "MCPGATE_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most JSON-RPC messages in one batch.
    #[arg(long, env = "MCPGATE_MAX_BATCH", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_batch: u32,
    /// How often the gateway fetches each version's tool manifest again, in
    /// seconds (also on first use and when the version changes).
    #[arg(long, env = "MCPGATE_TOOL_REFRESH_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub tool_refresh_seconds: u64,
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
    /// When tool-call records are written: `behind` the responses (batched;
    /// a crash can lose the last 250 ms) or `before-response` (a killed
    /// replica loses none the clients saw answered).
    #[arg(long, env = "MCPGATE_CALL_LOG_WRITE", value_enum, default_value = "behind")]
    pub call_log_write: crate::telemetry::call_log::Write,
    /// Throwaway instance: in-memory store, free loopback ports, a random
    /// token unless one is given; prints its URLs and token as one JSON line.
    #[arg(long, env = "MCPGATE_EPHEMERAL")]
    pub ephemeral: bool,
}

/// `--public-url`: an absolute http(s) URL without query or fragment; kept without its trailing `/`.
fn parse_public_url(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value).map_err(|e| format!("{value:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{value:?} must be an http or https URL with a host and no query or fragment"));
    }
    Ok(value.trim_end_matches('/').to_string())
}

/// `--trusted-proxies`: an address (one host) or a CIDR range.
fn parse_trusted_proxy(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{value:?} is neither an IP address nor a CIDR range such as 10.0.0.0/8"))
}

/// `--trace-url`: an http(s) URL template holding `{trace_id}`.
fn parse_trace_url(value: &str) -> Result<String, String> {
    if !value.contains("{trace_id}") {
        return Err(format!("{value:?} must contain {{trace_id}}, where the console puts each call's trace id"));
    }
    let url = url::Url::parse(&value.replace("{trace_id}", "0")).map_err(|e| format!("{value:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{value:?} must be an http or https URL"));
    }
    Ok(value.to_string())
}

fn listener_addr(listener: &TcpListener) -> String {
    listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "localhost".into())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    #[error("no admin token: set --admin-token or MCPGATE_ADMIN_TOKEN, or pass --insecure-no-auth to run the management API unauthenticated")]
    NoAdminToken,
    #[error("cannot listen on {addr} ({listener} listener): {source}")]
    Bind { listener: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("cannot open the store {url}: {source}")]
    Store { url: String, source: store::StoreError },
    #[error("secret key: {0}; a PostgreSQL store needs one given with --secret-key-file or MCPGATE_SECRET_KEY (the same on every process)")]
    SecretKey(String),
    #[error("--counters: {0}")]
    Counters(String),
    #[error("{0}")]
    Gateway(#[from] gateway::StartError),
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

    /// The secret key: given, or the store's default (saying where it came from).
    fn secret_key(&self) -> Result<SecretKey, ServeError> {
        let given = match (&self.secret_key_file, &self.secret_key) {
            (Some(path), _) => Some(SecretKey::read_file(path)),
            (None, Some(text)) => Some(SecretKey::parse(text)),
            (None, None) => None,
        };
        if let Some(key) = given {
            return key.map_err(|e| ServeError::SecretKey(e.to_string()));
        }
        let (key, origin) = store::default_secret_key(&self.database).map_err(|e| ServeError::SecretKey(e.to_string()))?;
        match origin {
            DefaultKey::Created(path) => {
                tracing::warn!(path = %path.display(), "no secret key given: generated one (keep this file with the database, and back it up)")
            }
            DefaultKey::Read(path) => tracing::info!(path = %path.display(), "using the secret key beside the database"),
            DefaultKey::Ephemeral => tracing::info!("no secret key given: using a throwaway one for the in-memory store"),
        }
        Ok(key)
    }

    fn counters(&self) -> Result<Counters, ServeError> {
        match self.counters.as_str() {
            "local" => Ok(Counters::Local),
            url if url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("redis+unix://") => {
                Ok(Counters::Redis(url.to_string()))
            }
            other => Err(ServeError::Counters(format!("{other:?} is neither `local` nor a redis:// URL"))),
        }
    }
}

async fn bind(listener: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { listener, addr, source })
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), ServeError> {
    let args = args.resolved();
    let token = match (&args.admin_token, args.insecure_no_auth, args.role.admin()) {
        (Some(token), _, _) => Some(token.clone()),
        (None, true, _) => {
            tracing::warn!("the management API accepts requests without a token (--insecure-no-auth)");
            None
        }
        // A gateway-only process serves no management API.
        (None, false, false) => None,
        (None, false, true) => return Err(ServeError::NoAdminToken),
    };
    let counters = args.counters()?;
    let secret_key = Arc::new(args.secret_key()?);
    let store = store::open_with(&args.database, secret_key).await.map_err(|source| ServeError::Store { url: args.database.clone(), source })?;
    let admin_listener = bind("admin", args.admin_listen).await?;
    let admin_addr = admin_listener.local_addr()?;
    let gateway_listener = match args.role.gateway() {
        true => Some(bind("gateway", args.gateway_listen).await?),
        false => None,
    };
    let gateway_addr = gateway_listener.as_ref().map(TcpListener::local_addr).transpose()?;

    let mut state = AppState::new(store.clone(), token.as_deref());
    if let Some(metrics_token) = &args.metrics_token {
        state = state.with_metrics_access(MetricsAccess::token(metrics_token));
    } else if args.metrics_require_admin_token {
        if let Some(token) = &token {
            state = state.with_metrics_access(MetricsAccess::token(token));
        }
    }
    let gateway = match gateway_listener {
        Some(listener) => {
            let telemetry = start_telemetry(&args, &store)?;
            state = state.with_telemetry(telemetry.clone());
            let settings = GatewaySettings {
                max_body_bytes: args.max_body_bytes,
                connect_timeout: Duration::from_secs(args.upstream_connect_timeout),
                max_batch: args.max_batch as usize,
                counters,
                tool_refresh: Duration::from_secs(args.tool_refresh_seconds),
                public_url: Some(args.public_url.clone().unwrap_or_else(|| format!("http://{}", listener_addr(&listener)))),
                trusted_proxies: args.trusted_proxies.clone(),
                ..GatewaySettings::default()
            };
            let gateway = Gateway::start(store.clone(), settings, telemetry).await?;
            Some((gateway, listener))
        }
        None => None,
    };
    let admin_router = if args.role.admin() {
        let gateway_url = args.public_url.clone().unwrap_or_else(|| format!("http://{}", gateway_addr.unwrap_or(args.gateway_listen)));
        let web = crate::web::WebSettings { gateway_url, trace_url: args.trace_url.clone(), trusted_proxies: args.trusted_proxies.clone() };
        api::admin_router(state.clone()).merge(crate::web::router(state.clone(), web))
    } else {
        api::operations_router(state.clone())
    };
    // The peer's address: the sign-in limit counts per client address.
    let admin =
        axum::serve(admin_listener, admin_router.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown_signal());
    state.set_ready();

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        role = ?args.role,
        admin = %format!("http://{admin_addr}"),
        gateway = %gateway_addr.map(|a| format!("http://{a}")).unwrap_or_else(|| "-".into()),
        database = %redact_password(&args.database),
        "mcpgate is serving"
    );
    if args.ephemeral {
        let line = serde_json::json!({
            "admin_url": format!("http://{admin_addr}"),
            "gateway_url": gateway_addr.map(|a| format!("http://{a}")),
            "token": token,
        });
        println!("{line}");
    }
    match gateway {
        Some((gateway, listener)) => {
            let threads = gateway::listener::ConnectionThreads::start(gateway::router(gateway.clone()))?;
            let (admin_result, gateway_result) = tokio::join!(async { admin.await }, threads.serve(listener, shutdown_signal()));
            gateway.flush().await;
            // Only now: a store connection a call opened is driven by its connection thread.
            drop(threads);
            admin_result?;
            gateway_result?;
        }
        None => admin.await?,
    }
    tracing::info!("mcpgate stopped");
    Ok(())
}

fn start_telemetry(args: &ServeArgs, store: &store::DynStore) -> Result<Arc<Telemetry>, ServeError> {
    let telemetry_settings = TelemetrySettings {
        otlp: TelemetrySettings::otlp_from_env(),
        payload: PayloadPolicy {
            max_bytes: args.payload_max_bytes,
            redact_keys: args.payload_redact_keys.iter().map(|k| k.trim().to_lowercase()).collect(),
        },
        retention: Retention { max_age: Duration::from_secs(args.call_log_max_age_days * 24 * 3600), max_rows: args.call_log_max_rows },
        call_log_write: args.call_log_write,
        ..TelemetrySettings::default()
    };
    let telemetry = Telemetry::start(&telemetry_settings, store.clone())?;
    if let Some(otlp) = &telemetry_settings.otlp {
        tracing::info!(endpoint = %otlp.endpoint, protocol = ?otlp.protocol, "exporting traces and metrics over OTLP");
    }
    Ok(telemetry)
}

/// A database URL fit for a log line.
fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
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
