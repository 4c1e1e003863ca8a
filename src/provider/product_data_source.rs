//! Data source `mcp_product`: reads one product by name.

use super::data_source::ByName;

pub fn data_source() -> ByName {
    ByName::new("mcp_product", "products", "Reads a product by name.", super::product_resource::attributes())
}
