//! Analytics over a large call log, for `scripts/bench-cluster.sh`: fills a
//! store with N generated tool calls through the store's own write path
//! (call rows and hourly rollups, as gateways write them), then times the
//! analytics queries the API answers.
//! Usage: bench-analytics DATABASE_URL CALLS  → one JSON line per query.

use chrono::{TimeDelta, Utc};
use mcpgate::model::calls::{summarize, CallRecord, CallStatus, GroupBy};
use mcpgate::store::AnalyticsQuery;
use std::time::Instant;

/// A cheap, well-spread hash of a call number (splitmix64), for dimensions
/// that vary independently of one another.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const CLIENTS: [&str; 4] = ["claude-code", "vscode", "cursor", "python-sdk"];

/// Call `n` of `total`, spread over the last seven days.
fn call(n: u64, total: u64) -> CallRecord {
    let h = mix(n);
    let span_ms = 7 * 24 * 3600 * 1000;
    let ago = TimeDelta::milliseconds((span_ms as u64 * (total - n) / total) as i64);
    CallRecord {
        time: Utc::now() - ago,
        subscription: Some(format!("sub-{}", h % 50)),
        product: format!("product-{}", (h >> 8) % 3),
        server: format!("server-{}", (h >> 16) % 3),
        version: format!("v{}", (h >> 24) % 2 + 1),
        tool: format!("tool-{}", (h >> 32) % 8),
        client_name: Some(CLIENTS[((h >> 40) % 4) as usize].to_string()),
        client_version: None,
        session_id: None,
        duration_ms: 0.2 + ((h >> 44) % 5000) as f64 / 10.0,
        status: if (h >> 56) % 50 == 0 { CallStatus::Error } else { CallStatus::Ok },
        error_type: None,
        error_message: None,
        arguments: None,
        result: None,
        cost: 0.001,
        trace_id: Some(format!("{h:032x}")),
        policy_rule: None,
        endpoint: None,
        awaits_input: None,
        continues: None,
        tool_refused: false,
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(total)) = (args.next(), args.next().and_then(|n| n.parse::<u64>().ok())) else {
        eprintln!("usage: bench-analytics DATABASE_URL CALLS");
        std::process::exit(2);
    };
    // The benchmark scripts serve the filled store afterwards with this key.
    let key = match std::env::var("MCPGATE_SECRET_KEY") {
        Ok(text) => mcpgate::secrets::SecretKey::parse(&text).expect("MCPGATE_SECRET_KEY is a secret key"),
        Err(_) => mcpgate::secrets::SecretKey::generate().0,
    };
    let key = std::sync::Arc::new(key);
    let store = mcpgate::store::open_with(&url, key).await.expect("the store opens");
    let started = Instant::now();
    const BATCH: u64 = 5_000;
    let mut n = 0;
    while n < total {
        let batch: Vec<CallRecord> = (n..(n + BATCH).min(total)).map(|i| call(i, total)).collect();
        store.insert_calls(batch).await.expect("calls are written");
        n += BATCH;
    }
    let load_s = started.elapsed().as_secs_f64();
    println!("{}", serde_json::json!({ "query": "load", "calls": total, "seconds": load_s }));
    let week = Utc::now() - TimeDelta::days(7);
    let queries: Vec<(&str, AnalyticsQuery)> = vec![
        ("by tool, all time", AnalyticsQuery { group_by: GroupBy::Tool, server: None, subscription: None, from: None, to: None }),
        (
            "by version, one server",
            AnalyticsQuery { group_by: GroupBy::Version, server: Some("server-1".into()), subscription: None, from: None, to: None },
        ),
        (
            "by subscription, last 3.5 days (partial hours at both edges)",
            AnalyticsQuery {
                group_by: GroupBy::Subscription,
                server: None,
                subscription: None,
                from: Some(week + TimeDelta::minutes(5 * 24 * 60 + 17)),
                to: Some(Utc::now() - TimeDelta::minutes(23)),
            },
        ),
        (
            "by tool, one subscription",
            AnalyticsQuery { group_by: GroupBy::Tool, server: None, subscription: Some("sub-7".into()), from: None, to: None },
        ),
        ("by client, all time", AnalyticsQuery { group_by: GroupBy::Client, server: None, subscription: None, from: None, to: None }),
    ];
    for (name, query) in queries {
        let mut times = Vec::new();
        let mut calls = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let stats = summarize(query.group_by, &store.analytics(&query).await.expect("analytics answers"));
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            calls = stats.iter().map(|s| s.calls).sum::<u64>();
        }
        times.sort_by(f64::total_cmp);
        println!("{}", serde_json::json!({ "query": name, "calls": calls, "median_ms": times[2], "max_ms": times[4] }));
    }
}
