//! Persistence. [`Store`] is the one interface the API, the gateway and
//! telemetry use; it holds every rule a write must keep (compare-and-set,
//! references, subscription limits, cascades), the sealing of secrets at
//! rest, and the change feed. Below it a [`backend::Backend`] (SQLite or
//! PostgreSQL) only reads and writes rows, so those rules exist once, and
//! one conformance suite (`tests/store_conformance.rs`) runs against both.

mod backend;
mod changes;
mod postgres;
mod rules;
mod sealing;
mod sql;
mod sqlite;

pub use changes::{ChangeBatch, ChangeSubscription};

use crate::model::calls::{CallRecord, CallStatus, GroupBy, GroupCount};
use crate::model::{Key, KeySlot, Kind};
use crate::secrets::{SecretError, SecretKey};
use backend::{Backend, Row, StoredKeys};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// One stored resource: its validated spec as JSON (secrets in clear) plus bookkeeping.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Key,
    pub body: Value,
    pub etag: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Subscriptions only: the hashes of their two keys.
    pub key_hashes: Option<KeyHashes>,
}

/// The condition a write puts on the stored resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    None,
    /// The stored ETag must equal one of these (`If-Match`).
    Matches(Vec<String>),
    /// The resource must exist, whatever its ETag (`If-Match: *`).
    Exists,
    /// The resource must not exist yet (`If-None-Match: *`).
    Absent,
    /// The stored ETag must be none of these (`If-None-Match: "a", "b"`).
    NoneMatch(Vec<String>),
    /// Every one of these, in order (`If-Match` and `If-None-Match` together).
    All(Vec<Precondition>),
}

impl Precondition {
    pub fn matches(etag: impl Into<String>) -> Precondition {
        Precondition::Matches(vec![etag.into()])
    }

    /// Whether the stored resource (`current`) satisfies the condition.
    pub fn check(&self, key: &Key, current: Option<&Record>) -> Result<(), StoreError> {
        let failed = |current: Option<&Record>| StoreError::PreconditionFailed { key: key.clone(), current: current.map(|r| r.etag.clone()) };
        match (self, current) {
            (Precondition::All(all), _) => all.iter().try_for_each(|p| p.check(key, current)),
            (Precondition::Absent, Some(_)) => Err(StoreError::AlreadyExists { key: key.clone() }),
            (Precondition::Matches(expected), Some(record)) if !expected.contains(&record.etag) => Err(failed(current)),
            (Precondition::NoneMatch(refused), Some(record)) if refused.contains(&record.etag) => Err(failed(current)),
            (Precondition::Matches(_) | Precondition::Exists, None) => Err(failed(None)),
            _ => Ok(()),
        }
    }
}

/// Hashes of a subscription's two keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHashes {
    pub primary: String,
    pub secondary: String,
}

/// New subscription keys, in clear: the store keeps their hashes (for
/// lookup) and the keys sealed (for `list-secrets`).
#[derive(Debug, Clone)]
pub enum KeyChange {
    Both { primary: String, secondary: String },
    One { slot: KeySlot, key: String },
}

/// A create-or-replace of one resource.
#[derive(Debug, Clone)]
pub struct Put {
    pub key: Key,
    pub body: Value,
    pub precondition: Precondition,
    /// Required when creating a subscription.
    pub keys: Option<KeyChange>,
}

#[derive(Debug, Clone)]
pub struct Written {
    pub record: Record,
    pub created: bool,
    /// The change it made; `None` when the write changed nothing.
    pub change: Option<i64>,
}

/// A page of a collection: resources of `kind` under `parent`, ordered by
/// name, after `after`.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub kind: Kind,
    pub parent: String,
    pub after: Option<String>,
    pub limit: u32,
    /// Subscriptions only: those of this product.
    pub product: Option<String>,
}

/// Which call-log records to return, newest first.
#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    pub server: Option<String>,
    pub tool: Option<String>,
    pub session_id: Option<String>,
    pub subscription: Option<String>,
    pub status: Option<CallStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `None`: every match.
    pub limit: Option<u32>,
}

