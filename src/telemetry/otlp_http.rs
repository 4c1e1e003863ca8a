//! Span export over OTLP/HTTP (protobuf): the span thread's batches
//! (`span_batch`) are written straight from the SDK's `SpanData` into
//! OTLP's wire format and posted to `/v1/traces`.
//!
//! Why not opentelemetry-otlp's HTTP exporter: it first converts every span
//! into opentelemetry-proto's owned messages (two `String`s for each of a
//! span's two dozen attributes), and prost then walks the nested messages'
//! lengths again at each level; with span export on, that was 28,000
//! instructions a span, two thirds of what a span cost the gateway
//! (docs/benchmarks.md, fifteenth pass). The bytes written here are the ones
//! that conversion and prost produce (`tests::writes_what_the_sdk_conversion_encodes`).
//! gRPC export still goes through the SDK's exporter.
//!
//! As the SDK's exporter: headers from `OTEL_EXPORTER_OTLP_TRACES_HEADERS` or
//! `OTEL_EXPORTER_OTLP_HEADERS`, a deadline from `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`
//! or `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds, 10 s by default), and
//! retries with backoff on the responses OTLP calls retryable (429, 502,
//! 503, 504, honouring `Retry-After`) and on connection errors, within it.

use opentelemetry::trace::{SpanContext, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use prost::encoding::{encode_varint, encoded_len_varint, WireType};
use prost::Message as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// What the exporter is configured with; `from_env` reads the standard variables.
#[derive(Debug, Clone)]
pub(crate) struct HttpExportConfig {
    /// The full URL spans are posted to (`…/v1/traces`).
    pub url: String,
    pub headers: HeaderMap,
    pub timeout: Duration,
}

impl HttpExportConfig {
    /// The signal's own variable wins over the general one; a value that
    /// cannot be used is an error naming the variable.
    pub(crate) fn from_env(url: String) -> Result<HttpExportConfig, String> {
        let headers = match super::trace_setting("HEADERS") {
            Some((name, value)) => parse_headers(&value).map_err(|reason| format!("{name}: {reason}"))?,
            None => HeaderMap::new(),
        };
        let timeout = match super::trace_setting("TIMEOUT") {
            Some((name, value)) => parse_timeout(&value).map_err(|reason| format!("{name}: {reason}"))?,
            None => DEFAULT_TIMEOUT,
        };
        Ok(HttpExportConfig { url, headers, timeout })
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(millis) if millis > 0 => Ok(Duration::from_millis(millis)),
        _ => Err(format!("{text:?} is not a positive number of milliseconds")),
    }
}

/// `key1=value1,key2=value2` with percent-encoded values (the W3C baggage
/// form the OTLP exporter specification uses).
fn parse_headers(text: &str) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for entry in text.split(',').filter(|entry| !entry.trim().is_empty()) {
        let Some((name, value)) = entry.split_once('=') else {
            return Err(format!("entry {entry:?} is not name=value"));
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| format!("{:?} is not a header name", name.trim()))?;
        let value = percent_encoding::percent_decode_str(value.trim()).decode_utf8().map_err(|_| format!("the value of {name} is not UTF-8"))?;
        let value = HeaderValue::from_str(&value).map_err(|_| format!("the value of {name} is not a header value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

#[derive(Debug)]
pub(crate) struct HttpSpanExporter {
    config: HttpExportConfig,
    /// Taken at shutdown, so later exports fail and the client's own
    /// runtime thread ends with the exporter's.
    client: Mutex<Option<reqwest::blocking::Client>>,
    /// The resource's message, written once.
    resource: Vec<u8>,
    resource_schema_url: String,
}

impl HttpSpanExporter {
    /// The blocking client owns a runtime, which must not be created (or
    /// dropped) on a Tokio worker: it is built on a thread of its own.
    pub(crate) fn new(config: HttpExportConfig) -> Result<HttpSpanExporter, String> {
        let timeout = config.timeout;
        crate::http_client::install_crypto_provider();
        let client = std::thread::Builder::new()
            .name("mcpgate-otlp-client".into())
            .spawn(move || reqwest::blocking::Client::builder().timeout(timeout).build())
            .map_err(|e| format!("cannot start the exporter's HTTP client: {e}"))?
            .join()
            .map_err(|_| "building the exporter's HTTP client panicked".to_string())?
            .map_err(|e| format!("cannot build the exporter's HTTP client: {e}"))?;
        Ok(HttpSpanExporter { config, client: Mutex::new(Some(client)), resource: Vec::new(), resource_schema_url: String::new() })
    }

    fn client_slot(&self) -> Result<std::sync::MutexGuard<'_, Option<reqwest::blocking::Client>>, OTelSdkError> {
        self.client.lock().map_err(|_| OTelSdkError::InternalFailure("the exporter's client lock is poisoned".into()))
    }

    fn client(&self) -> Result<reqwest::blocking::Client, OTelSdkError> {
        self.client_slot()?.clone().ok_or(OTelSdkError::AlreadyShutdown)
    }

    /// Posts one encoded batch, retrying what OTLP calls retryable until the deadline.
    fn post(&self, body: Vec<u8>) -> OTelSdkResult {
        let client = self.client()?;
        let body = bytes::Bytes::from(body);
        let deadline = Instant::now() + self.config.timeout;
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let outcome = client
                .post(&self.config.url)
                .headers(self.config.headers.clone())
                .header(CONTENT_TYPE, "application/x-protobuf")
                .body(body.clone())
                .timeout(deadline.saturating_duration_since(Instant::now()))
                .send();
            let (failure, wait) = match outcome {
                Ok(response) if response.status().is_success() => {
                    warn_partial_success(&response.bytes().unwrap_or_default());
                    return Ok(());
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    if !matches!(status, 429 | 502 | 503 | 504) {
                        return Err(OTelSdkError::InternalFailure(format!("OTLP export to {} failed with HTTP {status}", self.config.url)));
                    }
                    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
                    (format!("HTTP {status}"), retry_after.map_or(backoff, Duration::from_secs))
                }
                Err(err) if err.is_connect() || err.is_timeout() => (err.to_string(), backoff),
                Err(err) => return Err(OTelSdkError::InternalFailure(format!("OTLP export to {} failed: {err}", self.config.url))),
            };
            attempt += 1;
            if attempt > MAX_RETRIES || Instant::now() + wait >= deadline {
                return Err(OTelSdkError::InternalFailure(format!("OTLP export to {} failed after {attempt} attempts: {failure}", self.config.url)));
            }
            std::thread::sleep(wait);
            backoff *= 2;
        }
    }
}

/// A collector that accepted only part of a batch says so in the body.
fn warn_partial_success(body: &[u8]) {
    let Ok(response) = ExportTraceServiceResponse::decode(body) else { return };
    if let Some(partial) = response.partial_success {
        if partial.rejected_spans > 0 || !partial.error_message.is_empty() {
            tracing::warn!(rejected_spans = partial.rejected_spans, message = %partial.error_message, "the OTLP collector rejected spans");
        }
    }
}

impl opentelemetry_sdk::trace::SpanExporter for HttpSpanExporter {
    /// Runs on the span thread (`span_batch`), never on an async worker,
    /// so blocking here holds up only spans, which queue meanwhile.
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if batch.is_empty() {
            return Ok(());
        }
        self.post(encode_request(&self.resource, &self.resource_schema_url, &batch))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.client_slot()?.take().map(drop).ok_or(OTelSdkError::AlreadyShutdown)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = encode_resource(resource);
        self.resource_schema_url = resource.schema_url().unwrap_or_default().to_string();
    }
}

// The wire format. Field numbers are those of opentelemetry/proto/trace/v1,
// common/v1 and collector/trace/v1; as prost does, scalar fields at their
// default value are left out and message fields that are set are written
// even when empty.

/// The `Resource` message's body: its attributes.
fn encode_resource(resource: &Resource) -> Vec<u8> {
    let mut message = Vec::new();
    for (key, value) in resource.iter() {
        nested(&mut message, 1, |out| key_value(out, key.as_str(), value));
    }
    message
}

/// `ExportTraceServiceRequest` with one `ResourceSpans`, its spans grouped
/// by instrumentation scope in the order the scopes first appear.
pub(crate) fn encode_request(resource: &[u8], resource_schema_url: &str, batch: &[SpanData]) -> Vec<u8> {
    let mut scopes: Vec<(&InstrumentationScope, Vec<&SpanData>)> = Vec::new();
    for span in batch {
        match scopes.iter_mut().find(|(scope, _)| **scope == span.instrumentation_scope) {
            Some((_, spans)) => spans.push(span),
            None => scopes.push((&span.instrumentation_scope, vec![span])),
        }
    }
    let mut out = Vec::with_capacity(batch.len() * 1024);
    nested(&mut out, 1, |out| {
        nested(out, 1, |out| out.extend_from_slice(resource));
        for (scope, spans) in &scopes {
            nested(out, 2, |out| scope_spans(out, scope, spans));
        }
        string(out, 3, resource_schema_url);
    });
    out
}

fn scope_spans(out: &mut Vec<u8>, scope: &InstrumentationScope, spans: &[&SpanData]) {
    nested(out, 1, |out| {
        string(out, 1, scope.name());
        string(out, 2, scope.version().unwrap_or_default());
        for attribute in scope.attributes() {
            nested(out, 3, |out| key_value(out, attribute.key.as_str(), &attribute.value));
        }
    });
    for span in spans {
        nested(out, 2, |out| span_message(out, span));
    }
    string(out, 3, scope.schema_url().unwrap_or_default());
}

fn span_message(out: &mut Vec<u8>, span: &SpanData) {
    let context = &span.span_context;
    bytes(out, 1, &context.trace_id().to_bytes());
    bytes(out, 2, &context.span_id().to_bytes());
    string(out, 3, &context.trace_state().header());
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        bytes(out, 4, &span.parent_span_id.to_bytes());
    }
    string(out, 5, &span.name);
    uint(out, 6, span_kind(&span.span_kind));
    fixed64(out, 7, unix_nanos(span.start_time));
    fixed64(out, 8, unix_nanos(span.end_time));
    attributes(out, 9, &span.attributes);
    uint(out, 10, u64::from(span.dropped_attributes_count));
    for event in span.events.iter() {
        nested(out, 11, |out| {
            fixed64(out, 1, unix_nanos(event.timestamp));
            string(out, 2, &event.name);
            attributes(out, 3, &event.attributes);
            uint(out, 4, u64::from(event.dropped_attributes_count));
        });
    }
    uint(out, 12, u64::from(span.events.dropped_count));
    for link in span.links.iter() {
        nested(out, 13, |out| {
            bytes(out, 1, &link.span_context.trace_id().to_bytes());
            bytes(out, 2, &link.span_context.span_id().to_bytes());
            string(out, 3, &link.span_context.trace_state().header());
            attributes(out, 4, &link.attributes);
            uint(out, 5, u64::from(link.dropped_attributes_count));
            fixed32(out, 6, flags(&link.span_context, link.span_context.is_remote()));
        });
    }
    uint(out, 14, u64::from(span.links.dropped_count));
    nested(out, 15, |out| match &span.status {
        Status::Unset => {}
        Status::Ok => uint(out, 3, 1),
        Status::Error { description } => {
            string(out, 2, description);
            uint(out, 3, 2);
        }
    });
    fixed32(out, 16, flags(context, span.parent_span_is_remote));
}

