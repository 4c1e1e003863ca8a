//! Ephemeral resource `mcp_subscription_key`: a subscription's current key,
//! for use in the same run, never written to state or plan.

use super::action::{failed, text};
use super::client::{ApiClient, ApiError};
use super::diagnostics;
use super::dynamic::{Type, Value};
use super::ephemeral::EphemeralResource;
use super::proto::tfplugin6 as pb;
use super::schema::{Attribute, Schema};
use async_trait::async_trait;
use std::collections::BTreeMap;

pub struct SubscriptionKey {
    schema: Schema,
}

impl Default for SubscriptionKey {
    fn default() -> Self {
        SubscriptionKey {
            schema: Schema::new(
                "A subscription's current key, read when Terraform needs it (through the management API's `list-secrets`, which records the read in the audit log) and never written to state or plan: hand it to a secret store, a write-only attribute, or a `terraform test` that calls the gateway.",
                vec![
                    Attribute::required("subscription", Type::String, "The subscription."),
                    Attribute::optional("key", Type::String, "Which key: `primary` (default) or `secondary`."),
                    Attribute::computed("value", Type::String, "The key.").sensitive(),
                ],
            ),
        }
    }
}

#[async_trait]
impl EphemeralResource for SubscriptionKey {
    fn type_name(&self) -> &'static str {
        "mcp_subscription_key"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &Value) -> Vec<pb::Diagnostic> {
        diagnostics::subscription_key_slot(config)
    }

    async fn open(&self, client: &ApiClient, config: &Value) -> Result<(Value, Vec<pb::Diagnostic>), Vec<pb::Diagnostic>> {
        let subscription = text(config, "subscription")?;
        let slot = config.attr("key").as_str().unwrap_or("primary");
        let result = |value: Value| -> Value {
            let attributes: BTreeMap<String, Value> =
                [("subscription".into(), Value::string(subscription)), ("key".into(), config.attr("key").clone()), ("value".into(), value)]
                    .into_iter()
                    .collect();
            Value::Object(attributes)
        };
        let reply = match client.post(&format!("subscriptions/{subscription}/list-secrets"), &serde_json::json!({})).await {
            Ok(reply) => reply,
            // Terraform opens ephemeral resources while planning too, before
            // the run that creates the subscription has created it: the key
            // is then not known yet, as a value computed at apply would not be.
            Err(ApiError::NotFound(_)) => {
                let warning = diagnostics::warning(
                    format!("Subscription {subscription} does not exist yet"),
                    format!("Its {slot} key is read once it exists. If nothing in this configuration creates subscription {subscription}, check the name."),
                );
                return Ok((result(Value::unknown()), vec![warning]));
            }
            Err(err) => return Err(failed("subscription", &format!("read the keys of {subscription}"), err)),
        };
        let value = reply.body[format!("{slot}_key")].as_str().map(str::to_string).ok_or_else(|| {
            vec![diagnostics::at("subscription", "Cannot read the key", format!("the management API returned no {slot} key for {subscription}"))]
        })?;
        Ok((result(Value::string(value)), Vec::new()))
    }
}
