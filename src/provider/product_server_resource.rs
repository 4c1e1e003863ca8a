//! `mcp_product_server`: puts a server into a product, so separate modules
//! can add their servers to a shared product.

use super::dynamic::Type;
use super::resource::{validate_spec, ResourceDef};
use super::schema::{string_set, Attribute, Identity, Schema};
use crate::model::ProductServerSpec;

pub fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::required("product", Type::String, "Name of the `mcp_product`.").replace(),
        Attribute::required("server", Type::String, "Name of the `mcp_server`.").replace(),
        Attribute::optional("tools", string_set(), "Tool allow-list of glob patterns (`get_*`); unset allows every tool."),
        Attribute::optional("versions", string_set(), "Versions this product reaches, preview ones included; unset means the active ones."),
        super::policy_block::attribute(),
        Attribute::computed("created_at", Type::String, "When the server joined the product (RFC 3339)."),
        Attribute::computed("updated_at", Type::String, "When the association last changed (RFC 3339).").volatile(),
    ]
}

pub fn definition() -> ResourceDef {
    ResourceDef {
        type_name: "mcp_product_server",
        schema: Schema::new("A server in a product, with the tools and versions the product's consumers may reach.", attributes()),
        identity: Identity { version: 0, attributes: vec![("product", "The product's name."), ("server", "The server's name.")] },
        path: "products/{product}/servers/{server}",
        validate: |body| validate_spec::<ProductServerSpec>(body, &["product", "server"], ProductServerSpec::validate),
        map_attributes: &[],
        plan_hook: None,
        state_hook: None,
        body_hook: None,
        read_check: Some(super::lifecycle::check_product_server),
        list: None,
    }
}
