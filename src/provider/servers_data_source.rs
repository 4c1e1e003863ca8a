//! Data source `mcp_servers`: every server carrying the given tags.

use super::client::ApiClient;
use super::data_source::DataSource;
use super::diagnostics;
use super::dynamic::{Type, Value};
use super::proto::tfplugin6 as pb;
use super::schema::{string_map, Attribute, Schema};
use async_trait::async_trait;
use std::collections::BTreeMap;

pub struct ServersDataSource {
    schema: Schema,
    server_type: Type,
}

impl Default for ServersDataSource {
    fn default() -> Self {
        let server_type = Type::Object(BTreeMap::from([
            ("name".to_string(), Type::String),
            ("display_name".to_string(), Type::String),
            ("description".to_string(), Type::String),
            ("owner".to_string(), Type::String),
            ("tags".to_string(), string_map()),
        ]));
        let schema = Schema::new(
            "Lists MCP servers; with `tags`, only those carrying every given tag.",
            vec![
                Attribute::optional("tags", string_map(), "Tags every returned server must carry."),
                Attribute::computed("servers", Type::List(Box::new(server_type.clone())), "The matching servers, by name."),
            ],
        );
        ServersDataSource { schema, server_type }
    }
}

#[async_trait]
impl DataSource for ServersDataSource {
    fn type_name(&self) -> &'static str {
        "mcp_servers"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read(&self, client: &ApiClient, config: &Value) -> Result<Value, Vec<pb::Diagnostic>> {
        let items = client.list_all("servers").await.map_err(|e| vec![diagnostics::error("Cannot list servers", e.to_string())])?;
        let wanted = match config.attr("tags") {
            Value::Map(tags) => tags.clone(),
            _ => BTreeMap::new(),
        };
        let servers = items
            .iter()
            .filter(|item| wanted.iter().all(|(k, v)| item["tags"][k].as_str() == v.as_str()))
            .map(|item| Value::from_api_json(Some(item), &self.server_type))
            .collect();
        Ok(Value::Object(BTreeMap::from([("tags".to_string(), config.attr("tags").clone()), ("servers".to_string(), Value::List(servers))])))
    }
}
