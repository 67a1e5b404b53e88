//! What the load tool sends: the business content of requests and responses, the attachments,
//! and the registry of the benchmark kinds.
//!
//! Two workloads. `Bench` uses kinds of information registered for the load tool (a `Payload`
//! string element that takes any size, one kind for GOST-signed calls between the demo systems
//! MFC01 → PFR01 and one for the unsigned test systems LOADC01 → LOADP01); `--spawn` writes that
//! registry itself, and `opensmev-load --write-registry` writes it for a separate server.
//! `Demo` uses the demo kind VS00001 (PFR account) of a plain `opensmev serve --demo`: the
//! request XSD has no free-text field, so only the response is padded (repeated `Period`
//! elements, which the XSD allows).
//!
//! Everything a message carries is a function of its message id, so the receiving side can check
//! that it got exactly what was sent without any shared buffer: content is compared by its
//! element name, namespace and text content (namespace prefixes may legitimately change on the
//! way), attachments byte for byte.

use std::path::Path;

use opensmev_core::registry::{GrantEntry, KindEntry, SignaturePolicy, SystemEntry, XsdFile};

use crate::LoadError;

/// Which kinds of information the run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The demo kind VS00001 (PFR account) of `opensmev serve --demo`.
    Demo,
    /// The benchmark kinds (registry written by `--spawn` or `--write-registry`).
    Bench,
}

impl Workload {
    /// `demo` or `bench`.
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Demo => "demo",
            Workload::Bench => "bench",
        }
    }
}

/// The signed benchmark kind (MFC01 → PFR01).
pub const BENCH_SIGNED_KIND: &str = "VS99001v001-LOAD01";
/// The unsigned benchmark kind (LOADC01 → LOADP01).
pub const BENCH_UNSIGNED_KIND: &str = "VS99002v001-LOAD02";
/// Namespace of the signed benchmark kind.
pub const BENCH_SIGNED_NS: &str = "urn://opensmev/load/signed/1.0.0";
/// Namespace of the unsigned benchmark kind.
pub const BENCH_UNSIGNED_NS: &str = "urn://opensmev/load/unsigned/1.0.0";
/// The test consumer IS with an optional signature.
pub const TEST_CONSUMER: &str = "LOADC01";
/// The test provider IS with an optional signature.
pub const TEST_PROVIDER: &str = "LOADP01";
/// The test system that holds the backlog of the "throughput at depth" run (see `backlog`):
/// registered, never polled, with a queue quota above any backlog.
pub const BACKLOG_SYSTEM: &str = "LOADB01";
/// The backlog system's queue quota.
pub const BACKLOG_QUOTA: u64 = 100_000_000;

const DEMO_NS: &str = "urn://opensmev/demo/pfr-account/1.0.0";
const DEMO_SNILS: &str = "112-233-445 95";

const BENCH_XSD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- Benchmark kind of information of the OpenSMEV load tool: a payload of any size. -->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           targetNamespace="NAMESPACE"
           elementFormDefault="qualified">
  <xs:element name="LoadRequest">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Seq" type="xs:unsignedLong"/>
        <xs:element name="Payload" type="xs:string"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:element name="LoadResponse">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="RequestId" type="xs:string"/>
        <xs:element name="Payload" type="xs:string"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>
"#;

/// The business side of a run: who talks, about what, and what each message must carry.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    /// The workload.
    pub(crate) workload: Workload,
    /// Consumer IS mnemonic.
    pub(crate) consumer: &'static str,
    /// Provider IS mnemonic.
    pub(crate) provider: &'static str,
    /// Namespace of the business root elements.
    pub(crate) ns: &'static str,
    /// Request root local name.
    pub(crate) request_root: &'static str,
    /// Response root local name.
    pub(crate) response_root: &'static str,
    /// Padding of the business content, in bytes (approximate for `Demo` responses).
    pub(crate) payload_bytes: usize,
    /// Size of the one inline attachment of each message (0: none).
    pub(crate) attachment_bytes: usize,
}

/// The element name, namespace and text content a business root must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expected {
    /// Namespace.
    pub(crate) ns: String,
    /// Local name.
    pub(crate) local: String,
    /// The concatenated text content.
    pub(crate) text: String,
}

/// Padding text of `len` bytes (ASCII) derived from `id`.
pub(crate) fn padding(id: &str, len: usize) -> String {
    let mut out = String::with_capacity(len + id.len() + 1);
    while out.len() < len {
        out.push_str(id);
        out.push('.');
    }
    out.truncate(len);
    out
}

