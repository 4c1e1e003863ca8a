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

/// A PostgreSQL server of its own, on a free port, that a test may stop and
/// start again (the shared one others use must stay up). Removed on drop.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    /// initdb and start; as root, the server runs as the `postgres` user
    /// (initdb refuses root), as scripts/lib/tools.sh runs it.
    pub fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.flatten().map(|v| v.path().join("bin")).filter(|b| b.join("initdb").exists()).max())
            .expect("PostgreSQL's server binaries under /usr/lib/postgresql: ./scripts/test.sh installs them");
        let dir = tempfile::Builder::new().prefix("mcpgate-private-pg").tempdir().expect("temp dir");
        let postgres = PrivatePostgres { dir, bin, port: super::upstream::free_port() };
        if Self::as_root() {
            let owned = std::process::Command::new("chown").arg("postgres").arg(postgres.dir.path()).status().expect("chown runs");
            assert!(owned.success(), "chown postgres {}", postgres.dir.path().display());
        }
        let data = postgres.data();
        postgres.run("initdb", &["-D", &data, "-A", "trust", "-U", "mcpgate"]);
        postgres.start_server();
        postgres
    }

    fn as_root() -> bool {
        std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let output = if Self::as_root() {
            std::process::Command::new("runuser").args(["-u", "postgres", "--"]).arg(&program).args(args).output()
        } else {
            std::process::Command::new(&program).args(args).output()
        }
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"));
        assert!(output.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    pub fn url(&self) -> String {
        format!("postgres://mcpgate@127.0.0.1:{}/postgres", self.port)
    }

    pub fn start_server(&self) {
        let data = self.data();
        let log = self.dir.path().join("server.log").display().to_string();
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        self.run("pg_ctl", &["-D", &data, "-l", &log, "-w", "-o", &options, "start"]);
    }

    /// Stops the server, ending every connection (`-m fast`).
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let stop = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let program = self.bin.join("pg_ctl");
        let _ = if Self::as_root() {
            std::process::Command::new("runuser").args(["-u", "postgres", "--"]).arg(&program).args(stop).output()
        } else {
            std::process::Command::new(&program).args(stop).output()
        };
    }
}
