//! The one place where errors become SOAP faults: the SMEV fault element, a `faultstring` in the
//! bus's fault language (`fault_lang`: Russian by default, English on request), and a stable
//! `SMEV-nnn` code.
//!
//! Every text is a short statement, then `Подробности: …` / `Details: …` with the technical
//! detail in the same language, rendered here from the error's data. Names and values taken
//! from the request or from a validator whose text has no translation are quoted (`«…»` in
//! Russian, `"…"` in English). Codes never change meaning; a retired code is not reused.
//! Internal errors are logged and answered with `SMEVFailure` without their text.

use opensmev_core::{BusError, IssueText, Miscoordination, Recipient, Unsupported};
use opensmev_types::MessageIdError;
use opensmev_types::QName;
use opensmev_wire::error::{Expected, MultipartProblem, Problem};
use opensmev_wire::fault::FaultLanguage;
use opensmev_wire::{Fault, FaultKind, ValidationErrorItem, WireError};
use opensmev_xmldsig::dsig::FaultCategory;
use opensmev_xmldsig::xml::XmlErrorKind;

use crate::config::FaultLang;

/// A statement and its detail, in both languages.
struct Text {
    ru: String,
    en: String,
}

impl Text {
    fn new(ru: impl Into<String>, en: impl Into<String>) -> Text {
        Text {
            ru: ru.into(),
            en: en.into(),
        }
    }

    fn pick(&self, lang: FaultLang) -> &str {
        lang.pick(&self.ru, &self.en)
    }
}

/// `statement. Подробности: detail` in the language.
fn compose(lang: FaultLang, statement: &Text, detail: &Text) -> String {
    format!(
        "{}. {}: {}",
        statement.pick(lang),
        lang.pick("Подробности", "Details"),
        detail.pick(lang)
    )
}

/// A client-supplied value, quoted for the language (no Debug escaping).
fn q(lang: FaultLang, value: &str) -> String {
    match lang {
        FaultLang::Ru => format!("«{value}»"),
        FaultLang::En => format!("\"{value}\""),
    }
}

fn qs(value: &str) -> Text {
    Text::new(q(FaultLang::Ru, value), q(FaultLang::En, value))
}

