//! Subscriptions: keys shown once and stored hashed, approval, limits,
//! lifecycle and key rotation.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;
use support::Api;

#[tokio::test]
async fn keys_are_shown_once_and_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let api = Api::start(&format!("sqlite://{}", db.display())).await;
    api.create("products/gold", json!({})).await;
    let created = api.put("subscriptions/alice", json!({ "product": "gold", "owner": "alice@example.com" })).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["state"], "active", "an admin-created subscription is active");
    let primary = created.body["primary_key"].as_str().unwrap().to_string();
    let secondary = created.body["secondary_key"].as_str().unwrap().to_string();
    assert_ne!(primary, secondary);
    assert!(primary.len() >= 40, "at least 128 bits of randomness: {primary}");

    let read = api.get("subscriptions/alice").await;
    assert!(read.body.get("primary_key").is_none() && read.body.get("secondary_key").is_none());
    let replaced = api.put("subscriptions/alice", json!({ "product": "gold", "display_name": "Alice" })).await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert!(replaced.body.get("primary_key").is_none(), "a replace does not show keys");

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let rows = sqlx::query("SELECT * FROM subscriptions").fetch_all(&pool).await.unwrap();
    for row in &rows {
        for column in ["primary_key_hash", "secondary_key_hash", "body"] {
            let value: String = row.get(column);
            assert!(!value.contains(&primary) && !value.contains(&secondary), "{column} holds a key in clear");
        }
        let hash: String = row.get("primary_key_hash");
        assert_eq!(hash, mcpgate::model::subscription::hash_key(&primary));
    }
}

#[tokio::test]
async fn regenerate_key_replaces_one_slot() {
    let api = Api::memory().await;
    api.create("products/gold", json!({})).await;
    let created = api.create("subscriptions/alice", json!({ "product": "gold" })).await;
    let old_primary = created.body["primary_key"].as_str().unwrap().to_string();
    let old_secondary = created.body["secondary_key"].as_str().unwrap().to_string();

    let rolled = api.send(reqwest::Method::POST, "subscriptions/alice/regenerate-key", Some(json!({ "key": "primary" })), &[]).await;
    assert_eq!(rolled.status, StatusCode::OK, "{}", rolled.body);
    let new_primary = rolled.body["primary_key"].as_str().unwrap().to_string();
    assert_ne!(new_primary, old_primary);
    assert!(rolled.body.get("secondary_key").is_none(), "only the new key is shown");

    let store = &api.state.store;
    let lookup = |key: &str| mcpgate::model::subscription::hash_key(key);
    assert!(store.subscription_by_key_hash(&lookup(&old_primary)).await.unwrap().is_none(), "the old key stops working");
    assert!(store.subscription_by_key_hash(&lookup(&new_primary)).await.unwrap().is_some());
    assert!(store.subscription_by_key_hash(&lookup(&old_secondary)).await.unwrap().is_some(), "the other key keeps working");

    let bad = api.send(reqwest::Method::POST, "subscriptions/alice/regenerate-key", Some(json!({ "key": "tertiary" })), &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.field_errors()[0].0, "key");
    let missing = api.send(reqwest::Method::POST, "subscriptions/bob/regenerate-key", Some(json!({ "key": "primary" })), &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn approval_flow() {
    let api = Api::memory().await;
    api.create("products/partner", json!({ "approval_required": true })).await;
    let submitted = api.create("subscriptions/acme", json!({ "product": "partner" })).await;
    assert_eq!(submitted.body["state"], "submitted", "a product requiring approval starts subscriptions as submitted");
    let approved = api.send(reqwest::Method::POST, "subscriptions/acme/approve", None, &[]).await;
    assert_eq!(approved.status, StatusCode::OK);
    assert_eq!(approved.body["state"], "active");
    let again = api.send(reqwest::Method::POST, "subscriptions/acme/approve", None, &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["type"], "https://mcpgate.dev/problems/invalid-state");

    api.create("subscriptions/shady", json!({ "product": "partner" })).await;
    let rejected = api.send(reqwest::Method::POST, "subscriptions/shady/reject", None, &[]).await;
    assert_eq!(rejected.body["state"], "rejected");
    let revive = api.patch("subscriptions/shady", json!({ "state": "active" })).await;
    assert_eq!(revive.field_errors(), vec![("state".to_string(), "bad_transition".to_string())]);
}

#[tokio::test]
async fn lifecycle_and_immutable_product() {
    let api = Api::memory().await;
    api.create("products/gold", json!({})).await;
    api.create("products/silver", json!({})).await;
    api.create("subscriptions/alice", json!({ "product": "gold" })).await;
    assert_eq!(api.patch("subscriptions/alice", json!({ "state": "suspended" })).await.body["state"], "suspended");
    assert_eq!(api.patch("subscriptions/alice", json!({ "state": "active" })).await.body["state"], "active");
    let moved = api.patch("subscriptions/alice", json!({ "product": "silver" })).await;
    assert_eq!(moved.field_errors(), vec![("product".to_string(), "immutable".to_string())]);
    assert_eq!(api.patch("subscriptions/alice", json!({ "state": "cancelled" })).await.body["state"], "cancelled");
    let list = api.get("subscriptions?product=gold").await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(api.get("subscriptions?product=silver").await.body["items"], json!([]));
}

#[tokio::test]
async fn subscriptions_limit_counts_live_subscriptions() {
    let api = Api::memory().await;
    api.create("products/trial", json!({ "subscriptions_limit": 2 })).await;
    api.create("subscriptions/a", json!({ "product": "trial" })).await;
    api.create("subscriptions/b", json!({ "product": "trial" })).await;
    let third = api.put("subscriptions/c", json!({ "product": "trial" })).await;
    assert_eq!(third.status, StatusCode::CONFLICT);
    assert_eq!(third.body["type"], "https://mcpgate.dev/problems/subscriptions-limit");
    assert_eq!(api.get("subscriptions/c").await.status, StatusCode::NOT_FOUND);
    api.patch("subscriptions/a", json!({ "state": "cancelled" })).await;
    assert_eq!(api.put("subscriptions/c", json!({ "product": "trial" })).await.status, StatusCode::CREATED, "a cancelled one frees its place");
}

#[tokio::test]
async fn concurrent_creates_respect_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(&format!("sqlite://{}/limit.db", dir.path().display())).await;
    api.create("products/trial", json!({ "subscriptions_limit": 3 })).await;
    let attempts = (0..12).map(|i| {
        let client = api.raw().clone();
        let url = format!("{}/api/v1/subscriptions/s{i}", api.base);
        tokio::spawn(async move { client.put(url).bearer_auth(support::TOKEN).json(&json!({ "product": "trial" })).send().await.unwrap().status() })
    });
    let mut created = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 3);
    assert_eq!(api.get("subscriptions").await.body["items"].as_array().map(Vec::len), Some(3));
}
