//! The tfplugin6 `Provider` gRPC service: decodes Terraform's requests,
//! hands them to the resource engine, data sources and list resources, and
//! encodes the answers.

use super::action::{Action, Progress};
use super::client::{ApiClient, EndpointProblem};
use super::data_source::DataSource;
use super::diagnostics;
use super::dynamic::{Type, Value};
use super::ephemeral::EphemeralResource;
use super::proto::tfplugin6 as pb;
use super::proto::tfplugin6::provider_server::Provider;
use super::resource::ResourceDef;
use super::schema::{Attribute, Schema};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::RwLock;
use tonic::{Request, Response, Status, Streaming};

pub const ENDPOINT_ENV: &str = "MCPGATE_ENDPOINT";
pub const TOKEN_ENV: &str = "MCPGATE_TOKEN";
pub const SKIP_CHECK_ENV: &str = "MCPGATE_SKIP_ENDPOINT_CHECK";

pub struct ProviderService {
    resources: HashMap<&'static str, ResourceDef>,
    data_sources: HashMap<&'static str, Box<dyn DataSource>>,
    ephemeral_resources: HashMap<&'static str, Box<dyn EphemeralResource>>,
    actions: HashMap<&'static str, Arc<dyn Action>>,
    provider_schema: Schema,
    client: RwLock<Option<ApiClient>>,
}

fn provider_schema() -> Schema {
    Schema::new(
        "Manages mcpgate: MCP servers, their versions, products and subscriptions.",
        vec![
            Attribute::optional("endpoint", Type::String, "The mcpgate admin URL, e.g. `http://127.0.0.1:9090`. Falls back to `MCPGATE_ENDPOINT`."),
            Attribute::optional("token", Type::String, "The admin token. Falls back to `MCPGATE_TOKEN`.").sensitive(),
            Attribute::optional(
                "skip_endpoint_check",
                Type::Bool,
                "Skip the one request the provider makes when Terraform configures it (`GET /api/v1/info`), which reports an unreachable endpoint, a TLS failure, a wrong token or an endpoint that is not mcpgate before anything else runs. Set it for plans that need no API call while mcpgate is out of reach (only new resources, `-refresh=false`). Falls back to `MCPGATE_SKIP_ENDPOINT_CHECK`.",
            ),
        ],
    )
}

/// Whether the provider checks its endpoint when it is configured.
enum EndpointCheck {
    Run(String),
    Skip,
}

/// `true`/`1` or `false`/`0` from the environment.
fn env_flag(name: &str) -> Option<bool> {
    match std::env::var(name).ok()?.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// The one diagnostic for an endpoint or token that cannot be used: which
/// endpoint, why, and what to set.
fn endpoint_diagnostic(endpoint: &str, problem: EndpointProblem) -> pb::Diagnostic {
    let set_endpoint = format!("check `endpoint` (or {ENDPOINT_ENV}): it must be mcpgate's admin URL");
    let (attribute, summary, detail) = match problem {
        EndpointProblem::Unreachable(cause) => {
            ("endpoint", "Cannot reach mcpgate", format!("cannot connect to {endpoint}: {cause}; {set_endpoint}, and mcpgate must be running there"))
        }
        EndpointProblem::Tls(cause) => (
            "endpoint",
            "TLS handshake with mcpgate failed",
            format!("{endpoint}: {cause}; {set_endpoint} (https only where mcpgate serves TLS, with a certificate this machine trusts)"),
        ),
        EndpointProblem::WrongToken => (
            "token",
            "mcpgate refused the token",
            format!("{endpoint} refused the admin token (HTTP 401); set `token` (or {TOKEN_ENV}) to the admin token mcpgate was started with"),
        ),
        EndpointProblem::NotMcpgate(what) => (
            "endpoint",
            "Not an mcpgate endpoint",
            format!("{endpoint} is not mcpgate's admin API: {what}; {set_endpoint}, e.g. http://127.0.0.1:9090"),
        ),
    };
    pb::Diagnostic { attribute: Some(diagnostics::attribute_path(attribute, &[])), ..diagnostics::error(summary, detail) }
}

fn dynamic(value: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue { msgpack: value.encode_msgpack(), json: Vec::new() })
}

