//! The journal pages: the consumer's sent requests, the provider's inbox, everything for the
//! bus's own staff, and a message's page (document, answers, signatures, timeline, raw XML) with
//! its downloads.

use askama::Template;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderValue, StatusCode, header};
use opensmev_core::integration::DeliveredBody;
use opensmev_core::journal::{MessageView, ReadError};
use opensmev_store::{MessageQuery, StoredMessage};
use opensmev_types::{InteractionStatus, MessageId, MessageKind};
use serde::Deserialize;
use time::{Date, OffsetDateTime, Time};

use super::{Chrome, page, status_text, statuses, url_encode, user_error, when};
use crate::WebState;
use crate::i18n::Lang;
use crate::render;
use crate::session::SignedIn;

/// `GET /`: the user's start page.
pub async fn home(user: SignedIn) -> Response {
    let _ = user;
    Redirect::to("/messages").into_response()
}

/// The list's filters, as typed.
/// The list's filters, as typed.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct Filter {
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) from: String,
    #[serde(default)]
    pub(crate) to: String,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) text: String,
    #[serde(default)]
    pub(crate) client_id: String,
    #[serde(default)]
    pub(crate) cursor: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) sent_at: String,
    pub(crate) kind: String,
    pub(crate) sender: String,
    pub(crate) recipient: String,
    pub(crate) status: String,
    pub(crate) status_code: String,
    pub(crate) client_id: Option<String>,
}

#[derive(Template)]
#[template(path = "messages.html")]
struct ListPage {
    c: Chrome,
    heading: String,
    action: &'static str,
    filter: Filter,
    kinds: Vec<(String, String)>,
    statuses: Vec<(String, String)>,
    rows: Vec<Row>,
    next: Option<String>,
}

const PAGE: u32 = 50;

fn day(text: &str, end: bool) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(text.trim(), format).ok()?;
    let t = if end { Time::MAX } else { Time::MIDNIGHT };
    // Days are Moscow days.
    Some(
        date.with_time(t)
            .assume_offset(time::UtcOffset::from_hms(3, 0, 0).ok()?),
    )
}

async fn listing(
    state: WebState,
    user: SignedIn,
    filter: Filter,
    inbox: bool,
    raw: Option<String>,
) -> Response {
    let lang = user.lang;
    let own = user.system().cloned();
    let mut query = MessageQuery {
        kind: Some(MessageKind::Request),
        vs_id: Some(filter.kind.clone()).filter(|k| !k.is_empty()),
        from: day(&filter.from, false),
        to: day(&filter.to, true),
        status: InteractionStatus::from_code(&filter.status),
        text: Some(filter.text.clone()).filter(|t| !t.is_empty()),
        client_id: Some(filter.client_id.clone()).filter(|t| !t.is_empty()),
        before: filter.cursor,
        limit: PAGE + 1,
        ..MessageQuery::default()
    };
    match &own {
        Some(own) if inbox => query.recipient = Some(own.clone()),
        Some(own) => query.sender = Some(own.clone()),
        None => query.kind = None,
    }
    let mut found = match state
        .bus
        .search_messages_as(&user.session.principal, query)
        .await
    {
        Ok(found) => found,
        Err(e) => return read_error(&user, e),
    };
    let next = (found.len() > PAGE as usize).then(|| {
        found.truncate(PAGE as usize);
        let last = found.last().map(|m| m.seq).unwrap_or_default();
        let rest: String = raw
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.starts_with("cursor=") && !p.is_empty())
            .map(|p| format!("{p}&"))
            .collect();
        format!(
            "{}?{rest}cursor={last}",
            if inbox { "/inbox" } else { "/messages" }
        )
    });
    let registry = state.bus.registry();
    let title = |vs: &str| {
        registry
            .kind(vs)
            .map(|k| k.entry.title.clone())
            .unwrap_or_else(|| vs.to_owned())
    };
    let rows = found
        .into_iter()
        .map(|m| Row {
            id: m.id.to_string(),
            sent_at: when(m.sent_at),
            kind: title(&m.vs_id),
            sender: m.sender.to_string(),
            recipient: m.recipient.to_string(),
            status: status_text(m.status, lang).to_owned(),
            status_code: m.status.code().to_owned(),
            client_id: m.client_id,
        })
        .collect();
    let kinds = registry
        .kinds()
        .map(|k| (k.entry.id.clone(), k.entry.title.clone()))
        .collect();
    let (heading, section) = match (&own, inbox) {
        (Some(_), true) => (lang.t("inbox"), "inbox"),
        (Some(_), false) => (lang.t("sent_requests"), "sent"),
        (None, _) => (lang.t("messages"), "sent"),
    };
    let here = if inbox { "/inbox" } else { "/messages" };
    page(&ListPage {
        c: Chrome::of(&user, section, here),
        heading: heading.to_owned(),
        action: if inbox { "/inbox" } else { "/messages" },
        filter,
        kinds,
        statuses: statuses(lang),
        rows,
        next,
    })
}

