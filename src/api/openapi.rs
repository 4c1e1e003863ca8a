//! The OpenAPI 3.1 document at `/api/v1/openapi.json`. Paths come from the
//! same resource list the router uses; schemas from the model types the
//! handlers (de)serialize, through utoipa; the rules the model enforces
//! (patterns, lengths, ranges, counts) from the model's own constants, so
//! what the document says is valid is exactly what the API accepts.
//! `./scripts/test.sh` holds the two to each other with schemathesis.

use super::problem::Problem;
use super::resource::{ApiResource, MAX_PAGE_SIZE};
use super::subscriptions::RegenerateKey;
use super::{for_each_resource, ResourceVisitor};
use crate::model::product::{MAX_CALLS, MAX_PERIOD_SECONDS};
use crate::model::rules::{self, MAX_LABEL_LEN, MAX_NAME_LEN, MAX_TEXT_LEN};
use crate::model::version::MAX_TIMEOUT_SECONDS;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

#[derive(Default)]
struct Document {
    paths: Map<String, Value>,
    schemas: Vec<(String, RefOr<Schema>)>,
    /// Specs whose merge-patch schema is built once they carry their rules.
    patches: Vec<String>,
}

impl Document {
    fn schema<T: ToSchema>(&mut self) -> Value {
        let name = T::name().to_string();
        self.schemas.push((name.clone(), T::schema()));
        T::schemas(&mut self.schemas);
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }
}

fn name_schema() -> Value {
    json!({ "type": "string", "pattern": rules::NAME_PATTERN })
}

fn path_parameters(route: &str) -> Vec<Value> {
    route
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": name_schema() }))
        .collect()
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

const PROBLEM_DESCRIPTIONS: &[(&str, &str)] = &[
    ("400", "Invalid fields, headers or parameters (problem details name each)"),
    ("401", "Missing or wrong admin token"),
    ("404", "The resource, or one its path names, does not exist"),
    ("409", "Exists already, still referred to, out of subscriptions, or in the wrong state"),
    ("412", "A precondition (If-Match, If-None-Match) does not hold"),
    ("413", "The request body is too large"),
    ("415", "The request body is not JSON"),
    ("422", "A well-formed field does not compile: an expression, pattern, template or API description (problem details name each)"),
    ("503", "The store is unavailable for now; retry after Retry-After"),
];

/// The responses of an operation: its successes plus problem documents (RFC 9457).
fn responses(ok: Vec<(&str, Value)>, problems: &[&str]) -> Value {
    let problem = json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } });
    let mut all: Map<String, Value> = ok.into_iter().map(|(code, response)| (code.to_string(), response)).collect();
    // Every operation reads or writes the store, which can be out of reach.
    for code in problems.iter().chain(&["503"]) {
        let description = PROBLEM_DESCRIPTIONS.iter().find(|(c, _)| c == code).map_or("Problem details (RFC 9457)", |(_, d)| d);
        all.insert(code.to_string(), json!({ "description": description, "content": problem }));
    }
    Value::Object(all)
}

fn etag_headers() -> Value {
    json!({ "ETag": { "description": "Strong validator for If-Match and If-None-Match", "schema": { "type": "string" } } })
}

/// `*`, or a comma-separated list of entity tags (RFC 9110 §8.8.3); empty is no condition.
const ENTITY_TAGS_PATTERN: &str = r#"^(|\*|(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*)$"#;

fn precondition_headers() -> Vec<Value> {
    let tags = json!({ "type": "string", "pattern": ENTITY_TAGS_PATTERN });
    vec![
        json!({ "name": "If-Match", "in": "header", "schema": tags, "description": "`*` or ETags (compared strongly); at most one of If-Match and If-None-Match" }),
        json!({ "name": "If-None-Match", "in": "header", "schema": tags, "description": "`*` or ETags (compared weakly)" }),
    ]
}

