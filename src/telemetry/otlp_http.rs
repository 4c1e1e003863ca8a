//! Span export over OTLP/HTTP (protobuf): each request's spans are written
//! straight from its observation into OTLP's wire format where the call is
//! recorded (`encode_spans`), and the span thread posts them to
//! `/v1/traces` in batches.
//!
//! Why not the SDK: a span through it was built as the SDK's `SpanData`
//! (its attributes copied into `KeyValue`s), batched, and only then encoded;
//! and opentelemetry-otlp's HTTP exporter first converted every span into
//! opentelemetry-proto's owned messages (two `String`s for each of a span's
//! two dozen attributes), which prost then walked level by level. Written
//! here from the observation's own strings, a span costs the span thread a
//! fraction of that (docs/benchmarks.md, fifteenth and seventeenth passes).
//! The bytes are the ones the SDK's spans, its conversion and prost produce
//! for the same observations (`tests::writes_what_the_sdk_path_encodes`).
//! gRPC export still goes through the SDK (`traces::SdkSpans`).
//!
//! As the SDK's exporter: headers from `OTEL_EXPORTER_OTLP_TRACES_HEADERS` or
//! `OTEL_EXPORTER_OTLP_HEADERS`, a deadline from `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`
//! or `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds, 10 s by default), and
//! retries with backoff on the responses OTLP calls retryable (429, 502,
//! 503, 504, honouring `Retry-After`) and on connection errors, within it.

use super::observation::{BackendCall, Observation, TraceIds};
use super::traces::{self, AttributeValue};
use opentelemetry::Value;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_sdk::Resource;
use prost::encoding::{encode_varint, encoded_len_varint, WireType};
use prost::Message as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
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

/// The span thread's OTLP/HTTP side: requests' spans arrive encoded and
/// are posted once `max` requests' spans are pending, or the thread exports.
pub(crate) struct HttpSpans {
    config: HttpExportConfig,
    client: reqwest::blocking::Client,
    /// The resource's message, written once.
    resource: Vec<u8>,
    resource_schema_url: String,
    /// The pending spans, each a `spans` field of one `ScopeSpans`.
    spans: Vec<u8>,
    pending: usize,
    max: usize,
}

impl HttpSpans {
    /// The blocking client owns a runtime, which must not be created (or
    /// dropped) on a Tokio worker: it is built on a thread of its own, and
    /// dropped with the span thread.
    pub(crate) fn new(config: HttpExportConfig, resource: &Resource, max: usize) -> Result<HttpSpans, String> {
        let timeout = config.timeout;
        crate::http_client::install_crypto_provider();
        let client = std::thread::Builder::new()
            .name("mcpgate-otlp-client".into())
            .spawn(move || reqwest::blocking::Client::builder().timeout(timeout).build())
            .map_err(|e| format!("cannot start the exporter's HTTP client: {e}"))?
            .join()
            .map_err(|_| "building the exporter's HTTP client panicked".to_string())?
            .map_err(|e| format!("cannot build the exporter's HTTP client: {e}"))?;
        Ok(HttpSpans {
            config,
            client,
            resource: encode_resource(resource),
            resource_schema_url: resource.schema_url().unwrap_or_default().to_string(),
            spans: Vec::new(),
            pending: 0,
            max,
        })
    }