/// `GET /messages`: an operator's sent requests (or, for the bus's staff, every message).
pub async fn list(
    State(state): State<WebState>,
    user: SignedIn,
    RawQuery(raw): RawQuery,
    Query(filter): Query<Filter>,
) -> Response {
    listing(state, user, filter, false, raw).await
}

/// `GET /inbox`: the requests addressed to the operator's information system.
pub async fn inbox(
    State(state): State<WebState>,
    user: SignedIn,
    RawQuery(raw): RawQuery,
    Query(filter): Query<Filter>,
    Query(cases_filter): Query<super::cases::CaseFilter>,
) -> Response {
    let Some(system) = user.system().cloned() else {
        return Redirect::to("/messages").into_response();
    };
    // A system with cabinet settings works with cases (departments, deadlines).
    match state.bus.cabinet_settings(&system).await {
        Ok(Some((settings, _))) => {
            return super::cases::inbox(&state, &user, &system, settings, cases_filter, raw).await;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "reading cabinet settings");
        }
    }
    listing(state, user, filter, true, raw).await
}

pub(crate) fn read_error(user: &SignedIn, e: ReadError) -> Response {
    let lang = user.lang;
    match e {
        ReadError::NotFound => user_error(
            user,
            StatusCode::NOT_FOUND,
            lang.t("error"),
            match lang {
                Lang::Ru => "Такого сообщения нет",
                Lang::En => "There is no such message",
            },
        ),
        ReadError::Denied(d) => user_error(user, StatusCode::FORBIDDEN, lang.t("error"), &d.reason),
        ReadError::Store(e) => {
            tracing::error!(error = %e, "reading the journal");
            user_error(
                user,
                StatusCode::SERVICE_UNAVAILABLE,
                lang.t("error"),
                "the store is unavailable",
            )
        }
    }
}

/// Reads a message the user may see (404 for others, as if it did not exist).
pub(crate) async fn visible(
    state: &WebState,
    user: &SignedIn,
    id: &str,
) -> Result<MessageView, Response> {
    let Ok(id) = MessageId::parse(id) else {
        return Err(read_error(user, ReadError::NotFound));
    };
    state
        .bus
        .message_as(&user.session.principal, &id)
        .await
        .map_err(|e| read_error(user, e))
}

#[derive(Debug)]
pub(crate) struct Sig {
    pub(crate) role: String,
    pub(crate) valid: bool,
    pub(crate) why: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) system: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) id: String,
    pub(crate) sent_at: String,
    pub(crate) what: String,
    pub(crate) document: String,
}

#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) at: String,
    pub(crate) what: String,
    pub(crate) detail: Option<String>,
    pub(crate) actor: String,
    pub(crate) node: String,
}

/// The case panel of a request the user's system handles in the cabinet.
#[derive(Debug)]
pub(crate) struct CasePanel {
    pub(crate) department: String,
    pub(crate) due: String,
    pub(crate) marker: &'static str,
    pub(crate) marker_text: String,
    pub(crate) departments: Vec<(String, String)>,
    pub(crate) current: String,
    pub(crate) open: bool,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    case: Option<CasePanel>,
    csrf: String,
    c: Chrome,
    title: String,
    id: String,
    vs_id: String,
    kind: String,
    sender: String,
    recipient: String,
    sent_at: String,
    status: String,
    status_code: String,
    client_id: Option<String>,
    can_answer: bool,
    can_copy: bool,
    document: String,
    answers: Vec<Answer>,
    signatures: Vec<Sig>,
    attachments: Vec<(String, String, u64)>,
    timeline: Vec<Event>,
    xml: String,
}

