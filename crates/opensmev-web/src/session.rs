//! Who is at the browser: the session cookie, the signed-in extractor, CSRF checks and the
//! language cookie.
//!
//! * The session cookie (`osmv_session`) holds a random secret; the store keeps its SHA-256. It
//!   is `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` when the server speaks HTTPS (or is
//!   told it stands behind HTTPS). A login always makes a new secret (no session fixation).
//! * CSRF: every state change (POST) carries the session's token in the form field `_csrf`
//!   (synchronizer token), compared in constant time; the login form, before a session exists,
//!   uses a double-submit token (cookie `osmv_login` and the same value in the form).

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Redirect, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, header};
use opensmev_core::auth::AuthError;
use opensmev_core::session::Session;

use crate::WebState;
use crate::i18n::Lang;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "osmv_session";
/// The login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "osmv_login";
/// The language cookie.
pub const LANG_COOKIE: &str = "osmv_lang";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: Option<i64>,
    secure: bool,
    http_only: bool,
) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; SameSite=Lax");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if http_only {
        text.push_str("; HttpOnly");
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// Constant-time equality of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The page's language (cookie `osmv_lang`).
#[derive(Debug, Clone, Copy)]
pub struct PageLang(pub Lang);

impl FromRequestParts<WebState> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &WebState) -> Result<Self, Self::Rejection> {
        Ok(PageLang(Lang::parse(cookie(&parts.headers, LANG_COOKIE))))
    }
}

/// A signed-in user: their session and the page's language. A request without a valid session
/// is sent to the login page (with the page it asked for, to come back to).
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session.
    pub session: Session,
    /// The language.
    pub lang: Lang,
}

impl SignedIn {
    /// Whether a submitted form carries this session's CSRF token.
    pub fn csrf_ok(&self, fields: &[(String, String)]) -> bool {
        fields
            .iter()
            .find(|(k, _)| k == "_csrf")
            .is_some_and(|(_, v)| same_token(v, &self.session.csrf))
    }

    /// The refusal (403, naming the reason) of a state change whose form lacks this session's
    /// CSRF token; `None` when the token is there.
    pub fn refuse_without_csrf(&self, fields: &[(String, String)]) -> Option<Response> {
        (!self.csrf_ok(fields)).then(|| {
            crate::pages::user_error(
                self,
                http::StatusCode::FORBIDDEN,
                self.lang.t("error"),
                crate::pages::auth::csrf_text(self.lang),
            )
        })
    }

    /// The information system the user works for (role `is`).
    pub fn system(&self) -> Option<&opensmev_types::Mnemonic> {
        self.session.principal.own_system()
    }
}

impl FromRequestParts<WebState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let lang = Lang::parse(cookie(&parts.headers, LANG_COOKIE));
        let to_login = |why: &str| {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let target = format!("/login?next={}&why={why}", crate::pages::url_encode(next));
            Redirect::to(&target).into_response()
        };
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE).filter(|s| !s.is_empty()) else {
            return Err(to_login("none"));
        };
        match state.bus.resume_session(secret).await {
            // A one-time password is changed before anything else is done.
            Ok(session)
                if session.must_change_password
                    && !matches!(parts.uri.path(), "/password" | "/logout") =>
            {
                Err(Redirect::to("/password").into_response())
            }
            Ok(session) => Ok(SignedIn { session, lang }),
            Err(AuthError::Unavailable(e)) => {
                tracing::error!(error = %e, "reading a session");
                Err(crate::pages::error_page(
                    lang,
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    lang.t("error"),
                    "the store is unavailable",
                ))
            }
            Err(_) => Err(to_login("expired")),
        }
    }
}
