//! PDF output checked with Debian's poppler-utils (`pdftotext`, `pdfinfo`).

use std::io::Write;
use std::path::Path;
use std::process::Command;

use opensmev_print::{Block, Document, pdf};

/// Notes on stderr that a check was skipped (the caller then returns early).
fn skip(reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

/// Whether a poppler-utils binary is installed.
fn have(tool: &str) -> bool {
    Command::new(tool).arg("-v").output().is_ok()
}

fn note(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

fn row(label: &str, value: &str) -> Block {
    Block::Row {
        label: label.to_owned(),
        value: value.to_owned(),
    }
}

fn section(title: &str, body: Vec<Block>) -> Block {
    Block::Section {
        title: title.to_owned(),
        body,
    }
}

/// A deterministic Base64-alphabet string of `len` characters.
fn base64ish(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ALPHABET[(state >> 58) as usize] as char
        })
        .collect()
}

fn write_pdf(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write the PDF");
    path
}

fn pdftotext(path: &Path) -> String {
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(path)
        .arg("-")
        .output()
        .expect("run pdftotext");
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("pdftotext prints UTF-8")
}

/// The page count reported by `pdfinfo` (which also fails on a broken file).
fn pdfinfo_pages(path: &Path) -> usize {
    let out = Command::new("pdfinfo")
        .arg(path)
        .output()
        .expect("run pdfinfo");
    assert!(
        out.status.success(),
        "pdfinfo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = String::from_utf8_lossy(&out.stdout);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in pdfinfo output:\n{info}"))
}

/// All "стр. N из M" of the text, in order.
fn page_numbers(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("стр. ") {
        rest = &rest[at + "стр. ".len()..];
        let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[n.len()..];
        let Some(after) = after.strip_prefix(" из ") else {
            continue;
        };
        let m: String = after.chars().take_while(char::is_ascii_digit).collect();
        if let (Ok(n), Ok(m)) = (n.parse(), m.parse()) {
            found.push((n, m));
        }
    }
    found
}

fn big_document(signature: &str) -> Document {
    let mut body = vec![
        section(
            "Сведения о заявителе",
            vec![
                row("Фамилия", "Иванов Иван Иванович"),
                row("СНИЛС", "112-233-445 95"),
                row("Дата рождения", "01.02.1980"),
                section(
                    "Адрес регистрации",
                    vec![
                        row("Регион", "г. Москва"),
                        row(
                            "Улица",
                            "улица Большая Якиманка, дом 22, корпус 3, строение 1, квартира 15 \
                             (вход со двора, домофон не работает, звонить по телефону заранее)",
                        ),
                        section("Ориентиры", vec![row("Ближайшая станция метро", "Полянка")]),
                    ],
                ),
            ],
        ),
        row("Подпись (Base64)", signature),
    ];
    body.push(section(
        "Начисления",
        (1..=300)
            .map(|i| {
                row(
                    &format!("Строка {i}"),
                    &format!("Сумма {i} руб. за период {:02}.2026", i % 12 + 1),
                )
            })
            .collect(),
    ));
    Document {
        title: "Ответ на запрос сведений о застрахованном лице".to_owned(),
        meta: vec![
            (
                "Идентификатор сообщения".to_owned(),
                "0b3c5a1e-7f0d-11f0-9d2b-0242ac120002".to_owned(),
            ),
            (
                "Вид сведений".to_owned(),
                "urn://x-artefacts-pfr/snils/1.0.0".to_owned(),
            ),
            ("Отправитель".to_owned(), "ИС «Социальный фонд»".to_owned()),
            ("Дата".to_owned(), "07.12.2026 10:00 МСК".to_owned()),
        ],
        body,
        footer: Some("Сформировано OpenSMEV 07.12.2026 10:00 МСК".to_owned()),
    }
}

