//! Configuration propagation across replicas, for `scripts/bench-cluster.sh`:
//! creates subscriptions through one admin process and times how long until
//! every gateway replica admits the new key.
//! Usage: bench-propagation ADMIN_URL TOKEN WRITES GATEWAY_MCP_URL...
//!   → one JSON line: p50, p99 and max milliseconds over WRITES writes.

use std::time::{Duration, Instant};

async fn until_admitted(client: &reqwest::Client, url: &str, key: &str) -> Duration {
    let started = Instant::now();
    loop {
        let reply = client
            .post(url)
            .header("x-subscription-key", key)
            .header("accept", "application/json, text/event-stream")
            .json(&serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }))
            .send()
            .await;
        if let Ok(reply) = reply {
            if reply.status() != reqwest::StatusCode::UNAUTHORIZED && reply.status() != reqwest::StatusCode::FORBIDDEN {
                return started.elapsed();
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            panic!("{url} never admitted the new key");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [admin, token, writes, gateways @ ..] = args.as_slice() else {
        eprintln!("usage: bench-propagation ADMIN_URL TOKEN WRITES GATEWAY_MCP_URL...");
        std::process::exit(2);
    };
    let writes: usize = writes.parse().expect("WRITES is a number");
    let client = mcpgate::http_client::client_builder().build().expect("HTTP client");
    let mut samples = Vec::with_capacity(writes);
    for i in 0..writes {
        let started = Instant::now();
        let reply: serde_json::Value = client
            .put(format!("{admin}/api/v1/subscriptions/propagation-{i}"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "product": "bench" }))
            .send()
            .await
            .expect("the admin answers")
            .json()
            .await
            .expect("JSON");
        let key = reply["primary_key"].as_str().expect("a new key").to_string();
        let waits = gateways.iter().map(|url| until_admitted(&client, url, &key));
        futures::future::join_all(waits).await;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    println!("{}", serde_json::json!({ "writes": writes, "replicas": gateways.len(), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0) }));
}
