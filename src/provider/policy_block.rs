//! The `policy` block `mcp_product` and `mcp_product_server` share: one
//! ordered rule per block, with exactly one action block (the API's
//! `policies`, one object per rule).

use super::dynamic::Type;
use super::schema::Attribute;

fn limit(name: &'static str, description: &'static str) -> Attribute {
    Attribute::block_single(
        name,
        vec![
            Attribute::required("calls", Type::Number, "Calls allowed per period."),
            Attribute::required("period_seconds", Type::Number, "Length of the period in seconds."),
            Attribute::optional(
                "key",
                Type::String,
                "Whose calls share a count: `subscription` (default), `client` (one MCP client of the subscription), or a CEL expression naming the bucket, e.g. `token.claims.sub`.",
            ),
        ],
        description,
    )
}

/// The `policy` blocks, in order.
pub fn attribute() -> Attribute {
    Attribute::block_list(
        "policy",
        "policies",
        vec![
            Attribute::required("name", Type::String, "Names the rule in refusals, metrics and the call log (a slug, unique among the rules)."),
            Attribute::optional("tools", Type::List(Box::new(Type::String)), "The tools the rule covers, as globs (`refund*`); unset: every tool."),
            Attribute::optional(
                "when",
                Type::String,
                "A CEL expression; the rule applies only to calls for which it is true, e.g. `mcp.tool.arguments.amount > 100`. Variables: `mcp.method`, `mcp.tool.name`, `mcp.tool.arguments`, `subscription.name`, `product.name`, `server.name`, `version.name`, `client.name`, `token.claims`, `request.headers`.",
            ),
            Attribute::block_single("deny", vec![Attribute::required("message", Type::String, "What the client is told.")], "Refuse the call (JSON-RPC -32602, `data.reason` `policy_denied`)."),
            limit("rate_limit", "A sliding-window limit on the calls the rule covers (HTTP 429, `data.reason` `rate_limited`)."),
            limit("quota", "A fixed-window quota on the calls the rule covers (HTTP 429, `data.reason` `rate_limited`)."),
            Attribute::block_single(
                "validate_arguments",
                Vec::new(),
                "Check the arguments against the tool's `inputSchema` before the upstream sees them (`data.reason` `invalid_arguments`, with the path).",
            ),
            Attribute::optional(
                "set_headers",
                Type::Map(Box::new(Type::String)),
                "Headers set on the upstream request, by name; values are templates naming `{subscription}`, `{product}`, `{server}`, `{version}`, `{tool}`, `{client}` or `{token.claims.NAME}`.",
            ),
            Attribute::block_single(
                "redact",
                vec![
                    Attribute::required("pattern", Type::String, "A regular expression; each match becomes `[REDACTED]`."),
                    Attribute::required("in", Type::String, "`arguments` (what the upstream receives), `result` (what the client receives) or `log` (only what is recorded)."),
                ],
                "Replace what a pattern matches in the string values of the arguments, the result, or the log.",
            ),
            Attribute::block_single("timeout", vec![Attribute::required("ms", Type::Number, "Milliseconds.")], "How long the upstream may take for the calls the rule covers."),
            Attribute::block_single(
                "log_payload",
                vec![Attribute::required("enabled", Type::Bool, "Whether arguments and results are recorded.")],
                "Record (or not) the covered calls' arguments and results, whatever the version says.",
            ),
            Attribute::block_single("cost", vec![Attribute::required("per_call", Type::Number, "The price of one call.")], "What each covered call costs, instead of the version's `tool_costs`."),
        ],
        "A rule per tool, applied in order: which tools (`tools`), when (`when`, CEL), and exactly one action block. See docs/policies.md.",
    )
}
