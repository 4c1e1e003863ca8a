//! The data plane: the MCP gateway on the gateway listener.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;

/// Until routing lands every MCP request is refused with a JSON-RPC error,
/// so clients show why rather than failing to parse.
async fn not_routed() -> Response {
    let body = json!({ "jsonrpc": "2.0", "id": null, "error": { "code": -32601, "message": "no MCP server is routed here" } });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

pub fn router() -> Router {
    Router::new().fallback(not_routed)
}
