//! The cabinet's pages: what every page shares (the header's user bar, the language, error
//! pages, times and statuses in words).

pub mod auth;
pub mod cases;
pub mod compose;
pub mod messages;
pub mod prefs;

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use opensmev_types::InteractionStatus;
use time::OffsetDateTime;

use crate::i18n::Lang;
use crate::session::SignedIn;

/// The user in the header.
#[derive(Debug, Clone)]
pub struct UserBar {
    /// Login.
    pub login: String,
    /// Name.
    pub name: String,
    /// The information system worked for.
    pub system: Option<String>,
    /// The session's CSRF token (the logout form).
    pub csrf: String,
}

/// What the layout needs.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The language.
    pub lang: Lang,
    /// The signed-in user.
    pub user: Option<UserBar>,
    /// The section of the navigation to mark current.
    pub section: &'static str,
    /// This page's address, URL-encoded (the language switch comes back to it).
    pub back: String,
    /// A one-line notice.
    pub flash: Option<String>,
}

impl Chrome {
    /// The layout of a signed-in page.
    pub fn of(user: &SignedIn, section: &'static str, here: &str) -> Chrome {
        Chrome {
            lang: user.lang,
            user: Some(UserBar {
                login: user.session.principal.actor.clone(),
                name: user.session.name.clone(),
                system: user.system().map(|s| s.to_string()),
                csrf: user.session.csrf.clone(),
            }),
            section,
            back: url_encode(here),
            flash: None,
        }
    }

    /// The layout of a page before login.
    pub fn anonymous(lang: Lang, here: &str) -> Chrome {
        Chrome {
            lang,
            user: None,
            section: "",
            back: url_encode(here),
            flash: None,
        }
    }
}

/// Renders a template into a response (a template error is a 500 page, logged).
pub fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page cannot be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    c: Chrome,
    title: &'a str,
    detail: &'a str,
}

/// An error page.
pub fn error_page(lang: Lang, status: StatusCode, title: &str, detail: &str) -> Response {
    let mut response = page(&ErrorPage {
        c: Chrome::anonymous(lang, "/"),
        title,
        detail,
    });
    *response.status_mut() = status;
    response
}

/// An error page for a signed-in user (keeps the header).
pub fn user_error(user: &SignedIn, status: StatusCode, title: &str, detail: &str) -> Response {
    let mut response = page(&ErrorPage {
        c: Chrome::of(user, "", "/"),
        title,
        detail,
    });
    *response.status_mut() = status;
    response
}

/// Percent-encodes a text for a query value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A time for people: `ДД.ММ.ГГГГ ЧЧ:ММ:СС` in Moscow time (UTC+3), the bus's users' clock.
pub fn when(at: OffsetDateTime) -> String {
    let msk = at.to_offset(time::UtcOffset::from_hms(3, 0, 0).unwrap_or(time::UtcOffset::UTC));
    format!(
        "{:02}.{:02}.{} {:02}:{:02}:{:02} МСК",
        msk.day(),
        u8::from(msk.month()),
        msk.year(),
        msk.hour(),
        msk.minute(),
        msk.second()
    )
}

/// An interaction status in words.
pub fn status_text(status: InteractionStatus, lang: Lang) -> &'static str {
    use InteractionStatus as S;
    let (ru, en) = match status {
        S::DoesNotExist => ("не существует", "does not exist"),
        S::RequestIsQueued => ("запрос в очереди", "request queued"),
        S::RequestIsAcceptedBySmev => ("запрос принят СМЭВ", "request accepted by SMEV"),
        S::RequestIsRejectedBySmev => ("запрос отклонён СМЭВ", "request rejected by SMEV"),
        S::UnderProcessing => ("обрабатывается", "under processing"),
        S::ResponseIsAcceptedBySmev => ("ответ принят СМЭВ", "response accepted by SMEV"),
        S::ResponseIsRejectedBySmev => ("ответ отклонён СМЭВ", "response rejected by SMEV"),
        S::Cancelled => ("отменён", "cancelled"),
        S::MessageIsArchived => ("в архиве", "archived"),
        S::MessageIsDelivered => ("доставлен", "delivered"),
        S::RequestIsProcessed => ("запрос обработан", "request processed"),
        S::ResponseIsQueued => ("ответ в очереди", "response queued"),
        S::ResponseIsProcessed => ("ответ обработан", "response processed"),
    };
    if lang == Lang::Ru { ru } else { en }
}

/// The statuses offered in the filter: (code, words).
pub fn statuses(lang: Lang) -> Vec<(String, String)> {
    use InteractionStatus as S;
    [
        S::RequestIsQueued,
        S::RequestIsAcceptedBySmev,
        S::UnderProcessing,
        S::MessageIsDelivered,
        S::RequestIsProcessed,
        S::ResponseIsQueued,
        S::ResponseIsAcceptedBySmev,
        S::ResponseIsProcessed,
        S::Cancelled,
    ]
    .into_iter()
    .map(|s| (s.code().to_owned(), status_text(s, lang).to_owned()))
    .collect()
}