/// The attachment bytes of message `id`.
pub(crate) fn attachment_data(id: &str, len: usize) -> Vec<u8> {
    let seed = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (0..len)
        .map(|i| (seed.rotate_left((i % 64) as u32) as u8) ^ (i as u8))
        .collect()
}

impl Scenario {
    /// The scenario of a workload.
    pub(crate) fn new(
        workload: Workload,
        unsigned: bool,
        payload_bytes: usize,
        attachment_bytes: usize,
    ) -> Scenario {
        let (consumer, provider, ns, request_root, response_root) = match (workload, unsigned) {
            (Workload::Bench, false) => (
                "MFC01",
                "PFR01",
                BENCH_SIGNED_NS,
                "LoadRequest",
                "LoadResponse",
            ),
            (Workload::Bench, true) => (
                TEST_CONSUMER,
                TEST_PROVIDER,
                BENCH_UNSIGNED_NS,
                "LoadRequest",
                "LoadResponse",
            ),
            (Workload::Demo, _) => (
                "MFC01",
                "PFR01",
                DEMO_NS,
                "PersonalAccountRequest",
                "PersonalAccountResponse",
            ),
        };
        Scenario {
            workload,
            consumer,
            provider,
            ns,
            request_root,
            response_root,
            payload_bytes,
            attachment_bytes,
        }
    }

    /// The request's business content and what the provider must find in it.
    pub(crate) fn request(&self, id: &str, seq: u64) -> (String, Expected) {
        match self.workload {
            Workload::Bench => {
                let pad = padding(id, self.payload_bytes);
                (
                    format!(
                        "<LoadRequest xmlns=\"{}\"><Seq>{seq}</Seq><Payload>{pad}</Payload></LoadRequest>",
                        self.ns
                    ),
                    Expected {
                        ns: self.ns.to_owned(),
                        local: self.request_root.to_owned(),
                        text: format!("{seq}{pad}"),
                    },
                )
            }
            Workload::Demo => (
                format!(
                    "<PersonalAccountRequest xmlns=\"{DEMO_NS}\"><Snils>{DEMO_SNILS}</Snils><FamilyName>Иванов</FamilyName><FirstName>Иван</FirstName><Patronymic>Иванович</Patronymic><BirthDate>1980-05-17</BirthDate></PersonalAccountRequest>"
                ),
                Expected {
                    ns: DEMO_NS.to_owned(),
                    local: self.request_root.to_owned(),
                    text: format!("{DEMO_SNILS}ИвановИванИванович1980-05-17"),
                },
            ),
        }
    }

    /// The response's business content to request `request_id` and what the consumer must find.
    pub(crate) fn response(&self, request_id: &str) -> (String, Expected) {
        match self.workload {
            Workload::Bench => {
                let pad = padding(request_id, self.payload_bytes);
                (
                    format!(
                        "<LoadResponse xmlns=\"{}\"><RequestId>{request_id}</RequestId><Payload>{pad}</Payload></LoadResponse>",
                        self.ns
                    ),
                    Expected {
                        ns: self.ns.to_owned(),
                        local: self.response_root.to_owned(),
                        text: format!("{request_id}{pad}"),
                    },
                )
            }
            Workload::Demo => {
                // One period names the request (so the content is bound to it); more periods,
                // each with an employer of up to 200 characters, pad to the payload size.
                let mut xml = format!(
                    "<PersonalAccountResponse xmlns=\"{DEMO_NS}\"><Snils>{DEMO_SNILS}</Snils>"
                );
                let mut text = DEMO_SNILS.to_owned();
                let mut periods = vec![request_id.to_owned()];
                let mut left = self.payload_bytes;
                let mut n = 0usize;
                while left > 0 {
                    let chunk = left.min(200);
                    periods.push(padding(&format!("{request_id}/{n}"), chunk));
                    left -= chunk;
                    n += 1;
                }
                for employer in &periods {
                    xml.push_str(&format!(
                        "<Period><Employer>{employer}</Employer><From>2015-01-12</From><Contributions>1000.00</Contributions></Period>"
                    ));
                    text.push_str(employer);
                    text.push_str("2015-01-121000.00");
                }
                xml.push_str("<PensionPoints>96.412</PensionPoints><FormedAt>2026-11-24T10:00:00+03:00</FormedAt></PersonalAccountResponse>");
                text.push_str("96.4122026-11-24T10:00:00+03:00");
                (
                    xml,
                    Expected {
                        ns: DEMO_NS.to_owned(),
                        local: self.response_root.to_owned(),
                        text,
                    },
                )
            }
        }
    }

