//! The backend for both SQL engines. Statements are written once, with `?`
//! placeholders (numbered for PostgreSQL), and run through [`with_pool!`]
//! or [`with_tx!`], which expand the same code for each engine's types.
//! What differs between engines (opening, migrations, the write lock,
//! notifications) lives in `sqlite.rs` and `postgres.rs`.

use super::backend::{hour_of, split, Backend, ChangesPage, Referring, Row, StoredKeys, WriteTx};
use super::changes::WeakWaker;
use super::{AnalyticsQuery, AuditEntry, CallQuery, HourlyColumn, HourlyCount, ListQuery, MemberSession, RateGrant, StoreError};
use crate::model::calls::{latency_bucket, CallRecord, CallStatus, GroupBy, GroupCount, BUCKETS};
use crate::model::{Key, Kind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Row as _, Sqlite, SqlitePool};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Clone)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the engine's pool.
macro_rules! with_pool {
    ($backend:expr, |$pool:ident| $body:expr) => {
        match &$backend.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the transaction's connection.
macro_rules! with_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match &mut $tx.inner {
            Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

/// A resource row from a query selecting `parent, name, body, etag,
/// created_at, updated_at` (and, for subscriptions, the key columns).
macro_rules! decode_row {
    ($kind:expr, $row:expr) => {{
        let row = $row;
        let kind: Kind = $kind;
        let body: String = row.try_get("body")?;
        let keys = if kind == Kind::Subscription {
            Some(StoredKeys {
                primary_hash: row.try_get("primary_key_hash")?,
                secondary_hash: row.try_get("secondary_key_hash")?,
                sealed: row.try_get("sealed_keys")?,
            })
        } else {
            None
        };
        Ok::<Row, StoreError>(Row {
            key: Key { kind, parent: row.try_get("parent")?, name: row.try_get("name")? },
            body: serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            etag: row.try_get("etag")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            keys,
        })
    }};
}

macro_rules! decode_call {
    ($row:expr) => {{
        let r = $row;
        let status: String = r.try_get("status")?;
        Ok::<CallRecord, StoreError>(CallRecord {
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
            trace_id: r.try_get("trace_id")?,
            policy_rule: r.try_get("policy_rule")?,
            endpoint: r.try_get("endpoint")?,
            awaits_input: r.try_get("awaits_input")?,
            continues: r.try_get("continues")?,
            tool_refused: false,
        })
    }};
}

/// A `member_sessions` row.
macro_rules! decode_member {
    ($row:expr) => {{
        let r = &$row;
        Ok::<MemberSession, StoreError>(MemberSession {
            session: r.try_get("session")?,
            server: r.try_get("server")?,
            version: r.try_get("version")?,
            upstream: r.try_get("upstream")?,
            protocol: r.try_get("protocol")?,
            created_at: r.try_get("created_at")?,
        })
    }};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

/// A schema compiled into the binary: `(version, description, sql)` per
/// migration file, in order. sqlx's `migrate!` macro would build this
/// list, at the price of compiling sqlx's macros and, for the host, a
/// second SQLite.
#[derive(Debug)]
pub(super) struct Embedded(pub &'static [(i64, &'static str, &'static str)]);

impl sqlx::migrate::MigrationSource<'static> for Embedded {
    fn resolve(self) -> futures::future::BoxFuture<'static, Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>> {
        use sqlx::migrate::{Migration, MigrationType};
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| Migration::new(version, description.into(), MigrationType::Simple, sql.into(), false))
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// `?` placeholders as the engine wants them.
fn placeholders(dialect: Dialect, sql: &str) -> Cow<'_, str> {
    if dialect == Dialect::Sqlite {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
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
        Kind::AuthorizationServer => Table { name: "authorization_servers", parent: None, name_col: "name" },
        Kind::PortalUser => Table { name: "portal_users", parent: None, name_col: "name" },
    }
}

impl Table {
    fn select(&self, kind: Kind) -> String {
        let parent = self.parent.unwrap_or("''");
        let keys = if kind == Kind::Subscription { ", primary_key_hash, secondary_key_hash, sealed_keys" } else { "" };
        format!(
            "SELECT {parent} AS parent, {name} AS name, body, etag, created_at, updated_at{keys} FROM {table}",
            name = self.name_col,
            table = self.name
        )
    }

    /// `WHERE` clause selecting one row by key, binding parent (if any) then name.
    fn by_key(&self) -> String {
        match self.parent {
            Some(parent) => format!("WHERE {parent} = ? AND {} = ?", self.name_col),
            None => format!("WHERE {} = ?", self.name_col),
        }
    }

    fn order(&self) -> String {
        match self.parent {
            Some(parent) => format!("ORDER BY {parent}, {}", self.name_col),
            None => format!("ORDER BY {}", self.name_col),
        }
    }
}

/// The key columns and values of a row, in the order its table lists them.
fn key_columns(row: &Row) -> (Vec<&'static str>, Vec<String>) {
    let t = table(row.key.kind);
    let mut columns = Vec::new();
    let mut values = Vec::new();
    if let Some(parent) = t.parent {
        columns.push(parent);
        values.push(row.key.parent.clone());
    }
    columns.push(t.name_col);
    values.push(row.key.name.clone());
    // Reference columns, copied from the body so deletes can find referrers.
    let reference = match row.key.kind {
        Kind::Subscription => Some("product"),
        Kind::Product => Some("authorization_server"),
        _ => None,
    };
    if let Some(column) = reference {
        columns.push(column);
        values.push(row.body.get(column).and_then(|v| v.as_str()).unwrap_or_default().to_string());
    }
    (columns, values)
}

pub(super) struct SqlBackend {
    pub(super) pool: Pool,
    pub(super) dialect: Dialect,
}

pub(super) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

pub(super) struct SqlTx {
    pub(super) inner: Tx,
    pub(super) dialect: Dialect,
}

impl SqlTx {
    fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        placeholders(self.dialect, sql)
    }
}

#[async_trait]
impl WriteTx for SqlTx {
    async fn get(&mut self, key: &Key) -> Result<Option<Row>, StoreError> {
        let t = table(key.kind);
        let sql = self.sql(&format!("{} {}", t.select(key.kind), t.by_key())).into_owned();
        let (parent, name) = (key.parent.clone(), key.name.clone());
        with_tx!(self, |conn| {
            let mut query = sqlx::query(&sql);
            if t.parent.is_some() {
                query = query.bind(parent);
            }
            let row = query.bind(name).fetch_optional(&mut *conn).await?;
            row.map(|r| decode_row!(key.kind, r)).transpose()
        })
    }

    async fn referring(&mut self, referring: Referring, name: &str) -> Result<Vec<Row>, StoreError> {
        let kind = referring.kind();
        let t = table(kind);
        let sql = self.sql(&format!("{} WHERE {} = ? {}", t.select(kind), referring.column(), t.order())).into_owned();
        let name = name.to_string();
        with_tx!(self, |conn| {
            let rows = sqlx::query(&sql).bind(name).fetch_all(&mut *conn).await?;
            rows.into_iter().map(|r| decode_row!(kind, r)).collect()
        })
    }

    async fn upsert(&mut self, row: &Row) -> Result<(), StoreError> {
        let t = table(row.key.kind);
        let (mut columns, values) = key_columns(row);
        let conflict = match t.parent {
            Some(parent) => format!("{parent}, {}", t.name_col),
            None => t.name_col.to_string(),
        };
        columns.extend(["body", "etag", "created_at", "updated_at"]);
        let mut updates = vec!["body = excluded.body", "etag = excluded.etag", "updated_at = excluded.updated_at"];
        if row.key.kind == Kind::Product {
            updates.push("authorization_server = excluded.authorization_server");
        }
        if row.key.kind == Kind::Subscription {
            columns.extend(["primary_key_hash", "secondary_key_hash", "sealed_keys"]);
            updates.extend([
                "primary_key_hash = excluded.primary_key_hash",
                "secondary_key_hash = excluded.secondary_key_hash",
                "sealed_keys = excluded.sealed_keys",
            ]);
        }
        let sql = self
            .sql(&format!(
                "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({conflict}) DO UPDATE SET {}",
                t.name,
                columns.join(", "),
                vec!["?"; columns.len()].join(", "),
                updates.join(", ")
            ))
            .into_owned();
        let body = row.body.to_string();
        with_tx!(self, |conn| {
            let mut query = sqlx::query(&sql);
            for value in &values {
                query = query.bind(value.clone());
            }
            query = query.bind(body.clone()).bind(row.etag.clone()).bind(row.created_at).bind(row.updated_at);
            if let Some(keys) = &row.keys {
                query = query.bind(keys.primary_hash.clone()).bind(keys.secondary_hash.clone()).bind(keys.sealed.clone());
            }
            query.execute(&mut *conn).await?;
            Ok(())
        })
    }

    async fn delete(&mut self, key: &Key) -> Result<(), StoreError> {
        let t = table(key.kind);
        let sql = self.sql(&format!("DELETE FROM {} {}", t.name, t.by_key())).into_owned();
        let (parent, name) = (key.parent.clone(), key.name.clone());
        with_tx!(self, |conn| {
            let mut query = sqlx::query(&sql);
            if t.parent.is_some() {
                query = query.bind(parent);
            }
            query.bind(name).execute(&mut *conn).await?;
            Ok(())
        })
    }

    async fn log_change(&mut self, key: &Key) -> Result<i64, StoreError> {
        let sql = self.sql("INSERT INTO changes (kind, parent, name) VALUES (?, ?, ?) RETURNING id").into_owned();
        let (kind, parent, name) = (key.kind.code(), key.parent.clone(), key.name.clone());
        let id: i64 = with_tx!(self, |conn| sqlx::query(&sql).bind(kind).bind(parent).bind(name).fetch_one(&mut *conn).await?.try_get(0)?);
        if let Tx::Postgres(tx) = &mut self.inner {
            // Delivered at commit, to every process that listens.
            sqlx::query("SELECT pg_notify('mcpgate_changes', $1)").bind(id.to_string()).execute(&mut **tx).await?;
        }
        Ok(id)
    }

    async fn prune_changes(&mut self, through: i64) -> Result<(), StoreError> {
        let delete = self.sql("DELETE FROM changes WHERE id <= ?").into_owned();
        let remember = self.sql("UPDATE store_meta SET value = ? WHERE name = 'changes_pruned_through'").into_owned();
        with_tx!(self, |conn| {
            sqlx::query(&delete).bind(through).execute(&mut *conn).await?;
            sqlx::query(&remember).bind(through).execute(&mut *conn).await?;
            Ok(())
        })
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        match self.inner {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// A rollup "cube": the dimensions one family of rollup rows keeps (the
/// others hold ''). Each analytics query reads the one cube that has its
/// group and filters, so its cost follows the cardinality of what it asks
/// about (hours × tools, say), not the number of calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cube {
    /// server, version, product, tool: grouping by tool, version or product.
    Service,
    /// server, product, subscription: grouping by subscription.
    Subscribers,
    /// server, client: grouping by client.
    Clients,
    /// subscription, server, version, product, tool: one subscription's
    /// calls by tool, version or product (read through its index).
    SubscriptionTools,
    /// subscription, server, client: one subscription's calls by client.
    SubscriptionClients,
    /// server, product, subscription, endpoint: grouping by endpoint, of
    /// every subscription or one.
    Endpoints,
}

impl Cube {
    const ALL: [Cube; 6] = [Cube::Service, Cube::Subscribers, Cube::Clients, Cube::SubscriptionTools, Cube::SubscriptionClients, Cube::Endpoints];

    fn code(self) -> &'static str {
        match self {
            Cube::Service => "service",
            Cube::Subscribers => "subscribers",
            Cube::Clients => "clients",
            Cube::SubscriptionTools => "subscription_tools",
            Cube::SubscriptionClients => "subscription_clients",
            Cube::Endpoints => "endpoints",
        }
    }

    /// The cube that answers a query grouped by `group_by`, filtered (or not) by subscription.
    fn answering(group_by: GroupBy, by_subscription: bool) -> Cube {
        match (by_subscription, group_by) {
            (_, GroupBy::Endpoint) => Cube::Endpoints,
            (true, GroupBy::Client) => Cube::SubscriptionClients,
            (true, _) => Cube::SubscriptionTools,
            (false, GroupBy::Subscription) => Cube::Subscribers,
            (false, GroupBy::Client) => Cube::Clients,
            (false, GroupBy::Tool | GroupBy::Version | GroupBy::Product) => Cube::Service,
        }
    }

    /// The key of a group of calls (all their dimensions) in this cube.
    fn key(self, group: Dimensions<'_>) -> RollupKey<'_> {
        let keep = |kept: bool, value| if kept { value } else { "" };
        let (version, product, subscription, tool, client, endpoint) = match self {
            Cube::Service => (true, true, false, true, false, false),
            Cube::Subscribers => (false, true, true, false, false, false),
            Cube::Clients => (false, false, false, false, true, false),
            Cube::SubscriptionTools => (true, true, true, true, false, false),
            Cube::SubscriptionClients => (false, false, true, false, true, false),
            Cube::Endpoints => (false, true, true, false, false, true),
        };
        RollupKey {
            cube: self,
            dimensions: Dimensions {
                hour: group.hour,
                server: group.server,
                version: keep(version, group.version),
                product: keep(product, group.product),
                subscription: keep(subscription, group.subscription),
                tool: keep(tool, group.tool),
                client_name: keep(client, group.client_name),
                endpoint: keep(endpoint, group.endpoint),
            },
        }
    }
}

/// What calls are grouped by: the hour and every dimension a cube may keep
/// (borrowed from the calls: a batch's keys are not copied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Dimensions<'a> {
    hour: DateTime<Utc>,
    server: &'a str,
    version: &'a str,
    product: &'a str,
    subscription: &'a str,
    tool: &'a str,
    client_name: &'a str,
    endpoint: &'a str,
}

impl Dimensions<'_> {
    fn of(call: &CallRecord) -> Dimensions<'_> {
        Dimensions {
            hour: hour_of(call.time),
            server: &call.server,
            version: &call.version,
            product: &call.product,
            subscription: call.subscription.as_deref().unwrap_or_default(),
            tool: call.tool_group(),
            client_name: call.client_name.as_deref().unwrap_or_default(),
            endpoint: call.endpoint.as_deref().unwrap_or_default(),
        }
    }
}

/// A rollup row's key: its cube, and the dimensions the cube keeps (the
/// others empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RollupKey<'a> {
    cube: Cube,
    dimensions: Dimensions<'a>,
}