/// The attachments' bytes for signature checks (none above this total: not read into memory).
const MAX_CHECKED_ATTACHMENTS: u64 = 16 * 1024 * 1024;

async fn open(
    state: &WebState,
    stored: &StoredMessage,
) -> Result<opensmev_core::integration::Opened, String> {
    let total: u64 = stored
        .message
        .attachments
        .iter()
        .map(|a| a.data.len())
        .sum();
    let blobs: Vec<opensmev_store::Blob> = stored
        .message
        .attachments
        .iter()
        .map(|a| a.data.clone())
        .collect();
    let contents = if total <= MAX_CHECKED_ATTACHMENTS {
        tokio::task::spawn_blocking(move || {
            blobs
                .iter()
                .map(|b| b.to_vec().unwrap_or_default())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default()
    } else {
        vec![Vec::new(); stored.message.attachments.len()]
    };
    state.bus.open_delivered(stored, &contents)
}

/// The labels of a kind's elements (from its form model), for documents.
pub(crate) fn labels(state: &WebState, vs_id: &str) -> std::collections::HashMap<String, String> {
    let registry = state.bus.registry();
    let Some(kind) = registry.kind(vs_id) else {
        return Default::default();
    };
    let Ok(Some(schema)) = state.forms.schema(kind) else {
        return Default::default();
    };
    let mut all = std::collections::HashMap::new();
    for root in std::iter::once(&kind.request).chain(kind.responses.iter()) {
        if let Ok(form) = schema.form(&root.ns, &root.local) {
            for (k, v) in render::labels_of(&form) {
                all.entry(k).or_insert(v);
            }
        }
    }
    all
}

fn body_html(
    body: &DeliveredBody,
    labels: &std::collections::HashMap<String, String>,
    lang: Lang,
) -> (String, String) {
    match body {
        DeliveredBody::Business(xml) => (
            render::document(xml, labels, lang),
            lang.t("response").to_owned(),
        ),
        DeliveredBody::Rejected(reasons) => {
            let mut html = String::from("<dl class=\"doc-values\">");
            for (code, text) in reasons {
                html.push_str(&format!(
                    "<div><dt>{}</dt><dd><code>{}</code> {}</dd></div>",
                    render::esc(lang.t("reject_code")),
                    render::esc(code),
                    render::esc(text)
                ));
            }
            html.push_str("</dl>");
            (html, lang.t("reject").to_owned())
        }
        DeliveredBody::Status {
            code,
            description,
            parameters,
        } => {
            let mut html = format!(
                "<dl class=\"doc-values\"><div><dt>{}</dt><dd><code>{}</code> {}</dd></div>",
                render::esc(lang.t("status_code")),
                render::esc(code),
                render::esc(description)
            );
            for (k, v) in parameters {
                html.push_str(&format!(
                    "<div><dt>{}</dt><dd>{}</dd></div>",
                    render::esc(k),
                    render::esc(v)
                ));
            }
            html.push_str("</dl>");
            (html, lang.t("status_form").to_owned())
        }
    }
}

/// The document of an answer: the kind's print form (XSLT) when it has one, else the labelled
/// document of [`body_html`].
async fn answer_html(
    state: &WebState,
    vs_id: &str,
    body: &DeliveredBody,
    labels: &std::collections::HashMap<String, String>,
    lang: Lang,
) -> (String, String) {
    let form = state
        .bus
        .registry()
        .kind(vs_id)
        .and_then(|k| k.print_form.clone());
    if let (Some(form), DeliveredBody::Business(xml)) = (form, body) {
        let xml = xml.clone();
        match tokio::task::spawn_blocking(move || form.apply(&xml)).await {
            // The form is the registry's (an administrator's) HTML; the values in it are
            // escaped by the XSLT processor.
            Ok(Ok(html)) => {
                return (
                    format!("<div class=\"print-form-out\">{html}</div>"),
                    lang.t("response").to_owned(),
                );
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, vs_id, "the kind's print form failed; showing the document")
            }
            Err(e) => {
                tracing::warn!(error = %e, vs_id, "the kind's print form failed; showing the document")
            }
        }
    }
    body_html(body, labels, lang)
}

fn event_text(kind: opensmev_store::JournalKind, lang: Lang) -> &'static str {
    use opensmev_store::JournalKind as J;
    let (ru, en) = match kind {
        J::Accepted => ("принято", "accepted"),
        J::Delivered => ("доставлено", "delivered"),
        J::Redelivered => ("доставлено повторно", "delivered again"),
        J::Released => ("возвращено в очередь", "released"),
        J::Acked => ("подтверждено", "acknowledged"),
        J::Refused => ("отвергнуто получателем", "refused by the recipient"),
        J::Answered => ("получен ответ", "answered"),
        J::StatusChanged => ("изменён статус", "status changed"),
        J::Expired => ("истёк срок (EOL)", "expired (EOL)"),
        J::Undeliverable => ("недоставляемо", "undeliverable"),
        J::PushAttempt => ("попытка отправки получателю", "push attempt"),
        J::DeadLettered => ("в очереди недоставленных", "dead-lettered"),
        J::Replayed => ("отправлено повторно из недоставленных", "replayed"),
    };
    if lang == Lang::Ru { ru } else { en }
}