/// Links for stateful testing: what a write returns names the resource to read, patch and delete.
fn item_links(noun: &str, route: &str) -> Value {
    let parameters: Map<String, Value> =
        path_parameters(route).iter().filter_map(|p| p["name"].as_str()).map(|n| (n.to_string(), json!(format!("$request.path.{n}")))).collect();
    let mut links = json!({
        format!("Get{noun}"): { "operationId": format!("get_{noun}"), "parameters": parameters },
        format!("Patch{noun}"): { "operationId": format!("patch_{noun}"), "parameters": parameters },
        format!("Delete{noun}"): { "operationId": format!("delete_{noun}"), "parameters": parameters },
    });
    if noun == "subscription" {
        for action in ["approve_subscription", "reject_subscription", "regenerate_subscription_key", "list_subscription_secrets"] {
            links[action] = json!({ "operationId": action, "parameters": parameters });
        }
    }
    if noun == "version" {
        links["promote_server_version"] = json!({ "operationId": "promote_server_version", "parameters": parameters });
    }
    links
}

impl ResourceVisitor for Document {
    fn visit<R: ApiResource>(&mut self) {
        let tag = R::KIND.noun();
        self.schema::<R::Spec>();
        let view = self.schema::<R::View>();
        let noun = tag.replace(' ', "_");
        let spec_name = R::Spec::name().to_string();
        self.patches.push(spec_name.clone());
        let request = json!({ "$ref": format!("#/components/schemas/{spec_name}") });
        let patch = json!({ "$ref": format!("#/components/schemas/{spec_name}Patch") });
        let item_params = path_parameters(R::ITEM);
        let mut list_params = path_parameters(R::COLLECTION);
        list_params
            .push(json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 100 } }));
        list_params
            .push(json!({ "name": "page_token", "in": "query", "schema": name_schema(), "description": "`next_page_token` of the previous page" }));
        for filter in R::FILTERS {
            list_params.push(json!({ "name": filter, "in": "query", "schema": name_schema() }));
        }
        let page = json!({ "type": "object", "required": ["items", "next_page_token"], "properties": {
            "items": { "type": "array", "items": view },
            "next_page_token": { "oneOf": [name_schema(), { "type": "null" }] } } });
        let links = item_links(&noun, R::ITEM);
        let with_view = |description: &str| json!({ "description": description, "headers": etag_headers(), "content": json_content(view.clone()) });
        let written = |description: &str| {
            let mut response = with_view(description);
            response["links"] = links.clone();
            response
        };
        let mut item_with_preconditions = item_params.clone();
        item_with_preconditions.extend(precondition_headers());
        let mut delete_params = item_with_preconditions.clone();
        delete_params.push(json!({ "name": "cascade", "in": "query", "schema": { "type": "boolean", "default": false },
            "description": "Also delete what refers to the resource (versions: drop them from the lists that name them)" }));
        self.paths.insert(
            format!("/api/v1{}", R::COLLECTION),
            json!({ "get": { "tags": [tag], "operationId": format!("list_{noun}s"), "parameters": list_params,
                "responses": responses(vec![("200", json!({ "description": "A page", "content": json_content(page) }))], &["400", "401", "404"]) } }),
        );
        self.paths.insert(
            format!("/api/v1{}", R::ITEM),
            json!({
                "get": { "tags": [tag], "operationId": format!("get_{noun}"), "parameters": item_with_preconditions,
                    "responses": responses(vec![("200", with_view("The resource")), ("304", json!({ "description": "Not modified (If-None-Match)", "headers": etag_headers() }))],
                        &["400", "401", "404", "412"]) },
                "put": { "tags": [tag], "operationId": format!("put_{noun}"), "parameters": item_with_preconditions,
                    "requestBody": { "required": true, "content": json_content(request.clone()) },
                    "responses": responses(vec![("200", written("Replaced")), ("201", written("Created"))], &["400", "401", "404", "409", "412", "413", "415", "422"]) },
                "patch": { "tags": [tag], "operationId": format!("patch_{noun}"), "parameters": item_with_preconditions,
                    "description": "JSON merge patch (RFC 7396) of the resource's writable fields. An invalid patch is refused with 400; a valid one whose result, with what is stored, is not (an incomplete limit, a forbidden transition) with 409.",
                    "requestBody": { "required": true, "content": {
                        "application/merge-patch+json": { "schema": patch.clone() },
                        "application/json": { "schema": patch } } },
                    "responses": responses(vec![("200", written("Merged"))], &["400", "401", "404", "409", "412", "413", "415", "422"]) },
                "delete": { "tags": [tag], "operationId": format!("delete_{noun}"), "parameters": delete_params,
                    "responses": responses(vec![("204", json!({ "description": "Deleted" }))], &["400", "401", "404", "409", "412"]) }
            }),
        );
    }
}

