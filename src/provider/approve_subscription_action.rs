//! Action `mcp_approve_subscription`: decides a subscription waiting for approval.

use super::action::{failed, text, Action, Progress};
use super::client::ApiClient;
use super::diagnostics;
use super::dynamic::{Type, Value};
use super::proto::tfplugin6 as pb;
use super::schema::{Attribute, Schema};
use async_trait::async_trait;

pub struct ApproveSubscription {
    schema: Schema,
}

impl Default for ApproveSubscription {
    fn default() -> Self {
        ApproveSubscription {
            schema: Schema::new(
                "Approves (`approve = true`) or rejects (`approve = false`) a subscription that waits for approval (`submitted`).",
                vec![
                    Attribute::required("subscription", Type::String, "The subscription."),
                    Attribute::required("approve", Type::Bool, "`true` approves, `false` rejects."),
                ],
            ),
        }
    }
}

#[async_trait]
impl Action for ApproveSubscription {
    fn type_name(&self) -> &'static str {
        "mcp_approve_subscription"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &Value) -> Vec<pb::Diagnostic> {
        diagnostics::names(config, &["subscription"])
    }

    async fn invoke(&self, client: &ApiClient, config: &Value, progress: &Progress) -> Result<(), Vec<pb::Diagnostic>> {
        let subscription = text(config, "subscription")?;
        let Value::Bool(approve) = config.attr("approve") else {
            return Err(vec![diagnostics::at("approve", "Missing approve", "approve must be true or false.")]);
        };
        let decision = if *approve { "approve" } else { "reject" };
        progress.report(format!("{decision} {subscription}")).await;
        let reply = client.post(&format!("subscriptions/{subscription}/{decision}"), &serde_json::json!({})).await;
        let reply = reply.map_err(|e| failed("subscription", &format!("{decision} {subscription}"), e))?;
        progress.report(format!("{subscription} is {}", reply.body["state"].as_str().unwrap_or("?"))).await;
        Ok(())
    }
}
