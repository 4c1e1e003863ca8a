//! CEL over one tool call: an expression compiled once (when the
//! configuration loads) and evaluated per call against what the call says
//! ([`CallFacts`]). A call's variables are built when an expression first
//! reads them, once per call ([`Scope`]). Pure computation; the gateway's
//! policies use it for rule conditions and limit keys.

use cel::common::types::{CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt};
use http::HeaderMap;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// The CEL environment every expression runs in: the standard library.
static CEL: LazyLock<Arc<cel::Env>> = LazyLock::new(|| Arc::new(cel::Env::stdlib()));

/// A compiled CEL program.
pub struct Expression {
    program: cel::Program,
}

/// The variables an expression may read; each is built at most once per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variable {
    Mcp,
    Subscription,
    Product,
    Server,
    Version,
    Client,
    Token,
    Request,
}

impl Variable {
    fn of(name: &str) -> Option<Variable> {
        Some(match name {
            "mcp" => Variable::Mcp,
            "subscription" => Variable::Subscription,
            "product" => Variable::Product,
            "server" => Variable::Server,
            "version" => Variable::Version,
            "client" => Variable::Client,
            "token" => Variable::Token,
            "request" => Variable::Request,
            _ => return None,
        })
    }
}

impl Expression {
    /// `None` for an expression that does not compile (`policy::check_expression` says why).
    pub fn compile(source: &str) -> Option<Expression> {
        Some(Expression { program: CEL.compile(source).ok()? })
    }

    /// The expression's value for the call `scope` holds; `None` when it
    /// fails (a field the call does not have, a type mismatch).
    pub fn evaluate(&self, scope: &Scope<'_>) -> Option<cel::Value> {
        let mut context = cel::Context::with_env(CEL.clone());
        context.set_variable_resolver(scope);
        self.program.execute(&context).ok()
    }
}

/// One call's variables as CEL values, each built on first use and then
/// lent to every expression evaluated for the call (a call covered by ten
/// rules converts its arguments once, not ten times).
pub struct Scope<'a> {
    facts: &'a CallFacts<'a>,
    built: [std::sync::OnceLock<Val<'a>>; VARIABLES],
}

/// How many variables there are (the length of [`Scope`]'s table).
const VARIABLES: usize = 8;

impl<'a> Scope<'a> {
    pub fn new(facts: &'a CallFacts<'a>) -> Scope<'a> {
        Scope { facts, built: Default::default() }
    }
}

impl cel::context::VariableResolver for Scope<'_> {
    fn resolve<'b>(&'b self, name: &str) -> Option<cel::common::value::CowVal<'b, 'b>> {
        let variable = Variable::of(name)?;
        let built = self.built[variable as usize].get_or_init(|| self.facts.variable(variable));
        Some(cel::common::value::CowVal::Borrowed(built.as_ref()))
    }
}

/// Everything a rule's condition, limit key or header template may read
/// about one tool call.
pub struct CallFacts<'a> {
    pub method: &'a str,
    pub tool: &'a str,
    pub arguments: Option<&'a Value>,
    pub subscription: Option<&'a str>,
    pub product: &'a str,
    pub server: &'a str,
    pub version: &'a str,
    pub client: Option<&'a str>,
    pub claims: Option<&'a serde_json::Map<String, Value>>,
    pub headers: &'a HeaderMap,
}

type Val<'a> = Box<dyn cel::common::value::Val + 'a>;

fn string(value: &str) -> Val<'_> {
    Box::new(CelString::from(value))
}

fn map<'a>(entries: impl IntoIterator<Item = (&'a str, Val<'a>)>) -> Val<'a> {
    let entries: HashMap<CelMapKey<'a>, Val<'a>> = entries.into_iter().map(|(k, v)| (CelMapKey::from(k), v)).collect();
    Box::new(CelMap::from(entries))
}

/// JSON as CEL sees it, borrowing its strings: integers as `int` (so
/// `amount > 100` compares like with like), other numbers as `double`.
fn json(value: &Value) -> Val<'_> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            _ => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => string(s),
        Value::Array(items) => Box::new(CelList::from(items.iter().map(json).collect::<Vec<_>>())),
        Value::Object(fields) => map(fields.iter().map(|(k, v)| (k.as_str(), json(v)))),
    }
}

fn named(name: Option<&str>) -> Val<'_> {
    map([("name", name.map_or_else(|| Box::new(CelNull) as Val<'_>, string))])
}

impl<'a> CallFacts<'a> {
    /// One variable, built from the call's facts (borrowing them).
    fn variable(&self, variable: Variable) -> Val<'a> {
        match variable {
            Variable::Mcp => map([
                ("method", string(self.method)),
                ("tool", map([("name", string(self.tool)), ("arguments", self.arguments.map_or_else(|| map([]), json))])),
            ]),
            Variable::Subscription => named(self.subscription),
            Variable::Product => named(Some(self.product)),
            Variable::Server => named(Some(self.server)),
            Variable::Version => named(Some(self.version)),
            Variable::Client => named(self.client),
            Variable::Token => {
                map([("claims", self.claims.map_or_else(|| map([]), |claims| map(claims.iter().map(|(k, v)| (k.as_str(), json(v))))))])
            }
            Variable::Request => {
                let headers = self.headers.iter().filter_map(|(name, value)| Some((name.as_str(), string(value.to_str().ok()?))));
                map([("headers", map(headers))])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn evaluate(source: &str, arguments: &Value, headers: &HeaderMap) -> Option<cel::Value> {
        let facts = CallFacts {
            method: "tools/call",
            tool: "refund",
            arguments: Some(arguments),
            subscription: None,
            product: "payments",
            server: "shop",
            version: "v1",
            client: Some("copilot"),
            claims: None,
            headers,
        };
        let expression = Expression::compile(source).expect("compiles");
        let scope = Scope::new(&facts);
        expression.evaluate(&scope)
    }

    #[test]
    fn conditions_read_arguments_names_and_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", http::HeaderValue::from_static("acme"));
        let big = json!({ "amount": 150, "items": [1, 2] });
        assert_eq!(evaluate("mcp.tool.arguments.amount > 100", &big, &headers), Some(cel::Value::Bool(true)));
        assert_eq!(evaluate("size(mcp.tool.arguments.items) == 2 && client.name == 'copilot'", &big, &headers), Some(cel::Value::Bool(true)));
        assert_eq!(evaluate("request.headers['x-tenant'] == 'acme'", &big, &headers), Some(cel::Value::Bool(true)));
        assert_eq!(evaluate("subscription.name == null", &big, &headers), Some(cel::Value::Bool(true)));
        let none = json!({});
        assert_eq!(evaluate("mcp.tool.arguments.amount > 100", &none, &headers), None, "a missing field fails");
        let guarded = "has(mcp.tool.arguments.amount) && mcp.tool.arguments.amount > 100";
        assert_eq!(evaluate(guarded, &none, &headers), Some(cel::Value::Bool(false)), "has() guards it");
    }
}