/// A merge patch of a spec: any of its fields, `null` removing the
/// optional ones; nested objects whole (they are replaced, not merged,
/// unless the stored resource has them).
fn patch_schema(spec: &Value) -> Value {
    let mut patch = spec.clone();
    let required: Vec<Value> = patch.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(object) = patch.as_object_mut() {
        object.remove("required");
        // Rules between fields hold for the patched resource, not the patch
        // (a 409 when the result breaks one).
        for keyword in ["allOf", "anyOf", "oneOf", "if", "then", "else"] {
            object.remove(keyword);
        }
        object.insert("description".into(), json!("A JSON merge patch (RFC 7396) of the writable fields."));
    }
    if let Some(properties) = patch.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, property) in properties.iter_mut() {
            // In a map, `null` removes an entry.
            if let Some(values) = property.get_mut("additionalProperties").filter(|v| v.is_object()) {
                *values = json!({ "anyOf": [{ "type": "null" }, values.clone()] });
            }
            if !required.contains(&json!(name)) {
                *property = json!({ "anyOf": [{ "type": "null" }, property.clone()] });
            }
        }
    }
    patch
}

/// Merge patches apply inside nested objects too: `null` removes an optional
/// field there. A nested object with optional fields gets a patch schema of
/// its own (`XPatch`: its optional fields nullable, its required ones still
/// required, since a patch may create the object).
fn nested_patches(schemas: &mut Map<String, Value>, patch: &mut Value) {
    let Some(properties) = patch.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for property in properties.values_mut() {
        // A patch replaces an array whole: its items are whole objects, not patches.
        if property.to_string().contains("\"type\":\"array\"") {
            continue;
        }
        let mut text = property.to_string();
        let names: Vec<String> = schemas.keys().filter(|name| text.contains(&format!("\"#/components/schemas/{name}\""))).cloned().collect();
        for name in names {
            let nested = &schemas[&name];
            let required = nested.get("required").and_then(Value::as_array).map_or(0, Vec::len);
            let fields = nested.get("properties").and_then(Value::as_object).map_or(0, Map::len);
            if nested.get("type") != Some(&json!("object")) || required == fields {
                continue;
            }
            let mut nested_patch = patch_schema(nested);
            if let (Some(object), Some(required)) = (nested_patch.as_object_mut(), nested.get("required")) {
                object.insert("required".into(), required.clone());
            }
            schemas.insert(format!("{name}Patch"), nested_patch);
            text = text.replace(&format!("\"#/components/schemas/{name}\""), &format!("\"#/components/schemas/{name}Patch\""));
        }
        if let Ok(rewritten) = serde_json::from_str(&text) {
            *property = rewritten;
        }
    }
}

fn subscription_actions(doc: &mut Document) {
    let view = json!({ "$ref": "#/components/schemas/Subscription" });
    let params = path_parameters("/subscriptions/{subscription}");
    let ok = || vec![("200", json!({ "description": "The subscription", "content": json_content(view.clone()) }))];
    for (action, summary) in [("approve", "Approve a submitted subscription"), ("reject", "Reject a submitted subscription")] {
        doc.paths.insert(
            format!("/api/v1/subscriptions/{{subscription}}/{action}"),
            json!({ "post": { "tags": ["subscription"], "summary": summary, "operationId": format!("{action}_subscription"),
                "parameters": params, "responses": responses(ok(), &["400", "401", "404", "409"]) } }),
        );
    }
    let request = doc.schema::<RegenerateKey>();
    doc.paths.insert(
        "/api/v1/subscriptions/{subscription}/regenerate-key".into(),
        json!({ "post": { "tags": ["subscription"], "summary": "Replace one key; the response shows it once",
            "operationId": "regenerate_subscription_key", "parameters": params,
            "requestBody": { "required": true, "content": json_content(request) },
            "responses": responses(ok(), &["400", "401", "404", "412", "413"]) } }),
    );
    let secrets = doc.schema::<super::subscriptions::SubscriptionSecrets>();
    doc.paths.insert(
        "/api/v1/subscriptions/{subscription}/list-secrets".into(),
        json!({ "post": { "tags": ["subscription"], "summary": "Both keys in clear; every call is recorded in the audit log",
            "operationId": "list_subscription_secrets", "parameters": params,
            "responses": responses(vec![("200", json!({ "description": "The keys", "content": json_content(secrets) }))], &["400", "401", "404"]) } }),
    );
}

