//! Reliability under abuse, for `scripts/stress.sh` (which writes
//! `docs/reliability.md`) and, in short, `scripts/test.sh`. Runs real
//! `mcpgate serve` processes in front of the real server-everything:
//!
//! - write bursts killed with SIGKILL: no acknowledged write is lost, and
//!   concurrent If-Match writers have exactly one winner;
//! - quota traffic killed with SIGKILL at random moments: a quota is never
//!   exceeded across restarts;
//! - 200 concurrent callers against a quota: exactly the quota;
//! - callers of one product against another product's server: all refused;
//! - 10,000 invented tool names: `/metrics`, memory, analytics groups and
//!   the database stay bounded;
//! - sign-in posts with 1 MiB user names: memory stays bounded;
//! - malformed requests: no 5xx, no crash.
//!
//! Usage: bench-stress MCPGATE_BINARY UPSTREAM_JS CYCLES NAMES → JSON lines; exits 1 on any failure.

use rand::Rng;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "stress-admin-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

struct Mcpgate {
    child: Child,
    admin: String,
    gateway: String,
}

impl Mcpgate {
    async fn start(binary: &str, database: &str) -> Mcpgate {
        let (admin_port, gateway_port) = (free_port(), free_port());
        let child = Command::new(binary)
            .args([
                "serve",
                "--database",
                database,
                "--admin-listen",
                &format!("127.0.0.1:{admin_port}"),
                "--gateway-listen",
                &format!("127.0.0.1:{gateway_port}"),
            ])
            .env("MCPGATE_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mcpgate starts");
        let node = Mcpgate { child, admin: format!("http://127.0.0.1:{admin_port}"), gateway: format!("http://127.0.0.1:{gateway_port}") };
        let started = Instant::now();
        while !http().get(format!("{}/healthz", node.admin)).send().await.map(|r| r.status().is_success()).unwrap_or(false) {
            assert!(started.elapsed() < Duration::from_secs(30), "mcpgate did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Option<(u16, Value, String)> {
        let mut request = http().request(method, format!("{}/api/v1/{path}", self.admin)).bearer_auth(TOKEN);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.ok()?;
        let status = reply.status().as_u16();
        let etag = reply.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body = reply.json().await.unwrap_or(Value::Null);
        Some((status, body, etag))
    }

    async fn put(&self, path: &str, body: Value) -> Value {
        let (status, body, _) = self.api(reqwest::Method::PUT, path, Some(body), &[]).await.expect("the API answers");
        assert!((200..300).contains(&status), "PUT {path}: {status} {body}");
        body
    }

    async fn mcp(&self, server: &str, key: &str, body: &Value) -> Option<u16> {
        mcp_call(&self.gateway, server, key, body).await
    }
}

/// One MCP POST; the status, or `None` when the gateway did not answer.
async fn mcp_call(gateway: &str, server: &str, key: &str, body: &Value) -> Option<u16> {
    let reply = http()
        .post(format!("{gateway}/mcp/{server}"))
        .header("x-subscription-key", key)
        .header("accept", "application/json, text/event-stream")
        .json(body)
        .send()
        .await
        .ok()?;
    let status = reply.status().as_u16();
    reply.bytes().await.ok()?;
    Some(status)
}

impl Drop for Mcpgate {
    fn drop(&mut self) {
        self.kill();
    }
}

fn http() -> reqwest::Client {
    mcpgate::http_client::client_builder().timeout(Duration::from_secs(30)).build().expect("HTTP client")
}

fn initialize(id: u64) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "stress", "version": "1" } } })
}

struct Upstream(Child, String);

