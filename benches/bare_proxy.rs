//! The gateway benchmark's Rust floor: mcpgate's own HTTP stack (hyper's
//! server through an axum handler, hyper-util's pooled client, mimalloc)
//! forwarding each POST body to the upstream and the answer back, with no
//! governance at all. What mcpgate costs above it is governance; what it
//! costs above nginx is this stack.
//! Usage: bench-bare-proxy PORT UPSTREAM_URL

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: axum::http::Uri,
}

async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else { return StatusCode::BAD_REQUEST.into_response() };
    let mut outgoing = axum::http::Request::new(Full::new(body));
    *outgoing.method_mut() = parts.method;
    *outgoing.uri_mut() = upstream.uri.clone();
    *outgoing.headers_mut() = parts.headers;
    outgoing.headers_mut().remove(axum::http::header::HOST);
    let Ok(response) = upstream.client.request(outgoing).await else { return StatusCode::BAD_GATEWAY.into_response() };
    let (parts, body) = response.into_parts();
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else { return StatusCode::BAD_GATEWAY.into_response() };
    Response::from_parts(parts, Body::from(body))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(3200);
    let uri = args.next().and_then(|u| u.parse().ok()).unwrap_or_else(|| axum::http::Uri::from_static("http://127.0.0.1:3100/mcp"));
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let router = axum::Router::new().fallback(forward).with_state(Arc::new(Upstream { client, uri }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("bare proxy on http://127.0.0.1:{port}/");
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| tower::ServiceExt::oneshot(router.clone(), request));
        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}
