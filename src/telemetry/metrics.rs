//! Gateway metrics: the MCP semantic-convention histograms and mcpgate's
//! counters, exported to Prometheus (`/metrics`) and, when configured, OTLP.

use super::observation::Observation;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::KeyValue;

/// The label value of anything outside a known set.
pub const OTHER: &str = "_other";

/// The methods of the MCP specification; a client can send anything else.
const MCP_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "sampling/createMessage",
    "elicitation/create",
    "roots/list",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
    "server/discover",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/message",
    "notifications/roots/list_changed",
    "notifications/tools/list_changed",
    "notifications/resources/list_changed",
    "notifications/resources/updated",
    "notifications/prompts/list_changed",
];

fn method_label(method: &str) -> &'static str {
    MCP_METHODS.iter().find(|m| **m == method).copied().unwrap_or(OTHER)
}

/// JSON-RPC codes (the standard ones and the implementation-defined
/// server range), HTTP statuses and the gateway's own words; an upstream
/// inventing codes gets `_other`.
fn error_type_label(error_type: &str) -> String {
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
        error_type.to_string()
    } else {
        OTHER.to_string()
    }
}

/// The MCP semantic conventions' bucket boundaries, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

pub struct Metrics {
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
        Metrics {
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
    /// tools the version offers); anything else is `_other`.
    fn attributes(observation: &Observation) -> Vec<KeyValue> {
        let ctx = &observation.context;
        let mut attributes = vec![
            KeyValue::new("mcp.method.name", method_label(&observation.method)),
            KeyValue::new("mcpgate.server", ctx.server.clone()),
            KeyValue::new("mcpgate.version", ctx.version.clone()),
            KeyValue::new("mcpgate.product", ctx.product.clone()),
            KeyValue::new("network.transport", "tcp"),
        ];
        if let Some(tool) = &observation.tool {
            let label = if observation.tool_known { tool.clone() } else { OTHER.to_string() };
            attributes.push(KeyValue::new("gen_ai.tool.name", label));
        }
        if let Some(error) = &observation.error {
            attributes.push(KeyValue::new("error.type", error_type_label(&error.error_type)));
        }
        attributes
    }

    pub fn record(&self, observation: &Observation) {
        let attributes = Metrics::attributes(observation);
        self.operation_duration.record(observation.duration.as_secs_f64(), &attributes);
        self.calls.add(1, &attributes);
        if observation.error.is_some() {
            self.errors.add(1, &attributes);
        }
    }

    pub fn record_session(&self, seconds: f64, server: &str, version: &str) {
        self.session_duration
            .record(seconds, &[KeyValue::new("mcpgate.server", server.to_string()), KeyValue::new("mcpgate.version", version.to_string())]);
    }

    pub fn record_throttled(&self, reason: &'static str, server: &str, product: &str) {
        let attributes = [
            KeyValue::new("reason", reason),
            KeyValue::new("mcpgate.server", server.to_string()),
            KeyValue::new("mcpgate.product", product.to_string()),
        ];
        self.throttled.add(1, &attributes);
    }

    pub fn record_bytes(&self, request: u64, response: u64, server: &str) {
        let attributes = [KeyValue::new("mcpgate.server", server.to_string())];
        if request > 0 {
            self.request_bytes.add(request, &attributes);
        }
        if response > 0 {
            self.response_bytes.add(response, &attributes);
        }
    }

    /// `event`: `hidden` (from a tools/list answer) or `refused` (a call).
    /// A policy rule's refusal (`policy_denied`, `rate_limited`,
    /// `invalid_arguments`) or failed evaluation (`unevaluable`). Rule names
    /// come from the configuration, so they are fit labels.
    pub fn record_policy(&self, reason: &'static str, product: &str, rule: &str) {
        let attributes =
            [KeyValue::new("reason", reason), KeyValue::new("mcpgate.product", product.to_string()), KeyValue::new("rule", rule.to_string())];
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
            KeyValue::new("mcpgate.product", product.to_string()),
            KeyValue::new("mcpgate.server", server.to_string()),
            KeyValue::new("mcp.method.name", method_label(method)),
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

#[cfg(test)]
mod tests {
    use super::*;

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
