//! Reading request bodies: the media type a request declares, the length it declares, its bytes
//! within a limit, and JSON objects. Every refusal is a problem document (400, 413, 415).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::{ApiState, Problem};

/// The request's `Content-Type` as given (empty when absent or not text).
pub(crate) fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The media type of a `Content-Type` without its parameters, in lower case.
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// 413 when the request declares (`Content-Length`) a body larger than `limit` bytes: refused
/// before a byte of it is read.
pub(crate) fn refuse_declared_over(headers: &HeaderMap, limit: usize) -> Result<(), Problem> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u128>().ok());
    if declared.is_some_and(|n| n > limit as u128) {
        return Err(Problem::too_large(limit));
    }
    Ok(())
}

/// The whole body, at most `limit` bytes (413 beyond).
pub(crate) async fn bytes(body: Body, limit: usize) -> Result<Bytes, Problem> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Problem::too_large(limit))
}

/// The JSON body of an administrative call: `application/json` only (415 otherwise), at most
/// `max_body_bytes`, an object (see [`json_object`]).
pub(crate) async fn json_body<T: DeserializeOwned>(
    state: &ApiState,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, Problem> {
    let content_type = content_type(headers);
    if essence(content_type) != "application/json" {
        return Err(Problem::unsupported_media_type(
            content_type,
            "application/json",
        ));
    }
    json_object(&bytes(body, state.settings.max_body_bytes).await?)
}

/// Reads a JSON request body that the document describes as an object. serde would also take
/// a struct as an array of its fields in order (`[null, null]`); the API takes only the object.
pub(crate) fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let malformed = |detail: String| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "api.malformed-json",
            "Неверный JSON / Malformed JSON",
            detail,
        )
    };
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => return Err(malformed("the JSON body must be an object".into())),
        None => return Err(malformed("the JSON body is empty".into())),
    }
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        malformed(if path == "." {
            format!("the JSON body cannot be read: {inner}")
        } else {
            format!("the JSON body cannot be read: at {path}: {inner}")
        })
    })?;
    reader
        .end()
        .map_err(|e| malformed(format!("the JSON body cannot be read: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Change {
        disabled: Option<bool>,
        #[allow(dead_code)]
        password: Option<String>,
    }

    #[test]
    fn json_bodies_are_objects_only() {
        let change: Change = json_object(b" {\"disabled\": true}").unwrap();
        assert_eq!(change.disabled, Some(true));
        for body in [
            &b"[null, null]"[..],
            b"null",
            b"",
            b"  ",
            b"42",
            b"{\"x\": 1}",
            b"{",
        ] {
            let problem = json_object::<Change>(body).expect_err("refused");
            assert_eq!(problem.status, 400, "{body:?}");
            assert_eq!(problem.code, "api.malformed-json", "{body:?}");
        }
    }

    #[test]
    fn media_types_and_declared_lengths() {
        assert_eq!(
            essence(" Application/JSON ; charset=utf-8"),
            "application/json"
        );
        assert_eq!(essence(""), "");
        let mut headers = HeaderMap::new();
        assert_eq!(content_type(&headers), "");
        assert!(refuse_declared_over(&headers, 10).is_ok());
        headers.insert(header::CONTENT_LENGTH, "10".parse().unwrap());
        assert!(refuse_declared_over(&headers, 10).is_ok());
        headers.insert(header::CONTENT_LENGTH, " 11".parse().unwrap());
        let problem = refuse_declared_over(&headers, 10).expect_err("refused");
        assert_eq!(problem.status, 413);
        assert_eq!(problem.code, "api.body-too-large");
    }
}
