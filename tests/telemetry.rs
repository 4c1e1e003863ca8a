//! Tool observability with real MCP traffic (server-everything behind the
//! gateway, the rmcp client in front): the exact spans an in-test OTLP
//! receiver gets, the Prometheus histograms, payload redaction and
//! truncation, trace-context propagation upstream, and analytics that match
//! the calls made.

mod support;

use mcpgate::gateway::GatewaySettings;
use mcpgate::telemetry::payload::PayloadPolicy;
use mcpgate::telemetry::{Otlp, OtlpProtocol, TelemetrySettings};
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use support::otlp::{attributes, Received};
use support::stack::{RawMcp, Stack};
use support::upstream::Upstream;

const INCOMING_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INCOMING_PARENT: &str = "00f067aa0ba902b7";

fn arguments(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

async fn telemetry_stack(otlp: Option<Otlp>, payload: PayloadPolicy) -> Stack {
    let settings = TelemetrySettings { otlp, payload, ..TelemetrySettings::default() };
    Stack::start_full("sqlite::memory:", GatewaySettings::default(), settings).await
}

#[tokio::test]
async fn spans_metrics_payloads_and_analytics_follow_real_tool_calls() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let received = Received::default();
    let endpoint = support::otlp::http_receiver(received.clone()).await;
    let payload = PayloadPolicy { max_bytes: 200, ..PayloadPolicy::default() };
    let stack = telemetry_stack(Some(Otlp { endpoint, protocol: OtlpProtocol::HttpProtobuf }), payload).await;
    stack.api.create("servers/everything", json!({})).await;
    stack
        .api
        .create(
            "servers/everything/versions/v1",
            json!({ "backend_url": upstream.url, "payload_logging": true, "tool_costs": { "echo": 0.5, "default": 0.1 } }),
        )
        .await;
    stack.api.create("products/gold", json!({ "state": "published" })).await;
    stack.api.create("products/gold/servers/everything", json!({ "tools": ["echo", "get-sum"] })).await;
    let key = stack.subscribe("alice", "gold").await;

    let mut headers = HashMap::new();
    headers.insert(http::HeaderName::from_static("x-subscription-key"), http::HeaderValue::from_str(&key).unwrap());
    let incoming = format!("00-{INCOMING_TRACE}-{INCOMING_PARENT}-01");
    headers.insert(http::HeaderName::from_static("traceparent"), http::HeaderValue::from_str(&incoming).unwrap());
    let config = StreamableHttpClientTransportConfig::with_uri(stack.mcp_url("everything")).custom_headers(headers);
    let client_info = ClientConfig::new(ClientCapabilities::default(), Implementation::new("telemetry-test", "1.2.3"));
    let client = client_info.serve(StreamableHttpClientTransport::from_config(config)).await.expect("session");

    for message in ["one", "two"] {
        client.call_tool(CallToolRequestParams::new("echo").with_arguments(arguments(json!({ "message": message })))).await.unwrap();
    }
    let secret_call = json!({ "api_key": "hunter2", "message": "x".repeat(300) });
    client.call_tool(CallToolRequestParams::new("echo").with_arguments(arguments(secret_call))).await.unwrap();
    let bad_sum = client.call_tool(CallToolRequestParams::new("get-sum").with_arguments(arguments(json!({ "a": 1, "b": "two" })))).await.unwrap();
    assert_eq!(bad_sum.is_error, Some(true));
    client.call_tool(CallToolRequestParams::new("get-env")).await.expect_err("refused by the allow-list");
    client.cancel().await.unwrap();
    stack.gateway.flush().await;

    // Spans.
    let echo = received.wait_for("tools/call echo").await;
    let services = received.services();
    assert!(!services.is_empty() && services.iter().all(|s| s == "mcpgate"), "every export names the service: {services:?}");
    let attrs = attributes(&echo);
    let session = attrs["mcp.session.id"].clone();
    let expected = [
        ("mcp.method.name", "tools/call"),
        ("gen_ai.tool.name", "echo"),
        ("gen_ai.operation.name", "execute_tool"),
        ("network.transport", "tcp"),
        ("network.protocol.name", "http"),
        ("network.protocol.version", "1.1"),
        ("server.address", "127.0.0.1"),
        ("client.address", "127.0.0.1"),
        ("mcpgate.server", "everything"),
        ("mcpgate.version", "v1"),
        ("mcpgate.product", "gold"),
        ("mcpgate.subscription", "alice"),
        ("mcpgate.auth.type", "subscription_key"),
        ("mcp.client.name", "telemetry-test"),
        ("mcp.client.version", "1.2.3"),
        ("mcp.server.name", "mcp-servers/everything"),
        ("mcp.server.version", "2.0.0"),
    ];
    for (key, value) in expected {
        assert_eq!(attrs.get(key).map(String::as_str), Some(value), "{key} on {attrs:?}");
    }
    assert_eq!(attrs["gen_ai.conversation.id"], session);
    assert!(!session.is_empty() && attrs.contains_key("jsonrpc.request.id") && attrs.contains_key("mcp.protocol.version"));
    assert!(attrs.contains_key("server.port") && attrs.contains_key("client.port"));
    assert!(!attrs.contains_key("error.type"));
    assert_eq!(echo.kind, 2, "SERVER span");
    assert_eq!(hex::encode(&echo.trace_id), INCOMING_TRACE, "the incoming trace continues");
    assert_eq!(hex::encode(&echo.parent_span_id), INCOMING_PARENT);

    let spans = received.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    for name in ["initialize", "tools/call get-sum", "tools/call get-env"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let initialize = spans.iter().find(|s| s.name == "initialize").unwrap();
    assert_eq!(attributes(initialize)["mcp.method.name"], "initialize");
    assert!(!attributes(initialize).contains_key("gen_ai.operation.name"), "only tool calls are execute_tool");

    let tool_error = spans.iter().find(|s| s.name == "tools/call get-sum").unwrap();
    assert_eq!(attributes(tool_error)["error.type"], "tool_error");
    let status = tool_error.status.clone().unwrap();
    assert_eq!(status.code, 2, "ERROR status");
    assert!(status.message.contains("expected number"), "{}", status.message);

    let refused = spans.iter().find(|s| s.name == "tools/call get-env").unwrap();
    assert_eq!(attributes(refused)["error.type"], "-32602");
    assert_eq!(attributes(refused)["rpc.response.status_code"], "-32602");
    assert_eq!(refused.status.clone().unwrap().message, "Unknown tool: get-env");

    // Payloads: redacted, truncated, only when the version asks for them.
    let echoes: Vec<_> = spans.iter().filter(|s| s.name == "tools/call echo").map(attributes).collect();
    assert_eq!(echoes.len(), 3);
    let with_secret = echoes.iter().find(|a| a["gen_ai.tool.call.arguments"].contains("REDACTED")).expect("a redacted call");
    assert!(!with_secret["gen_ai.tool.call.arguments"].contains("hunter2"));
    assert!(with_secret["gen_ai.tool.call.arguments"].contains("…[truncated"), "{}", with_secret["gen_ai.tool.call.arguments"]);
    let plain = echoes.iter().find(|a| a["gen_ai.tool.call.arguments"] == r#"{"message":"one"}"#).expect("a plain call");
    assert!(plain["gen_ai.tool.call.result"].contains("Echo: one"));

    // Metrics on the admin listener.
    let metrics = reqwest::get(format!("{}/metrics", stack.api.base)).await.unwrap().text().await.unwrap();
    for bucket in ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10", "30", "60", "120", "300"] {
        assert!(metrics.contains(&format!("le=\"{bucket}\"")), "bucket {bucket} missing");
    }
    let echo_count = metrics
        .lines()
        .find(|l| l.starts_with("mcp_server_operation_duration_seconds_count") && l.contains("gen_ai_tool_name=\"echo\""))
        .expect("echo duration series");
    assert!(echo_count.ends_with(" 3"), "{echo_count}");
    assert!(metrics.contains("mcp_server_session_duration_seconds_count"), "the session ended with DELETE");
    assert!(metrics.lines().any(|l| l.starts_with("mcpgate_gateway_errors_total") && l.contains("error_type=\"tool_error\"")));
    let names: std::collections::BTreeSet<&str> =
        metrics.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
    assert!(names.contains("mcpgate_gateway_request_size_bytes_total") && names.contains("mcpgate_gateway_response_size_bytes_total"), "{names:?}");

    // Analytics and the call log.
    let by_tool = stack.api.get("analytics?group_by=tool&server=everything").await.body;
    let item = |tool: &str| by_tool["items"].as_array().unwrap().iter().find(|i| i["tool"] == tool).cloned().unwrap_or(Value::Null);
    assert_eq!((item("echo")["calls"].clone(), item("echo")["errors"].clone(), item("echo")["cost"].clone()), (json!(3), json!(0), json!(1.5)));
    assert_eq!(
        (item("get-sum")["calls"].clone(), item("get-sum")["errors"].clone(), item("get-sum")["cost"].clone()),
        (json!(1), json!(1), json!(0.1))
    );
    // The allow-list refused get-env: refused names are one group, not one each.
    assert_eq!(item("get-env"), Value::Null);
    assert_eq!(
        (item("(refused)")["calls"].clone(), item("(refused)")["errors"].clone(), item("(refused)")["cost"].clone()),
        (json!(1), json!(1), json!(0.0))
    );
    assert_eq!(item("get-sum")["error_rate"], json!(1.0));
    assert!(item("echo")["p99_ms"].as_f64().unwrap() >= item("echo")["p50_ms"].as_f64().unwrap());
    let by_client = stack.api.get("analytics?group_by=client").await.body;
    assert_eq!(by_client["items"][0]["client"], "telemetry-test");
    assert_eq!(by_client["items"][0]["calls"], 5);
    let by_version = stack.api.get("analytics?group_by=version").await.body;
    assert_eq!((by_version["items"][0]["server"].clone(), by_version["items"][0]["version"].clone()), (json!("everything"), json!("v1")));

    let calls = stack.api.get(&format!("calls?session_id={session}&tool=echo")).await.body;
    let records = calls["items"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r["subscription"] == "alice" && r["status"] == "ok" && r["client_name"] == "telemetry-test"));
    assert!(!calls.to_string().contains("hunter2"), "the call log is redacted too");
    let errors = stack.api.get("calls?status=error").await.body;
    assert_eq!(errors["items"].as_array().unwrap().len(), 2);
    let refused = stack.api.get("calls?tool=get-env").await.body;
    assert_eq!(refused["items"].as_array().unwrap().len(), 1, "the call log row keeps the name the client sent");
    assert_eq!(stack.api.get("analytics?group_by=colour").await.field_errors(), vec![("group_by".to_string(), "malformed".to_string())]);
}

