//! The engine every managed resource shares: plan (defaults, unknowns,
//! replacement, no-op detection), apply and read against the management
//! API, import by ID or identity, and config validation through the model.
//! A resource file describes itself with a [`ResourceDef`].

use super::client::{ApiClient, ApiError, Reply};
use super::diagnostics;
use super::dynamic::{Type, Value};
use super::lifecycle::ReadCheck;
use super::proto::tfplugin6 as pb;
use super::schema::{Api, Attribute, Identity, Schema};
use crate::model::ValidationErrors;
use std::collections::BTreeMap;

type Diagnostics = Vec<pb::Diagnostic>;

/// Sets planned values derived from the configuration (planned attributes, configuration).
pub type PlanHook = fn(&mut BTreeMap<String, Value>, &Value);

/// Adjusts every state the provider returns (e.g. leaves out what the
/// configuration keeps out of state).
pub type StateHook = fn(&mut BTreeMap<String, Value>);

/// What `terraform query` lists, and with which configuration.
pub struct ListDef {
    pub schema: Schema,
    /// The collection path for a list configuration.
    pub collection: fn(&Value) -> Result<String, String>,
    /// Keeps only the items the configuration asks for.
    pub filter: fn(&Value, &serde_json::Value) -> bool,
}

pub struct ResourceDef {
    pub type_name: &'static str,
    pub schema: Schema,
    pub identity: Identity,
    /// The API path of an instance: `{attribute}` stands for an identity
    /// attribute's value, e.g. `servers/{server}/versions/{name}`.
    pub path: &'static str,
    /// Checks the API document the configuration describes, with the model's rules.
    pub validate: fn(serde_json::Value) -> Result<(), ValidationErrors>,
    /// Attributes that are maps (for diagnostic paths into their keys).
    pub map_attributes: &'static [&'static str],
    /// Extra planning for values derived from the configuration.
    pub plan_hook: Option<PlanHook>,
    pub state_hook: Option<StateHook>,
    /// Reshapes the API document built from the attributes (where the
    /// schema's layout differs from the API's, e.g. a write-only attribute
    /// the API nests).
    pub body_hook: Option<fn(&mut serde_json::Map<String, serde_json::Value>)>,
    /// Warnings a refresh raises about the state read (lifecycle, drift).
    pub read_check: Option<ReadCheck>,
    /// Warnings a plan raises about the planned state, asking mcpgate
    /// (skipped while the provider is not configured).
    pub plan_check: Option<ReadCheck>,
    pub list: Option<ListDef>,
}

/// Private state: the ETag the last read or write saw, for `If-Match`.
pub fn private_from(etag: Option<&str>) -> Vec<u8> {
    serde_json::json!({ "etag": etag }).to_string().into_bytes()
}

fn etag_from(private: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(private).ok()?;
    value["etag"].as_str().map(str::to_string)
}

impl ResourceDef {
    pub fn object_type(&self) -> Type {
        self.schema.object_type()
    }