/// What analytics aggregates: calls in `[from, to)` (all when absent), of one server or all.
#[derive(Debug, Clone)]
pub struct AnalyticsQuery {
    pub group_by: GroupBy,
    pub server: Option<String>,
    pub subscription: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Calls per hour of one dimension (a version, a tool): what charts show.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlyCount {
    pub hour: DateTime<Utc>,
    pub group: String,
    pub calls: u64,
    pub errors: u64,
}

/// One entry of the audit log: who read or did something sensitive.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub time: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub resource: String,
}

/// What a quota reservation got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaReservation {
    pub granted: i64,
    /// Units reserved in the window after it, by every process.
    pub stored: i64,
}

/// Rate-limit capacity the gateway reserved before spending it: after a
/// crash, everything reserved counts as spent at `until_ms`, so no window
/// ever admits more than its limit.
/// One member server's upstream session inside a product endpoint's
/// session: opened on the session's first use of that member, by whichever
/// replica served it, and read by any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSession {
    /// The product endpoint's session (the gateway's id, not a token).
    pub session: String,
    pub server: String,
    /// The member version the session lives on.
    pub version: String,
    /// The upstream's session id; empty for a member that keeps no sessions.
    pub upstream: String,
    /// The protocol revision the member agreed to for it.
    pub protocol: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateGrant {
    pub subscription: String,
    pub count: i64,
    /// Unix milliseconds by which every unit of the grant was spent or dropped.
    pub until_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} does not exist")]
    NotFound(Key),
    #[error("{key} exists already")]
    AlreadyExists { key: Key },
    #[error("{key} has changed since it was read (the precondition does not hold for its ETag)")]
    PreconditionFailed { key: Key, current: Option<String> },
    #[error("{key} is still referred to by {}", by.join(", "))]
    StillReferenced { key: Key, by: Vec<String> },
    /// `in_path`: the reference is a segment of the request path (a 404),
    /// not a field of the body (a validation error).
    #[error("{field} refers to {missing}, which does not exist")]
    MissingReference { field: &'static str, missing: Key, in_path: bool },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: crate::model::Reason },
    #[error("product {product} allows {limit} live subscriptions and has them all")]
    SubscriptionsLimit { product: String, limit: i64 },
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Secret(#[from] SecretError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH, sqlite::memory: or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database cannot be reached right now (down, restarting, out of
    /// connections): worth retrying, unlike the other errors.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> StoreError {
        if database_unavailable(&err) {
            StoreError::Unavailable(err.to_string())
        } else {
            StoreError::Database(err)
        }
    }
}

/// Whether an error says the database is out of reach rather than that the
/// statement failed: no connection (refused, reset, TLS), none free in
/// time, or PostgreSQL's connection-exception class (08), shutting down
/// (57P01-57P03) or out of connections (53300).
fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300"))
        }
        _ => false,
    }
}

pub type DynStore = Arc<Store>;

/// How long call-log changes are kept in the change table before pruning.
const CHANGES_KEPT: i64 = 10_000;

pub struct Store {
    backend: Box<dyn Backend>,
    secrets: Arc<SecretKey>,
    feed: changes::Feed,
}

