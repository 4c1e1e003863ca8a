//! Warnings a refresh raises about where things stand in their lifecycle:
//! a version that is deprecated or past its sunset, a product that still
//! reaches a retired version, tools whose live definitions drifted from the
//! approved manifest. They show in `terraform plan` without changing it.

use super::client::ApiClient;
use super::diagnostics;
use super::dynamic::Value;
use super::proto::tfplugin6 as pb;
use futures::future::BoxFuture;
use std::collections::BTreeMap;

/// A check run on the state a read returned.
pub type ReadCheck = for<'a> fn(&'a ApiClient, &'a Value) -> BoxFuture<'a, Vec<pb::Diagnostic>>;

fn sunset_of(state: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    state.attr("sunset_at").as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
}

/// A deprecated version, or one past its sunset date, as the state says.
pub fn version_status(state: &Value) -> Option<pb::Diagnostic> {
    let (server, name) = (state.attr("server").as_str()?, state.attr("name").as_str()?);
    let status = state.attr("status").as_str().unwrap_or_default();
    let sunset = sunset_of(state);
    let past = sunset.is_some_and(|at| at <= chrono::Utc::now());
    let when = match (sunset, state.attr("sunset_at").as_str()) {
        (Some(_), Some(written)) => format!("its sunset date is {written}"),
        _ => "no sunset date is set".to_string(),
    };
    match status {
        "retired" => None,
        _ if past => Some(diagnostics::warning(
            format!("Version {server}/{name} is past its sunset date"),
            format!("{server}/{name} is {status} and {when}; clients were told it would be gone. Retire it (status = \"retired\") or move the sunset date."),
        )),
        "deprecated" => Some(diagnostics::warning(
            format!("Version {server}/{name} is deprecated"),
            format!("{server}/{name} is deprecated and {when}. Clients still calling it get `Deprecation` and `Sunset` headers; move them to an active version."),
        )),
        _ => None,
    }
}

/// `mcp_server_version`: its lifecycle, and drift of its approved tools.
pub fn check_version<'a>(client: &'a ApiClient, state: &'a Value) -> BoxFuture<'a, Vec<pb::Diagnostic>> {
    Box::pin(async move {
        let mut found: Vec<pb::Diagnostic> = version_status(state).into_iter().collect();
        found.extend(tool_drift(client, state).await);
        found
    })
}

/// Compares the live manifest with `approved_tools`, when it is set.
async fn tool_drift(client: &ApiClient, state: &Value) -> Vec<pb::Diagnostic> {
    let Value::Map(approved) = state.attr("approved_tools") else { return Vec::new() };
    let (Some(server), Some(name)) = (state.attr("server").as_str(), state.attr("name").as_str()) else { return Vec::new() };
    if state.attr("status").as_str() == Some("retired") {
        return Vec::new();
    }
    let live = match client.get(&format!("servers/{server}/versions/{name}/tools")).await {
        Ok(reply) => reply.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|tool| Some((tool["name"].as_str()?.to_string(), tool["hash"].as_str()?.to_string())))
            .collect::<BTreeMap<_, _>>(),
        Err(err) => {
            return vec![diagnostics::warning(
                format!("Cannot check the approved tools of {server}/{name}"),
                format!("the live tool manifest could not be read: {err}. The gateway keeps refusing tools it cannot match to approved_tools."),
            )]
        }
    };
    let mut drift = Vec::new();
    for (tool, hash) in &live {
        match approved.get(tool).and_then(Value::as_str) {
            Some(approved_hash) if approved_hash == hash => {}
            Some(approved_hash) => drift.push(format!("- {tool}: definition changed (approved {}, now {})", short(approved_hash), short(hash))),
            None => drift.push(format!("- {tool}: offered but not approved (hash {})", short(hash))),
        }
    }
    for tool in approved.keys().filter(|tool| !live.contains_key(*tool)) {
        drift.push(format!("- {tool}: approved but no longer offered"));
    }
    if drift.is_empty() {
        return Vec::new();
    }
    let detail = format!(
        "The MCP server behind {server}/{name} no longer offers the approved tool definitions:\n{}\nThe gateway hides these tools from clients and refuses their calls. Review them (data source mcp_server_tools shows the live definitions and hashes) and update approved_tools to approve them.",
        drift.join("\n")
    );
    vec![with_attribute(diagnostics::warning(format!("Tool definitions of {server}/{name} drifted from approved_tools"), detail), "approved_tools")]
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn with_attribute(diagnostic: pb::Diagnostic, attribute: &str) -> pb::Diagnostic {
    pb::Diagnostic { attribute: Some(diagnostics::attribute_path(attribute, &[])), ..diagnostic }
}

