//! The published OpenAPI document, served and snapshotted.

mod support;

#[tokio::test]
async fn openapi_document_is_served_without_a_token_and_stable() {
    let api = support::Api::memory().await;
    let reply = api.raw().get(format!("{}/api/v1/openapi.json", api.base)).send().await.unwrap();
    assert_eq!(reply.status(), reqwest::StatusCode::OK);
    let served: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    for path in [
        "/api/v1/servers/{server}",
        "/api/v1/servers/{server}/versions/{version}",
        "/api/v1/products/{product}/servers/{server}",
        "/api/v1/subscriptions/{subscription}/regenerate-key",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} is documented");
    }
    insta::assert_json_snapshot!("openapi", served, { ".info.version" => "[version]" });
}
