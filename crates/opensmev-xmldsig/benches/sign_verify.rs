//! Signing and verification throughput of SMEV 3 XMLDSig, end to end and by stage.
//!
//! For GOST R 34.10-2012-256 and ECDSA P-256 it measures, on a SMEV 1.2 `SendRequestRequest`
//! whose signed element (`SenderProvidedRequestData`) is about 2 KiB and about 1 MiB of
//! realistic business content (repeated records with Cyrillic text and attributes):
//! * `sign/<alg>/<size>`: `dsig::sign_document` end to end (parse, exc-C14N + SMEV transform,
//!   digest, C14N of `SignedInfo`, signature, insertion into `CallerInformationSystemSignature`);
//! * `verify/<alg>/<size>`: `Document::parse` of the signed message, then `dsig::verify_wrapped`
//!   of the wrapper with the expected target;
//! * `verify_parsed/<alg>/<size>`: `dsig::verify_wrapped` alone on the message parsed once —
//!   what checking the signature adds to a call of the bus, whose one parse of the message also
//!   serves decoding, routing and validation;
//! * `raw_verify/<alg>` and `raw_sign/<alg>`: `CryptoProvider::verify` and `Signer::sign` alone
//!   over the real canonical `SignedInfo` of the 2 KiB message (about 700 bytes), i.e. the
//!   crypto baseline the XML side is compared with (`raw_verify` reuses one `Certificate`, whose
//!   OpenSSL `X509` is then decoded once; `raw_verify_fresh_cert` decodes the certificate per
//!   call, as verifying a message that carries its certificate does);
//! * `smev_transform/<size>`, `exc_c14n/<size>`: the transform and the canonicalization alone
//!   over the already-indexed signed element (streaming into a sink), `signature_structure/*`
//!   (`parse_signature`, C14N of `SignedInfo`), and `parse/<size>`
//!   (`Document::parse` of the signed message) and `digest/<alg>/<size>` (the reference digest
//!   over the transformed bytes), so the end-to-end numbers can be decomposed.
//!
//! Run with `cargo bench -p opensmev-xmldsig --bench sign_verify` (a few minutes in total).
//! `OPENSMEV_PAIRED=1 cargo bench -p opensmev-xmldsig --bench sign_verify` instead measures the
//! verify-rate target alone, with the three verifications interleaved (see `paired`).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group};
use opensmev_crypto::{
    Certificate, CryptoProvider, OpenSslProvider, SignatureAlgorithm, Signer, TestIdentityParams,
    generate_test_identity,
};
use opensmev_xmldsig::c14n;
use opensmev_xmldsig::dsig::{self, Placement, SignOptions, VerifyOptions};
use opensmev_xmldsig::transform::{self, Flavor};
use opensmev_xmldsig::xml::{Document, Limits};

const TYPES_12: &str = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2";
const BASIC_12: &str = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.2";
const SIGNED_ID: &str = "SIGNED_BY_CONSUMER";

const ALGORITHMS: [(SignatureAlgorithm, &str); 2] = [
    (SignatureAlgorithm::Gost2012_256, "gost2012_256"),
    (SignatureAlgorithm::EcdsaP256Sha256, "ecdsa_p256"),
];

const SURNAMES: [&str; 8] = [
    "Иванов",
    "Петрова",
    "Сидоренко",
    "Кузнецов",
    "Смирнова",
    "Попов",
    "Васильева",
    "Фёдоров",
];
const NAMES: [&str; 8] = [
    "Иван",
    "Мария",
    "Алексей",
    "Ольга",
    "Дмитрий",
    "Наталья",
    "Сергей",
    "Анна",
];
const STREETS: [&str; 6] = [
    "ул. Тверская",
    "пр-т Мира",
    "ул. Ленина",
    "наб. Фонтанки",
    "ул. Карла Маркса",
    "пер. Столярный",
];
const CITIES: [&str; 5] = [
    "г. Москва",
    "г. Санкт-Петербург",
    "г. Казань",
    "г. Новосибирск",
    "г. Екатеринбург",
];
const MAKES: [&str; 5] = [
    "ЛАДА ВЕСТА",
    "КАМАЗ 65115",
    "ГАЗ ГАЗель NEXT",
    "УАЗ Патриот",
    "Škoda Octavia",
];

