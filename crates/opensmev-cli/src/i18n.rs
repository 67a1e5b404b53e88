//! The interface language of the command line (Russian by default, English on request).

use opensmev_xmldsig::dsig::FaultCategory;

/// An interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Lang {
    /// Русский.
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
