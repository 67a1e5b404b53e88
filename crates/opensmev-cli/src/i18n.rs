//! The interface language of the command line (Russian by default, English on request).

use opensmev_xmldsig::dsig::FaultCategory;

/// An interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Lang {
    /// Russian.
    Ru,
    /// English.
    En,
}

impl Lang {
    /// Picks the text for this language.
    pub(crate) fn pick<'a>(self, ru: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ru => ru,
            Lang::En => en,
        }
    }

    /// A short description of a signature fault category.
    pub(crate) fn category(self, category: FaultCategory) -> &'static str {
        match (self, category) {
            (Lang::Ru, FaultCategory::PoorSOAPEnvelopeFormat) => {
                "неверная структура подписи или конверта"
            }
            (Lang::Ru, FaultCategory::NoSignatureFound) => "подпись не найдена",
            (Lang::Ru, FaultCategory::IncorrectSignatureTarget) => "подписан не тот элемент",
            (Lang::Ru, FaultCategory::SignatureIsInvalid) => "подпись недействительна",
            (Lang::Ru, FaultCategory::CertificateIsNotFound) => "сертификат не найден",
            (Lang::Ru, FaultCategory::CertificateIsExpired) => {
                "сертификат недействителен на дату проверки"
            }
            (Lang::Ru, FaultCategory::Internal) => "проверка невозможна (внутренняя ошибка)",
            (Lang::En, FaultCategory::PoorSOAPEnvelopeFormat) => "malformed signature or envelope",
            (Lang::En, FaultCategory::NoSignatureFound) => "no signature found",
            (Lang::En, FaultCategory::IncorrectSignatureTarget) => "the wrong element is signed",
            (Lang::En, FaultCategory::SignatureIsInvalid) => "the signature is invalid",
            (Lang::En, FaultCategory::CertificateIsNotFound) => "no certificate",
            (Lang::En, FaultCategory::CertificateIsExpired) => {
                "the certificate is not valid at the checked time"
            }
            (Lang::En, FaultCategory::Internal) => "cannot be checked (internal error)",
        }
    }
}

/// Whether `text` holds Cyrillic letters.
pub(crate) fn has_cyrillic(text: &str) -> bool {
    text.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
}

/// An operating-system error in Russian, by its kind (the system's own text is English).
fn io_error_ru(error: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let text = match error.kind() {
        K::NotFound => "нет такого файла или каталога",
        K::PermissionDenied => "нет прав доступа",
        K::AlreadyExists => "уже существует",
        K::IsADirectory => "это каталог, а не файл",
        K::NotADirectory => "это не каталог",
        K::DirectoryNotEmpty => "каталог не пуст",
        K::ReadOnlyFilesystem => "файловая система только для чтения",
        K::StorageFull => "нет места на диске",
        K::InvalidData => "данные не в кодировке UTF-8 или повреждены",
        K::UnexpectedEof => "файл неожиданно закончился",
        K::Interrupted => "операция прервана",
        K::TimedOut => "время ожидания истекло",
        K::ConnectionRefused => "соединение отвергнуто",
        K::ConnectionReset => "соединение сброшено",
        K::AddrInUse => "адрес уже занят",
        K::AddrNotAvailable => "адрес недоступен",
        K::BrokenPipe => "канал закрыт",
        _ => "ошибка ввода-вывода",
    };
    match error.raw_os_error() {
        Some(code) => format!("{text} (код ОС {code})"),
        None => text.to_owned(),
    }
}

/// The text of a command's error in `lang`. In English, the whole chain of causes. In Russian,
/// the Russian causes joined, operating-system errors translated, and the English-only detail of
/// lower layers (parsers, the registry check, the crypto library) on a separate
/// «Подробности (на английском)» line, so no line mixes the two languages.
pub(crate) fn error_text(lang: Lang, error: &anyhow::Error) -> String {
    if lang == Lang::En {
        return format!("error: {error:#}");
    }
    let mut russian = Vec::new();
    let mut english = Vec::new();
    for cause in error.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            // Some io errors carry a custom message (in English) rather than an OS error.
            if io.raw_os_error().is_some() || io.get_ref().is_none() {
                russian.push(io_error_ru(io));
                continue;
            }
        }
        let text = cause.to_string();
        if has_cyrillic(&text) {
            russian.push(text);
        } else {
            english.push(text);
        }
    }
    if russian.is_empty() {
        russian.push("команда не выполнена".to_owned());
    }
    let mut text = format!("ошибка: {}", russian.join(": "));
    if !english.is_empty() {
        let detail = english.join(": ");
        let detail: Vec<&str> = detail
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        text.push_str(&format!(
            "\n  Подробности (на английском): {}",
            detail.join(" ")
        ));
    }
    text
}
