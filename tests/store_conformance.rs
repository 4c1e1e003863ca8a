//! One conformance suite for every store backend: the same cases run
//! against SQLite in memory, SQLite in a file and PostgreSQL (a fresh
//! database per case, on the engine scripts/test.sh starts). Rules live
//! above the backends, so every case must hold on each.

mod support;

use chrono::{TimeDelta, Utc};
use mcpgate::model::calls::{CallRecord, CallStatus, GroupBy};
use mcpgate::model::{Key, KeySlot, Kind};
use mcpgate::secrets::SecretKey;
use mcpgate::store::{self, AnalyticsQuery, ChangeBatch, DynStore, KeyChange, ListQuery, Precondition, Put, RateGrant, StoreError};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Backend {
    SqliteMemory,
    SqliteFile,
    Postgres,
}

/// A database for one case, reopenable (except in memory) with any key.
struct Database {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Database {
    async fn new(backend: Backend) -> Database {
        match backend {
            Backend::SqliteMemory => Database { url: "sqlite::memory:".into(), _dir: None },
            Backend::SqliteFile => {
                let dir = tempfile::tempdir().unwrap();
                Database { url: format!("sqlite://{}/store.db", dir.path().display()), _dir: Some(dir) }
            }
            Backend::Postgres => Database { url: support::engines::fresh_postgres().await, _dir: None },
        }
    }

