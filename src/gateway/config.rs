//! The gateway's view of the configuration: an immutable snapshot of
//! everything routing and access need, swapped whole when the store changes.

use crate::api::ChangeFeed;
use crate::model::{Kind, ProductServerSpec, ProductSpec, ProductState, SubscriptionSpec, SubscriptionState, ToolFilter, VersionSpec};
use crate::store::{DynStore, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct VersionConfig {
    pub spec: VersionSpec,
    /// `spec.backend_url`, parsed once per configuration rather than per request.
    pub backend: reqwest::Url,
    /// When the version last changed; dates the `Deprecation` header.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct ServerConfig {
    /// Shared, so a request holds its version without copying it.
    pub versions: BTreeMap<String, Arc<VersionConfig>>,
    /// The specs alone, as version choice takes them.
    pub specs: BTreeMap<String, VersionSpec>,
}

#[derive(Debug)]
pub struct Association {
    pub tools: ToolFilter,
    pub restricts_tools: bool,
    pub versions: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct ProductConfig {
    pub name: String,
    pub spec: ProductSpec,
    pub servers: HashMap<String, Association>,
}

impl ProductConfig {
    pub fn published(&self) -> bool {
        self.spec.state == ProductState::Published
    }
}

#[derive(Debug)]
pub struct SubscriptionConfig {
    pub name: String,
    pub product: String,
    pub state: SubscriptionState,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    pub servers: HashMap<String, ServerConfig>,
    pub products: HashMap<String, Arc<ProductConfig>>,
    /// Subscriptions by the hash of either key.
    pub subscriptions_by_key: HashMap<String, Arc<SubscriptionConfig>>,
    /// Per server, the published products that admit callers without a key.
    pub open_products: HashMap<String, Vec<Arc<ProductConfig>>>,
}

fn decode<T: serde::de::DeserializeOwned>(record: &crate::store::Record) -> Result<T, StoreError> {
    serde_json::from_value(record.body.clone()).map_err(|e| StoreError::Corrupt(format!("{}: {e}", record.key)))
}

impl Snapshot {
    pub async fn load(store: &DynStore) -> Result<Snapshot, StoreError> {
        let mut snapshot = Snapshot::default();
        for record in store.list_all(Kind::Server).await? {
            snapshot.servers.insert(record.key.name.clone(), ServerConfig::default());
        }
        for record in store.list_all(Kind::Version).await? {
            let spec: VersionSpec = decode(&record)?;
            let backend = reqwest::Url::parse(&spec.backend_url).map_err(|e| StoreError::Corrupt(format!("{}: backend_url: {e}", record.key)))?;
            let server = snapshot.servers.entry(record.key.parent.clone()).or_default();
            server.specs.insert(record.key.name.clone(), spec.clone());
            server.versions.insert(record.key.name.clone(), Arc::new(VersionConfig { spec, backend, updated_at: record.updated_at }));
        }
        let mut associations: HashMap<String, HashMap<String, Association>> = HashMap::new();
        for record in store.list_all(Kind::ProductServer).await? {
            let spec: ProductServerSpec = decode(&record)?;
            let association = Association { tools: spec.tool_filter(), restricts_tools: spec.tools.is_some(), versions: spec.versions };
            associations.entry(record.key.parent.clone()).or_default().insert(record.key.name.clone(), association);
        }
        for record in store.list_all(Kind::Product).await? {
            let name = record.key.name.clone();
            let servers = associations.remove(&name).unwrap_or_default();
            let product = Arc::new(ProductConfig { name: name.clone(), spec: decode(&record)?, servers });
            if product.published() && !product.spec.subscription_required {
                for server in product.servers.keys() {
                    snapshot.open_products.entry(server.clone()).or_default().push(product.clone());
                }
            }
            snapshot.products.insert(name, product);
        }
        let mut subscriptions = HashMap::new();
        for record in store.list_all(Kind::Subscription).await? {
            let spec: SubscriptionSpec = decode(&record)?;
            let state = spec.state.unwrap_or(SubscriptionState::Active);
            subscriptions.insert(record.key.name.clone(), Arc::new(SubscriptionConfig { name: record.key.name, product: spec.product, state }));
        }
        for (name, hashes) in store.subscription_keys().await? {
            if let Some(subscription) = subscriptions.get(&name) {
                snapshot.subscriptions_by_key.insert(hashes.primary, subscription.clone());
                snapshot.subscriptions_by_key.insert(hashes.secondary, subscription.clone());
            }
        }
        Ok(snapshot)
    }
}

/// The current snapshot, shared by every request.
#[derive(Clone, Default)]
pub struct ConfigHandle(Arc<RwLock<Arc<Snapshot>>>);

impl ConfigHandle {
    pub fn current(&self) -> Arc<Snapshot> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        match self.0.write() {
            Ok(mut guard) => *guard = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
    }

    pub async fn reload(&self, store: &DynStore) -> Result<(), StoreError> {
        self.replace(Snapshot::load(store).await?);
        Ok(())
    }

    /// Reloads on every local change at once, and every `poll` anyway so
    /// changes made by another mcpgate process on the same store arrive too.
    pub fn watch(&self, store: DynStore, feed: ChangeFeed, poll: Duration) {
        let handle = self.clone();
        let ChangeFeed { mut changes, applied } = feed;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep(poll) => {},
                }
                let generation = *changes.borrow_and_update();
                match handle.reload(&store).await {
                    Ok(()) => applied.send_modify(|g| *g = (*g).max(generation)),
                    Err(err) => tracing::warn!(error = %err, "gateway configuration reload failed; keeping the previous one"),
                }
            }
        });
    }
}
