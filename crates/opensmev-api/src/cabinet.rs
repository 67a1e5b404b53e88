//! The provider's cases and a system's cabinet settings over REST: everything the web cabinet
//! does with them is here too (`/api/v1/systems/{mnemonic}/cabinet`, `/api/v1/cases…`).

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use opensmev_core::auth::Action;
use opensmev_store::{Case, CaseEvent, CaseQuery};
use opensmev_types::{MessageId, Mnemonic};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::body::{bytes, content_type, essence, json_body};
use crate::extract::{Path, Query};
use crate::problem::PROBLEM_JSON;
use crate::{ApiState, Authenticated, Problem, Unauthenticated, json, rfc3339};

const TOML: &str = "application/toml";

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/systems/{mnemonic}/cabinet",
            get(get_settings).put(put_settings),
        )
        .route("/me/notifications", get(get_prefs).put(put_prefs))
        .route("/cases", get(list))
        .route("/cases/{id}", get(show))
        .route("/cases/{id}/reassign", post(reassign))
}

fn system(text: &str) -> Result<Mnemonic, Problem> {
    Mnemonic::parse(text).map_err(|_| Problem::not_found(format!("no information system {text}")))
}

/// A system's cabinet settings (TOML: departments, assignment rules, deadlines, calendar; see
/// docs/cabinet.md). An administrator, operator or auditor reads any system's; an IS token its
/// own.
#[utoipa::path(get, path = "/api/v1/systems/{mnemonic}/cabinet", tag = "cabinet",
    params(("mnemonic" = String, Path, description = "The information system")),
    responses(
        (status = 200, description = "The settings", body = String, content_type = "application/toml",
            headers(("ETag" = String, description = "The settings' version, quoted"))),
        (status = 400, description = "Malformed path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such system, or no settings", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn get_settings(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(mnemonic): Path<String>,
) -> Result<Response, Problem> {
    let system = system(&mnemonic)?;
    match auth.0.own_system() {
        Some(own) if *own == system => auth.may(&state, Action::WorkAsOwn)?,
        Some(_) => {
            return Err(Problem::not_found(format!(
                "no cabinet settings of {system}"
            )));
        }
        None => auth.may(&state, Action::ReadRegistry)?,
    }
    let Some(doc) = state.bus.cabinet_settings_text(&system).await? else {
        return Err(Problem::not_found(format!(
            "no cabinet settings of {system}"
        )));
    };
    let mut response = (StatusCode::OK, doc.text).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TOML));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", doc.version)) {
        headers.insert(header::ETAG, v);
    }
    Ok(response)
}

/// The version a settings document was saved as.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SettingsVersion {
    /// The version in force now.
    version: u64,
}

/// Replaces a system's cabinet settings (admin): checked (departments, rules, XPaths,
/// deadlines, calendar), saved as a new version with an audit entry. `If-Match: "<version>"`
/// (`"0"`: none yet) makes it fail with 409 if they changed meanwhile.
#[utoipa::path(put, path = "/api/v1/systems/{mnemonic}/cabinet", tag = "cabinet",
    params(("mnemonic" = String, Path, description = "The information system"),
        ("If-Match" = Option<String>, Header, description = "The version (ETag) the change is based on")),
    request_body(content = String, content_type = "application/toml"),
    responses(
        (status = 200, description = "Saved", body = SettingsVersion),
        (status = 400, description = "Malformed path or body", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such system", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "Changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not TOML", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "The settings do not check out", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn put_settings(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(mnemonic): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ManageAccess)?;
    let system = system(&mnemonic)?;
    let given = content_type(&headers);
    let e = essence(given);
    if !(e == TOML || e == "text/plain") {
        return Err(Problem::unsupported_media_type(given, TOML));
    }
    let expected = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(|t| t.trim().trim_matches('"'))
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| Problem::invalid_field("If-Match", "the ETag of the GET"))?,
        ),
    };
    let raw = bytes(body, state.settings.max_body_bytes).await?;
    let text = String::from_utf8(raw.to_vec())
        .map_err(|e| Problem::bad_request(format!("the document is not UTF-8: {e}")))?;
    let saved = state
        .bus
        .save_cabinet_settings(&auth.0, &system, &text, expected)
        .await?;
    Ok(json(
        StatusCode::OK,
        &SettingsVersion {
            version: saved.version,
        },
    ))
}

