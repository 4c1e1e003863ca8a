//! What each version's upstream offers: tool names (the only tool names
//! metrics and rollups may use as groups) and the hash of each definition
//! (what approved manifests pin). Fetched from the upstream when a version
//! is first used, when it changes and every `tool_refresh`, and updated from
//! every `tools/list` answer that passes through. Read by every request
//! without a lock; replaced whole on the rare change.

use super::config::VersionConfig;
use crate::model::tools::{definition_hash, label_safe};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use hashbrown::{HashMap, HashSet};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most tools remembered per version: a hostile upstream cannot grow it.
const MAX_TOOLS: usize = 1024;
/// How long a manifest fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest input schema kept for argument validation; a larger one is not
/// kept (its tool's arguments go unchecked), so a hostile upstream cannot
/// grow the gateway's memory.
const MAX_SCHEMA_BYTES: usize = 256 * 1024;

/// What the gateway keeps of one tool: the hash approved manifests pin, and
/// the input schema argument validation checks against (compiled on first use).
#[derive(Debug)]
pub struct OfferedTool {
    pub hash: String,
    input_schema: Option<Value>,
    validator: std::sync::OnceLock<Option<Arc<jsonschema::Validator>>>,
    /// The arguments its schema mirrors into `Mcp-Param-*` headers (2026-07-28).
    pub param_headers: Vec<crate::mcp::revision::ParamHeader>,
}

impl PartialEq for OfferedTool {
    /// The hash covers the whole definition, schema included.
    fn eq(&self, other: &OfferedTool) -> bool {
        self.hash == other.hash
    }
}

impl OfferedTool {
    fn of(definition: &Value) -> OfferedTool {
        let input_schema = definition.get("inputSchema").filter(|schema| schema.to_string().len() <= MAX_SCHEMA_BYTES).cloned();
        let param_headers = input_schema.as_ref().map(crate::mcp::revision::param_headers).unwrap_or_default();
        OfferedTool { hash: definition_hash(definition), input_schema, validator: std::sync::OnceLock::new(), param_headers }
    }

    /// The compiled input schema; `None` when the tool has none the gateway
    /// kept, or it is not a schema.
    pub fn validator(&self) -> Option<Arc<jsonschema::Validator>> {
        self.validator
            .get_or_init(|| {
                let schema = self.input_schema.as_ref()?;
                jsonschema::validator_for(schema).map(Arc::new).map_err(|e| tracing::warn!(error = %e, "a tool's inputSchema does not compile")).ok()
            })
            .clone()
    }
}

/// One version's tools, by name.
pub type Offered = HashMap<String, Arc<OfferedTool>>;

/// Why a tool is kept from clients under an approved manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unapproved {
    /// Not in the approved manifest (new since approval).
    NotApproved,
    /// Its definition changed since it was approved.
    Changed,
    /// Approved, but the upstream no longer offers it.
    NotOffered,
}

impl Unapproved {
    pub fn explain(self, tool: &str) -> String {
        match self {
            Unapproved::NotApproved => format!("Tool {tool} is not approved for this server version"),
            Unapproved::Changed => format!("Tool {tool} changed since it was approved; an operator must review and approve it again"),
            Unapproved::NotOffered => format!("Tool {tool} is approved but the MCP server no longer offers it"),
        }
    }
}

/// Whether a tool as listed is the approved one.
pub fn is_approved(tool: &Value, approved: &BTreeMap<String, String>) -> bool {
    let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
    approved.get(name).is_some_and(|hash| *hash == definition_hash(tool))
}

#[derive(Debug, Clone)]
struct Entry {
    tools: Arc<Offered>,
    /// The version's `updated_at` the last fetch was for.
    fetched_for: Option<DateTime<Utc>>,
    fetched_at: Option<Instant>,
}

type Versions = HashMap<String, HashMap<String, Entry>>;

/// Held while a version's manifest is fetched.
type FetchLock = Arc<tokio::sync::Mutex<()>>;

#[derive(Default)]
pub struct ToolCatalog {
    versions: ArcSwap<Versions>,
    fetching: Mutex<HashSet<(String, String)>>,
    /// One fetch per version at a time: callers that need the manifest
    /// wait for the fetch under way rather than start their own.
    fetch_locks: Mutex<HashMap<(String, String), FetchLock>>,
}

fn with_tools(offered: &mut Offered, tools: &[Value]) {
    for tool in tools {
        let Some(name) = tool.get("name").and_then(Value::as_str).filter(|n| label_safe(n)) else { continue };
        if offered.len() >= MAX_TOOLS && !offered.contains_key(name) {
            break;
        }
        let fresh = OfferedTool::of(tool);
        if offered.get(name).is_some_and(|known| **known == fresh) {
            continue;
        }
        offered.insert(name.to_string(), Arc::new(fresh));
    }
}

impl ToolCatalog {
    fn entry(&self, server: &str, version: &str) -> Option<Entry> {
        self.versions.load().get(server).and_then(|v| v.get(version)).cloned()
    }

    /// What the gateway knows of one tool of a version.
    pub fn tool(&self, server: &str, version: &str, tool: &str) -> Option<Arc<OfferedTool>> {
        self.versions.load().get(server).and_then(|v| v.get(version)).and_then(|e| e.tools.get(tool).cloned())
    }

    pub fn offers(&self, server: &str, version: &str, tool: &str) -> bool {
        self.versions.load().get(server).and_then(|v| v.get(version)).is_some_and(|e| e.tools.contains_key(tool))
    }