fn list(lang: FaultLang, names: &[QName]) -> String {
    if names.is_empty() {
        return lang.pick("(нет)", "(none)").to_owned();
    }
    names
        .iter()
        .map(|n| q(lang, &n.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn signature_statement(category: FaultCategory) -> Text {
    let (ru, en) = match category {
        FaultCategory::PoorSOAPEnvelopeFormat => (
            "неверная структура подписи ЭП-ОВ",
            "the structure of the signature is wrong",
        ),
        FaultCategory::NoSignatureFound => ("подпись ЭП-ОВ не найдена", "no signature found"),
        FaultCategory::IncorrectSignatureTarget => (
            "подписан не тот элемент сообщения",
            "the signature covers the wrong element",
        ),
        FaultCategory::SignatureIsInvalid => {
            ("подпись ЭП-ОВ недействительна", "the signature is invalid")
        }
        FaultCategory::CertificateIsNotFound => (
            "сертификат ЭП-ОВ не найден",
            "the signing certificate is not found",
        ),
        FaultCategory::CertificateIsExpired => (
            "срок действия сертификата ЭП-ОВ истёк или ещё не наступил",
            "the signing certificate is expired or not yet valid",
        ),
        FaultCategory::Internal => (
            "подпись не может быть проверена",
            "the signature cannot be checked",
        ),
    };
    Text::new(
        format!("Ошибка проверки ЭП-ОВ: {ru}"),
        format!("Signature verification failed: {en}"),
    )
}

/// The Russian detail of a signature failure: the known shapes of the verifier's (English)
/// messages are said in Russian; the verifier's own text follows in quotes (it carries the
/// digests and paths an integrator needs).
fn signature_detail_ru(message: &str) -> String {
    let said = if message.contains("carries no CallerInformationSystemSignature")
        || message.contains("carries no signature element")
    {
        "в вызове нет элемента CallerInformationSystemSignature с подписью".to_owned()
    } else if message.contains("contains no ds:Signature") {
        "элемент подписи не содержит ds:Signature".to_owned()
    } else if let Some(rest) = message.strip_prefix("the digest of ") {
        let path = rest.split(" (Id=").next().unwrap_or(rest);
        let mut text = format!(
            "дайджест элемента «{path}» не совпадает с DigestValue: элемент изменён после подписания \
             или подписан преобразованием, отличным от эталонного"
        );
        if let Some(at) = message.find(opensmev_xmldsig::dsig::VARIANT_TAG) {
            let name: String = message[at + opensmev_xmldsig::dsig::VARIANT_TAG.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            text.push_str(&format!(
                "; дайджест совпадает с неэталонной реализацией «{name}» — исправьте преобразование \
                 у подписанта или разрешите её этой ИС ключом реестра transform_variant"
            ));
        }
        text
    } else if message.contains("cannot be read as a DER X.509 certificate") {
        "сертификат в X509Certificate не читается как сертификат X.509 (DER)".to_owned()
    } else if message.contains("but must cover") {
        "подпись покрывает не тот элемент, который должна".to_owned()
    } else if message.contains("KeyInfo carries no X509Certificate") {
        "в KeyInfo нет X509Certificate".to_owned()
    } else {
        "проверка подписи не пройдена".to_owned()
    };
    format!("{said}; текст проверки: «{message}»")
}

fn xsd_ru(message: &str, line: i64, column: i64) -> String {
    let text = match opensmev_schema::message_ru(message) {
        Some(text) => text,
        None => format!("«{message}»"),
    };
    if line > 0 {
        format!("Ошибка XSD-проверки (строка {line}, столбец {column}): {text}")
    } else {
        format!("Ошибка XSD-проверки: {text}")
    }
}

fn xsd_en(message: &str, line: i64, column: i64) -> String {
    if line > 0 {
        format!("XSD validation error (line {line}, column {column}): {message}")
    } else {
        format!("XSD validation error: {message}")
    }
}

fn issue_text(text: &IssueText) -> Text {
    match text {
        IssueText::Xsd {
            message,
            line,
            column,
        } => Text::new(
            xsd_ru(message, *line, *column),
            xsd_en(message, *line, *column),
        ),
        IssueText::FileStoreAttachments => Text::new(
            "вложения через файловое хранилище (RefAttachmentHeaderList) эта СМЭВ пока не поддерживает",
            "file-store attachments (RefAttachmentHeaderList) are not supported by this bus yet",
        ),
        IssueText::AsyncProcessingStatus => Text::new(
            "AsyncProcessingStatus формирует только СМЭВ, а не информационные системы",
            "AsyncProcessingStatus is written by SMEV itself, not by information systems",
        ),
        IssueText::Registry(message) => Text::new(
            format!("реестр не принят: «{message}»"),
            format!("the registry is refused: {message}"),
        ),
        _ => Text::new(format!("«{text}»"), text.to_string()),
    }
}

fn invalid_content(
    lang: FaultLang,
    code: &str,
    statement: &Text,
    items: Vec<(Text, Option<i32>)>,
) -> Fault {
    let detail = Text::new(
        items
            .iter()
            .map(|i| i.0.ru.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        items
            .iter()
            .map(|i| i.0.en.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    );
    let message = compose(lang, statement, &detail);
    Fault::new(
        FaultKind::InvalidContent(
            items
                .iter()
                .map(|(t, position)| ValidationErrorItem {
                    text: t.pick(lang).to_owned(),
                    position: *position,
                })
                .collect(),
        ),
        code,
        message,
    )
    .in_language(wire_lang(lang))
}

/// The fault for a refused call.
pub(crate) fn from_bus(error: &BusError, lang: FaultLang) -> Fault {
    use FaultKind as K;
    let (kind, code, statement, detail): (FaultKind, &str, Text, Text) = match error {
        BusError::InvalidContent(issues) => {
            return invalid_content(
                lang,
                "SMEV-102",
                &Text::new(
                    "Содержимое сообщения не соответствует схеме",
                    "The content of the message does not match its schema",
                ),
                issues
                    .iter()
                    .map(|i| {
                        (
                            issue_text(&i.text),
                            i.position.and_then(|p| i32::try_from(p).ok()),
                        )
                    })
                    .collect(),
            );
        }
        BusError::Signature { category, message } => (
            K::SignatureVerificationFault(category.as_str().to_owned()),
            "SMEV-100",
            signature_statement(*category),
            Text::new(signature_detail_ru(message), message.clone()),
        ),
        BusError::SenderIsNotRegistered {
            thumbprint,
            subject,
        } => (
            K::SenderIsNotRegistered,
            "SMEV-101",
            Text::new(
                "Отправитель не зарегистрирован в СМЭВ",
                "The sender is not registered in SMEV",
            ),
            Text::new(
                format!(
                    "сертификат ЭП-ОВ {thumbprint} ({}) не зарегистрирован ни за одной информационной системой",
                    q(FaultLang::Ru, subject)
                ),
                format!(
                    "the signing certificate {thumbprint} ({}) is not registered for any information system",
                    q(FaultLang::En, subject)
                ),
            ),
        ),
        BusError::BusinessDataTypeIsNotSupported { root, reason } => {
            let name = root.to_string();
            let detail = match reason {
                Unsupported::NotRegistered => Text::new(
                    format!(
                        "корневой элемент {} не зарегистрирован ни для одного вида сведений",
                        q(FaultLang::Ru, &name)
                    ),
                    format!(
                        "the root element {} is not registered for any kind of information",
                        q(FaultLang::En, &name)
                    ),
                ),
                Unsupported::Retired { kind } => Text::new(
                    format!(
                        "вид сведений {} выведен из эксплуатации (retired)",
                        q(FaultLang::Ru, kind)
                    ),
                    format!(
                        "the kind of information {} is retired",
                        q(FaultLang::En, kind)
                    ),
                ),
                Unsupported::Sunset { kind, day } => Text::new(
                    format!(
                        "вид сведений {} устарел, дата прекращения приёма запросов ({day}) прошла",
                        q(FaultLang::Ru, kind)
                    ),
                    format!(
                        "the kind of information {} is deprecated and its sunset day ({day}) has passed",
                        q(FaultLang::En, kind)
                    ),
                ),
                Unsupported::NotAResponseOf { kind, expected } => Text::new(
                    format!(
                        "элемент {} — ответ другого вида сведений; ответ на запрос вида {} должен иметь корневой элемент: {}",
                        q(FaultLang::Ru, &name),
                        q(FaultLang::Ru, kind),
                        list(FaultLang::Ru, expected)
                    ),
                    format!(
                        "{} is the response of another kind of information; a response to a request of kind {} must have the root element: {}",
                        q(FaultLang::En, &name),
                        q(FaultLang::En, kind),
                        list(FaultLang::En, expected)
                    ),
                ),
                _ => qs(&name),
            };
            (
                K::BusinessDataTypeIsNotSupported {
                    local: root.local.clone(),
                    ns: root.ns.clone(),
                },
                "SMEV-103",
                Text::new(
                    "Вид сведений не поддерживается СМЭВ",
                    "The business data type is not supported",
                ),
                detail,
            )
        }
        BusError::AccessDenied {
            system,
            kind,
            title,
            grants,
        } => {
            let period = |lang: FaultLang, (from, to): &(Option<String>, Option<String>)| {
                let open = lang.pick("не ограничено", "open");
                format!(
                    "{} {} {} {}",
                    lang.pick("с", "from"),
                    from.as_deref().unwrap_or(open),
                    lang.pick("по", "to"),
                    to.as_deref().unwrap_or(open)
                )
            };
            let periods = |lang: FaultLang| {
                grants
                    .periods
                    .iter()
                    .map(|p| period(lang, p))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let detail = if grants.periods.is_empty() {
                Text::new(
                    format!(
                        "у ИС {system} нет допуска к виду сведений {} ({})",
                        q(FaultLang::Ru, kind),
                        q(FaultLang::Ru, title)
                    ),
                    format!(
                        "{system} holds no grant for the kind {} ({})",
                        q(FaultLang::En, kind),
                        q(FaultLang::En, title)
                    ),
                )
            } else {
                Text::new(
                    format!(
                        "допуск ИС {system} к виду сведений {} ({}) сегодня ({}, UTC) не действует: срок действия {} (даты включительно)",
                        q(FaultLang::Ru, kind),
                        q(FaultLang::Ru, title),
                        grants.today,
                        periods(FaultLang::Ru)
                    ),
                    format!(
                        "the grant of {system} for the kind {} ({}) is not in force today ({}, UTC): valid {} (dates inclusive)",
                        q(FaultLang::En, kind),
                        q(FaultLang::En, title),
                        grants.today,
                        periods(FaultLang::En)
                    ),
                )
            };
            (
                K::AccessDenied,
                "SMEV-104",
                Text::new(
                    "Нет доступа к виду сведений",
                    "Access to the kind of information is denied",
                ),
                detail,
            )
        }
        BusError::RecipientIsNotFound(why) => {
            let detail = match why {
                Recipient::NotAReplyTo => Text::new(
                    "значение элемента «To» не является значением «ReplyTo», выданным этой СМЭВ; скопируйте «ReplyTo» полученного запроса без изменений",
                    "To is not a ReplyTo issued by this bus; copy the ReplyTo of the received request unchanged",
                ),
                Recipient::NoRequest { id, system } => Text::new(
                    format!("запрос {id}, адресованный ИС {system}, не найден"),
                    format!("no request {id} addressed to {system}"),
                ),
                Recipient::KindGone(kind) => Text::new(
                    format!(
                        "вид сведений {} больше не зарегистрирован",
                        q(FaultLang::Ru, kind)
                    ),
                    format!(
                        "the kind of information {} is no longer registered",
                        q(FaultLang::En, kind)
                    ),
                ),
                Recipient::SystemGone(system) => Text::new(
                    format!("информационная система {system} больше не зарегистрирована"),
                    format!("the information system {system} is no longer registered"),
                ),
                _ => Text::new(
                    "получатель не определён",
                    "the recipient cannot be determined",
                ),
            };
            (
                K::RecipientIsNotFound,
                "SMEV-105",
                Text::new(
                    "Получатель сообщения не найден",
                    "The recipient of the message is not found",
                ),
                detail,
            )
        }
        BusError::IncorrectResponseContentType { root, expected } => (
            K::IncorrectResponseContentType,
            "SMEV-106",
            Text::new(
                "Ответ содержит сведения запроса",
                "The response carries request content",
            ),
            Text::new(
                format!(
                    "элемент {} зарегистрирован как запрос, а не как ответ; ожидается корневой элемент: {}",
                    q(FaultLang::Ru, &root.to_string()),
                    list(FaultLang::Ru, expected)
                ),
                format!(
                    "{} is registered as a request, not as a response; the expected root element: {}",
                    q(FaultLang::En, &root.to_string()),
                    list(FaultLang::En, expected)
                ),
            ),
        ),
        BusError::UnknownMessageType {
            message_type,
            request,
            system,
        } => (
            K::UnknownMessageType,
            "SMEV-107",
            Text::new(
                "Тип сообщения в селекторе не известен или недоступен",
                "The message type of the selector is unknown or not available",
            ),
            Text::new(
                format!(
                    "{} не является типом {} ИС {system}",
                    q(FaultLang::Ru, &message_type.to_string()),
                    if *request {
                        "запросов к"
                    } else {
                        "ответов для"
                    }
                ),
                format!(
                    "{} is not a {} type of {system}",
                    q(FaultLang::En, &message_type.to_string()),
                    if *request { "request" } else { "response" }
                ),
            ),
        ),
        BusError::AttachmentSizeLimitExceeded { permitted, real } => (
            K::AttachmentSizeLimitExceeded {
                permitted: *permitted,
                real: *real,
            },
            "SMEV-108",
            Text::new(
                "Превышен допустимый размер вложений",
                "The attachments are too large",
            ),
            Text::new(
                format!("суммарный размер вложений {real} байт больше допустимых {permitted} байт"),
                format!("the attachments total {real} bytes, over the limit of {permitted} bytes"),
            ),
        ),
        BusError::AttachmentContentMiscoordination(why) => {
            let detail = match why {
                Miscoordination::Mismatch { headers, contents } => {
                    let names = |lang: FaultLang, ids: &[String]| {
                        if ids.is_empty() {
                            lang.pick("(нет)", "(none)").to_owned()
                        } else {
                            ids.iter()
                                .map(|i| q(lang, i))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    };
                    Text::new(
                        format!(
                            "заголовки называют вложения {}, а содержимое передано для {}",
                            names(FaultLang::Ru, headers),
                            names(FaultLang::Ru, contents)
                        ),
                        format!(
                            "the headers name {}, the contents carry {}",
                            names(FaultLang::En, headers),
                            names(FaultLang::En, contents)
                        ),
                    )
                }
                _ => Text::new(
                    "один contentId использован дважды",
                    "a contentId is used twice",
                ),
            };
            (
                K::AttachmentContentMiscoordination,
                "SMEV-109",
                Text::new(
                    "Заголовки вложений не соответствуют содержимому",
                    "The attachment headers do not match the contents",
                ),
                detail,
            )
        }
        BusError::DestinationOverflow { destination, depth } => (
            K::DestinationOverflow {
                broker: "opensmev".to_owned(),
                destination: destination.clone(),
            },
            "SMEV-110",
            Text::new(
                "Очередь получателя переполнена; повторите отправку позже",
                "The recipient's queue is full; send again later",
            ),
            Text::new(
                format!("в очереди {destination} {depth} сообщений"),
                format!("the queue {destination} holds {depth} messages"),
            ),
        ),
        BusError::MessageIsAlreadySent(id) => (
            K::MessageIsAlreadySent,
            "SMEV-111",
            Text::new(
                "Сообщение уже было отправлено",
                "The message was already sent",
            ),
            Text::new(
                format!("сообщение с идентификатором {id} уже принято СМЭВ"),
                format!("a message with the id {id} was accepted before"),
            ),
        ),
        BusError::InvalidMessageIdFormat { id, .. } => {
            let reason = message_id_reason(id);
            (
                K::InvalidMessageIdFormat,
                "SMEV-112",
                Text::new(
                    "Неверный формат идентификатора сообщения",
                    "The message id has a wrong format",
                ),
                Text::new(
                    format!(
                        "идентификатор {} не является UUID версии 1 в нижнем регистре ({})",
                        q(FaultLang::Ru, id),
                        reason.ru
                    ),
                    format!(
                        "{} is not a lower-case version-1 UUID ({})",
                        q(FaultLang::En, id),
                        reason.en
                    ),
                ),
            )
        }
        BusError::StaleMessageId { id, made } => (
            K::StaleMessageId,
            "SMEV-113",
            Text::new(
                "Идентификатор сообщения устарел; сформируйте новый",
                "The message id is stale; make a new one",
            ),
            Text::new(
                format!("идентификатор {id} сформирован {made}"),
                format!("the id {id} was made at {made}"),
            ),
        ),
        BusError::EndOfLifeReached(eol) => (
            K::EndOfLifeReached,
            "SMEV-114",
            Text::new(
                "Срок жизни сообщения истёк",
                "The message's end of life has passed",
            ),
            Text::new(
                format!("EOL {eol} уже наступил"),
                format!("EOL {eol} has passed"),
            ),
        ),
        BusError::TargetMessageIsNotFound(id) => (
            K::TargetMessageIsNotFound,
            "SMEV-115",
            Text::new(
                "Подтверждаемое сообщение не найдено",
                "The message to acknowledge is not found",
            ),
            Text::new(
                format!(
                    "неподтверждённое сообщение с идентификатором {} не найдено",
                    q(FaultLang::Ru, id)
                ),
                format!(
                    "no unacknowledged message with the id {}",
                    q(FaultLang::En, id)
                ),
            ),
        ),
        BusError::StaleTimestamp {
            at,
            now,
            window_seconds,
        } => {
            return invalid_content(
                lang,
                "SMEV-116",
                &Text::new(
                    "Подписанное время запроса устарело: сформируйте и подпишите запрос заново (проверьте часы системы)",
                    "The signed time of the call is stale: make and sign the call anew (check the system's clock)",
                ),
                vec![(
                    Text::new(
                        format!(
                            "Timestamp {at} отличается от времени СМЭВ ({now}) более чем на {window_seconds} с"
                        ),
                        format!(
                            "the Timestamp {at} differs from the bus's time ({now}) by more than {window_seconds} s"
                        ),
                    ),
                    None,
                )],
            );
        }
        BusError::ReplayedCall => {
            return invalid_content(
                lang,
                "SMEV-117",
                &Text::new(
                    "Этот подписанный запрос уже был получен СМЭВ (повтор)",
                    "This signed call was already received by the bus (a replay)",
                ),
                vec![(
                    Text::new(
                        "каждый запрос опроса или статуса подписывается заново с текущим временем",
                        "sign every poll or status call anew with the current time",
                    ),
                    None,
                )],
            );
        }
        BusError::Store(_) | BusError::Internal(_) => return internal(error, lang),
        _ => return internal(error, lang),
    };
    Fault::new(kind, code, compose(lang, &statement, &detail)).in_language(wire_lang(lang))
}

fn internal(error: &dyn std::fmt::Display, lang: FaultLang) -> Fault {
    tracing::error!(error = %error, "internal failure answered with SMEVFailure");
    Fault::new(
        FaultKind::SmevFailure,
        "SMEV-500",
        compose(
            lang,
            &Text::new(
                "Внутренняя ошибка СМЭВ; повторите запрос позже",
                "Internal SMEV failure; send the call again later",
            ),
            &Text::new(
                "причина записана в журнал сервера",
                "the reason is in the server's log",
            ),
        ),
    )
    .in_language(wire_lang(lang))
}

fn xml_error(kind: &XmlErrorKind) -> Text {
    match kind {
        XmlErrorKind::Syntax(text) => Text::new(
            format!("XML построен с ошибкой: «{text}»"),
            format!("the XML is not well-formed: {text}"),
        ),
        XmlErrorKind::Encoding(text) => Text::new(
            format!("принимается только UTF-8: «{text}»"),
            format!("only UTF-8 is accepted: {text}"),
        ),
        XmlErrorKind::DtdForbidden => Text::new(
            "DTD не допускаются (нет DOCTYPE и объявлений сущностей)",
            "DTDs are not allowed (no DOCTYPE, no entity declarations)",
        ),
        XmlErrorKind::UndefinedEntity(name) => Text::new(
            format!("ссылка на неизвестную сущность «&{name};»"),
            format!("undefined entity reference \"&{name};\""),
        ),
        XmlErrorKind::UnboundPrefix(prefix) => Text::new(
            format!("префикс пространства имён «{prefix}» не объявлен"),
            format!("the namespace prefix \"{prefix}\" is not declared"),
        ),
        XmlErrorKind::DuplicateAttribute(name) => Text::new(
            format!("атрибут «{name}» повторяется"),
            format!("the attribute \"{name}\" is repeated"),
        ),
        XmlErrorKind::ForbiddenCharacter(c) => Text::new(
            format!("символ U+{c:04X} недопустим в XML 1.0"),
            format!("the character U+{c:04X} is not allowed in XML 1.0"),
        ),
        XmlErrorKind::LimitExceeded { what, limit } => Text::new(
            format!("превышено ограничение «{what}» (предел {limit})"),
            format!("limit exceeded: {what} (limit {limit})"),
        ),
        XmlErrorKind::NotOneRoot => Text::new(
            "документ должен иметь ровно один корневой элемент",
            "the document must have exactly one root element",
        ),
        other => Text::new(format!("«{other}»"), other.to_string()),
    }
}

/// The `Content-Type`s the SOAP endpoints accept.
const ACCEPTED_TYPES: &str = "text/xml, application/soap+xml, multipart/related (MTOM)";

/// The fault for a message that cannot be decoded.
pub(crate) fn from_wire(error: &WireError, text: Option<&str>, lang: FaultLang) -> Fault {
    let position = |offset: usize| -> Option<i32> {
        let text = text?;
        let upto = text.get(..offset.min(text.len()))?;
        i32::try_from(upto.bytes().filter(|b| *b == b'\n').count() + 1).ok()
    };
    let statement = Text::new(
        "Сообщение не соответствует схеме",
        "The message does not match its schema",
    );
    let (statement, detail, pos) = match error {
        WireError::Xml(e) => (statement, xml_error(&e.kind), position(e.offset)),
        WireError::UnknownOperation { namespace, local } => (
            statement,
            Text::new(
                format!(
                    "элемент «{{{namespace}}}{local}» в soap:Body не является операцией СМЭВ 3 \
                     (SendRequestRequest, GetRequestRequest, AckRequest…) ни одной версии схемы"
                ),
                format!(
                    "the element \"{{{namespace}}}{local}\" in soap:Body is not an SMEV 3 operation \
                     (SendRequestRequest, GetRequestRequest, AckRequest…) of any schema version"
                ),
            ),
            None,
        ),
        WireError::UnsupportedContentType(ct) => (
            Text::new(
                "Тип содержимого не поддерживается",
                "Unsupported content type",
            ),
            Text::new(
                format!(
                    "получен {}, принимаются: {ACCEPTED_TYPES}, в кодировке UTF-8",
                    q(FaultLang::Ru, ct)
                ),
                format!(
                    "got {}, accepted: {ACCEPTED_TYPES}, in UTF-8",
                    q(FaultLang::En, ct)
                ),
            ),
            None,
        ),
        WireError::UnsupportedCharset(charset) => (
            Text::new("Кодировка не поддерживается", "Unsupported charset"),
            Text::new(
                format!(
                    "объявлена кодировка {}, принимается только UTF-8",
                    q(FaultLang::Ru, charset)
                ),
                format!(
                    "the declared charset is {}, only UTF-8 is accepted",
                    q(FaultLang::En, charset)
                ),
            ),
            None,
        ),
        WireError::Multipart(m) => (
            Text::new(
                "Тело multipart/related (MTOM) повреждено",
                "The multipart/related (MTOM) body is malformed",
            ),
            multipart_problem(m),
            None,
        ),
        WireError::Invalid {
            path,
            problem,
            position: at,
        } => {
            let said = problem_text(problem);
            let detail = if path.is_empty() {
                said
            } else {
                Text::new(
                    format!("элемент {}: {}", q(FaultLang::Ru, path), said.ru),
                    format!("the element {}: {}", q(FaultLang::En, path), said.en),
                )
            };
            (statement, detail, at.and_then(position))
        }
        other => (
            statement,
            Text::new(format!("«{other}»"), other.to_string()),
            other.position().and_then(position),
        ),
    };
    let item = ValidationErrorItem {
        text: detail.pick(lang).to_owned(),
        position: pos,
    };
    Fault::new(
        FaultKind::InvalidContent(vec![item]),
        "SMEV-102",
        compose(lang, &statement, &detail),
    )
    .in_language(wire_lang(lang))
}

/// A fault for a transport-level or framing refusal (too large, wrong version, SOAPAction…):
/// `InvalidContent` (`SMEV-102`) with a statement and a detail in both languages.
pub(crate) fn invalid(lang: FaultLang, statement: (&str, &str), detail: (String, String)) -> Fault {
    let statement = Text::new(statement.0, statement.1);
    let detail = Text::new(detail.0, detail.1);
    invalid_content(lang, "SMEV-102", &statement, vec![(detail, None)])
}

/// What is expected at a position, in both languages.
fn expected_text(expected: &Expected) -> Text {
    let names = |lang: FaultLang| {
        let mut all: Vec<String> = expected.names.iter().map(|n| q(lang, n)).collect();
        if let Some(parent) = &expected.end_of {
            all.push(match lang {
                FaultLang::Ru => format!("конец элемента {}", q(lang, parent)),
                FaultLang::En => format!("the end of {}", q(lang, parent)),
            });
        }
        all
    };
    let say = |lang: FaultLang| {
        let all = names(lang);
        match all.as_slice() {
            [] => lang.pick("ничего", "nothing").to_owned(),
            [one] => one.clone(),
            many => format!("{} {}", lang.pick("одно из:", "one of"), many.join(", ")),
        }
    };
    Text::new(say(FaultLang::Ru), say(FaultLang::En))
}

/// A decoder's envelope or message problem, in both languages.
fn problem_text(problem: &Problem) -> Text {
    let (ru, en) = (FaultLang::Ru, FaultLang::En);
    match problem {
        Problem::Soap12Envelope => Text::new(
            "получен конверт SOAP 1.2, а СМЭВ 3 принимает только SOAP 1.1 \
             (пространство имён «http://schemas.xmlsoap.org/soap/envelope/»)",
            "a SOAP 1.2 envelope was sent, SMEV 3 accepts SOAP 1.1 only \
             (namespace \"http://schemas.xmlsoap.org/soap/envelope/\")",
        ),
        Problem::NotAnEnvelope { root } => Text::new(
            format!(
                "документ не является конвертом SOAP 1.1: корневой элемент {}",
                q(ru, root)
            ),
            format!(
                "the document is not a SOAP 1.1 envelope: the root element is {}",
                q(en, root)
            ),
        ),
        Problem::MissingBody => Text::new("в конверте нет soap:Body", "soap:Body is missing"),
        Problem::EmptyBody => Text::new(
            "soap:Body пуст: в нём должен быть элемент запроса СМЭВ",
            "soap:Body is empty: it must contain the SMEV request element",
        ),
        Problem::SecondBodyElement { found } => Text::new(
            format!(
                "в soap:Body должен быть ровно один элемент, найден второй: {}",
                q(ru, found)
            ),
            format!(
                "soap:Body must contain exactly one element, found a second one: {}",
                q(en, found)
            ),
        ),
        Problem::AfterBody { found } => Text::new(
            format!("лишний элемент {} после soap:Body", q(ru, found)),
            format!("unexpected element {} after soap:Body", q(en, found)),
        ),
        Problem::MustUnderstand { entry } => Text::new(
            format!(
                "заголовок {} помечен soap:mustUnderstand=«1», но СМЭВ его не обрабатывает",
                q(ru, entry)
            ),
            format!(
                "the header entry {} has soap:mustUnderstand=\"1\" and is not understood",
                q(en, entry)
            ),
        ),
        Problem::CharacterData { snippet } => Text::new(
            format!("здесь не допускается текст (найдено {})", q(ru, snippet)),
            format!(
                "character data is not allowed here (found {})",
                q(en, snippet)
            ),
        ),
        Problem::AttributeNotAllowed { name } => Text::new(
            format!("атрибут {} не допускается", q(ru, name)),
            format!("the attribute {} is not allowed", q(en, name)),
        ),
        Problem::AttributeMissing { name } => Text::new(
            format!("отсутствует обязательный атрибут {}", q(ru, name)),
            format!("the required attribute {} is missing", q(en, name)),
        ),
        Problem::UnexpectedElement { found, expected } => {
            let expected = expected_text(expected);
            Text::new(
                format!(
                    "неожиданный элемент {}; ожидается {}",
                    q(ru, found),
                    expected.ru
                ),
                format!(
                    "unexpected element {}; expected {}",
                    q(en, found),
                    expected.en
                ),
            )
        }
        Problem::WrongNamespace { found, expected } => Text::new(
            format!(
                "элемент {} в чужом пространстве имён; ожидается {}",
                q(ru, found),
                q(ru, expected)
            ),
            format!(
                "the element {} is in the wrong namespace; expected {}",
                q(en, found),
                q(en, expected)
            ),
        ),
        Problem::MissingElement { expected } => {
            let expected = expected_text(expected);
            Text::new(
                format!(
                    "отсутствует обязательный элемент; ожидается {}",
                    expected.ru
                ),
                format!("a required element is missing; expected {}", expected.en),
            )
        }
        Problem::TooMany { name, max } => Text::new(
            format!("элементов {} допускается не более {max}", q(ru, name)),
            format!("at most {max} {} elements are allowed", q(en, name)),
        ),
        Problem::ElementInSimpleContent { parent, found } => Text::new(
            format!(
                "элемент {} содержит только текст, вложенный элемент {} недопустим",
                q(ru, parent),
                q(ru, found)
            ),
            format!(
                "{} has simple content: the element {} is not allowed inside",
                q(en, parent),
                q(en, found)
            ),
        ),
        Problem::TooLong { max, length } => Text::new(
            format!("значение длиннее {max} символов ({length})"),
            format!("the value is longer than {max} characters ({length})"),
        ),
        Problem::InvalidValue { value, expected } => Text::new(
            format!(
                "значение {} не является допустимым значением типа {}",
                q(ru, value),
                q(ru, expected)
            ),
            format!(
                "the value {} is not a valid {}",
                q(en, value),
                q(en, expected)
            ),
        ),
        other => Text::new(
            format!(
                "сообщение не соответствует схеме: {}",
                q(ru, &other.to_string())
            ),
            other.to_string(),
        ),
    }
}

/// A multipart problem, in both languages.
fn multipart_problem(problem: &MultipartProblem) -> Text {
    let (ru, en) = (FaultLang::Ru, FaultLang::En);
    match problem {
        MultipartProblem::NoBoundary => Text::new(
            "в Content-Type multipart/related нет параметра boundary",
            "the multipart/related Content-Type has no boundary parameter",
        ),
        MultipartProblem::UnusableBoundary(b) => Text::new(
            format!("граница {} непригодна", q(ru, b)),
            format!("the boundary {} cannot be used", q(en, b)),
        ),
        MultipartProblem::BoundaryNotFound => Text::new(
            "граница частей (boundary) не встречается в теле",
            "the boundary does not occur in the body",
        ),
        MultipartProblem::NotClosed => Text::new(
            "тело заканчивается без закрывающей границы",
            "the body ends without a closing boundary",
        ),
        MultipartProblem::NoParts => Text::new("в теле нет частей", "the body has no parts"),
        MultipartProblem::NoRoot { start: Some(start) } => Text::new(
            format!("нет части с Content-ID {} из параметра start", q(ru, start)),
            format!("no part has the start Content-ID {}", q(en, start)),
        ),
        MultipartProblem::NoRoot { start: None } => {
            Text::new("нет корневой части с XML", "no root part with the XML")
        }
        MultipartProblem::DuplicateContentId(id) => Text::new(
            format!("Content-ID {} используется двумя частями", q(ru, id)),
            format!("the Content-ID {} is used by two parts", q(en, id)),
        ),
        MultipartProblem::TooManyParts(max) => Text::new(
            format!("частей больше {max}"),
            format!("more than {max} parts"),
        ),
        MultipartProblem::HeaderTooLarge(max) => Text::new(
            format!("заголовки части больше {max} байт"),
            format!("a part header block is larger than {max} bytes"),
        ),
        MultipartProblem::RootTooLarge(max) => Text::new(
            format!("корневая часть с XML больше {max} байт"),
            format!("the XML root part is larger than {max} bytes"),
        ),
        MultipartProblem::MalformedHeader(line) => Text::new(
            format!("заголовок части не читается: {}", q(ru, line)),
            format!("a part header cannot be read: {}", q(en, line)),
        ),
        MultipartProblem::UnsupportedEncoding(e) => Text::new(
            format!("Content-Transfer-Encoding {} не поддерживается", q(ru, e)),
            format!(
                "the Content-Transfer-Encoding {} is not supported",
                q(en, e)
            ),
        ),
        MultipartProblem::InvalidBase64(detail) => Text::new(
            format!("часть в base64 не декодируется: {}", q(ru, detail)),
            format!("a base64 part cannot be decoded: {}", q(en, detail)),
        ),
        MultipartProblem::InvalidQuotedPrintable => Text::new(
            "неверная escape-последовательность quoted-printable",
            "an invalid quoted-printable escape",
        ),
        other => Text::new(
            format!("тело повреждено: {}", q(ru, &other.to_string())),
            other.to_string(),
        ),
    }
}

/// Why an id is not a lower-case version-1 UUID, in both languages.
fn message_id_reason(id: &str) -> Text {
    match opensmev_types::MessageId::parse(id) {
        Err(MessageIdError::Version(v)) => Text::new(
            format!("UUID версии {v}, а СМЭВ требует версию 1 (по времени)"),
            format!("a UUID of version {v}, SMEV requires version 1 (time-based)"),
        ),
        Err(MessageIdError::Variant) => Text::new(
            "вариант UUID не RFC 4122",
            "the UUID variant is not RFC 4122",
        ),
        _ => Text::new(
            "не UUID в нижнем регистре вида 8-4-4-4-12",
            "not a lower-case UUID in 8-4-4-4-12 form",
        ),
    }
}

/// The wire encoder's language for the fault language.
fn wire_lang(lang: FaultLang) -> FaultLanguage {
    match lang {
        FaultLang::Ru => FaultLanguage::Ru,
        FaultLang::En => FaultLanguage::En,
    }
}