#[test]
fn cyrillic_document_of_several_pages_round_trips_through_pdftotext() {
    let signature = base64ish(5000);
    let doc = big_document(&signature);
    let started = std::time::Instant::now();
    let bytes = pdf(&doc).expect("pdf() succeeds");
    note(&format!(
        "300-row document: {} bytes, rendered in {:?}",
        bytes.len(),
        started.elapsed()
    ));
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF header");
    assert!(bytes.len() > 1000);

    if !have("pdftotext") || !have("pdfinfo") {
        skip("pdftotext/pdfinfo not installed (apt-get install poppler-utils)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_pdf(dir.path(), "big.pdf", &bytes);
    let text = pdftotext(&path);

    for needle in [
        "Ответ на запрос сведений о застрахованном лице",
        "Идентификатор сообщения",
        "0b3c5a1e-7f0d-11f0-9d2b-0242ac120002",
        "ИС «Социальный фонд»",
        "Сведения о заявителе",
        "Фамилия",
        "Иванов Иван Иванович",
        "СНИЛС",
        "112-233-445 95",
        "Адрес регистрации",
        "Ближайшая станция метро",
        "Полянка",
        "Начисления",
        "Сформировано OpenSMEV 07.12.2026 10:00 МСК",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    for i in 1..=300 {
        let needle = format!("Сумма {i} руб. за период {:02}.2026", i % 12 + 1);
        assert!(text.contains(&needle), "{needle:?} missing");
    }

    // Page count: several pages, and every page says "стр. N из M" with the right N and M.
    let pages = pdfinfo_pages(&path);
    assert!(pages > 1, "expected several pages, got {pages}");
    let numbers = page_numbers(&text);
    let expected: Vec<(usize, usize)> = (1..=pages).map(|n| (n, pages)).collect();
    assert_eq!(numbers, expected, "footer page numbers");
    assert_eq!(text.matches('\u{c}').count(), pages, "form feeds (pages)");

    // The long value comes back whole, in order, once the footers and whitespace are removed.
    let joined: String = text
        .lines()
        .filter(|l| !l.contains("стр. "))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        joined.contains(&signature),
        "the 5,000-character value did not come back intact"
    );
}

#[test]
fn odd_input_gives_valid_pdfs() {
    let mut deep = row("Самое глубокое поле", "значение");
    for level in (0..300).rev() {
        deep = section(&format!("Уровень {level}"), vec![deep]);
    }
    let cases: Vec<(&str, Document)> = vec![
        ("empty", Document::default()),
        (
            "controls-and-emoji",
            Document {
                title: "Заголовок\u{0}с\u{7}управляющими\r\nсимволами".to_owned(),
                meta: vec![(String::new(), String::new())],
                body: vec![
                    row("Нуль", "до\u{0}после"),
                    row("Эмодзи", "улыбка 😀👍🏽 конец \u{1F1F7}\u{1F1FA}"),
                    row(
                        "Смешанное",
                        "\u{202E}abc\u{200B}\u{FEFF}\u{AD}\t\u{1b}[31mred",
                    ),
                    row("", ""),
                    row("Китайский", "中文 العربية עברית"),
                    section("", vec![]),
                ],
                footer: Some("\u{0}\n\n".to_owned()),
            },
        ),
        (
            "huge-label",
            Document {
                title: "Д".repeat(3000),
                meta: Vec::new(),
                body: vec![
                    row(&"Я".repeat(10_000), "короткое значение"),
                    row(&"слово ".repeat(2000), &"x".repeat(10_000)),
                ],
                footer: Some("подвал ".repeat(500)),
            },
        ),
        (
            "deep-nesting",
            Document {
                title: "Вложенность".to_owned(),
                body: vec![deep],
                ..Document::default()
            },
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let poppler = have("pdftotext") && have("pdfinfo");
    if !poppler {
        skip("pdftotext/pdfinfo not installed: only the PDF header is checked");
    }
    for (name, doc) in cases {
        let bytes = pdf(&doc).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(bytes.starts_with(b"%PDF-"), "{name}: not a PDF header");
        assert!(
            bytes.trim_ascii_end().ends_with(b"%%EOF"),
            "{name}: no %%EOF"
        );
        if !poppler {
            continue;
        }
        let path = write_pdf(dir.path(), &format!("{name}.pdf"), &bytes);
        let pages = pdfinfo_pages(&path);
        assert!(pages >= 1, "{name}: no pages");
        let text = pdftotext(&path);
        let numbers = page_numbers(&text);
        assert_eq!(numbers.len(), pages, "{name}: page numbers");
        match name {
            "empty" => assert_eq!(pages, 1),
            "controls-and-emoji" => {
                assert!(text.contains("допосле"), "{text}");
                assert!(text.contains("улыбка ??? конец ??"), "{text}");
                assert!(text.contains("abc"), "{text}");
                assert!(text.contains("Заголовоксуправляющими"), "{text}");
                assert!(text.contains("中文") || text.contains('?'), "{text}");
            }
            "huge-label" => {
                assert!(pages > 1, "{name}: a 10,000-character label spans pages");
                let joined: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                assert!(joined.matches('Я').count() == 10_000, "{name}: label cut");
            }
            "deep-nesting" => {
                assert!(text.contains("Самое глубокое поле"), "{text}");
                assert!(text.contains("Уровень 299"), "{name}");
            }
            _ => {}
        }
    }
}

#[test]
fn page_numbers_without_a_footer_line() {
    let doc = Document {
        title: "Без подвала".to_owned(),
        meta: Vec::new(),
        body: (0..120)
            .map(|i| row(&format!("Поле {i}"), "значение"))
            .collect(),
        footer: None,
    };
    let bytes = pdf(&doc).expect("pdf() succeeds");
    assert!(bytes.starts_with(b"%PDF-"));
    if !have("pdftotext") || !have("pdfinfo") {
        skip("pdftotext/pdfinfo not installed (apt-get install poppler-utils)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_pdf(dir.path(), "no-footer.pdf", &bytes);
    let pages = pdfinfo_pages(&path);
    assert!(pages > 1);
    let expected: Vec<(usize, usize)> = (1..=pages).map(|n| (n, pages)).collect();
    assert_eq!(page_numbers(&pdftotext(&path)), expected);
}
