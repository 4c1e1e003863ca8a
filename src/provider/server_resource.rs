//! `mcp_server`: an MCP server under management.

use super::dynamic::{Type, Value};
use super::resource::{validate_spec, ListDef, ResourceDef};
use super::schema::{string_map, Attribute, Identity, Schema};
use crate::model::ServerSpec;

pub fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::required(
            "name",
            Type::String,
            "Unique name (slug: lowercase letters, digits, `-`; 1-63 characters). Changing it replaces the server.",
        )
        .replace(),
        Attribute::optional_computed("display_name", Type::String, "Human-friendly name; defaults to `name`."),
        Attribute::optional_computed("description", Type::String, "What the server offers.").default(Value::string("")),
        Attribute::optional("owner", Type::String, "Team or person accountable for the server."),
        Attribute::optional_computed("tags", string_map(), "Labels, e.g. `team = \"payments\"`; `mcp_servers` filters by them.")
            .default(Value::Map(Default::default())),
        Attribute::computed("created_at", Type::String, "When the server was created (RFC 3339)."),
        Attribute::computed("updated_at", Type::String, "When the server last changed (RFC 3339).").volatile(),
    ]
}

fn tags_match(config: &Value, item: &serde_json::Value) -> bool {
    let Value::Map(wanted) = config.attr("tags") else { return true };
    wanted.iter().all(|(k, v)| item["tags"][k].as_str() == v.as_str())
}

pub fn definition() -> ResourceDef {
    ResourceDef {
        type_name: "mcp_server",
        schema: Schema::new("An MCP server governed by mcpgate. Its versions (`mcp_server_version`) say where traffic goes.", attributes()),
        identity: Identity { version: 0, attributes: vec![("name", "The server's name.")] },
        path: "servers/{name}",
        validate: |body| validate_spec::<ServerSpec>(body, &["name"], ServerSpec::validate),
        map_attributes: &["tags"],
        plan_hook: None,
        state_hook: None,
        body_hook: None,
        read_check: None,
        plan_check: None,
        list: Some(ListDef {
            schema: Schema::new(
                "Lists MCP servers, optionally only those carrying every given tag.",
                vec![Attribute::optional("tags", string_map(), "Tags every listed server must carry.")],
            ),
            collection: |_| Ok("servers".to_string()),
            filter: tags_match,
        }),
    }
}
