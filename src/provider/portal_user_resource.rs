//! `mcp_portal_user`: someone who signs in to the developer portal (or, as
//! an operator, the console).

use super::dynamic::{Type, Value};
use super::resource::{validate_spec, ListDef, ResourceDef};
use super::schema::{Api, Attribute, Identity, Schema};
use crate::model::PortalUserSpec;

pub fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::required("name", Type::String, "The user name to sign in with (slug). Changing it replaces the user.").replace(),
        Attribute::optional_computed("display_name", Type::String, "How the portal greets the user; defaults to `name`."),
        Attribute::optional_computed(
            "role",
            Type::String,
            "`consumer` (default): browses products, subscribes, sees their own keys and usage. `operator`: also the console (approvals, adoption, errors, the call log).",
        )
        .default(Value::string("consumer")),
        Attribute::optional(
            "password",
            Type::String,
            "The password, 12 to 256 characters. Write-only: mcpgate keeps a PBKDF2 hash, and the value is never stored in state or returned. Change `password_version` to send a new one.",
        )
        .api(Api::WriteOnly),
        Attribute::optional("password_version", Type::Number, "Bump to send a changed `password`.").api(Api::Local),
        Attribute::computed("created_at", Type::String, "When the user was created (RFC 3339)."),
        Attribute::computed("updated_at", Type::String, "When the user last changed (RFC 3339).").volatile(),
    ]
}

pub fn definition() -> ResourceDef {
    ResourceDef {
        type_name: "mcp_portal_user",
        schema: Schema::new("A user of the developer portal at `/portal` (consumers) and the console at `/console` (operators).", attributes()),
        identity: Identity { version: 0, attributes: vec![("name", "The user's name.")] },
        path: "portal-users/{name}",
        validate: |body| validate_spec::<PortalUserSpec>(body, &["name"], PortalUserSpec::validate),
        map_attributes: &[],
        plan_hook: None,
        state_hook: None,
        body_hook: None,
        read_check: None,
        plan_check: None,
        list: Some(ListDef {
            schema: Schema::new("Lists every portal user.", Vec::new()),
            collection: |_| Ok("portal-users".to_string()),
            filter: |_, _| true,
        }),
    }
}
