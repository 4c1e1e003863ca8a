//! A second real MCP server (`testdata/mcp/kb.py`, PyPI `mcp` over
//! Streamable HTTP) on a free loopback port, killed on drop: what a
//! product's endpoint federates with server-everything.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct KbServer {
    /// Its MCP endpoint.
    pub url: String,
    port: u16,
    child: Option<Child>,
}

impl KbServer {
    pub async fn start() -> KbServer {
        let port = super::upstream::free_port();
        let mut server = KbServer { url: format!("http://127.0.0.1:{port}/mcp"), port, child: None };
        server.restart().await;
        server
    }

    /// Starts it (again) on its port and waits until it answers.
    pub async fn restart(&mut self) {
        let child = Command::new(super::python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/mcp/kb.py"))
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the kb MCP server starts");
        self.child = Some(child);
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "the kb MCP server did not start on port {}", self.port);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for KbServer {
    fn drop(&mut self) {
        self.stop();
    }
}
