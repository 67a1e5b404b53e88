//! The provider's inbox of cases (departments, deadlines with overdue and due-soon markers),
//! reassignment, and the administrator's page of a system's cabinet settings.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use opensmev_core::auth::{AccessError, Action};
use opensmev_core::cases::CabinetSettings;
use opensmev_store::{Case, CaseQuery};
use opensmev_types::{MessageId, Mnemonic};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::{Chrome, page, user_error, when};
use crate::WebState;
use crate::i18n::Lang;
use crate::session::SignedIn;

/// How soon a deadline is "due soon".
const DUE_SOON: Duration = Duration::hours(24);

/// The inbox's filters.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct CaseFilter {
    #[serde(default)]
    department: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    cursor: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct CaseRow {
    id: String,
    received: String,
    kind: String,
    sender: String,
    department: String,
    due: String,
    marker: &'static str,
    marker_text: String,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage {
    c: Chrome,
    filter: CaseFilter,
    departments: Vec<(String, String)>,
    kinds: Vec<(String, String)>,
    rows: Vec<CaseRow>,
    next: Option<String>,
}

/// The deadline marker of a case: `overdue`, `soon`, `closed` or `none`, with its words.
pub(crate) fn marker(case: &Case, now: OffsetDateTime, lang: Lang) -> (&'static str, String) {
    if let Some(outcome) = &case.outcome {
        return ("closed", format!("{}: {outcome}", lang.t("closed_as")));
    }
    match case.due_at {
        Some(due) if due < now => ("overdue", lang.t("overdue").to_owned()),
        Some(due) if due < now + DUE_SOON => ("soon", lang.t("due_soon").to_owned()),
        _ => ("none", String::new()),
    }
}

const PAGE: u32 = 50;

/// The inbox as cases, for a system with cabinet settings.
pub(crate) async fn inbox(
    state: &WebState,
    user: &SignedIn,
    system: &Mnemonic,
    settings: CabinetSettings,
    filter: CaseFilter,
    raw: Option<String>,
) -> Response {
    let lang = user.lang;
    let now = state.bus.now();
    let query = CaseQuery {
        system: system.clone(),
        department: Some(filter.department.clone()).filter(|d| !d.is_empty()),
        open: match filter.state.as_str() {
            "closed" => Some(false),
            "all" => None,
            _ => Some(true),
        },
        due_before: (filter.state == "overdue").then_some(now),
        vs_id: Some(filter.kind.clone()).filter(|k| !k.is_empty()),
        before: filter.cursor,
        limit: PAGE + 1,
    };
    let mut found = match state.bus.cases_as(&user.session.principal, query).await {
        Ok(f) => f,
        Err(e) => return access_error(user, e),
    };
    let next = (found.len() > PAGE as usize).then(|| {
        found.truncate(PAGE as usize);
        let last = found.last().map(|c| c.request_seq).unwrap_or_default();
        let rest: String = raw
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.starts_with("cursor=") && !p.is_empty())
            .map(|p| format!("{p}&"))
            .collect();
        format!("/inbox?{rest}cursor={last}")
    });
    let registry = state.bus.registry();
    let department_name = |id: &Option<String>| match id {
        Some(id) => settings
            .department(id)
            .map(|d| d.name.clone())
            .unwrap_or_else(|| id.clone()),
        None => lang.t("not_assigned").to_owned(),
    };
    let rows = found
        .iter()
        .map(|c| {
            let (marker, marker_text) = marker(c, now, lang);
            CaseRow {
                id: c.request.to_string(),
                received: when(c.received_at),
                kind: registry
                    .kind(&c.vs_id)
                    .map(|k| k.entry.title.clone())
                    .unwrap_or_else(|| c.vs_id.clone()),
                sender: c.sender.to_string(),
                department: department_name(&c.department),
                due: c.due_at.map(when).unwrap_or_default(),
                marker,
                marker_text,
            }
        })
        .collect();
    let mut filter = filter;
    if filter.state.is_empty() {
        filter.state = "open".into();
    }
    page(&CasesPage {
        c: Chrome::of(user, "inbox", "/inbox"),
        filter,
        departments: settings
            .departments
            .iter()
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect(),
        kinds: registry
            .kinds()
            .filter(|k| k.provider == *system)
            .map(|k| (k.entry.id.clone(), k.entry.title.clone()))
            .collect(),
        rows,
        next,
    })
}

