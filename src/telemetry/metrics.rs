//! Gateway metrics: the MCP semantic-convention histograms and mcpgate's
//! counters, exported to Prometheus (`/metrics`) and, when configured, OTLP.

use super::observation::Observation;
use hashbrown::{Equivalent, HashMap};
use opentelemetry::metrics::{BoundCounter, BoundHistogram, Counter, Histogram, Meter};
use opentelemetry::KeyValue;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The label value of anything outside a known set.
pub const OTHER: &str = "_other";

/// A method's label: its name when the specification has it, else `_other`
/// (a client can send anything, and labels are bounded).
fn method_label(method: &str) -> &'static str {
    crate::mcp::method(method).unwrap_or(OTHER)
}

/// JSON-RPC codes (the standard ones and the implementation-defined
/// server range), HTTP statuses and the gateway's own words; an upstream
/// inventing codes gets `_other`.
fn error_type_label(error_type: &str) -> &str {
    let known_word = [
        "tool_error",
        "tool_not_approved",
        "timeout",
        "upstream_unavailable",
        "_OTHER",
        "invalid_tool_name",
        "policy_denied",
        "rate_limited",
        "invalid_arguments",
    ]
    .contains(&error_type);
    let code = error_type.parse::<i64>().ok();
    let known_code = code.is_some_and(|c| matches!(c, -32768..=-32000 | 100..=599));
    if known_word || known_code {
        error_type
    } else {
        OTHER
    }
}

/// The MCP semantic conventions' bucket boundaries, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Series a thread keeps bound before it starts over.
const MAX_SERIES: usize = 4096;

pub struct Metrics {
    /// Tells this set of instruments' series apart in the per-thread cache.
    id: u64,
    operation_duration: Histogram<f64>,
    session_duration: Histogram<f64>,
    calls: Counter<u64>,
    errors: Counter<u64>,
    throttled: Counter<u64>,
    request_bytes: Counter<u64>,
    response_bytes: Counter<u64>,
    dropped: Counter<u64>,
    unapproved: Counter<u64>,
    policy: Counter<u64>,
    member_failures: Counter<u64>,
    names_left_out: Counter<u64>,
}

impl Metrics {
    pub fn new(meter: &Meter) -> Metrics {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Metrics {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            operation_duration: meter
                .f64_histogram("mcp.server.operation.duration")
                .with_unit("s")
                .with_description("MCP request duration as observed by the gateway, from receipt to the response")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            session_duration: meter
                .f64_histogram("mcp.server.session.duration")
                .with_unit("s")
                .with_description("Duration of MCP sessions through the gateway")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            calls: meter.u64_counter("mcpgate.gateway.calls").with_description("JSON-RPC requests handled").build(),
            errors: meter.u64_counter("mcpgate.gateway.errors").with_description("JSON-RPC requests that ended in an error").build(),
            throttled: meter.u64_counter("mcpgate.gateway.throttled").with_description("Requests refused by a rate limit or quota").build(),
            request_bytes: meter.u64_counter("mcpgate.gateway.request.size").with_unit("By").with_description("Request body bytes received").build(),
            response_bytes: meter.u64_counter("mcpgate.gateway.response.size").with_unit("By").with_description("Response body bytes sent").build(),
            dropped: meter
                .u64_counter("mcpgate.telemetry.dropped")
                .with_description("Spans and call records dropped because a queue was full")
                .build(),
            unapproved: meter
                .u64_counter("mcpgate.gateway.tools.unapproved")
                .with_description("Tools hidden from tools/list, or calls refused, because a definition is not the approved one")
                .build(),
            policy: meter
                .u64_counter("mcpgate.gateway.policy.refusals")
                .with_description("Calls a policy rule refused or throttled, and rules whose condition could not be evaluated, per rule")
                .build(),
            member_failures: meter
                .u64_counter("mcpgate.gateway.member.failures")
                .with_description("A product endpoint's member servers left out of an answer: failed, timed out, or unsupported")
                .build(),
            names_left_out: meter
                .u64_counter("mcpgate.gateway.member.names_left_out")
                .with_description("Tools and prompts a product endpoint left out of a list: names clients reject, or taken by another member")
                .build(),
        }
    }