    async fn open(&self, key: &Arc<SecretKey>) -> DynStore {
        store::open_with(&self.url, key.clone()).await.expect("the store opens")
    }
}

async fn store(backend: Backend) -> (DynStore, Database, Arc<SecretKey>) {
    let database = Database::new(backend).await;
    let key = Arc::new(SecretKey::generate().0);
    (database.open(&key).await, database, key)
}

fn server(name: &str) -> Key {
    Key::top(Kind::Server, name)
}

fn put(key: Key, body: Value) -> Put {
    Put { key, body, precondition: Precondition::None, keys: None }
}

fn subscription(name: &str, product: &str, state: &str) -> Put {
    Put {
        key: Key::top(Kind::Subscription, name),
        body: json!({ "product": product, "state": state }),
        precondition: Precondition::None,
        keys: Some(KeyChange::Both { primary: format!("mcpk_{name}_1"), secondary: format!("mcpk_{name}_2") }),
    }
}

async fn seed(store: &DynStore) {
    store.put(put(server("s"), json!({ "description": "tools" }))).await.unwrap();
    store.put(put(Key::child(Kind::Version, "s", "v1"), json!({ "backend_url": "http://127.0.0.1:1/mcp" }))).await.unwrap();
    store.put(put(Key::top(Kind::Product, "gold"), json!({ "state": "published", "subscriptions_limit": 2 }))).await.unwrap();
    store.put(put(Key::child(Kind::ProductServer, "gold", "s"), json!({ "versions": ["v1"] }))).await.unwrap();
}

async fn writes_reads_and_pages(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    let first = store.put(put(server("a"), json!({ "description": "one" }))).await.unwrap();
    assert!(first.created && first.change.is_some());
    let again = store.put(put(server("a"), json!({ "description": "one" }))).await.unwrap();
    assert!(!again.created && again.change.is_none(), "an identical write changes nothing");
    assert_eq!(again.record.etag, first.record.etag);
    assert_eq!(again.record.updated_at, first.record.updated_at);
    let changed = store.put(put(server("a"), json!({ "description": "two" }))).await.unwrap();
    assert_ne!(changed.record.etag, first.record.etag);
    assert_eq!(changed.record.created_at, first.record.created_at);
    for name in ["b", "c", "d"] {
        store.put(put(server(name), json!({}))).await.unwrap();
    }
    let page =
        |after: Option<&str>| ListQuery { kind: Kind::Server, parent: String::new(), after: after.map(str::to_string), limit: 2, product: None };
    let names = |records: Vec<store::Record>| records.into_iter().map(|r| r.key.name).collect::<Vec<_>>();
    assert_eq!(names(store.list(&page(None)).await.unwrap()), ["a", "b"]);
    assert_eq!(names(store.list(&page(Some("b"))).await.unwrap()), ["c", "d"]);
    assert_eq!(store.get(&server("a")).await.unwrap().unwrap().body["description"], "two");
    assert!(store.get(&server("zz")).await.unwrap().is_none());
}

async fn preconditions_hold_for_every_verb(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    let written = store.put(put(server("a"), json!({}))).await.unwrap();
    let etag = written.record.etag.clone();
    let with = |precondition: Precondition, body: Value| Put { key: server("a"), body, precondition, keys: None };
    assert!(matches!(store.put(with(Precondition::Absent, json!({}))).await, Err(StoreError::AlreadyExists { .. })));
    assert!(matches!(store.put(with(Precondition::matches("stale"), json!({}))).await, Err(StoreError::PreconditionFailed { .. })));
    assert!(matches!(store.put(with(Precondition::NoneMatch(vec![etag.clone()]), json!({}))).await, Err(StoreError::PreconditionFailed { .. })));
    let updated = store.put(with(Precondition::Matches(vec!["other".into(), etag.clone()]), json!({ "description": "x" }))).await.unwrap();
    assert!(matches!(store.delete(&server("a"), &Precondition::matches(etag.clone()), false).await, Err(StoreError::PreconditionFailed { .. })));
    store.delete(&server("a"), &Precondition::matches(updated.record.etag.clone()), false).await.unwrap();
    assert!(
        matches!(store.delete(&server("a"), &Precondition::matches(etag), false).await, Err(StoreError::PreconditionFailed { .. })),
        "a stale If-Match on a missing resource fails the precondition, whatever the verb"
    );
    assert!(matches!(store.delete(&server("a"), &Precondition::None, false).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.put(with(Precondition::Exists, json!({}))).await, Err(StoreError::PreconditionFailed { .. })));
}

async fn references_must_exist(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    let orphan = store.put(put(Key::child(Kind::Version, "nope", "v1"), json!({ "backend_url": "http://x" }))).await;
    assert!(matches!(orphan, Err(StoreError::MissingReference { field: "server", in_path: true, .. })));
    seed(&store).await;
    let unknown_version = store.put(put(Key::child(Kind::ProductServer, "gold", "s"), json!({ "versions": ["v1", "v9"] }))).await;
    assert!(matches!(unknown_version, Err(StoreError::Invalid { ref field, .. }) if field == "versions[1]"));
    let unknown_product = store.put(subscription("alice", "silver", "active")).await;
    assert!(matches!(unknown_product, Err(StoreError::MissingReference { field: "product", in_path: false, .. })));
    assert!(store.get(&Key::top(Kind::Subscription, "alice")).await.unwrap().is_none(), "a refused write stores nothing");
}

async fn subscriptions_limit_counts_live_ones(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    seed(&store).await;
    store.put(subscription("a", "gold", "active")).await.unwrap();
    store.put(subscription("b", "gold", "rejected")).await.unwrap();
    store.put(subscription("c", "gold", "submitted")).await.unwrap();
    let over = store.put(subscription("d", "gold", "active")).await;
    assert!(matches!(over, Err(StoreError::SubscriptionsLimit { limit: 2, .. })), "{over:?}");
    store.put(Put { keys: None, ..subscription("a", "gold", "cancelled") }).await.unwrap();
    store.put(subscription("d", "gold", "active")).await.unwrap();
}

async fn deletes_are_blocked_or_cascade(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    seed(&store).await;
    store.put(subscription("alice", "gold", "active")).await.unwrap();
    let blocked = store.delete(&server("s"), &Precondition::None, false).await;
    match blocked {
        Err(StoreError::StillReferenced { by, .. }) => assert_eq!(by, ["servers/s/versions/v1", "products/gold/servers/s"]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    store.delete(&Key::child(Kind::Version, "s", "v1"), &Precondition::None, true).await.unwrap();
    let association = store.get(&Key::child(Kind::ProductServer, "gold", "s")).await.unwrap().unwrap();
    assert_eq!(association.body["versions"], json!([]), "a deleted version leaves the lists that named it");
    store.delete(&Key::top(Kind::Product, "gold"), &Precondition::None, true).await.unwrap();
    assert!(store.get(&Key::top(Kind::Subscription, "alice")).await.unwrap().is_none());
    assert!(store.get(&Key::child(Kind::ProductServer, "gold", "s")).await.unwrap().is_none());
    store.delete(&server("s"), &Precondition::None, false).await.unwrap();
}

async fn concurrent_compare_and_set_has_one_winner(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    let etag = store.put(put(server("a"), json!({}))).await.unwrap().record.etag;
    let writers = (0..12).map(|i| {
        let store = store.clone();
        let etag = etag.clone();
        tokio::spawn(async move {
            store
                .put(Put {
                    key: server("a"),
                    body: json!({ "description": format!("writer {i}") }),
                    precondition: Precondition::matches(etag),
                    keys: None,
                })
                .await
        })
    });
    let mut won = 0;
    for writer in writers.collect::<Vec<_>>() {
        match writer.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::PreconditionFailed { .. }) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won, 1);
}

async fn subscription_keys_are_hashed_sealed_and_revealed(backend: Backend) {
    let (store, database, key) = store(backend).await;
    seed(&store).await;
    let written = store.put(subscription("alice", "gold", "active")).await.unwrap();
    let hashes = written.record.key_hashes.clone().unwrap();
    assert_eq!(hashes.primary, mcpgate::model::subscription::hash_key("mcpk_alice_1"));
    assert_eq!(store.subscription_by_key_hash(&hashes.secondary).await.unwrap().unwrap().key.name, "alice");
    assert_eq!(store.reveal_keys("alice").await.unwrap().unwrap(), ("mcpk_alice_1".to_string(), "mcpk_alice_2".to_string()));
    let rotated = Put { keys: Some(KeyChange::One { slot: KeySlot::Secondary, key: "mcpk_new".into() }), ..subscription("alice", "gold", "active") };
    let rotated = store.put(rotated).await.unwrap();
    assert_ne!(rotated.record.etag, written.record.etag, "new keys, new ETag");
    assert_eq!(store.reveal_keys("alice").await.unwrap().unwrap(), ("mcpk_alice_1".to_string(), "mcpk_new".to_string()));
    assert!(store.subscription_by_key_hash(&hashes.secondary).await.unwrap().is_none(), "the old key stops at once");
    assert!(store.reveal_keys("nobody").await.unwrap().is_none());
    if let Backend::SqliteFile = backend {
        drop(store);
        let reopened = database.open(&key).await;
        assert_eq!(reopened.reveal_keys("alice").await.unwrap().unwrap().1, "mcpk_new");
        assert_secret_absent_on_disk(&database, "mcpk_new");
    }
}

/// No byte of `secret` is on disk in clear: the database file and its WAL.
fn assert_secret_absent_on_disk(database: &Database, secret: &str) {
    let file = database.url.trim_start_matches("sqlite://").to_string();
    for path in [file.clone(), format!("{file}-wal")] {
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret:?} found in clear in {path}");
        }
    }
}

