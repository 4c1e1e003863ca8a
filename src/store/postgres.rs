//! PostgreSQL, for several mcpgate processes on one store: opening, the
//! schema, the advisory lock that makes writers take turns, and LISTEN for
//! the changes other processes commit.

use super::changes::WeakWaker;
use super::sql::{Dialect, Embedded, Pool, SqlBackend};
use super::StoreError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::time::Duration;

/// The channel every write notifies (its payload: the change id).
const CHANNEL: &str = "mcpgate_changes";
/// The advisory lock writers take for their transaction: one writer at a
/// time, so checks hold at commit and change ids follow commit order.
const WRITERS_LOCK: i64 = 0x006d_6370_6761_7465;

/// The schema: each file of `migrations/postgres/`, in order (a test keeps the two equal).
pub(super) const MIGRATIONS: [(i64, &str, &str); 7] = [
    (1, "schema", include_str!("../../migrations/postgres/0001_schema.sql")),
    (2, "authorization servers", include_str!("../../migrations/postgres/0002_authorization_servers.sql")),
    (3, "portal users", include_str!("../../migrations/postgres/0003_portal_users.sql")),
    (4, "policies", include_str!("../../migrations/postgres/0004_policies.sql")),
    (5, "product endpoints", include_str!("../../migrations/postgres/0005_product_endpoints.sql")),
    (6, "input rounds", include_str!("../../migrations/postgres/0006_input_rounds.sql")),
    (7, "call indexes", include_str!("../../migrations/postgres/0007_call_indexes.sql")),
];

pub(super) async fn open(url: &str) -> Result<SqlBackend, StoreError> {
    // A request waits at most this long for a connection: long enough to
    // ride out a burst, short enough that an unreachable database is a
    // prompt 503 rather than a hung client.
    let pool = PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(3)).connect(url).await?;
    Migrator::new(Embedded(&MIGRATIONS)).await?.run(&pool).await?;
    Ok(SqlBackend { pool: Pool::Postgres(pool), dialect: Dialect::Postgres })
}

pub(super) async fn lock_writers(tx: &mut Transaction<'static, Postgres>) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITERS_LOCK).execute(&mut **tx).await?;
    Ok(())
}

/// Wakes readers on every notification, and after a lost connection (what
/// was notified meanwhile is then read from the change table). Ends when the
/// store is gone.
pub(super) fn listen_changes(pool: PgPool, waker: WeakWaker) {
    tokio::spawn(async move {
        while !waker.is_gone() {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for configuration changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(err) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %err, "LISTEN {CHANNEL} failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            // Anything committed before LISTEN took effect is read now.
            waker.wake();
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => {
                        if !waker.wake() {
                            return;
                        }
                    }
                    // The connection dropped; notifications may be lost.
                    Ok(None) | Err(_) => {
                        waker.wake();
                        break;
                    }
                }
            }
        }
    });
}
