//! The page frame and the small pieces every page shares. maud escapes
//! every value it interpolates: tool names and descriptions come from
//! upstream servers and are untrusted.

use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

/// Which of the two UIs a page belongs to (its navigation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Area {
    Portal,
    Console,
}

/// Who the page is for, as the frame shows it.
pub(crate) struct Frame<'a> {
    pub area: Area,
    pub title: &'a str,
    /// Display name and the CSRF token of the sign-out form.
    pub signed_in: Option<(&'a str, &'a str)>,
    pub operator: bool,
}

pub(crate) fn page(frame: &Frame, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " · mcpgate" }
                link rel="stylesheet" href="/assets/mcpgate.css";
            }
            body {
                header.top {
                    a.brand href=(if frame.area == Area::Console { "/console" } else { "/portal" }) {
                        "mcpgate " span.area { (if frame.area == Area::Console { "console" } else { "developer portal" }) }
                    }
                    @if let Some((name, csrf)) = frame.signed_in {
                        nav {
                            a href="/portal" { "Products" }
                            a href="/portal/subscriptions" { "My subscriptions" }
                            a href="/portal/usage" { "My usage" }
                            @if frame.operator {
                                a href="/console" { "Console" }
                                a href="/console/calls" { "Call log" }
                            }
                        }
                        form.sign-out method="post" action="/portal/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            span.who { (name) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { h1 { (frame.title) } (body) }
            }
        }
    }
}

pub(crate) fn badge(text: &str) -> Markup {
    html! { span class={ "badge badge-" (text.replace(' ', "-")) } { (text) } }
}

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub(crate) fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else {
        format!("{value:.1} ms")
    }
}

/// A message in a box: what happened, or why not.
pub(crate) fn notice(kind: &str, message: &str) -> Markup {
    html! { p class={ "notice notice-" (kind) } role="status" { (message) } }
}

/// The block that shows a key, once.
pub(crate) fn key_once(key: &str, snippets: Markup) -> Markup {
    html! {
        section.key-once {
            h2 { "Your subscription key" }
            p { "Copy it now: it is shown this once. mcpgate keeps only a hash for checking calls; if you lose it, get a new one." }
            pre.key id="subscription-key" { (key) }
            (snippets)
        }
    }
}

/// How common MCP clients connect to a server with a key.
pub(crate) fn snippets(endpoint: &str, server: &str, key: &str) -> Markup {
    let vscode = serde_json::json!({ "servers": { server: { "type": "http", "url": endpoint, "headers": { "X-Subscription-Key": key } } } });
    let vscode = serde_json::to_string_pretty(&vscode).unwrap_or_default();
    html! {
        div.snippets {
            h3 { "Connect to " code { (server) } }
            p { "Streamable HTTP endpoint " code { (endpoint) } " with the header " code { "X-Subscription-Key" } "." }
            h4 { "Claude Code" }
            pre { "claude mcp add --transport http " (server) " " (endpoint) " --header \"X-Subscription-Key: " (key) "\"" }
            h4 { "VS Code (.vscode/mcp.json)" }
            pre { (vscode) }
            h4 { "curl" }
            pre {
                "curl -s " (endpoint) " -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\\n  -H 'X-Subscription-Key: " (key) "' \\\n  -d '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}'"
            }
        }
    }
}