    /// Posts one encoded batch, retrying what OTLP calls retryable until the deadline.
    fn post(&self, body: Vec<u8>) -> Result<(), String> {
        let client = &self.client;
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
                        return Err(format!("OTLP export to {} failed with HTTP {status}", self.config.url));
                    }
                    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
                    (format!("HTTP {status}"), retry_after.map_or(backoff, Duration::from_secs))
                }
                Err(err) if err.is_connect() || err.is_timeout() => (err.to_string(), backoff),
                Err(err) => return Err(format!("OTLP export to {} failed: {err}", self.config.url)),
            };
            attempt += 1;
            if attempt > MAX_RETRIES || Instant::now() + wait >= deadline {
                return Err(format!("OTLP export to {} failed after {attempt} attempts: {failure}", self.config.url));
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

impl super::SpanSink for HttpSpans {
    type Span = Vec<u8>;

    fn take(&mut self, spans: Vec<u8>) {
        self.spans.extend_from_slice(&spans);
        self.pending += 1;
        if self.pending >= self.max {
            self.export();
        }
    }

    /// Posts what is pending; the spans are dropped whether or not the
    /// collector took them (the post retried what could be).
    fn export(&mut self) {
        if self.pending == 0 {
            return;
        }
        let body = encode_request(&self.resource, &self.resource_schema_url, &self.spans);
        self.spans.clear();
        self.pending = 0;
        if let Err(err) = self.post(body) {
            tracing::warn!(error = %err, "exporting spans failed");
        }
    }
}

// The wire format. Field numbers are those of opentelemetry/proto/trace/v1,
// common/v1 and collector/trace/v1; as prost does, scalar fields at their
// default value are left out and message fields that are set are written
// even when empty.

/// The `Resource` message's body: its attributes.
fn encode_resource(resource: &Resource) -> Vec<u8> {
    let mut message = Vec::new();
    for (name, value) in resource.iter() {
        nested(&mut message, 1, |out| {
            string(out, 1, name.as_str());
            nested(out, 2, |out| match value {
                Value::Bool(flag) => {
                    key(2, WireType::Varint, out);
                    varint(out, u64::from(*flag));
                }
                Value::I64(number) => any_i64(out, *number),
                Value::F64(number) => {
                    key(4, WireType::SixtyFourBit, out);
                    out.extend_from_slice(&number.to_le_bytes());
                }
                // Strings (`service.name`, `OTEL_RESOURCE_ATTRIBUTES`); arrays,
                // which no resource detector mcpgate uses makes, as their text.
                other => any_string(out, &other.as_str()),
            });
        });
    }
    message
}

/// `ExportTraceServiceRequest` with one `ResourceSpans` and one `ScopeSpans`
/// (the scope `mcpgate`) around the encoded spans.
fn encode_request(resource: &[u8], resource_schema_url: &str, spans: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(spans.len() + resource.len() + 64);
    nested(&mut out, 1, |out| {
        nested(out, 1, |out| out.extend_from_slice(resource));
        nested(out, 2, |out| {
            nested(out, 1, |out| string(out, 1, "mcpgate"));
            out.extend_from_slice(spans);
        });
        string(out, 3, resource_schema_url);
    });
    out
}

/// A sampled request's spans, as `spans` fields of a `ScopeSpans`.
pub(super) fn encode_spans(observation: &Observation) -> Vec<u8> {
    // Most spans fit; a larger one (long arguments or results) grows it once or twice.
    let mut spans = Vec::with_capacity(2048);
    write_spans(&mut spans, observation);
    spans
}

/// The `spans` fields of one observation: its server span and, for a REST
/// API call, the HTTP client span of the request it made.
fn write_spans(out: &mut Vec<u8>, observation: &Observation) {
    let ids = observation.trace;
    nested(out, 2, |out| {
        bytes(out, 1, &ids.trace_id);
        bytes(out, 2, &ids.span_id);
        if let Some(parent) = &ids.parent_span_id {
            bytes(out, 4, parent);
        }
        match traces::span_name_parts(observation) {
            (method, Some(target)) => {
                key(5, WireType::LengthDelimited, out);
                varint(out, (method.len() + 1 + target.len()) as u64);
                out.extend_from_slice(method.as_bytes());
                out.push(b' ');
                out.extend_from_slice(target.as_bytes());
            }
            (method, None) => string(out, 5, method),
        }
        uint(out, 6, SPAN_KIND_SERVER);
        fixed64(out, 7, unix_nanos(observation.start));
        fixed64(out, 8, unix_nanos(observation.start + observation.duration));
        traces::attributes(observation, |key, value| attribute(out, 9, key, value));
        nested(out, 15, |out| status(out, traces::error_status(observation)));
        fixed32(out, 16, flags(ids, ids.parent_span_id.is_some()));
    });
    if let Some(call) = &observation.backend_call {
        write_backend_span(out, ids, call);
    }
}

fn write_backend_span(out: &mut Vec<u8>, parent: TraceIds, call: &BackendCall) {
    nested(out, 2, |out| {
        bytes(out, 1, &parent.trace_id);
        bytes(out, 2, &super::observation::random_id::<8>());
        bytes(out, 4, &parent.span_id);
        string(out, 5, &call.method);
        uint(out, 6, SPAN_KIND_CLIENT);
        fixed64(out, 7, unix_nanos(call.start));
        fixed64(out, 8, unix_nanos(call.start + call.duration));
        traces::backend_attributes(call, |key, value| attribute(out, 9, key, value));
        nested(out, 15, |out| status(out, traces::backend_error_status(call).as_deref()));
        fixed32(out, 16, flags(parent, false));
    });
}

const SPAN_KIND_SERVER: u64 = 2;
const SPAN_KIND_CLIENT: u64 = 3;

/// `Status`: unset, or an error with its description.
fn status(out: &mut Vec<u8>, error: Option<&str>) {
    if let Some(description) = error {
        string(out, 2, description);
        uint(out, 3, 2);
    }
}

/// W3C trace flags (sampled) plus OTLP's "has is-remote" bit and whether
/// the parent is remote.
fn flags(ids: TraceIds, remote_parent: bool) -> u32 {
    u32::from(ids.sampled) | 0x100 | if remote_parent { 0x200 } else { 0 }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64)
}

