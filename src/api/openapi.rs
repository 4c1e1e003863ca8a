//! The OpenAPI 3.1 document at `/api/v1/openapi.json`. Paths come from the
//! same resource list the router uses; schemas from the model types the
//! handlers (de)serialize, through utoipa.

use super::problem::Problem;
use super::resource::ApiResource;
use super::subscriptions::RegenerateKey;
use super::{for_each_resource, ResourceVisitor};
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

#[derive(Default)]
struct Document {
    paths: Map<String, Value>,
    schemas: Vec<(String, RefOr<Schema>)>,
}

impl Document {
    fn schema<T: ToSchema>(&mut self) -> Value {
        let name = T::name().to_string();
        self.schemas.push((name.clone(), T::schema()));
        T::schemas(&mut self.schemas);
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }
}

fn path_parameters(route: &str) -> Vec<Value> {
    route
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({
                "name": name, "in": "path", "required": true,
                "schema": { "type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$" }
            })
        })
        .collect()
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn problem_responses(codes: &[&str]) -> Map<String, Value> {
    let problem = json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } });
    codes.iter().map(|code| (code.to_string(), json!({ "description": "Problem details (RFC 9457)", "content": problem }))).collect()
}

fn with_problems(mut ok: Map<String, Value>, codes: &[&str]) -> Value {
    ok.extend(problem_responses(codes));
    Value::Object(ok)
}

fn etag_headers() -> Value {
    json!({ "ETag": { "description": "Strong validator for If-Match", "schema": { "type": "string" } } })
}

impl ResourceVisitor for Document {
    fn visit<R: ApiResource>(&mut self) {
        let tag = R::KIND.noun();
        let spec = self.schema::<R::Spec>();
        let view = self.schema::<R::View>();
        let noun = tag.replace(' ', "_");
        let item_params = path_parameters(R::ITEM);
        let mut list_params = path_parameters(R::COLLECTION);
        list_params.push(json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 } }));
        list_params.push(json!({ "name": "page_token", "in": "query", "schema": { "type": "string" } }));
        for filter in R::FILTERS {
            list_params.push(json!({ "name": filter, "in": "query", "schema": { "type": "string" } }));
        }
        let page = json!({ "type": "object", "required": ["items", "next_page_token"], "properties": {
            "items": { "type": "array", "items": view },
            "next_page_token": { "type": ["string", "null"] } } });
        let ok = |code: &str, description: &str| -> Map<String, Value> {
            let mut m = Map::new();
            m.insert(code.into(), json!({ "description": description, "headers": etag_headers(), "content": json_content(view.clone()) }));
            m
        };
        let mut put_ok = ok("200", "Replaced");
        put_ok.extend(ok("201", "Created"));
        let precondition_headers = json!([
            { "name": "If-Match", "in": "header", "schema": { "type": "string" } },
            { "name": "If-None-Match", "in": "header", "schema": { "type": "string", "enum": ["*"] } }
        ]);
        let mut item_with_preconditions = item_params.clone();
        item_with_preconditions.extend(precondition_headers.as_array().cloned().unwrap_or_default());
        let mut delete_params = item_params.clone();
        delete_params.push(json!({ "name": "cascade", "in": "query", "schema": { "type": "boolean", "default": false } }));
        delete_params.push(json!({ "name": "If-Match", "in": "header", "schema": { "type": "string" } }));
        self.paths.insert(
            format!("/api/v1{}", R::COLLECTION),
            json!({ "get": { "tags": [tag], "operationId": format!("list_{noun}s"), "parameters": list_params,
                "responses": with_problems([("200".to_string(), json!({ "description": "A page", "content": json_content(page) }))].into_iter().collect(), &["400", "401", "404"]) } }),
        );
        self.paths.insert(
            format!("/api/v1{}", R::ITEM),
            json!({
                "get": { "tags": [tag], "operationId": format!("get_{noun}"), "parameters": item_params,
                    "responses": with_problems(ok("200", "The resource"), &["401", "404"]) },
                "put": { "tags": [tag], "operationId": format!("put_{noun}"), "parameters": item_with_preconditions,
                    "requestBody": { "required": true, "content": json_content(spec.clone()) },
                    "responses": with_problems(put_ok, &["400", "401", "404", "409", "412", "415"]) },
                "patch": { "tags": [tag], "operationId": format!("patch_{noun}"), "parameters": item_with_preconditions,
                    "requestBody": { "required": true, "content": { "application/merge-patch+json": { "schema": { "type": "object" } } } },
                    "responses": with_problems(ok("200", "Merged"), &["400", "401", "404", "409", "412", "415"]) },
                "delete": { "tags": [tag], "operationId": format!("delete_{noun}"), "parameters": delete_params,
                    "responses": with_problems([("204".to_string(), json!({ "description": "Deleted" }))].into_iter().collect(), &["401", "404", "409", "412"]) }
            }),
        );
    }
}

