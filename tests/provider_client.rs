//! Error paths of the provider's API client and resource engine, against
//! wiremock: 404 on read, 409 on create, 412 on update, 429/503 retries,
//! 5xx, and field errors mapped to attribute paths.

use mcpgate::provider::client::{ApiClient, ApiError, RetryPolicy};
use mcpgate::provider::dynamic::Value;
use mcpgate::provider::proto::tfplugin6::attribute_path::step::Selector;
use mcpgate::provider::server_resource;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> ApiClient {
    let mut client = ApiClient::new(&server.uri(), "token").expect("client");
    client.retry = RetryPolicy { attempts: 4, first_delay: Duration::from_millis(5), max_delay: Duration::from_millis(20) };
    client
}

fn server_state(name: &str) -> Value {
    Value::Object(BTreeMap::from([("name".to_string(), Value::string(name))]))
}

fn problem(status: u16, detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "type": "https://mcpgate.dev/problems/x", "title": "t", "status": status, "detail": detail }))
}

#[tokio::test]
async fn read_of_a_deleted_resource_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/api/v1/servers/gone")).respond_with(problem(404, "servers/gone does not exist")).mount(&server).await;
    let def = server_resource::definition();
    assert_eq!(def.read(&client(&server), &server_state("gone")).await.unwrap(), None, "Terraform then plans a re-create");
}

#[tokio::test]
async fn create_conflict_suggests_import() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/servers/taken"))
        .and(header("if-none-match", "*"))
        .respond_with(problem(409, "servers/taken exists already"))
        .mount(&server)
        .await;
    let def = server_resource::definition();
    let diagnostics = def.create(&client(&server), &server_state("taken"), &server_state("taken")).await.unwrap_err();
    assert!(diagnostics[0].detail.contains("exists already") && diagnostics[0].detail.contains("import"), "{:?}", diagnostics);
}

#[tokio::test]
async fn update_with_a_stale_etag_reports_the_concurrent_change() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/servers/busy"))
        .and(header("if-match", "\"old\""))
        .respond_with(problem(412, "servers/busy has changed since it was read"))
        .expect(1)
        .mount(&server)
        .await;
    let def = server_resource::definition();
    let private = mcpgate::provider::resource::private_from(Some("\"old\""));
    let diagnostics = def.update(&client(&server), &server_state("busy"), &server_state("busy"), &private).await.unwrap_err();
    assert!(diagnostics[0].detail.contains("changed outside Terraform"), "{:?}", diagnostics);
}

#[tokio::test]
async fn rate_limited_and_unavailable_answers_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/servers/a"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path("/api/v1/servers/a")).respond_with(ResponseTemplate::new(503)).up_to_n_times(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/servers/a"))
        .respond_with(ResponseTemplate::new(200).insert_header("etag", "\"e1\"").set_body_json(json!({ "name": "a", "description": "d" })))
        .mount(&server)
        .await;
    let reply = client(&server).get("servers/a").await.expect("third attempt succeeds");
    assert_eq!(reply.body["description"], "d");
    assert_eq!(reply.etag.as_deref(), Some("\"e1\""));
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn retries_give_up_with_the_last_answer() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/api/v1/servers/a")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let err = client(&server).get("servers/a").await.unwrap_err();
    assert!(matches!(err, ApiError::Server { status: 503, .. }), "{err:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn server_errors_are_not_retried_and_say_what_happened() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/api/v1/servers/a")).respond_with(problem(500, "the request failed inside mcpgate")).mount(&server).await;
    let err = client(&server).get("servers/a").await.unwrap_err();
    assert_eq!(err.to_string(), "the management API answered HTTP 500: the request failed inside mcpgate");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn unreachable_api_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut client = ApiClient::new(&format!("http://127.0.0.1:{port}"), "t").unwrap();
    client.retry = RetryPolicy { attempts: 2, first_delay: Duration::from_millis(5), max_delay: Duration::from_millis(5) };
    let err = client.get("servers").await.unwrap_err();
    assert!(err.to_string().starts_with("cannot reach the management API"), "{err}");
}

#[tokio::test]
async fn refused_fields_point_at_their_attributes() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/servers/a"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "type": "https://mcpgate.dev/problems/validation-error", "title": "t", "status": 400, "detail": "tags.env: is too long",
            "errors": [{ "field": "tags.env", "reason": "must be at most 256 characters long", "code": "too_long" }]
        })))
        .mount(&server)
        .await;
    let def = server_resource::definition();
    let diagnostics = def.create(&client(&server), &server_state("a"), &server_state("a")).await.unwrap_err();
    let steps = &diagnostics[0].attribute.as_ref().expect("attribute path").steps;
    let selectors: Vec<_> = steps.iter().map(|s| s.selector.clone()).collect();
    assert_eq!(selectors, vec![Some(Selector::AttributeName("tags".into())), Some(Selector::ElementKeyString("env".into()))]);
}

#[tokio::test]
async fn token_is_sent_as_bearer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/servers/a"))
        .and(header("authorization", "Bearer token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "name": "a" })))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).get("servers/a").await.unwrap();
}