/// A case: an incoming request handled in the cabinet.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CaseOut {
    /// The request's MessageID.
    request: String,
    /// Who sent it.
    sender: String,
    /// Its kind of information.
    vs_id: String,
    /// When the bus accepted it (RFC 3339).
    received_at: String,
    /// The department it is assigned to.
    #[serde(skip_serializing_if = "Option::is_none")]
    department: Option<String>,
    /// Its deadline (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    due_at: Option<String>,
    /// When it was closed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    closed_at: Option<String>,
    /// How (`answered`, `rejected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
    /// Open and past its deadline.
    overdue: bool,
}

fn case_out(c: Case, now: time::OffsetDateTime) -> CaseOut {
    CaseOut {
        overdue: c.closed_at.is_none() && c.due_at.is_some_and(|d| d < now),
        request: c.request.to_string(),
        sender: c.sender.to_string(),
        vs_id: c.vs_id,
        received_at: rfc3339(c.received_at),
        department: c.department,
        due_at: c.due_at.map(rfc3339),
        closed_at: c.closed_at.map(rfc3339),
        outcome: c.outcome,
    }
}

/// A page of cases.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CasePage {
    /// The cases, newest request first.
    items: Vec<CaseOut>,
    /// Pass as `cursor` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Filters of the case list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseFilter {
    /// Only this department's.
    department: Option<String>,
    /// Only open (`true`) or closed (`false`) ones.
    open: Option<bool>,
    /// Only open ones past their deadline.
    overdue: Option<bool>,
    /// Only this kind's.
    vs_id: Option<String>,
    /// 1–500 (default 50).
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// The cases of the IS token's system (requests received since the newest case are opened
/// first, assigned by the system's rules).
#[utoipa::path(get, path = "/api/v1/cases", tag = "cabinet", params(CaseFilter),
    responses(
        (status = 200, description = "A page of cases", body = CasePage),
        (status = 400, description = "Unknown or malformed parameter", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "A parameter has an invalid value", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    auth: Authenticated,
    Query(q): Query<CaseFilter>,
) -> Result<Response, Problem> {
    auth.may(&state, Action::WorkAsOwn)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid_field("limit", "from 1 to 500"));
    }
    let before = q
        .cursor
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| Problem::invalid_field("cursor", "the previous page's next_cursor"))
        })
        .transpose()?;
    let now = state.bus.now();
    let query = CaseQuery {
        system: auth
            .0
            .own_system()
            .cloned()
            .ok_or_else(|| Problem::invalid_field("token", "an IS token"))?,
        department: q.department,
        open: q.open,
        due_before: q.overdue.filter(|o| *o).map(|_| now),
        vs_id: q.vs_id,
        before,
        limit: limit + 1,
    };
    let mut found = state.bus.cases_as(&auth.0, query).await?;
    let next_cursor = (found.len() > limit as usize).then(|| {
        found.truncate(limit as usize);
        found
            .last()
            .map(|c| c.request_seq.to_string())
            .unwrap_or_default()
    });
    Ok(json(
        StatusCode::OK,
        &CasePage {
            items: found.into_iter().map(|c| case_out(c, now)).collect(),
            next_cursor,
        },
    ))
}

/// Something that happened to a case.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CaseEventOut {
    /// When (RFC 3339).
    at: String,
    /// Who (an account's login; `system`: the bus's assignment).
    actor: String,
    /// `assigned`, `reassigned`, `answered`, `rejected`, `status`.
    action: String,
    /// Details.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// A case with its history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CaseView {
    /// The case.
    #[serde(flatten)]
    case: CaseOut,
    /// What happened, oldest first.
    events: Vec<CaseEventOut>,
}

fn event_out(e: CaseEvent) -> CaseEventOut {
    CaseEventOut {
        at: rfc3339(e.at),
        actor: e.actor,
        action: e.action,
        detail: e.detail,
    }
}