    /// Low-cardinality attributes: never the session, request id or URI,
    /// and only values from known sets (configured names, MCP methods,
    /// tools the version offers); anything else is `_other`. In key order,
    /// as the SDK keeps a series.
    fn attributes(series: &SeriesRef) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(7);
        if let Some(error) = series.error {
            attributes.push(KeyValue::new("error.type", error.to_string()));
        }
        if let Some(tool) = series.tool {
            attributes.push(KeyValue::new("gen_ai.tool.name", tool.to_string()));
        }
        attributes.extend([
            KeyValue::new("mcp.method.name", series.method),
            KeyValue::new("mcpgate.product", series.product.to_string()),
            KeyValue::new("mcpgate.server", series.server.to_string()),
            KeyValue::new("mcpgate.version", series.version.to_string()),
            KeyValue::new("network.transport", "tcp"),
        ]);
        attributes
    }

    /// A call's duration, and its count and error count. Each thread keeps
    /// the instruments bound to the series it has written, found by a cheap
    /// hash of borrowed names: looking the attribute set up in the SDK
    /// (SipHash over seven attributes, per instrument) cost 7,000
    /// instructions per call.
    pub fn record(&self, observation: &Observation) {
        thread_local! {
            static BOUND: RefCell<HashMap<SeriesKey, CallSeries>> = RefCell::new(HashMap::new());
        }
        let series = SeriesRef::of(self.id, observation);
        with_bound(
            &BOUND,
            &series,
            || (series.to_key(), self.bind(&series)),
            |call| {
                call.duration.record(observation.duration.as_secs_f64());
                call.calls.add(1);
                if let Some(errors) = &call.errors {
                    errors.add(1);
                }
            },
        );
    }

    fn bind(&self, series: &SeriesRef) -> CallSeries {
        let attributes = Metrics::attributes(series);
        CallSeries {
            duration: self.operation_duration.bind(&attributes),
            calls: self.calls.bind(&attributes),
            errors: series.error.is_some().then(|| self.errors.bind(&attributes)),
        }
    }

    pub fn record_session(&self, seconds: f64, server: &str, version: &str) {
        self.session_duration
            .record(seconds, &[KeyValue::new("mcpgate.server", server.to_string()), KeyValue::new("mcpgate.version", version.to_string())]);
    }

    pub fn record_throttled(&self, reason: &'static str, server: &str, product: &str) {
        let attributes = [
            KeyValue::new("mcpgate.product", product.to_string()),
            KeyValue::new("mcpgate.server", server.to_string()),
            KeyValue::new("reason", reason),
        ];
        self.throttled.add(1, &attributes);
    }

    /// Body bytes of one exchange with `server`, through counters each
    /// thread keeps bound per server (as `record` does).
    pub fn record_bytes(&self, request: u64, response: u64, server: &str) {
        thread_local! {
            static BOUND: RefCell<HashMap<ServerKey, [BoundCounter<u64>; 2]>> = RefCell::new(HashMap::new());
        }
        let bind = || {
            let attributes = [KeyValue::new("mcpgate.server", server.to_string())];
            let bound = [self.request_bytes.bind(&attributes), self.response_bytes.bind(&attributes)];
            (ServerKey { metrics: self.id, server: server.into() }, bound)
        };
        with_bound(&BOUND, &ServerRef { metrics: self.id, server }, bind, |[request_bytes, response_bytes]| {
            if request > 0 {
                request_bytes.add(request);
            }
            if response > 0 {
                response_bytes.add(response);
            }
        });
    }

    /// `event`: `hidden` (from a tools/list answer) or `refused` (a call).
    /// A policy rule's refusal (`policy_denied`, `rate_limited`,
    /// `invalid_arguments`) or failed evaluation (`unevaluable`). Rule names
    /// come from the configuration, so they are fit labels.
    pub fn record_policy(&self, reason: &'static str, product: &str, rule: &str) {
        let attributes =
            [KeyValue::new("mcpgate.product", product.to_string()), KeyValue::new("reason", reason), KeyValue::new("rule", rule.to_string())];
        self.policy.add(1, &attributes);
    }

    pub fn record_unapproved(&self, event: &'static str, count: u64, server: &str, version: &str) {
        let attributes = [
            KeyValue::new("event", event),
            KeyValue::new("mcpgate.server", server.to_string()),
            KeyValue::new("mcpgate.version", version.to_string()),
        ];
        self.unapproved.add(count, &attributes);
    }

    /// A member left out of a product endpoint's answer to `method`;
    /// `reason`: `timeout`, `upstream_unavailable`, `unsupported`, … (a known set).
    pub fn record_member_failure(&self, product: &str, server: &str, method: &str, reason: &'static str) {
        let attributes = [
            KeyValue::new("mcp.method.name", method_label(method)),
            KeyValue::new("mcpgate.product", product.to_string()),
            KeyValue::new("mcpgate.server", server.to_string()),
            KeyValue::new("reason", reason),
        ];
        self.member_failures.add(1, &attributes);
    }

    /// Names of a member a product endpoint left out of a list; `reason`:
    /// `rejected_name` or `collision`.
    pub fn record_names_left_out(&self, product: &str, server: &str, reason: &'static str, count: u64) {
        let attributes = [
            KeyValue::new("mcpgate.product", product.to_string()),
            KeyValue::new("mcpgate.server", server.to_string()),
            KeyValue::new("reason", reason),
        ];
        self.names_left_out.add(count, &attributes);
    }

    pub fn record_dropped(&self, signal: &'static str) {
        self.dropped.add(1, &[KeyValue::new("signal", signal)]);
    }
}

