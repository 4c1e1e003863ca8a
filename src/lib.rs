//! mcpgate: API management for MCP servers.
//!
//! See `docs/ARCHITECTURE.md` for the map: `model` is the shared domain,
//! `store` persists it, `api` is the control plane, `gateway` the data plane,
//! `provider` the Terraform provider, `telemetry` logs, traces and metrics,
//! `web` the portal and console.

pub mod api;
pub mod cli;
pub mod gateway;
pub mod http_client;
pub mod mcp;
pub mod model;
pub mod provider;
pub mod secrets;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod web;

/// Locks a mutex, taking over a poisoned one: shared maps stay usable
/// after a panicking request.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
