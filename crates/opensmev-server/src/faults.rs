//! The one place where errors become SOAP faults: the SMEV fault element, a Russian
//! `faultstring`, and a stable `SMEV-nnn` code.
//!
//! Codes never change meaning; a retired code is not reused. Internal errors are logged and
//! answered with `SMEVFailure` without their text.

use opensmev_core::BusError;
use opensmev_wire::{Fault, FaultKind, ValidationErrorItem, WireError};
use opensmev_xmldsig::dsig::FaultCategory;

fn signature_ru(category: FaultCategory) -> &'static str {
    match category {
        FaultCategory::PoorSOAPEnvelopeFormat => "неверная структура подписи",
        FaultCategory::NoSignatureFound => "подпись ЭП-ОВ не найдена",
        FaultCategory::IncorrectSignatureTarget => "подписан не тот элемент сообщения",
        FaultCategory::SignatureIsInvalid => "подпись ЭП-ОВ недействительна",
        FaultCategory::CertificateIsNotFound => "сертификат ЭП-ОВ не найден",
        FaultCategory::CertificateIsExpired => {
            "срок действия сертификата ЭП-ОВ истёк или ещё не наступил"
        }
        FaultCategory::Internal => "подпись не может быть проверена",
    }
}

/// The fault for a refused call.
pub(crate) fn from_bus(error: &BusError) -> Fault {
    use FaultKind as K;
    let (kind, code, message): (FaultKind, &str, String) = match error {
        BusError::InvalidContent(issues) => (
            K::InvalidContent(
                issues
                    .iter()
                    .map(|i| ValidationErrorItem {
                        text: i.text.clone(),
                        position: i.position.and_then(|p| i32::try_from(p).ok()),
                    })
                    .collect(),
            ),
            "SMEV-102",
            format!(
                "Содержимое сообщения не соответствует схеме: {}",
                issues
                    .iter()
                    .map(|i| i.text.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
        BusError::Signature { category, message } => (
            K::SignatureVerificationFault(category.as_str().to_owned()),
            "SMEV-100",
            format!(
                "Ошибка проверки ЭП-ОВ: {}. {message}",
                signature_ru(*category)
            ),
        ),
        BusError::SenderIsNotRegistered(detail) => (
            K::SenderIsNotRegistered,
            "SMEV-101",
            format!(
                "Отправитель не зарегистрирован в СМЭВ: сертификат ЭП-ОВ не найден в реестре ({detail})"
            ),
        ),
        BusError::BusinessDataTypeIsNotSupported(root) => (
            K::BusinessDataTypeIsNotSupported {
                local: root.local.clone(),
                ns: root.ns.clone(),
            },
            "SMEV-103",
            format!("Вид сведений с корневым элементом {root} не зарегистрирован в СМЭВ"),
        ),
        BusError::AccessDenied(detail) => (
            K::AccessDenied,
            "SMEV-104",
            format!("Нет доступа к виду сведений: {detail}"),
        ),
        BusError::RecipientIsNotFound(detail) => (
            K::RecipientIsNotFound,
            "SMEV-105",
            format!("Получатель сообщения не найден: {detail}"),
        ),
        BusError::IncorrectResponseContentType(root) => (
            K::IncorrectResponseContentType,
            "SMEV-106",
            format!("Элемент {root} зарегистрирован как запрос, а не как ответ"),
        ),
        BusError::UnknownMessageType(detail) => (
            K::UnknownMessageType,
            "SMEV-107",
            format!("Тип сообщения в селекторе не известен или недоступен: {detail}"),
        ),
        BusError::AttachmentSizeLimitExceeded { permitted, real } => (
            K::AttachmentSizeLimitExceeded {
                permitted: *permitted,
                real: *real,
            },
            "SMEV-108",
            format!("Суммарный размер вложений {real} байт превышает допустимый {permitted} байт"),
        ),
        BusError::AttachmentContentMiscoordination(detail) => (
            K::AttachmentContentMiscoordination,
            "SMEV-109",
            format!("Заголовки вложений не соответствуют содержимому: {detail}"),
        ),
        BusError::DestinationOverflow { destination, depth } => (
            K::DestinationOverflow {
                broker: "opensmev".to_owned(),
                destination: destination.clone(),
            },
            "SMEV-110",
            format!(
                "Очередь получателя {destination} переполнена ({depth} сообщений); повторите отправку позже"
            ),
        ),
        BusError::MessageIsAlreadySent(id) => (
            K::MessageIsAlreadySent,
            "SMEV-111",
            format!("Сообщение с идентификатором {id} уже было отправлено"),
        ),
        BusError::InvalidMessageIdFormat { id, reason } => (
            K::InvalidMessageIdFormat,
            "SMEV-112",
            format!(
                "Идентификатор сообщения {id:?} не является UUID версии 1 в нижнем регистре ({reason})"
            ),
        ),
        BusError::StaleMessageId { id, made } => (
            K::StaleMessageId,
            "SMEV-113",
            format!("Идентификатор сообщения {id} устарел (сформирован {made}); сформируйте новый"),
        ),
        BusError::EndOfLifeReached(eol) => (
            K::EndOfLifeReached,
            "SMEV-114",
            format!("Срок жизни сообщения (EOL {eol}) истёк"),
        ),
        BusError::TargetMessageIsNotFound(id) => (
            K::TargetMessageIsNotFound,
            "SMEV-115",
            format!("Неподтверждённое сообщение с идентификатором {id} не найдено"),
        ),
        BusError::StaleTimestamp {
            at,
            now,
            window_seconds,
        } => {
            let text = format!(
                "Подписанное время запроса (Timestamp {at}) отличается от времени СМЭВ ({now}) более чем на {window_seconds} с: сформируйте и подпишите запрос заново (проверьте часы системы)"
            );
            (
                K::InvalidContent(vec![ValidationErrorItem {
                    text: text.clone(),
                    position: None,
                }]),
                "SMEV-116",
                text,
            )
        }
        BusError::ReplayedCall => {
            let text = "Этот подписанный запрос уже был получен СМЭВ (повтор): каждый запрос опроса или статуса подписывается заново с текущим временем".to_owned();
            (
                K::InvalidContent(vec![ValidationErrorItem {
                    text: text.clone(),
                    position: None,
                }]),
                "SMEV-117",
                text,
            )
        }
        BusError::Store(_) | BusError::Internal(_) => internal(error),
        _ => internal(error),
    };
    Fault::new(kind, code, message)
}

fn internal(error: &dyn std::fmt::Display) -> (FaultKind, &'static str, String) {
    tracing::error!(error = %error, "internal failure answered with SMEVFailure");
    (
        FaultKind::SmevFailure,
        "SMEV-500",
        "Внутренняя ошибка СМЭВ; повторите запрос позже".to_owned(),
    )
}

/// The fault for a message that cannot be decoded.
pub(crate) fn from_wire(error: &WireError, text: Option<&str>) -> Fault {
    let position = |offset: usize| -> Option<i32> {
        let text = text?;
        let upto = text.get(..offset.min(text.len()))?;
        i32::try_from(upto.bytes().filter(|b| *b == b'\n').count() + 1).ok()
    };
    let (message, pos) = match error {
        WireError::Xml(e) => (format!("XML не разобран: {}", e.kind), position(e.offset)),
        WireError::UnknownOperation { namespace, local } => {
            (format!("Неизвестная операция {{{namespace}}}{local}"), None)
        }
        other => (other.to_string(), other.position().and_then(position)),
    };
    let item = ValidationErrorItem {
        text: message.clone(),
        position: pos,
    };
    Fault::new(
        FaultKind::InvalidContent(vec![item]),
        "SMEV-102",
        format!("Сообщение не соответствует схеме: {message}"),
    )
}

/// A fault for a transport-level refusal (too large, wrong path…).
pub(crate) fn invalid(message: impl Into<String>) -> Fault {
    let message = message.into();
    Fault::new(
        FaultKind::InvalidContent(vec![ValidationErrorItem {
            text: message.clone(),
            position: None,
        }]),
        "SMEV-102",
        message,
    )
}
