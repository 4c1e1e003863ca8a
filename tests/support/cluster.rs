//! A real mcpgate cluster: one `--role admin` process and N `--role
//! gateway` processes sharing one PostgreSQL store, Redis counters and
//! secret key, each on its own loopback ports. Every process is killed on drop.

use super::upstream::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Node {
    pub admin_url: String,
    pub gateway_url: Option<String>,
    child: Child,
}

impl Node {
    fn spawn(role: &str, database: &str, redis: &str, secret_key: &str, token: &str, extra: &[&str]) -> Node {
        let (admin_port, gateway_port) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_mcpgate"))
            .args(["serve", "--role", role, "--database", database, "--counters", redis])
            .args(["--admin-listen", &format!("127.0.0.1:{admin_port}"), "--gateway-listen", &format!("127.0.0.1:{gateway_port}")])
            .args(extra)
            .env("MCPGATE_SECRET_KEY", secret_key)
            .env("MCPGATE_ADMIN_TOKEN", token)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mcpgate starts");
        let gateway_url = (role != "admin").then(|| format!("http://127.0.0.1:{gateway_port}"));
        Node { admin_url: format!("http://127.0.0.1:{admin_port}"), gateway_url, child }
    }

    /// Spawns a node and waits until it is ready. Its ports are picked free
    /// and then bound by the new process, so another process may take one in
    /// between: a node that exits before it is ready is started again on
    /// other ports.
    async fn start(role: &str, database: &str, redis: &str, secret_key: &str, token: &str, extra: &[&str]) -> Node {
        for _ in 0..5 {
            let mut node = Node::spawn(role, database, redis, secret_key, token, extra);
            if node.wait_ready().await {
                return node;
            }
        }
        panic!("a {role} node exited before it was ready, five times (see its stderr above)");
    }

    /// Whether the node answered `/healthz`; false when it exited first.
    async fn wait_ready(&mut self) -> bool {
        let client = mcpgate::http_client::client_builder().build().expect("HTTP client");
        let started = Instant::now();
        loop {
            if let Ok(reply) = client.get(format!("{}/healthz", self.admin_url)).send().await {
                if reply.status().is_success() {
                    return true;
                }
            }
            if self.child.try_wait().is_ok_and(|status| status.is_some()) {
                return false;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{} did not become ready", self.admin_url);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn mcp_url(&self, server: &str) -> String {
        format!("{}/mcp/{server}", self.gateway_url.as_deref().expect("a gateway node"))
    }

    /// SIGKILL: no shutdown, nothing flushed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Cluster {
    pub admin: Node,
    pub gateways: Vec<Node>,
    pub token: String,
}

impl Cluster {
    /// Starts the admin and `gateways` gateway processes on `database` and
    /// `redis`; `gateway_args` are added to each gateway's command line.
    pub async fn start(database: &str, redis: &str, gateways: usize, gateway_args: &[&str]) -> Cluster {
        let (_, secret_key) = mcpgate::secrets::SecretKey::generate();
        let token = "cluster-admin-token".to_string();
        // The admin migrates the database; gateways start once it is ready.
        let admin = Node::start("admin", database, redis, &secret_key, &token, &[]).await;
        let mut nodes = Vec::new();
        for _ in 0..gateways {
            nodes.push(Node::start("gateway", database, redis, &secret_key, &token, gateway_args).await);
        }
        let gateways = nodes;
        Cluster { admin, gateways, token }
    }

    /// A management API call against the admin process.
    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request = mcpgate::http_client::client_builder()
            .build()
            .expect("HTTP client")
            .request(method, format!("{}/api/v1/{path}", self.admin.admin_url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.expect("the admin answers");
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    /// PUT that must succeed; returns the body.
    pub async fn create(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, reply) = self.api(reqwest::Method::PUT, path, Some(body)).await;
        assert!(status.is_success(), "PUT {path}: {status} {reply}");
        reply
    }
}