async fn authorization_servers_are_referenced_and_subjects_unique(backend: Backend) {
    let (store, db, _) = store(backend).await;
    let idp = Key::top(Kind::AuthorizationServer, "idp");
    let product = Key::top(Kind::Product, "tokens");
    let missing = store.put(put(product.clone(), json!({ "authorization_server": "idp" }))).await;
    assert!(matches!(missing, Err(StoreError::MissingReference { field: "authorization_server", in_path: false, .. })), "{missing:?}");
    store.put(put(idp.clone(), json!({ "issuer": "https://idp.example.com" }))).await.unwrap();
    store.put(put(product.clone(), json!({ "authorization_server": "idp" }))).await.unwrap();
    let with_subjects = |name: &str, subjects: Value| Put {
        body: json!({ "product": "tokens", "token_subjects": subjects }),
        ..subscription(name, "tokens", "active")
    };
    store.put(with_subjects("a", json!(["alice", "ada"]))).await.unwrap();
    let taken = store.put(with_subjects("b", json!(["bob", "ada"]))).await;
    assert!(matches!(taken, Err(StoreError::Invalid { ref field, .. }) if field == "token_subjects[1]"), "{taken:?}");
    store.put(Put { keys: None, ..with_subjects("a", json!(["alice", "ada", "al"])) }).await.unwrap();
    for cascade in [false, true] {
        let blocked = store.delete(&idp, &Precondition::None, cascade).await;
        assert!(matches!(blocked, Err(StoreError::StillReferenced { ref by, .. }) if by == &["products/tokens"]), "{blocked:?}");
    }
    // A product that stops naming it frees it (the reference column follows the body).
    store.put(put(product.clone(), json!({}))).await.unwrap();
    store.delete(&idp, &Precondition::None, false).await.unwrap();

    // The upstream client secret is sealed like header values.
    store.put(put(server("s"), json!({}))).await.unwrap();
    let credentials = json!({ "token_url": "https://idp.example.com/token", "client_id": "gw", "client_secret": "cc-secret-sealed" });
    store.put(put(Key::child(Kind::Version, "s", "v1"), json!({ "backend_url": "http://x", "client_credentials": credentials }))).await.unwrap();
    let read = store.get(&Key::child(Kind::Version, "s", "v1")).await.unwrap().unwrap();
    assert_eq!(read.body["client_credentials"]["client_secret"], "cc-secret-sealed");
    if !matches!(backend, Backend::SqliteMemory) {
        assert!(!raw_body(&db, "versions").await.contains("cc-secret-sealed"), "stored sealed");
    }
}

