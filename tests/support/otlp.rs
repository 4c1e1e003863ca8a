//! In-test OTLP receivers (HTTP/protobuf and gRPC) that keep every span
//! they are sent, decoded with the opentelemetry-proto types.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct Received {
    spans: Arc<Mutex<Vec<Span>>>,
    /// Each export's `service.name`, from its resource.
    services: Arc<Mutex<Vec<String>>>,
}

impl Received {
    fn keep(&self, request: ExportTraceServiceRequest) {
        for resource_spans in request.resource_spans {
            let service = resource_spans.resource.iter().flat_map(|r| &r.attributes).find(|kv| kv.key == "service.name");
            let service = match service.and_then(|kv| kv.value.as_ref()?.value.as_ref()) {
                Some(AnyValue::StringValue(name)) => name.clone(),
                other => format!("{other:?}"),
            };
            self.services.lock().unwrap().push(service);
            self.spans.lock().unwrap().extend(resource_spans.scope_spans.into_iter().flat_map(|s| s.spans));
        }
    }

    /// The `service.name` of every export so far.
    pub fn services(&self) -> Vec<String> {
        self.services.lock().unwrap().clone()
    }

    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until a span with this name arrived.
    pub async fn wait_for(&self, name: &str) -> Span {
        let started = Instant::now();
        loop {
            if let Some(span) = self.spans().into_iter().find(|s| s.name == name) {
                return span;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no span {name:?} arrived; got {:?}",
                self.spans().iter().map(|s| &s.name).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A span's attributes as strings (ints rendered in decimal).
pub fn attributes(span: &Span) -> BTreeMap<String, String> {
    span.attributes
        .iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(s) => s.clone(),
                AnyValue::IntValue(i) => i.to_string(),
                AnyValue::BoolValue(b) => b.to_string(),
                AnyValue::DoubleValue(d) => d.to_string(),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

/// OTLP/HTTP (protobuf) on `/v1/traces`; returns the base URL.
pub async fn http_receiver(received: Received) -> String {
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let received = received.clone();
                async move {
                    match ExportTraceServiceRequest::decode(body) {
                        Ok(request) => {
                            received.keep(request);
                            (axum::http::StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
                        }
                        Err(_) => (axum::http::StatusCode::BAD_REQUEST, Vec::new()),
                    }
                }
            }),
        )
        .route("/v1/metrics", axum::routing::post(|| async { axum::http::StatusCode::OK }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

struct GrpcTraces(Received);

#[tonic::async_trait]
impl TraceService for GrpcTraces {
    async fn export(&self, request: tonic::Request<ExportTraceServiceRequest>) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.keep(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// OTLP/gRPC; returns the endpoint URL.
pub async fn grpc_receiver(received: Received) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(tonic::transport::Server::builder().add_service(TraceServiceServer::new(GrpcTraces(received))).serve_with_incoming(incoming));
    url
}
