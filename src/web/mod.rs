//! The web UI on the admin listener: the developer portal (`/portal`) for
//! consumers and the console (`/console`) for operators. Server-rendered
//! HTML without script; forms post back and every post carries a CSRF
//! token. It drives the same domain rules as the management API.

mod chart;
mod console;
mod layout;
mod portal;
mod session;

use crate::api::problem::ApiError;
use crate::api::AppState;
use crate::model::{Key, Kind, PortalRole, PortalUserSpec};
use crate::store::ListQuery;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use layout::{Area, Frame};
use maud::Markup;
use session::Sessions;
use std::sync::Arc;

/// What the web handlers share.
#[derive(Clone)]
pub(crate) struct Web {
    app: AppState,
    sessions: Arc<Sessions>,
    /// Where clients reach the gateway (`--public-url`), for connection snippets.
    gateway_url: Arc<str>,
    /// A trace viewer's page for one trace, with `{trace_id}` in it (`--trace-url`).
    trace_url: Option<Arc<str>>,
    /// `--trusted-proxies`: peers whose `X-Forwarded-For` names the client.
    trusted_proxies: Arc<[ipnet::IpNet]>,
}

/// Where the web UI links to.
pub struct WebSettings {
    /// The gateway's public URL (`--public-url`).
    pub gateway_url: String,
    /// `--trace-url`: e.g. `http://jaeger:16686/trace/{trace_id}`.
    pub trace_url: Option<String>,
    /// `--trusted-proxies`: proxies in front of the admin listener, whose
    /// `X-Forwarded-For` names the client (the sign-in limit per address).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// The signed-in user of a request.
pub(crate) struct Viewer {
    name: String,
    display_name: String,
    role: PortalRole,
    session: String,
    csrf: String,
}

impl Viewer {
    fn frame<'a>(&'a self, area: Area, title: &'a str) -> Frame<'a> {
        Frame { area, title, signed_in: Some((&self.display_name, &self.csrf)), operator: self.role == PortalRole::Operator }
    }
}

/// Why a page is not shown, as a page.
#[derive(Debug)]
pub(crate) enum WebError {
    SignIn,
    Forbidden(String),
    NotFound(String),
    Api(ApiError),
}

impl From<ApiError> for WebError {
    fn from(err: ApiError) -> WebError {
        WebError::Api(err)
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(err: crate::store::StoreError) -> WebError {
        WebError::Api(err.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            WebError::SignIn => return Redirect::to("/portal/sign-in").into_response(),
            WebError::Forbidden(message) => (StatusCode::FORBIDDEN, message),
            WebError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            WebError::Api(err) => (err.kind.status(), err.detail),
        };
        let frame = Frame { area: Area::Portal, title: status.canonical_reason().unwrap_or("Error"), signed_in: None, operator: false };
        html_response(status, layout::page(&frame, layout::notice("error", &message)))
    }
}

/// Every page: HTML that may load our stylesheet and nothing else, never
/// framed, never cached.
fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn html(markup: Markup) -> Response {
    html_response(StatusCode::OK, markup)
}

impl Web {
    /// The client behind a connection: its peer, or the address a trusted
    /// proxy in front says it forwards for (the last entry it appended).
    fn client_address(&self, peer: std::net::IpAddr, headers: &HeaderMap) -> std::net::IpAddr {
        if !self.trusted_proxies.iter().any(|net| net.contains(&peer)) {
            return peer;
        }
        let forwarded_for = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
        forwarded_for.rev().find_map(|entry| entry.trim().parse().ok()).unwrap_or(peer)
    }

    /// The signed-in user, from the session cookie, re-checked against the
    /// store (a deleted user or a changed password ends the session).
    async fn viewer(&self, headers: &HeaderMap) -> Result<Viewer, WebError> {
        let token = session::cookie(headers, session::SESSION_COOKIE).ok_or(WebError::SignIn)?;
        let claims = self.sessions.verify(token, chrono::Utc::now().timestamp_millis()).ok_or(WebError::SignIn)?;
        let user = self.user(&claims.user).await?.ok_or(WebError::SignIn)?;
        let hash = user.password_hash.as_deref().unwrap_or_default();
        if session::password_fingerprint(hash) != claims.password_fingerprint || user.session_revoked(claims.issued_ms) {
            return Err(WebError::SignIn);
        }
        Ok(Viewer {
            display_name: user.display_name.unwrap_or_else(|| claims.user.clone()),
            name: claims.user,
            role: user.role,
            csrf: self.sessions.csrf_token(token),
            session: token.to_string(),
        })
    }

