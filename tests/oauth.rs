//! mcpgate as an OAuth 2.1 resource server, against a real authorization
//! server (npm oauth2-mock-server: signed JWTs, JWKS, discovery): RFC 9728
//! metadata, challenges, every refusal, tokens mapped to subscriptions, no
//! token passthrough, and client credentials towards the backend.

mod support;

use base64::Engine;
use serde_json::{json, Value};
use support::oauth::Issuer;
use support::stack::{RawMcp, RawReply, Stack};
use support::tool_upstream::ToolUpstream;

const SERVER: &str = "weather";

/// A published product `agents` over `weather` that accepts tokens from
/// `idp` (scope `mcp:tools`, only `forecast`), and a subscription `alice`
/// bound to the subject `alice`.
async fn token_stack(issuer: &Issuer, upstream: &ToolUpstream) -> Stack {
    let stack = Stack::memory().await;
    stack.api.create("authorization-servers/idp", json!({ "issuer": issuer.url })).await;
    stack.api.create(&format!("servers/{SERVER}"), json!({})).await;
    stack.api.create(&format!("servers/{SERVER}/versions/v1"), json!({ "backend_url": upstream.url })).await;
    let product = json!({ "state": "published", "authorization_server": "idp", "required_scopes": ["mcp:tools"] });
    stack.api.create("products/agents", product).await;
    stack.api.create(&format!("products/agents/servers/{SERVER}"), json!({ "tools": ["forecast"] })).await;
    stack.api.create("subscriptions/alice", json!({ "product": "agents", "token_subjects": ["alice"] })).await;
    stack
}

fn resource(stack: &Stack) -> String {
    stack.mcp_url(SERVER)
}

async fn initialize_with_token(stack: &Stack, token: &str) -> RawReply {
    let mut mcp = RawMcp::new(resource(stack), None);
    mcp.initialize_with(&[("authorization", &format!("Bearer {token}"))]).await
}

fn reason(reply: &RawReply) -> String {
    reply.first()["error"]["data"]["reason"].as_str().unwrap_or_default().to_string()
}

