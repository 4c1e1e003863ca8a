//! What every data source shares: a schema and a read.

use super::client::ApiClient;
use super::diagnostics;
use super::dynamic::Value;
use super::proto::tfplugin6 as pb;
use super::schema::{Api, Attribute, Schema};
use async_trait::async_trait;

#[async_trait]
pub trait DataSource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> &Schema;
    async fn read(&self, client: &ApiClient, config: &Value) -> Result<Value, Vec<pb::Diagnostic>>;
}

/// A resource's attributes as a data source's: `keep` stays required, the
/// rest becomes computed, write-only and provider-local ones are dropped.
pub fn computed_copy(attributes: Vec<Attribute>, keep: &[&str]) -> Vec<Attribute> {
    attributes
        .into_iter()
        .filter(|a| !matches!(a.api, Api::WriteOnly | Api::Local | Api::OnCreate))
        .map(|a| {
            if keep.contains(&a.name) {
                Attribute::required(a.name, a.ty, a.description)
            } else if a.block.is_some() {
                // Blocks are configuration; read back they are a computed
                // attribute, named as the API names them (`policies`).
                Attribute::computed(a.api_field(), a.ty, a.description)
            } else if a.nested.is_empty() {
                Attribute::computed(a.name, a.ty, a.description)
            } else {
                Attribute { required: false, optional: false, computed: true, default: None, requires_replace: false, api: Api::ReadOnly, ..a }
            }
        })
        .collect()
}

/// A data source that reads one resource by `name` from a collection.
pub struct ByName {
    type_name: &'static str,
    collection: &'static str,
    schema: Schema,
}

impl ByName {
    /// `attributes` are the resource's; all but `name` become computed.
    pub fn new(type_name: &'static str, collection: &'static str, description: &'static str, attributes: Vec<Attribute>) -> ByName {
        ByName { type_name, collection, schema: Schema::new(description, computed_copy(attributes, &["name"])) }
    }
}

#[async_trait]
impl DataSource for ByName {
    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read(&self, client: &ApiClient, config: &Value) -> Result<Value, Vec<pb::Diagnostic>> {
        let name = config.attr("name").as_str().unwrap_or_default();
        let path = format!("{}/{name}", self.collection);
        let reply = client.get(&path).await.map_err(|e| vec![diagnostics::error(format!("Cannot read {path}"), e.to_string())])?;
        Ok(Value::from_api_json(Some(&reply.body), &self.schema.object_type()))
    }
}
