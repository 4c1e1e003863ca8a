//! The developer portal and the console in a real browser (headless
//! Chromium over WebDriver): a consumer subscribes, an operator approves, the
//! consumer gets the key once, calls tools through the gateway with a real
//! MCP client and sees the calls in their usage. Screenshots of each page go
//! to docs/screenshots/ (the README shows them). Then the security cases:
//! CSRF, cookies, escaping of upstream text, the sign-in rate limit.

mod support;

use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Method, StatusCode};
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::time::Duration;
use support::browser::Browser;
use support::terraform::Mcpgate;
use support::tool_upstream::ToolUpstream;

const PASSWORD: &str = "a long portal password";
/// A tool description an upstream could send to attack the portal.
const HOSTILE: &str = "<script>document.title='pwned'</script><img src=x onerror=alert(1)> Reads the forecast";

/// A server with two active versions (so adoption has two lines), a
/// published product that needs approval and allows two of three tools,
/// a consumer and an operator.
fn environment(mcpgate: &Mcpgate, upstream: &ToolUpstream) {
    let put = |path: &str, body: serde_json::Value| {
        let (status, reply) = mcpgate.send(Method::PUT, path, Some(&body));
        assert!(status.is_success(), "PUT {path}: {status} {reply}");
    };
    put("servers/weather", json!({ "display_name": "Weather" }));
    put("servers/weather/versions/v1", json!({ "backend_url": upstream.url, "traffic_weight": 50 }));
    put("servers/weather/versions/v2", json!({ "backend_url": upstream.url, "traffic_weight": 50, "payload_logging": true }));
    put(
        "products/forecasts",
        json!({ "display_name": "Forecasts", "description": "Weather tools for agents", "state": "published",
                "approval_required": true, "quota": { "calls": 1000, "period_seconds": 3600 }, "terms": "Be kind to the API." }),
    );
    put(
        "products/forecasts/servers/weather",
        json!({ "tools": ["forecast", "radar"], "policies": [{ "name": "radar-limit", "tools": ["radar"], "rate_limit": { "calls": 5, "period_seconds": 60 } }] }),
    );
    put("portal-users/ada", json!({ "display_name": "Ada Lovelace", "password": PASSWORD }));
    put("portal-users/grace", json!({ "display_name": "Grace Hopper", "role": "operator", "password": PASSWORD }));
}

async fn sign_in(browser: &Browser, admin: &str, user: &str) {
    browser.goto(&format!("{admin}/portal/sign-in")).await;
    browser.fill("#name", user).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#sign-in").await;
}

async fn sign_out(browser: &Browser) {
    browser.click("form.sign-out button").await;
}

