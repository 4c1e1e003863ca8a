//! Data source `mcp_product`: reads one product by name.

use super::client::ApiClient;
use super::data_source::{computed_copy, DataSource};
use super::dynamic::Value;
use super::proto::tfplugin6 as pb;
use super::schema::Schema;
use super::server_data_source::read_by_name;
use async_trait::async_trait;

pub struct ProductDataSource {
    schema: Schema,
}

impl Default for ProductDataSource {
    fn default() -> Self {
        let attributes = computed_copy(super::product_resource::attributes(), &["name"]);
        ProductDataSource { schema: Schema::new("Reads a product by name.", attributes) }
    }
}

#[async_trait]
impl DataSource for ProductDataSource {
    fn type_name(&self) -> &'static str {
        "mcp_product"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read(&self, client: &ApiClient, config: &Value) -> Result<Value, Vec<pb::Diagnostic>> {
        read_by_name(client, &self.schema, "products", config).await
    }
}
