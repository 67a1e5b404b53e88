//! Making messages in forms: a request of any kind of information (the form generated from the
//! kind's request XSD), an answer (from its response XSD), a rejection with its code, an
//! intermediate status; drafts. Sends go through the bus's `send_request_as` /
//! `send_response_as`, signed with the key the bus holds for the user's information system; the
//! bus validates the XML against the XSD (the source of truth) and each of its errors is shown
//! at the field it is about.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use opensmev_core::auth::Action;
use opensmev_core::integration::{
    OutgoingAnswer, OutgoingContent, OutgoingRequest, OutgoingResponse,
};
use opensmev_core::{BusError, Caller, IssueText};
use opensmev_forms::{FieldError, FormValues};
use opensmev_store::Draft;
use opensmev_types::{MessageId, MessageKind, SchemaVersion};
use opensmev_wire::RejectCode;
use serde::Deserialize;

use super::messages::visible;
use super::{Chrome, page, user_error, when};
use crate::WebState;
use crate::i18n::Lang;
use crate::render::esc;
use crate::session::SignedIn;

#[derive(Debug)]
pub(crate) struct KindRow {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) provider: String,
    pub(crate) granted: bool,
}

#[derive(Template)]
#[template(path = "kinds.html")]
struct KindsPage {
    c: Chrome,
    kinds: Vec<KindRow>,
}

/// The user's information system as a caller of the bus, or the page that says why not.
fn caller(state: &WebState, user: &SignedIn) -> Result<Caller, Response> {
    let lang = user.lang;
    let refuse = |detail: &str| user_error(user, StatusCode::FORBIDDEN, lang.t("error"), detail);
    if let Err(denied) = state
        .bus
        .authorize(&user.session.principal, Action::WorkAsOwn)
    {
        return Err(refuse(&denied.reason));
    }
    let Some(system) = user.system() else {
        return Err(refuse("no information system"));
    };
    state.bus.caller_of(system).ok_or_else(|| {
        refuse(match lang {
            Lang::Ru => "Информационная система учётной записи не найдена в реестре",
            Lang::En => "The account's information system is not in the registry",
        })
    })
}

