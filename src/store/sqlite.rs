//! The embedded store: SQLite through sqlx. Writes run in `BEGIN IMMEDIATE`
//! transactions, so the compare-and-set and the referential checks see the
//! same state the write lands on.

use super::{CallQuery, KeyHashes, ListQuery, Precondition, Put, QuotaCounter, Record, Store, StoreError, Written};
use crate::model::calls::{CallRecord, CallStatus};
use crate::model::{Key, Kind, ProductSpec, Reason, SubscriptionState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqliteConnection, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
}

/// Where a kind lives: its table, the column holding the parent's name, and
/// the column holding its own name.
struct Table {
    name: &'static str,
    parent: Option<&'static str>,
    name_col: &'static str,
}

fn table(kind: Kind) -> Table {
    match kind {
        Kind::Server => Table { name: "servers", parent: None, name_col: "name" },
        Kind::Version => Table { name: "versions", parent: Some("server"), name_col: "name" },
        Kind::Product => Table { name: "products", parent: None, name_col: "name" },
        Kind::ProductServer => Table { name: "product_servers", parent: Some("product"), name_col: "server" },
        Kind::Subscription => Table { name: "subscriptions", parent: None, name_col: "name" },
    }
}

impl Table {
    fn select(&self) -> String {
        let parent = self.parent.unwrap_or("''");
        format!("SELECT {parent} AS parent, {name} AS name, body, etag, created_at, updated_at FROM {table}", name = self.name_col, table = self.name)
    }

