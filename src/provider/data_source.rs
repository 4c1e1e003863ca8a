//! What every data source shares: a schema and a read.

use super::client::ApiClient;
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
            } else if a.nested.is_empty() {
                Attribute::computed(a.name, a.ty, a.description)
            } else {
                Attribute { required: false, optional: false, computed: true, default: None, requires_replace: false, api: Api::ReadOnly, ..a }
            }
        })
        .collect()
}