#[derive(Debug, Clone, Copy)]
struct RollupSums {
    calls: i64,
    errors: i64,
    cost: f64,
    histogram: [i64; BUCKETS],
}

impl RollupSums {
    const ZERO: RollupSums = RollupSums { calls: 0, errors: 0, cost: 0.0, histogram: [0; BUCKETS] };

    fn add_call(&mut self, call: &CallRecord) {
        self.calls += 1;
        self.errors += i64::from(call.status == CallStatus::Error);
        self.cost += call.cost;
        self.histogram[latency_bucket(call.duration_ms)] += 1;
    }

    fn add(&mut self, other: &RollupSums) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.cost += other.cost;
        for (sum, count) in self.histogram.iter_mut().zip(other.histogram) {
            *sum += count;
        }
    }
}

/// The call log's inserts are multi-row statements: statements, not rows,
/// are what cost. Their sizes come from a short ladder, so a batch of any
/// size reuses statements already prepared (each distinct text is parsed
/// once per connection and kept in sqlx's statement cache). At most 40
/// rows: SQLite copies each bound text, and a statement's ~400 fit its
/// connection's lookaside slots (`.cargo/config.toml`); 200-row statements
/// took every copy from malloc.
const CALL_ROWS: [usize; 3] = [40, 8, 1];
/// A rollup row binds 91 values; a statement stays under SQLite's and PostgreSQL's limits.
const ROLLUP_ROWS: [usize; 4] = [100, 20, 4, 1];

