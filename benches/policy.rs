//! What one policy condition costs, for `scripts/bench-gateway.sh`: a CEL
//! `when` expression compiled once and evaluated against a tool call's
//! facts, as the gateway does for every call a rule's tools cover.
//!
//! Usage: bench-policy [EVALUATIONS] → one JSON line: CPU ns per evaluation
//! of each expression, as a call's first (building the variables it reads)
//! and as a further one on the same call. CPU time rather than wall time:
//! the machine is shared.

use axum::http::HeaderMap;
use mcpgate::model::cel::{CallFacts, Expression, Scope};
use serde_json::json;

/// This thread's CPU time, in nanoseconds.
fn cpu_ns() -> u128 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as u128 * 1_000_000_000 + now.tv_nsec as u128
}

fn main() {
    let evaluations: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let arguments = json!({ "amount": 150, "currency": "EUR", "order": "A-1001", "note": "customer asked twice" });
    let claims = json!({ "sub": "u-7", "scope": "refunds" }).as_object().cloned().unwrap_or_default();
    let headers = HeaderMap::new();
    let facts = CallFacts {
        method: "tools/call",
        tool: "refund",
        arguments: Some(&arguments),
        subscription: Some("alice"),
        product: "payments",
        server: "shop",
        version: "v1",
        client: Some("copilot"),
        claims: Some(&claims),
        headers: &headers,
    };
    let mut measured = Vec::new();
    for source in ["mcp.tool.arguments.amount > 100", "token.claims.sub == 'u-7' && mcp.tool.name.startsWith('ref')", "subscription.name == 'bob'"] {
        let expression = Expression::compile(source).expect("the expression compiles");
        assert!(expression.evaluate(&Scope::new(&facts)).is_some(), "{source} evaluates");
        // A call's first evaluation builds the variables it reads...
        let started = cpu_ns();
        for _ in 0..evaluations {
            std::hint::black_box(expression.evaluate(&Scope::new(std::hint::black_box(&facts))));
        }
        let first = (cpu_ns() - started) as f64 / f64::from(evaluations);
        // ...which further rules on the same call read as they are.
        let scope = Scope::new(&facts);
        let started = cpu_ns();
        for _ in 0..evaluations {
            std::hint::black_box(expression.evaluate(std::hint::black_box(&scope)));
        }
        let again = (cpu_ns() - started) as f64 / f64::from(evaluations);
        measured.push(json!({ "expression": source, "first_ns": first.round(), "again_ns": again.round() }));
    }
    println!("{}", json!({ "evaluations": evaluations, "expressions": measured }));
}