/// Writes through the instruments this thread's `cache` keeps bound to
/// `series`, binding them (`bind`) the first time: a hit is one lookup.
fn with_bound<Q, K, V>(
    cache: &'static std::thread::LocalKey<RefCell<HashMap<K, V>>>,
    series: &Q,
    bind: impl FnOnce() -> (K, V),
    write: impl FnOnce(&V),
) where
    Q: std::hash::Hash + Equivalent<K>,
    K: std::hash::Hash + Eq,
{
    cache.with_borrow_mut(|bound| {
        if let Some(instruments) = bound.get(series) {
            return write(instruments);
        }
        if bound.len() >= MAX_SERIES {
            bound.clear();
        }
        let (key, instruments) = bind();
        write(&instruments);
        bound.insert(key, instruments);
    });
}

/// The instruments of one series of calls.
struct CallSeries {
    duration: BoundHistogram<f64>,
    calls: BoundCounter<u64>,
    errors: Option<BoundCounter<u64>>,
}

/// A series' attribute values, as a call has them.
#[derive(Hash)]
struct SeriesRef<'a> {
    metrics: u64,
    method: &'static str,
    product: &'a str,
    server: &'a str,
    version: &'a str,
    tool: Option<&'a str>,
    error: Option<&'a str>,
}

/// A series' attribute values, kept. Hashes as its `SeriesRef` does.
#[derive(Hash, PartialEq, Eq)]
struct SeriesKey {
    metrics: u64,
    method: &'static str,
    product: Box<str>,
    server: Box<str>,
    version: Box<str>,
    tool: Option<Box<str>>,
    error: Option<Box<str>>,
}

impl<'a> SeriesRef<'a> {
    fn of(metrics: u64, observation: &'a Observation) -> SeriesRef<'a> {
        let ctx = &observation.context;
        SeriesRef {
            metrics,
            method: method_label(&observation.method),
            product: &ctx.product,
            server: &ctx.server,
            version: &ctx.version,
            tool: observation.tool.as_deref().map(|tool| if observation.tool_known { tool } else { OTHER }),
            error: observation.error.as_ref().map(|error| error_type_label(&error.error_type)),
        }
    }

    fn to_key(&self) -> SeriesKey {
        SeriesKey {
            metrics: self.metrics,
            method: self.method,
            product: self.product.into(),
            server: self.server.into(),
            version: self.version.into(),
            tool: self.tool.map(Into::into),
            error: self.error.map(Into::into),
        }
    }
}

impl Equivalent<SeriesKey> for SeriesRef<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        self.metrics == key.metrics
            && self.method == key.method
            && self.product == &*key.product
            && self.server == &*key.server
            && self.version == &*key.version
            && self.tool == key.tool.as_deref()
            && self.error == key.error.as_deref()
    }
}

/// A server's bytes series, as an exchange names it, and kept.
#[derive(Hash)]
struct ServerRef<'a> {
    metrics: u64,
    server: &'a str,
}

#[derive(Hash, PartialEq, Eq)]
struct ServerKey {
    metrics: u64,
    server: Box<str>,
}

impl Equivalent<ServerKey> for ServerRef<'_> {
    fn equivalent(&self, key: &ServerKey) -> bool {
        self.metrics == key.metrics && self.server == &*key.server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_attributes_are_in_key_order() {
        let series = SeriesRef {
            metrics: 0,
            method: "tools/call",
            product: "gold",
            server: "weather",
            version: "v1",
            tool: Some("forecast"),
            error: Some("-32602"),
        };
        let keys: Vec<String> = Metrics::attributes(&series).iter().map(|kv| kv.key.to_string()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys.len(), 7);
        assert_eq!(keys, sorted);
    }

    #[test]
    fn labels_come_from_known_sets() {
        assert_eq!(method_label("tools/call"), "tools/call");
        assert_eq!(method_label(&"x".repeat(10_000)), OTHER);
        assert_eq!(method_label("tools/call\u{0}"), OTHER);
        assert_eq!(error_type_label("-32602"), "-32602");
        assert_eq!(error_type_label("404"), "404");
        assert_eq!(error_type_label("tool_error"), "tool_error");
        assert_eq!(error_type_label("-1234567"), OTHER);
        assert_eq!(error_type_label("hello"), OTHER);
    }
}
