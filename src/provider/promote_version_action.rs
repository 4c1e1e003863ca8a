//! Action `mcp_promote_version`: one version gets all the traffic, the
//! previously active ones are deprecated, in one step.

use super::action::{failed, text, Action, Progress};
use super::client::ApiClient;
use super::diagnostics;
use super::dynamic::{Type, Value};
use super::proto::tfplugin6 as pb;
use super::schema::{Attribute, Schema};
use async_trait::async_trait;

pub struct PromoteVersion {
    schema: Schema,
}

impl Default for PromoteVersion {
    fn default() -> Self {
        PromoteVersion {
            schema: Schema::new(
                "Makes a version of an MCP server active with all the traffic in one step; the versions active before become `deprecated` (with `sunset_at`, when given). The gateway switches at once, in one configuration change.",
                vec![
                    Attribute::required("server", Type::String, "The server."),
                    Attribute::required("version", Type::String, "The version to promote."),
                    Attribute::optional("sunset_at", Type::String, "When the deprecated versions go away (RFC 3339); sent to their clients as `Sunset`."),
                ],
            ),
        }
    }
}

#[async_trait]
impl Action for PromoteVersion {
    fn type_name(&self) -> &'static str {
        "mcp_promote_version"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &Value) -> Vec<pb::Diagnostic> {
        let mut found = diagnostics::names(config, &["server", "version"]);
        if let Some(sunset) = config.attr("sunset_at").as_str() {
            if chrono::DateTime::parse_from_rfc3339(sunset).is_err() {
                found.push(diagnostics::at(
                    "sunset_at",
                    "Invalid sunset_at",
                    format!("sunset_at must be an RFC 3339 time, e.g. 2027-03-01T00:00:00Z, not {sunset:?}."),
                ));
            }
        }
        found
    }

    async fn invoke(&self, client: &ApiClient, config: &Value, progress: &Progress) -> Result<(), Vec<pb::Diagnostic>> {
        let (server, version) = (text(config, "server")?, text(config, "version")?);
        progress.report(format!("promoting {server}/{version}")).await;
        let mut body = serde_json::json!({});
        if let Some(sunset) = config.attr("sunset_at").as_str() {
            body["sunset_at"] = sunset.into();
        }
        let path = format!("servers/{server}/versions/{version}/promote");
        let reply = client.post(&path, &body).await.map_err(|e| failed("version", &format!("promote {server}/{version}"), e))?;
        for item in reply.body["items"].as_array().into_iter().flatten() {
            let sunset = item["sunset_at"].as_str().map(|s| format!(", sunset {s}")).unwrap_or_default();
            progress
                .report(format!(
                    "{server}/{}: {}, weight {}{sunset}",
                    item["name"].as_str().unwrap_or("?"),
                    item["status"].as_str().unwrap_or("?"),
                    item["traffic_weight"]
                ))
                .await;
        }
        Ok(())
    }
}