    fn store(&self, server: &str, version: &str, entry: Entry) {
        self.versions.rcu(|all| {
            let mut next = Versions::clone(all);
            next.entry(server.to_string()).or_default().insert(version.to_string(), entry.clone());
            next
        });
    }

    /// Adds what a `tools/list` page that passed through says.
    pub fn learn(&self, server: &str, version: &str, tools: &[Value]) {
        let current = self.entry(server, version);
        let mut offered: Offered = current.as_ref().map(|e| Offered::clone(&e.tools)).unwrap_or_default();
        with_tools(&mut offered, tools);
        if current.as_ref().is_some_and(|e| *e.tools == offered) {
            return;
        }
        let entry = Entry { tools: Arc::new(offered), ..current.unwrap_or(Entry { tools: Arc::default(), fetched_for: None, fetched_at: None }) };
        self.store(server, version, entry);
    }

    /// Fetches the version's manifest now unless one was fetched for this
    /// version as it is (an approved manifest needs it before a call).
    pub async fn ensure_fetched(&self, upstream: &crate::upstream::UpstreamClient, server: &str, version: &str, config: &Arc<VersionConfig>) {
        let fetched = || self.entry(server, version).is_some_and(|e| e.fetched_for == Some(config.updated_at));
        if fetched() {
            return;
        }
        let lock = crate::lock(&self.fetch_locks).entry((server.to_string(), version.to_string())).or_default().clone();
        let _single_flight = lock.lock().await;
        // Another caller's fetch may have finished while this one waited.
        if !fetched() {
            self.fetch(upstream, server, version, config).await;
        }
    }

    async fn fetch(&self, upstream: &crate::upstream::UpstreamClient, server: &str, version: &str, config: &Arc<VersionConfig>) {
        let fetched = crate::upstream::list_tools(upstream, &config.spec, FETCH_TIMEOUT).await;
        let current = self.entry(server, version);
        let tools = match fetched {
            Ok(tools) => {
                let mut offered = Offered::new();
                with_tools(&mut offered, &tools);
                Arc::new(offered)
            }
            Err(err) => {
                tracing::warn!(server, version, error = %err, "fetching the tool manifest failed; keeping what is known");
                current.map(|e| e.tools).unwrap_or_default()
            }
        };
        self.store(server, version, Entry { tools, fetched_for: Some(config.updated_at), fetched_at: Some(Instant::now()) });
    }

    /// Whether a call of `tool` may go upstream under an approved manifest.
    pub fn check_call(&self, server: &str, version: &str, approved: &BTreeMap<String, String>, tool: &str) -> Result<(), Unapproved> {
        let Some(approved_hash) = approved.get(tool) else { return Err(Unapproved::NotApproved) };
        match self.tool(server, version, tool) {
            Some(live) if live.hash == *approved_hash => Ok(()),
            Some(_) => Err(Unapproved::Changed),
            None => Err(Unapproved::NotOffered),
        }
    }

    /// Fetches the version's manifest in the background when it was never
    /// fetched, the version changed since, or the last fetch is older than
    /// `every`. Cheap when none of that holds: one lock-free lookup.
    pub fn refresh_if_stale(
        self: &Arc<Self>,
        upstream: &crate::upstream::UpstreamClient,
        server: &str,
        version: &str,
        config: &Arc<VersionConfig>,
        every: Duration,
    ) {
        let entry = self.entry(server, version);
        let fresh = entry.as_ref().is_some_and(|e| e.fetched_for == Some(config.updated_at) && e.fetched_at.is_some_and(|at| at.elapsed() < every));
        if fresh {
            return;
        }
        let key = (server.to_string(), version.to_string());
        if !crate::lock(&self.fetching).insert(key.clone()) {
            return;
        }
        let (catalog, upstream, config) = (self.clone(), upstream.clone(), config.clone());
        tokio::spawn(async move {
            let (server, version) = &key;
            catalog.fetch(&upstream, server, version, &config).await;
            crate::lock(&catalog.fetching).remove(&key);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn learns_names_and_hashes_bounded() {
        let catalog = ToolCatalog::default();
        catalog.learn("s", "v1", &[json!({ "name": "echo" }), json!({ "name": "bad\u{0}name" }), json!({ "nameless": true })]);
        assert!(catalog.offers("s", "v1", "echo"));
        assert!(!catalog.offers("s", "v1", "bad\u{0}name"));
        assert!(!catalog.offers("s", "v2", "echo"));
        let many: Vec<Value> = (0..5000).map(|i| json!({ "name": format!("tool-{i}") })).collect();
        catalog.learn("s", "v1", &many);
        assert_eq!(catalog.entry("s", "v1").unwrap().tools.len(), MAX_TOOLS);
    }

    #[test]
    fn input_schemas_compile_once_into_validators() {
        let catalog = ToolCatalog::default();
        let schema = json!({ "type": "object", "properties": { "n": { "type": "integer" } }, "required": ["n"] });
        catalog.learn("s", "v1", &[json!({ "name": "count", "inputSchema": schema }), json!({ "name": "bare" })]);
        let validator = catalog.tool("s", "v1", "count").and_then(|t| t.validator()).expect("a validator");
        assert!(validator.is_valid(&json!({ "n": 3 })) && !validator.is_valid(&json!({ "n": "three" })));
        assert!(catalog.tool("s", "v1", "bare").unwrap().validator().is_none());
    }
}