/// Where the secret key comes from when none is given: a file beside an
/// SQLite database, a throwaway one for an in-memory store. PostgreSQL
/// deployments must give it (every replica needs the same one).
#[derive(Debug)]
pub enum DefaultKey {
    /// Created now at this path.
    Created(PathBuf),
    /// Read from this path.
    Read(PathBuf),
    /// Random, for this process only (in-memory store).
    Ephemeral,
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The secret key an mcpgate on `url` uses when none is configured.
pub fn default_secret_key(url: &str) -> Result<(SecretKey, DefaultKey), StoreError> {
    if is_postgres(url) {
        return Err(StoreError::Secret(SecretError::NoKey));
    }
    match sqlite::database_file(url) {
        Some(file) => {
            let path = PathBuf::from(format!("{}.key", file.display()));
            let (key, created) = SecretKey::read_or_create(&path)?;
            Ok((key, if created { DefaultKey::Created(path) } else { DefaultKey::Read(path) }))
        }
        None => Ok((SecretKey::generate().0, DefaultKey::Ephemeral)),
    }
}

/// Opens the store at `url` with the default secret key (see [`default_secret_key`]).
pub async fn open(url: &str) -> Result<DynStore, StoreError> {
    let (key, _) = default_secret_key(url)?;
    open_with(url, Arc::new(key)).await
}

/// Opens the store named by a database URL (`sqlite://PATH`,
/// `sqlite::memory:`, `postgres://…`), migrates it, and re-seals secrets
/// sealed by an older key.
pub async fn open_with(url: &str, secrets: Arc<SecretKey>) -> Result<DynStore, StoreError> {
    let backend: Box<dyn Backend> = if url.starts_with("sqlite:") {
        Box::new(sqlite::open(url).await?)
    } else if is_postgres(url) {
        Box::new(postgres::open(url).await?)
    } else {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    };
    let feed = changes::Feed::new();
    backend.watch_changes(feed.waker());
    let store = Store { backend, secrets, feed };
    store.reseal().await?;
    Ok(Arc::new(store))
}

impl Store {
    fn record(&self, row: Row) -> Result<Record, StoreError> {
        let mut body = row.body;
        sealing::open_body(&self.secrets, &row.key, &mut body)?;
        Ok(Record {
            key: row.key,
            body,
            etag: row.etag,
            created_at: row.created_at,
            updated_at: row.updated_at,
            key_hashes: row.keys.map(|k| KeyHashes { primary: k.primary_hash, secondary: k.secondary_hash }),
        })
    }

    fn records(&self, rows: Vec<Row>) -> Result<Vec<Record>, StoreError> {
        rows.into_iter().map(|row| self.record(row)).collect()
    }

    pub async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        self.backend.get(key).await?.map(|row| self.record(row)).transpose()
    }

