//! Logs (and, as the observability issue lands, traces and metrics).

use tracing_subscriber::EnvFilter;

/// Logs go to stderr; `RUST_LOG` (or `MCPGATE_LOG`) picks the level.
pub fn init_logging() {
    let filter = std::env::var("MCPGATE_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