    async fn operator(&self, headers: &HeaderMap) -> Result<Viewer, WebError> {
        let viewer = self.viewer(headers).await?;
        if viewer.role != PortalRole::Operator {
            return Err(WebError::Forbidden("the console is for operators; ask one to make you an operator".into()));
        }
        Ok(viewer)
    }

    async fn user(&self, name: &str) -> Result<Option<PortalUserSpec>, WebError> {
        if crate::model::rules::name(name).is_err() {
            return Ok(None);
        }
        let Some(record) = self.app.store.get(&Key::top(Kind::PortalUser, name)).await? else { return Ok(None) };
        Ok(Some(decode(&record)?))
    }

    /// Every resource of `kind` under `parent` (the versions of a server,
    /// the servers of a product), by name, read page by page.
    async fn children<T: serde::de::DeserializeOwned>(&self, kind: Kind, parent: &str) -> Result<Vec<(String, T)>, WebError> {
        let page_size = crate::api::resource::MAX_PAGE_SIZE;
        let mut children = Vec::new();
        let mut after = None;
        loop {
            let query = ListQuery { kind, parent: parent.to_string(), after, limit: page_size, product: None };
            let page = self.app.store.list(&query).await?;
            after = page.last().map(|r| r.key.name.clone());
            let full = page.len() == page_size as usize;
            for record in page {
                children.push((record.key.name.clone(), decode(&record)?));
            }
            if !full {
                return Ok(children);
            }
        }
    }

    /// Who posted a form: a signed-in user (an operator when `operator`),
    /// from our own origin, with the session's CSRF token.
    async fn poster(&self, headers: &HeaderMap, csrf: &str, operator: bool) -> Result<Viewer, WebError> {
        let viewer = if operator { self.operator(headers).await? } else { self.viewer(headers).await? };
        if !session::same_origin(headers) || !self.sessions.csrf_matches(&viewer.session, csrf) {
            return Err(WebError::Forbidden("the form is stale or came from another site; reload the page and try again".into()));
        }
        Ok(viewer)
    }
}

fn decode<T: serde::de::DeserializeOwned>(record: &crate::store::Record) -> Result<T, WebError> {
    Ok(serde_json::from_value(record.body.clone()).map_err(ApiError::internal)?)
}

async fn stylesheet() -> Response {
    let mut response = include_str!("../../assets/mcpgate.css").into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

async fn home(State(web): State<Web>, headers: HeaderMap) -> Response {
    match web.viewer(&headers).await {
        Ok(viewer) if viewer.role == PortalRole::Operator => Redirect::to("/console").into_response(),
        Ok(_) => Redirect::to("/portal").into_response(),
        Err(_) => Redirect::to("/portal/sign-in").into_response(),
    }
}

/// Largest sign-in form: a name and a password fit many times over; a
/// client without credentials cannot make the process buffer more.
const SIGN_IN_FORM_BYTES: usize = 16 * 1024;

/// The portal's and the console's routes, for the admin listener.
pub fn router(app: AppState, settings: WebSettings) -> Router {
    let web = Web {
        sessions: Arc::new(Sessions::new(&app.store.secret_key())),
        app,
        gateway_url: Arc::from(settings.gateway_url.trim_end_matches('/')),
        trace_url: settings.trace_url.map(Arc::from),
        trusted_proxies: settings.trusted_proxies.into(),
    };
    Router::new()
        .route("/", get(home))
        .route("/assets/mcpgate.css", get(stylesheet))
        .route("/portal/sign-in", get(portal::sign_in_page).post(portal::sign_in).layer(DefaultBodyLimit::max(SIGN_IN_FORM_BYTES)))
        .route("/portal/sign-out", post(portal::sign_out))
        .route("/portal", get(portal::products))
        .route("/portal/products/{product}", get(portal::product))
        .route("/portal/products/{product}/subscribe", post(portal::subscribe))
        .route("/portal/subscriptions", get(portal::subscriptions))
        .route("/portal/subscriptions/{subscription}/key", post(portal::new_key))
        .route("/portal/usage", get(portal::usage))
        .route("/console", get(console::overview))
        .route("/console/servers/{server}", get(console::server))
        .route("/console/calls", get(console::calls))
        .route("/console/subscriptions/{subscription}/decide", post(console::decide))
        .with_state(web)
}
