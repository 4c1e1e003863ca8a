//! A real third-party MCP server (npm `@modelcontextprotocol/server-everything`)
//! run as a child process on a free loopback port, killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Upstream {
    pub url: String,
    pub port: u16,
    mode: &'static str,
    child: Child,
}

/// Where scripts/test.sh installed the server (override: MCPGATE_UPSTREAM_JS).
pub fn entry_point() -> PathBuf {
    if let Ok(path) = std::env::var("MCPGATE_UPSTREAM_JS") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
}

/// The node_modules directory the npm test tools are installed in.
pub fn node_modules() -> PathBuf {
    let entry = entry_point();
    entry.ancestors().nth(4).map(PathBuf::from).unwrap_or(entry)
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("addr").port()
}

impl Upstream {
    /// Starts server-everything's Streamable HTTP transport and waits until it answers.
    pub async fn start() -> Upstream {
        Upstream::start_mode("streamableHttp", "/mcp").await
    }

    /// Starts the legacy HTTP+SSE transport (`/sse`).
    pub async fn start_sse() -> Upstream {
        Upstream::start_mode("sse", "/sse").await
    }

    async fn start_mode(mode: &'static str, path: &str) -> Upstream {
        let port = free_port();
        let child = spawn(mode, port).await;
        Upstream { url: format!("http://127.0.0.1:{port}{path}"), port, mode, child }
    }

    /// Stops the server and starts it again on the same port: it knows none
    /// of the sessions it had.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.mode, self.port).await;
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// server-everything in `mode` on `port`, once it answers.
async fn spawn(mode: &str, port: u16) -> Child {
    let entry = entry_point();
    assert!(entry.exists(), "{} is missing: run ./scripts/test.sh once to install the test tools", entry.display());
    let child = Command::new("node")
        .arg(&entry)
        .arg(mode)
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "server-everything did not start on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.kill();
    }
}
