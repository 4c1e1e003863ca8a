//! Logs, traces, metrics and the call log. The gateway hands finished
//! observations to [`Telemetry::record`], which updates counters, writes an
//! OTLP/HTTP span's bytes, and queues the rest: spans are exported (for
//! gRPC, built too), and call records written, in the background, through
//! bounded queues whose drops are counted.

pub mod call_log;
pub mod metrics;
pub mod observation;
mod otlp_http;
pub mod payload;
mod span_batch;
pub mod traces;

use crate::model::calls::{CallRecord, CallStatus};
use crate::store::DynStore;
use observation::Observation;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use payload::PayloadPolicy;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing_subscriber::EnvFilter;

/// Logs go to stderr; `MCPGATE_LOG` (or `RUST_LOG`) picks the level.
pub fn init_logging() {
    let filter = std::env::var("MCPGATE_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

#[derive(Debug, Clone)]
pub struct Otlp {
    /// Base endpoint, e.g. `http://collector:4318` (HTTP) or `http://collector:4317` (gRPC).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
}

#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    pub otlp: Option<Otlp>,
    pub payload: PayloadPolicy,
    pub retention: call_log::Retention,
    /// Capacity of each background queue; past it, records are dropped and counted.
    pub queue_capacity: usize,
    pub call_log_flush: Duration,
    pub call_log_write: call_log::Write,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            otlp: None,
            payload: PayloadPolicy::default(),
            retention: call_log::Retention { max_age: Duration::from_secs(30 * 24 * 3600), max_rows: 1_000_000 },
            queue_capacity: 4096,
            call_log_flush: Duration::from_millis(250),
            call_log_write: call_log::Write::Behind,
        }
    }
}

impl TelemetrySettings {
    /// OTLP from the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT and
    /// OTEL_EXPORTER_OTLP_PROTOCOL (`http/protobuf`, the default, or `grpc`);
    /// OTEL_SDK_DISABLED=true turns export off.
    pub fn otlp_from_env() -> Option<Otlp> {
        if std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.is_empty())?;
        let protocol = trace_setting("PROTOCOL").map(|(_, value)| value).unwrap_or_default();
        let protocol = if protocol.trim() == "grpc" { OtlpProtocol::Grpc } else { OtlpProtocol::HttpProtobuf };
        Some(Otlp { endpoint, protocol })
    }
}

/// An OTLP exporter setting for spans, with the variable it was read from:
/// `OTEL_EXPORTER_OTLP_TRACES_{setting}` wins over `OTEL_EXPORTER_OTLP_{setting}`.
fn trace_setting(setting: &str) -> Option<(String, String)> {
    [format!("OTEL_EXPORTER_OTLP_TRACES_{setting}"), format!("OTEL_EXPORTER_OTLP_{setting}")]
        .into_iter()
        .find_map(|name| std::env::var(&name).ok().map(|value| (name, value)))
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot set up OTLP export to {endpoint}: {message}")]
    Otlp { endpoint: String, message: String },
    #[error("cannot set up Prometheus metrics: {0}")]
    Prometheus(String),
}

enum SpanJob<Span> {
    Span(Span),
    Flush(std_mpsc::Sender<()>),
}

/// The span thread's queue, by what crosses it.
#[derive(Clone)]
enum SpanQueue {
    /// OTLP/HTTP: a request's spans, already in the wire format. They are
    /// written where the call is recorded, so the observation's two dozen
    /// strings are freed by the thread that allocated them, and one buffer
    /// crosses instead (docs/benchmarks.md, seventeenth pass).
    Encoded(std_mpsc::SyncSender<SpanJob<Vec<u8>>>),
    /// gRPC: the observation, built into the SDK's spans on the span thread.
    Sdk(std_mpsc::SyncSender<SpanJob<Box<Observation>>>),
}

impl SpanQueue {
    /// Queues a request's spans; false when the queue is full.
    fn queue(&self, observation: Observation) -> bool {
        match self {
            SpanQueue::Encoded(queue) => {
                if !observation.trace.sampled {
                    return true;
                }
                queue.try_send(SpanJob::Span(otlp_http::encode_spans(&observation))).is_ok()
            }
            SpanQueue::Sdk(queue) => queue.try_send(SpanJob::Span(Box::new(observation))).is_ok(),
        }
    }

