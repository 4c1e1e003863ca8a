//! A REST API as MCP tools: an OpenAPI 3.0 or 3.1 document (JSON or YAML)
//! read into one tool per operation, with what calling it takes (method,
//! path, parameters and how each is encoded, body). Every problem is found
//! here, at write time, with its location in the document
//! (`paths./pets/{id}.get.parameters[0]: $ref '#/components/parameters/Limit' not found`),
//! so the gateway only ever serves a document that imported cleanly.
//!
//! The document is parsed by serde (`serde_json`, `serde_norway` for YAML)
//! and walked as JSON: the OpenAPI model crates each cover one revision
//! (3.0 or 3.1), and the walk is also what names every location exactly.

use globset::{Glob, GlobSetBuilder};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Longest tool name clients accept (`^[A-Za-z0-9_-]{1,64}$`).
pub const MAX_TOOL_NAME: usize = 64;
/// How deep `$ref`s are followed inside one schema; deeper is left open.
const MAX_DEPTH: usize = 24;
/// Largest output schema kept (resolved): larger responses are described
/// by the text content alone.
const MAX_OUTPUT_SCHEMA_BYTES: usize = 64 * 1024;
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// A problem in a document, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.location.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.location, self.message)
        }
    }
}

fn error(location: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError { location: location.into(), message: message.into() }
}

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
    Header,
}

/// How a parameter's value is written (OpenAPI `style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Simple,
    Form,
    SpaceDelimited,
    PipeDelimited,
    DeepObject,
    Label,
    Matrix,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// The name in the request.
    pub name: String,
    /// The tool's argument that carries it.
    pub argument: String,
    pub location: In,
    pub style: Style,
    pub explode: bool,
    pub required: bool,
}

/// One operation, as a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub tool: String,
    pub method: String,
    /// The path template, e.g. `/pets/{id}`.
    pub path: String,
    pub parameters: Vec<Parameter>,
    /// Whether the tool's `body` argument is sent as the JSON request body
    /// (and whether the operation requires one).
    pub body: Option<bool>,
    /// The MCP tool definition: name, description, inputSchema, outputSchema.
    pub definition: Value,
}

/// A document's operations, as tools.
#[derive(Debug, Clone, PartialEq)]
pub struct RestApi {
    pub operations: Vec<Operation>,
}

impl RestApi {
    pub fn operation(&self, tool: &str) -> Option<&Operation> {
        self.operations.iter().find(|op| op.tool == tool)
    }

    /// The tool definitions, as `tools/list` returns them.
    pub fn tools(&self) -> Vec<Value> {
        self.operations.iter().map(|op| op.definition.clone()).collect()
    }
}

/// Which operations become tools: globs on the operationId or the tool name.
#[derive(Debug, Clone, Default)]
pub struct Selection<'a> {
    pub include: Option<&'a [String]>,
    pub exclude: Option<&'a [String]>,
}

fn glob_set(patterns: &[String]) -> Option<globset::GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(Glob::new(pattern).ok()?);
    }
    builder.build().ok()
}

/// A document's text, JSON or YAML, as JSON.
pub fn parse_document(text: &str) -> Result<Value, SpecError> {
    let trimmed = text.trim_start();
    let parsed = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| error("", format!("is not JSON: {e}")))
    } else {
        serde_norway::from_str::<Value>(text).map_err(|e| error("", format!("is neither JSON nor YAML: {e}")))
    }?;
    if !parsed.is_object() {
        return Err(error("", "is not an OpenAPI document (not an object)"));
    }
    Ok(parsed)
}

