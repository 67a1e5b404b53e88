//! Fuzz target `signature`: arbitrary bytes as a signed SMEV message.
//!
//! * `Document::parse`, then `dsig::verify_all` with an `OpenSslProvider` (GOST engine loaded),
//!   once in the strict SMEV profile and once permissive (any transform chain, captured bytes,
//!   JDK flavor first), at a fixed time so runs are reproducible;
//! * `dsig::parse_signature` on every element whose local name is `Signature` (in any
//!   namespace, so the "not a ds:Signature" path is reached too);
//! * `dsig::verify_wrapped` on every `CallerInformationSystemSignature`-like wrapper, i.e. every
//!   parent of a `Signature` element.
//!
//! A verification failure is an ordinary result; a panic is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use opensmev_crypto::OpenSslProvider;
use opensmev_xmldsig::dsig::{self, VerifyOptions};
use opensmev_xmldsig::transform::Flavor;
use opensmev_xmldsig::xml::{Document, Limits};
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = Document::parse(data, Limits::default()) else {
        return;
    };
    let provider = OpenSslProvider::new();
    // A fixed time (2024-01-01T00:00:00Z) keeps runs reproducible; the validity period is the
    // last check and gates none of the others.
    let at =
        OffsetDateTime::from_unix_timestamp(1_704_067_200).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let strict = VerifyOptions {
        at,
        ..VerifyOptions::now()
    };
    let permissive = VerifyOptions {
        at,
        require_smev_profile: false,
        capture: true,
        flavor: Flavor::Jdk,
        ..VerifyOptions::now()
    };
    let _ = dsig::verify_all(&doc, &provider, &strict);
    let _ = dsig::verify_all(&doc, &provider, &permissive);
    for element in doc.elements().filter(|e| e.local_name() == "Signature") {
        let _ = dsig::parse_signature(&element);
        if let Some(wrapper) = element.parent() {
            let _ = dsig::verify_wrapped(Some(&wrapper), &provider, &strict);
        }
    }
});