    /// `WHERE` clause selecting one row by key, binding parent (if any) then name.
    fn by_key(&self) -> String {
        match self.parent {
            Some(parent) => format!("WHERE {parent} = ? AND {} = ?", self.name_col),
            None => format!("WHERE {} = ?", self.name_col),
        }
    }
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(url)?.create_if_missing(true).foreign_keys(true).busy_timeout(Duration::from_secs(10));
        if !in_memory {
            options = options.journal_mode(SqliteJournalMode::Wal);
        }
        // An in-memory database lives and dies with its one connection.
        let pool_options = if in_memory {
            SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(8)
        };
        let pool = pool_options.connect_with(options).await?;
        Migrator::new(EmbeddedMigrations).await?.run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The schema, compiled into the binary: `(version, description, sql)` for
/// each file of `migrations/sqlite/`, in order (a test keeps the two equal).
/// sqlx's `migrate!` macro would build this list, at the price of compiling
/// sqlx's macros and, for the host, a second SQLite.
const MIGRATIONS: [(i64, &str, &str); 3] = [
    (1, "resources", include_str!("../../migrations/sqlite/0001_resources.sql")),
    (2, "quota counters", include_str!("../../migrations/sqlite/0002_quota_counters.sql")),
    (3, "calls", include_str!("../../migrations/sqlite/0003_calls.sql")),
];

#[derive(Debug)]
struct EmbeddedMigrations;

impl MigrationSource<'static> for EmbeddedMigrations {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| Migration::new(version, description.into(), MigrationType::Simple, sql.into(), false))
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

fn record(kind: Kind, row: &SqliteRow) -> Result<Record, StoreError> {
    let body: String = row.try_get("body")?;
    let body = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Record {
        key: Key { kind, parent: row.try_get("parent")?, name: row.try_get("name")? },
        body,
        etag: row.try_get("etag")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn fetch(conn: &mut SqliteConnection, key: &Key) -> Result<Option<Record>, StoreError> {
    let t = table(key.kind);
    let sql = format!("{} {}", t.select(), t.by_key());
    let mut query = sqlx::query(&sql);
    if t.parent.is_some() {
        query = query.bind(&key.parent);
    }
    let row = query.bind(&key.name).fetch_optional(&mut *conn).await?;
    row.map(|r| record(key.kind, &r)).transpose()
}

async fn exists(conn: &mut SqliteConnection, key: &Key) -> Result<bool, StoreError> {
    Ok(fetch(conn, key).await?.is_some())
}

/// The references a write of `put` relies on, checked in its transaction.
async fn check_references(conn: &mut SqliteConnection, put: &Put, creating: bool) -> Result<(), StoreError> {
    let key = &put.key;
    match key.kind {
        Kind::Version => require(conn, "server", Key::top(Kind::Server, &key.parent), true).await,
        Kind::ProductServer => {
            require(conn, "product", Key::top(Kind::Product, &key.parent), true).await?;
            require(conn, "server", Key::top(Kind::Server, &key.name), true).await?;
            let versions = put.body.get("versions").and_then(|v| v.as_array()).cloned().unwrap_or_default();
            for (i, version) in versions.iter().enumerate() {
                let version = version.as_str().unwrap_or_default();
                if !exists(conn, &Key::child(Kind::Version, &key.name, version)).await? {
                    let reason = Reason::UnknownVersion { server: key.name.clone(), version: version.to_string() };
                    return Err(StoreError::Invalid { field: format!("versions[{i}]"), reason });
                }
            }
            Ok(())
        }
        Kind::Subscription => {
            let product = put.body.get("product").and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let product_key = Key::top(Kind::Product, &product);
            let Some(product_record) = fetch(conn, &product_key).await? else {
                return Err(StoreError::MissingReference { field: "product", missing: product_key, in_path: false });
            };
            if creating {
                check_subscriptions_limit(conn, &product, &product_record).await?;
            }
            Ok(())
        }
        Kind::Server | Kind::Product => Ok(()),
    }
}

async fn require(conn: &mut SqliteConnection, field: &'static str, key: Key, in_path: bool) -> Result<(), StoreError> {
    if exists(conn, &key).await? {
        Ok(())
    } else {
        Err(StoreError::MissingReference { field, missing: key, in_path })
    }
}

async fn check_subscriptions_limit(conn: &mut SqliteConnection, product: &str, record: &Record) -> Result<(), StoreError> {
    let spec: ProductSpec = serde_json::from_value(record.body.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let Some(limit) = spec.subscriptions_limit else { return Ok(()) };
    let rows =
        sqlx::query("SELECT json_extract(body, '$.state') AS state FROM subscriptions WHERE product = ?").bind(product).fetch_all(&mut *conn).await?;
    let mut live = 0u64;
    for row in rows {
        let state: Option<String> = row.try_get("state")?;
        let state: Option<SubscriptionState> = state.and_then(|s| serde_json::from_value(s.into()).ok());
        if state.is_some_and(SubscriptionState::is_live) {
            live += 1;
        }
    }
    if live >= u64::try_from(limit).unwrap_or(0) {
        return Err(StoreError::SubscriptionsLimit { product: product.to_string(), limit });
    }
    Ok(())
}

async fn stored_key_hashes(conn: &mut SqliteConnection, name: &str) -> Result<Option<KeyHashes>, StoreError> {
    let row =
        sqlx::query("SELECT primary_key_hash, secondary_key_hash FROM subscriptions WHERE name = ?").bind(name).fetch_optional(&mut *conn).await?;
    row.map(|r| Ok(KeyHashes { primary: r.try_get("primary_key_hash")?, secondary: r.try_get("secondary_key_hash")? })).transpose()
}

async fn write_row(
    conn: &mut SqliteConnection,
    put: &Put,
    body: &str,
    etag: &str,
    hashes: Option<&KeyHashes>,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let key = &put.key;
    let t = table(key.kind);
    let (sql, extra): (String, Vec<String>) = match (key.kind, hashes) {
        (Kind::Subscription, Some(h)) => (
            "INSERT INTO subscriptions (name, body, etag, created_at, updated_at, product, primary_key_hash, secondary_key_hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body, etag = excluded.etag, \
             updated_at = excluded.updated_at, primary_key_hash = excluded.primary_key_hash, \
             secondary_key_hash = excluded.secondary_key_hash"
                .to_string(),
            vec![put.body.get("product").and_then(|v| v.as_str()).unwrap_or_default().to_string(), h.primary.clone(), h.secondary.clone()],
        ),
        (Kind::Subscription, None) => return Err(StoreError::Corrupt(format!("{key} has no key hashes"))),
        _ => {
            let (cols, conflict) = match t.parent {
                Some(parent) => (format!("{parent}, {}", t.name_col), format!("{parent}, {}", t.name_col)),
                None => (t.name_col.to_string(), t.name_col.to_string()),
            };
            let placeholders = if t.parent.is_some() { "?, ?" } else { "?" };
            (
                format!(
                    "INSERT INTO {table} ({cols}, body, etag, created_at, updated_at) VALUES ({placeholders}, ?, ?, ?, ?) \
                     ON CONFLICT ({conflict}) DO UPDATE SET body = excluded.body, etag = excluded.etag, updated_at = excluded.updated_at",
                    table = t.name
                ),
                Vec::new(),
            )
        }
    };
    let mut query = sqlx::query(&sql);
    if key.kind != Kind::Subscription && t.parent.is_some() {
        query = query.bind(&key.parent);
    }
    query = query.bind(&key.name).bind(body).bind(etag).bind(created_at).bind(now);
    for value in extra {
        query = query.bind(value);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

async fn names(conn: &mut SqliteConnection, sql: &str, arg: String) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(sql).bind(arg).fetch_all(&mut *conn).await?;
    Ok(rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<Vec<String>, _>>()?)
}

/// Paths of the resources that refer to `key` and block its deletion.
async fn referrers(conn: &mut SqliteConnection, key: &Key) -> Result<Vec<Key>, StoreError> {
    let mut found = Vec::new();
    match key.kind {
        Kind::Server => {
            for v in names(conn, "SELECT name FROM versions WHERE server = ? ORDER BY name", key.name.clone()).await? {
                found.push(Key::child(Kind::Version, &key.name, v));
            }
            for p in names(conn, "SELECT product FROM product_servers WHERE server = ? ORDER BY product", key.name.clone()).await? {
                found.push(Key::child(Kind::ProductServer, p, &key.name));
            }
        }
        Kind::Product => {
            for s in names(conn, "SELECT server FROM product_servers WHERE product = ? ORDER BY server", key.name.clone()).await? {
                found.push(Key::child(Kind::ProductServer, &key.name, s));
            }
            for s in names(conn, "SELECT name FROM subscriptions WHERE product = ? ORDER BY name", key.name.clone()).await? {
                found.push(Key::top(Kind::Subscription, s));
            }
        }
        Kind::Version => {
            let rows = sqlx::query(
                "SELECT product FROM product_servers WHERE server = ? AND EXISTS \
                 (SELECT 1 FROM json_each(product_servers.body, '$.versions') WHERE value = ?) ORDER BY product",
            )
            .bind(&key.parent)
            .bind(&key.name)
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                found.push(Key::child(Kind::ProductServer, row.try_get::<String, _>(0)?, &key.parent));
            }
        }
        Kind::ProductServer | Kind::Subscription => {}
    }
    Ok(found)
}

async fn delete_row(conn: &mut SqliteConnection, key: &Key) -> Result<(), StoreError> {
    let t = table(key.kind);
    let sql = format!("DELETE FROM {} {}", t.name, t.by_key());
    let mut query = sqlx::query(&sql);
    if t.parent.is_some() {
        query = query.bind(&key.parent);
    }
    query.bind(&key.name).execute(&mut *conn).await?;
    Ok(())
}

/// Removes a deleted version from the `versions` list of an association.
async fn drop_version_reference(conn: &mut SqliteConnection, association: &Key, version: &str) -> Result<(), StoreError> {
    let Some(mut record) = fetch(conn, association).await? else { return Ok(()) };
    if let Some(list) = record.body.get_mut("versions").and_then(|v| v.as_array_mut()) {
        list.retain(|v| v.as_str() != Some(version));
    }
    let body = record.body.to_string();
    let etag = super::etag_of(&body, &[]);
    let put = Put { key: association.clone(), body: record.body, precondition: Precondition::None, key_hashes: None };
    write_row(conn, &put, &body, &etag, None, record.created_at, Utc::now()).await
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        fetch(&mut conn, key).await
    }

    async fn list(&self, q: &ListQuery) -> Result<Vec<Record>, StoreError> {
        let t = table(q.kind);
        let mut sql = format!("{} WHERE {} > ?", t.select(), t.name_col);
        if let Some(parent) = t.parent {
            sql.push_str(&format!(" AND {parent} = ?"));
        }
        if q.product.is_some() {
            sql.push_str(" AND product = ?");
        }
        sql.push_str(&format!(" ORDER BY {} LIMIT ?", t.name_col));
        let mut query = sqlx::query(&sql).bind(q.after.clone().unwrap_or_default());
        if t.parent.is_some() {
            query = query.bind(&q.parent);
        }
        if let Some(product) = &q.product {
            query = query.bind(product);
        }
        let rows = query.bind(i64::from(q.limit)).fetch_all(&self.pool).await?;
        rows.iter().map(|row| record(q.kind, row)).collect()
    }

    async fn put(&self, put: Put) -> Result<Written, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let current = fetch(&mut tx, &put.key).await?;
        put.precondition.check(&put.key, current.as_ref())?;
        check_references(&mut tx, &put, current.is_none()).await?;
        let hashes = match (&put.key_hashes, put.key.kind) {
            (Some(h), _) => Some(h.clone()),
            (None, Kind::Subscription) => stored_key_hashes(&mut tx, &put.key.name).await?,
            (None, _) => None,
        };
        let body = put.body.to_string();
        let etag = match &hashes {
            Some(h) => super::etag_of(&body, &[&h.primary, &h.secondary]),
            None => super::etag_of(&body, &[]),
        };
        if let Some(current) = current.as_ref().filter(|c| c.etag == etag) {
            return Ok(Written { record: current.clone(), created: false });
        }
        let now = Utc::now();
        let created_at = current.as_ref().map_or(now, |c| c.created_at);
        write_row(&mut tx, &put, &body, &etag, hashes.as_ref(), created_at, now).await?;
        tx.commit().await?;
        let record = Record { key: put.key, body: put.body, etag, created_at, updated_at: now };
        Ok(Written { record, created: current.is_none() })
    }

    async fn delete(&self, key: &Key, precondition: &Precondition, cascade: bool) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(current) = fetch(&mut tx, key).await? else {
            return Err(StoreError::NotFound(key.clone()));
        };
        precondition.check(key, Some(&current))?;
        let blocking = referrers(&mut tx, key).await?;
        if !blocking.is_empty() && !cascade {
            return Err(StoreError::StillReferenced { key: key.clone(), by: blocking.iter().map(Key::path).collect() });
        }
        for referrer in &blocking {
            if key.kind == Kind::Version {
                drop_version_reference(&mut tx, referrer, &key.name).await?;
            } else {
                delete_row(&mut tx, referrer).await?;
            }
        }
        delete_row(&mut tx, key).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn key_hashes(&self, subscription: &str) -> Result<Option<KeyHashes>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        stored_key_hashes(&mut conn, subscription).await
    }

    async fn subscription_by_key_hash(&self, hash: &str) -> Result<Option<Record>, StoreError> {
        let sql = format!("{} WHERE primary_key_hash = ? OR secondary_key_hash = ?", table(Kind::Subscription).select());
        let row = sqlx::query(&sql).bind(hash).bind(hash).fetch_optional(&self.pool).await?;
        row.map(|r| record(Kind::Subscription, &r)).transpose()
    }

    async fn subscription_keys(&self) -> Result<Vec<(String, KeyHashes)>, StoreError> {
        let rows = sqlx::query("SELECT name, primary_key_hash, secondary_key_hash FROM subscriptions").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let hashes = KeyHashes { primary: r.try_get("primary_key_hash")?, secondary: r.try_get("secondary_key_hash")? };
                Ok((r.try_get("name")?, hashes))
            })
            .collect()
    }

    async fn load_quota_counters(&self) -> Result<Vec<QuotaCounter>, StoreError> {
        let rows = sqlx::query("SELECT subscription, window_start, count FROM quota_counters").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(QuotaCounter { subscription: r.try_get("subscription")?, window_start: r.try_get("window_start")?, count: r.try_get("count")? })
            })
            .collect()
    }

    async fn save_quota_counters(&self, counters: &[QuotaCounter]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for counter in counters {
            sqlx::query(
                "INSERT INTO quota_counters (subscription, window_start, count) VALUES (?, ?, ?) \
                 ON CONFLICT (subscription) DO UPDATE SET window_start = excluded.window_start, count = excluded.count",
            )
            .bind(&counter.subscription)
            .bind(counter.window_start)
            .bind(counter.count)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_all(&self, kind: Kind) -> Result<Vec<Record>, StoreError> {
        let t = table(kind);
        let sql = format!("{} ORDER BY {}{}", t.select(), t.parent.map(|p| format!("{p}, ")).unwrap_or_default(), t.name_col);
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(|row| record(kind, row)).collect()
    }

    async fn insert_calls(&self, calls: &[CallRecord]) -> Result<(), StoreError> {
        // One multi-row statement per chunk: SQLite's driver runs on its own
        // thread, so statements, not rows, are what cost.
        const COLUMNS: usize = 16;
        const ROWS_PER_STATEMENT: usize = 200;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in calls.chunks(ROWS_PER_STATEMENT) {
            let row = format!("({})", vec!["?"; COLUMNS].join(", "));
            let sql = format!(
                "INSERT INTO calls (time, subscription, product, server, version, tool, client_name, client_version, session_id, \
                 duration_ms, status, error_type, error_message, arguments, result, cost) VALUES {}",
                vec![row; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(&sql);
            for call in chunk {
                query = query
                    .bind(call.time)
                    .bind(&call.subscription)
                    .bind(&call.product)
                    .bind(&call.server)
                    .bind(&call.version)
                    .bind(&call.tool)
                    .bind(&call.client_name)
                    .bind(&call.client_version)
                    .bind(&call.session_id)
                    .bind(call.duration_ms)
                    .bind(call.status.as_str())
                    .bind(&call.error_type)
                    .bind(&call.error_message)
                    .bind(&call.arguments)
                    .bind(&call.result)
                    .bind(call.cost);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn prune_calls(&self, older_than: chrono::DateTime<Utc>, keep: u64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let aged = sqlx::query("DELETE FROM calls WHERE time < ?").bind(older_than).execute(&mut *tx).await?.rows_affected();
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let surplus = sqlx::query("DELETE FROM calls WHERE id <= (SELECT id FROM calls ORDER BY id DESC LIMIT 1 OFFSET ?)")
            .bind(keep)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(aged + surplus)
    }

    async fn find_calls(&self, query: &CallQuery) -> Result<Vec<CallRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT time, subscription, product, server, version, tool, client_name, client_version, session_id, duration_ms, \
             status, error_type, error_message, arguments, result, cost FROM calls WHERE 1 = 1",
        );
        let mut text_filters: Vec<String> = Vec::new();
        for (column, value) in [("server", &query.server), ("tool", &query.tool), ("session_id", &query.session_id)] {
            if let Some(value) = value {
                sql.push_str(&format!(" AND {column} = ?"));
                text_filters.push(value.clone());
            }
        }
        if let Some(status) = query.status {
            sql.push_str(" AND status = ?");
            text_filters.push(status.as_str().to_string());
        }
        if query.from.is_some() {
            sql.push_str(" AND time >= ?");
        }
        if query.to.is_some() {
            sql.push_str(" AND time < ?");
        }
        sql.push_str(" ORDER BY id DESC");
        if query.limit.is_some() {
            sql.push_str(" LIMIT ?");
        }
        let mut q = sqlx::query(&sql);
        for value in &text_filters {
            q = q.bind(value);
        }
        if let Some(from) = query.from {
            q = q.bind(from);
        }
        if let Some(to) = query.to {
            q = q.bind(to);
        }
        if let Some(limit) = query.limit {
            q = q.bind(i64::from(limit));
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                Ok(CallRecord {
                    time: r.try_get("time")?,
                    subscription: r.try_get("subscription")?,
                    product: r.try_get("product")?,
                    server: r.try_get("server")?,
                    version: r.try_get("version")?,
                    tool: r.try_get("tool")?,
                    client_name: r.try_get("client_name")?,
                    client_version: r.try_get("client_version")?,
                    session_id: r.try_get("session_id")?,
                    duration_ms: r.try_get("duration_ms")?,
                    status: if status == "ok" { CallStatus::Ok } else { CallStatus::Error },
                    error_type: r.try_get("error_type")?,
                    error_message: r.try_get("error_message")?,
                    arguments: r.try_get("arguments")?,
                    result: r.try_get("result")?,
                    cost: r.try_get("cost")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use std::path::Path;

    /// `MIGRATIONS` names every file of `migrations/sqlite/`, with the
    /// version and description sqlx derives from `<VERSION>_<DESCRIPTION>.sql`,
    /// so databases migrated by `migrate!` keep validating.
    #[test]
    fn embedded_migrations_are_the_migrations_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut on_disk: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
            .expect("migrations/sqlite is readable")
            .map(|entry| {
                let path = entry.expect("directory entry").path();
                let stem = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name").to_string();
                let (version, description) = stem.split_once('_').expect("<VERSION>_<DESCRIPTION>.sql");
                let sql = std::fs::read_to_string(&path).expect("readable migration");
                (version.parse().expect("numeric version"), description.replace('_', " "), sql)
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<(i64, String, String)> = MIGRATIONS.iter().map(|&(v, d, s)| (v, d.to_string(), s.to_string())).collect();
        assert_eq!(embedded, on_disk);
    }
}
