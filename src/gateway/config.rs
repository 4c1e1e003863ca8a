//! The gateway's view of the configuration: an immutable snapshot of
//! everything routing and access need, swapped whole whenever the store's
//! change feed says something changed. A change re-reads only the records
//! it names.

use super::policy::PolicyChain;
use crate::model::federation::Naming;
use crate::model::{
    AuthorizationServerSpec, Key, Kind, ProductServerSpec, ProductSpec, ProductState, SubscriptionSpec, SubscriptionState, ToolFilter, VersionSpec,
};
use crate::store::{ChangeBatch, DynStore, KeyHashes, Record, StoreError};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use hashbrown::{HashMap, HashSet};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct VersionConfig {
    pub spec: VersionSpec,
    pub backend: Backend,
    /// When the version last changed; dates the `Deprecation` header.
    pub updated_at: DateTime<Utc>,
}

/// Where a version's calls go, prepared once per configuration rather than
/// per request.
#[derive(Debug, Clone)]
pub enum Backend {
    /// An MCP server, forwarded to.
    Mcp(Target),
    /// A REST API, which the gateway answers MCP for itself.
    Rest(Arc<RestBackend>),
}

/// A URL the gateway sends to, parsed once; plain-HTTP ones also as the URI
/// the gateway's own pooled client takes (`None`: HTTPS, over reqwest).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: reqwest::Url,
    pub plain: Option<axum::http::Uri>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, url::ParseError> {
        let url = reqwest::Url::parse(url)?;
        let plain = (url.scheme() == "http").then(|| url.as_str().parse().ok()).flatten();
        Ok(Target { url, plain })
    }
}

/// A REST API's operations as tools, and where its requests go.
#[derive(Debug)]
pub struct RestBackend {
    pub api: crate::model::openapi::RestApi,
    pub base_url: reqwest::Url,
    /// Each operation's input schema, compiled on its first call.
    validators: Vec<std::sync::OnceLock<Option<Arc<jsonschema::Validator>>>>,
}

impl RestBackend {
    fn new(api: crate::model::openapi::RestApi, base_url: reqwest::Url) -> RestBackend {
        let validators = api.operations.iter().map(|_| std::sync::OnceLock::new()).collect();
        RestBackend { api, base_url, validators }
    }

    /// The operation a tool calls, and its compiled input schema.
    pub fn operation(&self, tool: &str) -> Option<(&crate::model::openapi::Operation, Option<Arc<jsonschema::Validator>>)> {
        let at = self.api.operations.iter().position(|op| op.tool == tool)?;
        let operation = &self.api.operations[at];
        let validator =
            self.validators[at].get_or_init(|| jsonschema::validator_for(&operation.definition["inputSchema"]).ok().map(Arc::new)).clone();
        Some((operation, validator))
    }
}

impl VersionConfig {
    /// Parses the backend URL once and picks the client that reaches it;
    /// for a REST API, reads its document into tools once.
    pub(crate) fn new(spec: VersionSpec, updated_at: DateTime<Utc>) -> Result<VersionConfig, String> {
        let backend = match (&spec.backend_url, &spec.openapi) {
            (Some(url), _) => Backend::Mcp(Target::parse(url).map_err(|e| format!("backend_url: {e}"))?),
            (None, Some(openapi)) => {
                let api = openapi
                    .import()
                    .map_err(|problems| format!("openapi.spec: {}", problems.first().map(ToString::to_string).unwrap_or_default()))?;
                let base_url = reqwest::Url::parse(&openapi.base_url).map_err(|e| format!("openapi.base_url: {e}"))?;
                Backend::Rest(Arc::new(RestBackend::new(api, base_url)))
            }
            (None, None) => return Err("neither backend_url nor openapi".into()),
        };
        Ok(VersionConfig { spec, backend, updated_at })
    }

    /// The MCP server the version forwards to (`None`: a REST API).
    pub fn mcp(&self) -> Option<&Target> {
        match &self.backend {
            Backend::Mcp(target) => Some(target),
            Backend::Rest(_) => None,
        }
    }

    pub fn rest(&self) -> Option<&Arc<RestBackend>> {
        match &self.backend {
            Backend::Rest(rest) => Some(rest),
            Backend::Mcp(_) => None,
        }
    }
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
    /// Allow-list entries that name one tool (no glob): fit for metric labels.
    pub literal_tools: HashSet<String>,
    pub versions: Option<Vec<String>>,
    /// The association's own policy rules, applied after the product's.
    pub(crate) policies: PolicyChain,
    /// How the server's names appear on the product's endpoint.
    pub naming: Naming,
    /// How long the product's endpoint waits for the server's lists.
    pub list_timeout: Duration,
}

