//! `mcp_server_version`: one deployable revision of a server.

use super::dynamic::{Number, Type, Value};
use super::resource::{validate_spec, ListDef, ResourceDef};
use super::schema::{string_map, Api, Attribute, Identity, Schema};
use crate::model::version::{DEFAULT_TIMEOUT_SECONDS, DEFAULT_TRAFFIC_WEIGHT};
use crate::model::VersionSpec;
use std::collections::BTreeMap;

pub fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::required("server", Type::String, "Name of the `mcp_server` this version belongs to.").replace(),
        Attribute::required("name", Type::String, "Version name (slug), e.g. `v1`.").replace(),
        Attribute::optional("backend_url", Type::String, "The upstream MCP endpoint (http or https). Exactly one of `backend_url` and `openapi`."),
        Attribute::nested_optional(
            "openapi",
            vec![
                Attribute::optional("spec", Type::String, "The OpenAPI 3.0 or 3.1 document (JSON or YAML), e.g. `file(\"orders.yaml\")`. Exactly one of `spec` and `spec_url`."),
                Attribute::optional("spec_url", Type::String, "Where mcpgate fetches the document, once, when the version is written."),
                Attribute::required("base_url", Type::String, "Where requests go: the operations' paths are appended to it."),
                Attribute::optional("include_operations", Type::List(Box::new(Type::String)), "Globs on the operationId or tool name: only these operations become tools."),
                Attribute::optional("exclude_operations", Type::List(Box::new(Type::String)), "Globs on the operationId or tool name: these operations do not become tools."),
            ],
            "A REST API served as MCP tools, one per operation of its OpenAPI document (see docs/rest-apis.md). Exactly one of `backend_url` and `openapi`. A document that does not import is refused at plan, with the location of each problem.",
        ),
        Attribute::optional_computed("transport", Type::String, "`streamable_http` (default) or `sse` (legacy HTTP+SSE backends).")
            .default(Value::string("streamable_http")),
        Attribute::optional_computed("status", Type::String, "`preview`, `active` (default), `deprecated` or `retired`.").default(Value::string("active")),
        Attribute::optional_computed("traffic_weight", Type::Number, "Share of traffic among active versions, 0-100 (default 100).")
            .default(Value::Number(Number::from_i64(DEFAULT_TRAFFIC_WEIGHT))),
        Attribute::optional_computed("timeout_seconds", Type::Number, "Upstream timeout in seconds, 1-3600 (default 30).")
            .default(Value::Number(Number::from_i64(DEFAULT_TIMEOUT_SECONDS))),
        Attribute::optional_computed("payload_logging", Type::Bool, "Record tool arguments and results in traces and the call log.")
            .default(Value::Bool(false)),
        Attribute::optional("sunset_at", Type::String, "When the version goes away (RFC 3339); sent as `Sunset` once deprecated."),
        Attribute::optional("backend_headers", string_map(), "Headers added to upstream requests, e.g. credentials. Write-only: never stored in state or returned by the API. Change `backend_headers_version` to send new values.")
            .api(Api::WriteOnly),
        Attribute::optional("backend_headers_version", Type::Number, "Bump to send changed `backend_headers` values.").api(Api::Local),
        Attribute::computed("backend_header_names", Type::List(Box::new(Type::String)), "Names of the configured backend headers."),
        Attribute::optional_computed("tool_costs", Type::Map(Box::new(Type::Number)), "Cost per call by tool; the `default` entry prices the rest.")
            .default(Value::Map(BTreeMap::new())),
        Attribute::optional(
            "approved_tools",
            string_map(),
            "The tools clients may see and call, by name, each pinned to the SHA-256 of its definition (`hash` in the `mcp_server_tools` data source). When set, the gateway hides a tool whose definition changed or that appeared since approval and refuses its calls, and `terraform plan` warns about the drift. Unset: every tool the server offers.",
        ),
        Attribute::nested_optional(
            "client_credentials",
            vec![
                Attribute::required("token_url", Type::String, "The authorization server's token endpoint."),
                Attribute::required("client_id", Type::String, "The client id mcpgate authenticates as."),
                Attribute::optional("scopes", Type::List(Box::new(Type::String)), "Scopes to request."),
            ],
            "Authenticate to the backend with the OAuth 2.0 client-credentials grant: the gateway fetches a token (the secret in `client_secret`), caches it until shortly before it expires, and sends it as `Authorization: Bearer`. Clients' own credentials never reach the backend.",
        ),
        Attribute::optional("client_secret", Type::String, "The client secret of `client_credentials`. Write-only: never stored in state or returned by the API. Change `client_secret_version` to send a new value.")
            .api(Api::WriteOnly),
        Attribute::optional("client_secret_version", Type::Number, "Bump to send a changed `client_secret`.").api(Api::Local),
        Attribute::computed("created_at", Type::String, "When the version was created (RFC 3339)."),
        Attribute::computed("updated_at", Type::String, "When the version last changed (RFC 3339).").volatile(),
    ]
}

/// The header names are known at plan time from the configuration's keys.
fn plan_header_names(planned: &mut BTreeMap<String, Value>, config: &Value) {
    let names = match config.attr("backend_headers") {
        Value::Map(headers) => Value::List(headers.keys().map(|k| Value::string(k.clone())).collect()),
        Value::Null => Value::List(Vec::new()),
        _ => Value::unknown(),
    };
    planned.insert("backend_header_names".into(), names);
}

/// The API nests the secret inside `client_credentials`; the schema keeps it
/// apart so it can be write-only.
fn nest_client_secret(body: &mut serde_json::Map<String, serde_json::Value>) {
    let Some(secret) = body.remove("client_secret") else { return };
    if let Some(serde_json::Value::Object(credentials)) = body.get_mut("client_credentials") {
        credentials.insert("client_secret".into(), secret);
    }
}

pub fn definition() -> ResourceDef {
    ResourceDef {
        type_name: "mcp_server_version",
        schema: Schema::new("A version of an MCP server: where the gateway sends traffic, with what status and weight.", attributes()),
        identity: Identity { version: 0, attributes: vec![("server", "The server's name."), ("name", "The version's name.")] },
        path: "servers/{server}/versions/{name}",
        validate: |body| validate_spec::<VersionSpec>(body, &["server", "name"], VersionSpec::validate),
        map_attributes: &["backend_headers", "tool_costs", "approved_tools"],
        plan_hook: Some(plan_header_names),
        state_hook: None,
        body_hook: Some(nest_client_secret),
        read_check: Some(super::lifecycle::check_version),
        plan_check: None,
        list: Some(ListDef {
            schema: Schema::new(
                "Lists the versions of one MCP server.",
                vec![Attribute::required("server", Type::String, "The server whose versions to list.")],
            ),
            collection: |config| match config.attr("server").as_str() {
                Some(server) => Ok(format!("servers/{server}/versions")),
                None => Err("server must be known".into()),
            },
            filter: |_, _| true,
        }),
    }
}
