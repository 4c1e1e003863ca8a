//! Fuzz targets for what parses untrusted input: JSON-RPC bodies and
//! batches, the SSE event rewriter, the cty msgpack/JSON decoder, and the
//! merge-patch path of the management API. Property-based (proptest),
//! since cargo fuzz needs a nightly toolchain this project does not have.
//!
//! Each target first replays its committed corpus (`testdata/fuzz/<target>/`),
//! then generates inputs for `MCPGATE_FUZZ_SECONDS` (default 2) and prints
//! one JSON line with its executions. `scripts/fuzz.sh` runs them longer.

use bytes::Bytes;
use mcpgate::mcp::jsonrpc;
use mcpgate::mcp::sse::EventRewriter;
use mcpgate::model::{ProductSpec, ServerSpec, VersionSpec};
use mcpgate::provider::dynamic::{Type, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value as Json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn budget() -> Duration {
    Duration::from_secs(std::env::var("MCPGATE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2))
}

/// The committed inputs of a target.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    files.iter().map(|f| std::fs::read(f).expect("corpus file")).collect()
}

/// Runs `property` on the corpus, then on generated inputs until the budget
/// is spent; panics with the failing input, prints the executions.
fn fuzz<S: Strategy>(target: &str, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>, from_corpus: impl Fn(Vec<u8>) -> S::Value)
where
    S::Value: std::fmt::Debug,
{
    let mut executions = 0u64;
    for input in corpus(target) {
        property(from_corpus(input)).unwrap_or_else(|e| panic!("{target}: corpus input fails: {e}"));
        executions += 1;
    }
    let deadline = Instant::now() + budget();
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        let mut runner = TestRunner::new(Config { cases: 256, failure_persistence: None, ..Config::default() });
        if let Err(failure) = runner.run(&strategy, &property) {
            panic!("{target}: {failure}");
        }
        executions += 256;
        rounds += 1;
    }
    println!("{}", serde_json::json!({ "target": target, "executions": executions, "rounds": rounds, "failures": 0 }));
}

/// Arbitrary JSON, nested a few levels.
fn json_values() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        "\\PC{0,40}".prop_map(Json::String),
        prop_oneof![Just("tools/call"), Just("tools/list"), Just("initialize"), Just("echo"), Just("2.0")].prop_map(|s| Json::String(s.into())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Json::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "\\PC{0,12}",
                    Just("jsonrpc".to_string()),
                    Just("id".into()),
                    Just("method".into()),
                    Just("params".into()),
                    Just("name".into())
                ],
                inner,
                0..8
            )
            .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// Bytes that are JSON-RPC-shaped more often than not.
fn rpc_bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![json_values().prop_map(|v| v.to_string().into_bytes()), prop::collection::vec(any::<u8>(), 0..256),]
}

#[test]
fn json_rpc_bodies_and_batches() {
    fuzz(
        "jsonrpc",
        rpc_bodies(),
        |bytes| {
            let Ok(body) = jsonrpc::Body::parse(&bytes) else { return Ok(()) };
            let messages = body.messages().len();
            prop_assert!(messages > 0, "a parsed body has a message");
            for message in body.messages() {
                let _ = (
                    jsonrpc::method(message),
                    jsonrpc::id(message),
                    jsonrpc::tool_name(message),
                    jsonrpc::is_request(message),
                    jsonrpc::is_response(message),
                );
                if let Some(id) = jsonrpc::id(message) {
                    let reply = jsonrpc::unknown_tool(Some(id), "x");
                    prop_assert_eq!(&reply["id"], id, "replies carry the request's id");
                }
            }
            let batch = body.is_batch();
            let kept = body.clone().retain(|i| i % 2 == 0);
            if let Some(kept) = kept {
                prop_assert_eq!(kept.is_batch(), batch);
                prop_assert_eq!(kept.messages().len(), messages.div_ceil(2));
                let reparsed = jsonrpc::Body::parse(&kept.to_bytes()).map_err(TestCaseError::fail)?;
                prop_assert_eq!(reparsed.messages(), kept.messages(), "what goes upstream parses back the same");
            }
            Ok(())
        },
        |bytes| bytes,
    );
}

/// SSE streams: events, comments, CRLF, split anywhere.
fn sse_streams() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    let event = prop_oneof![
        json_values().prop_map(|v| format!("event: message\ndata: {v}\n\n")),
        json_values().prop_map(|v| format!("id: 7\r\ndata: {v}\r\n\r\n")),
        "\\PC{0,30}".prop_map(|c| format!(": {c}\n\n")),
        "[ -~]{0,40}".prop_map(|d| format!("data: {d}\n\n")),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    (prop::collection::vec(event, 0..8).prop_map(|e| e.concat().into_bytes()), prop::collection::vec(1usize..64, 0..12))
}