fn request_id(id: &str) -> Result<MessageId, Problem> {
    MessageId::parse(id).map_err(|_| Problem::not_found(format!("no case of {id}")))
}

/// A request's case with its history (the IS token's own system's).
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cabinet",
    params(("id" = String, Path, description = "The request's MessageID")),
    responses(
        (status = 200, description = "The case", body = CaseView),
        (status = 400, description = "Malformed path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such case", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    auth.may(&state, Action::WorkAsOwn)?;
    let request = request_id(&id)?;
    let Some((case, events)) = state.bus.case_as(&auth.0, &request).await? else {
        return Err(Problem::not_found(format!("no case of {id}")));
    };
    Ok(json(
        StatusCode::OK,
        &CaseView {
            case: case_out(case, state.bus.now()),
            events: events.into_iter().map(event_out).collect(),
        },
    ))
}

/// A reassignment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReassignIn {
    /// The department (`null`: none).
    department: Option<String>,
    /// Why (recorded in the case's history).
    reason: String,
}

/// Moves a case to another department, with the reason (recorded with the account or token).
#[utoipa::path(post, path = "/api/v1/cases/{id}/reassign", tag = "cabinet",
    params(("id" = String, Path, description = "The request's MessageID")),
    request_body(content = ReassignIn, content_type = "application/json"),
    responses(
        (status = 204, description = "Reassigned"),
        (status = 400, description = "Malformed path or body", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such case", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "No such department, or no reason", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn reassign(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    auth.may(&state, Action::WorkAsOwn)?;
    let request = request_id(&id)?;
    let given: ReassignIn = json_body(&state, &headers, body).await?;
    state
        .bus
        .reassign_case(
            &auth.0,
            &request,
            given.department.as_deref(),
            &given.reason,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A person's e-mail notification settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrefsIo {
    /// Where to write (absent or `null`: no e-mail).
    #[serde(default)]
    email: Option<String>,
    /// An answer arrived for a request of the person's system.
    #[serde(default)]
    answers: bool,
    /// A request was assigned to one of the person's departments.
    #[serde(default)]
    assigned: bool,
    /// A request of the person's departments is due within a day.
    #[serde(default)]
    deadlines: bool,
    /// The person's departments (ids of the system's cabinet settings).
    #[serde(default)]
    departments: Vec<String>,
}

fn account_only(auth: &Authenticated) -> Result<(), Problem> {
    if auth.0.actor.starts_with("token:") {
        return Err(Problem::invalid_field(
            "token",
            "notification settings belong to accounts: use a token made for an account",
        ));
    }
    Ok(())
}

/// The notification settings of the token's account.
#[utoipa::path(get, path = "/api/v1/me/notifications", tag = "cabinet",
    responses(
        (status = 200, description = "The settings", body = PrefsIo),
        Unauthenticated,
        (status = 422, description = "A token of no account", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn get_prefs(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    account_only(&auth)?;
    let p = state.bus.prefs(&auth.0.actor).await?;
    Ok(json(
        StatusCode::OK,
        &PrefsIo {
            email: p.email,
            answers: p.answers,
            assigned: p.assigned,
            deadlines: p.deadlines,
            departments: p.departments,
        },
    ))
}

/// Replaces the notification settings of the token's account (audited).
#[utoipa::path(put, path = "/api/v1/me/notifications", tag = "cabinet",
    request_body(content = PrefsIo, content_type = "application/json"),
    responses(
        (status = 200, description = "Saved", body = PrefsIo),
        (status = 400, description = "Malformed body", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "A bad address, an unknown department, or a token of no account", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn put_prefs(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    account_only(&auth)?;
    let given: PrefsIo = json_body(&state, &headers, body).await?;
    let prefs = opensmev_core::notify::Prefs {
        email: given.email.clone().filter(|e| !e.trim().is_empty()),
        answers: given.answers,
        assigned: given.assigned,
        deadlines: given.deadlines,
        departments: given.departments.clone(),
    };
    state.bus.save_prefs(&auth.0, &prefs).await?;
    Ok(json(StatusCode::OK, &given))
}
