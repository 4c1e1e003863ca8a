//! The gateway benchmark's Rust floor: mcpgate's own HTTP stack (its
//! listener's connection threads, hyper's server through an axum handler,
//! a hyper-util pooled client per thread, mimalloc) forwarding each POST
//! body to the upstream and the answer back, with no governance at all.
//! What mcpgate costs above it is governance; what it costs above nginx is
//! this stack.
//!
//! With a store URL it also hands every call to mcpgate's own telemetry
//! (metrics and a call-log row in that store), as if each were a
//! successful `tools/call echo`, and does nothing else: no parsing, no
//! auth, no routing. That is the floor of any gateway that keeps
//! mcpgate's call log and metrics on this stack.
//! Usage: bench-bare-proxy PORT UPSTREAM_URL [STORE_URL]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcpgate::secrets::SecretKey;
use mcpgate::telemetry::observation::{CallContext, Observation, TraceIds};
use mcpgate::telemetry::{Telemetry, TelemetrySettings};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Upstream {
    uri: axum::http::Uri,
    observed: Option<Observed>,
}

thread_local! {
    /// A pool per thread, as mcpgate keeps one per connection thread.
    static CLIENT: Client<HttpConnector, Full<Bytes>> = {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Client::builder(TokioExecutor::new()).build(connector)
    };
}

/// mcpgate's telemetry, and the one context every call is recorded under.
struct Observed {
    telemetry: Arc<Telemetry>,
    context: Arc<CallContext>,
}

impl Observed {
    async fn start(store_url: &str) -> Result<Observed, Box<dyn std::error::Error>> {
        // The call log seals nothing: any key will do, on any backend.
        let store = mcpgate::store::open_with(store_url, Arc::new(SecretKey::generate().0)).await?;
        let telemetry = Telemetry::start(&TelemetrySettings::default(), store)?;
        let context = CallContext {
            server: "bench".into(),
            version: "v1".into(),
            product: "bench".into(),
            subscription: Some("bench".into()),
            auth_type: "subscription_key",
            http_version: "1.1",
            ..CallContext::default()
        };
        Ok(Observed { telemetry, context: Arc::new(context) })
    }

    /// Records one call, in the client's session when it names one (the
    /// call log indexes calls by session, as mcpgate's does).
    fn record(&self, start: SystemTime, started: Instant, session: Option<String>) {
        let context = match session {
            Some(session_id) => Arc::new(CallContext { session_id: Some(session_id), ..CallContext::clone(&self.context) }),
            None => self.context.clone(),
        };
        self.telemetry.record(Observation {
            method: "tools/call".into(),
            request_id: Some("1".into()),
            tool: Some("echo".into()),
            tool_known: true,
            tool_refused: false,
            prompt: None,
            resource_uri: None,
            start,
            duration: started.elapsed(),
            trace: TraceIds::continuing(None),
            context,
            error: None,
            arguments: None,
            result: None,
            cost: 0.0,
            policy_rule: None,
            backend_call: None,
            unapproved_tools: None,
            input_round: Default::default(),
        });
    }
}

async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (start, started) = (SystemTime::now(), Instant::now());
    let (parts, body) = request.into_parts();
    let session = upstream.observed.as_ref().and_then(|_| parts.headers.get("mcp-session-id")).and_then(|v| v.to_str().ok()).map(str::to_string);
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else { return StatusCode::BAD_REQUEST.into_response() };
    let mut outgoing = axum::http::Request::new(Full::new(body));
    *outgoing.method_mut() = parts.method;
    *outgoing.uri_mut() = upstream.uri.clone();
    *outgoing.headers_mut() = parts.headers;
    outgoing.headers_mut().remove(axum::http::header::HOST);
    let Ok(response) = CLIENT.with(|client| client.request(outgoing)).await else { return StatusCode::BAD_GATEWAY.into_response() };
    let (mut parts, body) = response.into_parts();
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else { return StatusCode::BAD_GATEWAY.into_response() };
    // The answer goes out whole (an SSE answer came chunked).
    parts.headers.remove(axum::http::header::TRANSFER_ENCODING);
    if let Some(observed) = &upstream.observed {
        observed.record(start, started, session);
    }
    Response::from_parts(parts, Body::from(body))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(3200);
    let uri = args.next().and_then(|u| u.parse().ok()).unwrap_or_else(|| axum::http::Uri::from_static("http://127.0.0.1:3100/mcp"));
    let observed = match args.next() {
        Some(store_url) => Some(Observed::start(&store_url).await?),
        None => None,
    };
    let router = axum::Router::new().fallback(forward).with_state(Arc::new(Upstream { uri, observed }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("bare proxy on http://127.0.0.1:{port}/");
    mcpgate::gateway::listener::serve(listener, router, std::future::pending()).await?;
    Ok(())
}