/// One business record: a vehicle registration with its owner, as in a ГИБДД-style request.
fn record(i: usize) -> String {
    let s = SURNAMES[i % SURNAMES.len()];
    let n = NAMES[(i / 3) % NAMES.len()];
    let street = STREETS[i % STREETS.len()];
    let city = CITIES[(i / 2) % CITIES.len()];
    let make = MAKES[i % MAKES.len()];
    let letters = ["А", "В", "Е", "К", "М", "Н", "О", "Р", "С", "Т", "У", "Х"];
    let plate = format!(
        "{}{:03}{}{}{}",
        letters[i % 12],
        (i * 37) % 1000,
        letters[(i / 12) % 12],
        letters[(i / 144) % 12],
        77 + (i % 3) * 100
    );
    format!(
        r#"<req:Vehicle recordNo="{i}" regNumber="{plate}" vin="XTA2190{:010}" category="B" status="действует">
            <req:Model year="{}">{make}</req:Model>
            <req:Owner kind="ФЛ" snils="{:03}-{:03}-{:03} {:02}">
              <req:FamilyName>{s}</req:FamilyName><req:FirstName>{n}</req:FirstName><req:Patronymic>Петрович</req:Patronymic>
              <req:BirthDate>19{:02}-0{}-1{}</req:BirthDate>
              <req:Address region="{:02}" fias="0c5b2444-70a0-4932-980c-b4dc0d3f{:04x}">{city}, {street}, д. {}, кв. {}</req:Address>
            </req:Owner>
            <req:Note>Регистрация &amp; учёт: «{make}», владелец {s} {n}; сведения переданы в ФИС ГИБДД-М</req:Note>
          </req:Vehicle>
          "#,
        i * 7919,
        2005 + i % 19,
        i % 1000,
        (i * 3) % 1000,
        (i * 7) % 1000,
        i % 100,
        50 + i % 50,
        1 + i % 9,
        i % 10,
        (i % 89) + 1,
        i % 0x10000,
        1 + i % 150,
        1 + i % 300,
    )
}

/// A SMEV 1.2 `SendRequestRequest` whose `SenderProvidedRequestData` is at least `target` bytes.
fn send_request(target: usize) -> String {
    let head = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <tns:SendRequestRequest xmlns:tns="{TYPES_12}" xmlns:b="{BASIC_12}">
      <tns:SenderProvidedRequestData Id="{SIGNED_ID}">
        <tns:MessageID>db0486d0-3c08-11e5-95e2-d4c9eff07b77</tns:MessageID>
        <b:MessagePrimaryContent>
          <req:VehicleRegistrationRequest xmlns:req="urn://x-artefacts-gibdd-gov-ru/vehicle-registration/1.0.0" requestDate="2024-05-17" department="ГУ МВД России по г. Москве">
          "#
    );
    let tail = r#"</req:VehicleRegistrationRequest>
        </b:MessagePrimaryContent>
        <tns:TestMessage/>
      </tns:SenderProvidedRequestData>
    </tns:SendRequestRequest>
  </soap:Body>
</soap:Envelope>
"#;
    // The signed element spans from its start tag in `head` to its end tag in `tail`.
    let end_tag = "</tns:SenderProvidedRequestData>";
    let element_overhead = head.len() - head.find("<tns:SenderProvidedRequestData").unwrap_or(0)
        + tail.find(end_tag).map_or(tail.len(), |i| i + end_tag.len());
    let mut body = String::new();
    let mut i = 0;
    while element_overhead + body.len() < target {
        body.push_str(&record(i));
        i += 1;
    }
    format!("{head}{body}{tail}")
}

/// What each benchmark needs for one algorithm and size, prepared once.
struct Prepared {
    unsigned: Vec<u8>,
    signed: Vec<u8>,
    element_len: usize,
}

fn signer_for(alg: SignatureAlgorithm) -> Box<dyn Signer> {
    let identity = generate_test_identity(&TestIdentityParams::new(
        alg,
        "CN=Информационная система потребителя, O=Тест",
    ))
    .expect("test identity");
    OpenSslProvider::new()
        .load_signer(identity.key_pem.as_bytes(), identity.certificate)
        .expect("signer")
}

fn sign(input: &[u8], signer: &dyn Signer) -> Vec<u8> {
    dsig::sign_document(
        input,
        SIGNED_ID,
        signer,
        &OpenSslProvider::new(),
        Placement::Smev,
        &SignOptions::default(),
    )
    .expect("sign_document")
}

