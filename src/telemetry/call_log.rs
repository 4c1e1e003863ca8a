//! Writes tool-call records to the store in batches, off the hot path, and
//! prunes them by age and count.

use crate::model::calls::CallRecord;
use crate::store::DynStore;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub enum Job {
    Record(Box<CallRecord>),
    Flush(oneshot::Sender<()>),
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
    let mut last_prune = tokio::time::Instant::now();
    loop {
        let job = tokio::select! {
            job = jobs.recv() => job,
            _ = tokio::time::sleep(flush_every) => {
                write(&store, &mut batch).await;
                if last_prune.elapsed() >= PRUNE_EVERY {
                    prune(&store, &retention).await;
                    last_prune = tokio::time::Instant::now();
                }
                continue;
            }
        };
        match job {
            Some(Job::Record(record)) => {
                batch.push(*record);
                if batch.len() >= BATCH {
                    write(&store, &mut batch).await;
                }
            }
            Some(Job::Flush(done)) => {
                write(&store, &mut batch).await;
                prune(&store, &retention).await;
                let _ = done.send(());
            }
            None => {
                write(&store, &mut batch).await;
                return;
            }
        }
    }
}

async fn write(store: &DynStore, batch: &mut Vec<CallRecord>) {
    if batch.is_empty() {
        return;
    }
    if let Err(err) = store.insert_calls(batch).await {
        tracing::warn!(error = %err, count = batch.len(), "writing call records failed; they are dropped");
    }
    batch.clear();
}

async fn prune(store: &DynStore, retention: &Retention) {
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(retention.max_age).unwrap_or(chrono::Duration::days(30));
    if let Err(err) = store.prune_calls(cutoff, retention.max_rows).await {
        tracing::warn!(error = %err, "pruning the call log failed");
    }
}
