//! The change feed. Every committed write appends the keys it changed to
//! the change table in its own transaction; readers follow the table by id.
//! A wake-up (a local commit, a PostgreSQL notification, SQLite polling)
//! only says "look again", so a lost notification delays a change but never
//! loses it, and a reader that fell behind the pruned part reloads everything.

use super::{Store, StoreError};
use crate::model::Key;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// How often readers look at the change table even without a wake-up:
/// the bound on propagation when every notification is lost.
const SAFETY_POLL: Duration = Duration::from_secs(5);

/// What a reader should apply next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeBatch {
    /// These keys changed (re-read each; absent now means deleted), through change `through`.
    Keys { through: i64, keys: Vec<Key> },
    /// The reader fell behind what the table keeps: reload everything, then continue after `through`.
    Resync { through: i64 },
}

/// Wakes readers from a backend's listener; lets the listener end once the
/// store is gone.
#[derive(Clone)]
pub struct WeakWaker(Weak<watch::Sender<u64>>);

impl WeakWaker {
    /// Wakes every reader; `false` when the store is gone.
    pub fn wake(&self) -> bool {
        match self.0.upgrade() {
            Some(sender) => {
                sender.send_modify(|n| *n = n.wrapping_add(1));
                true
            }
            None => false,
        }
    }

    pub fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }
}

pub(super) struct Feed {
    wake: Arc<watch::Sender<u64>>,
    served: watch::Sender<i64>,
}

impl Feed {
    pub(super) fn new() -> Feed {
        Feed { wake: Arc::new(watch::channel(0).0), served: watch::channel(0).0 }
    }

    pub(super) fn waker(&self) -> WeakWaker {
        WeakWaker(Arc::downgrade(&self.wake))
    }

    pub(super) fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(super) fn subscribe(&self, store: Arc<Store>, latest: i64) -> ChangeSubscription {
        ChangeSubscription { store, last: latest, wake: self.wake.subscribe(), served: self.served.clone() }
    }

    /// Waits until a local reader reports `change` served. Only readers
    /// (gateways) of this process count; with none, returns at once.
    pub(super) async fn await_served(&self, change: i64, limit: Duration) {
        if self.wake.receiver_count() == 0 {
            return;
        }
        let mut served = self.served.subscribe();
        if tokio::time::timeout(limit, served.wait_for(|s| *s >= change)).await.is_err() {
            tracing::warn!(change, "the gateway has not applied a configuration change within {limit:?}");
        }
    }
}

/// One reader's place in the change table.
pub struct ChangeSubscription {
    store: Arc<Store>,
    last: i64,
    wake: watch::Receiver<u64>,
    served: watch::Sender<i64>,
}

impl ChangeSubscription {
    /// The change this reader has read through (its starting point: load
    /// everything after subscribing, then apply what `next` returns).
    pub fn position(&self) -> i64 {
        self.last
    }

    /// Waits for the next changes. Errors are the store's (the reader retries).
    pub async fn next(&mut self) -> Result<ChangeBatch, StoreError> {
        loop {
            let page = self.store.changes_since(self.last).await?;
            if page.pruned_through > self.last {
                let through = page.changes.last().map_or(page.pruned_through, |(id, _)| *id);
                self.last = through;
                return Ok(ChangeBatch::Resync { through });
            }
            if let Some((through, _)) = page.changes.last() {
                let through = *through;
                self.last = through;
                let mut seen = std::collections::HashSet::new();
                let keys: Vec<Key> = page.changes.into_iter().map(|(_, key)| key).filter(|key| seen.insert(key.clone())).collect();
                return Ok(ChangeBatch::Keys { through, keys });
            }
            // Nothing new: wait for a wake-up (or the safety poll).
            let _ = tokio::time::timeout(SAFETY_POLL, self.wake.changed()).await;
        }
    }

    /// Reports that everything through `change` is being served (what
    /// [`Store::await_served`] waits for).
    pub fn served(&self, change: i64) {
        self.served.send_if_modified(|served| {
            let newer = change > *served;
            if newer {
                *served = change;
            }
            newer
        });
    }
}