/// The text of every insert statement of the ladders, in one dialect,
/// built once per process.
struct InsertStatements {
    calls: Vec<(usize, String)>,
    rollups: Vec<(usize, String)>,
}

impl InsertStatements {
    fn of(dialect: Dialect) -> &'static InsertStatements {
        static SQLITE: OnceLock<InsertStatements> = OnceLock::new();
        static POSTGRES: OnceLock<InsertStatements> = OnceLock::new();
        let built = match dialect {
            Dialect::Sqlite => &SQLITE,
            Dialect::Postgres => &POSTGRES,
        };
        built.get_or_init(|| InsertStatements::build(dialect))
    }

    fn build(dialect: Dialect) -> InsertStatements {
        let call_row = format!("({})", ["?"; 22].join(", "));
        let rollup_row = format!("({})", vec!["?"; 12 + BUCKETS].join(", "));
        let calls = CALL_ROWS.iter().map(|&rows| {
            let sql = format!("INSERT INTO calls ({CALL_COLUMNS}, bucket) VALUES {}", vec![call_row.as_str(); rows].join(", "));
            (rows, placeholders(dialect, &sql).into_owned())
        });
        let rollups = ROLLUP_ROWS.iter().map(|&rows| {
            let sql = format!(
                "INSERT INTO call_rollups (cube, hour, server, version, product, subscription, tool, client_name, endpoint, calls, errors, cost, {}) \
                 VALUES {} ON CONFLICT (cube, hour, server, version, product, subscription, tool, client_name, endpoint) DO UPDATE SET \
                 calls = call_rollups.calls + excluded.calls, errors = call_rollups.errors + excluded.errors, cost = call_rollups.cost + excluded.cost, {}",
                bucket_columns(|i| format!("b{i}")),
                vec![rollup_row.as_str(); rows].join(", "),
                bucket_columns(|i| format!("b{i} = call_rollups.b{i} + excluded.b{i}"))
            );
            (rows, placeholders(dialect, &sql).into_owned())
        });
        InsertStatements { calls: calls.collect(), rollups: rollups.collect() }
    }

    fn calls(&self, rows: usize) -> &str {
        Self::sized(&self.calls, rows)
    }

    fn rollups(&self, rows: usize) -> &str {
        Self::sized(&self.rollups, rows)
    }

    /// `ladder_sizes` gives only the ladder's sizes.
    fn sized(statements: &[(usize, String)], rows: usize) -> &str {
        statements.iter().find(|(size, _)| *size == rows).map_or("", |(_, sql)| sql.as_str())
    }
}

