//! RFC 9457 problem documents (`application/problem+json`): the only place errors of the API
//! become HTTP answers. Every problem has a stable machine `code`: the `SMEV-nnn` of the SOAP
//! fault where the error is a bus error, an `api.*` / `auth.*` code otherwise.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opensmev_core::auth::{AccessError, AuthError, Denied};
use opensmev_core::{BusError, IssueText};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:opensmev:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// The stable machine code (`SMEV-102`, `api.not-found`, `auth.token-expired`, …).
    pub code: String,
    /// The individual problems, when there are several or they have a place (XSD errors of
    /// business content: the element path, line and column).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemItem>,
}

/// One problem of a [`Problem`].
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ProblemItem {
    /// What is wrong.
    pub message: String,
    /// The request field it concerns (a JSON pointer or a parameter name), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Line in the business XML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    /// Column in the business XML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<i64>,
    /// The element the problem is in (from the validator's message), if named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
}

impl Problem {
    /// A problem with no items.
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Problem {
        let code = code.into();
        Problem {
            type_uri: format!("urn:opensmev:problem:{code}"),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            errors: Vec::new(),
        }
    }

    /// With items.
    pub fn with_errors(mut self, errors: Vec<ProblemItem>) -> Problem {
        self.errors = errors;
        self
    }

    /// 400: the request is not what the API takes (malformed JSON, bad parameter).
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "api.bad-request",
            "Неверный запрос / Bad request",
            detail,
        )
    }

    /// 422: a field has a value the API cannot take.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Problem {
        let message = message.into();
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "api.invalid-field",
            "Неверное значение поля / Invalid field value",
            format!("{field}: {message}"),
        )
        .with_errors(vec![ProblemItem {
            message,
            field: Some(field.to_owned()),
            ..ProblemItem::default()
        }])
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "api.not-found",
            "Не найдено / Not found",
            detail,
        )
    }

    /// 413.
    pub fn too_large(limit: usize) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "api.body-too-large",
            "Тело запроса слишком большое / The request body is too large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 400: a `multipart/form-data` body that cannot be read as the form asked for.
    pub(crate) fn bad_form(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "api.bad-form",
            "Неверная форма / Malformed multipart/form-data",
            detail,
        )
    }

    /// 409: what is to be made exists already.
    pub(crate) fn exists(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::CONFLICT,
            "api.exists",
            "Уже существует / Exists already",
            detail,
        )
    }

    /// 409: the registry changed since the version a change names (`If-Match`).
    pub(crate) fn registry_conflict(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::CONFLICT,
            "api.registry-conflict",
            "Реестр изменён другим пользователем / The registry was changed meanwhile",
            detail,
        )
    }

    /// 500 with `code`: the reason is logged, not told.
    pub(crate) fn internal(code: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            "Внутренняя ошибка СМЭВ / Internal failure",
            "the reason is in the server's log; retry later",
        )
    }

    /// 415.
    pub fn unsupported_media_type(given: &str, expected: &str) -> Problem {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "api.unsupported-media-type",
            "Тип содержимого не поддерживается / Unsupported media type",
            format!("Content-Type «{given}» is not accepted here; send {expected}"),
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"opensmev\""),
            );
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // Refused before the body was read whole: the rest is not read, so the connection
            // cannot carry another request (a client must not reuse it).
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Problem {
        if let AuthError::Unavailable(_) = &e {
            // The store failed: retryable, not a verdict on the token.
            return Problem::internal(e.code());
        }
        Problem::new(
            StatusCode::UNAUTHORIZED,
            e.code(),
            "Требуется действующий API-токен / A valid API token is required",
            e.to_string(),
        )
    }
}

impl From<opensmev_core::journal::ReadError> for Problem {
    fn from(e: opensmev_core::journal::ReadError) -> Problem {
        match e {
            opensmev_core::journal::ReadError::NotFound => Problem::not_found("no such message"),
            opensmev_core::journal::ReadError::Denied(d) => d.into(),
            opensmev_core::journal::ReadError::Store(e) => e.into(),
        }
    }
}

impl From<Denied> for Problem {
    fn from(e: Denied) -> Problem {
        Problem::new(
            StatusCode::FORBIDDEN,
            "auth.forbidden",
            "Действие запрещено для этой роли / Not allowed for this role",
            e.to_string(),
        )
    }
}