/// `Document::parse` + `verify_wrapped` with the expected target.
fn verify(signed: &[u8], provider: &dyn CryptoProvider, options: &VerifyOptions) -> bool {
    let doc = Document::parse(signed, Limits::default()).expect("parse");
    verify_parsed(&doc, provider, options)
}

/// `verify_wrapped` of a parsed message with the expected target, as the bus verifies a call.
fn verify_parsed(
    doc: &Document<'_>,
    provider: &dyn CryptoProvider,
    options: &VerifyOptions,
) -> bool {
    let target = doc
        .find(TYPES_12, "SenderProvidedRequestData")
        .next()
        .expect("target");
    let wrapper = doc
        .find(TYPES_12, "CallerInformationSystemSignature")
        .next();
    let options = VerifyOptions {
        expected_target: Some(target.index()),
        ..options.clone()
    };
    dsig::verify_wrapped(wrapper.as_ref(), provider, &options).is_valid()
}

fn prepare(size: usize, signer: &dyn Signer) -> Prepared {
    let unsigned = send_request(size).into_bytes();
    let signed = sign(&unsigned, signer);
    let doc = Document::parse(&signed, Limits::default()).expect("parse");
    let element_len = doc
        .find(TYPES_12, "SenderProvidedRequestData")
        .next()
        .expect("target")
        .range()
        .len();
    assert!(
        verify(&signed, &OpenSslProvider::new(), &VerifyOptions::now()),
        "the prepared signature must verify"
    );
    Prepared {
        unsigned,
        signed,
        element_len,
    }
}

/// The crypto-only baseline input: a real canonical `SignedInfo` and its `SignatureValue`.
struct RawInput<'s> {
    alg: SignatureAlgorithm,
    alg_name: &'static str,
    signer: &'s dyn Signer,
    canonical: Vec<u8>,
    value: Vec<u8>,
}

const SIZES: [(usize, &str); 2] = [(2 * 1024, "2KiB"), (1024 * 1024, "1MiB")];

/// The real canonical `SignedInfo` and signature value of a signed message: what the raw
/// verification is given.
fn raw_input(signed: &[u8], provider: &dyn CryptoProvider) -> (Vec<u8>, Vec<u8>) {
    let doc = Document::parse(signed, Limits::default()).expect("parse");
    let options = VerifyOptions {
        capture: true,
        ..VerifyOptions::now()
    };
    let report = dsig::verify_all(&doc, provider, &options).remove(0);
    let canonical = report.canonical_signed_info.expect("captured SignedInfo");
    let sig = doc
        .find(dsig::DSIG_NS, "Signature")
        .next()
        .expect("signature");
    let value = dsig::parse_signature(&sig)
        .expect("parse_signature")
        .signature_value;
    (canonical, value)
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, large: bool) {
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    if large {
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
    } else {
        group.sample_size(50);
    }
}

