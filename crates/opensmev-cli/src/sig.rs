//! `opensmev sig …`: the signature checker users lack, and the tools around it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use opensmev_crypto::{
    Certificate, CryptoProvider, OpenSslProvider, SignatureAlgorithm, TestIdentityParams,
    generate_test_identity,
};
use opensmev_xmldsig::c14n;
use opensmev_xmldsig::dsig::{self, Placement, SignOptions, SignatureReport, VerifyOptions};
use opensmev_xmldsig::transform::{self, Flavor, TransformVariant};
use opensmev_xmldsig::xml::{Document, Element, Limits};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::i18n::Lang;

/// The `sig` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum SigCommand {
    /// Verify every ds:Signature in an XML (SOAP) file; exit 0 only if all are valid.
    Verify(VerifyArgs),
    /// Print the SMEV-transform output of an element (default: the root element).
    Transform(TransformArgs),
    /// Print the exclusive canonical form (exc-c14n) of an element (default: the root element).
    C14n(C14nArgs),
    /// Sign the element with Id=ID and put the detached signature in its SMEV place.
    Sign(SignArgs),
    /// Generate a test key and a self-signed certificate.
    Keygen(KeygenArgs),
    /// Show a certificate (PEM, DER or base64).
    Cert(CertArgs),
    /// Create a detached CMS/PKCS#7 signature of a file (e.g. an attachment's SignaturePKCS7).
    CmsSign(CmsSignArgs),
    /// Verify a detached CMS/PKCS#7 signature of a file.
    CmsVerify(CmsVerifyArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FlavorArg {
    /// The reference transform on Woodstox (MR 3.5.0.27, step 9).
    Woodstox,
    /// The reference transform on the JDK's built-in StAX.
    Jdk,
}

impl From<FlavorArg> for Flavor {
    fn from(value: FlavorArg) -> Self {
        match value {
            FlavorArg::Woodstox => Flavor::Woodstox,
            FlavorArg::Jdk => Flavor::Jdk,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The XML file.
    file: PathBuf,
    /// Check certificate validity at this time (RFC 3339) instead of now.
    #[arg(long)]
    at: Option<String>,
    /// Also accept signatures outside the SMEV profile (other transforms, several references).
    #[arg(long)]
    any_profile: bool,
    /// Print the bytes that were hashed for each reference and the canonical SignedInfo.
    #[arg(long)]
    show_transformed: bool,
    /// Accept only digests of this SMEV transform flavor (default: either).
    #[arg(long, value_enum)]
    flavor: Option<FlavorArg>,
    /// Also accept digests of this known non-reference SMEV transform implementation
    /// (python-port, dotnet-crlf), as the registry key transform_variant does for an IS.
    #[arg(long, value_name = "VARIANT")]
    accept_variant: Option<TransformVariant>,
}

#[derive(Debug, Args)]
pub(crate) struct TransformArgs {
    /// The XML file.
    file: PathBuf,
    /// The Id of the element to transform.
    #[arg(long)]
    id: Option<String>,
    /// The transform flavor.
    #[arg(long, value_enum, default_value = "woodstox")]
    flavor: FlavorArg,
}

#[derive(Debug, Args)]
pub(crate) struct C14nArgs {
    /// The XML file.
    file: PathBuf,
    /// The Id of the element to canonicalize.
    #[arg(long)]
    id: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The XML file.
    file: PathBuf,
    /// The Id of the element to sign.
    #[arg(long)]
    id: String,
    /// The private key (PKCS#8 PEM).
    #[arg(long)]
    key: PathBuf,
    /// The certificate (PEM or DER).
    #[arg(long)]
    cert: PathBuf,
    /// The expected algorithm (gost2012-256, gost2012-512, gost2001, ecdsa-p256, rsa-sha256);
    /// it must match the key.
    #[arg(long)]
    alg: Option<String>,
    /// Write the result here instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Print only the ds:Signature element.
    #[arg(long)]
    out_signature: bool,
    /// Put the enveloped-signature transform first (as some clients do).
    #[arg(long)]
    enveloped: bool,
    /// Insert the signature right after the element instead of the SMEV wrapper element.
    #[arg(long)]
    after_element: bool,
    /// The transform flavor.
    #[arg(long, value_enum, default_value = "woodstox")]
    flavor: FlavorArg,
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The algorithm: gost2012-256 (default), gost2012-512, gost2001, ecdsa-p256, rsa-sha256.
    #[arg(long, default_value = "gost2012-256")]
    alg: String,
    /// The subject, e.g. "CN=Тестовая ИС, O=Тест, OGRN=1027700000000, INN=7700000000".
    #[arg(long)]
    subject: String,
    /// The output directory (key.pem and cert.pem are written there).
    #[arg(long)]
    out: PathBuf,
    /// Validity in days from now.
    #[arg(long, default_value_t = 1095)]
    days: i64,
}

#[derive(Debug, Args)]
pub(crate) struct CertArgs {
    /// The certificate file.
    file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CmsSignArgs {
    /// The file to sign.
    file: PathBuf,
    /// The private key (PKCS#8 PEM).
    #[arg(long)]
    key: PathBuf,
    /// The certificate (PEM or DER).
    #[arg(long)]
    cert: PathBuf,
    /// Where to write the DER signature.
    #[arg(long, short)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CmsVerifyArgs {
    /// The signed file.
    file: PathBuf,
    /// The detached signature (DER or PEM).
    #[arg(long)]
    signature: PathBuf,
}

/// Runs one `sig` subcommand.
pub(crate) fn run(command: SigCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    let provider = OpenSslProvider::new();
    match command {
        SigCommand::Verify(args) => verify(args, &provider, lang),
        SigCommand::Transform(args) => {
            let bytes = read(&args.file, lang)?;
            let doc = parse(&bytes, lang)?;
            let element = select(&doc, args.id.as_deref(), lang)?;
            let mut out = Vec::new();
            transform::transform_element(&element, None, args.flavor.into(), &mut out)?;
            write_stdout(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        SigCommand::C14n(args) => {
            let bytes = read(&args.file, lang)?;
            let doc = parse(&bytes, lang)?;
            let element = select(&doc, args.id.as_deref(), lang)?;
            write_stdout(&c14n::canonicalize_to_vec(&element, &[])?)?;
            Ok(ExitCode::SUCCESS)
        }
        SigCommand::Sign(args) => sign(args, &provider, lang),
        SigCommand::Keygen(args) => keygen(args, lang),
        SigCommand::Cert(args) => {
            let cert = load_certificate(&args.file, lang)?;
            let mut out = std::io::stdout().lock();
            print_certificate(&mut out, &cert, OffsetDateTime::now_utc(), lang, "")?;
            Ok(ExitCode::SUCCESS)
        }
        SigCommand::CmsSign(args) => {
            let signer = load_signer(&provider, &args.key, &args.cert, lang)?;
            let signature = signer.sign_cms_detached(&read(&args.file, lang)?)?;
            std::fs::write(&args.out, signature).with_context(|| writing(lang, &args.out))?;
            Ok(ExitCode::SUCCESS)
        }
        SigCommand::CmsVerify(args) => {
            let data = read(&args.file, lang)?;
            let signature = read(&args.signature, lang)?;
            let mut out = std::io::stdout().lock();
            match provider.cms_verify_detached(&signature, &data) {
                Ok(found) => {
                    writeln!(
                        out,
                        "{}",
                        lang.pick("Подпись CMS действительна.", "The CMS signature is valid.")
                    )?;
                    if let Some(digest) = found.digest {
                        writeln!(out, "{}: {}", lang.pick("Хеш", "Digest"), digest.name())?;
                    }
                    print_certificate(
                        &mut out,
                        &found.signer,
                        OffsetDateTime::now_utc(),
                        lang,
                        "",
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    writeln!(
                        out,
                        "{}: {error}",
                        lang.pick(
                            "Подпись CMS недействительна",
                            "The CMS signature is invalid"
                        )
                    )?;
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn read(path: &Path, lang: Lang) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "{} {}",
            lang.pick("чтение файла", "reading"),
            path.display()
        )
    })
}

fn writing(lang: Lang, path: &Path) -> String {
    format!(
        "{} {}",
        lang.pick("запись файла", "writing"),
        path.display()
    )
}

fn parse(bytes: &[u8], lang: Lang) -> anyhow::Result<Document<'_>> {
    Document::parse(bytes, Limits::default()).map_err(|e| {
        let text = String::from_utf8_lossy(bytes);
        let (line, column) = e.line_column(&text);
        anyhow::anyhow!("{}", e.kind).context(
            lang.pick(
                "XML не прочитан (строка {line}, столбец {column})",
                "the XML cannot be read (line {line}, column {column})",
            )
            .replace("{line}", &line.to_string())
            .replace("{column}", &column.to_string()),
        )
    })
}

fn select<'d, 'a>(
    doc: &'d Document<'a>,
    id: Option<&str>,
    lang: Lang,
) -> anyhow::Result<Element<'d, 'a>> {
    let Some(id) = id else { return Ok(doc.root()) };
    let found: Vec<Element<'d, 'a>> = doc.find_by_id(id);
    match found.as_slice() {
        [one] => Ok(*one),
        [] => bail!(
            "{}",
            lang.pick("нет элемента с Id=\"{id}\"", "no element has Id=\"{id}\"")
                .replace("{id}", id)
        ),
        many => bail!(
            "{}",
            lang.pick(
                "Id=\"{id}\" носят несколько элементов: {n}",
                "Id=\"{id}\" is used by {n} elements"
            )
            .replace("{id}", id)
            .replace("{n}", &many.len().to_string())
        ),
    }
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

fn load_certificate(path: &Path, lang: Lang) -> anyhow::Result<Certificate> {
    let bytes = read(path, lang)?;
    let cert = if bytes.starts_with(b"-----BEGIN") {
        Certificate::from_pem(&bytes)
    } else if let Ok(text) = std::str::from_utf8(&bytes) {
        Certificate::from_base64(text).or_else(|_| Certificate::from_der(&bytes))
    } else {
        Certificate::from_der(&bytes)
    };
    cert.with_context(|| {
        format!(
            "{} {}",
            lang.pick("сертификат не прочитан:", "reading the certificate"),
            path.display()
        )
    })
}

fn load_signer(
    provider: &OpenSslProvider,
    key: &Path,
    cert: &Path,
    lang: Lang,
) -> anyhow::Result<Box<dyn opensmev_crypto::Signer>> {
    let certificate = load_certificate(cert, lang)?;
    let key_pem = read(key, lang)?;
    provider
        .load_signer(&key_pem, certificate)
        .with_context(|| {
            format!(
                "{} {}",
                lang.pick("ключ не загружен:", "loading the key"),
                key.display()
            )
        })
}

fn parse_alg(name: &str, lang: Lang) -> anyhow::Result<SignatureAlgorithm> {
    SignatureAlgorithm::from_cli_name(name).with_context(|| {
        let known: Vec<&str> = SignatureAlgorithm::ALL
            .iter()
            .map(|a| a.cli_name())
            .collect();
        lang.pick(
            "неизвестный алгоритм «{name}» (известные: {known})",
            "unknown algorithm '{name}' (known: {known})",
        )
        .replace("{name}", name)
        .replace("{known}", &known.join(", "))
    })
}

fn sign(args: SignArgs, provider: &OpenSslProvider, lang: Lang) -> anyhow::Result<ExitCode> {
    let signer = load_signer(provider, &args.key, &args.cert, lang)?;
    if let Some(name) = &args.alg {
        let wanted = parse_alg(name, lang)?;
        if wanted != signer.algorithm() {
            bail!(
                "{}",
                lang.pick(
                    "ключ предназначен для {key}, а не для {alg}",
                    "the key is for {key}, not {alg}"
                )
                .replace("{key}", signer.algorithm().cli_name())
                .replace("{alg}", wanted.cli_name())
            );
        }
    }
    let input = read(&args.file, lang)?;
    let options = SignOptions {
        enveloped_transform: args.enveloped,
        flavor: args.flavor.into(),
        ..SignOptions::default()
    };
    let output = if args.out_signature {
        let doc = parse(&input, lang)?;
        let target = select(&doc, Some(&args.id), lang)?;
        dsig::create_signature(&target, signer.as_ref(), provider, &options)?.into_bytes()
    } else {
        let placement = if args.after_element {
            Placement::AfterTarget
        } else {
            Placement::Smev
        };
        dsig::sign_document(
            &input,
            &args.id,
            signer.as_ref(),
            provider,
            placement,
            &options,
        )?
    };
    match &args.out {
        Some(path) => std::fs::write(path, &output).with_context(|| writing(lang, path))?,
        None => write_stdout(&output)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn keygen(args: KeygenArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let alg = parse_alg(&args.alg, lang)?;
    let now = OffsetDateTime::now_utc();
    let params = TestIdentityParams {
        not_before: now - time::Duration::hours(1),
        not_after: now + time::Duration::days(args.days),
        ..TestIdentityParams::new(alg, args.subject.clone())
    };
    let identity = generate_test_identity(&params)?;
    std::fs::create_dir_all(&args.out).with_context(|| {
        format!(
            "{} {}",
            lang.pick("создание каталога", "creating"),
            args.out.display()
        )
    })?;
    let key_path = args.out.join("key.pem");
    let cert_path = args.out.join("cert.pem");
    write_private(&key_path, identity.key_pem.as_bytes(), lang)?;
    std::fs::write(&cert_path, identity.cert_pem.as_bytes())
        .with_context(|| writing(lang, &cert_path))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: {}", lang.pick("Ключ", "Key"), key_path.display())?;
    writeln!(
        out,
        "{}: {}",
        lang.pick("Сертификат", "Certificate"),
        cert_path.display()
    )?;
    print_certificate(&mut out, &identity.certificate, now, lang, "")?;
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &Path, bytes: &[u8], lang: Lang) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| writing(lang, path))?;
    file.write_all(bytes)?;
    Ok(())
}

fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn print_certificate(
    out: &mut dyn Write,
    cert: &Certificate,
    at: OffsetDateTime,
    lang: Lang,
    indent: &str,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{indent}{}: {}",
        lang.pick("Владелец", "Subject"),
        cert.subject()
    )?;
    writeln!(
        out,
        "{indent}{}: {}",
        lang.pick("Издатель", "Issuer"),
        cert.issuer()
    )?;
    let state = if cert.is_valid_at(at) {
        lang.pick("действителен", "valid")
    } else if at < cert.not_before() {
        lang.pick("ещё не действителен", "not yet valid")
    } else {
        lang.pick("истёк", "expired")
    };
    writeln!(
        out,
        "{indent}{}: {} — {} ({state} {} {})",
        lang.pick("Срок действия", "Validity"),
        rfc3339(cert.not_before()),
        rfc3339(cert.not_after()),
        lang.pick("на", "at"),
        rfc3339(at)
    )?;
    writeln!(
        out,
        "{indent}{}: {}",
        lang.pick("Ключ", "Key"),
        cert.key_algorithm().name()
    )?;
    writeln!(
        out,
        "{indent}{}: {}",
        lang.pick("Серийный номер", "Serial"),
        cert.serial_hex()
    )?;
    writeln!(
        out,
        "{indent}{}: {}",
        lang.pick("Отпечаток SHA-1", "SHA-1 thumbprint"),
        cert.thumbprint_sha1()
    )?;
    let subject = cert.subject();
    for (label, value) in [
        ("OGRN", subject.ogrn()),
        ("INN", subject.inn()),
        ("SNILS", subject.snils()),
    ] {
        if let Some(value) = value {
            writeln!(out, "{indent}{label}: {value}")?;
        }
    }
    Ok(())
}

fn verify(args: VerifyArgs, provider: &OpenSslProvider, lang: Lang) -> anyhow::Result<ExitCode> {
    let bytes = read(&args.file, lang)?;
    let doc = parse(&bytes, lang)?;
    let at = match &args.at {
        Some(text) => OffsetDateTime::parse(text, &Rfc3339).with_context(|| {
            lang.pick(
                "--at {text}: время не в формате RFC 3339",
                "--at {text}: not RFC 3339",
            )
            .replace("{text}", text)
        })?,
        None => OffsetDateTime::now_utc(),
    };
    let options = VerifyOptions {
        at,
        expected_target: None,
        require_smev_profile: !args.any_profile,
        capture: args.show_transformed,
        flavor: args.flavor.map(Flavor::from).unwrap_or_default(),
        accept_other_flavor: args.flavor.is_none(),
        detect_variants: true,
        accept_variant: args.accept_variant,
    };
    let reports = dsig::verify_all(&doc, provider, &options);
    let mut out = std::io::stdout().lock();
    if reports.is_empty() {
        writeln!(
            out,
            "{}",
            lang.pick(
                "Подписей (ds:Signature) не найдено: NoSignatureFound.",
                "No ds:Signature found: NoSignatureFound."
            )
        )?;
        return Ok(ExitCode::from(1));
    }
    for (n, report) in reports.iter().enumerate() {
        print_report(&mut out, &doc, n + 1, report, &options, lang)?;
    }
    let valid = reports.iter().filter(|r| r.is_valid()).count();
    writeln!(
        out,
        "{}: {valid} / {}",
        lang.pick("Действительных подписей", "Valid signatures"),
        reports.len()
    )?;
    Ok(if valid == reports.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn ok_text(lang: Lang, ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => lang.pick("верно", "OK"),
        Some(false) => lang.pick("НЕВЕРНО", "FAILED"),
        None => lang.pick("не проверялось", "not checked"),
    }
}

fn print_report(
    out: &mut dyn Write,
    doc: &Document<'_>,
    n: usize,
    report: &SignatureReport,
    options: &VerifyOptions,
    lang: Lang,
) -> anyhow::Result<()> {
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    writeln!(
        out,
        "{} {n}: {}",
        lang.pick("Подпись", "Signature"),
        report.signature_path
    )?;
    for reference in &report.references {
        let target = match reference.target {
            Some(id) => {
                let element = doc.element(id);
                format!(
                    "{} (Id=\"{}\")",
                    element.path(),
                    element.id_attr().unwrap_or_default()
                )
            }
            None => format!(
                "{} {}",
                reference.uri.as_deref().unwrap_or("?"),
                lang.pick("(не найден)", "(not found)")
            ),
        };
        writeln!(
            out,
            "  {}: {target}",
            lang.pick("Подписанный элемент", "Signed element")
        )?;
        writeln!(
            out,
            "  {}: {}",
            lang.pick("Преобразования", "Transforms"),
            reference.transforms.join(", ")
        )?;
        writeln!(
            out,
            "  {} ({}): {}",
            lang.pick("Хеш", "Digest"),
            reference.digest_method,
            ok_text(
                lang,
                reference
                    .computed_digest
                    .as_ref()
                    .map(|_| reference.digest_ok())
            )
        )?;
        if !reference.digest_ok() {
            writeln!(
                out,
                "    {}: {}",
                lang.pick("в подписи", "expected"),
                b64(&reference.expected_digest)
            )?;
            if let Some(computed) = &reference.computed_digest {
                writeln!(
                    out,
                    "    {}: {}",
                    lang.pick("вычислено", "computed"),
                    b64(computed)
                )?;
            }
        } else if let Some(flavor) = reference.flavor
            && flavor != options.flavor
        {
            writeln!(
                out,
                "    {}: {}",
                lang.pick("совпал вариант преобразования", "matched transform flavor"),
                flavor.name()
            )?;
        }
        if let Some(variant) = reference.matched_variant {
            let verdict = if reference.variant_accepted {
                lang.pick(
                    "принято по --accept-variant",
                    "accepted as asked by --accept-variant",
                )
            } else {
                lang.pick(
                    "не принимается: шина принимает эталонное преобразование, а для ИС — \
                     вариант, указанный в её записи реестра (transform_variant)",
                    "not accepted: the bus accepts the reference transform, and for an IS the \
                     variant named in its registry entry (transform_variant)",
                )
            };
            writeln!(
                out,
                "    {} {} ({}: {}); {verdict}",
                lang.pick("подписано", "signed with"),
                lang.pick(variant.describe_ru(), variant.describe_en()),
                lang.pick("вариант", "variant"),
                variant.name()
            )?;
        }
        if let Some(bytes) = &reference.transformed {
            writeln!(
                out,
                "    {}:",
                lang.pick("хешированные байты", "hashed bytes")
            )?;
            writeln!(out, "{}", String::from_utf8_lossy(bytes))?;
        }
    }
    let algorithm = match (report.algorithm, &report.signature_method) {
        (Some(alg), _) => format!("{} ({})", alg.name(), alg.uri()),
        (None, Some(uri)) => format!("{uri} ({})", lang.pick("не поддерживается", "unsupported")),
        (None, None) => "?".to_owned(),
    };
    writeln!(out, "  {}: {algorithm}", lang.pick("Алгоритм", "Algorithm"))?;
    if let Some(cert) = &report.certificate {
        writeln!(out, "  {}:", lang.pick("Сертификат", "Certificate"))?;
        print_certificate(out, cert, options.at, lang, "    ")?;
    }
    writeln!(
        out,
        "  {} (SignatureValue): {}",
        lang.pick("Подпись", "Signature"),
        ok_text(lang, report.signature_ok)
    )?;
    if let Some(canonical) = &report.canonical_signed_info {
        writeln!(
            out,
            "    {}:",
            lang.pick("каноническая форма SignedInfo", "canonical SignedInfo")
        )?;
        writeln!(out, "{}", String::from_utf8_lossy(canonical))?;
    }
    match &report.failure {
        None => writeln!(
            out,
            "  {}: {}",
            lang.pick("Итог", "Result"),
            lang.pick("ДЕЙСТВИТЕЛЬНА", "VALID")
        )?,
        Some(failure) => {
            writeln!(
                out,
                "  {}: {} — {} ({})",
                lang.pick("Итог", "Result"),
                lang.pick("НЕДЕЙСТВИТЕЛЬНА", "INVALID"),
                failure.category,
                lang.category(failure.category)
            )?;
            writeln!(
                out,
                "  {}: {}",
                lang.pick("Причина", "Reason"),
                failure.message
            )?;
        }
    }
    writeln!(out)?;
    Ok(())
}