fn version_actions(doc: &mut Document) {
    let params = path_parameters("/servers/{server}/versions/{version}");
    let request = doc.schema::<super::versions::Promote>();
    let versions = doc.schema::<super::versions::ServerVersions>();
    doc.paths.insert(
        "/api/v1/servers/{server}/versions/{version}/promote".into(),
        json!({ "post": { "tags": ["version"], "operationId": "promote_server_version",
            "summary": "All the traffic to this version in one step; the versions active before become deprecated",
            "parameters": params, "requestBody": { "required": false, "content": json_content(request) },
            "responses": responses(vec![("200", json!({ "description": "Every version of the server after the change", "content": json_content(versions) }))],
                &["400", "401", "404", "409", "412", "413"]) } }),
    );
    let tools = doc.schema::<super::versions::LiveTools>();
    let mut tool_responses = responses(
        vec![("200", json!({ "description": "The tools, with their definition hashes", "content": json_content(tools) }))],
        &["400", "401", "404"],
    );
    tool_responses["502"] = json!({ "description": "The version's MCP server did not answer",
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } });
    doc.paths.insert(
        "/api/v1/servers/{server}/versions/{version}/tools".into(),
        json!({ "get": { "tags": ["version"], "operationId": "list_server_version_tools",
            "summary": "The tools the version's MCP server offers now (asked directly), each with the hash approved_tools pins",
            "parameters": params, "responses": tool_responses } }),
    );
}

fn analytics_paths(doc: &mut Document) {
    let analytics = doc.schema::<super::analytics::Analytics>();
    let calls = doc.schema::<super::analytics::Calls>();
    let audit = doc.schema::<super::analytics::AuditLog>();
    let query = |name: &str, schema: Value, description: &str| json!({ "name": name, "in": "query", "schema": schema, "description": description });
    let limit = query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }), "How many");
    let text = json!({ "type": "string" });
    doc.paths.insert(
        "/api/v1/analytics".into(),
        json!({ "get": { "tags": ["analytics"], "operationId": "get_analytics", "summary": "Calls, errors, latency percentiles and cost per group",
            "parameters": [
                query("group_by", json!({ "type": "string", "enum": ["tool", "version", "product", "subscription", "client"], "default": "tool" }), "What to group calls by"),
                query("server", text.clone(), "Only this server's calls"),
                query("subscription", text.clone(), "Only this subscription's calls"),
                query("from", json!({ "type": "string", "format": "date-time" }), "Calls at or after"),
                query("to", json!({ "type": "string", "format": "date-time" }), "Calls before"),
                limit.clone(),
                query("offset", json!({ "type": "integer", "minimum": 0, "maximum": i64::MAX, "default": 0 }), "Where the page starts (`next_offset` of the previous one)")
            ],
            "responses": responses(vec![("200", json!({ "description": "One item per group, busiest first", "content": json_content(analytics) }))], &["400", "401"]) } }),
    );
    doc.paths.insert(
        "/api/v1/calls".into(),
        json!({ "get": { "tags": ["analytics"], "operationId": "list_calls", "summary": "Recent tool calls, newest first",
            "parameters": [
                query("session_id", text.clone(), "Only this MCP session's calls"),
                query("tool", text.clone(), "Only calls of this tool"),
                query("status", json!({ "type": "string", "enum": ["ok", "error"] }), "Only successful or failed calls"),
                query("server", text.clone(), "Only this server's calls"),
                query("subscription", text, "Only this subscription's calls"),
                limit.clone()
            ],
            "responses": responses(vec![("200", json!({ "description": "Call records", "content": json_content(calls) }))], &["400", "401"]) } }),
    );
    let info = doc.schema::<super::ServiceInfo>();
    doc.paths.insert(
        "/api/v1/info".into(),
        json!({ "get": { "tags": ["service"], "operationId": "get_info", "summary": "What is answering: mcpgate, and its version (checks the token)",
            "responses": responses(vec![("200", json!({ "description": "The service", "content": json_content(info) }))], &["401"]) } }),
    );
    doc.paths.insert(
        "/api/v1/audit-log".into(),
        json!({ "get": { "tags": ["analytics"], "operationId": "list_audit_log", "summary": "Who read secrets, newest first",
            "parameters": [limit],
            "responses": responses(vec![("200", json!({ "description": "Audit entries", "content": json_content(audit) }))], &["400", "401"]) } }),
    );
}