fn subscription_actions(doc: &mut Document) {
    let view = json!({ "$ref": "#/components/schemas/Subscription" });
    let params = path_parameters("/subscriptions/{subscription}");
    let ok = [("200".to_string(), json!({ "description": "The subscription", "content": json_content(view) }))];
    for (action, summary) in [("approve", "Approve a submitted subscription"), ("reject", "Reject a submitted subscription")] {
        doc.paths.insert(
            format!("/api/v1/subscriptions/{{subscription}}/{action}"),
            json!({ "post": { "tags": ["subscription"], "summary": summary, "operationId": format!("{action}_subscription"),
                "parameters": params, "responses": with_problems(ok.clone().into_iter().collect(), &["401", "404", "409"]) } }),
        );
    }
    let request = doc.schema::<RegenerateKey>();
    doc.paths.insert(
        "/api/v1/subscriptions/{subscription}/regenerate-key".into(),
        json!({ "post": { "tags": ["subscription"], "summary": "Replace one key; the response shows it once",
            "operationId": "regenerate_subscription_key", "parameters": params,
            "requestBody": { "required": true, "content": json_content(request) },
            "responses": with_problems(ok.into_iter().collect(), &["400", "401", "404", "412"]) } }),
    );
    let secrets = doc.schema::<super::subscriptions::SubscriptionSecrets>();
    doc.paths.insert(
        "/api/v1/subscriptions/{subscription}/list-secrets".into(),
        json!({ "post": { "tags": ["subscription"], "summary": "Both keys in clear; every call is recorded in the audit log",
            "operationId": "list_subscription_secrets", "parameters": params,
            "responses": with_problems([("200".to_string(), json!({ "description": "The keys", "content": json_content(secrets) }))].into_iter().collect(), &["400", "401", "404"]) } }),
    );
}

fn analytics_paths(doc: &mut Document) {
    let analytics = doc.schema::<super::analytics::Analytics>();
    let calls = doc.schema::<super::analytics::Calls>();
    let query = |name: &str, schema: Value, description: &str| json!({ "name": name, "in": "query", "schema": schema, "description": description });
    doc.paths.insert(
        "/api/v1/analytics".into(),
        json!({ "get": { "tags": ["analytics"], "operationId": "get_analytics", "summary": "Calls, errors, latency percentiles and cost per group",
            "parameters": [
                query("group_by", json!({ "type": "string", "enum": ["tool", "version", "product", "subscription", "client"], "default": "tool" }), "What to group calls by"),
                query("server", json!({ "type": "string" }), "Only this server's calls"),
                query("subscription", json!({ "type": "string" }), "Only this subscription's calls"),
                query("from", json!({ "type": "string", "format": "date-time" }), "Calls at or after"),
                query("to", json!({ "type": "string", "format": "date-time" }), "Calls before")
            ],
            "responses": with_problems([("200".to_string(), json!({ "description": "One item per group, busiest first", "content": json_content(analytics) }))].into_iter().collect(), &["400", "401"]) } }),
    );
    doc.paths.insert(
        "/api/v1/calls".into(),
        json!({ "get": { "tags": ["analytics"], "operationId": "list_calls", "summary": "Recent tool calls, newest first",
            "parameters": [
                query("session_id", json!({ "type": "string" }), "Only this MCP session's calls"),
                query("tool", json!({ "type": "string" }), "Only calls of this tool"),
                query("status", json!({ "type": "string", "enum": ["ok", "error"] }), "Only successful or failed calls"),
                query("server", json!({ "type": "string" }), "Only this server's calls"),
                query("subscription", json!({ "type": "string" }), "Only this subscription's calls"),
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }), "How many")
            ],
            "responses": with_problems([("200".to_string(), json!({ "description": "Call records", "content": json_content(calls) }))].into_iter().collect(), &["400", "401"]) } }),
    );
    let audit = doc.schema::<super::analytics::AuditLog>();
    doc.paths.insert(
        "/api/v1/audit-log".into(),
        json!({ "get": { "tags": ["analytics"], "operationId": "list_audit_log", "summary": "Who read secrets, newest first",
            "parameters": [query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }), "How many")],
            "responses": with_problems([("200".to_string(), json!({ "description": "Audit entries", "content": json_content(audit) }))].into_iter().collect(), &["400", "401"]) } }),
    );
}

/// Builds the whole document.
pub fn document() -> Value {
    let mut doc = Document::default();
    for_each_resource(&mut doc);
    subscription_actions(&mut doc);
    analytics_paths(&mut doc);
    doc.schema::<Problem>();
    let schemas: Map<String, Value> =
        doc.schemas.into_iter().map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null))).collect();
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
