//! A real REST service (FastAPI on uvicorn, `testdata/rest/orders.py`) on a
//! free loopback port, killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RestService {
    pub url: String,
    child: Child,
}

impl RestService {
    pub async fn start() -> RestService {
        let port = super::upstream::free_port();
        let child = Command::new(super::python())
            .args(["-m", "uvicorn", "orders:app", "--app-dir"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/rest"))
            .args(["--port", &port.to_string(), "--log-level", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("uvicorn starts");
        let service = RestService { url: format!("http://127.0.0.1:{port}"), child };
        let started = Instant::now();
        let http = mcpgate::http_client::client_builder().build().expect("HTTP client");
        while http.get(format!("{}/_seen", service.url)).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "the orders service did not start on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        service
    }

    /// How many API requests the service has handled.
    pub async fn seen(&self) -> u64 {
        let http = mcpgate::http_client::client_builder().build().expect("HTTP client");
        let seen: serde_json::Value = http.get(format!("{}/_seen", self.url)).send().await.expect("_seen").json().await.expect("JSON");
        seen["requests"].as_u64().unwrap_or(0)
    }
}

impl Drop for RestService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