/// Adds `keywords` to a property of a component schema (or, with `None`, to the schema itself).
fn refine(schemas: &mut Map<String, Value>, schema: &str, property: Option<&str>, keywords: Value) {
    let Some(target) = schemas.get_mut(schema) else { return };
    let target = match property {
        Some(property) => &mut target["properties"][property],
        None => target,
    };
    // A nullable reference is `oneOf: [null, $ref]`: the rules go on the reference.
    let target = match target.get_mut("oneOf") {
        Some(Value::Array(options)) => match options.iter_mut().find(|o| o.get("$ref").is_some() || o.get("type") != Some(&json!("null"))) {
            Some(option) => option,
            None => return,
        },
        _ => target,
    };
    if let (Some(target), Value::Object(keywords)) = (target.as_object_mut(), keywords) {
        target.extend(keywords);
    }
}

/// The model's validation rules (`src/model`), stated in JSON Schema.
fn model_rules(schemas: &mut Map<String, Value>) {
    let label = json!({ "maxLength": MAX_LABEL_LEN });
    let text = json!({ "maxLength": MAX_TEXT_LEN });
    for schema in ["ServerSpec", "ProductSpec", "SubscriptionSpec", "AuthorizationServerSpec", "PortalUserSpec"] {
        refine(schemas, schema, Some("display_name"), label.clone());
    }
    use crate::model::portal_user::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
    refine(schemas, "PortalUserSpec", Some("password"), json!({ "minLength": MIN_PASSWORD_LEN, "maxLength": MAX_PASSWORD_LEN }));
    refine(schemas, "ServerSpec", Some("description"), text.clone());
    refine(schemas, "ServerSpec", Some("owner"), label.clone());
    refine(schemas, "SubscriptionSpec", Some("owner"), label.clone());
    refine(
        schemas,
        "ServerSpec",
        Some("tags"),
        json!({ "maxProperties": rules::MAX_TAGS, "propertyNames": { "minLength": 1, "maxLength": MAX_NAME_LEN },
                "additionalProperties": { "type": "string", "maxLength": MAX_LABEL_LEN } }),
    );
    refine(schemas, "ProductSpec", Some("description"), text.clone());
    // approval_required needs subscription_required (which defaults to true).
    refine(
        schemas,
        "ProductSpec",
        None,
        json!({ "if": { "properties": { "approval_required": { "const": true } }, "required": ["approval_required"] },
                "then": { "not": { "properties": { "subscription_required": { "const": false } }, "required": ["subscription_required"] } } }),
    );
    refine(schemas, "ProductSpec", Some("terms"), json!({ "maxLength": 8 * MAX_TEXT_LEN }));
    refine(schemas, "ProductSpec", Some("subscriptions_limit"), json!({ "minimum": 0, "maximum": MAX_CALLS }));
    refine(schemas, "CallLimit", Some("calls"), json!({ "minimum": 1, "maximum": MAX_CALLS }));
    refine(schemas, "CallLimit", Some("period_seconds"), json!({ "minimum": 1, "maximum": MAX_PERIOD_SECONDS }));
    refine(schemas, "SubscriptionSpec", Some("product"), json!({ "pattern": rules::NAME_PATTERN }));
    refine(schemas, "VersionSpec", Some("backend_url"), json!({ "pattern": rules::BACKEND_URL_PATTERN, "maxLength": MAX_TEXT_LEN }));
    refine(schemas, "VersionSpec", Some("traffic_weight"), json!({ "minimum": 0, "maximum": 100 }));
    refine(schemas, "VersionSpec", Some("timeout_seconds"), json!({ "minimum": 1, "maximum": MAX_TIMEOUT_SECONDS }));
    let reserved: Vec<&str> = rules::RESERVED_HEADERS.to_vec();
    refine(
        schemas,
        "VersionSpec",
        Some("backend_headers"),
        json!({ "maxProperties": rules::MAX_BACKEND_HEADERS,
                "propertyNames": { "pattern": rules::HEADER_NAME_PATTERN, "not": { "enum": reserved },
                                   "description": "Header names the gateway owns (any case) are refused." },
                "additionalProperties": { "type": "string", "pattern": rules::HEADER_VALUE_PATTERN, "maxLength": rules::MAX_HEADER_VALUE_LEN } }),
    );
    refine(
        schemas,
        "VersionSpec",
        Some("tool_costs"),
        json!({ "maxProperties": rules::MAX_TOOL_COSTS, "propertyNames": { "pattern": rules::TOOL_NAME_PATTERN },
                "additionalProperties": { "type": "number", "minimum": 0 } }),
    );
    refine(
        schemas,
        "VersionSpec",
        Some("approved_tools"),
        json!({ "maxProperties": rules::MAX_TOOL_COSTS, "propertyNames": { "pattern": rules::TOOL_NAME_PATTERN },
                "additionalProperties": { "type": "string", "pattern": rules::DEFINITION_HASH_PATTERN } }),
    );
    oauth_rules(schemas);
    refine(
        schemas,
        "ProductServerSpec",
        Some("tools"),
        json!({ "maxItems": rules::MAX_TOOL_PATTERNS, "uniqueItems": true, "items": { "type": "string", "pattern": rules::TOOL_GLOB_PATTERN } }),
    );
    refine(
        schemas,
        "ProductServerSpec",
        Some("versions"),
        json!({ "maxItems": rules::MAX_LISTED_VERSIONS, "uniqueItems": true, "items": { "type": "string", "pattern": rules::NAME_PATTERN } }),
    );
    federation_rules(schemas);
    policy_rules(schemas);
    openapi_rules(schemas);
}

