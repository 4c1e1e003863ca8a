//! `mcp_product`: a bundle of servers consumers subscribe to, with its policy.

use super::dynamic::{Type, Value};
use super::resource::{validate_spec, ListDef, ResourceDef};
use super::schema::{Attribute, Identity, Schema};
use crate::model::ProductSpec;

fn call_limit(name: &'static str, description: &'static str) -> Attribute {
    Attribute::nested_optional(
        name,
        vec![
            Attribute::required("calls", Type::Number, "Calls allowed per period (JSON-RPC requests)."),
            Attribute::required("period_seconds", Type::Number, "Length of the period in seconds (> 0)."),
        ],
        description,
    )
}

pub fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::required("name", Type::String, "Unique name (slug). Changing it replaces the product.").replace(),
        Attribute::optional_computed("display_name", Type::String, "Human-friendly name; defaults to `name`."),
        Attribute::optional_computed("description", Type::String, "What the product is for.").default(Value::string("")),
        Attribute::optional_computed("state", Type::String, "`published` or `not_published` (default). Only published products admit calls.")
            .default(Value::string("not_published")),
        Attribute::optional_computed("subscription_required", Type::Bool, "Whether callers need a subscription key (default true).")
            .default(Value::Bool(true)),
        Attribute::optional_computed("approval_required", Type::Bool, "Whether new subscriptions wait for approval (default false).")
            .default(Value::Bool(false)),
        Attribute::optional("subscriptions_limit", Type::Number, "Most live subscriptions; unset for unlimited."),
        call_limit("rate_limit", "Sliding-window rate limit per subscription."),
        call_limit("quota", "Fixed-window quota per subscription (persisted)."),
        Attribute::optional_computed("terms", Type::String, "Terms of use shown to subscribers.").default(Value::string("")),
        Attribute::optional_computed(
            "limit_failure_mode",
            Type::String,
            "When the shared limit counters (Redis) cannot be reached: `closed` (default) refuses calls, `open` admits them uncounted.",
        )
        .default(Value::string("closed")),
        Attribute::optional(
            "authorization_server",
            Type::String,
            "Name of the `mcp_authorization_server` whose access tokens callers may present (`Authorization: Bearer`); each token calls as the subscription whose `token_subjects` holds its subject. Unset: no tokens.",
        ),
        Attribute::optional_computed(
            "required_scopes",
            Type::List(Box::new(Type::String)),
            "Scopes every access token must carry (a token without them gets 403 `insufficient_scope`).",
        )
        .default(Value::List(Vec::new())),
        Attribute::optional_computed(
            "accept_keys",
            Type::Bool,
            "Whether callers may present subscription keys (default true). Set false, with `authorization_server`, for a product that accepts access tokens only.",
        )
        .default(Value::Bool(true)),
        super::policy_block::attribute(),
        Attribute::computed("created_at", Type::String, "When the product was created (RFC 3339)."),
        Attribute::computed("updated_at", Type::String, "When the product last changed (RFC 3339).").volatile(),
    ]
}

pub fn definition() -> ResourceDef {
    ResourceDef {
        type_name: "mcp_product",
        schema: Schema::new("A product: servers bundled for consumers, with approval, limits, rate limits and quotas.", attributes()),
        identity: Identity { version: 0, attributes: vec![("name", "The product's name.")] },
        path: "products/{name}",
        validate: |body| validate_spec::<ProductSpec>(body, &["name"], ProductSpec::validate),
        map_attributes: &[],
        plan_hook: None,
        state_hook: None,
        body_hook: None,
        read_check: None,
        plan_check: None,
        list: Some(ListDef {
            schema: Schema::new("Lists every product.", Vec::new()),
            collection: |_| Ok("products".to_string()),
            filter: |_, _| true,
        }),
    }
}
