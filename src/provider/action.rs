//! Actions (Terraform 1.14+ `action` blocks, `terraform apply -invoke` and
//! `action_trigger`): what they share. An action checks its configuration
//! when Terraform validates and plans, and reports progress while it runs.

use super::client::{ApiClient, ApiError};
use super::diagnostics;
use super::dynamic::Value;
use super::proto::tfplugin6 as pb;
use super::schema::Schema;
use async_trait::async_trait;
use tokio::sync::mpsc;

/// Where an action reports what it is doing; Terraform shows each line.
pub struct Progress(pub mpsc::Sender<pb::invoke_action::Event>);

impl Progress {
    pub async fn report(&self, message: impl Into<String>) {
        use pb::invoke_action::event::{Progress as Step, Type};
        let event = pb::invoke_action::Event { r#type: Some(Type::Progress(Step { message: message.into() })) };
        // A client that stopped listening does not stop the action.
        let _ = self.0.send(event).await;
    }
}

#[async_trait]
pub trait Action: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> &Schema;
    /// Diagnostics for what can be told from the configuration alone;
    /// values not known yet are left to the invocation.
    fn validate(&self, config: &Value) -> Vec<pb::Diagnostic>;
    async fn invoke(&self, client: &ApiClient, config: &Value, progress: &Progress) -> Result<(), Vec<pb::Diagnostic>>;
}

/// An API failure as the diagnostic of the attribute it concerns.
pub fn failed(attribute: &str, what: &str, err: ApiError) -> Vec<pb::Diagnostic> {
    let summary = format!("Cannot {what}");
    match err {
        ApiError::Invalid { fields, detail } if !fields.is_empty() => {
            fields.iter().map(|f| diagnostics::at(attribute, summary.clone(), format!("{}: {} ({detail})", f.field, f.reason))).collect()
        }
        other => vec![diagnostics::at(attribute, summary, other.to_string())],
    }
}

/// A required string attribute, known by the time an action runs.
pub fn text<'a>(config: &'a Value, attribute: &str) -> Result<&'a str, Vec<pb::Diagnostic>> {
    config
        .attr(attribute)
        .as_str()
        .ok_or_else(|| vec![diagnostics::at(attribute, format!("Missing {attribute}"), format!("{attribute} must be set."))])
}