/// A product endpoint's naming and timeouts (`model::federation`).
fn federation_rules(schemas: &mut Map<String, Value>) {
    use crate::model::federation::{CLIENT_NAME_PATTERN, MAX_ALIASES, MAX_LIST_TIMEOUT_MS, MAX_PREFIX_LEN, MIN_LIST_TIMEOUT_MS};
    // Each `_` followed by another character: no `__`, no `_` at the end.
    let prefix = json!({ "pattern": "^(?:[A-Za-z0-9-]|_[A-Za-z0-9-])*$", "maxLength": MAX_PREFIX_LEN });
    refine(schemas, "ProductServerSpec", Some("tool_prefix"), prefix);
    refine(
        schemas,
        "ProductServerSpec",
        Some("tool_aliases"),
        json!({ "maxProperties": MAX_ALIASES, "propertyNames": { "pattern": rules::TOOL_NAME_PATTERN },
                "additionalProperties": { "type": "string", "pattern": CLIENT_NAME_PATTERN } }),
    );
    refine(schemas, "ProductServerSpec", Some("list_timeout_ms"), json!({ "minimum": MIN_LIST_TIMEOUT_MS, "maximum": MAX_LIST_TIMEOUT_MS }));
}

/// Policy rules (`model::policy`). What no schema can say (an expression
/// that compiles, a template naming known values, two rules of one name)
/// is a 422.
fn policy_rules(schemas: &mut Map<String, Value>) {
    use crate::model::policy::{ACTION_KEYS, MAX_EXPRESSION_LEN, MAX_PATTERN_LEN, MAX_RULES, MAX_SET_HEADERS, MAX_TIMEOUT_MS};
    let expression = json!({ "pattern": "\\S", "maxLength": MAX_EXPRESSION_LEN });
    for spec in ["ProductSpec", "ProductServerSpec"] {
        refine(schemas, spec, Some("policies"), json!({ "maxItems": MAX_RULES }));
    }
    refine(schemas, "PolicyRule", Some("name"), json!({ "pattern": rules::NAME_PATTERN }));
    refine(
        schemas,
        "PolicyRule",
        Some("tools"),
        json!({ "maxItems": rules::MAX_TOOL_PATTERNS, "items": { "type": "string", "pattern": rules::TOOL_GLOB_PATTERN } }),
    );
    refine(schemas, "PolicyRule", Some("when"), expression.clone());
    let mut reserved: Vec<&str> = rules::RESERVED_HEADERS.to_vec();
    reserved.push("authorization");
    refine(
        schemas,
        "PolicyRule",
        Some("set_headers"),
        json!({ "minProperties": 1, "maxProperties": MAX_SET_HEADERS,
                "propertyNames": { "pattern": rules::HEADER_NAME_PATTERN, "not": { "enum": reserved } },
                "additionalProperties": { "type": "string", "pattern": rules::HEADER_VALUE_PATTERN, "maxLength": rules::MAX_HEADER_VALUE_LEN } }),
    );
    // Exactly one action, present and not null.
    let one_of: Vec<Value> =
        ACTION_KEYS.iter().map(|key| json!({ "required": [key], "properties": { *key: { "not": { "type": "null" } } } })).collect();
    refine(schemas, "PolicyRule", None, json!({ "oneOf": one_of }));
    refine(schemas, "Deny", Some("message"), json!({ "pattern": "\\S", "maxLength": MAX_LABEL_LEN }));
    refine(schemas, "PolicyLimit", Some("calls"), json!({ "minimum": 1, "maximum": MAX_CALLS }));
    refine(schemas, "PolicyLimit", Some("period_seconds"), json!({ "minimum": 1, "maximum": MAX_PERIOD_SECONDS }));
    refine(schemas, "PolicyLimit", Some("key"), expression);
    refine(schemas, "Redact", Some("pattern"), json!({ "minLength": 1, "maxLength": MAX_PATTERN_LEN }));
    refine(schemas, "Timeout", Some("ms"), json!({ "minimum": 1, "maximum": MAX_TIMEOUT_MS }));
    refine(schemas, "Cost", Some("per_call"), json!({ "minimum": 0 }));
}