/// The sizes of the chunks `count` items are cut into, greedily, from
/// `sizes` (largest first, ending with 1).
fn ladder_sizes(mut count: usize, sizes: &[usize]) -> Vec<usize> {
    let mut chunks = Vec::new();
    for &size in sizes {
        while count >= size {
            chunks.push(size);
            count -= size;
        }
    }
    chunks
}

/// `items` cut into chunks of the ladder's sizes (`ladder_sizes`).
fn ladder_chunks<'a, T>(items: &'a [T], sizes: &[usize]) -> Vec<&'a [T]> {
    let mut rest = items;
    let cut = |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        chunk
    };
    ladder_sizes(items.len(), sizes).into_iter().map(cut).collect()
}

/// Calls summed per rollup row of every cube, sorted, so concurrent writers
/// lock rows in one order. A batch holds few distinct groups, so calls are
/// summed by all their dimensions first (one lookup a call, not one per
/// cube), then each group into every cube.
fn rollups(calls: &[CallRecord]) -> Vec<(RollupKey<'_>, RollupSums)> {
    let mut groups: BTreeMap<Dimensions, RollupSums> = BTreeMap::new();
    for call in calls {
        groups.entry(Dimensions::of(call)).or_insert(RollupSums::ZERO).add_call(call);
    }
    let mut sums: BTreeMap<RollupKey, RollupSums> = BTreeMap::new();
    for (group, group_sums) in &groups {
        for cube in Cube::ALL {
            sums.entry(cube.key(*group)).or_insert(RollupSums::ZERO).add(group_sums);
        }
    }
    sums.into_iter().collect()
}

/// `b0, b1, …` (with a prefix and suffix around each).
fn bucket_columns(each: impl Fn(usize) -> String) -> String {
    (0..BUCKETS).map(each).collect::<Vec<_>>().join(", ")
}

/// A [`GroupCount`] from a row selecting `width` group columns, then
/// `calls, errors, cost` and the histogram `b0..`.
macro_rules! decode_group_count {
    ($row:expr, $width:expr) => {{
        let r = $row;
        let group = (0..$width).map(|i| r.try_get::<Option<String>, _>(i)).collect::<Result<Vec<_>, _>>()?;
        let cost: Option<f64> = r.try_get("cost")?;
        let mut count = GroupCount {
            calls: u64::try_from(r.try_get::<i64, _>("calls")?).unwrap_or(0),
            errors: u64::try_from(r.try_get::<i64, _>("errors")?).unwrap_or(0),
            cost: cost.unwrap_or(0.0),
            ..GroupCount::new(group)
        };
        for (i, slot) in count.histogram.iter_mut().enumerate() {
            *slot = u64::try_from(r.try_get::<i64, _>(format!("b{i}").as_str())?).unwrap_or(0);
        }
        Ok(count)
    }};
}

const CALL_COLUMNS: &str = "time, subscription, product, server, version, tool, client_name, client_version, session_id, \
     duration_ms, status, error_type, error_message, arguments, result, cost, trace_id, policy_rule, endpoint, awaits_input, continues";

/// Filters of an analytics query, as SQL and the values to bind.
fn analytics_filters(query: &AnalyticsQuery) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    if let Some(server) = &query.server {
        sql.push_str(" AND server = ?");
        values.push(server.clone());
    }
    if let Some(subscription) = &query.subscription {
        sql.push_str(" AND subscription = ?");
        values.push(subscription.clone());
    }
    (sql, values)
}

/// The group-by columns of an analytics query, NULL where the rollups keep ''.
fn group_columns(query: &AnalyticsQuery) -> Vec<String> {
    query.group_by.columns().iter().map(|(_, column)| format!("NULLIF({column}, '')")).collect()
}

