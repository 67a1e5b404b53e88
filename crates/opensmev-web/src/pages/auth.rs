//! Login, logout and the language switch.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode, header};
use opensmev_core::auth::AuthError;
use serde::Deserialize;

use super::{Chrome, page, when};
use crate::WebState;
use crate::i18n::Lang;
use crate::session::{
    LANG_COOKIE, LOGIN_COOKIE, PageLang, SESSION_COOKIE, cookie, same_token, set_cookie,
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    error: Option<String>,
    token: String,
    next: String,
    login: String,
}

/// The query of the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    why: Option<String>,
}

/// Only a path of this site may be gone back to after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        // No control characters: browsers drop tabs and line breaks from URLs, so `/\t/host`
        // would become `//host`, and a line break cannot go into a header.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn random_token() -> String {
    opensmev_core::auth::random_token_text(24).unwrap_or_else(|e| {
        // No randomness: an empty token, which no cookie can match (the login is refused, not
        // weakened).
        tracing::error!(error = %e, "making a login form token");
        String::new()
    })
}

fn show_login(
    state: &WebState,
    lang: Lang,
    status: StatusCode,
    error: Option<String>,
    next: String,
    login: String,
) -> Response {
    let token = random_token();
    let mut response = page(&LoginPage {
        c: Chrome::anonymous(lang, "/login"),
        error,
        token: token.clone(),
        next,
        login,
    });
    *response.status_mut() = status;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &token,
            Some(3600),
            state.settings.secure_cookies,
            true,
        ),
    );
    response
}

/// `GET /login`.
pub async fn login_page(
    State(state): State<WebState>,
    PageLang(lang): PageLang,
    Query(q): Query<LoginQuery>,
) -> Response {
    let error = match q.why.as_deref() {
        Some("expired") => Some(lang.t("session_expired").to_owned()),
        Some("changed") => Some(lang.t("password_changed").to_owned()),
        _ => None,
    };
    show_login(
        &state,
        lang,
        StatusCode::OK,
        error,
        safe_next(q.next.as_deref()),
        String::new(),
    )
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(rename = "_login", default)]
    token: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: checks the double-submit token, the login and password (with the lock-out),
/// opens a new session and sets its cookie.
pub async fn login(
    State(state): State<WebState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(Some(&form.next));
    let token_ok = cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same_token(c, &form.token));
    if !token_ok {
        return show_login(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            Some(match lang {
                Lang::Ru => "Форма входа устарела: введите логин и пароль ещё раз.".to_owned(),
                Lang::En => {
                    "The login form expired: please enter your login and password again.".to_owned()
                }
            }),
            next,
            form.login,
        );
    }
    match state
        .bus
        .open_session(form.login.trim(), &form.password)
        .await
    {
        Ok(opened) => {
            let mut response = Redirect::to(&next).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &opened.secret,
                    None,
                    state.settings.secure_cookies,
                    true,
                ),
            );
            headers.append(
                header::SET_COOKIE,
                set_cookie(
                    LOGIN_COOKIE,
                    "",
                    Some(0),
                    state.settings.secure_cookies,
                    true,
                ),
            );
            response
        }
        Err(e) => {
            let (status, text) = match &e {
                AuthError::LockedOut { until } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("{} {}", lang.t("locked_out"), when(*until)),
                ),
                AuthError::Unavailable(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, lang.t("error").to_owned())
                }
                AuthError::AccountDisabled { .. } => (
                    StatusCode::FORBIDDEN,
                    match lang {
                        Lang::Ru => "Учётная запись отключена".to_owned(),
                        Lang::En => "The account is disabled".to_owned(),
                    },
                ),
                _ => (
                    StatusCode::UNAUTHORIZED,
                    lang.t("wrong_password").to_owned(),
                ),
            };
            show_login(&state, lang, status, Some(text), next, form.login)
        }
    }
}

/// The logout form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /logout`: ends the session (with its CSRF token) and clears the cookie.
pub async fn logout(
    State(state): State<WebState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        match state.bus.resume_session(secret).await {
            Ok(session) if same_token(&session.csrf, &form.csrf) => {
                if let Err(e) = state.bus.close_session(secret).await {
                    tracing::error!(error = %e, "ending a session");
                }
            }
            Ok(_) => {
                return super::error_page(
                    lang,
                    StatusCode::FORBIDDEN,
                    lang.t("error"),
                    csrf_text(lang),
                );
            }
            Err(_) => {}
        }
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            "",
            Some(0),
            state.settings.secure_cookies,
            true,
        ),
    );
    response
}

/// The text of a refused state change without a valid CSRF token.
pub fn csrf_text(lang: Lang) -> &'static str {
    match lang {
        Lang::Ru => {
            "Запрос отклонён: нет действительного CSRF-маркера формы. Обновите страницу и повторите."
        }
        Lang::En => "Refused: the form carries no valid CSRF token. Reload the page and try again.",
    }
}

/// The query of the language switch.
#[derive(Debug, Deserialize)]
pub struct BackQuery {
    back: Option<String>,
}

/// `GET /lang/{ru|en}?back=…`: remembers the language and goes back.
pub async fn switch_lang(
    State(state): State<WebState>,
    Path(code): Path<String>,
    Query(q): Query<BackQuery>,
) -> Response {
    let lang = Lang::parse(Some(&code));
    let mut response = Redirect::to(&safe_next(q.back.as_deref())).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LANG_COOKIE,
            lang.code(),
            Some(365 * 86400),
            state.settings.secure_cookies,
            false,
        ),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/messages?x=1")), "/messages?x=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/\t/evil.example/")), "/");
        assert_eq!(safe_next(Some("/\n/evil.example/")), "/");
    }
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    c: Chrome,
    csrf: String,
    must: bool,
    error: Option<String>,
}

fn password_page(user: &crate::session::SignedIn, error: Option<String>) -> Response {
    let failed = error.is_some();
    let mut response = page(&PasswordPage {
        c: Chrome::of(user, "", "/password"),
        csrf: user.session.csrf.clone(),
        must: user.session.must_change_password,
        error,
    });
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

/// `GET /password`: the password change (required after a one-time password).
pub async fn password_form(user: crate::session::SignedIn) -> Response {
    password_page(&user, None)
}

/// `POST /password`: checks the current password, sets the new one (every session of the
/// account ends with it) and sends the user to log in again.
pub async fn change_password(
    State(state): State<WebState>,
    user: crate::session::SignedIn,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    if let Some(refused) = user.refuse_without_csrf(&fields) {
        return refused;
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let login = user.session.principal.actor.clone();
    let (current, new, again) = (field("current"), field("new"), field("again"));
    if new != again {
        return password_page(&user, Some(lang.t("password_mismatch").to_owned()));
    }
    match state.bus.login(&login, &current).await {
        Ok(_) => {}
        Err(AuthError::LockedOut { until }) => {
            return password_page(
                &user,
                Some(format!("{} {}", lang.t("locked_out"), when(until))),
            );
        }
        Err(_) => return password_page(&user, Some(lang.t("wrong_password").to_owned())),
    }
    match state
        .bus
        .update_account(&login, &login, None, Some(new))
        .await
    {
        Ok(_) => {
            let mut response = Redirect::to("/login?why=changed").into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    "",
                    Some(0),
                    state.settings.secure_cookies,
                    true,
                ),
            );
            response
        }
        Err(opensmev_core::auth::AccessError::Invalid { message, .. }) => password_page(
            &user,
            Some(format!("{}: {message}", lang.t("password_rule"))),
        ),
        Err(e) => password_page(&user, Some(e.to_string())),
    }
}