    /// The API document for a write: planned values, plus write-only ones from the configuration.
    pub fn body(&self, planned: &Value, config: &Value) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        for attr in &self.schema.attributes {
            let source = match attr.api {
                Api::Field => planned.attr(attr.name),
                Api::WriteOnly => config.attr(attr.name),
                Api::ReadOnly | Api::Local | Api::OnCreate => continue,
            };
            if let Some(json) = source.to_api_json() {
                body.insert(attr.api_field().to_string(), json);
            }
        }
        if let Some(hook) = self.body_hook {
            hook(&mut body);
        }
        serde_json::Value::Object(body)
    }

    /// State from an API representation; what the API does not return comes from `base`.
    pub fn state_from(&self, json: &serde_json::Value, base: &Value) -> Value {
        let mut state = BTreeMap::new();
        for attr in &self.schema.attributes {
            let value = match attr.api {
                // Absent blocks are an empty list to Terraform, never null.
                Api::Field if attr.block == Some(super::schema::Nesting::List) => match Value::from_api_json(json.get(attr.api_field()), &attr.ty) {
                    Value::Null => Value::List(Vec::new()),
                    read => read,
                },
                Api::Field => same_instant_as(base.attr(attr.name), Value::from_api_json(json.get(attr.name), &attr.ty)),
                Api::ReadOnly => Value::from_api_json(json.get(attr.name), &attr.ty),
                Api::WriteOnly => Value::Null,
                // Provider-only settings: kept as planned, else (import) their default.
                Api::Local => match known_or_null(base.attr(attr.name)) {
                    Value::Null => attr.default.clone().unwrap_or(Value::Null),
                    kept => kept,
                },
                Api::OnCreate => match Value::from_api_json(json.get(attr.name), &attr.ty) {
                    Value::Null => known_or_null(base.attr(attr.name)),
                    fresh => fresh,
                },
            };
            state.insert(attr.name.to_string(), value);
        }
        if let Some(hook) = self.state_hook {
            hook(&mut state);
        }
        Value::Object(state)
    }

    /// Validates a configuration: types and names via the model's rules;
    /// fields whose values are not known yet are left for later.
    pub fn validate_config(&self, config: &Value) -> Diagnostics {
        let body = self.body(config, config);
        let Err(errors) = (self.validate)(body) else { return Vec::new() };
        // A rule between fields waits until the other field is known too.
        let decidable = |error: &crate::model::FieldError| match &error.reason {
            crate::model::Reason::Requires { other, .. } => field_is_known(config, other),
            _ => true,
        };
        errors
            .0
            .iter()
            .map(|error| self.schema_field(error))
            .filter(|error| field_is_known(config, &error.field))
            .filter(|error| decidable(error))
            .map(|error| diagnostics::field(&error, self.map_attributes))
            .collect()
    }

    /// A model field error, with the field named as the schema names it
    /// (`policies[1].when` is the second `policy` block's `when`).
    fn schema_field(&self, error: &crate::model::FieldError) -> crate::model::FieldError {
        let renamed = self.schema.attributes.iter().filter_map(|a| Some((a.api_name?, a.name))).find_map(|(api, name)| {
            let rest = error.field.strip_prefix(api)?;
            (rest.is_empty() || rest.starts_with(['.', '['])).then(|| format!("{name}{rest}"))
        });
        crate::model::FieldError { field: renamed.unwrap_or_else(|| error.field.clone()), reason: error.reason.clone() }
    }

    /// PlanResourceChange: the planned state and the attributes forcing replacement.
    pub fn plan(&self, prior: &Value, proposed: &Value, config: &Value) -> (Value, Vec<pb::AttributePath>) {
        let Some(proposed_attrs) = proposed.as_object() else { return (Value::Null, Vec::new()) };
        let creating = prior.is_null();
        let mut planned = proposed_attrs.clone();
        for attr in &self.schema.attributes {
            plan_attribute(attr, &mut planned, config, creating);
        }
        if let Some(hook) = self.plan_hook {
            hook(&mut planned, config);
        }
        if creating {
            return (Value::Object(planned), Vec::new());
        }
        let prior_attrs = prior.as_object().cloned().unwrap_or_default();
        let changed = self.schema.attributes.iter().any(|a| !a.volatile && planned.get(a.name) != prior_attrs.get(a.name));
        if !changed {
            return (prior.clone(), Vec::new());
        }
        let replace: Vec<&Attribute> =
            self.schema.attributes.iter().filter(|a| a.requires_replace && planned.get(a.name) != prior_attrs.get(a.name)).collect();
        for attr in &self.schema.attributes {
            let recreated = !replace.is_empty() && attr.computed && matches!(attr.api, Api::ReadOnly | Api::OnCreate);
            let optional_computed_unset =
                !replace.is_empty() && attr.computed && attr.default.is_none() && config.attr(attr.name).is_null() && attr.api == Api::Field;
            if attr.volatile || recreated || optional_computed_unset {
                planned.insert(attr.name.to_string(), Value::unknown());
            }
        }
        // Values derived from the configuration stay known even on replacement.
        if let Some(hook) = self.plan_hook {
            hook(&mut planned, config);
        }
        let paths = replace.iter().map(|a| diagnostics::attribute_path(a.name, &[])).collect();
        (Value::Object(planned), paths)
    }

    /// The path of the instance `value` names; `None` while a name is unknown.
    fn instance_path(&self, value: &Value) -> Option<String> {
        let mut path = self.path.to_string();
        for (name, _) in &self.identity.attributes {
            path = path.replace(&format!("{{{name}}}"), value.attr(name).as_str()?);
        }
        Some(path)
    }

    fn path_of(&self, value: &Value) -> Result<String, Diagnostics> {
        self.instance_path(value)
            .ok_or_else(|| vec![diagnostics::error("Incomplete resource address", format!("the {} names are not known", self.type_name))])
    }

    pub async fn create(&self, client: &ApiClient, planned: &Value, config: &Value) -> Result<(Value, Vec<u8>), Diagnostics> {
        let path = self.path_of(planned)?;
        let reply = client
            .put(&path, &self.body(planned, config), Some(("if-none-match", "*")))
            .await
            .map_err(|e| self.api_diagnostics("create", &path, e))?;
        Ok((self.state_from(&reply.body, planned), private_from(reply.etag.as_deref())))
    }

    pub async fn update(&self, client: &ApiClient, planned: &Value, config: &Value, private: &[u8]) -> Result<(Value, Vec<u8>), Diagnostics> {
        let path = self.path_of(planned)?;
        let etag = etag_from(private);
        let precondition = etag.as_deref().map(|e| ("if-match", e));
        let reply = client.put(&path, &self.body(planned, config), precondition).await.map_err(|e| self.api_diagnostics("update", &path, e))?;
        Ok((self.state_from(&reply.body, planned), private_from(reply.etag.as_deref())))
    }

    pub async fn delete(&self, client: &ApiClient, prior: &Value, private: &[u8]) -> Result<(), Diagnostics> {
        let path = self.path_of(prior)?;
        client.delete(&path, etag_from(private).as_deref()).await.map_err(|e| self.api_diagnostics("delete", &path, e))
    }

    /// `None` when the resource no longer exists (Terraform then plans to re-create it).
    pub async fn read(&self, client: &ApiClient, state: &Value) -> Result<Option<(Value, Vec<u8>)>, Diagnostics> {
        let path = self.path_of(state)?;
        let reply = client.get_optional(&path).await.map_err(|e| self.api_diagnostics("read", &path, e))?;
        Ok(reply.map(|Reply { body, etag }| (self.state_from(&body, state), private_from(etag.as_deref()))))
    }

    /// The identity object an import ID (`a` or `a/b`) names.
    pub fn identity_from_id(&self, id: &str) -> Result<Value, Diagnostics> {
        let parts: Vec<&str> = id.split('/').collect();
        let names: Vec<&str> = self.identity.attributes.iter().map(|(n, _)| *n).collect();
        if parts.len() != names.len() || parts.iter().any(|p| p.is_empty()) {
            let expected = names.iter().map(|n| format!("<{n}>")).collect::<Vec<_>>().join("/");
            return Err(vec![diagnostics::error("Invalid import ID", format!("expected {expected}, got {id:?}"))]);
        }
        Ok(Value::Object(names.iter().zip(parts).map(|(n, p)| (n.to_string(), Value::string(p))).collect()))
    }

    pub async fn import(&self, client: &ApiClient, identity: &Value) -> Result<(Value, Vec<u8>), Diagnostics> {
        let path = self.path_of(identity)?;
        match client.get_optional(&path).await.map_err(|e| self.api_diagnostics("import", &path, e))? {
            Some(reply) => Ok((self.state_from(&reply.body, &Value::Null), private_from(reply.etag.as_deref()))),
            None => Err(vec![diagnostics::error("Cannot import a resource that does not exist", format!("{path} was not found"))]),
        }
    }

    /// API errors as diagnostics; refused fields point at their attributes.
    pub fn api_diagnostics(&self, action: &str, path: &str, err: ApiError) -> Diagnostics {
        let summary = format!("Cannot {action} {} {path}", self.type_name);
        match err {
            ApiError::Invalid { fields, detail } if !fields.is_empty() => fields
                .iter()
                .map(|f| pb::Diagnostic {
                    attribute: Some(diagnostics::attribute_path(&f.field, self.map_attributes)),
                    ..diagnostics::error(summary.clone(), format!("{}: {} ({detail})", f.field, f.reason))
                })
                .collect(),
            ApiError::PreconditionFailed(detail) => vec![diagnostics::error(
                summary,
                format!("{detail}. It was changed outside Terraform after Terraform last read it; run `terraform plan` to see the change, then apply again."),
            )],
            ApiError::Conflict(detail) if action == "create" => vec![diagnostics::error(
                summary,
                format!("{detail}. To manage the existing resource, import it (an `import` block or `terraform import`)."),
            )],
            other => vec![diagnostics::error(summary, other.to_string())],
        }
    }
}