async fn secrets_are_sealed_at_rest_and_keys_rotate(backend: Backend) {
    if let Backend::SqliteMemory = backend {
        return; // nothing at rest, nothing to reopen
    }
    let database = Database::new(backend).await;
    let (old, old_text) = SecretKey::generate();
    let old = Arc::new(old);
    let store = database.open(&old).await;
    store.put(put(server("s"), json!({}))).await.unwrap();
    let version = Key::child(Kind::Version, "s", "v1");
    let body = json!({ "backend_url": "http://x", "backend_headers": { "authorization": "Bearer hunter2-secret" } });
    let etag = store.put(put(version.clone(), body.clone())).await.unwrap().record.etag;
    assert_eq!(store.get(&version).await.unwrap().unwrap().body, body, "read back in clear");
    assert!(!raw_body(&database, "versions").await.contains("hunter2-secret"), "stored sealed");
    drop(store);
    if let Backend::SqliteFile = backend {
        assert_secret_absent_on_disk(&database, "hunter2-secret");
    }

    let (_, new_text) = SecretKey::generate();
    let both = Arc::new(SecretKey::parse(&format!("{new_text},{old_text}")).unwrap());
    let store = database.open(&both).await;
    let read = store.get(&version).await.unwrap().unwrap();
    assert_eq!((read.body, read.etag), (body.clone(), etag.clone()), "re-sealing is not a change");
    drop(store);
    let new_only = Arc::new(SecretKey::parse(&new_text).unwrap());
    let store = database.open(&new_only).await;
    assert_eq!(store.get(&version).await.unwrap().unwrap().body, body, "after a start with both keys, the old one can go");
    drop(store);
    let (stranger, _) = SecretKey::generate();
    let stranger = Arc::new(stranger);
    assert!(store::open_with(&database.url, stranger).await.is_err(), "a wrong key is refused at start, naming the problem");
}

async fn raw_body(database: &Database, table: &str) -> String {
    use sqlx::Row;
    let sql = format!("SELECT body FROM {table}");
    if database.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&database.url).await.unwrap();
        let rows = sqlx::query(&sql).fetch_all(&pool).await.unwrap();
        rows.iter().map(|r| r.get::<String, _>(0)).collect::<Vec<_>>().join("\n")
    } else {
        let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
        let rows = sqlx::query(&sql).fetch_all(&pool).await.unwrap();
        rows.iter().map(|r| r.get::<String, _>(0)).collect::<Vec<_>>().join("\n")
    }
}

async fn next_batch(subscription: &mut store::ChangeSubscription) -> ChangeBatch {
    tokio::time::timeout(Duration::from_secs(10), subscription.next()).await.expect("a change arrives").expect("the change table reads")
}

async fn the_change_feed_names_what_changed(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    let mut feed = store.subscribe_changes().await.unwrap();
    seed(&store).await;
    let mut seen = Vec::new();
    while seen.len() < 4 {
        match next_batch(&mut feed).await {
            ChangeBatch::Keys { keys, .. } => seen.extend(keys),
            ChangeBatch::Resync { .. } => panic!("no resync expected"),
        }
    }
    assert_eq!(seen[0], server("s"));
    assert_eq!(seen[3], Key::child(Kind::ProductServer, "gold", "s"));
    store.delete(&server("s"), &Precondition::None, true).await.unwrap();
    let mut deleted = Vec::new();
    while deleted.len() < 3 {
        if let ChangeBatch::Keys { keys, .. } = next_batch(&mut feed).await {
            deleted.extend(keys);
        }
    }
    assert!(deleted.contains(&Key::child(Kind::Version, "s", "v1")) && deleted.contains(&server("s")), "cascades are changes too: {deleted:?}");
}