/// W3C trace flags plus OTLP's "has is-remote" and "is remote" bits.
fn flags(context: &SpanContext, remote: bool) -> u32 {
    u32::from(context.trace_flags().to_u8()) | 0x100 | if remote { 0x200 } else { 0 }
}

fn span_kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64)
}

fn attributes(out: &mut Vec<u8>, field: u32, attributes: &[KeyValue]) {
    for attribute in attributes {
        nested(out, field, |out| key_value(out, attribute.key.as_str(), &attribute.value));
    }
}

#[inline]
fn key_value(out: &mut Vec<u8>, key: &str, value: &Value) {
    string(out, 1, key);
    nested(out, 2, |out| any_value(out, value));
}

/// `AnyValue`: a oneof, so its field is written even at its default.
fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Bool(value) => any_bool(out, *value),
        Value::I64(value) => any_i64(out, *value),
        Value::F64(value) => any_f64(out, *value),
        Value::String(value) => any_string(out, value.as_str()),
        Value::Array(array) => nested(out, 5, |out| match array {
            Array::Bool(values) => values.iter().for_each(|v| nested(out, 1, |out| any_bool(out, *v))),
            Array::I64(values) => values.iter().for_each(|v| nested(out, 1, |out| any_i64(out, *v))),
            Array::F64(values) => values.iter().for_each(|v| nested(out, 1, |out| any_f64(out, *v))),
            Array::String(values) => values.iter().for_each(|v| nested(out, 1, |out| any_string(out, v.as_str()))),
            // Array kinds added to the API later are sent as their text.
            other => nested(out, 1, |out| any_string(out, &other.to_string())),
        }),
        other => any_string(out, &other.to_string()),
    }
}