    /// The attachment of message `id` (content id, bytes), if the run has attachments.
    pub(crate) fn attachment(&self, id: &str) -> Option<(String, Vec<u8>)> {
        (self.attachment_bytes > 0).then(|| {
            (
                "att1".to_owned(),
                attachment_data(id, self.attachment_bytes),
            )
        })
    }
}

fn read_cert(demo_dir: &Path, mnemonic: &str) -> Result<String, LoadError> {
    let path = demo_dir.join(mnemonic).join("cert.pem");
    std::fs::read_to_string(&path).map_err(|e| LoadError::Setup(format!("{}: {e}", path.display())))
}

/// The registry for benchmarks: the demo registry (the keys under `demo_dir`) plus the benchmark
/// kinds, the unsigned test systems LOADC01/LOADP01 and generous queue quotas.
pub fn bench_registry(demo_dir: &Path) -> Result<String, LoadError> {
    let mut certificates = Vec::new();
    for mnemonic in ["MFC01", "PFR01", "FNS01"] {
        certificates.push((mnemonic, read_cert(demo_dir, mnemonic)?));
    }
    let mut file = opensmev_server::demo::registry(&certificates);
    file.default_queue_quota = 1_000_000;
    let owner = |index: usize| -> Result<String, LoadError> {
        file.participants
            .get(index)
            .map(|p| p.ogrn.clone())
            .ok_or_else(|| LoadError::Setup("the demo registry has too few participants".into()))
    };
    let (consumer_owner, provider_owner) = (owner(0)?, owner(1)?);
    for (mnemonic, name, owner) in [
        (
            TEST_CONSUMER,
            "Нагрузочный потребитель (тест, без ЭП)",
            consumer_owner,
        ),
        (
            TEST_PROVIDER,
            "Нагрузочный поставщик (тест, без ЭП)",
            provider_owner.clone(),
        ),
    ] {
        file.systems.push(SystemEntry {
            mnemonic: mnemonic.to_owned(),
            name: name.to_owned(),
            owner,
            signature: SignaturePolicy::Optional,
            certificates: Vec::new(),
            queue_quota: None,
        });
    }
    file.systems.push(SystemEntry {
        mnemonic: BACKLOG_SYSTEM.to_owned(),
        name: "Нагрузочный поставщик с очередью-архивом (тест, без ЭП)".to_owned(),
        owner: provider_owner,
        signature: SignaturePolicy::Optional,
        certificates: Vec::new(),
        queue_quota: Some(BACKLOG_QUOTA),
    });
    for (id, ns, provider, consumer) in [
        (BENCH_SIGNED_KIND, BENCH_SIGNED_NS, "PFR01", "MFC01"),
        (
            BENCH_UNSIGNED_KIND,
            BENCH_UNSIGNED_NS,
            TEST_PROVIDER,
            TEST_CONSUMER,
        ),
    ] {
        file.kinds.push(KindEntry {
            id: id.to_owned(),
            title: "Нагрузочное тестирование OpenSMEV".to_owned(),
            provider: provider.to_owned(),
            request: format!("{{{ns}}}LoadRequest"),
            responses: vec![format!("{{{ns}}}LoadResponse")],
            version: "1.0.0".to_owned(),
            status: Default::default(),
            sunset: None,
            successor: None,
            xsd: vec![XsdFile {
                name: "load.xsd".to_owned(),
                text: BENCH_XSD.replace("NAMESPACE", ns),
            }],
        });
        file.grants.push(GrantEntry {
            consumer: consumer.to_owned(),
            kind: id.to_owned(),
            basis: "Нагрузочное тестирование".to_owned(),
            basis_ref: None,
            valid_from: Some("2024-01-01".to_owned()),
            valid_to: None,
            priority: None,
        });
    }
    toml::to_string_pretty(&file).map_err(|e| LoadError::Setup(format!("registry: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_has_the_exact_length_and_depends_on_the_id() {
        assert_eq!(padding("abc", 0), "");
        assert_eq!(padding("abc", 7), "abc.abc");
        assert_ne!(padding("abd", 50), padding("abc", 50));
        assert_eq!(attachment_data("x", 1000).len(), 1000);
        assert_ne!(attachment_data("x", 64), attachment_data("y", 64));
    }

    #[test]
    fn demo_response_is_padded_to_about_the_payload_size() {
        let s = Scenario::new(Workload::Demo, false, 10_000, 0);
        let (small, _) = Scenario::new(Workload::Demo, false, 0, 0).response("id");
        let (big, expected) = s.response("id");
        assert!(big.len() >= small.len() + 10_000, "{}", big.len());
        assert!(expected.text.contains("id/0"));
    }
}