#[derive(Debug)]
pub struct ProductConfig {
    pub name: String,
    pub spec: ProductSpec,
    pub servers: HashMap<String, Arc<Association>>,
    /// The product's policy rules, compiled once per change of the product.
    pub(crate) policies: Arc<PolicyChain>,
    /// Its servers by name, with their naming on the product's endpoint
    /// (what routes an exposed name back to its server).
    pub members: Vec<(String, Naming)>,
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
    /// Per server, the published products that accept access tokens.
    pub token_products: HashMap<String, Vec<Arc<ProductConfig>>>,
    pub authorization_servers: HashMap<String, Arc<AuthorizationServerSpec>>,
    /// Subscriptions by (product, token subject).
    pub subscriptions_by_subject: HashMap<(String, String), Arc<SubscriptionConfig>>,
}

fn decode<T: serde::de::DeserializeOwned>(record: &Record) -> Result<T, StoreError> {
    serde_json::from_value(record.body.clone()).map_err(|e| StoreError::Corrupt(format!("{}: {e}", record.key)))
}

/// The configuration decoded record by record: a change re-decodes only
/// the records it touched, then the snapshot's indexes are rebuilt from
/// memory.
#[derive(Default)]
pub(crate) struct Decoded {
    servers: BTreeSet<String>,
    versions: BTreeMap<(String, String), Arc<VersionConfig>>,
    products: BTreeMap<String, (ProductSpec, Arc<PolicyChain>)>,
    /// By (product, server).
    associations: BTreeMap<(String, String), Arc<Association>>,
    subscriptions: BTreeMap<String, (Arc<SubscriptionConfig>, KeyHashes, Vec<String>)>,
    authorization_servers: BTreeMap<String, Arc<AuthorizationServerSpec>>,
}