fn any_bool(out: &mut Vec<u8>, value: bool) {
    key(2, WireType::Varint, out);
    varint(out, u64::from(value));
}

fn any_i64(out: &mut Vec<u8>, value: i64) {
    key(3, WireType::Varint, out);
    varint(out, value as u64);
}

fn any_f64(out: &mut Vec<u8>, value: f64) {
    key(4, WireType::SixtyFourBit, out);
    out.extend_from_slice(&value.to_le_bytes());
}

#[inline]
fn any_string(out: &mut Vec<u8>, value: &str) {
    length_delimited(out, 1, value.as_bytes());
}

/// A length-delimited message field. Its body is written in place and its
/// length put in front of it afterwards, moving the body only when the
/// length takes more than the one byte set aside for it.
fn nested(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    key(field, WireType::LengthDelimited, out);
    let start = out.len();
    out.push(0);
    body(out);
    let length = out.len() - start - 1;
    if length < 0x80 {
        out[start] = length as u8;
        return;
    }
    let prefix = encoded_len_varint(length as u64);
    out.resize(out.len() + prefix - 1, 0);
    out.copy_within(start + 1..start + 1 + length, start + prefix);
    let mut slot = &mut out[start..start + prefix];
    encode_varint(length as u64, &mut slot);
}

/// Most of what is written (field keys, lengths of attribute values) fits
/// one byte: that is pushed without prost's general loop.
#[inline]
fn varint(out: &mut Vec<u8>, value: u64) {
    if value < 0x80 {
        out.push(value as u8);
    } else {
        encode_varint(value, out);
    }
}