async fn another_process_sees_changes(backend: Backend) {
    if let Backend::SqliteMemory = backend {
        return; // one process by nature
    }
    let database = Database::new(backend).await;
    let key = Arc::new(SecretKey::generate().0);
    let writer = database.open(&key).await;
    let reader = database.open(&key).await;
    let mut feed = reader.subscribe_changes().await.unwrap();
    let started = std::time::Instant::now();
    writer.put(put(server("from-elsewhere"), json!({}))).await.unwrap();
    match next_batch(&mut feed).await {
        ChangeBatch::Keys { keys, .. } => assert_eq!(keys, [server("from-elsewhere")]),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2), "seen in {:?}", started.elapsed());
}

async fn quota_reservations_never_exceed_the_limit(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    let reservations = (0..40).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.reserve_quota("alice", 3600, 3, 100).await.unwrap() })
    });
    let mut granted = 0;
    for reservation in reservations.collect::<Vec<_>>() {
        let reserved = reservation.await.unwrap();
        assert!(reserved.stored <= 100);
        granted += reserved.granted;
    }
    assert_eq!(granted, 100, "40 × 3 asked, exactly the limit granted");
    assert_eq!(store.reserve_quota("alice", 3600, 1, 100).await.unwrap().granted, 0);
    store.release_quota("alice", 3600, 10).await.unwrap();
    assert_eq!(store.quota_used("alice", 3600).await.unwrap(), 90);
    let next_window = store.reserve_quota("alice", 7200, 5, 100).await.unwrap();
    assert_eq!((next_window.granted, next_window.stored), (5, 5), "a new window starts over");
    assert_eq!(store.quota_used("alice", 3600).await.unwrap(), 0, "the old window is gone");
}

async fn rate_grants_add_up_and_expire(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    let grant = |count, until_ms| RateGrant { subscription: "alice".into(), count, until_ms };
    store.record_rate_grant(&grant(5, 10_500), 1000).await.unwrap();
    store.record_rate_grant(&grant(3, 10_900), 1000).await.unwrap();
    store.record_rate_grant(&grant(-2, 10_900), 1000).await.unwrap();
    store.record_rate_grant(&grant(4, 20_000), 1000).await.unwrap();
    assert_eq!(store.rate_grants(0).await.unwrap(), [grant(6, 10_900), grant(4, 20_000)]);
    assert_eq!(store.rate_grants(15_000).await.unwrap(), [grant(4, 20_000)], "older ones are dropped");
}

fn call(tool: &str, minutes_ago: i64, ms: f64, status: CallStatus, subscription: Option<&str>) -> CallRecord {
    CallRecord {
        time: Utc::now() - TimeDelta::minutes(minutes_ago),
        subscription: subscription.map(str::to_string),
        product: "gold".into(),
        server: "s".into(),
        version: "v1".into(),
        tool: tool.into(),
        client_name: Some("claude".into()),
        client_version: None,
        session_id: Some("sess".into()),
        duration_ms: ms,
        status,
        error_type: None,
        error_message: None,
        arguments: None,
        result: None,
        cost: 0.25,
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
        policy_rule: None,
        endpoint: None,
        awaits_input: None,
        continues: None,
        tool_refused: false,
    }
}