impl Upstream {
    async fn start(js: &str) -> Upstream {
        let port = free_port();
        let child = Command::new("node")
            .arg(js)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node");
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Upstream(child, format!("http://127.0.0.1:{port}/mcp"))
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn report(experiment: &str, failed: u64, figures: Value) -> bool {
    let mut line = figures;
    line["experiment"] = json!(experiment);
    line["failed"] = json!(failed);
    println!("{line}");
    failed == 0
}

/// Writers PUT new servers until SIGKILL; after a restart every acknowledged
/// write is there as acknowledged. Then If-Match races: one winner each.
async fn write_bursts(binary: &str, dir: &std::path::Path, cycles: u32) -> bool {
    let database = format!("sqlite://{}/writes.db", dir.display());
    let (mut tried, mut acknowledged, mut lost, mut races, mut bad_races) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for cycle in 0..cycles {
        let mut node = Mcpgate::start(binary, &database).await;
        let deadline = Instant::now() + Duration::from_millis(rand::rng().random_range(100..400));
        let writers = (0..8).map(|w| {
            let (admin, cycle) = (node.admin.clone(), cycle);
            tokio::spawn(async move {
                let client = http();
                let mut done = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline + Duration::from_secs(1) {
                    let name = format!("c{cycle}-w{w}-n{n}");
                    let body = json!({ "description": format!("written {n}") });
                    let sent = client.put(format!("{admin}/api/v1/servers/{name}")).bearer_auth(TOKEN).json(&body).send().await;
                    let etag = match sent {
                        Ok(reply) if reply.status().is_success() => reply.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string),
                        Ok(_) => None,
                        Err(_) => break,
                    };
                    done.push((name, etag));
                    n += 1;
                }
                done
            })
        });
        let handles: Vec<_> = writers.collect();
        tokio::time::sleep_until(deadline.into()).await;
        node.kill();
        let mut written = Vec::new();
        for handle in handles {
            written.extend(handle.await.unwrap_or_default());
        }
        let restarted = Mcpgate::start(binary, &database).await;
        for (name, etag) in &written {
            tried += 1;
            let Some(etag) = etag else { continue };
            acknowledged += 1;
            match restarted.api(reqwest::Method::GET, &format!("servers/{name}"), None, &[]).await {
                Some((200, _, stored)) if stored == *etag => {}
                _ => lost += 1,
            }
        }
        // If-Match races on one resource.
        let (_, _, etag) = restarted
            .api(reqwest::Method::PUT, "servers/contended", Some(json!({ "description": format!("round {cycle}") })), &[])
            .await
            .unwrap_or_default();
        let racers = (0..6).map(|r| {
            let (admin, etag) = (restarted.admin.clone(), etag.clone());
            tokio::spawn(async move {
                let reply = http()
                    .put(format!("{admin}/api/v1/servers/contended"))
                    .bearer_auth(TOKEN)
                    .header("if-match", etag)
                    .json(&json!({ "description": format!("racer {r}") }))
                    .send()
                    .await;
                reply.map(|r| r.status().is_success()).unwrap_or(false)
            })
        });
        let winners = futures::future::join_all(racers).await.into_iter().filter(|r| matches!(r, Ok(true))).count();
        races += 1;
        if winners != 1 {
            bad_races += 1;
        }
    }
    report(
        "write bursts killed with SIGKILL",
        lost + bad_races,
        json!({ "cycles": cycles, "tried": tried, "acknowledged": acknowledged, "lost": lost, "if_match_races": races, "races_without_one_winner": bad_races }),
    )
}

/// Quota traffic killed at random moments: over every restart, the calls
/// admitted never exceed the quota.
async fn quota_after_crash(binary: &str, upstream: &str, dir: &std::path::Path, cycles: u32) -> bool {
    const QUOTA: u64 = 2000;
    let database = format!("sqlite://{}/quota.db", dir.display());
    let key = {
        let node = Mcpgate::start(binary, &database).await;
        node.put("servers/everything", json!({})).await;
        node.put("servers/everything/versions/v1", json!({ "backend_url": upstream })).await;
        node.put("products/metered", json!({ "state": "published", "quota": { "calls": QUOTA, "period_seconds": 86400 } })).await;
        node.put("products/metered/servers/everything", json!({})).await;
        node.put("subscriptions/crashy", json!({ "product": "metered" })).await["primary_key"].as_str().unwrap_or_default().to_string()
    };
    let (mut admitted, mut over) = (0u64, 0u64);
    for _ in 0..cycles {
        let mut node = Mcpgate::start(binary, &database).await;
        let kill_after = Duration::from_millis(rand::rng().random_range(50..400));
        let deadline = Instant::now() + kill_after;
        let callers = (0..6).map(|c| {
            let (gateway, key) = (node.gateway.clone(), key.clone());
            tokio::spawn(async move {
                let mut ok = 0;
                let mut i = 0;
                while Instant::now() < deadline + Duration::from_secs(1) {
                    match mcp_call(&gateway, "everything", &key, &initialize(c * 10_000 + i)).await {
                        Some(200) => ok += 1,
                        Some(_) => {}
                        None => break,
                    }
                    i += 1;
                }
                ok
            })
        });
        let handles: Vec<_> = callers.collect();
        tokio::time::sleep(kill_after).await;
        node.kill();
        for handle in handles {
            admitted += handle.await.unwrap_or(0);
        }
        if admitted > QUOTA {
            over += 1;
        }
    }
    // A clean run spends what is left: what a crash stranded (reserved, never spent) shows.
    let node = Mcpgate::start(binary, &database).await;
    let mut left = 0;
    while node.mcp("everything", &key, &initialize(left)).await == Some(200) {
        left += 1;
    }
    let figures = json!({ "cycles": cycles, "quota": QUOTA, "admitted_in_crashed_runs": admitted, "admitted_after": left,
                          "stranded_by_crashes": QUOTA.saturating_sub(admitted + left), "cycles_over_quota": over });
    report("quota traffic killed with SIGKILL", over + u64::from(admitted + left > QUOTA), figures)
}

/// 200 concurrent callers, a quota of 50: exactly 50. Then 1,000 calls of
/// one product's subscriber to another product's server: all refused.
async fn exactness_and_isolation(binary: &str, upstream: &str, dir: &std::path::Path) -> bool {
    use futures::StreamExt;
    let node = Mcpgate::start(binary, &format!("sqlite://{}/exact.db", dir.display())).await;
    for server in ["one", "two"] {
        node.put(&format!("servers/{server}"), json!({})).await;
        node.put(&format!("servers/{server}/versions/v1"), json!({ "backend_url": upstream })).await;
    }
    node.put("products/fifty", json!({ "state": "published", "quota": { "calls": 50, "period_seconds": 86400 } })).await;
    node.put("products/fifty/servers/one", json!({})).await;
    node.put("products/two", json!({ "state": "published" })).await;
    node.put("products/two/servers/two", json!({})).await;
    let key = node.put("subscriptions/exact", json!({ "product": "fifty" })).await["primary_key"].as_str().unwrap_or_default().to_string();
    let bodies: Vec<Value> = (0..1000).map(initialize).collect();
    let calls = bodies[..200].iter().map(|body| node.mcp("one", &key, body));
    let admitted = futures::stream::iter(calls).buffer_unordered(200).filter(|s| futures::future::ready(*s == Some(200))).count().await as u64;
    let exact = report("quota of 50, 200 concurrent callers", u64::from(admitted != 50), json!({ "tried": 200, "admitted": admitted }));
    let attempts = bodies.iter().map(|body| node.mcp("two", &key, body));
    let refused = futures::stream::iter(attempts).buffer_unordered(32).filter(|s| futures::future::ready(*s == Some(403))).count().await as u64;
    let isolated = report("calls to another product's server", 1000 - refused, json!({ "tried": 1000, "refused": refused }));
    exact && isolated
}

async fn metrics_size(node: &Mcpgate) -> usize {
    http().get(format!("{}/metrics", node.admin)).send().await.ok().map(|r| r.content_length().unwrap_or(0) as usize).unwrap_or(0)
}

/// Invented tool names, twice `names` of them: `/metrics` and memory stay bounded.
async fn metrics_attack(binary: &str, upstream: &str, dir: &std::path::Path, names: u32) -> bool {
    use futures::StreamExt;
    let node = Mcpgate::start(binary, &format!("sqlite://{}/metrics.db", dir.display())).await;
    node.put("servers/everything", json!({})).await;
    node.put("servers/everything/versions/v1", json!({ "backend_url": upstream })).await;
    node.put("products/gold", json!({ "state": "published" })).await;
    node.put("products/gold/servers/everything", json!({ "tools": ["echo"] })).await;
    let key = node.put("subscriptions/attacker", json!({ "product": "gold" })).await["primary_key"].as_str().unwrap_or_default().to_string();
    node.mcp("everything", &key, &json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "echo" } })).await;
    let size_before = metrics_size(&node).await;
    let attack = |round: u32| {
        let node = &node;
        let key = key.clone();
        async move {
            let calls = (0..names).map(|i| {
                let name = format!("invented-{round}-{i}-{}", rand::random::<u64>());
                let body = json!({ "jsonrpc": "2.0", "id": i, "method": "tools/call", "params": { "name": name } });
                let key = key.clone();
                async move { node.mcp("everything", &key, &body).await }
            });
            futures::stream::iter(calls).buffer_unordered(32).filter(|s| futures::future::ready(s.is_some())).count().await
        }
    };
    // The first round warms everything up. Memory then moves by up to
    // ±20 MiB from round to round (the allocator's and the store's caches,
    // as the call log grows), so the bound is what the old defect would
    // break many times over: labels for invented names grew RSS by 60 MB
    // per 2,000 names, 120 MB over the next two rounds; allow 32 MiB.
    let answered = attack(0).await;
    let (size_after, rss_after) = (metrics_size(&node).await, node.rss_kib());
    let database_after_first = database_size(dir, "metrics.db");
    let answered_again = attack(1).await;
    let (size_again, rss_again) = (metrics_size(&node).await, node.rss_kib());
    let answered_third = attack(2).await;
    let (size_third, rss_third) = (metrics_size(&node).await, node.rss_kib());
    // Refused names are one analytics group, "(refused)": the call log
    // keeps each name in its row only, so the database grows by a row per
    // call (under 1 KiB), not by a rollup row per name in every cube.
    let (_, groups, _) = node.api(reqwest::Method::GET, "analytics?group_by=tool&limit=1000", None, &[]).await.unwrap_or_default();
    let tool_groups = groups["items"].as_array().map_or(0, Vec::len);
    // Measured over the last two rounds, once the database's own size and
    // its write-ahead log have settled.
    let database_per_call = database_size(dir, "metrics.db").saturating_sub(database_after_first) / u64::from(2 * names);
    let bounded = size_after < size_before * 2 + 16 * 1024
        && size_again <= size_after + 1024
        && size_third <= size_after + 1024
        && rss_third < rss_after + 32 * 1024
        && rss_third < 200 * 1024
        && tool_groups <= 2
        && database_per_call < 1024;
    report(
        "invented tool names, three rounds",
        u64::from(!bounded),
        json!({ "tried": 3 * names, "answered": answered + answered_again + answered_third, "metrics_bytes_before": size_before, "metrics_bytes_after": size_after,
                "metrics_bytes_after_third": size_third, "rss_mib_rounds": [rss_after / 1024, rss_again / 1024, rss_third / 1024],
                "analytics_tool_groups": tool_groups, "database_bytes_per_call": database_per_call }),
    )
}

