//! The web cabinet of OpenSMEV: operators of information systems work with the bus in a browser.
//!
//! Server-rendered HTML (askama templates, auto-escaped) with a small embedded script (no
//! framework, nothing loaded from the network): login with the accounts of the integration API
//! ([`session`]), the journal of one's messages with filters ([`pages::messages`]), a message's
//! page with its timeline, its content as a readable document, the raw XML and the signature
//! checks, requests and answers made with forms generated at run time from the kinds' XSDs
//! ([`opensmev_forms`]), the provider's inbox. Like the API, it decides no rule of the bus: every
//! page calls the service functions of `opensmev-core` (sends through `send_request_as` /
//! `send_response_as`, reads through `search_messages_as` / `message_as`).

// Page helpers return the error page itself as `Err(Response)`, the axum idiom.
#![allow(clippy::result_large_err)]

pub mod i18n;
pub mod pages;
pub mod render;
pub mod session;

mod cache;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, header};
use opensmev_core::Bus;

pub use cache::FormCache;

/// The cabinet's settings.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// Mark cookies `Secure` (the server speaks HTTPS, or stands behind an HTTPS proxy).
    pub secure_cookies: bool,
}

/// What every page handler shares.
#[derive(Clone, Debug)]
pub struct WebState {
    /// The bus.
    pub bus: Arc<Bus>,
    /// The settings.
    pub settings: Arc<WebSettings>,
    /// Compiled form models per kind of information.
    pub forms: Arc<FormCache>,
}

impl WebState {
    /// The cabinet over `bus`.
    pub fn new(bus: Arc<Bus>, settings: WebSettings) -> WebState {
        WebState {
            bus,
            settings: Arc::new(settings),
            forms: Arc::new(FormCache::default()),
        }
    }
}

/// The stylesheet.
const APP_CSS: &str = include_str!("../static/app.css");
/// The script: the form generator's behaviour, then the cabinet's own.
const APP_JS: &str = include_str!("../static/app.js");

async fn css() -> Response {
    let body = format!("{APP_CSS}\n{}", opensmev_forms::FORM_CSS);
    static_asset("text/css; charset=utf-8", body)
}

async fn js() -> Response {
    let body = format!("{}\n{APP_JS}", opensmev_forms::FORM_JS);
    static_asset("text/javascript; charset=utf-8", body)
}

fn static_asset(content_type: &'static str, body: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// Security headers on every page: a strict content security policy (only this server's own
/// scripts and styles, no inline script, no framing), no MIME sniffing, no referrer to other
/// sites, and no caching of pages (they show personal data).
async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The cabinet's router: `/` and its pages, `/static/…`.
pub fn router(state: WebState) -> Router {
    use pages::{auth, cases, compose, messages, prefs};
    Router::new()
        .route("/", get(messages::home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/password",
            get(auth::password_form).post(auth::change_password),
        )
        .route("/lang/{code}", get(auth::switch_lang))
        .route("/messages", get(messages::list))
        .route("/inbox", get(messages::inbox))
        .route("/messages/{id}", get(messages::show))
        .route("/messages/{id}/xml", get(messages::download_xml))
        .route("/messages/{id}/document.html", get(messages::download_html))
        .route("/messages/{id}/document.pdf", get(messages::download_pdf))
        .route(
            "/messages/{id}/attachments/{n}",
            get(messages::download_attachment),
        )
        .route("/new", get(compose::kinds))
        .route(
            "/new/{vs_id}",
            get(compose::request_form).post(compose::send_request),
        )
        .route(
            "/messages/{id}/answer",
            get(compose::answer_form).post(compose::send_answer),
        )
        .route(
            "/messages/{id}/reject",
            get(compose::reject_form).post(compose::send_reject),
        )
        .route(
            "/messages/{id}/status",
            get(compose::status_form).post(compose::send_status),
        )
        .route("/messages/{id}/reassign", post(cases::reassign))
        .route("/admin/cabinet", get(cases::systems))
        .route(
            "/admin/cabinet/{system}",
            get(cases::settings_page).post(cases::save_settings),
        )
        .route("/settings", get(prefs::prefs_page).post(prefs::save_prefs))
        .route("/drafts", get(compose::drafts))
        .route("/drafts/{id}/delete", post(compose::delete_draft))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .layer(axum::middleware::from_fn(secure_headers))
        .with_state(state)
}
