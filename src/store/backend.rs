//! What a database engine provides the store: rows in and out, one write
//! transaction at a time, the change table, limits bookkeeping and the call
//! log. No rule about what a write may do lives here.

use super::{AnalyticsQuery, AuditEntry, CallQuery, HourlyColumn, HourlyCount, ListQuery, MemberSession, RateGrant, StoreError};
use crate::model::calls::{CallRecord, GroupCount};
use crate::model::{Key, Kind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A resource row as stored: secrets sealed.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: Key,
    pub body: Value,
    pub etag: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Subscriptions only.
    pub keys: Option<StoredKeys>,
}

/// A subscription's key columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeys {
    pub primary_hash: String,
    pub secondary_hash: String,
    /// Both keys, sealed; absent for keys made before they were kept.
    pub sealed: Option<String>,
}

/// Rows that name another resource in a column, for reference checks and cascades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Referring {
    VersionsOfServer,
    ProductServersOfServer,
    ProductServersOfProduct,
    SubscriptionsOfProduct,
    ProductsOfAuthorizationServer,
}

impl Referring {
    pub fn kind(self) -> Kind {
        match self {
            Referring::VersionsOfServer => Kind::Version,
            Referring::ProductServersOfServer | Referring::ProductServersOfProduct => Kind::ProductServer,
            Referring::SubscriptionsOfProduct => Kind::Subscription,
            Referring::ProductsOfAuthorizationServer => Kind::Product,
        }
    }

    /// The column holding the referred name.
    pub fn column(self) -> &'static str {
        match self {
            Referring::VersionsOfServer | Referring::ProductServersOfServer => "server",
            Referring::ProductServersOfProduct | Referring::SubscriptionsOfProduct => "product",
            Referring::ProductsOfAuthorizationServer => "authorization_server",
        }
    }
}

/// Changes committed after some id.
#[derive(Debug, Clone, Default)]
pub struct ChangesPage {
    /// (id, key), ascending.
    pub changes: Vec<(i64, Key)>,
    /// Changes up to this id were pruned: a reader behind it must reload everything.
    pub pruned_through: i64,
}

/// One write transaction. Backends guarantee that no two are open at once
/// (SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so a rule
/// checked in it still holds when it commits, and change ids grow in
/// commit order.
#[async_trait]
pub trait WriteTx: Send {
    async fn get(&mut self, key: &Key) -> Result<Option<Row>, StoreError>;
    async fn referring(&mut self, referring: Referring, name: &str) -> Result<Vec<Row>, StoreError>;
    async fn upsert(&mut self, row: &Row) -> Result<(), StoreError>;
    async fn delete(&mut self, key: &Key) -> Result<(), StoreError>;
    /// Records that `key` changed; returns the change's id.
    async fn log_change(&mut self, key: &Key) -> Result<i64, StoreError>;
    /// Drops changes up to `through` and remembers that it did.
    async fn prune_changes(&mut self, through: i64) -> Result<(), StoreError>;
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn begin_write(&self) -> Result<Box<dyn WriteTx>, StoreError>;
    async fn get(&self, key: &Key) -> Result<Option<Row>, StoreError>;
    async fn list(&self, query: &ListQuery) -> Result<Vec<Row>, StoreError>;
    async fn list_all(&self, kind: Kind) -> Result<Vec<Row>, StoreError>;
    async fn subscription_by_key_hash(&self, hash: &str) -> Result<Option<Row>, StoreError>;
    /// A random number chosen when the database was created: what tells
    /// this installation's data (in Redis, say) from another's.
    async fn installation(&self) -> Result<i64, StoreError>;
    /// After secrets were re-sealed: make sure no clear copy stays on disk.
    async fn compact_secrets(&self) -> Result<(), StoreError>;

    async fn latest_change(&self) -> Result<i64, StoreError>;
    async fn changes_since(&self, after: i64) -> Result<ChangesPage, StoreError>;
    /// Wakes `waker` whenever another process may have committed a change
    /// (PostgreSQL: LISTEN/NOTIFY; SQLite: polling the change table).
    fn watch_changes(&self, waker: super::changes::WeakWaker);