/// The SQLite database's size on disk, with its write-ahead log.
fn database_size(dir: &std::path::Path, name: &str) -> u64 {
    ["", "-wal"].iter().filter_map(|suffix| std::fs::metadata(dir.join(format!("{name}{suffix}"))).ok()).map(|m| m.len()).sum()
}

/// Sign-in attempts with huge user names, as anyone can post them: 1 MiB
/// forms are refused unread (413), and names just under the form's limit
/// share one failure count, so two rounds of them leave memory where the
/// first left it (before, 200 1 MiB names grew the process by 237 MB); the
/// client's address is locked out.
async fn sign_in_flood(binary: &str, dir: &std::path::Path, attempts: u32) -> bool {
    use futures::StreamExt;
    let node = Mcpgate::start(binary, &format!("sqlite://{}/sign-in.db", dir.display())).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let Ok(page) = client.get(format!("{}/portal/sign-in", node.admin)).send().await else { return report("sign-in flood", 1, json!({})) };
    let cookie = page.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|c| c.split(';').next()).unwrap_or_default().to_string();
    let html = page.text().await.unwrap_or_default();
    let token = html.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default().to_string();
    let round = |first: u32| {
        let posts = (first..first + attempts).map(|i| {
            let (client, cookie, token) = (client.clone(), cookie.clone(), token.clone());
            // Every other name is 1 MiB; the rest just fit the form's 16 KiB.
            let length = if i % 2 == 0 { 1024 * 1024 } else { 15 * 1024 };
            let name = format!("{i}{}", "n".repeat(length));
            let url = format!("{}/portal/sign-in", node.admin);
            async move {
                let form = [("name", name.as_str()), ("password", "not the password"), ("csrf", token.as_str())];
                client.post(url).header("cookie", cookie).form(&form).send().await.map(|r| r.status().as_u16()).ok()
            }
        });
        futures::stream::iter(posts).buffer_unordered(16).collect::<Vec<Option<u16>>>()
    };
    let rss_before = node.rss_kib();
    let mut statuses = round(0).await;
    let rss_first = node.rss_kib();
    statuses.extend(round(attempts).await);
    let rss_second = node.rss_kib();
    let count = |status: u16| statuses.iter().filter(|s| **s == Some(status)).count() as u64;
    let growth_mib = rss_second.saturating_sub(rss_first) / 1024;
    let failed = u64::from(growth_mib >= 8) + u64::from(count(429) == 0) + u64::from(count(413) == 0);
    report(
        "sign-in flood, 1 MiB and 15 KiB user names, two rounds",
        failed,
        json!({ "tried": 2 * attempts, "too_large": count(413), "locked_out": count(429), "rss_mib_rounds": [rss_before / 1024, rss_first / 1024, rss_second / 1024],
                "rss_growth_second_round_mib": growth_mib }),
    )
}

