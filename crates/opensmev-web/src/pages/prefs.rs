//! The user's own settings: e-mail notifications (an answer arrived, a request assigned to my
//! department, a deadline near) and the departments they work in.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use opensmev_core::notify::Prefs;

use super::{Chrome, page, user_error};
use crate::WebState;
use crate::session::SignedIn;

#[derive(Template)]
#[template(path = "prefs.html")]
struct PrefsPage {
    c: Chrome,
    csrf: String,
    email: String,
    answers: bool,
    assigned: bool,
    deadlines: bool,
    departments: Vec<(String, String, bool)>,
    error: Option<String>,
}

async fn show(
    state: &WebState,
    user: &SignedIn,
    prefs: Prefs,
    error: Option<String>,
    flash: Option<String>,
) -> Response {
    let departments = match user.system() {
        Some(system) => match state.bus.cabinet_settings(system).await {
            Ok(Some((settings, _))) => settings
                .departments
                .iter()
                .map(|d| {
                    (
                        d.id.clone(),
                        d.name.clone(),
                        prefs.departments.contains(&d.id),
                    )
                })
                .collect(),
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    let mut c = Chrome::of(user, "prefs", "/settings");
    c.flash = flash;
    let failed = error.is_some();
    let mut response = page(&PrefsPage {
        c,
        csrf: user.session.csrf.clone(),
        email: prefs.email.unwrap_or_default(),
        answers: prefs.answers,
        assigned: prefs.assigned,
        deadlines: prefs.deadlines,
        departments,
        error,
    });
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

/// `GET /settings`.
pub async fn prefs_page(State(state): State<WebState>, user: SignedIn) -> Response {
    match state.bus.prefs(&user.session.principal.actor).await {
        Ok(prefs) => show(&state, &user, prefs, None, None).await,
        Err(e) => user_error(
            &user,
            StatusCode::SERVICE_UNAVAILABLE,
            user.lang.t("error"),
            &e.to_string(),
        ),
    }
}

/// `POST /settings`.
pub async fn save_prefs(
    State(state): State<WebState>,
    user: SignedIn,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    if let Some(refused) = user.refuse_without_csrf(&fields) {
        return refused;
    }
    let has = |name: &str| fields.iter().any(|(k, v)| k == name && v == "1");
    let email = fields
        .iter()
        .find(|(k, _)| k == "email")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let prefs = Prefs {
        email,
        answers: has("answers"),
        assigned: has("assigned"),
        deadlines: has("deadlines"),
        departments: fields
            .iter()
            .filter(|(k, _)| k == "department")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    match state.bus.save_prefs(&user.session.principal, &prefs).await {
        Ok(()) => {
            show(
                &state,
                &user,
                prefs,
                None,
                Some(lang.t("settings_saved").to_owned()),
            )
            .await
        }
        Err(e) => {
            let text = match (&e, lang) {
                (
                    opensmev_core::auth::AccessError::Invalid { field: "email", .. },
                    crate::i18n::Lang::Ru,
                ) => {
                    format!(
                        "«{}» — не адрес электронной почты",
                        prefs.email.clone().unwrap_or_default()
                    )
                }
                _ => e.to_string(),
            };
            show(&state, &user, prefs, Some(text), None).await
        }
    }
}
