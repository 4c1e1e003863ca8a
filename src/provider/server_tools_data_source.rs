//! Data source `mcp_server_tools`: the tools a version's upstream offers
//! right now, each with the hash an approved manifest pins.

use super::client::ApiClient;
use super::data_source::DataSource;
use super::diagnostics;
use super::dynamic::{Type, Value};
use super::proto::tfplugin6 as pb;
use super::schema::{Attribute, Schema};
use async_trait::async_trait;
use std::collections::BTreeMap;

pub struct ServerTools {
    schema: Schema,
}

fn tool_type() -> Type {
    Type::Object(
        [("name", Type::String), ("description", Type::String), ("input_schema", Type::String), ("hash", Type::String)]
            .into_iter()
            .map(|(n, t)| (n.to_string(), t))
            .collect(),
    )
}

impl Default for ServerTools {
    fn default() -> Self {
        ServerTools {
            schema: Schema::new(
                "The tools a version's MCP server offers right now, asked of it directly, each with the hash of its definition: what `approved_tools` of `mcp_server_version` pins.",
                vec![
                    Attribute::required("server", Type::String, "The server."),
                    Attribute::required("version", Type::String, "The version."),
                    Attribute::computed(
                        "tools",
                        Type::List(Box::new(tool_type())),
                        "The tools: `name`, `description`, `input_schema` (JSON) and `hash` (SHA-256 of the whole definition).",
                    ),
                ],
            ),
        }
    }
}

#[async_trait]
impl DataSource for ServerTools {
    fn type_name(&self) -> &'static str {
        "mcp_server_tools"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read(&self, client: &ApiClient, config: &Value) -> Result<Value, Vec<pb::Diagnostic>> {
        let server = config.attr("server").as_str().unwrap_or_default();
        let version = config.attr("version").as_str().unwrap_or_default();
        let path = format!("servers/{server}/versions/{version}/tools");
        let reply = client
            .get(&path)
            .await
            .map_err(|e| vec![diagnostics::at("version", format!("Cannot list the tools of {server}/{version}"), e.to_string())])?;
        let tools = reply.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|tool| {
                let text = |key: &str| tool[key].as_str().map(Value::string).unwrap_or(Value::Null);
                let object: BTreeMap<String, Value> = [
                    ("name".to_string(), text("name")),
                    ("description".to_string(), text("description")),
                    ("input_schema".to_string(), Value::string(tool["input_schema"].to_string())),
                    ("hash".to_string(), text("hash")),
                ]
                .into_iter()
                .collect();
                Value::Object(object)
            })
            .collect();
        let state: BTreeMap<String, Value> =
            [("server".into(), Value::string(server)), ("version".into(), Value::string(version)), ("tools".into(), Value::List(tools))]
                .into_iter()
                .collect();
        Ok(Value::Object(state))
    }
}