/// Versions backed by a REST API (`model::version::OpenApiSpec`).
fn openapi_rules(schemas: &mut Map<String, Value>) {
    use crate::model::version::MAX_SPEC_BYTES;
    let url = json!({ "pattern": rules::BACKEND_URL_PATTERN, "maxLength": MAX_TEXT_LEN });
    // An MCP server or a REST API: exactly one (and a REST API has no MCP transport).
    refine(
        schemas,
        "VersionSpec",
        None,
        json!({ "oneOf": [
            { "required": ["backend_url"], "properties": { "backend_url": { "type": "string" }, "openapi": { "type": "null" } } },
            { "required": ["openapi"],
              "properties": { "openapi": { "type": "object" }, "backend_url": { "type": "null" }, "transport": { "not": { "const": "sse" } } } }
        ] }),
    );
    refine(schemas, "OpenApiSpec", Some("base_url"), url.clone());
    refine(schemas, "OpenApiSpec", Some("spec_url"), url);
    refine(schemas, "OpenApiSpec", Some("spec"), json!({ "maxLength": MAX_SPEC_BYTES }));
    // The document inline or where to fetch it: one of the two.
    refine(
        schemas,
        "OpenApiSpec",
        None,
        json!({ "anyOf": [
            { "required": ["spec"], "properties": { "spec": { "type": "string" } } },
            { "required": ["spec_url"], "properties": { "spec_url": { "type": "string" } } }
        ] }),
    );
    let globs = json!({ "items": { "type": "string", "pattern": rules::TOOL_GLOB_PATTERN } });
    refine(schemas, "OpenApiSpec", Some("include_operations"), globs.clone());
    refine(schemas, "OpenApiSpec", Some("exclude_operations"), globs);
}

