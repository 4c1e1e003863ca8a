//! Persistence behind one trait, so the embedded SQLite store and a later
//! PostgreSQL one share every operation's intent: compare-and-set writes,
//! referential checks inside the writing transaction, and cascades.

mod sqlite;

pub use sqlite::SqliteStore;

use crate::model::{Key, Kind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;

/// One stored resource: its validated spec as JSON plus bookkeeping.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Key,
    pub body: Value,
    pub etag: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The condition a write puts on the stored resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    None,
    /// The stored ETag must equal this one (`If-Match`).
    Matches(String),
    /// The resource must exist, whatever its ETag (`If-Match: *`).
    Exists,
    /// The resource must not exist yet (`If-None-Match: *`).
    Absent,
}

impl Precondition {
    /// Whether the stored resource (`current`) satisfies the condition.
    pub fn check(&self, key: &Key, current: Option<&Record>) -> Result<(), StoreError> {
        match (self, current) {
            (Precondition::Absent, Some(_)) => Err(StoreError::AlreadyExists { key: key.clone() }),
            (Precondition::Matches(expected), Some(record)) if &record.etag != expected => {
                Err(StoreError::PreconditionFailed { key: key.clone(), current: Some(record.etag.clone()) })
            }
            (Precondition::Matches(_) | Precondition::Exists, None) => Err(StoreError::PreconditionFailed { key: key.clone(), current: None }),
            _ => Ok(()),
        }
    }
}

/// Hashes of a subscription's two keys.
#[derive(Debug, Clone)]
pub struct KeyHashes {
    pub primary: String,
    pub secondary: String,
}

/// A create-or-replace of one resource.
#[derive(Debug, Clone)]
pub struct Put {
    pub key: Key,
    pub body: Value,
    pub precondition: Precondition,
    /// Required when creating a subscription; replaces stored hashes when given.
    pub key_hashes: Option<KeyHashes>,
}

#[derive(Debug, Clone)]
pub struct Written {
    pub record: Record,
    pub created: bool,
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

/// Calls counted against one subscription's quota in its current window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCounter {
    pub subscription: String,
    /// Unix seconds at which the window started.
    pub window_start: i64,
    pub count: i64,
}

/// Which call-log records to return, newest first.
#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    pub server: Option<String>,
    pub tool: Option<String>,
    pub session_id: Option<String>,
    pub status: Option<crate::model::calls::CallStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `None`: every match (analytics).
    pub limit: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} does not exist")]
    NotFound(Key),
    #[error("{key} exists already")]
    AlreadyExists { key: Key },
    #[error("{key} has changed since it was read (If-Match does not match its ETag)")]
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
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError>;

    async fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError>;

    /// Creates or replaces, honouring the precondition in the same
    /// transaction. Writing the stored body again changes nothing.
    async fn put(&self, put: Put) -> Result<Written, StoreError>;

    /// Removes a resource. Resources that refer to it block the delete unless
    /// `cascade`, which removes them (or, for versions, the references).
    async fn delete(&self, key: &Key, precondition: &Precondition, cascade: bool) -> Result<(), StoreError>;

    /// The key hashes of a subscription.
    async fn key_hashes(&self, subscription: &str) -> Result<Option<KeyHashes>, StoreError>;

    /// The subscription holding a key with this hash, in either slot.
    async fn subscription_by_key_hash(&self, hash: &str) -> Result<Option<Record>, StoreError>;

    /// Every subscription's key hashes, by subscription name.
    async fn subscription_keys(&self) -> Result<Vec<(String, KeyHashes)>, StoreError>;

    async fn load_quota_counters(&self) -> Result<Vec<QuotaCounter>, StoreError>;

    /// Upserts the given counters in one transaction.
    async fn save_quota_counters(&self, counters: &[QuotaCounter]) -> Result<(), StoreError>;

    /// Appends call records in one transaction.
    async fn insert_calls(&self, calls: &[crate::model::calls::CallRecord]) -> Result<(), StoreError>;

    /// Drops records older than `older_than`, then all but the newest `keep`.
    async fn prune_calls(&self, older_than: DateTime<Utc>, keep: u64) -> Result<u64, StoreError>;

    async fn find_calls(&self, query: &CallQuery) -> Result<Vec<crate::model::calls::CallRecord>, StoreError>;

    /// Every resource of a kind, under every parent (the gateway loads its configuration with it).
    async fn list_all(&self, kind: Kind) -> Result<Vec<Record>, StoreError>;
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store named by a database URL (`sqlite://PATH`, `sqlite::memory:`).
pub async fn open(url: &str) -> Result<DynStore, StoreError> {
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(SqliteStore::open(url).await?));
    }
    Err(StoreError::Invalid {
        field: "database".into(),
        reason: crate::model::Reason::Malformed { message: format!("unsupported database URL {url:?}: use sqlite://PATH or sqlite::memory:") },
    })
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
