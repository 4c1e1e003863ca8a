//! What crosses the gateway's upstream leg: backend headers are added, the
//! consumer's key and the gateway's own headers never are. The upstream here
//! is a header-capturing HTTP server, since server-everything does not echo
//! request headers.

mod support;

use axum::http::HeaderMap;
use serde_json::json;
use std::sync::{Arc, Mutex};
use support::stack::{RawMcp, Stack};

#[tokio::test]
async fn backend_headers_are_added_and_the_subscription_key_is_not_forwarded() {
    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let capture = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: HeaderMap| {
            let capture = capture.clone();
            async move {
                capture.lock().unwrap().push(headers);
                axum::Json(json!({ "jsonrpc": "2.0", "id": 1, "result": {} }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let stack = Stack::memory().await;
    stack.api.create("servers/svc", json!({})).await;
    stack
        .api
        .create("servers/svc/versions/v1", json!({ "backend_url": url, "backend_headers": { "Authorization": "Bearer upstream-secret" } }))
        .await;
    stack.api.create("products/gold", json!({ "state": "published" })).await;
    stack.api.create("products/gold/servers/svc", json!({})).await;
    let key = stack.subscribe("alice", "gold").await;
    let mcp = RawMcp::new(stack.mcp_url("svc"), Some(&key));
    let reply = mcp
        .post_with(json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }), &[("mcp-server-version", "v1"), ("authorization", "Bearer consumer")])
        .await;
    assert_eq!(reply.status, reqwest::StatusCode::OK);

    let headers = seen.lock().unwrap().pop().expect("the upstream was called");
    assert_eq!(headers["authorization"], "Bearer upstream-secret", "backend headers win over the consumer's");
    assert!(headers.get("x-subscription-key").is_none(), "the subscription key never goes upstream");
    assert!(headers.get("mcp-server-version").is_none());
    assert_eq!(headers["mcp-protocol-version"], "2025-06-18", "MCP headers pass");
    assert!(!format!("{headers:?}").contains(&key));
}
