//! Writes tool-call records to the store in batches, off the hot path, and
//! prunes them by age and count.

use crate::model::calls::CallRecord;
use crate::store::DynStore;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

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

/// Runs until every sender is gone.
pub async fn run(store: DynStore, mut jobs: mpsc::Receiver<Job>, flush_every: Duration, retention: Retention) {
    let mut batch: Vec<CallRecord> = Vec::new();
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    let mut last_prune = tokio::time::Instant::now();
    loop {
        let job = tokio::select! {
            job = jobs.recv() => job,
            _ = tokio::time::sleep(flush_every) => {
                write(&store, &mut batch, &mut acks).await;
                if last_prune.elapsed() >= PRUNE_EVERY {
                    prune(&store, &retention).await;
                    last_prune = tokio::time::Instant::now();
                }
                continue;
            }
        };
        match job {
            Some(Job::Record(record, ack)) => {
                batch.push(*record);
                acks.extend(ack);
                // Someone waits: take whatever else is queued and write now.
                if !acks.is_empty() {
                    while let Ok(Job::Record(record, ack)) = jobs.try_recv() {
                        batch.push(*record);
                        acks.extend(ack);
                    }
                }
                if batch.len() >= BATCH || !acks.is_empty() {
                    write(&store, &mut batch, &mut acks).await;
                }
            }
            Some(Job::Flush(done)) => {
                write(&store, &mut batch, &mut acks).await;
                prune(&store, &retention).await;
                let _ = done.send(());
            }
            None => {
                write(&store, &mut batch, &mut acks).await;
                return;
            }
        }
    }
}

/// Writes the batch and tells whoever waits that it is stored (a failed
/// write drops the acknowledgements: the waiters go on without one).
async fn write(store: &DynStore, batch: &mut Vec<CallRecord>, acks: &mut Vec<oneshot::Sender<()>>) {
    if batch.is_empty() {
        return;
    }
    match store.insert_calls(batch).await {
        Ok(()) => acks.drain(..).for_each(|ack| {
            let _ = ack.send(());
        }),
        Err(err) => {
            tracing::warn!(error = %err, count = batch.len(), "writing call records failed; they are dropped");
            acks.clear();
        }
    }
    batch.clear();
}

async fn prune(store: &DynStore, retention: &Retention) {
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(retention.max_age).unwrap_or(chrono::Duration::days(30));
    if let Err(err) = store.prune_calls(cutoff, retention.max_rows).await {
        tracing::warn!(error = %err, "pruning the call log failed");
    }
}