/// `mcp_product_server` at plan: tools of the live manifests the
/// association reaches that the product's endpoint would leave out, for
/// names clients reject once prefixed (fixed with `tool_aliases`).
pub fn check_exposed_names<'a>(client: &'a ApiClient, planned: &'a Value) -> BoxFuture<'a, Vec<pb::Diagnostic>> {
    Box::pin(async move {
        let (Some(product), Some(server)) = (planned.attr("product").as_str(), planned.attr("server").as_str()) else { return Vec::new() };
        let prefix = match planned.attr("tool_prefix") {
            Value::String(prefix) => prefix.clone(),
            Value::Null => server.to_string(),
            _ => return Vec::new(),
        };
        let aliases = match planned.attr("tool_aliases") {
            Value::Map(items) => items.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect(),
            Value::Null => Default::default(),
            _ => return Vec::new(),
        };
        let naming = crate::model::federation::Naming { prefix, aliases };
        let allow_list = match planned.attr("tools") {
            Value::Set(items) | Value::List(items) => Some(items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>()),
            _ => None,
        };
        let filter = crate::model::ToolFilter::new(allow_list.as_deref());
        let mut found = Vec::new();
        for version in reached_versions(client, server, planned.attr("versions")).await {
            let Ok(reply) = client.get(&format!("servers/{server}/versions/{version}/tools")).await else { continue };
            let left_out: Vec<String> = reply.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|tool| tool["name"].as_str())
                .filter(|name| filter.allows(name))
                .filter_map(|name| match naming.expose(name) {
                    crate::model::federation::Exposed::Rejected(exposed) => Some(format!("{name} (as {exposed})")),
                    crate::model::federation::Exposed::Name(_) => None,
                })
                .collect();
            if !left_out.is_empty() {
                let warning = diagnostics::warning(
                    format!("Tools of {server}/{version} left out of product {product}'s endpoint"),
                    format!(
                        "/products/{product}/mcp leaves out {}: MCP clients accept names of 1-64 letters, digits, '_' and '-'. Rename them with tool_aliases (or a shorter tool_prefix).",
                        left_out.join(", ")
                    ),
                );
                found.push(with_attribute(warning, "tool_aliases"));
            }
        }
        found
    })
}

/// The versions of `server` an association reaches: those it names, else the active ones.
async fn reached_versions(client: &ApiClient, server: &str, named: &Value) -> Vec<String> {
    if let Value::Set(named) | Value::List(named) = named {
        return named.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    }
    let Ok(reply) = client.get(&format!("servers/{server}/versions")).await else { return Vec::new() };
    reply.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|version| version["status"] == "active")
        .filter_map(|version| version["name"].as_str().map(str::to_string))
        .collect()
}

/// `mcp_product_server`: the versions it names that are retired or deprecated.
pub fn check_product_server<'a>(client: &'a ApiClient, state: &'a Value) -> BoxFuture<'a, Vec<pb::Diagnostic>> {
    Box::pin(async move {
        let (Some(product), Some(server)) = (state.attr("product").as_str(), state.attr("server").as_str()) else { return Vec::new() };
        let (Value::Set(named) | Value::List(named)) = state.attr("versions") else { return Vec::new() };
        let mut found = Vec::new();
        for version in named.iter().filter_map(Value::as_str) {
            let Ok(Some(reply)) = client.get_optional(&format!("servers/{server}/versions/{version}")).await else { continue };
            let status = reply.body["status"].as_str().unwrap_or_default();
            let sunset = reply.body["sunset_at"].as_str().map_or_else(|| "no sunset date".to_string(), |s| format!("sunset {s}"));
            let warning = match status {
                "retired" => diagnostics::warning(
                    format!("Product {product} reaches retired version {server}/{version}"),
                    format!("{server}/{version} is retired ({sunset}): the gateway no longer routes to it. Remove it from versions of {product}/{server}."),
                ),
                "deprecated" => diagnostics::warning(
                    format!("Product {product} reaches deprecated version {server}/{version}"),
                    format!("{server}/{version} is deprecated ({sunset}). Move {product} to an active version before the sunset."),
                ),
                _ => continue,
            };
            found.push(with_attribute(warning, "versions"));
        }
        found
    })
}
