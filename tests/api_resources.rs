//! Lifecycle, validation, preconditions, references and paging of every
//! management API resource, over HTTP against a real store.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::Api;

async fn seed_server(api: &Api, server: &str) {
    api.create(&format!("servers/{server}"), json!({ "description": "tools" })).await;
    api.create(&format!("servers/{server}/versions/v1"), json!({ "backend_url": "http://127.0.0.1:3001/mcp" })).await;
}

#[tokio::test]
async fn server_lifecycle() {
    let api = Api::memory().await;
    let created = api.put("servers/weather", json!({ "description": "Weather", "owner": "team-a", "tags": { "env": "dev" } })).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.headers["location"], "/api/v1/servers/weather");
    assert_eq!(created.body["name"], "weather");
    assert_eq!(created.body["display_name"], "weather", "display_name defaults to the name");
    assert_eq!(created.body["tags"]["env"], "dev");

    let read = api.get("servers/weather").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.etag(), created.etag());
    assert_eq!(read.body, created.body);

    let again = api.put("servers/weather", json!({ "description": "Weather", "owner": "team-a", "tags": { "env": "dev" } })).await;
    assert_eq!(again.status, StatusCode::OK, "a repeated PUT replaces");
    assert_eq!(again.etag(), created.etag(), "an identical PUT changes nothing");
    assert_eq!(again.body["updated_at"], created.body["updated_at"]);

    let patched = api.patch("servers/weather", json!({ "tags": { "tier": "gold" }, "owner": null })).await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.body["tags"], json!({ "env": "dev", "tier": "gold" }), "merge patch merges maps");
    assert_eq!(patched.body["owner"], json!(null), "null removes");
    assert_eq!(patched.body["description"], "Weather", "untouched fields stay");
    assert_ne!(patched.etag(), created.etag());
    assert_eq!(patched.body["created_at"], created.body["created_at"]);

    let replaced = api.put("servers/weather", json!({ "display_name": "Weather tools" })).await;
    assert_eq!(replaced.body["description"], "", "PUT replaces the whole document");
    assert_eq!(replaced.body["tags"], json!({}));

    let list = api.get("servers").await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list.body["next_page_token"], json!(null));

    assert_eq!(api.delete("servers/weather").await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("servers/weather").await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.delete("servers/weather").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn version_lifecycle_hides_header_values() {
    let api = Api::memory().await;
    api.create("servers/weather", json!({})).await;
    let missing_parent = api.put("servers/nope/versions/v1", json!({ "backend_url": "http://a" })).await;
    assert_eq!(missing_parent.status, StatusCode::NOT_FOUND);

    let created = api
        .put(
            "servers/weather/versions/v1",
            json!({ "backend_url": "https://mcp.example.com/mcp", "backend_headers": { "Authorization": "Bearer s3cret" },
                    "tool_costs": { "echo": 0.5, "default": 0.1 } }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let body = created.body.to_string();
    assert!(!body.contains("s3cret"), "header values are never returned: {body}");
    assert_eq!(created.body["backend_header_names"], json!(["Authorization"]));
    assert_eq!(created.body["status"], "active");
    assert_eq!(created.body["traffic_weight"], 100);
    assert_eq!(created.body["timeout_seconds"], 30);
    assert_eq!(created.body["transport"], "streamable_http");
    assert_eq!(created.body["payload_logging"], false);

    let read = api.get("servers/weather/versions/v1").await;
    assert!(!read.body.to_string().contains("s3cret"));

    let patched = api.patch("servers/weather/versions/v1", json!({ "status": "deprecated", "sunset_at": "2027-01-01T00:00:00Z" })).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["backend_header_names"], json!(["Authorization"]), "a patch keeps the secret headers");
    assert_eq!(patched.body["sunset_at"], "2027-01-01T00:00:00Z");

    let removed = api.patch("servers/weather/versions/v1", json!({ "backend_headers": { "Authorization": null } })).await;
    assert_eq!(removed.body["backend_header_names"], json!([]));

    let list = api.get("servers/weather/versions").await;
    assert_eq!(list.body["items"][0]["name"], "v1");
    assert_eq!(api.get("servers/nope/versions").await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.delete("servers/weather/versions/v1").await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn product_and_association_lifecycle() {
    let api = Api::memory().await;
    seed_server(&api, "weather").await;
    let product = api.put("products/gold", json!({ "rate_limit": { "calls": 10, "period_seconds": 60 } })).await;
    assert_eq!(product.status, StatusCode::CREATED);
    assert_eq!(product.body["state"], "not_published");
    assert_eq!(product.body["subscription_required"], true);
    assert_eq!(product.body["approval_required"], false);
    assert_eq!(product.body["subscriptions_limit"], json!(null));
    assert_eq!(product.body["quota"], json!(null));

    let association = api.put("products/gold/servers/weather", json!({ "tools": ["get-*", "echo"], "versions": ["v1"] })).await;
    assert_eq!(association.status, StatusCode::CREATED, "{}", association.body);
    assert_eq!(association.body["product"], "gold");
    assert_eq!(association.body["server"], "weather");

    let unknown_version = api.put("products/gold/servers/weather", json!({ "versions": ["v9"] })).await;
    assert_eq!(unknown_version.field_errors(), vec![("versions[0]".to_string(), "unknown_version".to_string())]);
    let unknown_server = api.put("products/gold/servers/nope", json!({})).await;
    assert_eq!(unknown_server.status, StatusCode::NOT_FOUND);

    let all_tools = api.patch("products/gold/servers/weather", json!({ "tools": null })).await;
    assert_eq!(all_tools.body["tools"], json!(null));
    assert_eq!(api.get("products/gold/servers").await.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(api.delete("products/gold/servers/weather").await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.delete("products/gold").await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn validation_names_every_field() {
    let api = Api::memory().await;
    seed_server(&api, "weather").await;
    api.create("products/gold", json!({})).await;
    let long = "x".repeat(64);
    let cases: Vec<(String, serde_json::Value, &str, &str)> = vec![
        ("servers/Bad_Name".into(), json!({}), "name", "bad_name"),
        (format!("servers/{long}"), json!({}), "name", "bad_name"),
        ("servers/-lead".into(), json!({}), "name", "bad_name"),
        ("servers/ok".into(), json!({ "name": "other" }), "name", "name_mismatch"),
        ("servers/ok".into(), json!({ "colour": "red" }), "colour", "unknown_field"),
        ("servers/ok".into(), json!({ "tags": "x" }), "tags", "malformed"),
        ("servers/ok".into(), json!({ "display_name": "x".repeat(300) }), "display_name", "too_long"),
        ("servers/weather/versions/v2".into(), json!({}), "backend_url", "required"),
        ("servers/weather/versions/v2".into(), json!({ "backend_url": "ftp://x" }), "backend_url", "bad_url"),
        ("servers/weather/versions/v2".into(), json!({ "backend_url": "localhost:80" }), "backend_url", "bad_url"),
        ("servers/weather/versions/v2".into(), json!({ "backend_url": "http://a", "traffic_weight": 101 }), "traffic_weight", "out_of_range"),
        ("servers/weather/versions/v2".into(), json!({ "backend_url": "http://a", "traffic_weight": -1 }), "traffic_weight", "out_of_range"),
        ("servers/weather/versions/v2".into(), json!({ "backend_url": "http://a", "timeout_seconds": 0 }), "timeout_seconds", "out_of_range"),
        ("servers/weather/versions/v2".into(), json!({ "backend_url": "http://a", "transport": "grpc" }), "transport", "malformed"),
        ("servers/weather/versions/v2".into(), json!({ "backend_url": "http://a", "status": "live" }), "status", "malformed"),
        ("servers/weather/versions/v2".into(), json!({ "backend_url": "http://a", "sunset_at": "tomorrow" }), "sunset_at", "malformed"),
        (
            "servers/weather/versions/v2".into(),
            json!({ "backend_url": "http://a", "backend_headers": { "Host": "x" } }),
            "backend_headers.Host",
            "reserved_header",
        ),
        (
            "servers/weather/versions/v2".into(),
            json!({ "backend_url": "http://a", "backend_headers": { "bad header": "x" } }),
            "backend_headers.bad header",
            "bad_header_name",
        ),
        ("servers/weather/versions/v2".into(), json!({ "backend_url": "http://a", "tool_costs": { "echo": -1 } }), "tool_costs.echo", "bad_cost"),
        ("servers/weather/versions/v2".into(), json!({ "backend_url": "http://a", "server": "other" }), "server", "name_mismatch"),
        ("products/p".into(), json!({ "rate_limit": { "calls": 10, "period_seconds": 0 } }), "rate_limit.period_seconds", "out_of_range"),
        ("products/p".into(), json!({ "rate_limit": { "calls": 0, "period_seconds": 10 } }), "rate_limit.calls", "out_of_range"),
        ("products/p".into(), json!({ "quota": { "calls": 10, "period_seconds": -5 } }), "quota.period_seconds", "out_of_range"),
        ("products/p".into(), json!({ "quota": { "calls": 10 } }), "quota.period_seconds", "required"),
        ("products/p".into(), json!({ "state": "live" }), "state", "malformed"),
        ("products/p".into(), json!({ "subscriptions_limit": -1 }), "subscriptions_limit", "out_of_range"),
        ("products/p".into(), json!({ "subscription_required": false, "approval_required": true }), "approval_required", "requires"),
        ("products/gold/servers/weather".into(), json!({ "tools": ["a[b"] }), "tools[0]", "bad_pattern"),
        ("products/gold/servers/weather".into(), json!({ "tools": [""] }), "tools[0]", "empty"),
        ("products/gold/servers/weather".into(), json!({ "tools": ["echo", "echo"] }), "tools[1]", "duplicate"),
        ("products/gold/servers/weather".into(), json!({ "versions": ["V1"] }), "versions[0]", "bad_name"),
        ("products/gold/servers/weather".into(), json!({ "product": "silver" }), "product", "name_mismatch"),
        ("subscriptions/s1".into(), json!({}), "product", "required"),
    ];
    for (path, body, field, code) in cases {
        let reply = api.put(&path, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "PUT {path} {body}: {}", reply.body);
        assert_eq!(reply.headers["content-type"], "application/problem+json");
        assert_eq!(reply.body["type"], "https://mcpgate.dev/problems/validation-error");
        assert!(
            reply.field_errors().contains(&(field.to_string(), code.to_string())),
            "PUT {path} {body}: expected {field}/{code}, got {:?}",
            reply.field_errors()
        );
    }
    // Valid documents that conflict with what is stored (a missing product,
    // a state a new subscription cannot start in) are 409s naming the field.
    let conflicts: Vec<(&str, serde_json::Value, &str, &str)> = vec![
        ("subscriptions/s1", json!({ "product": "nope" }), "product", "malformed"),
        ("subscriptions/s1", json!({ "product": "gold", "state": "cancelled" }), "state", "bad_transition"),
    ];
    for (path, body, field, code) in conflicts {
        let reply = api.put(path, body.clone()).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "PUT {path} {body}: {}", reply.body);
        assert_eq!(reply.body["type"], "https://mcpgate.dev/problems/conflict");
        assert!(reply.field_errors().contains(&(field.to_string(), code.to_string())), "PUT {path} {body}: {:?}", reply.field_errors());
    }
    let listed = api.get("servers").await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1), "nothing invalid was stored");
    assert_eq!(api.get("products/p").await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get("subscriptions").await.body["items"], json!([]));
}

#[tokio::test]
async fn malformed_requests() {
    let api = Api::memory().await;
    let url = format!("{}/api/v1/servers/a", api.base);
    let reply = api.raw().put(&url).bearer_auth(support::TOKEN).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    let problem: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(problem["type"], "https://mcpgate.dev/problems/malformed-json");
    let reply = api.raw().put(&url).bearer_auth(support::TOKEN).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let array = api.put("servers/a", json!([1])).await;
    assert_eq!(array.field_errors(), vec![("body".to_string(), "malformed".to_string())]);
}

#[tokio::test]
async fn etag_preconditions() {
    let api = Api::memory().await;
    let created = api.create("servers/a", json!({ "description": "one" })).await;
    let etag = created.headers["etag"].to_str().unwrap().to_string();

    let exists = api.send(Method::PUT, "servers/a", Some(json!({})), &[("if-none-match", "*")]).await;
    assert_eq!(exists.status, StatusCode::CONFLICT);
    let fresh = api.send(Method::PUT, "servers/b", Some(json!({})), &[("if-none-match", "*")]).await;
    assert_eq!(fresh.status, StatusCode::CREATED);

    let ok = api.send(Method::PUT, "servers/a", Some(json!({ "description": "two" })), &[("if-match", &etag)]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let stale = api.send(Method::PUT, "servers/a", Some(json!({ "description": "three" })), &[("if-match", &etag)]).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.body["type"], "https://mcpgate.dev/problems/precondition-failed");
    let stale_patch = api.send(Method::PATCH, "servers/a", Some(json!({ "description": "three" })), &[("if-match", &etag)]).await;
    assert_eq!(stale_patch.status, StatusCode::PRECONDITION_FAILED);
    let stale_delete = api.send(Method::DELETE, "servers/a", None, &[("if-match", &etag)]).await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(api.get("servers/a").await.body["description"], "two", "nothing stale was written");

    let current = ok.headers["etag"].to_str().unwrap().to_string();
    let delete = api.send(Method::DELETE, "servers/a", None, &[("if-match", &current)]).await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);
    let missing = api.send(Method::PUT, "servers/a", Some(json!({})), &[("if-match", &current)]).await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_FAILED, "If-Match on a missing resource fails");

    let any = api.send(Method::PUT, "servers/b", Some(json!({ "description": "any version" })), &[("if-match", "*")]).await;
    assert_eq!(any.status, StatusCode::OK, "If-Match: * accepts any stored version");
    let none = api.send(Method::PUT, "servers/nope", Some(json!({})), &[("if-match", "*")]).await;
    assert_eq!(none.status, StatusCode::PRECONDITION_FAILED, "If-Match: * needs the resource to exist");
    let delete_any = api.send(Method::DELETE, "servers/b", None, &[("if-match", "*")]).await;
    assert_eq!(delete_any.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn concurrent_patches_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(&format!("sqlite://{}/c.db", dir.path().display())).await;
    api.create("servers/a", json!({})).await;
    let writers = (0..24).map(|i| {
        let client = api.raw().clone();
        let url = format!("{}/api/v1/servers/a", api.base);
        tokio::spawn(async move {
            let patch = json!({ "tags": { format!("t{i}"): "x" } });
            client.patch(url).bearer_auth(support::TOKEN).json(&patch).send().await.unwrap().status()
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        assert_eq!(writer.await.unwrap(), StatusCode::OK);
    }
    let tags = api.get("servers/a").await.body["tags"].clone();
    assert_eq!(tags.as_object().map(|t| t.len()), Some(24), "every concurrent merge survived: {tags}");
}

#[tokio::test]
async fn references_block_deletes_unless_cascading() {
    let api = Api::memory().await;
    seed_server(&api, "weather").await;
    api.create("products/gold", json!({})).await;
    api.create("products/gold/servers/weather", json!({ "versions": ["v1"] })).await;
    api.create("subscriptions/alice", json!({ "product": "gold" })).await;

    let server = api.delete("servers/weather").await;
    assert_eq!(server.status, StatusCode::CONFLICT);
    assert_eq!(server.body["type"], "https://mcpgate.dev/problems/still-referenced");
    assert_eq!(server.body["referenced_by"], json!(["servers/weather/versions/v1", "products/gold/servers/weather"]));

    let version = api.delete("servers/weather/versions/v1").await;
    assert_eq!(version.status, StatusCode::CONFLICT);
    assert_eq!(version.body["referenced_by"], json!(["products/gold/servers/weather"]));

    let product = api.delete("products/gold").await;
    assert_eq!(product.status, StatusCode::CONFLICT);
    assert_eq!(product.body["referenced_by"], json!(["products/gold/servers/weather", "subscriptions/alice"]));

    assert_eq!(api.delete("servers/weather/versions/v1?cascade=true").await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("products/gold/servers/weather").await.body["versions"], json!([]), "the cascade drops the reference");
    assert_eq!(api.delete("servers/weather?cascade=true").await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("products/gold/servers/weather").await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.delete("products/gold?cascade=true").await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("subscriptions/alice").await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.delete("products/gold?cascade=maybe").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn pagination_walks_every_item_once() {
    let api = Api::memory().await;
    for i in 0..25 {
        api.create(&format!("servers/s{i:02}"), json!({})).await;
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &token {
            Some(t) => format!("servers?limit=10&page_token={t}"),
            None => "servers?limit=10".to_string(),
        };
        let page = api.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        pages += 1;
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_string());
        }
        match page.body["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("s{i:02}")).collect();
    assert_eq!(seen, expected);
    let bad = api.get("servers?page_token=%%%").await;
    assert_eq!(bad.field_errors(), vec![("page_token".to_string(), "malformed".to_string())]);
    let too_big = api.get("servers?limit=5000").await;
    assert_eq!(too_big.field_errors(), vec![("limit".to_string(), "out_of_range".to_string())]);
}

#[tokio::test]
async fn admin_token_is_required() {
    let api = Api::memory().await;
    let url = format!("{}/api/v1/servers", api.base);
    let none = api.raw().get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(none.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let problem: serde_json::Value = none.json().await.unwrap();
    assert_eq!(problem["type"], "https://mcpgate.dev/problems/unauthorized");
    let wrong = api.raw().get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_put = api.raw().put(format!("{url}/a")).bearer_auth("wrong").json(&json!({})).send().await.unwrap();
    assert_eq!(wrong_put.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.get("servers/a").await.status, StatusCode::NOT_FOUND, "the refused write stored nothing");
    let health = api.raw().get(format!("{}/healthz", api.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/mcpgate.db", dir.path().display());
    let key = {
        let api = Api::start(&url).await;
        seed_server(&api, "weather").await;
        api.create("products/gold", json!({ "quota": { "calls": 5, "period_seconds": 60 } })).await;
        api.create("products/gold/servers/weather", json!({ "tools": ["echo"] })).await;
        let sub = api.create("subscriptions/alice", json!({ "product": "gold" })).await;
        sub.body["primary_key"].as_str().unwrap().to_string()
    };
    let api = Api::start(&url).await;
    assert_eq!(api.get("servers/weather").await.body["description"], "tools");
    assert_eq!(api.get("servers/weather/versions/v1").await.body["backend_url"], "http://127.0.0.1:3001/mcp");
    assert_eq!(api.get("products/gold").await.body["quota"], json!({ "calls": 5, "period_seconds": 60 }));
    assert_eq!(api.get("products/gold/servers/weather").await.body["tools"], json!(["echo"]));
    let hash = mcpgate::model::subscription::hash_key(&key);
    let found = api.state.store.subscription_by_key_hash(&hash).await.unwrap();
    assert_eq!(found.map(|r| r.key.name), Some("alice".to_string()), "the key still authenticates");
}

fn call(tool: &str, minutes_ago: i64) -> mcpgate::model::calls::CallRecord {
    mcpgate::model::calls::CallRecord {
        time: chrono::Utc::now() - chrono::Duration::minutes(minutes_ago),
        subscription: Some("alice".into()),
        product: "gold".into(),
        server: "s".into(),
        version: "v1".into(),
        tool: tool.into(),
        client_name: None,
        client_version: None,
        session_id: None,
        duration_ms: 1.0,
        status: mcpgate::model::calls::CallStatus::Ok,
        error_type: None,
        error_message: None,
        arguments: None,
        result: None,
        cost: 0.0,
        trace_id: None,
        policy_rule: None,
        endpoint: None,
        awaits_input: None,
        continues: None,
        tool_refused: false,
    }
}

#[tokio::test]
async fn call_log_retention_by_age_and_count() {
    let api = Api::memory().await;
    let store = &api.state.store;
    let mut calls: Vec<_> = (0..5).map(|i| call("old", 120 + i)).collect();
    calls.extend((0..450).map(|i| call("recent", i % 60)));
    store.insert_calls(calls).await.unwrap();
    let dropped = store.prune_calls(chrono::Utc::now() - chrono::Duration::minutes(90), 400).await.unwrap();
    assert_eq!(dropped, 55, "5 too old, then 50 over the count");
    let left = store.find_calls(&mcpgate::store::CallQuery::default()).await.unwrap();
    assert_eq!(left.len(), 400);
    assert!(left.iter().all(|c| c.tool == "recent"));
    let listed = api.get("calls?limit=1000").await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(400));
    assert_eq!(api.get("calls?limit=0").await.field_errors(), vec![("limit".to_string(), "out_of_range".to_string())]);
    assert_eq!(api.get("calls?status=maybe").await.field_errors(), vec![("status".to_string(), "malformed".to_string())]);
}

#[tokio::test]
async fn portal_user_passwords_are_write_only_hashed_and_checked() {
    let api = Api::memory().await;
    let missing = api.put("portal-users/ada", json!({ "display_name": "Ada" })).await;
    assert_eq!(missing.status, StatusCode::CONFLICT, "valid for an existing user, so a conflict: {}", missing.body);
    assert_eq!(missing.field_errors(), [("password".to_string(), "required".to_string())]);
    let short = api.put("portal-users/ada", json!({ "password": "short" })).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert_eq!(short.field_errors(), [("password".to_string(), "bad_length".to_string())]);
    let bad_role = api.put("portal-users/ada", json!({ "password": "long enough password", "role": "admin" })).await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST, "{}", bad_role.body);
    assert!(api.get("portal-users/ada").await.status == StatusCode::NOT_FOUND, "nothing refused was stored");

    let created = api.put("portal-users/ada", json!({ "display_name": "Ada", "password": "long enough password" })).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["role"], "consumer");
    assert!(created.body.get("password").is_none() && created.body.get("password_hash").is_none(), "{}", created.body);
    let stored = api.state.store.get(&mcpgate::model::Key::top(mcpgate::model::Kind::PortalUser, "ada")).await.unwrap().unwrap();
    let hash = stored.body["password_hash"].as_str().unwrap().to_string();
    assert!(mcpgate::model::portal_user::verify_password("long enough password", &hash));
    assert!(!stored.body.to_string().contains("long enough password"), "the password itself is not stored");

    // Changes without a password keep it; a GET sent back as a PUT too.
    let patched = api.patch("portal-users/ada", json!({ "role": "operator" })).await;
    assert_eq!((patched.status, patched.body["role"].as_str()), (StatusCode::OK, Some("operator")));
    let roundtrip = api.put("portal-users/ada", patched.body.clone()).await;
    assert_eq!(roundtrip.status, StatusCode::OK, "{}", roundtrip.body);
    let stored = api.state.store.get(&mcpgate::model::Key::top(mcpgate::model::Kind::PortalUser, "ada")).await.unwrap().unwrap();
    assert_eq!(stored.body["password_hash"], hash.as_str(), "the password survives changes that do not name it");
}

/// Analytics come a page at a time, and refused tool names are one group.
#[tokio::test]
async fn analytics_pages_and_groups_refused_names_once() {
    let api = Api::memory().await;
    let mut calls: Vec<_> = (0..5).map(|i| call(&format!("tool-{i}"), 1)).collect();
    calls.extend((0..30).map(|i| mcpgate::model::calls::CallRecord { tool_refused: true, ..call(&format!("invented-{i}"), 1) }));
    api.state.store.insert_calls(calls).await.unwrap();
    let first = api.get("analytics?group_by=tool&limit=4").await.body;
    assert_eq!(first["items"][0]["tool"], "(refused)", "busiest first: {first}");
    assert_eq!(first["items"][0]["calls"], 30);
    assert_eq!(first["items"].as_array().map(Vec::len), Some(4));
    assert_eq!(first["next_offset"], 4);
    let last = api.get("analytics?group_by=tool&limit=4&offset=4").await.body;
    assert_eq!(last["items"].as_array().map(Vec::len), Some(2), "six groups in all: {last}");
    assert!(last.get("next_offset").is_none());
    assert_eq!(api.get("analytics?offset=-1").await.field_errors(), vec![("offset".to_string(), "out_of_range".to_string())]);
    let rows = api.get("calls?tool=invented-7").await.body;
    assert_eq!(rows["items"].as_array().map(Vec::len), Some(1), "the row keeps the name");
}