/// `GET /messages/{id}`.
pub async fn show(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let lang = user.lang;
    let view = match visible(&state, &user, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let m = &view.stored.message;
    let labels = labels(&state, &m.vs_id);
    let (document, signatures) = match open(&state, &view.stored).await {
        Ok(opened) => (
            if m.kind == MessageKind::Response {
                answer_html(&state, &m.vs_id, &opened.body, &labels, lang)
                    .await
                    .0
            } else {
                body_html(&opened.body, &labels, lang).0
            },
            sigs(&opened.signatures),
        ),
        Err(e) => (
            format!("<p class=\"error\">{}</p>", render::esc(&e)),
            Vec::new(),
        ),
    };
    // The answers to a request.
    let mut answers = Vec::new();
    for (summary, opened) in answers_of(&state, &user, m).await {
        let (document, what) = match opened {
            Ok(opened) => answer_html(&state, &m.vs_id, &opened.body, &labels, lang).await,
            Err(e) => (render::esc(&e), lang.t("response").to_owned()),
        };
        answers.push(Answer {
            id: summary.id.to_string(),
            sent_at: when(summary.sent_at),
            what,
            document,
        });
    }
    let registry = state.bus.registry();
    let kind_title = registry
        .kind(&m.vs_id)
        .map(|k| k.entry.title.clone())
        .unwrap_or_else(|| m.vs_id.clone());
    let own = user.system();
    let can_answer = m.kind == MessageKind::Request && own == Some(&m.recipient);
    let can_copy = m.kind == MessageKind::Request && own == Some(&m.sender);
    let title = format!(
        "{} {}",
        if m.kind == MessageKind::Request {
            lang.t("request")
        } else {
            lang.t("response")
        },
        m.id
    );
    // The case, for the system that handles the request in the cabinet.
    let mut case = None;
    let mut case_events = Vec::new();
    if can_answer
        && let Some(own) = own
        && let Ok(Some((settings, _))) = state.bus.cabinet_settings(own).await
    {
        let _ = state
            .bus
            .sync_cases(own, opensmev_core::cases::SYNC_BATCH)
            .await;
        if let Ok(Some((c, events))) = state.bus.case_as(&user.session.principal, &m.id).await {
            let (marker, marker_text) = super::cases::marker(&c, state.bus.now(), lang);
            let name = |id: &Option<String>| match id {
                Some(id) => settings
                    .department(id)
                    .map(|d| d.name.clone())
                    .unwrap_or_else(|| id.clone()),
                None => lang.t("not_assigned").to_owned(),
            };
            case = Some(CasePanel {
                department: name(&c.department),
                due: c.due_at.map(when).unwrap_or_else(|| "—".to_owned()),
                marker,
                marker_text,
                departments: settings
                    .departments
                    .iter()
                    .map(|d| (d.id.clone(), d.name.clone()))
                    .collect(),
                current: c.department.clone().unwrap_or_default(),
                open: c.closed_at.is_none(),
            });
            case_events = events;
        }
    }
    let here = format!("/messages/{}", m.id);
    page(&MessagePage {
        csrf: user.session.csrf.clone(),
        c: Chrome::of(&user, if can_answer { "inbox" } else { "sent" }, &here),
        title,
        id: m.id.to_string(),
        vs_id: m.vs_id.clone(),
        kind: kind_title,
        sender: m.sender.to_string(),
        recipient: m.recipient.to_string(),
        sent_at: when(m.sent_at),
        status: status_text(view.stored.status, lang).to_owned(),
        status_code: view.stored.status.code().to_owned(),
        client_id: m.client_id.clone(),
        can_answer,
        can_copy,
        document,
        answers,
        signatures,
        attachments: m
            .attachments
            .iter()
            .map(|a| (a.content_id.clone(), a.mime_type.clone(), a.data.len()))
            .collect(),
        timeline: {
            let mut rows: Vec<(OffsetDateTime, Event)> = view
                .events
                .iter()
                .map(|e| {
                    (
                        e.at,
                        Event {
                            at: when(e.at),
                            what: event_text(e.kind, lang).to_owned(),
                            detail: e.detail.as_deref().map(|d| event_detail(e.kind, d, lang)),
                            actor: e.actor.clone().unwrap_or_else(|| "СМЭВ".to_owned()),
                            node: e.node.clone().unwrap_or_default(),
                        },
                    )
                })
                .collect();
            rows.extend(case_events.iter().map(|e| {
                (
                    e.at,
                    Event {
                        at: when(e.at),
                        what: case_event_text(&e.action, lang).to_owned(),
                        detail: e.detail.clone(),
                        actor: e.actor.clone(),
                        node: String::new(),
                    },
                )
            }));
            rows.sort_by_key(|(at, _)| *at);
            rows.into_iter().map(|(_, e)| e).collect()
        },
        case,
        xml: render::xml_viewer(&m.sender_data, lang),
    })
}

/// A journal event's detail in the page's language: the store writes stable English forms
/// (`from MFC01`, `response <id>`, a status code).
fn event_detail(kind: opensmev_store::JournalKind, detail: &str, lang: Lang) -> String {
    use opensmev_store::JournalKind as J;
    if lang == Lang::En {
        return detail.to_owned();
    }
    match kind {
        J::Accepted => match detail.strip_prefix("from ") {
            Some(sender) => format!("от {sender}"),
            None => detail.to_owned(),
        },
        J::Answered => match detail.strip_prefix("response ") {
            Some(id) => format!("ответ {id}"),
            None => detail.to_owned(),
        },
        J::StatusChanged => match InteractionStatus::from_code(detail.trim()) {
            Some(status) => status_text(status, lang).to_owned(),
            None => detail.to_owned(),
        },
        _ => detail.to_owned(),
    }
}

fn case_event_text(action: &str, lang: Lang) -> &'static str {
    let (ru, en) = match action {
        "assigned" => ("назначено подразделению", "assigned to a department"),
        "reassigned" => ("передано в другое подразделение", "reassigned"),
        "answered" => ("дан ответ", "answered"),
        "rejected" => ("отказано", "rejected"),
        "status" => ("отправлен промежуточный статус", "intermediate status sent"),
        _ => ("действие", "action"),
    };
    if lang == Lang::Ru { ru } else { en }
}