type Seen = Arc<Mutex<Vec<(http::HeaderMap, Value)>>>;

/// An upstream that answers every request and remembers what it got.
async fn capturing_upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let capture = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: http::HeaderMap, axum::Json(body): axum::Json<Value>| {
            let capture = capture.clone();
            async move {
                let id = body["id"].clone();
                capture.lock().unwrap().push((headers, body));
                axum::Json(json!({ "jsonrpc": "2.0", "id": id, "result": { "content": [{ "type": "text", "text": "ok" }] } }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

// The gRPC exporter drives its channel on the Tokio runtime, as in
// `mcpgate serve`: a multi-threaded one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_reaches_the_upstream_and_spans_go_out_over_grpc() {
    let (url, seen) = capturing_upstream().await;
    let received = Received::default();
    let endpoint = support::otlp::grpc_receiver(received.clone()).await;
    let stack = telemetry_stack(Some(Otlp { endpoint, protocol: OtlpProtocol::Grpc }), PayloadPolicy::default()).await;
    stack.publish("svc", &url, "gold", json!({})).await;
    let key = stack.subscribe("alice", "gold").await;
    let mcp = RawMcp::new(stack.mcp_url("svc"), Some(&key));

    // From the HTTP header.
    let header = format!("00-{INCOMING_TRACE}-{INCOMING_PARENT}-01");
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "lookup", "arguments": {} } });
    assert_eq!(mcp.post_with(call, &[("traceparent", &header)]).await.status, 200);
    // From params._meta, which wins over the header.
    let meta_parent = "1111111111111111";
    let meta_trace = "22222222222222222222222222222222";
    let call = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "lookup", "arguments": {}, "_meta": { "traceparent": format!("00-{meta_trace}-{meta_parent}-01") } } });
    assert_eq!(mcp.post_with(call, &[("traceparent", &header)]).await.status, 200);
    stack.gateway.flush().await;

    let upstream_calls = seen.lock().unwrap().clone();
    assert_eq!(upstream_calls.len(), 2);
    for (i, (headers, body)) in upstream_calls.iter().enumerate() {
        let (trace, parent) = if i == 0 { (INCOMING_TRACE, INCOMING_PARENT) } else { (meta_trace, meta_parent) };
        let sent_header = headers["traceparent"].to_str().unwrap().to_string();
        let sent_meta = body["params"]["_meta"]["traceparent"].as_str().unwrap().to_string();
        assert_eq!(sent_header, sent_meta, "header and _meta name the same gateway span");
        let parts: Vec<&str> = sent_meta.split('-').collect();
        assert_eq!(parts[1], trace, "the upstream joins the caller's trace");
        assert_ne!(parts[2], parent, "the upstream's parent is the gateway's span");
        let span = received.spans().into_iter().find(|s| hex::encode(&s.span_id) == parts[2]);
        let span = match span {
            Some(span) => span,
            None => {
                received.wait_for("tools/call lookup").await;
                received.spans().into_iter().find(|s| hex::encode(&s.span_id) == parts[2]).expect("the gateway span was exported")
            }
        };
        assert_eq!(span.name, "tools/call lookup");
        assert!(received.services().iter().all(|s| s == "mcpgate"), "{:?}", received.services());
        assert_eq!(hex::encode(&span.trace_id), trace);
        assert_eq!(hex::encode(&span.parent_span_id), parent);
        assert!(headers.get("x-subscription-key").is_none());
    }
}

#[tokio::test]
async fn without_otlp_nothing_is_injected_but_metrics_and_calls_still_count() {
    let (url, seen) = capturing_upstream().await;
    let stack = telemetry_stack(None, PayloadPolicy::default()).await;
    stack.publish("svc", &url, "gold", json!({})).await;
    let key = stack.subscribe("alice", "gold").await;
    let mcp = RawMcp::new(stack.mcp_url("svc"), Some(&key));
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "lookup", "arguments": { "token": "t0ps3cret" } } });
    assert_eq!(mcp.post(call).await.status, 200);
    stack.gateway.flush().await;
    let (headers, body) = seen.lock().unwrap()[0].clone();
    assert!(headers.get("traceparent").is_none() && body["params"].get("_meta").is_none(), "the request is forwarded as sent");
    let calls = stack.api.get("calls").await.body;
    assert_eq!(calls["items"][0]["tool"], "lookup");
    assert_eq!(calls["items"][0]["arguments"], Value::Null, "payloads are off unless the version enables them");
}