    /// Blocks until the span thread has exported what was queued before.
    fn flush(&self) {
        let (done, flushed) = std_mpsc::channel();
        let sent = match self {
            SpanQueue::Encoded(queue) => queue.send(SpanJob::Flush(done)).is_ok(),
            SpanQueue::Sdk(queue) => queue.send(SpanJob::Flush(done)).is_ok(),
        };
        if sent {
            let _ = flushed.recv();
        }
    }
}

pub struct Telemetry {
    pub metrics: metrics::Metrics,
    pub payload: PayloadPolicy,
    registry: prometheus::Registry,
    meter_provider: SdkMeterProvider,
    spans: Option<SpanQueue>,
    calls: mpsc::Sender<call_log::Job>,
    call_log_write: call_log::Write,
}

fn resource() -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder().with_service_name(std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "mcpgate".into())).build()
}

fn otlp_error(otlp: &Otlp, err: impl std::fmt::Display) -> TelemetryError {
    TelemetryError::Otlp { endpoint: otlp.endpoint.clone(), message: err.to_string() }
}

/// Starts the span thread over the configured exporter. OTLP/HTTP goes
/// through mcpgate's own writer, which encodes each observation's spans
/// straight into the wire format (`otlp_http`); gRPC through the SDK's spans
/// and exporter (`traces::SdkSpans`).
fn start_span_thread(otlp: &Otlp, queue_capacity: usize) -> Result<SpanQueue, TelemetryError> {
    let spawned = match otlp.protocol {
        OtlpProtocol::Grpc => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(otlp.endpoint.clone())
                .build()
                .map_err(|e| otlp_error(otlp, e))?;
            spawn_span_thread(traces::SdkSpans::new(exporter, resource(), MAX_EXPORT_BATCH), queue_capacity).map(SpanQueue::Sdk)
        }
        OtlpProtocol::HttpProtobuf => {
            let url = format!("{}/v1/traces", otlp.endpoint.trim_end_matches('/'));
            let config = otlp_http::HttpExportConfig::from_env(url).map_err(|e| otlp_error(otlp, e))?;
            let spans = otlp_http::HttpSpans::new(config, &resource(), MAX_EXPORT_BATCH).map_err(|e| otlp_error(otlp, e))?;
            spawn_span_thread(spans, queue_capacity).map(SpanQueue::Encoded)
        }
    };
    spawned.map_err(|e| otlp_error(otlp, e))
}

/// Runs `emit_spans` over `sink` on a thread of its own, behind a queue of `capacity`.
fn spawn_span_thread<S: SpanSink + Send + 'static>(sink: S, capacity: usize) -> std::io::Result<std_mpsc::SyncSender<SpanJob<S::Span>>>
where
    S::Span: Send,
{
    let (jobs, queued) = std_mpsc::sync_channel(capacity);
    std::thread::Builder::new().name("mcpgate-spans".into()).spawn(move || emit_spans(sink, &queued))?;
    Ok(jobs)
}

fn metric_exporter(otlp: &Otlp) -> Result<opentelemetry_otlp::MetricExporter, TelemetryError> {
    let built = match otlp.protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::MetricExporter::builder().with_tonic().with_endpoint(otlp.endpoint.clone()).build(),
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/metrics", otlp.endpoint.trim_end_matches('/')))
            .build(),
    };
    built.map_err(|e| otlp_error(otlp, e))
}