fn benches(c: &mut Criterion) {
    let provider = OpenSslProvider::new();
    let verify_options = VerifyOptions::now();
    let signers: Vec<Box<dyn Signer>> =
        ALGORITHMS.iter().map(|(alg, _)| signer_for(*alg)).collect();
    let mut raw_inputs: Vec<RawInput<'_>> = Vec::new();

    for ((alg, alg_name), signer) in ALGORITHMS.into_iter().zip(&signers) {
        for (size, size_name) in SIZES {
            let prepared = prepare(size, signer.as_ref());
            eprintln!(
                "[{alg_name}/{size_name}] signed element {} bytes, unsigned message {} bytes, signed message {} bytes",
                prepared.element_len,
                prepared.unsigned.len(),
                prepared.signed.len()
            );
            let large = size > 64 * 1024;

            let mut group = c.benchmark_group(format!("sign/{alg_name}"));
            configure(&mut group, large);
            group.throughput(Throughput::Bytes(prepared.element_len as u64));
            group.bench_function(size_name, |b| {
                b.iter(|| sign(black_box(&prepared.unsigned), signer.as_ref()))
            });
            group.finish();

            let mut group = c.benchmark_group(format!("verify/{alg_name}"));
            configure(&mut group, large);
            group.throughput(Throughput::Bytes(prepared.element_len as u64));
            group.bench_function(size_name, |b| {
                b.iter(|| {
                    assert!(verify(
                        black_box(&prepared.signed),
                        &provider,
                        &verify_options
                    ))
                })
            });
            group.finish();

            let parsed = Document::parse(&prepared.signed, Limits::default()).expect("parse");
            let mut group = c.benchmark_group(format!("verify_parsed/{alg_name}"));
            configure(&mut group, large);
            group.throughput(Throughput::Bytes(prepared.element_len as u64));
            group.bench_function(size_name, |b| {
                b.iter(|| {
                    assert!(verify_parsed(
                        black_box(&parsed),
                        &provider,
                        &verify_options
                    ))
                })
            });
            group.finish();

            if size == SIZES[0].0 {
                let (canonical, value) = raw_input(&prepared.signed, &provider);
                eprintln!(
                    "[{alg_name}] canonical SignedInfo {} bytes, SignatureValue {} bytes",
                    canonical.len(),
                    value.len()
                );
                raw_inputs.push(RawInput {
                    alg,
                    alg_name,
                    signer: signer.as_ref(),
                    canonical,
                    value,
                });
            }
        }
    }

    for RawInput {
        alg,
        alg_name,
        signer,
        canonical,
        value,
    } in &raw_inputs
    {
        let cert = signer.certificate().clone();
        provider
            .verify(&cert, *alg, canonical, value)
            .expect("raw verify");
        let mut group = c.benchmark_group("raw_verify");
        configure(&mut group, false);
        group.throughput(Throughput::Elements(1));
        group.bench_function(*alg_name, |b| {
            b.iter(|| {
                provider
                    .verify(&cert, *alg, black_box(canonical), black_box(value))
                    .expect("valid")
            })
        });
        group.finish();

        // The same, but with the certificate decoded as a message's `X509Certificate` is: every
        // verification of a message starts from a fresh `Certificate` (no warm OpenSSL `X509`).
        let der = cert.der().to_vec();
        let mut group = c.benchmark_group("raw_verify_fresh_cert");
        configure(&mut group, false);
        group.throughput(Throughput::Elements(1));
        group.bench_function(*alg_name, |b| {
            b.iter(|| {
                let cert = Certificate::from_der(black_box(&der)).expect("certificate");
                provider
                    .verify(&cert, *alg, black_box(canonical), black_box(value))
                    .expect("valid")
            })
        });
        group.finish();

        let mut group = c.benchmark_group("raw_sign");
        configure(&mut group, false);
        group.throughput(Throughput::Elements(1));
        group.bench_function(*alg_name, |b| {
            b.iter(|| signer.sign(black_box(canonical)).expect("sign"))
        });
        group.finish();
    }

    // XML stages alone (algorithm independent), over the signed GOST message.
    let signer = signer_for(SignatureAlgorithm::Gost2012_256);
    for (size, size_name) in SIZES {
        let prepared = prepare(size, signer.as_ref());
        let large = size > 64 * 1024;
        let doc = Document::parse(&prepared.signed, Limits::default()).expect("parse");
        let target = doc
            .find(TYPES_12, "SenderProvidedRequestData")
            .next()
            .expect("target");
        let bytes = target.range().len() as u64;

        let mut group = c.benchmark_group("parse");
        configure(&mut group, large);
        group.throughput(Throughput::Bytes(prepared.signed.len() as u64));
        group.bench_function(size_name, |b| {
            b.iter(|| {
                Document::parse(black_box(&prepared.signed), Limits::default())
                    .expect("parse")
                    .len()
            })
        });
        group.finish();

        let mut group = c.benchmark_group("smev_transform");
        configure(&mut group, large);
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(size_name, |b| {
            b.iter(|| {
                transform::transform_element(&target, None, Flavor::Woodstox, &mut std::io::sink())
                    .expect("transform")
            })
        });
        group.finish();

        let mut group = c.benchmark_group("exc_c14n");
        configure(&mut group, large);
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(size_name, |b| {
            b.iter(|| {
                c14n::canonicalize_element(&target, None, &[], &mut std::io::sink()).expect("c14n")
            })
        });
        group.finish();

        if !large {
            // The signature structure and the canonical SignedInfo, as verification reads them.
            let sig = doc
                .find(dsig::DSIG_NS, "Signature")
                .next()
                .expect("signature");
            let signed_info = doc.element(
                dsig::parse_signature(&sig)
                    .expect("parse_signature")
                    .signed_info,
            );
            let mut group = c.benchmark_group("signature_structure");
            configure(&mut group, false);
            group.bench_function("parse_signature", |b| {
                b.iter(|| dsig::parse_signature(black_box(&sig)).expect("parse_signature"))
            });
            group.bench_function("signed_info_c14n", |b| {
                b.iter(|| c14n::canonicalize_to_vec(black_box(&signed_info), &[]).expect("c14n"))
            });
            group.finish();
        }

        let mut transformed = Vec::new();
        transform::transform_element(&target, None, Flavor::Woodstox, &mut transformed)
            .expect("transform");
        let mut group = c.benchmark_group(format!("digest/{size_name}"));
        configure(&mut group, large);
        group.throughput(Throughput::Bytes(transformed.len() as u64));
        for (digest, name) in [
            (
                opensmev_crypto::DigestAlgorithm::Gost3411_2012_256,
                "streebog256",
            ),
            (opensmev_crypto::DigestAlgorithm::Sha256, "sha256"),
        ] {
            group.bench_function(name, |b| {
                b.iter(|| {
                    provider
                        .digest(digest, black_box(&transformed))
                        .expect("digest")
                })
            });
        }
        group.finish();
    }

    // The fixed cost of one digest call (context set-up through the engine), apart from the
    // bytes: one 16-byte input.
    let mut group = c.benchmark_group("digest_call");
    configure(&mut group, false);
    group.bench_function("streebog256_16B", |b| {
        b.iter(|| {
            provider
                .digest(
                    opensmev_crypto::DigestAlgorithm::Gost3411_2012_256,
                    black_box(b"0123456789abcdef"),
                )
                .expect("digest")
        })
    });
    group.finish();
}