fn message(reply: &RawReply) -> String {
    reply.first()["error"]["message"].as_str().unwrap_or_default().to_string()
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn discovery_and_every_refusal_is_a_clear_error() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let issuer = Issuer::start("alice");
    let other = Issuer::start("alice");
    let upstream = ToolUpstream::start(&[("forecast", "Weather forecast"), ("admin", "Not for agents")]);
    let stack = token_stack(&issuer, &upstream).await;
    let aud = resource(&stack);
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp/{SERVER}", stack.gateway_url);

    // RFC 9728: path-specific metadata and the root.
    let http = mcpgate::http_client::client_builder().build().unwrap();
    let metadata: Value = http.get(&metadata_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["resource"], json!(aud));
    assert_eq!(metadata["authorization_servers"], json!([issuer.url]));
    assert_eq!(metadata["scopes_supported"], json!(["mcp:tools"]));
    assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
    let root: Value = http.get(format!("{}/.well-known/oauth-protected-resource", stack.gateway_url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(root["authorization_servers"], json!([issuer.url]));
    let unknown = http.get(format!("{}/.well-known/oauth-protected-resource/mcp/nope", stack.gateway_url)).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    // No credentials: 401 with a challenge pointing at the metadata.
    let reply = RawMcp::new(aud.clone(), None).initialize().await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate").unwrap(), format!(r#"Bearer resource_metadata="{metadata_url}", scope="mcp:tools""#));

    // A valid token calls as alice.
    let good = issuer.token(json!({ "sub": "alice", "aud": aud, "scope": "mcp:tools profile" })).await;
    let reply = initialize_with_token(&stack, &good).await;
    assert_eq!(reply.status, 200, "{:?}", reply.messages);

    // Each refusal: status, reason, what the message says, the challenge's error.
    let header_b64 = |alg: &str| b64(&json!({ "alg": alg, "typ": "JWT" }));
    let claims = json!({ "sub": "alice", "aud": aud, "scope": "mcp:tools", "iss": issuer.url, "exp": 4_000_000_000u64 });
    let unsigned = format!("{}.{}.", header_b64("none"), b64(&claims));
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    parts[1] = b64(&json!({ "sub": "mallory", "aud": aud, "scope": "mcp:tools", "iss": issuer.url, "exp": 4_000_000_000u64 }));
    let tampered = parts.join(".");
    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        ("expired", issuer.token_expiring(json!({ "sub": "alice", "aud": aud, "scope": "mcp:tools" }), -3600).await, 401, "invalid_token", "expired"),
        (
            "wrong issuer",
            issuer.token(json!({ "sub": "alice", "aud": aud, "scope": "mcp:tools", "iss": other.url })).await,
            401,
            "invalid_token",
            "not issued by",
        ),
        (
            "wrong audience",
            issuer.token(json!({ "sub": "alice", "aud": "http://elsewhere/mcp/weather", "scope": "mcp:tools" })).await,
            401,
            "invalid_token",
            "audience",
        ),
        ("unsigned", unsigned, 401, "invalid_token", "none"),
        (
            "wrong key",
            other.token(json!({ "sub": "alice", "aud": aud, "scope": "mcp:tools", "iss": issuer.url })).await,
            401,
            "invalid_token",
            "does not publish",
        ),
        ("tampered", tampered, 401, "invalid_token", "signature"),
        ("not a JWT", "abc.def".to_string(), 401, "invalid_token", "not a well-formed JWT"),
        (
            "missing scope",
            issuer.token(json!({ "sub": "alice", "aud": aud, "scope": "profile" })).await,
            403,
            "insufficient_scope",
            "lacks the scopes mcp:tools",
        ),
        ("no subscription", issuer.token(json!({ "sub": "bob", "aud": aud, "scope": "mcp:tools" })).await, 403, "subject_not_subscribed", "\"bob\""),
    ];
    for (case, token, status, expected_reason, says) in cases {
        let reply = initialize_with_token(&stack, &token).await;
        assert_eq!(reply.status.as_u16(), status, "{case}: {:?}", reply.messages);
        assert_eq!(reason(&reply), expected_reason, "{case}");
        assert!(message(&reply).contains(says), "{case}: {:?} does not say {says:?}", message(&reply));
        if status == 401 || expected_reason == "insufficient_scope" {
            let challenge = reply.header("www-authenticate").unwrap_or_default();
            assert!(challenge.contains(&format!(r#"error="{expected_reason}""#)), "{case}: {challenge}");
            assert!(challenge.contains(&format!(r#"resource_metadata="{metadata_url}""#)), "{case}: {challenge}");
        }
    }

    // A token in the query string is refused even when valid.
    let in_query = RawMcp::new(format!("{aud}?access_token={good}"), None).initialize().await;
    assert_eq!((in_query.status.as_u16(), reason(&in_query).as_str()), (401, "token_in_query"));
    assert!(in_query.header("www-authenticate").unwrap().contains(r#"error="invalid_request""#));

    // Keys fetched once; unknown kids refetch at most once per interval.
    let stats = issuer.stats().await;
    assert!(stats["jwks"].as_u64().unwrap() <= 2, "{stats}");
}

#[tokio::test]
async fn token_callers_are_governed_like_key_callers_and_their_credentials_stay_at_the_gateway() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let issuer = Issuer::start("alice");
    let upstream = ToolUpstream::start(&[("forecast", "Weather forecast"), ("admin", "Not for agents")]);
    let stack = token_stack(&issuer, &upstream).await;
    // The backend wants its own token: client credentials from the same issuer.
    let version = json!({ "backend_url": upstream.url, "client_credentials": {
        "token_url": format!("{}/token", issuer.url), "client_id": "mcpgate", "client_secret": "s3cret-upstream", "scopes": ["weather:read"] } });
    stack.api.put(&format!("servers/{SERVER}/versions/v1"), version).await;
    let shown = stack.api.get(&format!("servers/{SERVER}/versions/v1")).await;
    assert_eq!(
        shown.body["client_credentials"],
        json!({ "token_url": format!("{}/token", issuer.url), "client_id": "mcpgate", "scopes": ["weather:read"] })
    );
    assert!(!shown.body.to_string().contains("s3cret-upstream"));

    let token = issuer.token(json!({ "sub": "alice", "aud": resource(&stack), "scope": "mcp:tools", "client_id": "vscode" })).await;
    let bearer = format!("Bearer {token}");
    let mut mcp = RawMcp::new(resource(&stack), None);
    assert_eq!(mcp.initialize_with(&[("authorization", &bearer)]).await.status, 200);
    let call = |id: u64, tool: &'static str| {
        let mcp = mcp.clone();
        let bearer = bearer.clone();
        async move {
            mcp.post_with(
                json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": tool, "arguments": { "message": "hi" } } }),
                &[("authorization", &bearer)],
            )
            .await
        }
    };
    // Concurrent calls share one upstream token, fetched once.
    let replies = futures::future::join_all((1..=20).map(|id| call(id, "forecast"))).await;
    for reply in &replies {
        assert_eq!(reply.first()["result"]["content"][0]["text"], "forecast: hi", "{:?}", reply.messages);
    }
    let refused = call(99, "admin").await;
    assert_eq!(refused.first()["error"]["code"], -32602, "{:?}", refused.messages);
    assert_eq!(issuer.stats().await["client_credentials"], 1);

    // The upstream saw the gateway's own token, never the client's, nor a key.
    let seen = upstream.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for headers in &seen {
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(authorization.starts_with("Bearer ") && !authorization.contains(&token), "client token passed through: {authorization}");
        assert!(headers.get("x-subscription-key").is_none());
    }
    let upstream_token = seen[0]["authorization"].to_str().unwrap().trim_start_matches("Bearer ").to_string();
    let payload = upstream_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!((claims["iss"].as_str(), claims["scope"].as_str()), (Some(issuer.url.as_str()), Some("weather:read")));

    // Analytics count the token caller under its subscription.
    stack.gateway.flush().await;
    let analytics = stack.api.get("analytics?group_by=subscription").await;
    let alice = analytics.body["items"].as_array().unwrap().iter().find(|i| i["subscription"] == "alice").cloned().unwrap_or_default();
    assert_eq!(alice["calls"], 21, "{}", analytics.body);
    assert_eq!(alice["errors"], 1, "{}", analytics.body);

    // Keys: a token-only product refuses the subscription's key.
    let key = stack.api.get("subscriptions/alice").await;
    assert!(key.body.get("primary_key").is_none());
    let patched = stack.api.patch("products/agents", json!({ "accept_keys": false })).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let secrets = stack.api.send(reqwest::Method::POST, "subscriptions/alice/list-secrets", None, &[]).await;
    let key = secrets.body["primary_key"].as_str().unwrap().to_string();
    let by_key = RawMcp::new(resource(&stack), Some(&key)).initialize().await;
    assert_eq!((by_key.status.as_u16(), reason(&by_key).as_str()), (401, "keys_not_accepted"));
}

#[tokio::test]
async fn the_api_names_what_is_wrong_and_keeps_references() {
    let stack = Stack::memory().await;
    let bad = stack.api.put("authorization-servers/idp", json!({ "issuer": "ftp://idp", "subject_claim": "a b" })).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.field_errors(), [("issuer".to_string(), "bad_url".to_string()), ("subject_claim".to_string(), "bad_claim".to_string())]);
    let missing = stack.api.put("products/p", json!({ "authorization_server": "idp" })).await;
    assert!(missing.status.is_client_error(), "{}", missing.body);
    assert!(missing.body.to_string().contains("authorization_server"), "{}", missing.body);
    let scopes_alone = stack.api.put("products/p", json!({ "required_scopes": ["a"] })).await;
    assert_eq!(scopes_alone.field_errors(), [("required_scopes".to_string(), "requires".to_string())]);

    stack.api.create("authorization-servers/idp", json!({ "issuer": "https://login.example.com/tenant/v2.0" })).await;
    stack.api.create("products/p", json!({ "authorization_server": "idp", "required_scopes": ["mcp:tools"] })).await;
    stack.api.create("subscriptions/a", json!({ "product": "p", "token_subjects": ["alice"] })).await;
    let taken = stack.api.put("subscriptions/b", json!({ "product": "p", "token_subjects": ["carol", "alice"] })).await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert_eq!(taken.field_errors()[0].0, "token_subjects[1]");
    let blocked = stack.api.delete("authorization-servers/idp").await;
    assert_eq!(blocked.status, 409, "{}", blocked.body);
    let cascade = stack.api.delete("authorization-servers/idp?cascade=true").await;
    assert_eq!(cascade.status, 409, "products are never deleted with their authorization server: {}", cascade.body);
    assert_eq!(stack.api.get("products/p").await.status, 200);
    let listed = stack.api.get("authorization-servers").await;
    assert_eq!(listed.body["items"][0]["subject_claim"], "sub");
}

/// The PyPI `mcp` client does the whole MCP authorization flow against the
/// gateway: 401, metadata discovery, registration, authorization code with
/// PKCE and `resource`, then calls with the token it got.
#[tokio::test]
async fn a_real_mcp_client_discovers_the_issuer_and_calls_with_its_token() {
    if !support::available(&[support::Need::Node, support::Need::Python]) {
        return;
    }
    let python = support::python();
    let issuer = Issuer::start("alice");
    let upstream = ToolUpstream::start(&[("forecast", "Weather forecast"), ("admin", "Not for agents")]);
    let stack = token_stack(&issuer, &upstream).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/clients/mcp_oauth_client.py");
    let output = tokio::process::Command::new(&python)
        .args([script, &resource(&stack), "forecast", r#"{"message":"from python"}"#, "admin"])
        .output()
        .await
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(report["tools"], json!(["forecast"]), "{report}");
    assert_eq!(report["call"], "forecast: from python");
    assert_eq!(report["refused"]["is_error"], true);
    assert!(report["refused"]["message"].as_str().unwrap().contains("Unknown tool: admin"), "{report}");
    assert_eq!(report["registered"], true);
    let authorize = &report["flow"][0]["authorize"];
    assert_eq!((authorize["resource"].as_str(), authorize["scope"].as_str()), (Some(resource(&stack).as_str()), Some("mcp:tools")), "{report}");
    assert_eq!(authorize["code_challenge_method"], "S256");

    // Calls are counted under the subscription bound to the token's subject.
    stack.gateway.flush().await;
    let calls = stack.api.get("calls?subscription=alice").await;
    let tools: Vec<&str> = calls.body["items"].as_array().unwrap().iter().filter_map(|c| c["tool"].as_str()).collect();
    assert!(tools.contains(&"forecast") && tools.contains(&"admin"), "{}", calls.body);
}
