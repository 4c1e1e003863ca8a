//! REST APIs as MCP servers: a real FastAPI service whose own OpenAPI
//! document (fetched from it) becomes the version's tools, called with the
//! PyPI `mcp` client through the gateway; bad documents refused at write
//! time with their location; a canary of a REST-backed and an MCP-backed
//! version; and GitHub's REST description (about 1,200 operations) imported
//! into unique, valid tools with valid schemas.

mod support;

use mcpgate::gateway::GatewaySettings;
use mcpgate::telemetry::{Otlp, OtlpProtocol, TelemetrySettings};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;
use support::otlp::{attributes, Received};
use support::rest::RestService;
use support::stack::{RawMcp, Stack};
use support::tool_upstream::ToolUpstream;

async fn orders_version(stack: &Stack, service: &RestService) {
    stack.api.create("servers/orders", json!({})).await;
    let openapi = json!({ "spec_url": format!("{}/openapi.json", service.url), "base_url": service.url });
    let reply =
        stack.api.create("servers/orders/versions/v1", json!({ "openapi": openapi, "backend_headers": { "X-Api-Key": "orders-secret" } })).await;
    assert_eq!(reply.body["openapi"]["spec_sha256"].as_str().map(str::len), Some(64), "stored with its hash: {}", reply.body);
    assert!(reply.body["openapi"].get("spec").is_none(), "a fetched document is not returned");
}