fn sigs(checks: &[opensmev_core::integration::SignatureCheck]) -> Vec<Sig> {
    checks
        .iter()
        .map(|s| Sig {
            role: match &s.attachment {
                Some(a) => format!("{} ({a})", s.role.label()),
                None => s.role.label().to_owned(),
            },
            valid: s.valid,
            why: s.failure.as_ref().map(|(c, t)| format!("{c}: {t}")),
            subject: s.certificate_subject.clone(),
            system: s.registered_system.clone(),
        })
        .collect()
}

/// The answers to request `m` that the user may read, oldest first, each opened (none for a
/// response).
async fn answers_of(
    state: &WebState,
    user: &SignedIn,
    m: &opensmev_store::NewMessage,
) -> Vec<(
    opensmev_store::MessageSummary,
    Result<opensmev_core::integration::Opened, String>,
)> {
    let mut out = Vec::new();
    if m.kind != MessageKind::Request {
        return out;
    }
    let query = MessageQuery {
        original_message_id: Some(m.id.clone()),
        limit: 50,
        ..MessageQuery::default()
    };
    let principal = &user.session.principal;
    let Ok(found) = state.bus.search_messages_as(principal, query).await else {
        return out;
    };
    for summary in found.into_iter().rev() {
        if let Ok(answer) = state.bus.message_as(principal, &summary.id).await {
            let opened = open(state, &answer.stored).await;
            out.push((summary, opened));
        }
    }
    out
}