impl Decoded {
    pub(crate) async fn load(store: &DynStore) -> Result<Decoded, StoreError> {
        let mut decoded = Decoded::default();
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::PortalUser) {
            for record in store.list_all(kind).await? {
                decoded.apply(&record.key.clone(), Some(record))?;
            }
        }
        Ok(decoded)
    }

    /// Puts what the store now holds at `key` (nothing: it was deleted).
    pub(crate) fn apply(&mut self, key: &Key, record: Option<Record>) -> Result<(), StoreError> {
        let pair = || (key.parent.clone(), key.name.clone());
        match (key.kind, record) {
            (Kind::Server, Some(_)) => {
                self.servers.insert(key.name.clone());
            }
            (Kind::Server, None) => {
                self.servers.remove(&key.name);
            }
            (Kind::Version, Some(record)) => {
                let spec: VersionSpec = decode(&record)?;
                let version = VersionConfig::new(spec, record.updated_at).map_err(|e| StoreError::Corrupt(format!("{key}: {e}")))?;
                self.versions.insert(pair(), Arc::new(version));
            }
            (Kind::Version, None) => {
                self.versions.remove(&pair());
            }
            (Kind::Product, Some(record)) => {
                let spec: ProductSpec = decode(&record)?;
                let policies = Arc::new(PolicyChain::compile(key.name.clone(), &spec.policies));
                self.products.insert(key.name.clone(), (spec, policies));
            }
            (Kind::Product, None) => {
                self.products.remove(&key.name);
            }
            (Kind::ProductServer, Some(record)) => {
                let spec: ProductServerSpec = decode(&record)?;
                let literal_tools = spec.tools.iter().flatten().filter(|p| !p.contains(['*', '?', '[', '{'])).cloned().collect();
                let policies = PolicyChain::compile(format!("{}/{}", key.parent, key.name), &spec.policies);
                let association = Association {
                    tools: spec.tool_filter(),
                    restricts_tools: spec.tools.is_some(),
                    literal_tools,
                    naming: spec.naming(&key.name),
                    list_timeout: Duration::from_millis(u64::try_from(spec.list_timeout_ms()).unwrap_or(3000)),
                    versions: spec.versions,
                    policies,
                };
                self.associations.insert(pair(), Arc::new(association));
            }
            (Kind::ProductServer, None) => {
                self.associations.remove(&pair());
            }
            (Kind::Subscription, Some(record)) => {
                let spec: SubscriptionSpec = decode(&record)?;
                let hashes = record.key_hashes.clone().ok_or_else(|| StoreError::Corrupt(format!("{key} has no key hashes")))?;
                let state = spec.current_state();
                let subscription = SubscriptionConfig { name: key.name.clone(), product: spec.product, state };
                self.subscriptions.insert(key.name.clone(), (Arc::new(subscription), hashes, spec.token_subjects));
            }
            (Kind::Subscription, None) => {
                self.subscriptions.remove(&key.name);
            }
            (Kind::AuthorizationServer, Some(record)) => {
                self.authorization_servers.insert(key.name.clone(), Arc::new(decode(&record)?));
            }
            (Kind::AuthorizationServer, None) => {
                self.authorization_servers.remove(&key.name);
            }
            // The web UI's users: nothing the gateway routes or admits by.
            (Kind::PortalUser, _) => {}
        }
        Ok(())
    }

    /// The indexes routing and access read.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for name in &self.servers {
            snapshot.servers.insert(name.clone(), ServerConfig::default());
        }
        for ((server, name), version) in &self.versions {
            let server = snapshot.servers.entry(server.clone()).or_default();
            server.specs.insert(name.clone(), version.spec.clone());
            server.versions.insert(name.clone(), version.clone());
        }
        for (name, (spec, policies)) in &self.products {
            let associations: Vec<(String, Arc<Association>)> = self
                .associations
                .range((name.clone(), String::new())..)
                .take_while(|((product, _), _)| product == name)
                .map(|((_, server), association)| (server.clone(), association.clone()))
                .collect();
            let members = associations.iter().map(|(server, association)| (server.clone(), association.naming.clone())).collect();
            let servers = associations.into_iter().collect();
            let product = Arc::new(ProductConfig { name: name.clone(), spec: spec.clone(), servers, policies: policies.clone(), members });
            if product.published() && !product.spec.subscription_required {
                for server in product.servers.keys() {
                    snapshot.open_products.entry(server.clone()).or_default().push(product.clone());
                }
            }
            if product.published() && product.spec.accepts_tokens() {
                for server in product.servers.keys() {
                    snapshot.token_products.entry(server.clone()).or_default().push(product.clone());
                }
            }
            snapshot.products.insert(name.clone(), product);
        }
        for (subscription, hashes, subjects) in self.subscriptions.values() {
            snapshot.subscriptions_by_key.insert(hashes.primary.clone(), subscription.clone());
            snapshot.subscriptions_by_key.insert(hashes.secondary.clone(), subscription.clone());
            for subject in subjects {
                snapshot.subscriptions_by_subject.insert((subscription.product.clone(), subject.clone()), subscription.clone());
            }
        }
        snapshot.authorization_servers = self.authorization_servers.iter().map(|(n, s)| (n.clone(), s.clone())).collect();
        snapshot
    }
}

/// The current snapshot, shared by every request without a lock.
#[derive(Clone, Default)]
pub struct ConfigHandle(Arc<ArcSwap<Snapshot>>);

impl ConfigHandle {
    pub fn current(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    fn replace(&self, snapshot: Snapshot) {
        self.0.store(Arc::new(snapshot));
    }

    /// Loads the whole configuration, then follows the store's change feed
    /// in the background: each batch of changed keys is re-read and applied,
    /// and reported served once requests see it.
    pub async fn follow(&self, store: DynStore) -> Result<(), StoreError> {
        let mut feed = store.subscribe_changes().await?;
        let mut decoded = Decoded::load(&store).await?;
        self.replace(decoded.snapshot());
        feed.served(feed.position());
        let handle = self.clone();
        tokio::spawn(async move {
            loop {
                let applied = match feed.next().await {
                    Ok(ChangeBatch::Keys { through, keys }) => apply_keys(&store, &mut decoded, &keys).await.map(|()| through),
                    Ok(ChangeBatch::Resync { through }) => Decoded::load(&store).await.map(|fresh| {
                        decoded = fresh;
                        through
                    }),
                    Err(err) => Err(err),
                };
                match applied {
                    Ok(through) => {
                        handle.replace(decoded.snapshot());
                        feed.served(through);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "applying configuration changes failed; reloading everything");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        if let Ok(fresh) = Decoded::load(&store).await {
                            decoded = fresh;
                            handle.replace(decoded.snapshot());
                        }
                    }
                }
            }
        });
        Ok(())
    }
}

async fn apply_keys(store: &DynStore, decoded: &mut Decoded, keys: &[Key]) -> Result<(), StoreError> {
    for key in keys {
        let record = store.get(key).await?;
        decoded.apply(key, record)?;
    }
    Ok(())
}