/// Malformed requests of every kind: none gets a 5xx, the process survives.
async fn malformed(binary: &str, upstream: &str, dir: &std::path::Path) -> bool {
    let node = Mcpgate::start(binary, &format!("sqlite://{}/malformed.db", dir.display())).await;
    node.put("servers/everything", json!({})).await;
    node.put("servers/everything/versions/v1", json!({ "backend_url": upstream })).await;
    node.put("products/gold", json!({ "state": "published" })).await;
    node.put("products/gold/servers/everything", json!({ "tools": ["echo"] })).await;
    let key = node.put("subscriptions/fuzzy", json!({ "product": "gold" })).await["primary_key"].as_str().unwrap_or_default().to_string();
    let mut bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[".to_vec(),
        b"null".to_vec(),
        b"true".to_vec(),
        b"42".to_vec(),
        b"\"x\"".to_vec(),
        b"[]".to_vec(),
        b"[1, 2, 3]".to_vec(),
        b"[[]]".to_vec(),
        b"{}".to_vec(),
        b"\xff\xfe\x00".to_vec(),
        b"{\"jsonrpc\": \"2.0\"}".to_vec(),
        "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {\"name\": \"\u{0}\"}}".as_bytes().to_vec(),
    ];
    let odd_values = [json!(null), json!(1), json!(-1), json!(1e308), json!("x"), json!([]), json!({}), json!(true), json!("x".repeat(100_000))];
    for value in &odd_values {
        for field in ["id", "method", "params", "jsonrpc"] {
            let mut message = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "echo" } });
            message[field] = value.clone();
            bodies.push(message.to_string().into_bytes());
        }
        bodies.push(json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": value } }).to_string().into_bytes());
        bodies.push(
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "echo", "arguments": value, "_meta": value } })
                .to_string()
                .into_bytes(),
        );
    }
    bodies.push(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes());
    bodies.push(format!("{{\"a\":{}1{}}}", "{\"a\":".repeat(5_000), "}".repeat(5_000)).into_bytes());
    let mut server_errors = 0u64;
    let tried = bodies.len() as u64;
    for body in bodies {
        let reply = http()
            .post(format!("{}/mcp/everything", node.gateway))
            .header("x-subscription-key", &key)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
            .await;
        if reply.map(|r| r.status().is_server_error()).unwrap_or(true) {
            server_errors += 1;
        }
    }
    let alive = http().get(format!("{}/healthz", node.admin)).send().await.map(|r| r.status().is_success()).unwrap_or(false);
    report(
        "malformed gateway requests",
        server_errors + u64::from(!alive),
        json!({ "tried": tried, "server_errors": server_errors, "alive_after": alive }),
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [binary, upstream_js, cycles, names] = args.as_slice() else {
        eprintln!("usage: bench-stress MCPGATE_BINARY UPSTREAM_JS CYCLES NAMES");
        std::process::exit(2);
    };
    let cycles: u32 = cycles.parse().expect("CYCLES is a number");
    let names: u32 = names.parse().expect("NAMES is a number");
    let dir = tempfile::tempdir().expect("a temp dir");
    let upstream = Upstream::start(upstream_js).await;
    let results = [
        write_bursts(binary, dir.path(), cycles).await,
        quota_after_crash(binary, &upstream.1, dir.path(), cycles).await,
        exactness_and_isolation(binary, &upstream.1, dir.path()).await,
        metrics_attack(binary, &upstream.1, dir.path(), names).await,
        sign_in_flood(binary, dir.path(), 200).await,
        malformed(binary, &upstream.1, dir.path()).await,
    ];
    if results.contains(&false) {
        std::process::exit(1);
    }
}