fn download(content_type: &'static str, name: String, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET /messages/{id}/xml`: the business content as XML (the sender's data when it carries no
/// business content).
pub async fn download_xml(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let view = match visible(&state, &user, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let xml = match open(&state, &view.stored).await {
        Ok(opened) => match opened.body {
            DeliveredBody::Business(xml) => xml,
            _ => view.stored.message.sender_data.clone(),
        },
        Err(_) => view.stored.message.sender_data.clone(),
    };
    download("application/xml; charset=utf-8", format!("{id}.xml"), xml)
}

/// The printed blocks of a delivered body.
fn body_blocks(
    body: &DeliveredBody,
    labels: &std::collections::HashMap<String, String>,
    lang: Lang,
) -> Vec<opensmev_print::Block> {
    use opensmev_print::Block;
    match body {
        DeliveredBody::Business(xml) => render::print_blocks(xml, labels),
        DeliveredBody::Rejected(reasons) => reasons
            .iter()
            .map(|(code, text)| Block::Row {
                label: lang.t("reject_code").to_owned(),
                value: format!("{code} {text}"),
            })
            .collect(),
        DeliveredBody::Status {
            code,
            description,
            parameters,
        } => {
            let mut rows = vec![Block::Row {
                label: lang.t("status_code").to_owned(),
                value: format!("{code} {description}"),
            }];
            rows.extend(parameters.iter().map(|(k, v)| Block::Row {
                label: k.clone(),
                value: v.clone(),
            }));
            rows
        }
    }
}

/// `GET /messages/{id}/document.pdf`: the message's content — and a request's answers — as a
/// PDF document (A4, the fonts embedded).
pub async fn download_pdf(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    use opensmev_print::{Block, Document};
    let lang = user.lang;
    let view = match visible(&state, &user, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let m = &view.stored.message;
    let labels = labels(&state, &m.vs_id);
    let mut body = match open(&state, &view.stored).await {
        Ok(opened) => body_blocks(&opened.body, &labels, lang),
        Err(e) => vec![Block::Row {
            label: lang.t("error").to_owned(),
            value: e,
        }],
    };
    for (summary, opened) in answers_of(&state, &user, m).await {
        if let Ok(opened) = opened {
            body.push(Block::Section {
                title: format!(
                    "{} {} · {}",
                    lang.t("response"),
                    summary.id,
                    when(summary.sent_at)
                ),
                body: body_blocks(&opened.body, &labels, lang),
            });
        }
    }
    let registry = state.bus.registry();
    let kind = registry
        .kind(&m.vs_id)
        .map(|k| k.entry.title.clone())
        .unwrap_or_else(|| m.vs_id.clone());
    let doc = Document {
        title: kind.clone(),
        meta: vec![
            (lang.t("message_id").to_owned(), m.id.to_string()),
            (lang.t("kind").to_owned(), m.vs_id.clone()),
            (lang.t("sender").to_owned(), m.sender.to_string()),
            (lang.t("recipient").to_owned(), m.recipient.to_string()),
            (lang.t("sent_at").to_owned(), when(m.sent_at)),
            (
                lang.t("status").to_owned(),
                status_text(view.stored.status, lang).to_owned(),
            ),
        ],
        body,
        footer: Some(format!("OpenSMEV · {}", when(state.bus.now()))),
    };
    match tokio::task::spawn_blocking(move || opensmev_print::pdf(&doc)).await {
        Ok(Ok(bytes)) => download("application/pdf", format!("{id}.pdf"), bytes),
        Ok(Err(e)) => user_error(
            &user,
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.t("error"),
            &e.to_string(),
        ),
        Err(e) => user_error(
            &user,
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.t("error"),
            &e.to_string(),
        ),
    }
}

/// `GET /messages/{id}/attachments/{n}`: an attachment's bytes (streamed from the store's file
/// when it is one), with its MIME type.
pub async fn download_attachment(
    State(state): State<WebState>,
    user: SignedIn,
    Path((id, n)): Path<(String, usize)>,
) -> Response {
    let lang = user.lang;
    let view = match visible(&state, &user, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(attachment) = view.stored.message.attachments.get(n).cloned() else {
        return user_error(
            &user,
            StatusCode::NOT_FOUND,
            lang.t("error"),
            &format!("{id}/{n}"),
        );
    };
    let body = match attachment.data {
        opensmev_store::Blob::Bytes(bytes) => axum::body::Body::from(bytes),
        opensmev_store::Blob::File { path, len } => {
            let file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "opening an attachment");
                    return user_error(
                        &user,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        lang.t("error"),
                        "the attachment cannot be read",
                    );
                }
            };
            let chunks = futures_util::stream::unfold((file, len), |(mut file, left)| async move {
                use tokio::io::AsyncReadExt as _;
                if left == 0 {
                    return None;
                }
                let mut buffer =
                    vec![0u8; usize::try_from(left.min(64 * 1024)).unwrap_or(64 * 1024)];
                match file.read(&mut buffer).await {
                    Ok(0) => Some((
                        Err(std::io::Error::other(
                            "the attachment file is shorter than recorded",
                        )),
                        (file, 0),
                    )),
                    Ok(read) => {
                        buffer.truncate(read);
                        Some((Ok::<_, std::io::Error>(buffer), (file, left - read as u64)))
                    }
                    Err(e) => Some((Err(e), (file, 0))),
                }
            });
            axum::body::Body::from_stream(chunks)
        }
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let mime = HeaderValue::from_str(&attachment.mime_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, mime);
    // The name as a token of safe characters (the id comes from the sender).
    let name: String = attachment
        .content_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET /messages/{id}/document.html`: the content as a printable HTML document.
pub async fn download_html(
    State(state): State<WebState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let lang = user.lang;
    let view = match visible(&state, &user, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let m = &view.stored.message;
    let labels = labels(&state, &m.vs_id);
    let body = match open(&state, &view.stored).await {
        Ok(opened) if m.kind == MessageKind::Response => {
            answer_html(&state, &m.vs_id, &opened.body, &labels, lang)
                .await
                .0
        }
        Ok(opened) => body_html(&opened.body, &labels, lang).0,
        Err(e) => render::esc(&e),
    };
    let title = state
        .bus
        .registry()
        .kind(&m.vs_id)
        .map(|k| k.entry.title.clone())
        .unwrap_or_else(|| m.vs_id.clone());
    let title = format!("{title} — {}", m.id);
    let _ = url_encode;
    download(
        "text/html; charset=utf-8",
        format!("{id}.html"),
        render::printable(&title, &body, lang),
    )
}

#[cfg(test)]
mod detail_tests {
    use super::*;

    #[test]
    fn journal_details_in_russian() {
        use opensmev_store::JournalKind as J;
        assert_eq!(
            event_detail(J::Accepted, "from MFC01", Lang::Ru),
            "от MFC01"
        );
        assert_eq!(
            event_detail(J::Answered, "response x-1", Lang::Ru),
            "ответ x-1"
        );
        assert_eq!(
            event_detail(J::StatusChanged, "responseIsQueued", Lang::Ru),
            "ответ в очереди"
        );
        assert_eq!(
            event_detail(J::StatusChanged, "something else", Lang::Ru),
            "something else"
        );
        assert_eq!(
            event_detail(J::Accepted, "from MFC01", Lang::En),
            "from MFC01"
        );
    }
}