/// Reads a document into tools. Every problem is returned, located.
pub fn import(text: &str, selection: &Selection<'_>) -> Result<RestApi, Vec<SpecError>> {
    let document = parse_document(text).map_err(|e| vec![e])?;
    check_version(&document).map_err(|e| vec![e])?;
    let include = selection.include.map(glob_set);
    let exclude = selection.exclude.map(glob_set);
    let selected = |id: Option<&str>, tool: &str| {
        let matches = |set: &globset::GlobSet| set.is_match(tool) || id.is_some_and(|id| set.is_match(id));
        let included = match &include {
            None => true,
            Some(set) => set.as_ref().is_some_and(matches),
        };
        included && !exclude.as_ref().is_some_and(|set| set.as_ref().is_some_and(matches))
    };
    let resolver = Resolver { document: &document, revision_3_0: document["openapi"].as_str().is_some_and(|v| v.starts_with("3.0")) };
    let mut errors = Vec::new();
    let mut operations: Vec<Operation> = Vec::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return Err(vec![error("paths", "is missing: the document names no operation")]);
    };
    for (path, item) in paths {
        let location = format!("paths.{path}");
        let item = match resolver.reference(item, &location) {
            Ok(item) => item,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for method in METHODS {
            let Some(spec) = item.get(method) else { continue };
            let at = format!("{location}.{method}");
            let operation_id = spec.get("operationId").and_then(Value::as_str);
            let tool = tool_name(operation_id, method, path);
            if !selected(operation_id, &tool) {
                continue;
            }
            match resolver.operation(&tool, method, path, item, spec, &at) {
                Ok(Some(operation)) => {
                    if let Some(other) = names.insert(tool.clone(), at.clone()) {
                        errors
                            .push(error(at, format!("becomes tool {tool:?}, as {other} does: give one of them another operationId, or exclude one")));
                        continue;
                    }
                    operations.push(operation);
                }
                Ok(None) => {}
                Err(mut found) => errors.append(&mut found),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RestApi { operations })
}

fn check_version(document: &Value) -> Result<(), SpecError> {
    if document.get("swagger").is_some() {
        return Err(error("swagger", "Swagger 2.0 is not supported: convert the document to OpenAPI 3 (e.g. with swagger2openapi)"));
    }
    match document.get("openapi").and_then(Value::as_str) {
        Some(version) if version.starts_with("3.0.") || version.starts_with("3.1.") => Ok(()),
        Some(version) => Err(error("openapi", format!("is {version:?}; OpenAPI 3.0 and 3.1 are supported"))),
        None => Err(error("openapi", "is missing: not an OpenAPI 3 document")),
    }
}

/// A tool name clients accept: the operationId, else the method and path,
/// with anything but letters, digits, `_` and `-` made `_`, at most 64
/// characters (a longer one is cut to 55 and given 8 hex digits of its
/// SHA-256, so names that share a long prefix stay apart).
pub fn tool_name(operation_id: Option<&str>, method: &str, path: &str) -> String {
    let raw = match operation_id.filter(|id| !id.trim().is_empty()) {
        Some(id) => id.to_string(),
        None => format!("{method}_{path}"),
    };
    let mut name = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' };
        if !(c == '_' && name.ends_with('_')) {
            name.push(c);
        }
    }
    let name = name.trim_matches('_');
    if name.is_empty() {
        return "operation".into();
    }
    if name.len() <= MAX_TOOL_NAME {
        return name.to_string();
    }
    // Cut names keep a digest of the whole, so two long names sharing their
    // first 64 characters stay two tools.
    use sha2::Digest;
    let digest = hex::encode(&sha2::Sha256::digest(name.as_bytes())[..4]);
    format!("{}_{digest}", &name[..MAX_TOOL_NAME - digest.len() - 1])
}

/// Follows local `$ref`s in one document.
struct Resolver<'a> {
    document: &'a Value,
    /// 3.0 schemas say `nullable`, and `exclusiveMinimum` as a flag; JSON
    /// Schema says neither.
    revision_3_0: bool,
}

