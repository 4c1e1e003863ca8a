//! The real engines scripts/test.sh starts: a throwaway PostgreSQL (a fresh
//! database per test) and Redis.

use sqlx::Connection;

fn required(variable: &str, what: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| panic!("{variable} is not set: run ./scripts/test.sh, which starts {what} for the tests"))
}

/// A new, empty database on the test PostgreSQL.
pub async fn fresh_postgres() -> String {
    let admin = required("MCPGATE_TEST_POSTGRES", "PostgreSQL");
    let name = format!("t_{}", hex::encode(rand::random::<[u8; 8]>()));
    let mut connection = sqlx::PgConnection::connect(&admin).await.expect("the test PostgreSQL answers");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.expect("CREATE DATABASE");
    let (base, _) = admin.rsplit_once('/').expect("a database URL");
    format!("{base}/{name}")
}

pub fn redis_url() -> String {
    required("MCPGATE_TEST_REDIS", "Redis")
}
