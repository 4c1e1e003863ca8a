//! The SDK's spans (gRPC export, `traces::SdkSpans`) batched on the span
//! thread that builds them. OTLP/HTTP does without SDK spans (`otlp_http`).
//!
//! Why not the SDK's `BatchSpanProcessor`: it hands every ended span over a
//! channel to a thread of its own, which collects and exports them. The
//! span thread already collects (it wakes on a timer, not per span), so
//! that second hand-off only moved each span's strings from the core that
//! built them to one that encoded and freed them. Here a full batch is
//! exported by the thread that ended its last span, and the span thread
//! exports what is pending whenever it goes idle or `EXPORT_DELAY` has
//! passed. The span threads together went from 5.5–6.4 to 5.3 µs of CPU a
//! call, one thread fewer (docs/benchmarks.md, sixteenth pass).

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Spans collected until `max` are pending or someone flushes.
#[derive(Debug)]
pub(crate) struct SpanBatch<E: SpanExporter> {
    /// The pending spans and, once shut down, `None`. Held while a batch
    /// is exported, so the exporter never sees two exports at once.
    pending: Mutex<Option<Pending<E>>>,
    max: usize,
}

#[derive(Debug)]
struct Pending<E> {
    exporter: E,
    spans: Vec<SpanData>,
}

impl<E: SpanExporter> SpanBatch<E> {
    pub(crate) fn new(exporter: E, max: usize) -> SpanBatch<E> {
        SpanBatch { pending: Mutex::new(Some(Pending { exporter, spans: Vec::new() })), max }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Option<Pending<E>>>, OTelSdkError> {
        self.pending.lock().map_err(|_| OTelSdkError::InternalFailure("the span batch's lock is poisoned".into()))
    }
}

impl<E: SpanExporter> Pending<E> {
    /// Exports what is pending; a failure is the exporter's to report (it
    /// retried what could be), and the spans are dropped either way.
    fn export(&mut self) -> OTelSdkResult {
        if self.spans.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.spans);
        let exported = futures::executor::block_on(self.exporter.export(batch));
        if let Err(err) = &exported {
            tracing::warn!(error = %err, "exporting spans failed");
        }
        exported
    }
}

impl<E: SpanExporter> SpanProcessor for SpanBatch<E> {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let Ok(mut guard) = self.lock() else { return };
        // After shutdown spans are dropped, as the SDK's processors do.
        let Some(pending) = guard.as_mut() else { return };
        pending.spans.push(span);
        if pending.spans.len() >= self.max {
            let _ = pending.export();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.lock()?.as_mut().ok_or(OTelSdkError::AlreadyShutdown)?.export()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let mut pending = self.lock()?.take().ok_or(OTelSdkError::AlreadyShutdown)?;
        let exported = pending.export();
        pending.exporter.shutdown_with_timeout(timeout)?;
        exported
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Ok(Some(pending)) = self.pending.get_mut() {
            pending.exporter.set_resource(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use std::sync::Arc;

    /// Keeps each batch it is given, as it was given.
    #[derive(Debug, Clone, Default)]
    struct Batches(Arc<Mutex<Vec<Vec<String>>>>);

    impl SpanExporter for Batches {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().push(batch.iter().map(|s| s.name.to_string()).collect());
            Ok(())
        }
    }

    fn provider(max: usize) -> (SdkTracerProvider, Batches) {
        let batches = Batches::default();
        let provider = SdkTracerProvider::builder().with_span_processor(SpanBatch::new(batches.clone(), max)).build();
        (provider, batches)
    }

    fn end_spans(provider: &SdkTracerProvider, names: std::ops::Range<usize>) {
        let tracer = provider.tracer("test");
        for i in names {
            let mut span = tracer.span_builder(format!("{i}")).with_kind(SpanKind::Server).start(&tracer);
            span.end();
        }
    }

    fn names(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| i.to_string()).collect()
    }

    #[test]
    fn exports_full_batches_as_they_fill_and_the_rest_on_flush() {
        let (provider, batches) = provider(3);
        end_spans(&provider, 0..7);
        assert_eq!(*batches.0.lock().unwrap(), [names(0..3), names(3..6)]);
        provider.force_flush().expect("flush");
        provider.force_flush().expect("an empty flush");
        assert_eq!(*batches.0.lock().unwrap(), [names(0..3), names(3..6), names(6..7)], "every span once, in order");
    }

    #[test]
    fn shutdown_exports_what_is_pending_once() {
        let (shut, batches) = provider(100);
        end_spans(&shut, 0..2);
        shut.shutdown().expect("shutdown");
        assert_eq!(*batches.0.lock().unwrap(), [names(0..2)]);
        // The span thread relies on this: dropping the last reference to
        // the provider shuts it down, pending spans exported.
        let (dropped, batches) = provider(100);
        end_spans(&dropped, 0..3);
        drop(dropped);
        assert_eq!(*batches.0.lock().unwrap(), [names(0..3)]);
        let batch = SpanBatch::new(Batches::default(), 100);
        batch.shutdown().expect("shutdown");
        assert!(matches!(batch.force_flush(), Err(OTelSdkError::AlreadyShutdown)), "flushing after shutdown says so");
        assert!(matches!(batch.shutdown(), Err(OTelSdkError::AlreadyShutdown)), "and so does a second shutdown");
    }
}