impl<'a> Resolver<'a> {
    /// What a `$ref` names, or the value itself when it is no reference.
    fn reference(&self, value: &'a Value, location: &str) -> Result<&'a Value, SpecError> {
        let mut current = value;
        for _ in 0..MAX_DEPTH {
            let Some(target) = current.get("$ref").and_then(Value::as_str) else { return Ok(current) };
            current = self.target(target, location)?;
        }
        Err(error(location, "a chain of $refs too long (or a loop)"))
    }

    fn target(&self, reference: &str, location: &str) -> Result<&'a Value, SpecError> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(error(location, format!("$ref {reference:?} is not local: only references into this document (#/…) are supported")));
        };
        self.document.pointer(pointer).ok_or_else(|| error(location, format!("$ref '{reference}' not found")))
    }

    fn operation(&self, tool: &str, method: &str, path: &str, item: &Value, spec: &Value, at: &str) -> Result<Option<Operation>, Vec<SpecError>> {
        let mut errors = Vec::new();
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut parameters = Vec::new();
        // Path-level parameters first; the operation's replace those with the same name and place.
        let mut declared: Vec<(String, &Value)> = Vec::new();
        for (list, location) in [
            (item.get("parameters"), format!("{}.parameters", at.rsplit_once('.').map_or(at, |(p, _)| p))),
            (spec.get("parameters"), format!("{at}.parameters")),
        ] {
            for (i, parameter) in list.and_then(Value::as_array).into_iter().flatten().enumerate() {
                let here = format!("{location}[{i}]");
                match self.reference(parameter, &here) {
                    Ok(resolved) => {
                        let key = |p: &Value| (p["name"].as_str().unwrap_or_default().to_string(), p["in"].as_str().unwrap_or_default().to_string());
                        declared.retain(|(_, p)| key(p) != key(resolved));
                        declared.push((here, resolved));
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        for (here, parameter) in declared {
            match self.parameter(parameter, &here, &mut properties) {
                Ok(Some(parameter)) => {
                    if parameter.required {
                        required.push(Value::String(parameter.argument.clone()));
                    }
                    parameters.push(parameter);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        let body = match spec.get("requestBody") {
            None => None,
            Some(body) => match self.body(body, &format!("{at}.requestBody")) {
                Ok(Some((schema, body_required))) => {
                    properties.insert("body".into(), schema);
                    if body_required {
                        required.push(Value::String("body".into()));
                    }
                    Some(body_required)
                }
                // A body that is not JSON: the operation is left out when it needs one.
                Ok(None) if spec["requestBody"]["required"] == true => return if errors.is_empty() { Ok(None) } else { Err(errors) },
                Ok(None) => None,
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        let output = self.output(spec, &format!("{at}.responses"), &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut input_schema = json!({ "type": "object", "properties": properties });
        if !required.is_empty() {
            input_schema["required"] = Value::Array(required);
        }
        let mut definition = json!({ "name": tool, "description": description(spec, method, path), "inputSchema": input_schema });
        if let Some(output) = output {
            definition["outputSchema"] = output;
        }
        Ok(Some(Operation { tool: tool.to_string(), method: method.to_ascii_uppercase(), path: path.to_string(), parameters, body, definition }))
    }

    /// A parameter, its schema added to the tool's arguments. Cookie
    /// parameters are not sent (`None`).
    fn parameter(&self, parameter: &Value, at: &str, properties: &mut Map<String, Value>) -> Result<Option<Parameter>, SpecError> {
        let name = parameter.get("name").and_then(Value::as_str).ok_or_else(|| error(at, "has no name"))?;
        let location = match parameter.get("in").and_then(Value::as_str) {
            Some("path") => In::Path,
            Some("query") => In::Query,
            Some("header") => In::Header,
            Some("cookie") => return Ok(None),
            other => return Err(error(at, format!("is in {other:?}; a parameter is in path, query, header or cookie"))),
        };
        let default_style = match location {
            In::Query => Style::Form,
            In::Path | In::Header => Style::Simple,
        };
        let style = match parameter.get("style").and_then(Value::as_str) {
            None => default_style,
            Some("simple") => Style::Simple,
            Some("form") => Style::Form,
            Some("spaceDelimited") => Style::SpaceDelimited,
            Some("pipeDelimited") => Style::PipeDelimited,
            Some("deepObject") => Style::DeepObject,
            Some("label") => Style::Label,
            Some("matrix") => Style::Matrix,
            Some(other) => return Err(error(format!("{at}.style"), format!("{other:?} is not an OpenAPI style"))),
        };
        let explode = parameter.get("explode").and_then(Value::as_bool).unwrap_or(style == Style::Form);
        let schema = match (parameter.get("schema"), parameter.get("content").and_then(Value::as_object)) {
            (Some(schema), _) => self.schema(schema, &format!("{at}.schema"))?,
            (None, Some(content)) => match content.iter().next() {
                Some((media, media_type)) => match media_type.get("schema") {
                    Some(schema) => self.schema(schema, &format!("{at}.content.{media}.schema"))?,
                    None => json!({}),
                },
                None => json!({}),
            },
            (None, None) => json!({}),
        };
        let mut schema = match schema {
            Value::Object(schema) => schema,
            other => Map::from_iter([("allOf".to_string(), Value::Array(vec![other]))]),
        };
        if let Some(text) = parameter.get("description").and_then(Value::as_str) {
            schema.entry("description").or_insert_with(|| Value::String(text.to_string()));
        }
        // A name already taken (a path and a query parameter both called `id`) gets its place as prefix.
        let mut argument = name.to_string();
        if properties.contains_key(&argument) || argument == "body" {
            argument = format!(
                "{}_{name}",
                match location {
                    In::Path => "path",
                    In::Query => "query",
                    In::Header => "header",
                }
            );
        }
        properties.insert(argument.clone(), Value::Object(schema));
        let required = location == In::Path || parameter.get("required").and_then(Value::as_bool).unwrap_or(false);
        Ok(Some(Parameter { name: name.to_string(), argument, location, style, explode, required }))
    }

    /// A request body's JSON schema and whether it is required; `None` when
    /// it has no JSON media type.
    fn body(&self, body: &Value, at: &str) -> Result<Option<(Value, bool)>, SpecError> {
        let body = self.reference(body, at)?;
        let required = body.get("required").and_then(Value::as_bool).unwrap_or(false);
        let Some(content) = body.get("content").and_then(Value::as_object) else { return Ok(None) };
        let Some((media, media_type)) = content.iter().find(|(media, _)| is_json(media)) else { return Ok(None) };
        let schema = match media_type.get("schema") {
            Some(schema) => self.schema(schema, &format!("{at}.content.{media}.schema"))?,
            None => json!({}),
        };
        Ok(Some((schema, required)))
    }

    /// The 2xx JSON response's schema, when it is an object (MCP's outputSchema).
    fn output(&self, spec: &Value, at: &str, errors: &mut Vec<SpecError>) -> Option<Value> {
        let responses = spec.get("responses")?.as_object()?;
        let (status, response) = responses.iter().find(|(status, _)| status.starts_with('2'))?;
        let here = format!("{at}.{status}");
        let response = match self.reference(response, &here) {
            Ok(response) => response,
            Err(e) => {
                errors.push(e);
                return None;
            }
        };
        let (media, media_type) = response.get("content")?.as_object()?.iter().find(|(media, _)| is_json(media))?;
        let schema = match self.schema(media_type.get("schema")?, &format!("{here}.content.{media}.schema")) {
            Ok(schema) => schema,
            Err(e) => {
                errors.push(e);
                return None;
            }
        };
        let object = schema.get("type").is_some_and(|t| t == "object" || t.as_array().is_some_and(|types| types.contains(&json!("object"))));
        (object && schema.to_string().len() <= MAX_OUTPUT_SCHEMA_BYTES).then_some(schema)
    }

    /// A schema with every local `$ref` resolved in place; a `$ref` already
    /// being resolved above (a recursive schema) or one too deep is left
    /// open (`{}`), so no schema loops or grows without bound.
    fn schema(&self, schema: &Value, at: &str) -> Result<Value, SpecError> {
        let mut resolving = BTreeSet::new();
        self.resolve(schema, at, &mut resolving, 0)
    }

    fn resolve(&self, schema: &Value, at: &str, resolving: &mut BTreeSet<String>, depth: usize) -> Result<Value, SpecError> {
        if depth > MAX_DEPTH {
            return Ok(json!({}));
        }
        match schema {
            Value::Object(fields) => {
                if let Some(reference) = fields.get("$ref").and_then(Value::as_str) {
                    if resolving.contains(reference) {
                        return Ok(json!({ "description": format!("(recursive: {reference})") }));
                    }
                    let target = self.target(reference, at)?;
                    resolving.insert(reference.to_string());
                    let resolved = self.resolve(target, at, resolving, depth + 1);
                    resolving.remove(reference);
                    let mut resolved = resolved?;
                    // 3.1 allows keywords beside a $ref; they refine the target.
                    if let Value::Object(resolved_fields) = &mut resolved {
                        for (key, value) in fields.iter().filter(|(k, _)| *k != "$ref") {
                            resolved_fields.insert(key.clone(), self.resolve(value, at, resolving, depth + 1)?);
                        }
                    }
                    return Ok(resolved);
                }
                let mut out = Map::new();
                for (key, value) in fields {
                    // Data, not schemas: kept as written.
                    let literal = matches!(key.as_str(), "example" | "examples" | "default" | "enum" | "const" | "x-examples");
                    let value = if literal { value.clone() } else { self.resolve(value, at, resolving, depth + 1)? };
                    out.insert(key.clone(), value);
                }
                if self.revision_3_0 {
                    to_json_schema(&mut out);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => {
                items.iter().map(|item| self.resolve(item, at, resolving, depth + 1)).collect::<Result<Vec<_>, _>>().map(Value::Array)
            }
            other => Ok(other.clone()),
        }
    }
}

/// OpenAPI 3.0's schema dialect as JSON Schema: `nullable: true` adds
/// `null` to the type; `exclusiveMinimum: true` (a flag on `minimum`)
/// becomes the number itself.
fn to_json_schema(schema: &mut Map<String, Value>) {
    if schema.remove("nullable") == Some(Value::Bool(true)) {
        match schema.get_mut("type") {
            Some(Value::String(t)) => {
                let t = std::mem::take(t);
                schema.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(types)) if !types.contains(&json!("null")) => types.push(json!("null")),
            _ => {}
        }
    }
    for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        if let Some(Value::Bool(exclusive)) = schema.get(flag).cloned() {
            schema.remove(flag);
            if exclusive {
                if let Some(value) = schema.remove(bound) {
                    schema.insert(flag.into(), value);
                }
            }
        }
    }
}

fn is_json(media: &str) -> bool {
    let media = media.split(';').next().unwrap_or(media).trim();
    media == "application/json" || media.ends_with("+json")
}

/// The tool's description: the operation's summary, then its description.
fn description(spec: &Value, method: &str, path: &str) -> String {
    let parts: Vec<&str> =
        ["summary", "description"].iter().filter_map(|k| spec.get(*k).and_then(Value::as_str)).map(str::trim).filter(|s| !s.is_empty()).collect();
    if parts.is_empty() {
        format!("{} {path}", method.to_ascii_uppercase())
    } else {
        parts.join("\n\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETS: &str = r#"
openapi: 3.0.3
info: { title: Pets, version: "1" }
paths:
  /pets/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: integer } }
    get:
      operationId: getPet
      summary: One pet
      parameters:
        - $ref: '#/components/parameters/Verbose'
        - { name: X-Trace, in: header, schema: { type: string } }
      responses:
        '200':
          content:
            application/json:
              schema: { $ref: '#/components/schemas/Pet' }
  /pets:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: '#/components/schemas/Pet' }
      responses: { '201': { description: created } }
components:
  parameters:
    Verbose: { name: verbose, in: query, schema: { type: boolean } }
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        name: { type: string }
        age: { type: integer, minimum: 0, exclusiveMinimum: true, nullable: true }
        parent: { $ref: '#/components/schemas/Pet' }
"#;

    #[test]
    fn operations_become_tools_with_one_input_schema() {
        let api = import(PETS, &Selection::default()).unwrap();
        let get = api.operation("getPet").unwrap();
        assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", "/pets/{id}"));
        let names: Vec<(&str, In)> = get.parameters.iter().map(|p| (p.name.as_str(), p.location)).collect();
        assert_eq!(names, vec![("id", In::Path), ("verbose", In::Query), ("X-Trace", In::Header)]);
        let schema = &get.definition["inputSchema"];
        assert_eq!(schema["required"], json!(["id"]));
        assert_eq!(schema["properties"]["verbose"]["type"], "boolean");
        let output = &get.definition["outputSchema"];
        assert_eq!(output["properties"]["age"]["type"], json!(["integer", "null"]), "3.0's nullable");
        assert_eq!(output["properties"]["age"]["exclusiveMinimum"], 0, "3.0's exclusiveMinimum flag");
        assert!(output["properties"]["parent"]["description"].as_str().unwrap().starts_with("(recursive"), "a recursive schema is cut, not looped");
        let post = api.operation("post_pets").expect("named from the method and path");
        assert_eq!(post.body, Some(true));
        assert_eq!(post.definition["inputSchema"]["required"], json!(["body"]));
        assert!(jsonschema::meta::validate(&post.definition["inputSchema"]).is_ok());
        assert!(jsonschema::meta::validate(output).is_ok());
    }

    #[test]
    fn problems_are_located() {
        let broken = PETS.replace("'#/components/parameters/Verbose'", "'#/components/parameters/Limit'");
        let errors = import(&broken, &Selection::default()).unwrap_err();
        assert_eq!(errors[0].to_string(), "paths./pets/{id}.get.parameters[0]: $ref '#/components/parameters/Limit' not found");
        let swagger = import(r#"{"swagger": "2.0", "paths": {}}"#, &Selection::default()).unwrap_err();
        assert!(swagger[0].to_string().contains("Swagger 2.0 is not supported"));
        let duplicate = PETS.replace("operationId: getPet", "operationId: post_pets");
        let errors = import(&duplicate, &Selection::default()).unwrap_err();
        assert!(errors[0].to_string().contains("becomes tool \"post_pets\""), "{errors:?}");
        assert!(import("not: [valid", &Selection::default()).is_err());
    }

    #[test]
    fn selection_and_names() {
        let include = vec!["get*".to_string()];
        let api = import(PETS, &Selection { include: Some(&include), exclude: None }).unwrap();
        assert_eq!(api.operations.len(), 1);
        let exclude = vec!["post_*".to_string()];
        assert_eq!(import(PETS, &Selection { include: None, exclude: Some(&exclude) }).unwrap().operations.len(), 1);
        assert_eq!(tool_name(Some("repos/get-content"), "get", "/x"), "repos_get-content");
        assert_eq!(tool_name(None, "get", "/repos/{owner}/{repo}"), "get_repos_owner_repo");
        let (long_a, long_b) =
            (tool_name(Some(&format!("{}a", "x".repeat(100))), "get", "/"), tool_name(Some(&format!("{}b", "x".repeat(100))), "get", "/"));
        assert_eq!((long_a.len(), long_b.len()), (MAX_TOOL_NAME, MAX_TOOL_NAME));
        assert_ne!(long_a, long_b, "cut names stay apart");
    }
}