pub(crate) fn access_error(user: &SignedIn, e: AccessError) -> Response {
    let lang = user.lang;
    let status = match &e {
        AccessError::Denied(_) => StatusCode::FORBIDDEN,
        AccessError::NotFound(_) => StatusCode::NOT_FOUND,
        AccessError::Conflict(_) => StatusCode::CONFLICT,
        AccessError::Invalid { .. } | AccessError::Exists(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AccessError::Bus(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let AccessError::Bus(b) = &e {
        tracing::error!(error = %b, "a cabinet action failed");
    }
    user_error(user, status, lang.t("error"), &e.to_string())
}

/// `POST /messages/{id}/reassign`: moves the request's case to another department.
pub async fn reassign(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    if let Some(refused) = user.refuse_without_csrf(&fields) {
        return refused;
    }
    let Ok(request) = MessageId::parse(&id) else {
        return user_error(&user, StatusCode::NOT_FOUND, lang.t("error"), &id);
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let department = field("department");
    let reason = field("reason");
    let department = (!department.is_empty()).then_some(department.as_str());
    match state
        .bus
        .reassign_case(&user.session.principal, &request, department, &reason)
        .await
    {
        Ok(()) => Redirect::to(&format!("/messages/{id}")).into_response(),
        Err(e) => access_error(&user, e),
    }
}

#[derive(Template)]
#[template(path = "systems.html")]
struct SystemsPage {
    c: Chrome,
    systems: Vec<(String, String)>,
}

fn admin_only(state: &WebState, user: &SignedIn) -> Result<(), Response> {
    state
        .bus
        .authorize(&user.session.principal, Action::ManageAccess)
        .map_err(|d| user_error(user, StatusCode::FORBIDDEN, user.lang.t("error"), &d.reason))
}

/// `GET /admin/cabinet`: the systems whose cabinet settings an administrator may edit.
pub async fn systems(State(state): State<WebState>, user: SignedIn) -> Response {
    if let Err(r) = admin_only(&state, &user) {
        return r;
    }
    let registry = state.bus.registry();
    let mut systems: Vec<(String, String)> = registry
        .systems()
        .map(|s| (s.mnemonic.to_string(), s.name.clone()))
        .collect();
    systems.sort();
    page(&SystemsPage {
        c: Chrome::of(&user, "admin", "/admin/cabinet"),
        systems,
    })
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    c: Chrome,
    system: String,
    version: u64,
    text: String,
    error: Option<String>,
    csrf: String,
}

/// An example for a system without settings.
const EXAMPLE: &str = "# Подразделения, правила назначения, сроки (см. docs/cabinet.md)\n\
[[departments]]\nid = \"main\"\nname = \"Основной отдел\"\n\n\
[[rules]]\ndepartment = \"main\"\n\n\
[[deadlines]]\nworking_days = 5\n\n\
[calendar]\nholidays = []\nworkdays = []\n";

/// `GET /admin/cabinet/{system}`: the settings editor.
pub async fn settings_page(
    State(state): State<WebState>,
    user: SignedIn,
    Path(system): Path<String>,
) -> Response {
    if let Err(r) = admin_only(&state, &user) {
        return r;
    }
    let lang = user.lang;
    let Ok(mnemonic) = Mnemonic::parse(&system) else {
        return user_error(&user, StatusCode::NOT_FOUND, lang.t("error"), &system);
    };
    let (text, version) = match state.bus.cabinet_settings_text(&mnemonic).await {
        Ok(Some(s)) => (s.text, s.version),
        Ok(None) => (EXAMPLE.to_owned(), 0),
        Err(e) => {
            return user_error(
                &user,
                StatusCode::SERVICE_UNAVAILABLE,
                lang.t("error"),
                &e.to_string(),
            );
        }
    };
    page(&SettingsPage {
        c: Chrome::of(&user, "admin", &format!("/admin/cabinet/{system}")),
        system,
        version,
        text,
        error: None,
        csrf: user.session.csrf.clone(),
    })
}

/// `POST /admin/cabinet/{system}`: saves the settings (checked; shown again with the error).
pub async fn save_settings(
    State(state): State<WebState>,
    user: SignedIn,
    Path(system): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    if let Some(refused) = user.refuse_without_csrf(&fields) {
        return refused;
    }
    if let Err(r) = admin_only(&state, &user) {
        return r;
    }
    let Ok(mnemonic) = Mnemonic::parse(&system) else {
        return user_error(&user, StatusCode::NOT_FOUND, lang.t("error"), &system);
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let text = field("text").replace("\r\n", "\n");
    let version: u64 = field("version").parse().unwrap_or(0);
    match state
        .bus
        .save_cabinet_settings(&user.session.principal, &mnemonic, &text, Some(version))
        .await
    {
        Ok(saved) => {
            let mut c = Chrome::of(&user, "admin", &format!("/admin/cabinet/{system}"));
            c.flash = Some(lang.t("settings_saved").to_owned());
            page(&SettingsPage {
                c,
                system,
                version: saved.version,
                text,
                error: None,
                csrf: user.session.csrf.clone(),
            })
        }
        Err(e) => {
            let mut response = page(&SettingsPage {
                c: Chrome::of(&user, "admin", &format!("/admin/cabinet/{system}")),
                system,
                version,
                text,
                error: Some(e.to_string()),
                csrf: user.session.csrf.clone(),
            });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
    }
}