/// `GET /new`: the kinds of information the user's system may request.
pub async fn kinds(State(state): State<WebState>, user: SignedIn) -> Response {
    let caller = match caller(&state, &user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let registry = state.bus.registry();
    let mut kinds: Vec<KindRow> = registry
        .kinds()
        .map(|k| KindRow {
            id: k.entry.id.clone(),
            title: k.entry.title.clone(),
            provider: k.provider.to_string(),
            granted: !registry
                .grants_for(&caller.system.mnemonic, &k.entry.id)
                .is_empty(),
        })
        .collect();
    kinds.sort_by(|a, b| b.granted.cmp(&a.granted).then(a.id.cmp(&b.id)));
    page(&KindsPage {
        c: Chrome::of(&user, "new", "/new"),
        kinds,
    })
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    c: Chrome,
    heading: String,
    subtitle: Option<String>,
    action: String,
    csrf: String,
    draft_id: Option<String>,
    fields: String,
    general_errors: Vec<String>,
    can_draft: bool,
    cancel: String,
}

/// A form model of a kind's root element, or the page that says why there is none.
fn form_of(
    state: &WebState,
    user: &SignedIn,
    kind: &opensmev_core::registry::Kind,
    root: &opensmev_types::QName,
) -> Result<opensmev_forms::Form, Response> {
    let lang = user.lang;
    let none = |detail: String| {
        user_error(
            user,
            StatusCode::UNPROCESSABLE_ENTITY,
            lang.t("no_form"),
            &detail,
        )
    };
    match state.forms.schema(kind) {
        Ok(Some(schema)) => schema
            .form(&root.ns, &root.local)
            .map_err(|e| none(e.to_string())),
        Ok(None) => Err(none(kind.entry.id.clone())),
        Err(e) => Err(none(e)),
    }
}

/// The values of a submitted form (without the page's own fields, which start with `_`).
fn values_of(fields: &[(String, String)]) -> FormValues {
    FormValues::from_pairs(
        fields
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .cloned()
            .collect(),
    )
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The bus's refusal of a composed message: XSD errors at their fields (by the line of the XML
/// the form made), everything else as general errors.
fn refusal(
    e: &BusError,
    built: &opensmev_forms::Built,
    lang: Lang,
) -> (Vec<FieldError>, Vec<String>) {
    let mut at_fields = Vec::new();
    let mut general = Vec::new();
    match e {
        BusError::InvalidContent(issues) => {
            for issue in issues {
                match &issue.text {
                    IssueText::Xsd { message, line, .. } => {
                        let text = match lang {
                            Lang::Ru => opensmev_schema::message_ru(message)
                                .unwrap_or_else(|| message.clone()),
                            Lang::En => message.clone(),
                        };
                        match u32::try_from(*line)
                            .ok()
                            .and_then(|l| built.field_at_line(l))
                        {
                            Some(path) => at_fields.push(FieldError {
                                path: path.to_owned(),
                                message: text,
                            }),
                            None => general.push(text),
                        }
                    }
                    other => general.push(other.to_string()),
                }
            }
        }
        other => general.push(format!("{} ({})", other, other.code())),
    }
    (at_fields, general)
}

/// The query of a request form.
#[derive(Debug, Default, Deserialize)]
pub struct ComposeQuery {
    copy: Option<String>,
    draft: Option<String>,
    root: Option<usize>,
    saved: Option<String>,
}

async fn draft_values(state: &WebState, user: &SignedIn, id: &str) -> Option<FormValues> {
    let draft = state.bus.store().draft(id).await.ok()??;
    if draft.owner != user.session.principal.actor {
        return None;
    }
    let pairs: Vec<(String, String)> = serde_json::from_str(&draft.values).ok()?;
    Some(FormValues::from_pairs(pairs))
}

#[allow(clippy::too_many_arguments)]
fn compose_page(
    user: &SignedIn,
    section: &'static str,
    heading: String,
    subtitle: Option<String>,
    action: String,
    fields: String,
    general_errors: Vec<String>,
    draft_id: Option<String>,
    can_draft: bool,
    cancel: String,
    flash: Option<String>,
    status: StatusCode,
) -> Response {
    let mut c = Chrome::of(user, section, &action);
    c.flash = flash;
    let mut response = page(&ComposePage {
        c,
        heading,
        subtitle,
        csrf: user.session.csrf.clone(),
        action,
        draft_id,
        fields,
        general_errors,
        can_draft,
        cancel,
    });
    *response.status_mut() = status;
    response
}

/// `GET /new/{vs_id}`: the request form of a kind (empty, from a draft, or a copy of a sent
/// request).
pub async fn request_form(
    State(state): State<WebState>,
    user: SignedIn,
    Path(vs_id): Path<String>,
    Query(q): Query<ComposeQuery>,
) -> Response {
    let lang = user.lang;
    if let Err(r) = caller(&state, &user) {
        return r;
    }
    let registry = state.bus.registry();
    let Some(kind) = registry.kind(&vs_id).cloned() else {
        return user_error(&user, StatusCode::NOT_FOUND, lang.t("error"), &vs_id);
    };
    let form = match form_of(&state, &user, &kind, &kind.request) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut values = FormValues::new();
    if let Some(id) = &q.draft {
        values = draft_values(&state, &user, id).await.unwrap_or_default();
    } else if let Some(copy) = &q.copy
        && let Ok(view) = visible(&state, &user, copy).await
        && let Ok(opened) = state.bus.open_delivered(
            &view.stored,
            &vec![Vec::new(); view.stored.message.attachments.len()],
        )
        && let opensmev_core::integration::DeliveredBody::Business(xml) = opened.body
    {
        values = form.values_from_xml(&xml).unwrap_or_default();
    }
    let fields = opensmev_forms::render_html(&form, &values, &[], lang.forms());
    compose_page(
        &user,
        "new",
        format!("{}: {}", lang.t("new_request"), kind.entry.title),
        Some(format!(
            "{} · {}: {}",
            kind.entry.id,
            lang.t("provider"),
            kind.provider
        )),
        format!("/new/{vs_id}"),
        fields,
        Vec::new(),
        q.draft.clone(),
        true,
        "/new".to_owned(),
        q.saved.map(|_| lang.t("draft_saved").to_owned()),
        StatusCode::OK,
    )
}

async fn save_draft(
    state: &WebState,
    user: &SignedIn,
    fields: &[(String, String)],
    vs_id: &str,
    form: &str,
    request_id: Option<String>,
    title: String,
) -> Result<String, String> {
    let id = match field(fields, "_draft").filter(|d| !d.is_empty()) {
        Some(id) => id,
        None => opensmev_core::auth::random_token_text(12).map_err(|e| e.to_string())?,
    };
    let pairs = values_of(fields).to_pairs();
    let draft = Draft {
        id: id.clone(),
        owner: user.session.principal.actor.clone(),
        vs_id: vs_id.to_owned(),
        form: form.to_owned(),
        request_id,
        title,
        values: serde_json::to_string(&pairs).map_err(|e| e.to_string())?,
        updated_at: state.bus.now(),
    };
    state
        .bus
        .store()
        .save_draft(draft)
        .await
        .map_err(|e| e.to_string())?;
    Ok(id)
}

/// `POST /new/{vs_id}`: sends the request made with the form (or saves it as a draft).
pub async fn send_request(
    State(state): State<WebState>,
    user: SignedIn,
    Path(vs_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    if let Some(refused) = user.refuse_without_csrf(&fields) {
        return refused;
    }
    let caller = match caller(&state, &user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let registry = state.bus.registry();
    let Some(kind) = registry.kind(&vs_id).cloned() else {
        return user_error(&user, StatusCode::NOT_FOUND, lang.t("error"), &vs_id);
    };
    let form = match form_of(&state, &user, &kind, &kind.request) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let action = format!("/new/{vs_id}");
    if field(&fields, "_action").as_deref() == Some("draft") {
        return match save_draft(
            &state,
            &user,
            &fields,
            &vs_id,
            "request",
            None,
            kind.entry.title.clone(),
        )
        .await
        {
            Ok(id) => Redirect::to(&format!("{action}?draft={id}&saved=1")).into_response(),
            Err(e) => user_error(
                &user,
                StatusCode::INTERNAL_SERVER_ERROR,
                lang.t("error"),
                &e,
            ),
        };
    }
    let values = values_of(&fields);
    let again = |errors: Vec<FieldError>, general: Vec<String>| {
        let mut general = general;
        if !errors.is_empty() {
            general.insert(0, lang.t("errors_in_form").to_owned());
        }
        compose_page(
            &user,
            "new",
            format!("{}: {}", lang.t("new_request"), kind.entry.title),
            Some(format!(
                "{} · {}: {}",
                kind.entry.id,
                lang.t("provider"),
                kind.provider
            )),
            action.clone(),
            opensmev_forms::render_html(&form, &values, &errors, lang.forms()),
            general,
            field(&fields, "_draft"),
            true,
            "/new".to_owned(),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let built = match form.build_xml_lang(&values, lang.forms()) {
        Ok(b) => b,
        Err(errors) => return again(errors, Vec::new()),
    };
    let request = OutgoingRequest {
        version: SchemaVersion::V1_3,
        message_id: None,
        client_id: None,
        reference_message_id: None,
        transaction_code: None,
        node_id: None,
        eol: None,
        test_message: false,
        priority: None,
        content: OutgoingContent {
            business_xml: built.xml.clone(),
            personal_signature_xml: None,
            attachments: Vec::new(),
        },
    };
    match state.bus.send_request_as(&caller, request).await {
        Ok(accepted) => {
            if let Some(d) = field(&fields, "_draft").filter(|d| !d.is_empty()) {
                let _ = state
                    .bus
                    .store()
                    .delete_draft(&d, &user.session.principal.actor)
                    .await;
            }
            tracing::info!(target: "opensmev::access", actor = %user.session.principal.actor,
                id = %accepted.message.id, "a request was sent from the cabinet");
            Redirect::to(&format!("/messages/{}", accepted.message.id)).into_response()
        }
        Err(e) => {
            let (errors, general) = refusal(&e, &built, lang);
            again(errors, general)
        }
    }
}

/// A request the user's system received, to answer: the message, its kind and the caller.
async fn to_answer(
    state: &WebState,
    user: &SignedIn,
    id: &str,
) -> Result<(MessageId, Arc<opensmev_core::registry::Kind>, Caller), Response> {
    let lang = user.lang;
    let caller = caller(state, user)?;
    let view = visible(state, user, id).await?;
    let m = &view.stored.message;
    if m.kind != MessageKind::Request || m.recipient != caller.system.mnemonic {
        return Err(user_error(
            user,
            StatusCode::FORBIDDEN,
            lang.t("error"),
            match lang {
                Lang::Ru => "Отвечать можно только на запросы, полученные вашей системой",
                Lang::En => "Only requests your system received can be answered",
            },
        ));
    }
    let kind = state
        .bus
        .registry()
        .kind(&m.vs_id)
        .cloned()
        .ok_or_else(|| user_error(user, StatusCode::NOT_FOUND, lang.t("error"), &m.vs_id))?;
    Ok((m.id.clone(), kind, caller))
}

fn response_root(
    kind: &opensmev_core::registry::Kind,
    choice: Option<usize>,
) -> Option<&opensmev_types::QName> {
    kind.responses.get(choice.unwrap_or(0))
}

/// The links to the other response types of a kind with several.
fn root_switch(kind: &opensmev_core::registry::Kind, id: &str, current: usize) -> String {
    if kind.responses.len() < 2 {
        return String::new();
    }
    let mut html = String::from("<nav class=\"roots\"><ul>");
    for (i, root) in kind.responses.iter().enumerate() {
        if i == current {
            html.push_str(&format!("<li><strong>{}</strong></li>", esc(&root.local)));
        } else {
            html.push_str(&format!(
                "<li><a href=\"/messages/{}/answer?root={i}\">{}</a></li>",
                esc(id),
                esc(&root.local)
            ));
        }
    }
    html.push_str("</ul></nav>");
    html
}

/// `GET /messages/{id}/answer`: the answer form (the kind's response XSD).
pub async fn answer_form(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<ComposeQuery>,
) -> Response {
    let lang = user.lang;
    let (request, kind, _) = match to_answer(&state, &user, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let choice = q.root.unwrap_or(0);
    let Some(root) = response_root(&kind, Some(choice)) else {
        return user_error(
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            lang.t("no_form"),
            &kind.entry.id,
        );
    };
    let form = match form_of(&state, &user, &kind, root) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let values = match &q.draft {
        Some(d) => draft_values(&state, &user, d).await.unwrap_or_default(),
        None => FormValues::new(),
    };
    let mut fields = root_switch(&kind, &id, choice);
    fields.push_str(&format!(
        "<input type=\"hidden\" name=\"_root\" value=\"{choice}\">"
    ));
    fields.push_str(&opensmev_forms::render_html(
        &form,
        &values,
        &[],
        lang.forms(),
    ));
    compose_page(
        &user,
        "inbox",
        format!("{}: {}", lang.t("answer_form"), kind.entry.title),
        Some(format!("{} {request}", lang.t("request"))),
        format!("/messages/{id}/answer"),
        fields,
        Vec::new(),
        q.draft.clone(),
        true,
        format!("/messages/{id}"),
        q.saved.map(|_| lang.t("draft_saved").to_owned()),
        StatusCode::OK,
    )
}

async fn respond(
    state: &WebState,
    user: &SignedIn,
    caller: &Caller,
    request: MessageId,
    answer: OutgoingAnswer,
) -> Result<opensmev_core::Accepted, BusError> {
    let (action, detail) = match &answer {
        OutgoingAnswer::Business(_) => ("answered", None),
        OutgoingAnswer::Rejected(reasons) => (
            "rejected",
            reasons
                .first()
                .map(|(code, text)| format!("{}: {text}", code.as_str())),
        ),
        OutgoingAnswer::Status {
            code, description, ..
        } => ("status", Some(format!("{code}: {description}"))),
    };
    let accepted = state
        .bus
        .send_response_as(
            caller,
            OutgoingResponse {
                version: SchemaVersion::V1_3,
                message_id: None,
                client_id: None,
                request: request.clone(),
                answer,
            },
        )
        .await?;
    tracing::info!(target: "opensmev::access", actor = %user.session.principal.actor,
        request = %request, id = %accepted.message.id, "an answer was sent from the cabinet");
    if let Err(e) = state
        .bus
        .record_case_action(&user.session.principal, &request, action, detail)
        .await
    {
        // The answer is sent; only its line in the case's history is missing.
        tracing::error!(error = %e, request = %request, "recording a case action");
    }
    Ok(accepted)
}

/// `POST /messages/{id}/answer`.
pub async fn send_answer(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    if let Some(refused) = user.refuse_without_csrf(&fields) {
        return refused;
    }
    let (request, kind, caller) = match to_answer(&state, &user, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let choice = field(&fields, "_root")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let Some(root) = response_root(&kind, Some(choice)) else {
        return user_error(
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            lang.t("no_form"),
            &kind.entry.id,
        );
    };
    let form = match form_of(&state, &user, &kind, root) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let action = format!("/messages/{id}/answer");
    if field(&fields, "_action").as_deref() == Some("draft") {
        let title = format!("{} — {}", kind.entry.title, request);
        return match save_draft(
            &state,
            &user,
            &fields,
            &kind.entry.id,
            "response",
            Some(request.to_string()),
            title,
        )
        .await
        {
            Ok(d) => {
                Redirect::to(&format!("{action}?root={choice}&draft={d}&saved=1")).into_response()
            }
            Err(e) => user_error(
                &user,
                StatusCode::INTERNAL_SERVER_ERROR,
                lang.t("error"),
                &e,
            ),
        };
    }
    let values = values_of(&fields);
    let again = |errors: Vec<FieldError>, general: Vec<String>| {
        let mut general = general;
        if !errors.is_empty() {
            general.insert(0, lang.t("errors_in_form").to_owned());
        }
        let mut html = root_switch(&kind, &id, choice);
        html.push_str(&format!(
            "<input type=\"hidden\" name=\"_root\" value=\"{choice}\">"
        ));
        html.push_str(&opensmev_forms::render_html(
            &form,
            &values,
            &errors,
            lang.forms(),
        ));
        compose_page(
            &user,
            "inbox",
            format!("{}: {}", lang.t("answer_form"), kind.entry.title),
            Some(format!("{} {request}", lang.t("request"))),
            action.clone(),
            html,
            general,
            field(&fields, "_draft"),
            true,
            format!("/messages/{id}"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let built = match form.build_xml_lang(&values, lang.forms()) {
        Ok(b) => b,
        Err(errors) => return again(errors, Vec::new()),
    };
    let answer = OutgoingAnswer::Business(OutgoingContent {
        business_xml: built.xml.clone(),
        personal_signature_xml: None,
        attachments: Vec::new(),
    });
    match respond(&state, &user, &caller, request.clone(), answer).await {
        Ok(_) => {
            if let Some(d) = field(&fields, "_draft").filter(|d| !d.is_empty()) {
                let _ = state
                    .bus
                    .store()
                    .delete_draft(&d, &user.session.principal.actor)
                    .await;
            }
            Redirect::to(&format!("/messages/{id}")).into_response()
        }
        Err(e) => {
            let (errors, general) = refusal(&e, &built, lang);
            again(errors, general)
        }
    }
}

const REJECT_CODES: [(RejectCode, &str, &str); 4] = [
    (RejectCode::NoData, "Нет данных", "No data"),
    (RejectCode::AccessDenied, "Доступ запрещён", "Access denied"),
    (
        RejectCode::UnknownRequestDescription,
        "Неизвестный вид запроса",
        "Unknown request description",
    ),
    (
        RejectCode::Failure,
        "Сбой при обработке",
        "Processing failure",
    ),
];

fn reject_fields(lang: Lang, code: &str, text: &str, error: Option<&str>) -> String {
    let mut html = format!(
        "<p><label for=\"rj-code\">{}</label><select id=\"rj-code\" name=\"code\" required>",
        esc(lang.t("reject_code"))
    );
    for (c, ru, en) in REJECT_CODES {
        html.push_str(&format!(
            "<option value=\"{}\"{}>{} — {}</option>",
            c.as_str(),
            if c.as_str() == code { " selected" } else { "" },
            c.as_str(),
            if lang == Lang::Ru { ru } else { en }
        ));
    }
    html.push_str("</select></p>");
    html.push_str(&format!(
        "<p><label for=\"rj-text\">{}</label><textarea id=\"rj-text\" name=\"text\" rows=\"4\" required{}>{}</textarea>{}</p>",
        esc(lang.t("reject_text")),
        if error.is_some() { " aria-invalid=\"true\" aria-describedby=\"rj-text-err\"" } else { "" },
        esc(text),
        error.map(|e| format!("<span class=\"field-error\" id=\"rj-text-err\" role=\"alert\">{}</span>", esc(e))).unwrap_or_default()
    ));
    html
}

/// `GET /messages/{id}/reject`.
pub async fn reject_form(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let lang = user.lang;
    let (request, _, _) = match to_answer(&state, &user, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    compose_page(
        &user,
        "inbox",
        lang.t("reject_form").to_owned(),
        Some(format!("{} {request}", lang.t("request"))),
        format!("/messages/{id}/reject"),
        reject_fields(lang, "NO_DATA", "", None),
        Vec::new(),
        None,
        false,
        format!("/messages/{id}"),
        None,
        StatusCode::OK,
    )
}

/// `POST /messages/{id}/reject`.
pub async fn send_reject(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    if let Some(refused) = user.refuse_without_csrf(&fields) {
        return refused;
    }
    let (request, _, caller) = match to_answer(&state, &user, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let code_text = field(&fields, "code").unwrap_or_default();
    let text = field(&fields, "text").unwrap_or_default();
    let again = |general: Vec<String>, error: Option<&str>| {
        compose_page(
            &user,
            "inbox",
            lang.t("reject_form").to_owned(),
            Some(format!("{} {request}", lang.t("request"))),
            format!("/messages/{id}/reject"),
            reject_fields(lang, &code_text, &text, error),
            general,
            None,
            false,
            format!("/messages/{id}"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let Some(code) = RejectCode::parse(&code_text) else {
        return again(
            vec![format!("{}: {code_text}", lang.t("reject_code"))],
            None,
        );
    };
    if text.trim().is_empty() {
        let required = if lang == Lang::Ru {
            "Укажите причину отказа"
        } else {
            "Give the reason"
        };
        return again(Vec::new(), Some(required));
    }
    match respond(
        &state,
        &user,
        &caller,
        request.clone(),
        OutgoingAnswer::Rejected(vec![(code, text.trim().to_owned())]),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/messages/{id}")).into_response(),
        Err(e) => again(vec![format!("{e} ({})", e.code())], None),
    }
}

fn status_fields(lang: Lang, code: &str, text: &str) -> String {
    format!(
        "<p><label for=\"st-code\">{}</label><input id=\"st-code\" name=\"code\" type=\"number\" inputmode=\"numeric\" required value=\"{}\"></p>\
         <p><label for=\"st-text\">{}</label><textarea id=\"st-text\" name=\"text\" rows=\"3\" required>{}</textarea></p>",
        esc(lang.t("status_code")),
        esc(code),
        esc(lang.t("status_text")),
        esc(text)
    )
}

/// `GET /messages/{id}/status`.
pub async fn status_form(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let lang = user.lang;
    let (request, _, _) = match to_answer(&state, &user, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    compose_page(
        &user,
        "inbox",
        lang.t("status_form").to_owned(),
        Some(format!("{} {request}", lang.t("request"))),
        format!("/messages/{id}/status"),
        status_fields(lang, "1", ""),
        Vec::new(),
        None,
        false,
        format!("/messages/{id}"),
        None,
        StatusCode::OK,
    )
}

/// `POST /messages/{id}/status`.
pub async fn send_status(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    if let Some(refused) = user.refuse_without_csrf(&fields) {
        return refused;
    }
    let (request, _, caller) = match to_answer(&state, &user, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let code_text = field(&fields, "code").unwrap_or_default();
    let text = field(&fields, "text").unwrap_or_default();
    let again = |general: Vec<String>| {
        compose_page(
            &user,
            "inbox",
            lang.t("status_form").to_owned(),
            Some(format!("{} {request}", lang.t("request"))),
            format!("/messages/{id}/status"),
            status_fields(lang, &code_text, &text),
            general,
            None,
            false,
            format!("/messages/{id}"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let Ok(code) = code_text.trim().parse::<i32>() else {
        return again(vec![format!("{}: «{code_text}»", lang.t("status_code"))]);
    };
    let answer = OutgoingAnswer::Status {
        code,
        description: text.trim().to_owned(),
        parameters: Vec::new(),
    };
    match respond(&state, &user, &caller, request.clone(), answer).await {
        Ok(_) => Redirect::to(&format!("/messages/{id}")).into_response(),
        Err(e) => again(vec![format!("{e} ({})", e.code())]),
    }
}

#[derive(Debug)]
pub(crate) struct DraftRow {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) saved: String,
    pub(crate) href: String,
}

#[derive(Template)]
#[template(path = "drafts.html")]
struct DraftsPage {
    c: Chrome,
    csrf: String,
    drafts: Vec<DraftRow>,
}

/// `GET /drafts`.
pub async fn drafts(State(state): State<WebState>, user: SignedIn) -> Response {
    let lang = user.lang;
    let list = match state
        .bus
        .store()
        .drafts(&user.session.principal.actor)
        .await
    {
        Ok(l) => l,
        Err(e) => {
            return user_error(
                &user,
                StatusCode::SERVICE_UNAVAILABLE,
                lang.t("error"),
                &e.to_string(),
            );
        }
    };
    let drafts = list
        .into_iter()
        .map(|d| DraftRow {
            href: match (&d.request_id, d.form.as_str()) {
                (Some(r), "response") => format!("/messages/{r}/answer?draft={}", d.id),
                _ => format!("/new/{}?draft={}", d.vs_id, d.id),
            },
            id: d.id,
            title: d.title,
            saved: when(d.updated_at),
        })
        .collect();
    page(&DraftsPage {
        c: Chrome::of(&user, "drafts", "/drafts"),
        csrf: user.session.csrf.clone(),
        drafts,
    })
}

/// `POST /drafts/{id}/delete`.
pub async fn delete_draft(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    if let Some(refused) = user.refuse_without_csrf(&fields) {
        return refused;
    }
    if let Err(e) = state
        .bus
        .store()
        .delete_draft(&id, &user.session.principal.actor)
        .await
    {
        return user_error(
            &user,
            StatusCode::SERVICE_UNAVAILABLE,
            lang.t("error"),
            &e.to_string(),
        );
    }
    Redirect::to("/drafts").into_response()
}
