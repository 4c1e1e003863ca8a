//! Action `mcp_rotate_subscription_key`: a new key in one slot; the old one
//! stops working at once.

use super::action::{failed, text, Action, Progress};
use super::client::ApiClient;
use super::diagnostics;
use super::dynamic::{Type, Value};
use super::proto::tfplugin6 as pb;
use super::schema::{Attribute, Schema};
use async_trait::async_trait;

pub struct RotateSubscriptionKey {
    schema: Schema,
}

impl Default for RotateSubscriptionKey {
    fn default() -> Self {
        RotateSubscriptionKey {
            schema: Schema::new(
                "Regenerates one key of a subscription; the old key stops working at once, the other key keeps working. Read the new key with the `mcp_subscription_key` ephemeral resource.",
                vec![
                    Attribute::required("subscription", Type::String, "The subscription."),
                    Attribute::required("key", Type::String, "Which key: `primary` or `secondary`."),
                ],
            ),
        }
    }
}

#[async_trait]
impl Action for RotateSubscriptionKey {
    fn type_name(&self) -> &'static str {
        "mcp_rotate_subscription_key"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &Value) -> Vec<pb::Diagnostic> {
        diagnostics::subscription_key_slot(config)
    }

    async fn invoke(&self, client: &ApiClient, config: &Value, progress: &Progress) -> Result<(), Vec<pb::Diagnostic>> {
        let (subscription, key) = (text(config, "subscription")?, text(config, "key")?);
        progress.report(format!("regenerating the {key} key of {subscription}")).await;
        let path = format!("subscriptions/{subscription}/regenerate-key");
        client
            .post(&path, &serde_json::json!({ "key": key }))
            .await
            .map_err(|e| failed("subscription", &format!("rotate the {key} key of {subscription}"), e))?;
        progress.report(format!("the old {key} key of {subscription} no longer works")).await;
        Ok(())
    }
}