impl From<AccessError> for Problem {
    fn from(e: AccessError) -> Problem {
        match e {
            AccessError::Invalid { field, message } => Problem::invalid_field(field, message),
            AccessError::Exists(what) => Problem::exists(format!("{what} exists already")),
            AccessError::NotFound(what) => Problem::not_found(format!("{what} is not found")),
            AccessError::Bus(e) => e.into(),
            AccessError::Denied(d) => d.into(),
            AccessError::Conflict(why) => Problem::new(
                StatusCode::CONFLICT,
                "api.conflict",
                "Изменено другим / Changed meanwhile",
                why,
            ),
        }
    }
}

/// The element named in a libxml2 message ("Element '{ns}local': …").
fn element_of(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Element '")?;
    Some(rest[..rest.find('\'')?].to_owned())
}

impl From<BusError> for Problem {
    fn from(e: BusError) -> Problem {
        let code = e.code();
        let (status, title) = match &e {
            BusError::InvalidContent(_) | BusError::Composition(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Содержимое не соответствует схеме / The content does not match its schema",
            ),
            BusError::Signature { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Ошибка проверки подписи / Signature verification failed",
            ),
            BusError::SenderIsNotRegistered { .. } => (
                StatusCode::FORBIDDEN,
                "Отправитель не зарегистрирован / The sender is not registered",
            ),
            BusError::BusinessDataTypeIsNotSupported { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Вид сведений не поддерживается / The kind of information is not supported",
            ),
            BusError::AccessDenied { .. } => (
                StatusCode::FORBIDDEN,
                "Нет доступа к виду сведений / No grant for the kind of information",
            ),
            BusError::RecipientIsNotFound(_) => (
                StatusCode::NOT_FOUND,
                "Получатель не найден / The recipient is not found",
            ),
            BusError::IncorrectResponseContentType { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Ответ содержит сведения запроса / The response carries request content",
            ),
            BusError::UnknownMessageType { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Тип сообщения недоступен / The message type is not available",
            ),
            BusError::AttachmentSizeLimitExceeded { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Превышен размер вложений / The attachments are too large",
            ),
            BusError::AttachmentContentMiscoordination(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Вложения не согласованы / The attachments do not match",
            ),
            BusError::DestinationOverflow { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Очередь получателя переполнена / The recipient's queue is full",
            ),
            BusError::MessageIsAlreadySent(_) => (
                StatusCode::CONFLICT,
                "Сообщение уже отправлено / The message was already sent",
            ),
            BusError::InvalidMessageIdFormat { .. } | BusError::StaleMessageId { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Неверный идентификатор сообщения / Invalid message id",
            ),
            BusError::EndOfLifeReached(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Срок жизни сообщения истёк / The message's end of life has passed",
            ),
            BusError::TargetMessageIsNotFound(_) => (
                StatusCode::NOT_FOUND,
                "Подтверждаемое сообщение не найдено / The message to acknowledge is not found",
            ),
            BusError::NoSigningKey { .. } => (
                StatusCode::CONFLICT,
                "СМЭВ не хранит ключ этой ИС / The bus holds no key for this system",
            ),
            BusError::StaleTimestamp { .. } | BusError::ReplayedCall => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Неверная метка времени / Invalid timestamp",
            ),
            _ => {
                tracing::error!(error = %e, "internal failure answered with a 500 problem");
                return Problem::internal(code);
            }
        };
        let errors = match &e {
            BusError::InvalidContent(issues) => issues
                .iter()
                .map(|issue| match &issue.text {
                    IssueText::Xsd {
                        message,
                        line,
                        column,
                    }
                    | IssueText::NotWellFormed {
                        message,
                        line,
                        column,
                    } => ProblemItem {
                        message: message.trim().to_owned(),
                        line: Some(*line),
                        column: Some(*column),
                        element: element_of(message),
                        field: None,
                    },
                    other => ProblemItem {
                        message: other.to_string(),
                        ..ProblemItem::default()
                    },
                })
                .collect(),
            BusError::Composition(opensmev_wire::WireError::Compose { input, problem }) => {
                vec![ProblemItem {
                    message: problem.to_string(),
                    field: Some(input.clone()),
                    ..ProblemItem::default()
                }]
            }
            _ => Vec::new(),
        };
        Problem::new(status, code, title, e.to_string()).with_errors(errors)
    }
}

impl From<opensmev_store::StoreError> for Problem {
    fn from(e: opensmev_store::StoreError) -> Problem {
        BusError::Store(e).into()
    }
}
