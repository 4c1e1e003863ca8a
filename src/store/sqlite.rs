//! SQLite, the embedded default: opening (WAL, foreign keys, secure
//! delete), the schema embedded in the binary, and watching the change table
//! for writes by other processes on the same file.

use super::changes::WeakWaker;
use super::sql::{Dialect, Embedded, Pool, SqlBackend};
use super::StoreError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// How often another process's writes are looked for.
const POLL: Duration = Duration::from_millis(500);

/// The schema: each file of `migrations/sqlite/`, in order (a test keeps
/// the two equal).
pub(super) const MIGRATIONS: [(i64, &str, &str); 10] = [
    (1, "resources", include_str!("../../migrations/sqlite/0001_resources.sql")),
    (2, "quota counters", include_str!("../../migrations/sqlite/0002_quota_counters.sql")),
    (3, "calls", include_str!("../../migrations/sqlite/0003_calls.sql")),
    (4, "cluster", include_str!("../../migrations/sqlite/0004_cluster.sql")),
    (5, "authorization servers", include_str!("../../migrations/sqlite/0005_authorization_servers.sql")),
    (6, "portal users", include_str!("../../migrations/sqlite/0006_portal_users.sql")),
    (7, "policies", include_str!("../../migrations/sqlite/0007_policies.sql")),
    (8, "product endpoints", include_str!("../../migrations/sqlite/0008_product_endpoints.sql")),
    (9, "input rounds", include_str!("../../migrations/sqlite/0009_input_rounds.sql")),
    (10, "call indexes", include_str!("../../migrations/sqlite/0010_call_indexes.sql")),
];

fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The database file a `sqlite://` URL names; `None` for in-memory databases.
pub(super) fn database_file(url: &str) -> Option<PathBuf> {
    if in_memory(url) {
        return None;
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

pub(super) async fn open(url: &str) -> Result<SqlBackend, StoreError> {
    let memory = in_memory(url);
    let mut options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // Freed pages are zeroed, so no secret outlives its row on disk.
        .pragma("secure_delete", "ON");
    if !memory {
        options = options.journal_mode(SqliteJournalMode::Wal);
    }
    // An in-memory database lives and dies with its one connection.
    let pool_options = if memory {
        SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(8)
    };
    let pool = pool_options.connect_with(options).await?;
    Migrator::new(Embedded(&MIGRATIONS)).await?.run(&pool).await?;
    Ok(SqlBackend { pool: Pool::Sqlite(pool), dialect: Dialect::Sqlite })
}

/// Folds the WAL into the database and truncates it, then rebuilds the
/// file, so values re-sealed under a new key leave no old copy behind.
pub(super) async fn compact(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await?;
    sqlx::query("VACUUM").execute(pool).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await?;
    Ok(())
}

/// Wakes readers when the change table grew (another process wrote); this
/// process's own writes wake them directly. Ends when the store is gone.
pub(super) fn poll_changes(pool: SqlitePool, waker: WeakWaker) {
    tokio::spawn(async move {
        let mut seen = 0i64;
        loop {
            tokio::time::sleep(POLL).await;
            let latest = match sqlx::query("SELECT COALESCE(MAX(id), 0) FROM changes").fetch_one(&pool).await {
                Ok(row) => row.try_get::<i64, _>(0).unwrap_or(seen),
                Err(_) => seen,
            };
            if latest != seen {
                seen = latest;
                if !waker.wake() {
                    return;
                }
            } else if waker.is_gone() {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_files_of_urls() {
        assert_eq!(database_file("sqlite://data/mcpgate.db"), Some(PathBuf::from("data/mcpgate.db")));
        assert_eq!(database_file("sqlite:///var/lib/mcpgate.db?mode=rwc"), Some(PathBuf::from("/var/lib/mcpgate.db")));
        assert_eq!(database_file("sqlite::memory:"), None);
        assert_eq!(database_file("sqlite://file:x?mode=memory&cache=shared"), None);
    }
}