async fn calls_aggregate_in_the_database(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    let mut calls = Vec::new();
    for i in 0..180 {
        let status = if i % 10 == 0 { CallStatus::Error } else { CallStatus::Ok };
        calls.push(call("echo", i, 1.0 + f64::from(i as u32 % 20), status, Some("alice")));
    }
    calls.extend((0..20).map(|i| call("sum", i * 5, 100.0, CallStatus::Ok, None)));
    for call in &mut calls {
        call.endpoint = Some(if call.tool == "sum" { "/products/gold/mcp" } else { "/mcp/s" }.into());
    }
    store.insert_calls(calls[..90].to_vec()).await.unwrap();
    store.insert_calls(calls[90..].to_vec()).await.unwrap();
    let query = |from: Option<i64>, to: Option<i64>| AnalyticsQuery {
        group_by: GroupBy::Tool,
        server: Some("s".into()),
        subscription: None,
        from: from.map(|m| Utc::now() - TimeDelta::minutes(m)),
        to: to.map(|m| Utc::now() - TimeDelta::minutes(m)),
    };
    let all = mcpgate::model::calls::summarize(GroupBy::Tool, &store.analytics(&query(None, None)).await.unwrap());
    assert_eq!(all[0].group["tool"].as_deref(), Some("echo"));
    assert_eq!((all[0].calls, all[0].errors, all[0].cost), (180, 18, 45.0));
    assert!(all[0].p50_ms > 8.0 && all[0].p50_ms < 13.0 && all[0].p99_ms > 18.0, "{:?}", all[0]);
    assert_eq!((all[1].calls, all[1].errors), (20, 0));
    // A window across hours: rollups for whole hours, the call log for the edges.
    let window = mcpgate::model::calls::summarize(GroupBy::Tool, &store.analytics(&query(Some(150), Some(30))).await.unwrap());
    let echo = window.iter().find(|g| g.group["tool"].as_deref() == Some("echo")).unwrap();
    let expected = calls
        .iter()
        .filter(|c| c.tool == "echo" && c.time >= Utc::now() - TimeDelta::minutes(150) && c.time < Utc::now() - TimeDelta::minutes(30))
        .count();
    assert!((echo.calls as i64 - expected as i64).abs() <= 1, "{} calls in the window, expected {expected}", echo.calls);
    let by_subscription = mcpgate::model::calls::summarize(
        GroupBy::Subscription,
        &store.analytics(&AnalyticsQuery { group_by: GroupBy::Subscription, ..query(None, None) }).await.unwrap(),
    );
    assert!(by_subscription.iter().any(|g| g.group["subscription"].is_none() && g.calls == 20), "calls without a subscription group as null");
    let by_endpoint = mcpgate::model::calls::summarize(
        GroupBy::Endpoint,
        &store.analytics(&AnalyticsQuery { group_by: GroupBy::Endpoint, ..query(None, None) }).await.unwrap(),
    );
    let counts: Vec<(Option<&str>, u64)> = by_endpoint.iter().map(|g| (g.group["endpoint"].as_deref(), g.calls)).collect();
    assert_eq!(counts, [(Some("/mcp/s"), 180), (Some("/products/gold/mcp"), 20)]);
    let found = store.find_calls(&store::CallQuery { tool: Some("sum".into()), limit: Some(5), ..Default::default() }).await.unwrap();
    assert_eq!(found.len(), 5);
    assert!(found.windows(2).all(|w| w[0].time >= w[1].time), "newest first");
    assert_eq!(found[0].trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"), "the trace id round-trips");
    let pruned = store.prune_calls(Utc::now() - TimeDelta::minutes(100), 1_000).await.unwrap();
    assert_eq!(pruned, 80, "calls older than 100 minutes");
}

async fn tool_prefixes_are_unique_within_a_product(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    seed(&store).await;
    store.put(put(Key::top(Kind::Server, "t"), json!({}))).await.unwrap();
    store.put(put(Key::child(Kind::ProductServer, "gold", "t"), json!({ "tool_prefix": "crm" }))).await.unwrap();
    let kept = store.get(&Key::child(Kind::ProductServer, "gold", "s")).await.unwrap().map(|r| (r.body, r.etag));
    let clash = store.put(put(Key::child(Kind::ProductServer, "gold", "s"), json!({ "tool_prefix": "crm" }))).await;
    match clash {
        Err(StoreError::Invalid { field, reason }) => {
            assert_eq!(field, "tool_prefix");
            let message = reason.to_string();
            assert!(message.contains("products/gold/servers/s") && message.contains("products/gold/servers/t"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let now = store.get(&Key::child(Kind::ProductServer, "gold", "s")).await.unwrap().map(|r| (r.body, r.etag));
    assert_eq!(now, kept, "nothing stored changed");
    // A server's name is its default prefix.
    let default_clash = store.put(put(Key::child(Kind::ProductServer, "gold", "t"), json!({ "tool_prefix": "s" }))).await;
    assert!(matches!(default_clash, Err(StoreError::Invalid { .. })), "{default_clash:?}");
    store.put(put(Key::child(Kind::ProductServer, "gold", "t"), json!({ "tool_prefix": "" }))).await.unwrap();
}

async fn member_sessions_have_one_writer_and_end_together(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    let member = |server: &str, upstream: &str| store::MemberSession {
        session: "fed-1".into(),
        server: server.into(),
        version: "v1".into(),
        upstream: upstream.into(),
        protocol: "2025-06-18".into(),
        created_at: Utc::now() - TimeDelta::minutes(5),
    };
    assert_eq!(store.open_member_session(&member("a", "up-1")).await.unwrap().upstream, "up-1");
    assert_eq!(store.open_member_session(&member("a", "up-2")).await.unwrap().upstream, "up-1", "the first writer wins");
    store.open_member_session(&member("b", "")).await.unwrap();
    store.open_member_session(&store::MemberSession { session: "fed-2".into(), ..member("a", "up-3") }).await.unwrap();
    let members = store.member_sessions("fed-1").await.unwrap();
    assert_eq!(members.iter().map(|m| (m.server.as_str(), m.upstream.as_str())).collect::<Vec<_>>(), [("a", "up-1"), ("b", "")]);
    assert!(members[0].created_at < Utc::now() - TimeDelta::minutes(4), "the time round-trips");
    // A server forgot up-1: the first replica to replace it wins.
    assert_eq!(store.replace_member_session("up-1", &member("a", "up-4")).await.unwrap().upstream, "up-4");
    assert_eq!(store.replace_member_session("up-1", &member("a", "up-5")).await.unwrap().upstream, "up-4", "up-1 was replaced already");
    store.replace_member_session("up-4", &member("a", "up-1")).await.unwrap();
    let ended = store.end_member_sessions("fed-1").await.unwrap();
    assert_eq!(ended.len(), 2);
    assert!(store.member_sessions("fed-1").await.unwrap().is_empty());
    assert_eq!(store.prune_member_sessions(Utc::now() - TimeDelta::minutes(1)).await.unwrap(), 1, "fed-2's, opened 5 minutes ago");
    assert!(store.member_sessions("fed-2").await.unwrap().is_empty());
}

async fn portal_users_are_stored_listed_and_deleted(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    let ada = Key::top(Kind::PortalUser, "ada");
    let body = json!({ "role": "operator", "password_hash": "pbkdf2-sha256$600000$c2FsdA$aGFzaA" });
    let written = store.put(put(ada.clone(), body.clone())).await.unwrap();
    assert!(written.created);
    assert_eq!(store.get(&ada).await.unwrap().unwrap().body, body);
    store.put(put(Key::top(Kind::PortalUser, "bob"), json!({ "password_hash": "x" }))).await.unwrap();
    let names: Vec<String> = store.list_all(Kind::PortalUser).await.unwrap().into_iter().map(|r| r.key.name).collect();
    assert_eq!(names, ["ada", "bob"]);
    store.delete(&ada, &Precondition::None, false).await.unwrap();
    assert!(store.get(&ada).await.unwrap().is_none());
}

async fn the_audit_log_keeps_entries(backend: Backend) {
    let (store, _db, _) = store(backend).await;
    store.append_audit("admin", "list-secrets", "subscriptions/a").await.unwrap();
    store.append_audit("admin", "list-secrets", "subscriptions/b").await.unwrap();
    let log = store.audit_log(10).await.unwrap();
    assert_eq!(log.iter().map(|e| e.resource.as_str()).collect::<Vec<_>>(), ["subscriptions/b", "subscriptions/a"]);
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite_memory {
            $(#[tokio::test] async fn $case() { super::$case(super::Backend::SqliteMemory).await })*
        }
        mod sqlite_file {
            $(#[tokio::test] async fn $case() { super::$case(super::Backend::SqliteFile).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $case() {
                if crate::support::available(&[crate::support::Need::Postgres]) {
                    super::$case(super::Backend::Postgres).await
                }
            })*
        }
    };
}

conformance!(
    writes_reads_and_pages,
    preconditions_hold_for_every_verb,
    references_must_exist,
    subscriptions_limit_counts_live_ones,
    deletes_are_blocked_or_cascade,
    authorization_servers_are_referenced_and_subjects_unique,
    portal_users_are_stored_listed_and_deleted,
    concurrent_compare_and_set_has_one_winner,
    subscription_keys_are_hashed_sealed_and_revealed,
    secrets_are_sealed_at_rest_and_keys_rotate,
    the_change_feed_names_what_changed,
    another_process_sees_changes,
    quota_reservations_never_exceed_the_limit,
    rate_grants_add_up_and_expire,
    calls_aggregate_in_the_database,
    the_audit_log_keeps_entries,
    tool_prefixes_are_unique_within_a_product,
    member_sessions_have_one_writer_and_end_together,
);