/// A `KeyValue` field; `AnyValue` is a oneof, so its value is written even at its default.
fn attribute(out: &mut Vec<u8>, field: u32, name: &str, value: AttributeValue<'_>) {
    nested(out, field, |out| {
        string(out, 1, name);
        nested(out, 2, |out| match value {
            AttributeValue::Text(text) => any_string(out, text),
            AttributeValue::Int(number) => any_i64(out, number),
        });
    });
}

fn any_i64(out: &mut Vec<u8>, value: i64) {
    key(3, WireType::Varint, out);
    varint(out, value as u64);
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
    use crate::telemetry::observation::{CallContext, InputRound, ObservedError};
    use crate::telemetry::SpanSink as _;
    use opentelemetry::KeyValue;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};
    use std::sync::{Arc, Mutex};

    /// Keeps the SDK's spans as they are exported.
    #[derive(Debug, Clone, Default)]
    struct Kept(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Kept {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().expect("kept spans").extend(batch);
            Ok(())
        }
    }

    fn context() -> CallContext {
        CallContext {
            server: "weather".into(),
            version: "v2".into(),
            product: "forecasts".into(),
            subscription: Some("sub-1".into()),
            auth_type: "api_key",
            user: Some("alice".into()),
            session_id: Some("session-9".into()),
            protocol_version: Some("2026-07-28".into()),
            client_name: Some("inspector".into()),
            client_version: Some("0.1".into()),
            server_name: Some("weather-server".into()),
            server_version: Some("2.0.0".into()),
            client_address: Some("10.1.2.3".parse().expect("an address")),
            client_port: Some(51_000),
            server_address: Some("gateway.example".into()),
            server_port: Some(8443),
            http_version: "1.1",
            endpoint: Some(Arc::from("/products/forecasts/mcp")),
        }
    }

    fn observation(method: &str, trace: TraceIds) -> Observation {
        let start = UNIX_EPOCH + Duration::from_nanos(1_780_000_000_123_456_789);
        Observation {
            method: method.to_string().into(),
            request_id: Some("7".into()),
            tool: None,
            tool_known: false,
            tool_refused: false,
            prompt: None,
            resource_uri: None,
            start,
            duration: Duration::from_micros(1500),
            trace,
            context: Arc::new(CallContext::default()),
            error: None,
            arguments: None,
            result: None,
            cost: 0.0,
            policy_rule: None,
            backend_call: None,
            unapproved_tools: None,
            input_round: InputRound::default(),
        }
    }

    fn ids(parent: Option<[u8; 8]>, sampled: bool) -> TraceIds {
        TraceIds { trace_id: *b"0123456789abcdef", span_id: *b"span-id!", parent_span_id: parent, sampled }
    }

    fn backend_call(status: Option<u16>, error: Option<&str>) -> BackendCall {
        BackendCall {
            method: "POST".into(),
            url: "https://api.example:8443/v1/orders?secret=1".parse().expect("a URL"),
            status,
            start: UNIX_EPOCH + Duration::from_secs(1_780_000_001),
            duration: Duration::from_millis(12),
            error: error.map(str::to_string),
        }
    }

    /// Every attribute and span shape the gateway produces: each optional
    /// attribute present and absent, an error with and without a JSON-RPC
    /// code, a remote parent, REST API calls that answered, failed with a
    /// 5xx and never answered, an unsampled caller's request (no span),
    /// and values long enough for two- and three-byte length prefixes.
    fn observations() -> Vec<Observation> {
        let mut tool_call = observation("tools/call", ids(Some(*b"parent!!"), true));
        tool_call.tool = Some("forecast".into());
        tool_call.context = Arc::new(context());
        tool_call.arguments = Some("é".repeat(100));
        tool_call.result = Some("y".repeat(20_000));
        tool_call.error = Some(ObservedError { error_type: "-32602".into(), message: "invalid params".into() });
        let mut prompt = observation("prompts/get", ids(None, true));
        prompt.prompt = Some("summary".into());
        prompt.error = Some(ObservedError { error_type: "tool_error".into(), message: String::new() });
        let mut listed = observation("tools/list", ids(None, true));
        listed.unapproved_tools = Some("a,b".into());
        listed.resource_uri = Some(String::new());
        let mut unsampled = observation("tools/list", ids(Some(*b"parent!!"), false));
        unsampled.request_id = None;
        let mut rest = Vec::new();
        for (status, error) in [(Some(201), None), (Some(503), None), (None, Some("connection refused"))] {
            let mut call = observation("tools/call", ids(None, true));
            call.tool = Some("create_order".into());
            call.backend_call = Some(backend_call(status, error));
            rest.push(call);
        }
        [vec![tool_call, prompt, listed, unsampled], rest].concat()
    }

    #[test]
    fn writes_what_the_sdk_path_encodes() {
        let resource = Resource::builder()
            .with_service_name("mcpgate")
            .with_schema_url(
                [KeyValue::new("deployment.environment", "test"), KeyValue::new("replicas", 3_i64)],
                "https://opentelemetry.io/schemas/1.30.0",
            )
            .build();
        let kept = Kept::default();
        let mut sdk = traces::SdkSpans::new(kept.clone(), resource.clone(), 100);
        let mut written = Vec::new();
        for observation in observations() {
            if observation.trace.sampled {
                write_spans(&mut written, &observation);
            }
            sdk.take(Box::new(observation));
        }
        sdk.export();
        let spans = std::mem::take(&mut *kept.0.lock().expect("kept spans"));
        assert_eq!(spans.len(), 9, "an unsampled request has no span; a REST API call has two");
        let expected =
            ExportTraceServiceRequest { resource_spans: group_spans_by_resource_and_scope(spans, &ResourceAttributesWithSchema::from(&resource)) };
        let body = encode_request(&encode_resource(&resource), resource.schema_url().unwrap_or_default(), &written);
        let mut decoded = ExportTraceServiceRequest::decode(body.as_slice()).expect("the request decodes");
        // A client span's id is drawn when it is written, on either path.
        let expected_spans = &expected.resource_spans[0].scope_spans[0].spans;
        for (span, sdk_span) in decoded.resource_spans[0].scope_spans[0].spans.iter_mut().zip(expected_spans) {
            if span.kind == SPAN_KIND_CLIENT as i32 {
                assert_eq!(span.span_id.len(), 8);
                assert_ne!(span.span_id, span.parent_span_id);
                span.span_id.clone_from(&sdk_span.span_id);
            }
        }
        assert_eq!(decoded, expected);
        assert_eq!(body.len(), expected.encoded_len(), "the same fields, none written twice");
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

    /// Posts one batch of spans from a thread of its own, as the span thread does.
    async fn post(server: &wiremock::MockServer) -> Result<(), String> {
        let headers = parse_headers("api-key=secret%20value").expect("valid headers");
        let config = HttpExportConfig { url: format!("{}/v1/traces", server.uri()), headers, timeout: Duration::from_secs(5) };
        tokio::task::spawn_blocking(move || {
            let spans = HttpSpans::new(config, &Resource::builder().build(), 100)?;
            let mut written = Vec::new();
            write_spans(&mut written, &observation("tools/list", ids(None, true)));
            spans.post(encode_request(&spans.resource, "", &written))
        })
        .await
        .expect("the export thread")
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
        post(&server).await.expect("exported on the second attempt");
    }

    #[tokio::test]
    async fn a_rejected_batch_is_not_retried_and_the_error_says_why() {
        use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(ResponseTemplate::new(400)).expect(1).mount(&server).await;
        let err = post(&server).await.expect_err("a 400 fails the export");
        assert!(err.contains("failed with HTTP 400"), "{err}");
    }
}
