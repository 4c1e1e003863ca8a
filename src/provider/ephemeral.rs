//! What every ephemeral resource shares: Terraform opens it when a run
//! needs its value and never writes the value to state or plan.

use super::client::ApiClient;
use super::dynamic::Value;
use super::proto::tfplugin6 as pb;
use super::schema::Schema;
use async_trait::async_trait;

#[async_trait]
pub trait EphemeralResource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> &Schema;
    /// Diagnostics for what can be told from the configuration alone.
    fn validate(&self, config: &Value) -> Vec<pb::Diagnostic>;
    /// The result (the configuration with the computed attributes filled)
    /// and any warnings.
    async fn open(&self, client: &ApiClient, config: &Value) -> Result<(Value, Vec<pb::Diagnostic>), Vec<pb::Diagnostic>>;
}