fn decode(value: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Vec<pb::Diagnostic>> {
    let Some(value) = value else { return Ok(Value::Null) };
    let decoded = if !value.msgpack.is_empty() {
        Value::decode_msgpack(&value.msgpack, ty)
    } else if !value.json.is_empty() {
        Value::decode_json(&value.json, ty)
    } else {
        Ok(Value::Null)
    };
    decoded.map_err(|e| vec![diagnostics::error("Invalid value from Terraform", e.to_string())])
}

fn identity_data(value: &Value) -> Option<pb::ResourceIdentityData> {
    Some(pb::ResourceIdentityData { identity_data: dynamic(value) })
}

fn unknown_type(type_name: &str) -> Vec<pb::Diagnostic> {
    vec![diagnostics::error("Unknown type", format!("this provider has no {type_name:?}"))]
}

type EventStream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

impl Default for ProviderService {
    fn default() -> Self {
        ProviderService::new()
    }
}

impl ProviderService {
    pub fn new() -> ProviderService {
        let resources = [
            super::server_resource::definition(),
            super::server_version_resource::definition(),
            super::product_resource::definition(),
            super::product_server_resource::definition(),
            super::subscription_resource::definition(),
            super::authorization_server_resource::definition(),
            super::portal_user_resource::definition(),
        ];
        let data_sources: Vec<Box<dyn DataSource>> = vec![
            Box::new(super::server_data_source::data_source()),
            Box::new(super::product_data_source::data_source()),
            Box::new(super::servers_data_source::ServersDataSource::default()),
            Box::new(super::server_tools_data_source::ServerTools::default()),
        ];
        let ephemeral_resources: Vec<Box<dyn EphemeralResource>> = vec![Box::new(super::subscription_key_ephemeral::SubscriptionKey::default())];
        let actions: Vec<Arc<dyn Action>> = vec![
            Arc::new(super::promote_version_action::PromoteVersion::default()),
            Arc::new(super::rotate_subscription_key_action::RotateSubscriptionKey::default()),
            Arc::new(super::approve_subscription_action::ApproveSubscription::default()),
        ];
        ProviderService {
            resources: resources.into_iter().map(|r| (r.type_name, r)).collect(),
            data_sources: data_sources.into_iter().map(|d| (d.type_name(), d)).collect(),
            ephemeral_resources: ephemeral_resources.into_iter().map(|e| (e.type_name(), e)).collect(),
            actions: actions.into_iter().map(|a| (a.type_name(), a)).collect(),
            provider_schema: provider_schema(),
            client: RwLock::new(None),
        }
    }

    fn resource(&self, type_name: &str) -> Result<&ResourceDef, Vec<pb::Diagnostic>> {
        self.resources.get(type_name).ok_or_else(|| unknown_type(type_name))
    }

    fn ephemeral(&self, type_name: &str) -> Result<&dyn EphemeralResource, Vec<pb::Diagnostic>> {
        self.ephemeral_resources.get(type_name).map(|e| e.as_ref()).ok_or_else(|| unknown_type(type_name))
    }

    /// An action and its decoded configuration.
    fn action(&self, type_name: &str, config: Option<&pb::DynamicValue>) -> Result<(Arc<dyn Action>, Value), Vec<pb::Diagnostic>> {
        let action = self.actions.get(type_name).cloned().ok_or_else(|| unknown_type(type_name))?;
        let config = decode(config, &action.schema().object_type())?;
        Ok((action, config))
    }

    async fn open(&self, request: pb::open_ephemeral_resource::Request) -> Result<(Value, Vec<pb::Diagnostic>), Vec<pb::Diagnostic>> {
        let ephemeral = self.ephemeral(&request.type_name)?;
        let config = decode(request.config.as_ref(), &ephemeral.schema().object_type())?;
        let problems = ephemeral.validate(&config);
        if !problems.is_empty() {
            return Err(problems);
        }
        let client = self.client().await?;
        ephemeral.open(&client, &config).await
    }

    async fn client(&self) -> Result<ApiClient, Vec<pb::Diagnostic>> {
        self.client.read().await.clone().ok_or_else(|| {
            vec![diagnostics::error("Provider not configured", "the mcp provider needs an endpoint and a token before it can reach mcpgate")]
        })
    }

    fn capabilities() -> pb::ServerCapabilities {
        pb::ServerCapabilities { plan_destroy: true, get_provider_schema_optional: true, move_resource_state: false, generate_resource_config: true }
    }

    /// Endpoint and token from the configuration, else the environment.
    fn settings(config: &Value) -> Result<(String, String), Vec<pb::Diagnostic>> {
        let pick =
            |attr: &str, env: &str| config.attr(attr).as_str().map(str::to_string).or_else(|| std::env::var(env).ok()).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let endpoint = pick("endpoint", ENDPOINT_ENV);
        let token = pick("token", TOKEN_ENV);
        if endpoint.is_none() {
            problems.push(pb::Diagnostic {
                attribute: Some(diagnostics::attribute_path("endpoint", &[])),
                ..diagnostics::error("Missing endpoint", format!("set `endpoint` in the provider block or the {ENDPOINT_ENV} environment variable"))
            });
        }
        if token.is_none() {
            problems.push(pb::Diagnostic {
                attribute: Some(diagnostics::attribute_path("token", &[])),
                ..diagnostics::error("Missing token", format!("set `token` in the provider block or the {TOKEN_ENV} environment variable"))
            });
        }
        match (endpoint, token) {
            (Some(e), Some(t)) => Ok((e, t)),
            _ => Err(problems),
        }
    }

    fn validate_names(schema: &Schema, config: &Value) -> Vec<pb::Diagnostic> {
        let mut found = Vec::new();
        for attr in schema.attributes.iter().filter(|a| a.required && a.ty == Type::String) {
            if let Some(name) = config.attr(attr.name).as_str() {
                if let Err(reason) = crate::model::rules::name(name) {
                    let error = crate::model::FieldError { field: attr.name.to_string(), reason };
                    found.push(diagnostics::field(&error, &[]));
                }
            }
        }
        found
    }

    async fn apply(&self, request: pb::apply_resource_change::Request) -> Result<pb::apply_resource_change::Response, Vec<pb::Diagnostic>> {
        let def = self.resource(&request.type_name)?;
        let ty = def.object_type();
        let prior = decode(request.prior_state.as_ref(), &ty)?;
        let planned = decode(request.planned_state.as_ref(), &ty)?;
        let config = decode(request.config.as_ref(), &ty)?;
        let client = self.client().await?;
        if planned.is_null() {
            def.delete(&client, &prior, &request.planned_private).await?;
            return Ok(pb::apply_resource_change::Response { new_state: dynamic(&Value::Null), ..Default::default() });
        }
        let (state, private) = if prior.is_null() {
            def.create(&client, &planned, &config).await?
        } else {
            def.update(&client, &planned, &config, &request.planned_private).await?
        };
        Ok(pb::apply_resource_change::Response {
            new_identity: identity_data(&def.identity.of(&state)),
            new_state: dynamic(&state),
            private,
            diagnostics: Vec::new(),
            legacy_type_system: false,
        })
    }

    async fn import(&self, request: pb::import_resource_state::Request) -> Result<pb::import_resource_state::Response, Vec<pb::Diagnostic>> {
        let def = self.resource(&request.type_name)?;
        let identity = match request.identity.as_ref().and_then(|i| i.identity_data.as_ref()) {
            Some(data) if request.id.is_empty() => decode(Some(data), &def.identity.object_type())?,
            _ => def.identity_from_id(&request.id)?,
        };
        let client = self.client().await?;
        let (state, private) = def.import(&client, &identity).await?;
        Ok(pb::import_resource_state::Response {
            imported_resources: vec![pb::import_resource_state::ImportedResource {
                type_name: request.type_name,
                identity: identity_data(&def.identity.of(&state)),
                state: dynamic(&state),
                private,
            }],
            diagnostics: Vec::new(),
            deferred: None,
        })
    }

    async fn list_events(&self, request: pb::list_resource::Request) -> Result<Vec<pb::list_resource::Event>, Vec<pb::Diagnostic>> {
        let def = self.resource(&request.type_name)?;
        let list = def.list.as_ref().ok_or_else(|| unknown_type(&request.type_name))?;
        let config = decode(request.config.as_ref(), &list.schema.object_type())?;
        let collection = (list.collection)(&config).map_err(|e| vec![diagnostics::error("Invalid list configuration", e)])?;
        let client = self.client().await?;
        let items = client.list_all(&collection).await.map_err(|e| def.api_diagnostics("list", &collection, e))?;
        let limit = usize::try_from(request.limit).ok().filter(|l| *l > 0).unwrap_or(usize::MAX);
        Ok(items
            .iter()
            .filter(|item| (list.filter)(&config, item))
            .take(limit)
            .map(|item| {
                let state = def.state_from(item, &Value::Null);
                pb::list_resource::Event {
                    identity: identity_data(&def.identity.of(&state)),
                    display_name: item["display_name"].as_str().or(item["name"].as_str()).unwrap_or_default().to_string(),
                    resource_object: request.include_resource_object.then(|| dynamic(&state)).flatten(),
                    diagnostic: Vec::new(),
                }
            })
            .collect())
    }
}

fn ok<T>(value: T) -> Result<Response<T>, Status> {
    Ok(Response::new(value))
}

#[tonic::async_trait]
impl Provider for ProviderService {
    async fn get_metadata(&self, _: Request<pb::get_metadata::Request>) -> Result<Response<pb::get_metadata::Response>, Status> {
        use pb::get_metadata as m;
        ok(m::Response {
            server_capabilities: Some(Self::capabilities()),
            resources: self.resources.keys().map(|t| m::ResourceMetadata { type_name: t.to_string() }).collect(),
            data_sources: self.data_sources.keys().map(|t| m::DataSourceMetadata { type_name: t.to_string() }).collect(),
            list_resources: self
                .resources
                .values()
                .filter(|r| r.list.is_some())
                .map(|r| m::ListResourceMetadata { type_name: r.type_name.to_string() })
                .collect(),
            ephemeral_resources: self.ephemeral_resources.keys().map(|t| m::EphemeralMetadata { type_name: t.to_string() }).collect(),
            actions: self.actions.keys().map(|t| m::ActionMetadata { type_name: t.to_string() }).collect(),
            ..Default::default()
        })
    }

    async fn get_provider_schema(&self, _: Request<pb::get_provider_schema::Request>) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        ok(pb::get_provider_schema::Response {
            provider: Some(self.provider_schema.to_proto()),
            resource_schemas: self.resources.iter().map(|(t, r)| (t.to_string(), r.schema.to_proto())).collect(),
            data_source_schemas: self.data_sources.iter().map(|(t, d)| (t.to_string(), d.schema().to_proto())).collect(),
            list_resource_schemas: self.resources.iter().filter_map(|(t, r)| r.list.as_ref().map(|l| (t.to_string(), l.schema.to_proto()))).collect(),
            ephemeral_resource_schemas: self.ephemeral_resources.iter().map(|(t, e)| (t.to_string(), e.schema().to_proto())).collect(),
            action_schemas: self.actions.iter().map(|(t, a)| (t.to_string(), pb::ActionSchema { schema: Some(a.schema().to_proto()) })).collect(),
            server_capabilities: Some(Self::capabilities()),
            ..Default::default()
        })
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let request = request.into_inner();
        let diagnostics = match decode(request.config.as_ref(), &self.provider_schema.object_type()) {
            Err(d) => d,
            Ok(config) => match config.attr("endpoint").as_str().map(|e| ApiClient::new(e, "")) {
                Some(Err(reason)) => vec![pb::Diagnostic {
                    attribute: Some(diagnostics::attribute_path("endpoint", &[])),
                    ..diagnostics::error("Invalid endpoint", reason)
                }],
                _ => Vec::new(),
            },
        };
        ok(pb::validate_provider_config::Response { diagnostics })
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let request = request.into_inner();
        let diagnostics = match self.resource(&request.type_name) {
            Err(d) => d,
            Ok(def) => match decode(request.config.as_ref(), &def.object_type()) {
                Err(d) => d,
                Ok(config) => def.validate_config(&config),
            },
        };
        ok(pb::validate_resource_config::Response { diagnostics })
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let request = request.into_inner();
        let diagnostics = match self.data_sources.get(request.type_name.as_str()) {
            None => unknown_type(&request.type_name),
            Some(source) => match decode(request.config.as_ref(), &source.schema().object_type()) {
                Err(d) => d,
                Ok(config) => Self::validate_names(source.schema(), &config),
            },
        };
        ok(pb::validate_data_resource_config::Response { diagnostics })
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let request = request.into_inner();
        let result = self.resource(&request.type_name).and_then(|def| {
            if request.version > def.schema.version {
                return Err(vec![diagnostics::error(
                    "State from a newer provider",
                    format!("the state has schema version {} but this provider knows {}; upgrade the provider", request.version, def.schema.version),
                )]);
            }
            // Version 0 is current: the JSON state decodes as it is.
            let json = request.raw_state.map(|r| r.json).unwrap_or_default();
            Value::decode_json(&json, &def.object_type()).map_err(|e| vec![diagnostics::error("Cannot read the stored state", e.to_string())])
        });
        ok(match result {
            Ok(state) => pb::upgrade_resource_state::Response { upgraded_state: dynamic(&state), diagnostics: Vec::new() },
            Err(diagnostics) => pb::upgrade_resource_state::Response { upgraded_state: None, diagnostics },
        })
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        ok(pb::get_resource_identity_schemas::Response {
            identity_schemas: self.resources.iter().map(|(t, r)| (t.to_string(), r.identity.to_proto())).collect(),
            diagnostics: Vec::new(),
        })
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let request = request.into_inner();
        let result = self.resource(&request.type_name).and_then(|def| {
            let json = request.raw_identity.map(|r| r.json).unwrap_or_default();
            Value::decode_json(&json, &def.identity.object_type())
                .map_err(|e| vec![diagnostics::error("Cannot read the stored identity", e.to_string())])
        });
        ok(match result {
            Ok(identity) => pb::upgrade_resource_identity::Response { upgraded_identity: identity_data(&identity), diagnostics: Vec::new() },
            Err(diagnostics) => pb::upgrade_resource_identity::Response { upgraded_identity: None, diagnostics },
        })
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let request = request.into_inner();
        let result = decode(request.config.as_ref(), &self.provider_schema.object_type()).and_then(|config| {
            let (endpoint, token) = Self::settings(&config)?;
            let client = ApiClient::new(&endpoint, &token).map_err(|reason| {
                vec![pb::Diagnostic {
                    attribute: Some(diagnostics::attribute_path("endpoint", &[])),
                    ..diagnostics::error("Invalid endpoint", reason)
                }]
            })?;
            let configured = match config.attr("skip_endpoint_check") {
                Value::Bool(skip) => Some(*skip),
                _ => None,
            };
            let skip = configured.or_else(|| env_flag(SKIP_CHECK_ENV)).unwrap_or(false);
            Ok((client, if skip { EndpointCheck::Skip } else { EndpointCheck::Run(endpoint) }))
        });
        let diagnostics = match result {
            Ok((client, check)) => {
                let problems = match check {
                    EndpointCheck::Run(endpoint) => {
                        client.check_endpoint().await.err().map(|p| endpoint_diagnostic(&endpoint, p)).into_iter().collect()
                    }
                    EndpointCheck::Skip => Vec::new(),
                };
                *self.client.write().await = Some(client);
                problems
            }
            Err(d) => d,
        };
        ok(pb::configure_provider::Response { diagnostics })
    }

    async fn read_resource(&self, request: Request<pb::read_resource::Request>) -> Result<Response<pb::read_resource::Response>, Status> {
        let request = request.into_inner();
        let result: Result<pb::read_resource::Response, Vec<pb::Diagnostic>> = async {
            let def = self.resource(&request.type_name)?;
            let state = decode(request.current_state.as_ref(), &def.object_type())?;
            let client = self.client().await?;
            Ok(match def.read(&client, &state).await? {
                Some((fresh, private)) => pb::read_resource::Response {
                    diagnostics: match def.read_check {
                        Some(check) => check(&client, &fresh).await,
                        None => Vec::new(),
                    },
                    new_identity: identity_data(&def.identity.of(&fresh)),
                    new_state: dynamic(&fresh),
                    private,
                    ..Default::default()
                },
                None => pb::read_resource::Response { new_state: dynamic(&Value::Null), ..Default::default() },
            })
        }
        .await;
        ok(result.unwrap_or_else(|diagnostics| pb::read_resource::Response { diagnostics, ..Default::default() }))
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let request = request.into_inner();
        let result: Result<pb::plan_resource_change::Response, Vec<pb::Diagnostic>> = async {
            let def = self.resource(&request.type_name)?;
            let ty = def.object_type();
            let prior = decode(request.prior_state.as_ref(), &ty)?;
            let proposed = decode(request.proposed_new_state.as_ref(), &ty)?;
            let config = decode(request.config.as_ref(), &ty)?;
            let (planned, requires_replace) = def.plan(&prior, &proposed, &config);
            let planned_identity = (!planned.is_null()).then(|| identity_data(&def.identity.of(&planned))).flatten();
            let diagnostics = match (def.plan_check, planned.is_null(), self.client.read().await.clone()) {
                (Some(check), false, Some(client)) => check(&client, &planned).await,
                _ => Vec::new(),
            };
            Ok(pb::plan_resource_change::Response {
                planned_state: dynamic(&planned),
                requires_replace,
                planned_private: request.prior_private.clone(),
                planned_identity,
                diagnostics,
                ..Default::default()
            })
        }
        .await;
        ok(result.unwrap_or_else(|diagnostics| pb::plan_resource_change::Response { diagnostics, ..Default::default() }))
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let result = self.apply(request.into_inner()).await;
        ok(result.unwrap_or_else(|diagnostics| pb::apply_resource_change::Response { diagnostics, ..Default::default() }))
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let result = self.import(request.into_inner()).await;
        ok(result.unwrap_or_else(|diagnostics| pb::import_resource_state::Response { diagnostics, ..Default::default() }))
    }

    async fn move_resource_state(&self, _: Request<pb::move_resource_state::Request>) -> Result<Response<pb::move_resource_state::Response>, Status> {
        ok(pb::move_resource_state::Response {
            diagnostics: vec![diagnostics::error("Moving state is not supported", "mcp resources cannot be moved from other resource types")],
            ..Default::default()
        })
    }

    async fn read_data_source(&self, request: Request<pb::read_data_source::Request>) -> Result<Response<pb::read_data_source::Response>, Status> {
        let request = request.into_inner();
        let result: Result<Value, Vec<pb::Diagnostic>> = async {
            let source = self.data_sources.get(request.type_name.as_str()).ok_or_else(|| unknown_type(&request.type_name))?;
            let config = decode(request.config.as_ref(), &source.schema().object_type())?;
            let client = self.client().await?;
            source.read(&client, &config).await
        }
        .await;
        ok(match result {
            Ok(state) => pb::read_data_source::Response { state: dynamic(&state), ..Default::default() },
            Err(diagnostics) => pb::read_data_source::Response { diagnostics, ..Default::default() },
        })
    }

    async fn generate_resource_config(
        &self,
        request: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        let request = request.into_inner();
        let result = self.resource(&request.type_name).and_then(|def| {
            let state = decode(request.state.as_ref(), &def.object_type())?;
            let config: BTreeMap<String, Value> = def
                .schema
                .attributes
                .iter()
                .map(|a| {
                    let configurable = a.required || (a.optional && a.default.as_ref() != Some(state.attr(a.name)));
                    (a.name.to_string(), if configurable { state.attr(a.name).clone() } else { Value::Null })
                })
                .collect();
            Ok(Value::Object(config))
        });
        ok(match result {
            Ok(config) => pb::generate_resource_config::Response { config: dynamic(&config), diagnostics: Vec::new() },
            Err(diagnostics) => pb::generate_resource_config::Response { config: None, diagnostics },
        })
    }

    async fn validate_ephemeral_resource_config(
        &self,
        request: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        let request = request.into_inner();
        let diagnostics = match self.ephemeral(&request.type_name) {
            Err(d) => d,
            Ok(ephemeral) => match decode(request.config.as_ref(), &ephemeral.schema().object_type()) {
                Err(d) => d,
                Ok(config) => ephemeral.validate(&config),
            },
        };
        ok(pb::validate_ephemeral_resource_config::Response { diagnostics })
    }

    async fn open_ephemeral_resource(
        &self,
        request: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        ok(match self.open(request.into_inner()).await {
            Ok((result, diagnostics)) => pb::open_ephemeral_resource::Response { result: dynamic(&result), diagnostics, ..Default::default() },
            Err(diagnostics) => pb::open_ephemeral_resource::Response { diagnostics, ..Default::default() },
        })
    }

    /// Keys do not expire, so there is never anything to renew (no `renew_at` is set).
    async fn renew_ephemeral_resource(
        &self,
        request: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        let request = request.into_inner();
        let diagnostics = self.ephemeral(&request.type_name).err().unwrap_or_default();
        ok(pb::renew_ephemeral_resource::Response { diagnostics, renew_at: None, private: request.private })
    }

    /// Nothing is held open: the key was read, and closing forgets it.
    async fn close_ephemeral_resource(
        &self,
        request: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        let diagnostics = self.ephemeral(&request.into_inner().type_name).err().unwrap_or_default();
        ok(pb::close_ephemeral_resource::Response { diagnostics })
    }

    type ListResourceStream = EventStream<pb::list_resource::Event>;

    async fn list_resource(&self, request: Request<pb::list_resource::Request>) -> Result<Response<Self::ListResourceStream>, Status> {
        let events = match self.list_events(request.into_inner()).await {
            Ok(events) => events,
            Err(diagnostic) => vec![pb::list_resource::Event { diagnostic, ..Default::default() }],
        };
        ok(Box::pin(futures::stream::iter(events.into_iter().map(Ok))) as Self::ListResourceStream)
    }

    async fn validate_list_resource_config(
        &self,
        request: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        let request = request.into_inner();
        let diagnostics = match self.resource(&request.type_name).map(|def| def.list.as_ref()) {
            Err(d) => d,
            Ok(None) => unknown_type(&request.type_name),
            Ok(Some(list)) => match decode(request.config.as_ref(), &list.schema.object_type()) {
                Err(d) => d,
                Ok(config) => Self::validate_names(&list.schema, &config),
            },
        };
        ok(pb::validate_list_resource_config::Response { diagnostics })
    }

    async fn get_functions(&self, _: Request<pb::get_functions::Request>) -> Result<Response<pb::get_functions::Response>, Status> {
        ok(pb::get_functions::Response::default())
    }

    async fn call_function(&self, r: Request<pb::call_function::Request>) -> Result<Response<pb::call_function::Response>, Status> {
        let text = format!("this provider has no function {:?}", r.into_inner().name);
        ok(pb::call_function::Response { result: None, error: Some(pb::FunctionError { text, function_argument: None }) })
    }

    async fn validate_state_store_config(
        &self,
        _: Request<pb::validate_state_store::Request>,
    ) -> Result<Response<pb::validate_state_store::Response>, Status> {
        Err(Status::unimplemented("the mcp provider has no state stores"))
    }

    async fn configure_state_store(
        &self,
        _: Request<pb::configure_state_store::Request>,
    ) -> Result<Response<pb::configure_state_store::Response>, Status> {
        Err(Status::unimplemented("the mcp provider has no state stores"))
    }

    type ReadStateBytesStream = EventStream<pb::read_state_bytes::Response>;

    async fn read_state_bytes(&self, _: Request<pb::read_state_bytes::Request>) -> Result<Response<Self::ReadStateBytesStream>, Status> {
        Err(Status::unimplemented("the mcp provider has no state stores"))
    }

    async fn write_state_bytes(
        &self,
        _: Request<Streaming<pb::write_state_bytes::RequestChunk>>,
    ) -> Result<Response<pb::write_state_bytes::Response>, Status> {
        Err(Status::unimplemented("the mcp provider has no state stores"))
    }

    async fn get_states(&self, _: Request<pb::get_states::Request>) -> Result<Response<pb::get_states::Response>, Status> {
        Err(Status::unimplemented("the mcp provider has no state stores"))
    }

    async fn delete_state(&self, _: Request<pb::delete_state::Request>) -> Result<Response<pb::delete_state::Response>, Status> {
        Err(Status::unimplemented("the mcp provider has no state stores"))
    }

    /// Planning an action checks what is known of its configuration; it
    /// changes nothing until it is invoked.
    async fn plan_action(&self, request: Request<pb::plan_action::Request>) -> Result<Response<pb::plan_action::Response>, Status> {
        let request = request.into_inner();
        let diagnostics = match self.action(&request.action_type, request.config.as_ref()) {
            Err(d) => d,
            Ok((action, config)) => action.validate(&config),
        };
        ok(pb::plan_action::Response { diagnostics, deferred: None })
    }

    type InvokeActionStream = EventStream<pb::invoke_action::Event>;

    /// Runs the action, streaming its progress; the last event says how it ended.
    async fn invoke_action(&self, request: Request<pb::invoke_action::Request>) -> Result<Response<Self::InvokeActionStream>, Status> {
        use pb::invoke_action::event::{Completed, Type as Event};
        let request = request.into_inner();
        let prepared = match self.action(&request.action_type, request.config.as_ref()) {
            Ok((action, config)) => {
                let problems = action.validate(&config);
                if problems.is_empty() {
                    self.client().await.map(|client| (action, config, client))
                } else {
                    Err(problems)
                }
            }
            Err(d) => Err(d),
        };
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let diagnostics = match prepared {
                Ok((action, config, client)) => action.invoke(&client, &config, &Progress(sender.clone())).await.err().unwrap_or_default(),
                Err(problems) => problems,
            };
            let completed = pb::invoke_action::Event { r#type: Some(Event::Completed(Completed { diagnostics })) };
            // Terraform stopped listening: nothing is left to tell it.
            let _ = sender.send(completed).await;
        });
        let events = tokio_stream::wrappers::ReceiverStream::new(receiver).map(Ok);
        ok(Box::pin(events) as Self::InvokeActionStream)
    }

    async fn validate_action_config(
        &self,
        request: Request<pb::validate_action_config::Request>,
    ) -> Result<Response<pb::validate_action_config::Response>, Status> {
        let request = request.into_inner();
        let diagnostics = match self.action(&request.type_name, request.config.as_ref()) {
            Err(d) => d,
            Ok((action, config)) => action.validate(&config),
        };
        ok(pb::validate_action_config::Response { diagnostics })
    }

    async fn stop_provider(&self, _: Request<pb::stop_provider::Request>) -> Result<Response<pb::stop_provider::Response>, Status> {
        // Nothing runs in the background that could be stopped early; every
        // request ends with its own HTTP calls.
        ok(pb::stop_provider::Response { error: String::new() })
    }
}