/// The rules of authorization servers, token-accepting products, token
/// subjects and upstream client credentials.
fn oauth_rules(schemas: &mut Map<String, Value>) {
    use crate::model::authorization_server::{CLAIM_PATTERN, MAX_SCOPES, SCOPE_PATTERN};
    let url = json!({ "pattern": rules::BACKEND_URL_PATTERN, "maxLength": MAX_TEXT_LEN });
    let scopes = json!({ "maxItems": MAX_SCOPES, "uniqueItems": true, "items": { "type": "string", "pattern": SCOPE_PATTERN } });
    refine(schemas, "AuthorizationServerSpec", Some("issuer"), url.clone());
    refine(schemas, "AuthorizationServerSpec", Some("jwks_url"), url.clone());
    refine(schemas, "AuthorizationServerSpec", Some("subject_claim"), json!({ "pattern": CLAIM_PATTERN }));
    refine(schemas, "ProductSpec", Some("authorization_server"), json!({ "pattern": rules::NAME_PATTERN }));
    refine(schemas, "ProductSpec", Some("required_scopes"), scopes.clone());
    // Tokens map to subscriptions (subscription_required); scopes and a
    // keyless product need an authorization server.
    let with_server = json!({ "required": ["authorization_server"], "not": { "properties": { "authorization_server": { "type": "null" } } } });
    refine(
        schemas,
        "ProductSpec",
        None,
        json!({ "allOf": [{
            "if": with_server,
            "then": { "not": { "properties": { "subscription_required": { "const": false } }, "required": ["subscription_required"] } },
            "else": { "allOf": [
                { "not": { "properties": { "required_scopes": { "type": "array", "minItems": 1 } }, "required": ["required_scopes"] } },
                { "not": { "properties": { "accept_keys": { "const": false } }, "required": ["accept_keys"] } }
            ] }
        }] }),
    );
    refine(
        schemas,
        "SubscriptionSpec",
        Some("token_subjects"),
        json!({ "maxItems": crate::model::subscription::MAX_TOKEN_SUBJECTS, "uniqueItems": true,
                "items": { "type": "string", "minLength": 1, "maxLength": MAX_LABEL_LEN } }),
    );
    refine(schemas, "ClientCredentials", Some("token_url"), url);
    refine(schemas, "ClientCredentials", Some("client_id"), json!({ "minLength": 1, "maxLength": MAX_LABEL_LEN }));
    refine(
        schemas,
        "ClientCredentials",
        Some("client_secret"),
        json!({ "minLength": 1, "maxLength": rules::MAX_HEADER_VALUE_LEN, "writeOnly": true }),
    );
    refine(schemas, "ClientCredentials", Some("scopes"), scopes);
}

/// Builds the whole document.
pub fn document() -> Value {
    let mut doc = Document::default();
    for_each_resource(&mut doc);
    subscription_actions(&mut doc);
    version_actions(&mut doc);
    analytics_paths(&mut doc);
    doc.schema::<Problem>();
    let mut schemas: Map<String, Value> =
        doc.schemas.into_iter().map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null))).collect();
    model_rules(&mut schemas);
    for spec in &doc.patches {
        let mut patch = patch_schema(&schemas[spec]);
        nested_patches(&mut schemas, &mut patch);
        schemas.insert(format!("{spec}Patch"), patch);
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "mcpgate management API", "version": env!("CARGO_PKG_VERSION"),
            "description": "Manage MCP servers, their versions, products and subscriptions." },
        "paths": doc.paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        },
        "security": [{ "bearer": [] }]
    })
}

pub async fn serve() -> impl IntoResponse {
    axum::Json(document())
}