impl Telemetry {
    /// Sets up metrics (always), OTLP export (when configured) and the
    /// call-log writer. Must run inside a Tokio runtime.
    pub fn start(settings: &TelemetrySettings, store: DynStore) -> Result<Arc<Telemetry>, TelemetryError> {
        let registry = prometheus::Registry::new();
        let prometheus =
            opentelemetry_prometheus::exporter().with_registry(registry.clone()).build().map_err(|e| TelemetryError::Prometheus(e.to_string()))?;
        let mut meters = SdkMeterProvider::builder().with_resource(resource()).with_reader(prometheus);
        if let Some(otlp) = &settings.otlp {
            // The HTTP exporters build their reqwest client themselves.
            crate::http_client::install_crypto_provider();
            meters = meters.with_periodic_exporter(metric_exporter(otlp)?);
        }
        let meter_provider = meters.build();
        let metrics = metrics::Metrics::new(&meter_provider.meter("mcpgate"));

        let spans = settings.otlp.as_ref().map(|otlp| start_span_thread(otlp, settings.queue_capacity)).transpose()?;

        let (calls, jobs) = mpsc::channel(settings.queue_capacity);
        tokio::spawn(call_log::run(store, jobs, settings.call_log_flush, settings.retention.clone(), settings.call_log_write));
        Ok(Arc::new(Telemetry {
            metrics,
            payload: settings.payload.clone(),
            registry,
            meter_provider,
            spans,
            calls,
            call_log_write: settings.call_log_write,
        }))
    }

    /// Whether spans are exported (and trace context injected upstream).
    pub fn tracing(&self) -> bool {
        self.spans.is_some()
    }

    /// Records one finished request: metrics now (and, for OTLP/HTTP, its
    /// spans' bytes), spans and call record queued. In before-response
    /// mode, a tool call's record comes with a receiver that fires once it
    /// is stored; the response waits for it.
    pub fn record(&self, observation: Observation) -> Option<oneshot::Receiver<()>> {
        self.metrics.record(&observation);
        let mut stored = None;
        if observation.method == "tools/call" {
            let record = Box::new(call_record(&observation));
            let ack = match self.call_log_write {
                call_log::Write::Behind => None,
                call_log::Write::BeforeResponse => {
                    let (ack, receiver) = oneshot::channel();
                    stored = Some(receiver);
                    Some(ack)
                }
            };
            if self.calls.try_send(call_log::Job::Record(record, ack)).is_err() {
                self.metrics.record_dropped("call");
                stored = None;
            }
        }
        if let Some(spans) = &self.spans {
            if !spans.queue(observation) {
                self.metrics.record_dropped("span");
            }
        }
        stored
    }