#[test]
fn the_sse_rewriter_passes_untouched_streams_through_whatever_the_chunks() {
    fuzz(
        "sse",
        sse_streams(),
        |(stream, cuts)| {
            let mut rewriter = EventRewriter::default();
            let mut never = |_: &str| None;
            let mut out = Vec::new();
            let mut rest = stream.as_slice();
            for cut in cuts {
                let (chunk, tail) = rest.split_at(cut.min(rest.len()));
                out.extend_from_slice(&rewriter.push(Bytes::copy_from_slice(chunk), &mut never));
                rest = tail;
            }
            out.extend_from_slice(&rewriter.push(Bytes::copy_from_slice(rest), &mut never));
            out.extend_from_slice(&rewriter.finish(&mut never));
            prop_assert_eq!(&out, &stream, "bytes no hook changed go through as they came");
            let mut touch = |data: &str| match serde_json::from_str::<Json>(data) {
                Ok(Json::Object(mut object)) => {
                    object.insert("seen".into(), Json::Bool(true));
                    Some(Json::Object(object).to_string())
                }
                _ => None,
            };
            let mut rewriter = EventRewriter::default();
            let _ = rewriter.push(Bytes::from(stream.clone()), &mut touch);
            let _ = rewriter.finish(&mut touch);
            Ok(())
        },
        |bytes| (bytes, vec![]),
    );
}

fn cty_types() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![Just(Type::String), Just(Type::Number), Just(Type::Bool)];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Type::List(Box::new(t))),
            inner.clone().prop_map(|t| Type::Set(Box::new(t))),
            inner.clone().prop_map(|t| Type::Map(Box::new(t))),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4).prop_map(Type::Object),
        ]
    })
}

#[test]
fn the_cty_decoder_takes_any_bytes_and_round_trips_what_it_decodes() {
    fuzz(
        "cty",
        (cty_types(), prop::collection::vec(any::<u8>(), 0..128), json_values()),
        |(ty, bytes, json)| {
            if let Ok(value) = Value::decode_msgpack(&bytes, &ty) {
                let again = Value::decode_msgpack(&value.encode_msgpack(), &ty).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(again, value, "msgpack round trip");
            }
            let _ = Value::decode_json(json.to_string().as_bytes(), &ty);
            let _ = Value::decode_json(&bytes, &ty);
            Ok(())
        },
        |bytes| (Type::Object([("a".to_string(), Type::List(Box::new(Type::String)))].into_iter().collect()), bytes, Json::Null),
    );
}

#[test]
fn merge_patches_on_stored_specs_decode_or_name_the_field() {
    let server = serde_json::json!({ "description": "d", "owner": "o", "tags": { "team": "a" } });
    let version = serde_json::json!({ "backend_url": "http://127.0.0.1:1/mcp", "backend_headers": { "x-a": "b" }, "tool_costs": { "echo": 0.5 } });
    let product = serde_json::json!({ "state": "published", "rate_limit": { "calls": 3, "period_seconds": 60 } });
    fuzz(
        "merge_patch",
        json_values(),
        |patch| {
            for (kind, stored) in [("server", &server), ("version", &version), ("product", &product)] {
                let mut doc = stored.clone();
                json_patch::merge(&mut doc, &patch);
                let outcome = match kind {
                    "server" => mcpgate::model::rules::decode::<ServerSpec>(doc).and_then(|s| s.validate()),
                    "version" => mcpgate::model::rules::decode::<VersionSpec>(doc).and_then(|s| s.validate()),
                    _ => mcpgate::model::rules::decode::<ProductSpec>(doc).and_then(|s| s.validate()),
                };
                if let Err(errors) = outcome {
                    prop_assert!(!errors.0.is_empty() && errors.0.iter().all(|e| !e.field.is_empty()), "every refusal names a field");
                }
            }
            Ok(())
        },
        |bytes| serde_json::from_slice(&bytes).unwrap_or(Json::Null),
    );
}

#[test]
fn every_url_the_schema_allows_is_a_url() {
    let pattern = mcpgate::model::rules::BACKEND_URL_PATTERN.trim_start_matches('^').trim_end_matches('$');
    let urls = proptest::string::string_regex(pattern).expect("the pattern is a regex proptest can generate from");
    fuzz(
        "backend_url",
        urls,
        |url| {
            prop_assert!(mcpgate::model::rules::http_url(&url).is_ok(), "{url:?} matches the published pattern but is refused");
            Ok(())
        },
        |bytes| String::from_utf8_lossy(&bytes).into_owned(),
    );
}
