//! Gateway metrics: the MCP semantic-convention histograms and mcpgate's
//! counters, exported to Prometheus (`/metrics`) and, when configured, OTLP.

use super::observation::Observation;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::KeyValue;

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
        }
    }

    /// Low-cardinality attributes: never the session, request id or URI.
    fn attributes(observation: &Observation) -> Vec<KeyValue> {
        let ctx = &observation.context;
        let mut attributes = vec![
            KeyValue::new("mcp.method.name", observation.method.clone()),
            KeyValue::new("mcpgate.server", ctx.server.clone()),
            KeyValue::new("mcpgate.version", ctx.version.clone()),
            KeyValue::new("mcpgate.product", ctx.product.clone()),
            KeyValue::new("network.transport", "tcp"),
        ];
        if let Some(tool) = &observation.tool {
            attributes.push(KeyValue::new("gen_ai.tool.name", tool.clone()));
        }
        if let Some(error) = &observation.error {
            attributes.push(KeyValue::new("error.type", error.error_type.clone()));
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

    pub fn record_dropped(&self, signal: &'static str) {
        self.dropped.add(1, &[KeyValue::new("signal", signal)]);
    }
}