#[test]
fn a_consumer_subscribes_an_operator_approves_and_the_consumer_sees_the_key_once_and_their_usage() {
    if !support::available(&[support::Need::Chromium]) {
        return;
    }
    let upstream = ToolUpstream::start(&[("forecast", "Tomorrow's weather for a city"), ("radar", HOSTILE), ("admin-reset", "Not for consumers")]);
    let mcpgate = Mcpgate::start();
    environment(&mcpgate, &upstream);
    let (admin, gateway) = (mcpgate.admin_url.clone(), mcpgate.gateway_url.clone());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let browser = Browser::start().await;

        // The consumer browses the published products and their tools.
        sign_in(&browser, &admin, "ada").await;
        assert_eq!(browser.path().await, "/portal", "a consumer lands on the products");
        assert!(browser.text(".card.product").await.contains("Forecasts"));
        browser.screenshot("portal-products").await;
        browser.click(".card.product").await;
        assert_eq!(browser.path().await, "/portal/products/forecasts");
        let tools = browser.text("ul.tools").await;
        assert!(tools.contains("forecast") && tools.contains("radar"), "{tools}");
        assert!(!tools.contains("admin-reset"), "a tool the product does not allow is not listed: {tools}");
        assert!(tools.contains("weather__forecast"), "the product endpoint comes first, with its names: {tools}");
        assert!(browser.text(".product-endpoint").await.contains(&format!("{gateway}/products/forecasts/mcp")));
        assert!(tools.contains("<script>document.title='pwned'</script>"), "the hostile description shows as text: {tools}");
        assert_eq!(browser.client.title().await.expect("title"), "Forecasts · mcpgate", "no script from the description ran");
        assert_eq!(browser.count("main script, main img").await, 0, "no element came out of the description");
        assert!(browser.text(".versions").await.contains("v1 active"));
        browser.screenshot("portal-product").await;

        // It needs approval: the request waits.
        browser.click("#subscribe").await;
        assert!(browser.text(".notice").await.contains("An operator approves it"));
        browser.goto(&format!("{admin}/portal/subscriptions")).await;
        assert!(browser.text("table.subscriptions").await.contains("submitted"));
        sign_out(&browser).await;

        // The operator approves it in the console.
        sign_in(&browser, &admin, "grace").await;
        assert_eq!(browser.path().await, "/console", "an operator lands on the console");
        assert_eq!(browser.count("#approvals tr[id^=pending-]").await, 1);
        browser.screenshot("console-approvals").await;
        browser.click("#approvals button.approve").await;
        assert_eq!(browser.count("#approvals tr[id^=pending-]").await, 0, "nothing waits any more");
        sign_out(&browser).await;

        // The consumer gets a key: shown once, never again.
        sign_in(&browser, &admin, "ada").await;
        browser.goto(&format!("{admin}/portal/subscriptions")).await;
        assert!(browser.text("table.subscriptions").await.contains("active"));
        browser.click("button.new-key").await;
        let key = browser.text("#subscription-key").await;
        assert!(key.starts_with("mcpk_"), "{key}");
        let source = browser.source().await;
        assert!(source.contains(&format!("X-Subscription-Key: {key}")), "snippets carry the key");
        assert!(
            source.contains(&format!("claude mcp add --transport http forecasts {gateway}/products/forecasts/mcp")),
            "the product endpoint first"
        );
        browser.screenshot("portal-key").await;
        browser.goto(&format!("{admin}/portal/subscriptions")).await;
        assert!(!browser.source().await.contains(&key), "the key is not rendered a second time");

        // Real MCP calls through the gateway with that key.
        let federated = support::rmcp_client(&format!("{gateway}/products/forecasts/mcp"), &key).await;
        let mut names: Vec<String> = federated.list_all_tools().await.expect("tools/list").into_iter().map(|t| t.name.to_string()).collect();
        names.sort();
        assert_eq!(names, ["weather__forecast", "weather__radar"], "the product endpoint the portal shows");
        federated.cancel().await.expect("rmcp closes");
        let client = support::rmcp_client(&format!("{gateway}/mcp/weather"), &key).await;
        let mut listed: Vec<String> = client.list_all_tools().await.expect("tools/list").into_iter().map(|t| t.name.to_string()).collect();
        listed.sort();
        assert_eq!(listed, ["forecast", "radar"]);
        for city in ["Paris", "Lagos", "Lima", "Oslo", "Pune", "Perth"] {
            let arguments = json!({ "message": city }).as_object().cloned();
            client.call_tool(CallToolRequestParams::new("forecast").with_arguments(arguments.unwrap_or_default())).await.expect("forecast");
        }
        client.call_tool(CallToolRequestParams::new("radar").with_arguments(Default::default())).await.expect("radar");
        client.cancel().await.expect("session closed");

        // ... which the consumer's usage page shows (the call log is written behind).
        let mut usage = String::new();
        for _ in 0..50 {
            browser.goto(&format!("{admin}/portal/usage")).await;
            usage = browser.text("main").await;
            // Both calls' rows: the last may land in a later batch.
            if usage.contains("forecast 6") && usage.contains("radar 1") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(usage.contains("forecast 6"), "six forecast calls in the usage table: {usage}");
        assert!(usage.contains("radar 1"), "{usage}");
        assert_eq!(browser.count("svg.chart polyline").await, 2, "one line per tool");
        browser.screenshot("portal-usage").await;
        sign_out(&browser).await;

        // The operator sees adoption per version, the quota in use and the call log.
        sign_in(&browser, &admin, "grace").await;
        let subscriptions = browser.text("#subscriptions").await;
        assert!(subscriptions.contains(" / 1000"), "the quota in use in this window shows: {subscriptions}");
        let endpoints = browser.text("#endpoints").await;
        assert!(endpoints.contains("/mcp/weather 7"), "tool calls per endpoint: {endpoints}");
        browser.screenshot("console-overview").await;
        browser.goto(&format!("{admin}/console/servers/weather")).await;
        let versions = browser.text("#versions").await;
        assert!(versions.contains("v1") && versions.contains("v2"), "{versions}");
        assert!(browser.count("#adoption svg.chart polyline").await >= 1, "adoption over time is drawn");
        browser.screenshot("console-server").await;
        browser.goto(&format!("{admin}/console/calls?tool=forecast")).await;
        assert_eq!(browser.count("table.calls tbody tr").await, 6, "the filter keeps the forecast calls");
        assert_eq!(browser.count("table.calls code.trace").await, 6, "each call links to its trace id");
        browser.screenshot("console-calls").await;
        browser.close().await;
    });
}

/// A browser-less session: the sign-in form's cookie, then the session cookie.
struct Session {
    http: reqwest::Client,
    admin: String,
    cookie: String,
    set_cookie: String,
}

fn cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
}

fn form_token(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap_or_default().to_string()
}

async fn attempt_sign_in(http: &reqwest::Client, admin: &str, user: &str, password: &str) -> reqwest::Response {
    let page = http.get(format!("{admin}/portal/sign-in")).send().await.expect("sign-in page");
    let cookie = cookies(&page).into_iter().next().expect("the form's cookie");
    let token = form_token(&page.text().await.expect("html"));
    let pair = cookie.split(';').next().unwrap_or_default().to_string();
    http.post(format!("{admin}/portal/sign-in"))
        .header(COOKIE, pair)
        .header("x-forwarded-proto", "https")
        .form(&[("name", user), ("password", password), ("csrf", &token)])
        .send()
        .await
        .expect("sign in")
}