/// The verify-rate target as one paired measurement: `verify`, `verify_parsed` and `raw_verify`
/// of the 2 KiB GOST message run interleaved in short blocks, so that the drift of a shared
/// machine (easily ±5 % between criterion groups minutes apart) hits all three alike; prints
/// each one's median block time and the median and quartiles of the per-block ratios.
fn paired() {
    const BLOCKS: usize = 300;
    const PER_BLOCK: u32 = 40;
    let provider = OpenSslProvider::new();
    let options = VerifyOptions::now();
    let signer = signer_for(SignatureAlgorithm::Gost2012_256);
    let prepared = prepare(SIZES[0].0, signer.as_ref());
    let parsed = Document::parse(&prepared.signed, Limits::default()).expect("parse");
    let (canonical, value) = raw_input(&prepared.signed, &provider);
    let cert = signer.certificate().clone();
    let alg = SignatureAlgorithm::Gost2012_256;
    let time = |f: &mut dyn FnMut()| {
        let start = std::time::Instant::now();
        for _ in 0..PER_BLOCK {
            f();
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(PER_BLOCK)
    };
    let mut rows: Vec<[f64; 3]> = Vec::with_capacity(BLOCKS);
    for block in 0..BLOCKS + 10 {
        let row = [
            time(&mut || assert!(verify(black_box(&prepared.signed), &provider, &options))),
            time(&mut || assert!(verify_parsed(black_box(&parsed), &provider, &options))),
            time(&mut || {
                provider
                    .verify(&cert, alg, black_box(&canonical), black_box(&value))
                    .expect("valid")
            }),
        ];
        if block >= 10 {
            rows.push(row); // the first blocks warm up
        }
    }
    let quartiles = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        [v[v.len() / 4], v[v.len() / 2], v[v.len() * 3 / 4]]
    };
    let column = |i: usize| quartiles(rows.iter().map(|r| r[i]).collect());
    let ratio = |i: usize| quartiles(rows.iter().map(|r| r[2] / r[i]).collect());
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "paired/gost2012_256/2KiB: {BLOCKS} blocks of {PER_BLOCK} calls each, interleaved; median µs per call: \
         verify {:.2}, verify_parsed {:.2}, raw_verify {:.2}",
        column(0)[1],
        column(1)[1],
        column(2)[1]
    );
    for (name, i) in [("verify", 0), ("verify_parsed", 1)] {
        let [q1, median, q3] = ratio(i);
        let _ = writeln!(
            out,
            "paired ratio raw_verify / {name}: median {:.1} % (quartiles {:.1} – {:.1} %)",
            median * 100.0,
            q1 * 100.0,
            q3 * 100.0
        );
    }
}

criterion_group!(sign_verify, benches);

fn main() {
    if std::env::var_os("OPENSMEV_PAIRED").is_some() {
        paired();
        return;
    }
    sign_verify();
    Criterion::default().configure_from_args().final_summary();
}