    /// Everything recorded so far reaches the store and the exporters.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.calls.send(call_log::Job::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
        // The flushes block until exporters answer: keep them off the async
        // workers. The span thread flushes its batch itself, so exports
        // never run two at a time.
        let spans = self.spans.clone();
        let meter_provider = self.meter_provider.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(spans) = spans {
                spans.flush();
            }
            if let Err(err) = meter_provider.force_flush() {
                tracing::debug!(error = %err, "flushing metrics failed");
            }
        })
        .await;
    }

    /// The Prometheus text exposition of every metric.
    /// Calls refused by a rate limit or quota since this process started,
    /// per (product, reason): what the console shows as 429s.
    pub fn throttled_counts(&self) -> Vec<(String, String, u64)> {
        let mut counts = Vec::new();
        for family in self.registry.gather().iter().filter(|f| f.name() == "mcpgate_gateway_throttled_total") {
            for metric in family.get_metric() {
                let label = |name: &str| metric.get_label().iter().find(|l| l.name() == name).map(|l| l.value().to_string()).unwrap_or_default();
                counts.push((label("mcpgate_product"), label("reason"), metric.get_counter().get_value() as u64));
            }
        }
        counts
    }

    /// Calls each policy rule refused or throttled since this process
    /// started, per (product, rule, reason): what the console shows.
    pub fn policy_counts(&self) -> Vec<(String, String, String, u64)> {
        let mut counts = Vec::new();
        for family in self.registry.gather().iter().filter(|f| f.name() == "mcpgate_gateway_policy_refusals_total") {
            for metric in family.get_metric() {
                let label = |name: &str| metric.get_label().iter().find(|l| l.name() == name).map(|l| l.value().to_string()).unwrap_or_default();
                counts.push((label("mcpgate_product"), label("rule"), label("reason"), metric.get_counter().get_value() as u64));
            }
        }
        counts
    }

    pub fn prometheus_text(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(err) = prometheus::Encoder::encode(&encoder, &self.registry.gather(), &mut buffer) {
            tracing::warn!(error = %err, "encoding metrics failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// How often the span thread takes what the gateway queued while spans
/// come. Under load it is woken by time, not by each span: a wake-up per
/// span cost the sending worker a futex call on every request (a tenth of
/// the gateway's CPU with span export on, docs/benchmarks.md). The queue holds `queue_capacity` spans,
/// so it drains faster than any one gateway fills it.
const SPAN_PICKUP: Duration = Duration::from_millis(10);

/// Spans exported at once: a batch this full goes as it fills (the SDK's
/// batch size).
const MAX_EXPORT_BATCH: usize = 512;

/// The longest a span waits for its batch while spans keep coming (the
/// SDK's batch delay was 500 ms too).
const EXPORT_DELAY: Duration = Duration::from_millis(500);

/// Where the span thread puts the spans it takes: each batches them and
/// exports a batch when it fills or when told to.
trait SpanSink {
    /// What crosses the queue for one request.
    type Span;
    fn take(&mut self, span: Self::Span);
    /// Exports what is pending; a failure is logged where it happens.
    fn export(&mut self);
}

/// The span thread: takes each request's spans, until the gateway's
/// side of the queue is gone, then exports what is pending. While jobs
/// come it wakes every `SPAN_PICKUP`, and exports the pending batch every
/// `EXPORT_DELAY`; once a pickup finds the queue empty it exports what is
/// pending and blocks until the next job, so an idle gateway does not wake.
fn emit_spans<S: SpanSink>(mut sink: S, jobs: &std_mpsc::Receiver<SpanJob<S::Span>>) {
    'jobs: while let Ok(job) = jobs.recv() {
        handle(&mut sink, job);
        let mut exported = Instant::now();
        loop {
            std::thread::sleep(SPAN_PICKUP);
            let mut picked = 0;
            loop {
                match jobs.try_recv() {
                    Ok(job) => {
                        handle(&mut sink, job);
                        picked += 1;
                    }
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => break 'jobs,
                }
            }
            if picked == 0 {
                sink.export();
                break;
            }
            if exported.elapsed() >= EXPORT_DELAY {
                sink.export();
                exported = Instant::now();
            }
        }
    }
    sink.export();
}

fn handle<S: SpanSink>(sink: &mut S, job: SpanJob<S::Span>) {
    match job {
        SpanJob::Span(span) => sink.take(span),
        SpanJob::Flush(done) => {
            sink.export();
            let _ = done.send(());
        }
    }
}

fn call_record(observation: &Observation) -> CallRecord {
    let ctx = &observation.context;
    CallRecord {
        time: chrono::DateTime::<chrono::Utc>::from(observation.start),
        subscription: ctx.subscription.clone(),
        product: ctx.product.clone(),
        server: ctx.server.clone(),
        version: ctx.version.clone(),
        tool: observation.tool.clone().unwrap_or_default(),
        client_name: ctx.client_name.clone(),
        client_version: ctx.client_version.clone(),
        session_id: ctx.session_id.clone(),
        duration_ms: observation.duration.as_secs_f64() * 1000.0,
        status: if observation.error.is_some() { CallStatus::Error } else { CallStatus::Ok },
        error_type: observation.error.as_ref().map(|e| e.error_type.clone()),
        error_message: observation.error.as_ref().map(|e| e.message.clone()),
        arguments: observation.arguments.clone(),
        result: observation.result.clone(),
        cost: observation.cost,
        trace_id: Some(observation.trace.trace_id_hex()),
        policy_rule: observation.policy_rule.as_deref().map(str::to_string),
        // Built here, off the request path: calls without a product's endpoint came through the server's.
        endpoint: Some(ctx.endpoint.as_deref().map_or_else(|| ["/mcp/", &ctx.server].concat(), str::to_string)),
        awaits_input: observation.input_round.awaits.clone(),
        continues: observation.input_round.continues.clone(),
        tool_refused: observation.tool_refused,
    }
}