#[inline]
fn key(field: u32, wire_type: WireType, out: &mut Vec<u8>) {
    varint(out, u64::from(field << 3 | wire_type as u32));
}

#[inline]
fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    bytes(out, field, value.as_bytes());
}

/// A string or bytes field, left out when empty.
#[inline]
fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    if !value.is_empty() {
        length_delimited(out, field, value);
    }
}

/// A length-delimited field whose bytes are at hand, written even when empty.
#[inline]
fn length_delimited(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    key(field, WireType::LengthDelimited, out);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

#[inline]
fn uint(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(field, WireType::Varint, out);
        varint(out, value);
    }
}

fn fixed32(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        key(field, WireType::ThirtyTwoBit, out);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(field, WireType::SixtyFourBit, out);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Event, Link, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use std::borrow::Cow;

    fn context(trace: u128, span: u64, sampled: bool, remote: bool, state: &str) -> SpanContext {
        let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        let state = TraceState::from_key_value(state.split(',').filter_map(|pair| pair.split_once('='))).expect("trace state");
        SpanContext::new(TraceId::from(trace), SpanId::from(span), flags, remote, state)
    }

    /// Every kind of value, at and away from its default, and strings long
    /// enough for one-, two- and three-byte length prefixes.
    fn every_value() -> Vec<KeyValue> {
        vec![
            KeyValue::new("mcp.method.name", "tools/call"),
            KeyValue::new("empty", ""),
            KeyValue::new("zero", 0_i64),
            KeyValue::new("negative", -42_i64),
            KeyValue::new("false", false),
            KeyValue::new("true", true),
            KeyValue::new("ratio", 0.25_f64),
            KeyValue::new("zero.f64", 0.0_f64),
            KeyValue::new("short.text", "x".repeat(127)),
            KeyValue::new("two.bytes", "é".repeat(100)),
            KeyValue::new("three.bytes", "y".repeat(20_000)),
            KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("ints", Value::Array(Array::I64(vec![0, 7, -1]))),
            KeyValue::new("floats", Value::Array(Array::F64(vec![1.5, 0.0]))),
            KeyValue::new("strings", Value::Array(Array::String(vec!["a".into(), "".into()]))),
            KeyValue::new("no.strings", Value::Array(Array::String(vec![]))),
        ]
    }

    fn span(scope: &InstrumentationScope, name: &'static str, status: Status) -> SpanData {
        let start = UNIX_EPOCH + Duration::from_nanos(1_780_000_000_123_456_789);
        SpanData {
            span_context: context(0xa1b2_c3d4_e5f6_0718_293a_4b5c_6d7e_8f90, 0x1122_3344_5566_7788, true, false, ""),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed(name),
            start_time: start,
            end_time: start + Duration::from_micros(1500),
            attributes: vec![KeyValue::new("gen_ai.tool.name", "echo")],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: scope.clone(),
        }
    }

    fn batch() -> Vec<SpanData> {
        let gateway = InstrumentationScope::builder("mcpgate").build();
        let other = InstrumentationScope::builder("other")
            .with_version("1.2.3")
            .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
            .with_attributes([KeyValue::new("scope.attribute", 3_i64)])
            .build();
        let mut server = span(&gateway, "tools/call echo", Status::error("upstream refused"));
        server.span_context = context(7, 8, true, false, "vendor=value,other=x");
        server.parent_span_id = SpanId::from(9);
        server.parent_span_is_remote = true;
        server.span_kind = SpanKind::Server;
        server.attributes = every_value();
        server.dropped_attributes_count = 2;
        server.events.events = vec![
            Event::new("exception", UNIX_EPOCH + Duration::from_secs(1_780_000_001), vec![KeyValue::new("exception.message", "boom")], 1),
            Event::new("bare", UNIX_EPOCH, vec![], 0),
        ];
        server.events.dropped_count = 3;
        server.links.links = vec![
            Link::new(context(1, 2, false, true, "k=v"), vec![KeyValue::new("link.kind", "follows")], 4),
            Link::new(context(3, 4, true, false, ""), vec![], 0),
        ];
        server.links.dropped_count = 5;
        let mut client = span(&other, "POST", Status::Ok);
        client.span_kind = SpanKind::Client;
        let mut unsampled = span(&gateway, "tools/list", Status::Unset);
        unsampled.span_context = context(5, 6, false, false, "");
        vec![server, client, unsampled, span(&other, "producer", Status::Unset), span(&gateway, "", Status::error(""))]
    }

    #[test]
    fn writes_what_the_sdk_conversion_encodes() {
        let resource = Resource::builder()
            .with_service_name("mcpgate")
            .with_schema_url([KeyValue::new("deployment.environment", "test")], "https://opentelemetry.io/schemas/1.30.0")
            .build();
        let batch = batch();
        let written = encode_request(&encode_resource(&resource), resource.schema_url().unwrap_or_default(), &batch);
        let decoded = ExportTraceServiceRequest::decode(written.as_slice()).expect("the request decodes");
        let expected =
            ExportTraceServiceRequest { resource_spans: group_spans_by_resource_and_scope(batch, &ResourceAttributesWithSchema::from(&resource)) };
        assert_eq!(decoded, expected);
        assert_eq!(decoded.resource_spans[0].scope_spans.len(), 2, "spans are grouped by scope");
        assert_eq!(written.len(), expected.encoded_len(), "the same fields, none written twice");
    }

    #[test]
    fn headers_and_timeout_are_parsed_as_the_otlp_specification_writes_them() {
        let headers = parse_headers("api-key=secret%20value, x-tenant = blue ,,").expect("valid headers");
        assert_eq!(headers.get("api-key").and_then(|v| v.to_str().ok()), Some("secret value"));
        assert_eq!(headers.get("x-tenant").and_then(|v| v.to_str().ok()), Some("blue"));
        assert_eq!(parse_headers("api-key").unwrap_err(), "entry \"api-key\" is not name=value");
        assert_eq!(parse_headers("bad name=1").unwrap_err(), "\"bad name\" is not a header name");
        assert_eq!(parse_headers("k=%0A").unwrap_err(), "the value of k is not a header value");
        assert_eq!(parse_timeout(" 2500 "), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_timeout("0").unwrap_err(), "\"0\" is not a positive number of milliseconds");
        assert_eq!(parse_timeout("10s").unwrap_err(), "\"10s\" is not a positive number of milliseconds");
    }

    async fn export(exporter: HttpSpanExporter) -> OTelSdkResult {
        tokio::task::spawn_blocking(move || {
            use opentelemetry_sdk::trace::SpanExporter as _;
            futures::executor::block_on(exporter.export(batch()))
        })
        .await
        .expect("the export thread")
    }

    fn exporter(server: &wiremock::MockServer) -> HttpSpanExporter {
        let headers = parse_headers("api-key=secret%20value").expect("valid headers");
        HttpSpanExporter::new(HttpExportConfig { url: format!("{}/v1/traces", server.uri()), headers, timeout: Duration::from_secs(5) })
            .expect("exporter")
    }

    #[tokio::test]
    async fn retries_what_otlp_calls_retryable_and_sends_the_configured_headers() {
        use wiremock::matchers::{header, method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        let request = || {
            Mock::given(method("POST"))
                .and(path("/v1/traces"))
                .and(header("content-type", "application/x-protobuf"))
                .and(header("api-key", "secret value"))
        };
        request().respond_with(ResponseTemplate::new(503)).up_to_n_times(1).expect(1).mount(&server).await;
        request().respond_with(ResponseTemplate::new(200)).expect(1).mount(&server).await;
        export(exporter(&server)).await.expect("exported on the second attempt");
    }

    #[tokio::test]
    async fn a_rejected_batch_is_not_retried_and_the_error_says_why() {
        use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(ResponseTemplate::new(400)).expect(1).mount(&server).await;
        let err = export(exporter(&server)).await.expect_err("a 400 fails the export");
        assert!(err.to_string().contains("failed with HTTP 400"), "{err}");
    }

    #[tokio::test]
    async fn an_exporter_that_was_shut_down_exports_nothing() {
        use opentelemetry_sdk::trace::SpanExporter as _;
        let server = wiremock::MockServer::start().await;
        let exporter = exporter(&server);
        exporter.shutdown().expect("first shutdown");
        assert!(matches!(exporter.shutdown(), Err(OTelSdkError::AlreadyShutdown)));
        assert!(matches!(export(exporter).await, Err(OTelSdkError::AlreadyShutdown)));
    }
}
