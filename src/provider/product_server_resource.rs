//! `mcp_product_server`: puts a server into a product, so separate modules
//! can add their servers to a shared product.

use super::dynamic::{Number, Type, Value};
use super::resource::{validate_spec, ResourceDef};
use super::schema::{string_map, string_set, Attribute, Identity, Schema};
use crate::model::federation::DEFAULT_LIST_TIMEOUT_MS;
use crate::model::ProductServerSpec;
use std::collections::BTreeMap;

pub fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::required("product", Type::String, "Name of the `mcp_product`.").replace(),
        Attribute::required("server", Type::String, "Name of the `mcp_server`.").replace(),
        Attribute::optional("tools", string_set(), "Tool allow-list of glob patterns (`get_*`); unset allows every tool."),
        Attribute::optional("versions", string_set(), "Versions this product reaches, preview ones included; unset means the active ones."),
        Attribute::optional_computed(
            "tool_prefix",
            Type::String,
            "On the product's endpoint (`/products/{product}/mcp`) this server's tools and prompts are `{tool_prefix}__{name}`; unset means the server's name, `\"\"` no prefix. Two servers of a product cannot share one.",
        ),
        Attribute::optional_computed(
            "tool_aliases",
            string_map(),
            "Upstream tool name → the name the product's endpoint shows (before the prefix), for names clients reject (`lookup.article` → `lookup_article`). `terraform plan` warns about tools of the live manifest that would be left out.",
        )
        .default(Value::Map(Default::default())),
        Attribute::optional_computed(
            "list_timeout_ms",
            Type::Number,
            "How long the product's endpoint waits for this server's lists before answering without them (milliseconds, 50–60000; unset means 3000).",
        )
        .default(Value::Number(Number(DEFAULT_LIST_TIMEOUT_MS.to_string()))),
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
        map_attributes: &["tool_aliases"],
        plan_hook: Some(plan_prefix),
        state_hook: None,
        body_hook: None,
        read_check: Some(super::lifecycle::check_product_server),
        plan_check: Some(super::lifecycle::check_exposed_names),
        list: None,
    }
}

/// An unset `tool_prefix` is the server's name, known at plan.
fn plan_prefix(planned: &mut BTreeMap<String, Value>, config: &Value) {
    if config.attr("tool_prefix").is_null() {
        if let Some(server) = config.attr("server").as_str() {
            planned.insert("tool_prefix".into(), Value::string(server));
        }
    }
}