    async fn reserve_quota(&self, subscription: &str, window_start: i64, want: i64, limit: i64) -> Result<super::QuotaReservation, StoreError>;
    async fn release_quota(&self, subscription: &str, window_start: i64, units: i64) -> Result<(), StoreError>;
    async fn quota_used(&self, subscription: &str, window_start: i64) -> Result<i64, StoreError>;
    async fn record_rate_grant(&self, grant: &RateGrant, bucket_ms: i64) -> Result<(), StoreError>;
    async fn rate_grants(&self, since_ms: i64) -> Result<Vec<RateGrant>, StoreError>;

    async fn insert_calls(&self, calls: Vec<CallRecord>) -> Result<(), StoreError>;
    async fn prune_calls(&self, older_than: DateTime<Utc>, keep: u64) -> Result<u64, StoreError>;
    async fn find_calls(&self, query: &CallQuery) -> Result<Vec<CallRecord>, StoreError>;
    async fn analytics(&self, query: &AnalyticsQuery) -> Result<Vec<GroupCount>, StoreError>;
    async fn hourly(
        &self,
        column: HourlyColumn,
        server: Option<&str>,
        subscription: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourlyCount>, StoreError>;

    /// Stores `member` unless its session already holds one for that
    /// server; returns what is stored (the first writer's).
    async fn open_member_session(&self, member: &MemberSession) -> Result<MemberSession, StoreError>;
    async fn member_sessions(&self, session: &str) -> Result<Vec<MemberSession>, StoreError>;
    /// Replaces the member session `fresh.session` holds for `fresh.server`
    /// while its upstream session is still `stale`; returns what is stored
    /// (another writer's replacement, if it came first).
    async fn replace_member_session(&self, stale: &str, fresh: &MemberSession) -> Result<MemberSession, StoreError>;
    /// Removes a session's members; returns them.
    async fn end_member_sessions(&self, session: &str) -> Result<Vec<MemberSession>, StoreError>;
    async fn prune_member_sessions(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
}

/// The hour a time falls in.
pub fn hour_of(time: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{DurationRound, TimeDelta};
    time.duration_trunc(TimeDelta::hours(1)).unwrap_or(time)
}

/// How an analytics window splits: whole hours answered from the rollups,
/// and up to two partial hours at the edges answered from the call log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Whole hours `[from, to)` (either bound open).
    pub hours: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    /// Raw ranges `[from, to)`.
    pub raw: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

pub fn split(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Split {
    let hour = chrono::TimeDelta::hours(1);
    let ceil = |t: DateTime<Utc>| if hour_of(t) == t { t } else { hour_of(t) + hour };
    let mut raw = Vec::new();
    let start = from.map(ceil);
    let end = to.map(hour_of);
    if let (Some(from), Some(start)) = (from, start) {
        let edge = to.map_or(start, |to| to.min(start));
        if from < edge {
            raw.push((from, edge));
        }
    }
    if let (Some(to), Some(end)) = (to, end) {
        let edge = from.map_or(end, |from| from.max(end));
        if edge < to && !raw.iter().any(|(a, b)| *a == edge && *b == to) {
            raw.push((edge, to));
        }
    }
    let hours = match (start, end) {
        (Some(s), Some(e)) if s >= e => (Some(s), Some(s)),
        other => other,
    };
    Split { hours, raw }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, m, 0).unwrap()
    }

    #[test]
    fn windows_split_into_whole_hours_and_raw_edges() {
        assert_eq!(split(None, None), Split { hours: (None, None), raw: vec![] });
        assert_eq!(
            split(Some(at(1, 30)), Some(at(4, 15))),
            Split { hours: (Some(at(2, 0)), Some(at(4, 0))), raw: vec![(at(1, 30), at(2, 0)), (at(4, 0), at(4, 15))] }
        );
        assert_eq!(split(Some(at(1, 0)), Some(at(3, 0))), Split { hours: (Some(at(1, 0)), Some(at(3, 0))), raw: vec![] });
        let inside = split(Some(at(1, 10)), Some(at(1, 20)));
        assert_eq!(inside.raw, vec![(at(1, 10), at(1, 20))]);
        assert_eq!(inside.hours.0, inside.hours.1, "no whole hour");
        assert_eq!(split(Some(at(1, 10)), None).raw, vec![(at(1, 10), at(2, 0))]);
        assert_eq!(split(None, Some(at(5, 5))), Split { hours: (None, Some(at(5, 0))), raw: vec![(at(5, 0), at(5, 5))] });
    }
}
