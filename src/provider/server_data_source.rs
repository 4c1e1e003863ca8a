//! Data source `mcp_server`: reads one server by name.

use super::client::ApiClient;
use super::data_source::{computed_copy, DataSource};
use super::diagnostics;
use super::dynamic::Value;
use super::proto::tfplugin6 as pb;
use super::schema::Schema;
use async_trait::async_trait;

pub struct ServerDataSource {
    schema: Schema,
}

impl Default for ServerDataSource {
    fn default() -> Self {
        let attributes = computed_copy(super::server_resource::attributes(), &["name"]);
        ServerDataSource { schema: Schema::new("Reads an MCP server by name.", attributes) }
    }
}

#[async_trait]
impl DataSource for ServerDataSource {
    fn type_name(&self) -> &'static str {
        "mcp_server"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read(&self, client: &ApiClient, config: &Value) -> Result<Value, Vec<pb::Diagnostic>> {
        read_by_name(client, &self.schema, "servers", config).await
    }
}

/// GET `{collection}/{name}` into the data source's schema.
pub async fn read_by_name(client: &ApiClient, schema: &Schema, collection: &str, config: &Value) -> Result<Value, Vec<pb::Diagnostic>> {
    let name = config.attr("name").as_str().unwrap_or_default();
    let path = format!("{collection}/{name}");
    let reply = client.get(&path).await.map_err(|e| vec![diagnostics::error(format!("Cannot read {path}"), e.to_string())])?;
    Ok(Value::from_api_json(Some(&reply.body), &schema.object_type()))
}
