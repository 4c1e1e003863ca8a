//! Writes tool-call records to the store in batches, off the hot path, and
//! prunes them by age and count.

use crate::model::calls::CallRecord;
use crate::store::DynStore;
use std::time::Duration;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub enum Job {
    /// A record, and whom to tell once it is stored (before-response mode).
    Record(Box<CallRecord>, Option<oneshot::Sender<()>>),
    Flush(oneshot::Sender<()>),
}

/// When a tool call's record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Write {
    /// Batched behind the responses (every 250 ms): cheapest; a crash can
    /// lose the last batch.
    #[default]
    Behind,
    /// Stored before the response goes out (group commit: calls arriving
    /// while a batch is written share the next one): no call the client saw
    /// answered is missing after a crash.
    BeforeResponse,
}

#[derive(Debug, Clone)]
pub struct Retention {
    pub max_age: Duration,
    pub max_rows: u64,
}

const BATCH: usize = 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How often, when writing behind and while records come, queued records
/// are taken into the batch. Under load the writer is woken by time, not by
/// each record: a wake-up per call cost a task wake (often a thread wake-up)
/// and a timer on every request. The queue holds thousands of records, so it
/// drains faster than a gateway fills it.
const PICKUP: Duration = Duration::from_millis(10);

/// The batch being gathered, and whom to tell once it is stored.
struct Writer {
    store: DynStore,
    retention: Retention,
    batch: Vec<CallRecord>,
    acks: Vec<oneshot::Sender<()>>,
    last_prune: Instant,
}

impl Writer {
    fn take(&mut self, record: CallRecord, ack: Option<oneshot::Sender<()>>) {
        self.batch.push(record);
        self.acks.extend(ack);
    }

    /// Writes the batch and tells whoever waits that it is stored (a failed
    /// write drops the acknowledgements: the waiters go on without one).
    async fn write(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        // The store takes the records; the next batch starts at this one's size.
        let count = self.batch.len();
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(count));
        match self.store.insert_calls(batch).await {
            Ok(()) => self.acks.drain(..).for_each(|ack| {
                let _ = ack.send(());
            }),
            Err(err) => {
                tracing::warn!(error = %err, count, "writing call records failed; they are dropped");
                self.acks.clear();
            }
        }
    }

    async fn prune_if_due(&mut self) {
        if self.last_prune.elapsed() >= PRUNE_EVERY {
            prune(&self.store, &self.retention).await;
            self.last_prune = Instant::now();
        }
    }

    /// Takes a record into the batch (writing it when full), or flushes.
    async fn handle(&mut self, job: Job) {
        match job {
            Job::Record(record, ack) => {
                self.take(*record, ack);
                if self.batch.len() >= BATCH {
                    self.write().await;
                }
            }
            Job::Flush(done) => self.flush(done).await,
        }
    }

    async fn flush(&mut self, done: oneshot::Sender<()>) {
        self.write().await;
        prune(&self.store, &self.retention).await;
        let _ = done.send(());
    }
}

/// Runs until every sender is gone.
pub async fn run(store: DynStore, jobs: mpsc::Receiver<Job>, flush_every: Duration, retention: Retention, mode: Write) {
    let writer = Writer { store, retention, batch: Vec::new(), acks: Vec::new(), last_prune: Instant::now() };
    match mode {
        Write::Behind => write_behind(writer, jobs, flush_every).await,
        Write::BeforeResponse => write_before_response(writer, jobs, flush_every).await,
    }
}

/// Records wait in the queue and are picked up every `PICKUP` while they
/// come; the batch is written every `flush_every`, or sooner when full. With
/// nothing batched the writer sleeps until a record comes (or pruning is
/// due), so an idle gateway does not wake every `PICKUP`.
async fn write_behind(mut writer: Writer, mut jobs: mpsc::Receiver<Job>, flush_every: Duration) {
    let mut last_write = Instant::now();
    loop {
        if writer.batch.is_empty() {
            match tokio::time::timeout(PRUNE_EVERY, jobs.recv()).await {
                Ok(Some(job)) => writer.handle(job).await,
                Ok(None) => return,
                Err(_) => writer.prune_if_due().await,
            }
            continue;
        }
        tokio::time::sleep(PICKUP).await;
        loop {
            match jobs.try_recv() {
                Ok(job) => writer.handle(job).await,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    writer.write().await;
                    return;
                }
            }
        }
        if last_write.elapsed() >= flush_every {
            writer.write().await;
            last_write = Instant::now();
            writer.prune_if_due().await;
        }
    }
}

/// Woken by each record, since its response waits: it is written at once,
/// with whatever else queued meanwhile (group commit).
async fn write_before_response(mut writer: Writer, mut jobs: mpsc::Receiver<Job>, flush_every: Duration) {
    loop {
        let job = tokio::select! {
            job = jobs.recv() => job,
            _ = tokio::time::sleep(flush_every) => {
                writer.write().await;
                writer.prune_if_due().await;
                continue;
            }
        };
        match job {
            Some(Job::Record(record, ack)) => {
                writer.take(*record, ack);
                // Someone waits: take whatever else is queued and write now
                // (a flush met on the way is answered after that write).
                let mut flush = None;
                while !writer.acks.is_empty() && flush.is_none() {
                    match jobs.try_recv() {
                        Ok(Job::Record(record, ack)) => writer.take(*record, ack),
                        Ok(Job::Flush(done)) => flush = Some(done),
                        Err(_) => break,
                    }
                }
                if writer.batch.len() >= BATCH || !writer.acks.is_empty() {
                    writer.write().await;
                }
                if let Some(done) = flush {
                    writer.flush(done).await;
                }
            }
            Some(Job::Flush(done)) => writer.flush(done).await,
            None => {
                writer.write().await;
                return;
            }
        }
    }
}

async fn prune(store: &DynStore, retention: &Retention) {
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(retention.max_age).unwrap_or(chrono::Duration::days(30));
    // A product endpoint's member sessions last a day; a later use opens a new one.
    if let Err(err) = store.prune_member_sessions(chrono::Utc::now() - chrono::Duration::hours(24)).await {
        tracing::warn!(error = %err, "pruning member sessions failed");
    }
    if let Err(err) = store.prune_calls(cutoff, retention.max_rows).await {
        tracing::warn!(error = %err, "pruning the call log failed");
    }
}