    pub async fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        self.records(self.backend.list(query).await?)
    }

    /// Every resource of a kind, under every parent (the gateway loads its configuration with it).
    pub async fn list_all(&self, kind: Kind) -> Result<Vec<Record>, StoreError> {
        self.records(self.backend.list_all(kind).await?)
    }

    /// Creates or replaces, honouring the precondition and the references
    /// it relies on in one transaction that excludes every other writer.
    /// Writing what is stored again changes nothing.
    pub async fn put(&self, put: Put) -> Result<Written, StoreError> {
        let mut written = self.put_all(vec![put]).await?;
        written.pop().ok_or_else(|| StoreError::Corrupt("a write wrote nothing".into()))
    }

    /// Several writes in one transaction: all of them, or none (a
    /// promotion changes versions together). Readers see them as one change batch.
    pub async fn put_all(&self, puts: Vec<Put>) -> Result<Vec<Written>, StoreError> {
        let mut tx = self.backend.begin_write().await?;
        let mut written = Vec::with_capacity(puts.len());
        let mut last_change = None;
        for put in puts {
            let current = tx.get(&put.key).await?.map(|row| self.record(row)).transpose()?;
            put.precondition.check(&put.key, current.as_ref())?;
            rules::check_references(tx.as_mut(), &put.key, &put.body, current.is_none()).await?;
            let keys = self.stored_keys(&put, tx.as_mut()).await?;
            let clear_body = put.body.to_string();
            let etag = match &keys {
                Some(k) => etag_of(&clear_body, &[&k.primary_hash, &k.secondary_hash]),
                None => etag_of(&clear_body, &[]),
            };
            if let Some(current) = current.as_ref().filter(|c| c.etag == etag) {
                written.push(Written { record: current.clone(), created: false, change: None });
                continue;
            }
            let now = now();
            let created_at = current.as_ref().map_or(now, |c| c.created_at);
            let mut sealed = put.body.clone();
            sealing::seal_body(&self.secrets, &put.key, &mut sealed)?;
            let row = Row { key: put.key.clone(), body: sealed, etag: etag.clone(), created_at, updated_at: now, keys: keys.clone() };
            tx.upsert(&row).await?;
            let change = tx.log_change(&put.key).await?;
            last_change = Some(change);
            let key_hashes = keys.map(|k| KeyHashes { primary: k.primary_hash, secondary: k.secondary_hash });
            let record = Record { key: put.key, body: put.body, etag, created_at, updated_at: now, key_hashes };
            written.push(Written { record, created: current.is_none(), change: Some(change) });
        }
        if let Some(change) = last_change {
            rules::prune_changes(tx.as_mut(), change, CHANGES_KEPT).await?;
            tx.commit().await?;
            self.feed.wake();
        }
        Ok(written)
    }

    /// The key columns a subscription write stores: new keys hashed and
    /// sealed, or the stored ones kept.
    async fn stored_keys(&self, put: &Put, tx: &mut dyn backend::WriteTx) -> Result<Option<StoredKeys>, StoreError> {
        if put.key.kind != Kind::Subscription {
            return Ok(None);
        }
        let stored = tx.get(&put.key).await?.and_then(|row| row.keys);
        let aad = sealing::keys_aad(&put.key);
        let (primary, secondary) = match &put.keys {
            None => return stored.map(Some).ok_or_else(|| StoreError::Corrupt(format!("{} has no keys", put.key))),
            Some(KeyChange::Both { primary, secondary }) => (primary.clone(), secondary.clone()),
            Some(KeyChange::One { slot, key }) => {
                let stored = stored.ok_or_else(|| StoreError::NotFound(put.key.clone()))?;
                let (old_primary, old_secondary) = match &stored.sealed {
                    Some(sealed) => sealing::open_keys(&self.secrets, sealed, &aad)?,
                    // Keys from before they were kept sealed: only the new one is known.
                    None => {
                        let (primary_hash, secondary_hash) = match slot {
                            KeySlot::Primary => (crate::model::subscription::hash_key(key), stored.secondary_hash),
                            KeySlot::Secondary => (stored.primary_hash, crate::model::subscription::hash_key(key)),
                        };
                        return Ok(Some(StoredKeys { primary_hash, secondary_hash, sealed: None }));
                    }
                };
                match slot {
                    KeySlot::Primary => (key.clone(), old_secondary),
                    KeySlot::Secondary => (old_primary, key.clone()),
                }
            }
        };
        Ok(Some(StoredKeys {
            primary_hash: crate::model::subscription::hash_key(&primary),
            secondary_hash: crate::model::subscription::hash_key(&secondary),
            sealed: Some(sealing::seal_keys(&self.secrets, &primary, &secondary, &aad)),
        }))
    }

    /// Removes a resource. Resources that refer to it block the delete unless
    /// `cascade`, which removes them (or, for versions, the references).
    pub async fn delete(&self, key: &Key, precondition: &Precondition, cascade: bool) -> Result<i64, StoreError> {
        let mut tx = self.backend.begin_write().await?;
        let current = tx.get(key).await?.map(|row| self.record(row)).transpose()?;
        precondition.check(key, current.as_ref())?;
        if current.is_none() {
            return Err(StoreError::NotFound(key.clone()));
        }
        let mut changed = rules::delete_with_referrers(tx.as_mut(), key, cascade).await?;
        changed.push(key.clone());
        let mut last = 0;
        for key in &changed {
            last = tx.log_change(key).await?;
        }
        rules::prune_changes(tx.as_mut(), last, CHANGES_KEPT).await?;
        tx.commit().await?;
        self.feed.wake();
        Ok(last)
    }

    /// A subscription's keys in clear (`list-secrets`). `None` when the
    /// subscription does not exist; an error when its keys predate sealing.
    pub async fn reveal_keys(&self, subscription: &str) -> Result<Option<(String, String)>, StoreError> {
        let key = Key::top(Kind::Subscription, subscription);
        let Some(row) = self.backend.get(&key).await? else { return Ok(None) };
        let sealed = row
            .keys
            .and_then(|k| k.sealed)
            .ok_or_else(|| StoreError::Corrupt(format!("{key} holds keys from before mcpgate kept them sealed; regenerate them to reveal them")))?;
        sealing::open_keys(&self.secrets, &sealed, &sealing::keys_aad(&key)).map(Some)
    }

    /// The subscription holding a key with this hash, in either slot.
    pub async fn subscription_by_key_hash(&self, hash: &str) -> Result<Option<Record>, StoreError> {
        self.backend.subscription_by_key_hash(hash).await?.map(|row| self.record(row)).transpose()
    }

    /// Re-seals secrets sealed by a previous key (or stored in clear by an
    /// older mcpgate) under the current key. Bookkeeping, not a change:
    /// ETags and timestamps stay.
    async fn reseal(&self) -> Result<(), StoreError> {
        let mut resealed = 0;
        for kind in Kind::ALL {
            for row in self.backend.list_all(kind).await? {
                let stale_body = sealing::needs_reseal(&self.secrets, &row.key, &row.body);
                let stale_keys = row.keys.as_ref().and_then(|k| k.sealed.as_deref()).is_some_and(|s| !self.secrets.sealed_by_current(s));
                if !stale_body && !stale_keys {
                    continue;
                }
                let mut tx = self.backend.begin_write().await?;
                let Some(mut row) = tx.get(&row.key).await? else { continue };
                sealing::open_body(&self.secrets, &row.key, &mut row.body)?;
                sealing::seal_body(&self.secrets, &row.key, &mut row.body)?;
                if let Some(keys) = row.keys.as_mut() {
                    if let Some(sealed) = keys.sealed.as_deref() {
                        let aad = sealing::keys_aad(&row.key);
                        let (primary, secondary) = sealing::open_keys(&self.secrets, sealed, &aad)?;
                        keys.sealed = Some(sealing::seal_keys(&self.secrets, &primary, &secondary, &aad));
                    }
                }
                tx.upsert(&row).await?;
                tx.commit().await?;
                resealed += 1;
            }
        }
        if resealed > 0 {
            tracing::info!(resealed, key_id = %self.secrets.current_id(), "re-sealed secrets under the current secret key");
            self.backend.compact_secrets().await?;
        }
        Ok(())
    }

    /// Names this installation's data where it shares a place with others'
    /// (its limit counters in Redis); the same for every process on one database.
    pub async fn installation(&self) -> Result<String, StoreError> {
        Ok(format!("{:x}", self.backend.installation().await?))
    }

    /// Whether the database answers now (readiness): one cheap query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.backend.latest_change().await.map(drop)
    }

    /// The server's secret key (the gateway derives its session-id key from it).
    pub fn secret_key(&self) -> Arc<SecretKey> {
        self.secrets.clone()
    }

    /// Follows committed changes from now on (see [`ChangeSubscription`]).
    pub async fn subscribe_changes(self: &Arc<Self>) -> Result<ChangeSubscription, StoreError> {
        let latest = self.backend.latest_change().await?;
        Ok(self.feed.subscribe(Arc::clone(self), latest))
    }

    pub(crate) async fn changes_since(&self, after: i64) -> Result<backend::ChangesPage, StoreError> {
        self.backend.changes_since(after).await
    }

    /// Waits (up to `limit`) until gateways in this process serve `change`;
    /// returns at once when none listens.
    pub async fn await_served(&self, change: i64, limit: Duration) {
        self.feed.await_served(change, limit).await;
    }

    /// Reserves up to `want` units of a subscription's quota window (at
    /// most `limit` in all), before they are spent: a crash then loses only
    /// unspent units.
    pub async fn reserve_quota(&self, subscription: &str, window_start: i64, want: i64, limit: i64) -> Result<QuotaReservation, StoreError> {
        self.backend.reserve_quota(subscription, window_start, want, limit).await
    }

    /// Gives back reserved, unspent units (on shutdown, or a refunded call).
    pub async fn release_quota(&self, subscription: &str, window_start: i64, units: i64) -> Result<(), StoreError> {
        self.backend.release_quota(subscription, window_start, units).await
    }

    /// Units reserved in a subscription's window (≥ the calls admitted in it).
    pub async fn quota_used(&self, subscription: &str, window_start: i64) -> Result<i64, StoreError> {
        self.backend.quota_used(subscription, window_start).await
    }

    pub async fn record_rate_grant(&self, grant: &RateGrant, bucket_ms: i64) -> Result<(), StoreError> {
        self.backend.record_rate_grant(grant, bucket_ms).await
    }

    /// Rate grants that may still count in a window ending now (newer than `since_ms`).
    pub async fn rate_grants(&self, since_ms: i64) -> Result<Vec<RateGrant>, StoreError> {
        self.backend.rate_grants(since_ms).await
    }

    /// Appends call records and adds them to the hourly rollups, in one
    /// transaction. The records are taken: their strings become the bound
    /// values, uncopied.
    pub async fn insert_calls(&self, calls: Vec<CallRecord>) -> Result<(), StoreError> {
        if calls.is_empty() {
            return Ok(());
        }
        self.backend.insert_calls(calls).await
    }

    /// Drops records (and rollups) older than `older_than`, then all but the newest `keep` records.
    pub async fn prune_calls(&self, older_than: DateTime<Utc>, keep: u64) -> Result<u64, StoreError> {
        self.backend.prune_calls(older_than, keep).await
    }

    pub async fn find_calls(&self, query: &CallQuery) -> Result<Vec<CallRecord>, StoreError> {
        self.backend.find_calls(query).await
    }

    /// Calls aggregated per group with their latency histograms, in SQL: whole hours
    /// from the rollups, the partial hours at the edges from the call log.
    pub async fn analytics(&self, query: &AnalyticsQuery) -> Result<Vec<GroupCount>, StoreError> {
        self.backend.analytics(query).await
    }

    /// Calls per hour grouped by `column` (`version`, `tool`, …) from the rollups.
    pub async fn hourly(
        &self,
        column: HourlyColumn,
        server: Option<&str>,
        subscription: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourlyCount>, StoreError> {
        self.backend.hourly(column, server, subscription, since).await
    }

    /// Records a member's upstream session unless another replica recorded
    /// one first; what is stored wins (the caller ends its own if it lost).
    pub async fn open_member_session(&self, member: &MemberSession) -> Result<MemberSession, StoreError> {
        self.backend.open_member_session(member).await
    }

    pub async fn member_sessions(&self, session: &str) -> Result<Vec<MemberSession>, StoreError> {
        self.backend.member_sessions(session).await
    }

    /// Replaces a member's upstream session its server forgot (`stale`),
    /// unless another replica replaced it first; what is stored wins.
    pub async fn replace_member_session(&self, stale: &str, fresh: &MemberSession) -> Result<MemberSession, StoreError> {
        self.backend.replace_member_session(stale, fresh).await
    }

    /// Forgets a session's members, returning them (to be ended upstream).
    pub async fn end_member_sessions(&self, session: &str) -> Result<Vec<MemberSession>, StoreError> {
        self.backend.end_member_sessions(session).await
    }

    /// Drops member sessions opened before `older_than` (a later use opens a new one).
    pub async fn prune_member_sessions(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        self.backend.prune_member_sessions(older_than).await
    }

    pub async fn append_audit(&self, actor: &str, action: &str, resource: &str) -> Result<(), StoreError> {
        self.backend.append_audit(&AuditEntry { time: now(), actor: actor.into(), action: action.into(), resource: resource.into() }).await
    }

    /// The newest audit entries first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.backend.audit_log(limit).await
    }
}

/// A dimension charts show per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HourlyColumn {
    Version,
    Tool,
}

impl HourlyColumn {
    fn column(self) -> &'static str {
        match self {
            HourlyColumn::Version => "version",
            HourlyColumn::Tool => "tool",
        }
    }
}

/// The current time at the precision every backend keeps (PostgreSQL:
/// microseconds), so what a write returns is what a read returns.
pub(crate) fn now() -> DateTime<Utc> {
    use chrono::{DurationRound, TimeDelta};
    let now = Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now)
}

/// A strong validator over everything a resource's representation depends on.
pub fn etag_of(body: &str, extra: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(body.as_bytes());
    for part in extra {
        hasher.update([0u8]);
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..12])
}