#[tokio::test]
async fn a_rest_api_is_served_as_mcp_tools_to_a_real_client() {
    if !support::available(&[support::Need::Python]) {
        return;
    }
    let service = RestService::start().await;
    let received = Received::default();
    let endpoint = support::otlp::http_receiver(received.clone()).await;
    let telemetry = TelemetrySettings { otlp: Some(Otlp { endpoint, protocol: OtlpProtocol::HttpProtobuf }), ..TelemetrySettings::default() };
    let stack = Stack::start_full("sqlite::memory:", GatewaySettings::default(), telemetry).await;
    orders_version(&stack, &service).await;
    stack.api.create("products/gold", json!({ "state": "published" })).await;
    stack.api.create("products/gold/servers/orders", json!({})).await;
    let key = stack.subscribe("alice", "gold").await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/clients/rest_client.py");
    let output = tokio::process::Command::new(support::python()).args([script, &stack.mcp_url("orders"), &key]).output().await.expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(report["tools"], json!(["createOrder", "getOrder", "listOrders"]));
    assert_eq!(report["protocol"], "2026-07-28", "the client's server/discover is answered for a REST API's version");
    let get_schema = &report["schemas"]["getOrder"];
    assert_eq!(get_schema["required"], json!(["order_id"]));
    assert!(get_schema["properties"]["x-tenant"].is_object(), "header parameters are arguments: {get_schema}");
    let create_schema = &report["schemas"]["createOrder"]["properties"]["body"];
    assert_eq!(
        create_schema["properties"]["customer"]["properties"]["address"]["properties"]["city"]["type"], "string",
        "$refs resolved: {create_schema}"
    );

    // Path, query and header parameters reach the service; JSON comes back structured.
    let got = &report["get"];
    assert_eq!(
        (got["is_error"].clone(), got["structured"]["id"].clone(), got["structured"]["tenant"].clone()),
        (json!(false), json!(1), json!("acme"))
    );
    let listed: Value = serde_json::from_str(report["list"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "an exploded query array: {listed}");
    assert_eq!(report["create"]["structured"]["id"], 3);
    assert_eq!(report["create"]["structured"]["customer"]["address"]["city"], "Faro");
    // The service's own errors are tool errors; arguments that fail the schema never reach it.
    assert_eq!(report["missing"]["is_error"], true);
    assert!(report["missing"]["text"].as_str().unwrap().starts_with("HTTP 404 Not Found: {\"detail\":\"no order 999\"}"), "{report}");
    assert_eq!(report["unprocessable"]["is_error"], true);
    assert!(report["unprocessable"]["text"].as_str().unwrap().starts_with("HTTP 422"), "{report}");
    assert!(report["bad_arguments"].as_str().unwrap().contains("do not match its inputSchema at /order_id"), "{report}");
    assert_eq!(service.seen().await, 5, "five calls reached the service; the one with bad arguments did not");

    // The call log and the live manifest know the tools.
    stack.gateway.flush().await;
    let calls = stack.api.get("calls?server=orders&limit=100").await.body;
    assert_eq!(calls["items"].as_array().map(Vec::len), Some(6));
    let manifest = stack.api.get("servers/orders/versions/v1/tools").await.body;
    assert_eq!(manifest["items"].as_array().map(Vec::len), Some(3));

    // Each call's span has an HTTP client span of its REST request as a child.
    let call = received.wait_for("tools/call getOrder").await;
    let request = received.wait_for("GET").await;
    assert_eq!(request.kind, 3, "CLIENT span");
    assert_eq!((request.trace_id.clone(), request.parent_span_id.clone()), (call.trace_id.clone(), call.span_id.clone()));
    let request = attributes(&request);
    assert_eq!(request["http.request.method"], "GET");
    assert!(request["url.full"].ends_with("/orders/1") || request["url.full"].ends_with("/orders/999"), "{request:?}");
    assert!(request.contains_key("http.response.status_code"));
}

#[tokio::test]
async fn bad_documents_are_refused_at_write_time_with_their_location() {
    let stack = Stack::memory().await;
    stack.api.create("servers/pets", json!({})).await;
    let broken = r#"
openapi: 3.0.3
info: { title: Pets, version: "1" }
paths:
  /pets/{id}:
    get:
      operationId: getPet
      parameters:
        - $ref: '#/components/parameters/Limit'
      responses: { '200': { description: ok } }
"#;
    let reply = stack.api.put("servers/pets/versions/v1", json!({ "openapi": { "spec": broken, "base_url": "http://pets.invalid" } })).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["field"], "openapi.spec");
    assert_eq!(reply.body["errors"][0]["reason"], "paths./pets/{id}.get.parameters[0]: $ref '#/components/parameters/Limit' not found");
    let swagger = stack
        .api
        .put("servers/pets/versions/v1", json!({ "openapi": { "spec": "{\"swagger\": \"2.0\"}", "base_url": "http://pets.invalid" } }))
        .await;
    assert_eq!(swagger.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(swagger.body["errors"][0]["reason"].as_str().unwrap().contains("Swagger 2.0 is not supported"), "{}", swagger.body);
    let both = stack
        .api
        .put(
            "servers/pets/versions/v1",
            json!({ "backend_url": "http://mcp.invalid/mcp", "openapi": { "spec": "{}", "base_url": "http://pets.invalid" } }),
        )
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert_eq!(stack.api.get("servers/pets/versions/v1").await.status, StatusCode::NOT_FOUND, "nothing was stored");
}

#[tokio::test]
async fn a_canary_runs_a_rest_backed_v1_beside_an_mcp_backed_v2() {
    if !support::available(&[support::Need::Python]) {
        return;
    }
    let service = RestService::start().await;
    let upstream = ToolUpstream::start(&[("getOrder", "The same order, over MCP")]);
    let stack = Stack::memory().await;
    orders_version(&stack, &service).await;
    stack.api.create("servers/orders/versions/v2", json!({ "backend_url": upstream.url, "status": "preview" })).await;
    stack.api.create("products/gold", json!({ "state": "published" })).await;
    stack.api.create("products/gold/servers/orders", json!({ "versions": ["v1", "v2"] })).await;
    let key = stack.subscribe("alice", "gold").await;
    for (version, expected) in [("v1", "\"id\":1"), ("v2", "getOrder: 1")] {
        let mut mcp = RawMcp::new(format!("{}/{version}", stack.mcp_url("orders")), Some(&key));
        assert_eq!(mcp.initialize().await.status, StatusCode::OK);
        let listed = mcp.post(json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" })).await;
        let listed = listed.first();
        let mut names: Vec<&str> = listed["result"]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
        names.sort_unstable();
        let called = mcp.call(2, "getOrder", json!({ "order_id": 1, "message": "1" })).await;
        let text = called.first()["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string();
        match version {
            "v1" => {
                assert_eq!(names, vec!["createOrder", "getOrder", "listOrders"]);
                assert!(text.contains(expected), "{text}");
            }
            _ => {
                assert_eq!(names, vec!["getOrder"]);
                assert_eq!(text, expected);
            }
        }
        assert_eq!(called.header("mcp-server-version").as_deref(), Some(version));
    }
}

#[tokio::test]
async fn githubs_rest_description_imports_into_unique_valid_tools() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let node_modules = support::upstream::entry_point().ancestors().nth(4).expect("node_modules").to_path_buf();
    let document = std::fs::read_to_string(node_modules.join("@octokit/openapi/generated/api.github.com.json")).expect("npm @octokit/openapi");
    let api = mcpgate::model::openapi::import(&document, &Default::default()).unwrap_or_else(|e| panic!("{} problems, first: {}", e.len(), e[0]));
    assert!(api.operations.len() > 1000, "{} operations", api.operations.len());
    let name_pattern = regex::Regex::new("^[A-Za-z0-9_-]{1,64}$").unwrap();
    let mut names = std::collections::BTreeSet::new();
    for operation in &api.operations {
        assert!(name_pattern.is_match(&operation.tool), "{}", operation.tool);
        assert!(names.insert(operation.tool.clone()), "{} twice", operation.tool);
        let schema = &operation.definition["inputSchema"];
        assert!(jsonschema::meta::validate(schema).is_ok(), "{}: {schema}", operation.tool);
        assert!(jsonschema::validator_for(schema).is_ok(), "{}", operation.tool);
    }

    // The whole 13 MB document is a version's body, past the API's usual 2 MiB.
    let admin = support::Api::memory().await;
    admin.create("servers/github", json!({})).await;
    let created = admin.create("servers/github/versions/v1", json!({ "openapi": { "spec": document, "base_url": "https://api.github.com" } })).await;
    let sha = hex::encode(sha2::Sha256::digest(document.as_bytes()));
    assert_eq!(created.body["openapi"]["spec_sha256"], sha.as_str());
}
