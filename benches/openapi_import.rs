//! How long importing a large real API description takes, for
//! `scripts/bench-openapi.sh`: GitHub's REST description (npm
//! `@octokit/openapi`, about 1,200 operations) read into tools, as a write of
//! a version with an `openapi` block does.
//!
//! Usage: bench-openapi DOCUMENT [ROUNDS] → one JSON line.

use mcpgate::model::openapi::{import, Selection};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: bench-openapi DOCUMENT [ROUNDS]");
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let text = std::fs::read_to_string(&path).expect("the document reads");
    let mut seconds = Vec::new();
    let mut tools = 0;
    let mut schema_bytes = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let api = import(&text, &Selection::default()).unwrap_or_else(|errors| panic!("{} problems, first: {}", errors.len(), errors[0]));
        seconds.push(started.elapsed().as_secs_f64());
        tools = api.operations.len();
        schema_bytes = api.operations.iter().map(|op| op.definition.to_string().len()).sum::<usize>();
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    println!(
        "{}",
        serde_json::json!({ "document_bytes": text.len(), "tools": tools, "definitions_bytes": schema_bytes, "rounds": rounds,
                            "median_seconds": (median * 1000.0).round() / 1000.0, "max_seconds": (seconds[seconds.len() - 1] * 1000.0).round() / 1000.0 })
    );
}
