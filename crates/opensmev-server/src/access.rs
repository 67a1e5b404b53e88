//! The call log: one line per SOAP call at INFO (target `opensmev::access`) — node, remote
//! address, schema version, operation, caller IS, MessageID, outcome (HTTP status; for a fault
//! its element, `SMEV-nnn` code and reason), duration, bytes in and out.
//!
//! The call's context is a `call` span: `soap.rs` opens it, the handler and the bus record what
//! they learn into it (`op`, `message_id`, `caller`, `bytes_in`), and [`finish`] writes the line
//! inside it, so both the text and the JSON format carry every field. Fault texts may quote values
//! of the business content (libxml2's schema messages do); [`scrub`] masks them: no personal data
//! in logs.

use std::time::Instant;

use axum::http::header;
use axum::response::Response;
use http_body::Body as _;

/// What a fault answer was, attached to the response by `soap.rs` for the call log.
#[derive(Debug, Clone)]
pub(crate) struct FaultInfo {
    /// The fault element (`SignatureVerificationFault`, …).
    pub(crate) element: &'static str,
    /// `SMEV-nnn`.
    pub(crate) code: String,
    /// The fault's description.
    pub(crate) reason: String,
}

/// The node's name in the log: `node_name`, else the host name.
pub(crate) fn node(config: &crate::config::Config) -> &str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match &config.node_name {
        Some(name) => name,
        None => HOST.get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "opensmev".to_owned())
        }),
    }
}

/// The span of one call; fields not known yet are recorded later.
fn span(
    node: &str,
    remote: Option<std::net::SocketAddr>,
    method: &str,
    path: &str,
) -> tracing::Span {
    let remote = remote.map_or_else(|| "-".to_owned(), |r| r.to_string());
    tracing::info_span!(
        "call",
        node = %node,
        remote = %remote,
        method = %method,
        path = %path,
        version = tracing::field::Empty,
        op = tracing::field::Empty,
        caller = tracing::field::Empty,
        message_id = tracing::field::Empty,
        bytes_in = tracing::field::Empty,
    )
}

/// The middleware that gives every call its span and its line.
pub(crate) async fn log_calls(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::app::State>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use tracing::Instrument as _;
    let started = Instant::now();
    let remote = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let span = span(
        node(&state.config),
        remote,
        request.method().as_str(),
        request.uri().path(),
    );
    let response = next.run(request).instrument(span.clone()).await;
    finish(&span, &response, started);
    response
}

/// The longest reason written, in characters.
const REASON_CHARS: usize = 500;

/// Writes the call's line.
pub(crate) fn finish(span: &tracing::Span, response: &Response, started: Instant) {
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let duration_ms = (duration_ms * 10.0).round() / 10.0;
    let bytes_out = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| response.body().size_hint().exact());
    let bytes_out = bytes_out.map_or_else(|| "-".to_owned(), |n| n.to_string());
    span.in_scope(|| match response.extensions().get::<FaultInfo>() {
        None => tracing::info!(
            target: "opensmev::access",
            status,
            duration_ms,
            bytes_out = %bytes_out,
            "answered"
        ),
        Some(fault) => tracing::info!(
            target: "opensmev::access",
            status,
            fault = fault.element,
            code = %fault.code,
            reason = %scrub(&fault.reason, REASON_CHARS),
            duration_ms,
            bytes_out = %bytes_out,
            "refused"
        ),
    });
}

/// `text` cut to `max` characters, with every quoted value masked except the names a schema
/// message puts in quotes (`Element '…'`, `attribute '…'`, `facet '…'`, `type '…'`, `pattern
/// '…'`, `namespace '…'`) — the values are the sender's data.
pub(crate) fn scrub(text: &str, max: usize) -> String {
    const NAMES: [&str; 7] = [
        "element",
        "attribute",
        "facet",
        "type",
        "pattern",
        "namespace",
        "elements",
    ];
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut rest = text;
    while let Some(open) = rest.find('\'') {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        let after = &after[1..];
        let Some(close) = after.find('\'') else {
            out.push('\'');
            rest = after;
            continue;
        };
        let word = before
            .trim_end()
            .rsplit(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("")
            .to_lowercase();
        out.push('\'');
        if NAMES.contains(&word.as_str()) {
            out.push_str(&after[..close]);
        } else {
            out.push('…');
        }
        out.push('\'');
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    opensmev_xmldsig::xml::cut_chars(&out, max).into_owned()
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn values_are_masked_and_names_kept() {
        let libxml = "Element '{urn://x}Snils': [facet 'pattern'] The value '11223344595' is not accepted by the pattern '\\d{3}-\\d{3}-\\d{3} \\d{2}'.";
        assert_eq!(
            scrub(libxml, 500),
            "Element '{urn://x}Snils': [facet 'pattern'] The value '…' is not accepted by the pattern '\\d{3}-\\d{3}-\\d{3} \\d{2}'."
        );
        assert_eq!(
            scrub(
                "Element 'BirthDate': 'Иванов' is not a valid value of the atomic type 'xs:date'.",
                500
            ),
            "Element 'BirthDate': '…' is not a valid value of the atomic type 'xs:date'."
        );
        assert_eq!(scrub("no quotes here", 500), "no quotes here");
        assert_eq!(scrub("an ' unbalanced quote", 500), "an ' unbalanced quote");
        assert_eq!(scrub("абвгд", 3), "абв…");
    }
}