/// The API writes timestamps in its own RFC 3339 form; the configuration's
/// spelling of the same instant is kept, so applies stay consistent.
fn same_instant_as(configured: &Value, returned: Value) -> Value {
    let instant = |v: &Value| v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    match (instant(configured), instant(&returned)) {
        (Some(a), Some(b)) if a == b => configured.clone(),
        _ => returned,
    }
}

fn known_or_null(value: &Value) -> Value {
    if value.is_unknown() {
        Value::Null
    } else {
        value.clone()
    }
}

fn plan_attribute(attr: &Attribute, planned: &mut BTreeMap<String, Value>, config: &Value, creating: bool) {
    let configured = config.attr(attr.name);
    if attr.api == Api::WriteOnly {
        planned.insert(attr.name.to_string(), Value::Null);
        return;
    }
    if !attr.computed || !configured.is_null() {
        return;
    }
    if let Some(default) = &attr.default {
        planned.insert(attr.name.to_string(), default.clone());
    } else if creating && attr.api != Api::Local {
        planned.insert(attr.name.to_string(), Value::unknown());
    }
}

/// Whether the configuration value a model field path names is known.
fn field_is_known(config: &Value, field: &str) -> bool {
    let top = field.split(['.', '[']).next().unwrap_or(field);
    let mut value = config.attr(top);
    if value.is_unknown() {
        return false;
    }
    if let Some(rest) = field.strip_prefix(top).and_then(|r| r.strip_prefix('.')) {
        value = value.attr(rest.split('.').next().unwrap_or(rest));
        if value.is_unknown() {
            return false;
        }
    }
    value.is_wholly_known() || !value.is_null()
}

/// Validates an API document with a model spec's rules; identity fields are
/// names, checked as such, and not part of the spec.
pub fn validate_spec<T: serde::de::DeserializeOwned>(
    mut body: serde_json::Value,
    identity: &[&str],
    check: fn(&T) -> Result<(), ValidationErrors>,
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if let Some(object) = body.as_object_mut() {
        for name in identity {
            if let Some(value) = object.remove(*name) {
                errors.check(*name, crate::model::rules::name(value.as_str().unwrap_or_default()));
            }
        }
    }
    match crate::model::rules::decode::<T>(body) {
        Ok(spec) => {
            if let Err(found) = check(&spec) {
                errors.0.extend(found.0);
            }
        }
        Err(found) => errors.0.extend(found.0),
    }
    errors.into_result()
}