impl Session {
    async fn start(admin: &str, user: &str) -> Session {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let response = attempt_sign_in(&http, admin, user, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "signed in");
        let set_cookie = cookies(&response).into_iter().find(|c| c.starts_with("mcpgate_session=")).expect("a session cookie");
        let cookie = set_cookie.split(';').next().unwrap_or_default().to_string();
        Session { http, admin: admin.to_string(), cookie, set_cookie }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.http.get(format!("{}{path}", self.admin)).header(COOKIE, &self.cookie).send().await.expect("GET");
        (response.status(), response.text().await.unwrap_or_default())
    }

    async fn post(&self, path: &str, csrf: &str, origin: Option<&str>) -> StatusCode {
        let mut request = self.http.post(format!("{}{path}", self.admin)).header(COOKIE, &self.cookie).form(&[("csrf", csrf)]);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        request.send().await.expect("POST").status()
    }
}

#[test]
fn forms_need_the_sessions_csrf_token_cookies_are_strict_upstream_text_is_escaped_and_sign_in_is_rate_limited() {
    let upstream = ToolUpstream::start(&[("forecast", "Tomorrow's weather"), ("radar", HOSTILE)]);
    let mcpgate = Mcpgate::start();
    environment(&mcpgate, &upstream);
    let admin = mcpgate.admin_url.clone();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    let (ada, token) = runtime.block_on(async {
        let ada = Session::start(&admin, "ada").await;
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(ada.set_cookie.contains(attribute), "the session cookie has {attribute}: {}", ada.set_cookie);
        }

        // Upstream text is escaped; pages forbid inline script anyway.
        let (status, html) = ada.get("/portal/products/forecasts").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"), "{html}");
        assert!(!html.contains("<script") && !html.contains("<img"), "nothing from the upstream became markup");
        assert!(html.contains("Rate limit for <code>radar</code>: 5 calls per 60 s (radar-limit)"), "per-tool limits are shown: {html}");

        // Subscribing without the session's token, with another session's, or from another site: refused.
        let token = form_token(&html);
        let grace = Session::start(&admin, "grace").await;
        let (_, console) = grace.get("/console").await;
        assert!(console.contains("Policy refusals since start"), "the console has a place for refusals per rule");
        let graces_token = form_token(&console);
        assert_eq!(ada.post("/portal/products/forecasts/subscribe", "", None).await, StatusCode::FORBIDDEN);
        assert_eq!(ada.post("/portal/products/forecasts/subscribe", &graces_token, None).await, StatusCode::FORBIDDEN);
        assert_eq!(ada.post("/portal/products/forecasts/subscribe", &token, Some("http://evil.example")).await, StatusCode::FORBIDDEN);
        (ada, token)
    });
    assert!(mcpgate.names("subscriptions").is_empty(), "no refused post created anything");

    runtime.block_on(async {
        assert_eq!(ada.post("/portal/products/forecasts/subscribe", &token, Some(&admin)).await, StatusCode::OK, "the real form works");

        // A consumer is no operator.
        assert_eq!(ada.get("/console").await.0, StatusCode::FORBIDDEN);
        assert_eq!(ada.post("/console/subscriptions/x/decide", &token, None).await, StatusCode::FORBIDDEN);

        // Five wrong passwords lock the name for a while, even against the right one.
        let grace = Session::start(&admin, "grace").await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        for _ in 0..5 {
            assert_eq!(attempt_sign_in(&http, &admin, "grace", "not the password").await.status(), StatusCode::UNAUTHORIZED);
        }
        let locked = attempt_sign_in(&http, &admin, "grace", PASSWORD).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(locked.headers().contains_key("retry-after"));
        assert_eq!(grace.get("/console").await.0, StatusCode::OK, "sessions already open go on");

        // Signing out ends the session on the server: the old cookie no longer works.
        let (_, console) = grace.get("/console").await;
        assert_eq!(grace.post("/portal/sign-out", &form_token(&console), Some(&admin)).await, StatusCode::SEE_OTHER);
        assert_eq!(grace.get("/console").await.0, StatusCode::SEE_OTHER, "a signed-out cookie is sent back to sign in");
    });
    assert_eq!(mcpgate.names("subscriptions").len(), 1);

    // A new password ends the sessions issued for the old one.
    let (status, reply) = mcpgate.send(Method::PUT, "portal-users/ada", Some(&json!({ "password": "a brand new password" })));
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply.get("password").is_none() && reply.get("password_hash").is_none(), "never returned: {reply}");
    runtime.block_on(async {
        assert_eq!(ada.get("/portal").await.0, StatusCode::SEE_OTHER, "back to the sign-in page");
    });
}