impl SqlBackend {
    fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        placeholders(self.dialect, sql)
    }

    async fn rollup_counts(
        &self,
        query: &AnalyticsQuery,
        hours: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    ) -> Result<Vec<GroupCount>, StoreError> {
        let groups = group_columns(query);
        let (filters, values) = analytics_filters(query);
        let cube = Cube::answering(query.group_by, query.subscription.is_some());
        let mut sql = format!(
            "SELECT {g}, CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(errors) AS BIGINT) AS errors, SUM(cost) AS cost, {h} \
             FROM call_rollups WHERE cube = '{cube}'{filters}",
            cube = cube.code(),
            g = groups.iter().enumerate().map(|(i, c)| format!("{c} AS g{i}")).collect::<Vec<_>>().join(", "),
            h = bucket_columns(|i| format!("CAST(SUM(b{i}) AS BIGINT) AS b{i}")),
        );
        if hours.0.is_some() {
            sql.push_str(" AND hour >= ?");
        }
        if hours.1.is_some() {
            sql.push_str(" AND hour < ?");
        }
        sql.push_str(&format!(" GROUP BY {}", groups.join(", ")));
        let sql = self.sql(&sql).into_owned();
        let width = groups.len();
        with_pool!(self, |pool| {
            let mut q = sqlx::query(&sql);
            for value in &values {
                q = q.bind(value.clone());
            }
            for bound in [hours.0, hours.1].into_iter().flatten() {
                q = q.bind(bound);
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter().map(|r| decode_group_count!(r, width)).collect::<Result<Vec<_>, StoreError>>()
        })
    }

    /// The call log's part of a window (its partial hours): counted per
    /// bucket in SQL, folded into histograms here.
    async fn raw_counts(&self, query: &AnalyticsQuery, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<GroupCount>, StoreError> {
        let groups: Vec<String> = query.group_by.columns().iter().map(|(_, c)| c.to_string()).collect();
        let (filters, values) = analytics_filters(query);
        let sql = self
            .sql(&format!(
                "SELECT {g}, bucket, COUNT(*) AS calls, CAST(SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
                 SUM(cost) AS cost FROM calls WHERE time >= ? AND time < ?{filters} GROUP BY {cols}, bucket",
                g = groups.iter().enumerate().map(|(i, c)| format!("{c} AS g{i}")).collect::<Vec<_>>().join(", "),
                cols = groups.join(", ")
            ))
            .into_owned();
        let width = groups.len();
        with_pool!(self, |pool| {
            let mut q = sqlx::query(&sql).bind(from).bind(to);
            for value in &values {
                q = q.bind(value.clone());
            }
            let rows = q.fetch_all(pool).await?;
            let mut counts = Vec::with_capacity(rows.len());
            for r in &rows {
                let group = (0..width).map(|i| r.try_get::<Option<String>, _>(i)).collect::<Result<Vec<_>, _>>()?;
                let calls = u64::try_from(r.try_get::<i64, _>("calls")?).unwrap_or(0);
                let bucket = usize::try_from(r.try_get::<i64, _>("bucket")?).unwrap_or(0).min(BUCKETS - 1);
                let cost: Option<f64> = r.try_get("cost")?;
                let mut count = GroupCount {
                    calls,
                    errors: u64::try_from(r.try_get::<i64, _>("errors")?).unwrap_or(0),
                    cost: cost.unwrap_or(0.0),
                    ..GroupCount::new(group)
                };
                count.histogram[bucket] = calls;
                counts.push(count);
            }
            Ok::<_, StoreError>(counts)
        })
    }
}

#[async_trait]
impl Backend for SqlBackend {
    async fn begin_write(&self) -> Result<Box<dyn WriteTx>, StoreError> {
        let inner = match &self.pool {
            // IMMEDIATE takes SQLite's write lock at once: one writer at a time.
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                super::postgres::lock_writers(&mut tx).await?;
                Tx::Postgres(tx)
            }
        };
        Ok(Box::new(SqlTx { inner, dialect: self.dialect }))
    }

    async fn get(&self, key: &Key) -> Result<Option<Row>, StoreError> {
        let t = table(key.kind);
        let sql = self.sql(&format!("{} {}", t.select(key.kind), t.by_key())).into_owned();
        with_pool!(self, |pool| {
            let mut query = sqlx::query(&sql);
            if t.parent.is_some() {
                query = query.bind(key.parent.clone());
            }
            let row = query.bind(key.name.clone()).fetch_optional(pool).await?;
            row.map(|r| decode_row!(key.kind, r)).transpose()
        })
    }

    async fn list(&self, q: &ListQuery) -> Result<Vec<Row>, StoreError> {
        let t = table(q.kind);
        let mut sql = format!("{} WHERE {} > ?", t.select(q.kind), t.name_col);
        if let Some(parent) = t.parent {
            sql.push_str(&format!(" AND {parent} = ?"));
        }
        if q.product.is_some() {
            sql.push_str(" AND product = ?");
        }
        sql.push_str(&format!(" ORDER BY {} LIMIT ?", t.name_col));
        let sql = self.sql(&sql).into_owned();
        with_pool!(self, |pool| {
            let mut query = sqlx::query(&sql).bind(q.after.clone().unwrap_or_default());
            if t.parent.is_some() {
                query = query.bind(q.parent.clone());
            }
            if let Some(product) = &q.product {
                query = query.bind(product.clone());
            }
            let rows = query.bind(i64::from(q.limit)).fetch_all(pool).await?;
            rows.into_iter().map(|r| decode_row!(q.kind, r)).collect()
        })
    }

    async fn list_all(&self, kind: Kind) -> Result<Vec<Row>, StoreError> {
        let t = table(kind);
        let sql = format!("{} {}", t.select(kind), t.order());
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.into_iter().map(|r| decode_row!(kind, r)).collect()
        })
    }

    async fn subscription_by_key_hash(&self, hash: &str) -> Result<Option<Row>, StoreError> {
        let sql = self
            .sql(&format!("{} WHERE primary_key_hash = ? OR secondary_key_hash = ?", table(Kind::Subscription).select(Kind::Subscription)))
            .into_owned();
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql).bind(hash.to_string()).bind(hash.to_string()).fetch_optional(pool).await?;
            row.map(|r| decode_row!(Kind::Subscription, r)).transpose()
        })
    }

    async fn installation(&self) -> Result<i64, StoreError> {
        let insert = self.sql("INSERT INTO store_meta (name, value) VALUES ('installation', ?) ON CONFLICT (name) DO NOTHING").into_owned();
        let chosen: i64 = rand::random::<i64>() & i64::MAX;
        with_pool!(self, |pool| {
            sqlx::query(&insert).bind(chosen).execute(pool).await?;
            Ok(sqlx::query("SELECT value FROM store_meta WHERE name = 'installation'").fetch_one(pool).await?.try_get(0)?)
        })
    }

    async fn compact_secrets(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => super::sqlite::compact(pool).await,
            // Dead row versions holding old ciphertexts go with autovacuum;
            // values were never stored in clear on PostgreSQL.
            Pool::Postgres(_) => Ok(()),
        }
    }

    async fn latest_change(&self) -> Result<i64, StoreError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT COALESCE((SELECT MAX(id) FROM changes), 0) AS latest, \
                 (SELECT value FROM store_meta WHERE name = 'changes_pruned_through') AS pruned",
            )
            .fetch_one(pool)
            .await?;
            let latest: i64 = row.try_get("latest")?;
            let pruned: i64 = row.try_get("pruned")?;
            Ok(latest.max(pruned))
        })
    }

    async fn changes_since(&self, after: i64) -> Result<ChangesPage, StoreError> {
        let sql = self.sql("SELECT id, kind, parent, name FROM changes WHERE id > ? ORDER BY id LIMIT 1000").into_owned();
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).bind(after).fetch_all(pool).await?;
            let pruned: i64 = sqlx::query("SELECT value FROM store_meta WHERE name = 'changes_pruned_through'").fetch_one(pool).await?.try_get(0)?;
            let mut changes = Vec::with_capacity(rows.len());
            for r in &rows {
                let code: String = r.try_get("kind")?;
                let kind = Kind::from_code(&code).ok_or_else(|| StoreError::Corrupt(format!("change of unknown kind {code:?}")))?;
                changes.push((r.try_get::<i64, _>("id")?, Key { kind, parent: r.try_get("parent")?, name: r.try_get("name")? }));
            }
            Ok(ChangesPage { changes, pruned_through: pruned })
        })
    }

    fn watch_changes(&self, waker: WeakWaker) {
        match &self.pool {
            Pool::Sqlite(pool) => super::sqlite::poll_changes(pool.clone(), waker),
            Pool::Postgres(pool) => super::postgres::listen_changes(pool.clone(), waker),
        }
    }

    async fn reserve_quota(&self, subscription: &str, window_start: i64, want: i64, limit: i64) -> Result<super::QuotaReservation, StoreError> {
        // One atomic statement: every SET expression reads the old row, so
        // last_grant says what this reservation got. A new window starts over.
        let create = self.sql("INSERT INTO quota_counters (subscription, window_start, count, last_grant) VALUES (?, ?, 0, 0) ON CONFLICT (subscription) DO NOTHING").into_owned();
        let grant = "CASE WHEN window_start = ? THEN \
                       CASE WHEN ? - count <= 0 THEN 0 WHEN ? < ? - count THEN ? ELSE ? - count END \
                     ELSE CASE WHEN ? < ? THEN ? ELSE ? END END";
        let reserve = self
            .sql(&format!("UPDATE quota_counters SET last_grant = {grant}, count = CASE WHEN window_start = ? THEN count ELSE 0 END + {grant}, window_start = ? WHERE subscription = ? RETURNING last_grant, count"))
            .into_owned();
        with_pool!(self, |pool| {
            sqlx::query(&create).bind(subscription.to_string()).bind(window_start).execute(pool).await?;
            let mut q = sqlx::query(&reserve);
            let grant_args = [window_start, limit, want, limit, want, limit, want, limit, want, limit];
            for value in grant_args.into_iter().chain([window_start]).chain(grant_args) {
                q = q.bind(value);
            }
            let row = q.bind(window_start).bind(subscription.to_string()).fetch_one(pool).await?;
            Ok(super::QuotaReservation { granted: row.try_get("last_grant")?, stored: row.try_get("count")? })
        })
    }

    async fn release_quota(&self, subscription: &str, window_start: i64, units: i64) -> Result<(), StoreError> {
        let sql = self
            .sql("UPDATE quota_counters SET count = CASE WHEN count > ? THEN count - ? ELSE 0 END WHERE subscription = ? AND window_start = ?")
            .into_owned();
        with_pool!(self, |pool| {
            sqlx::query(&sql).bind(units).bind(units).bind(subscription.to_string()).bind(window_start).execute(pool).await?;
            Ok(())
        })
    }

    async fn quota_used(&self, subscription: &str, window_start: i64) -> Result<i64, StoreError> {
        let sql = self.sql("SELECT count FROM quota_counters WHERE subscription = ? AND window_start = ?").into_owned();
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql).bind(subscription.to_string()).bind(window_start).fetch_optional(pool).await?;
            Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.unwrap_or(0))
        })
    }

    async fn record_rate_grant(&self, grant: &RateGrant, bucket_ms: i64) -> Result<(), StoreError> {
        let insert = self
            .sql(
                "INSERT INTO rate_grants (subscription, bucket, count, until_ms) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (subscription, bucket) DO UPDATE SET count = rate_grants.count + excluded.count, \
                 until_ms = CASE WHEN excluded.until_ms > rate_grants.until_ms THEN excluded.until_ms ELSE rate_grants.until_ms END",
            )
            .into_owned();
        let bucket = grant.until_ms / bucket_ms.max(1);
        with_pool!(self, |pool| {
            sqlx::query(&insert).bind(grant.subscription.clone()).bind(bucket).bind(grant.count).bind(grant.until_ms).execute(pool).await?;
            Ok(())
        })
    }

    async fn rate_grants(&self, since_ms: i64) -> Result<Vec<RateGrant>, StoreError> {
        let prune = self.sql("DELETE FROM rate_grants WHERE until_ms <= ?").into_owned();
        let sql = self.sql("SELECT subscription, count, until_ms FROM rate_grants WHERE until_ms > ? ORDER BY until_ms").into_owned();
        with_pool!(self, |pool| {
            sqlx::query(&prune).bind(since_ms).execute(pool).await?;
            let rows = sqlx::query(&sql).bind(since_ms).fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok(RateGrant { subscription: r.try_get("subscription")?, count: r.try_get("count")?, until_ms: r.try_get("until_ms")? }))
                .collect()
        })
    }

    async fn insert_calls(&self, calls: Vec<CallRecord>) -> Result<(), StoreError> {
        let statements = InsertStatements::of(self.dialect);
        let mut tx = match &self.pool {
            Pool::Sqlite(pool) => SqlTx { inner: Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?), dialect: self.dialect },
            Pool::Postgres(pool) => SqlTx { inner: Tx::Postgres(pool.begin().await?), dialect: self.dialect },
        };
        with_tx!(tx, |conn| {
            // The rollups first: they borrow the calls' strings, which the
            // call rows then take instead of copying them.
            let rollups = rollups(&calls);
            for chunk in ladder_chunks(&rollups, &ROLLUP_ROWS) {
                let mut query = sqlx::query(statements.rollups(chunk.len()));
                for (key, sums) in chunk {
                    let group = key.dimensions;
                    query = query
                        .bind(key.cube.code())
                        .bind(group.hour)
                        .bind(group.server)
                        .bind(group.version)
                        .bind(group.product)
                        .bind(group.subscription)
                        .bind(group.tool)
                        .bind(group.client_name)
                        .bind(group.endpoint)
                        .bind(sums.calls)
                        .bind(sums.errors)
                        .bind(sums.cost);
                    for count in sums.histogram {
                        query = query.bind(count);
                    }
                }
                query.execute(&mut *conn).await?;
            }
            drop(rollups);
            let mut calls = calls.into_iter();
            for rows in ladder_sizes(calls.len(), &CALL_ROWS) {
                let mut query = sqlx::query(statements.calls(rows));
                for call in calls.by_ref().take(rows) {
                    let bucket = latency_bucket(call.duration_ms) as i64;
                    query = query
                        .bind(call.time)
                        .bind(call.subscription)
                        .bind(call.product)
                        .bind(call.server)
                        .bind(call.version)
                        .bind(call.tool)
                        .bind(call.client_name)
                        .bind(call.client_version)
                        .bind(call.session_id)
                        .bind(call.duration_ms)
                        .bind(call.status.as_str())
                        .bind(call.error_type)
                        .bind(call.error_message)
                        .bind(call.arguments)
                        .bind(call.result)
                        .bind(call.cost)
                        .bind(call.trace_id)
                        .bind(call.policy_rule)
                        .bind(call.endpoint)
                        .bind(call.awaits_input)
                        .bind(call.continues)
                        .bind(bucket);
                }
                query.execute(&mut *conn).await?;
            }
        });
        Box::new(tx).commit().await
    }

    async fn prune_calls(&self, older_than: DateTime<Utc>, keep: u64) -> Result<u64, StoreError> {
        let aged = self.sql("DELETE FROM calls WHERE time < ?").into_owned();
        let rollups = self.sql("DELETE FROM call_rollups WHERE hour < ?").into_owned();
        let surplus = self.sql("DELETE FROM calls WHERE id <= (SELECT id FROM calls ORDER BY id DESC LIMIT 1 OFFSET ?)").into_owned();
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        with_pool!(self, |pool| {
            let aged = sqlx::query(&aged).bind(older_than).execute(pool).await?.rows_affected();
            sqlx::query(&rollups).bind(hour_of(older_than)).execute(pool).await?;
            let surplus = sqlx::query(&surplus).bind(keep).execute(pool).await?.rows_affected();
            Ok(aged + surplus)
        })
    }

    async fn find_calls(&self, query: &CallQuery) -> Result<Vec<CallRecord>, StoreError> {
        let mut sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE 1 = 1");
        let mut text_filters: Vec<String> = Vec::new();
        let text = [("server", &query.server), ("tool", &query.tool), ("session_id", &query.session_id), ("subscription", &query.subscription)];
        for (column, value) in text {
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
        sql.push_str(" ORDER BY time DESC, id DESC");
        if query.limit.is_some() {
            sql.push_str(" LIMIT ?");
        }
        let sql = self.sql(&sql).into_owned();
        with_pool!(self, |pool| {
            let mut q = sqlx::query(&sql);
            for value in &text_filters {
                q = q.bind(value.clone());
            }
            for bound in [query.from, query.to].into_iter().flatten() {
                q = q.bind(bound);
            }
            if let Some(limit) = query.limit {
                q = q.bind(i64::from(limit));
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter().map(|r| decode_call!(r)).collect()
        })
    }

    async fn analytics(&self, query: &AnalyticsQuery) -> Result<Vec<GroupCount>, StoreError> {
        let window = split(query.from, query.to);
        let mut counts = Vec::new();
        if window.hours.0.is_none() || window.hours.1.is_none() || window.hours.0 < window.hours.1 {
            counts.extend(self.rollup_counts(query, window.hours).await?);
        }
        for (from, to) in window.raw {
            counts.extend(self.raw_counts(query, from, to).await?);
        }
        Ok(counts)
    }

    async fn hourly(
        &self,
        column: HourlyColumn,
        server: Option<&str>,
        subscription: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourlyCount>, StoreError> {
        let cube = match subscription {
            Some(_) => Cube::SubscriptionTools,
            None => Cube::Service,
        };
        let mut sql = format!(
            "SELECT hour, {c} AS grp, CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(errors) AS BIGINT) AS errors FROM call_rollups \
             WHERE cube = '{cube}' AND hour >= ?",
            c = column.column(),
            cube = cube.code()
        );
        if server.is_some() {
            sql.push_str(" AND server = ?");
        }
        if subscription.is_some() {
            sql.push_str(" AND subscription = ?");
        }
        sql.push_str(&format!(" GROUP BY hour, {c} ORDER BY hour, {c}", c = column.column()));
        let sql = self.sql(&sql).into_owned();
        with_pool!(self, |pool| {
            let mut q = sqlx::query(&sql).bind(hour_of(since));
            for value in [server, subscription].into_iter().flatten() {
                q = q.bind(value.to_string());
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(HourlyCount {
                        hour: r.try_get("hour")?,
                        group: r.try_get("grp")?,
                        calls: u64::try_from(r.try_get::<i64, _>("calls")?).unwrap_or(0),
                        errors: u64::try_from(r.try_get::<i64, _>("errors")?).unwrap_or(0),
                    })
                })
                .collect()
        })
    }

    async fn open_member_session(&self, member: &MemberSession) -> Result<MemberSession, StoreError> {
        let insert = self
            .sql("INSERT INTO member_sessions (session, server, version, upstream, protocol, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session, server) DO NOTHING")
            .into_owned();
        let read = self
            .sql("SELECT session, server, version, upstream, protocol, created_at FROM member_sessions WHERE session = ? AND server = ?")
            .into_owned();
        with_pool!(self, |pool| {
            sqlx::query(&insert)
                .bind(&member.session)
                .bind(&member.server)
                .bind(&member.version)
                .bind(&member.upstream)
                .bind(&member.protocol)
                .bind(member.created_at)
                .execute(pool)
                .await?;
            let row = sqlx::query(&read).bind(&member.session).bind(&member.server).fetch_one(pool).await?;
            decode_member!(row)
        })
    }

    async fn member_sessions(&self, session: &str) -> Result<Vec<MemberSession>, StoreError> {
        let sql = self
            .sql("SELECT session, server, version, upstream, protocol, created_at FROM member_sessions WHERE session = ? ORDER BY server")
            .into_owned();
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).bind(session).fetch_all(pool).await?;
            rows.iter().map(|row| decode_member!(row)).collect()
        })
    }

    async fn replace_member_session(&self, stale: &str, fresh: &MemberSession) -> Result<MemberSession, StoreError> {
        let update = self
            .sql("UPDATE member_sessions SET version = ?, upstream = ?, protocol = ?, created_at = ? WHERE session = ? AND server = ? AND upstream = ?")
            .into_owned();
        let read = self
            .sql("SELECT session, server, version, upstream, protocol, created_at FROM member_sessions WHERE session = ? AND server = ?")
            .into_owned();
        with_pool!(self, |pool| {
            sqlx::query(&update)
                .bind(&fresh.version)
                .bind(&fresh.upstream)
                .bind(&fresh.protocol)
                .bind(fresh.created_at)
                .bind(&fresh.session)
                .bind(&fresh.server)
                .bind(stale)
                .execute(pool)
                .await?;
            let row = sqlx::query(&read).bind(&fresh.session).bind(&fresh.server).fetch_one(pool).await?;
            decode_member!(row)
        })
    }

    async fn end_member_sessions(&self, session: &str) -> Result<Vec<MemberSession>, StoreError> {
        let sql =
            self.sql("DELETE FROM member_sessions WHERE session = ? RETURNING session, server, version, upstream, protocol, created_at").into_owned();
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).bind(session).fetch_all(pool).await?;
            let mut members = rows.iter().map(|row| decode_member!(row)).collect::<Result<Vec<_>, StoreError>>()?;
            members.sort_by(|a, b| a.server.cmp(&b.server));
            Ok(members)
        })
    }

    async fn prune_member_sessions(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = self.sql("DELETE FROM member_sessions WHERE created_at < ?").into_owned();
        with_pool!(self, |pool| Ok(sqlx::query(&sql).bind(older_than).execute(pool).await?.rows_affected()))
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let sql = self.sql("INSERT INTO audit_log (time, actor, action, resource) VALUES (?, ?, ?, ?)").into_owned();
        with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(entry.time)
                .bind(entry.actor.clone())
                .bind(entry.action.clone())
                .bind(entry.resource.clone())
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = self.sql("SELECT time, actor, action, resource FROM audit_log ORDER BY id DESC LIMIT ?").into_owned();
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).bind(i64::from(limit)).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(AuditEntry {
                        time: r.try_get("time")?,
                        actor: r.try_get("actor")?,
                        action: r.try_get("action")?,
                        resource: r.try_get("resource")?,
                    })
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_statements_of_a_few_sizes() {
        let rows: Vec<usize> = (0..263).collect();
        let sizes: Vec<usize> = ladder_chunks(&rows, &[200, 40, 8, 1]).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [200, 40, 8, 8, 1, 1, 1, 1, 1, 1, 1]);
        let rejoined: Vec<usize> = ladder_chunks(&rows, &[200, 40, 8, 1]).concat();
        assert_eq!(rejoined, rows);
        assert!(ladder_chunks::<usize>(&[], &[200, 1]).is_empty());
    }

    /// Each embedded list names every file of its directory, with the
    /// version and description sqlx derives from `<VERSION>_<DESCRIPTION>.sql`,
    /// so databases migrated by `migrate!` keep validating.
    #[test]
    fn embedded_migrations_are_the_migrations_directories() {
        for (dir, embedded) in [("sqlite", &super::super::sqlite::MIGRATIONS[..]), ("postgres", &super::super::postgres::MIGRATIONS[..])] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
            let mut on_disk: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
                .expect("the migrations directory is readable")
                .map(|entry| {
                    let path = entry.expect("directory entry").path();
                    let stem = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name").to_string();
                    let (version, description) = stem.split_once('_').expect("<VERSION>_<DESCRIPTION>.sql");
                    let sql = std::fs::read_to_string(&path).expect("readable migration");
                    (version.parse().expect("numeric version"), description.replace('_', " "), sql)
                })
                .collect();
            on_disk.sort();
            let embedded: Vec<(i64, String, String)> = embedded.iter().map(|&(v, d, s)| (v, d.to_string(), s.to_string())).collect();
            assert_eq!(embedded, on_disk, "{}", dir.display());
        }
    }

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(placeholders(Dialect::Sqlite, "a = ? AND b = ?"), "a = ? AND b = ?");
        assert_eq!(placeholders(Dialect::Postgres, "a = ? AND b = ?"), "a = $1 AND b = $2");
    }
}
