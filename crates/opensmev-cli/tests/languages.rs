//! The command line in both languages, run as the real binary: the help of the root, of every
//! subcommand and of every nested subcommand, and a few errors, in Russian (the default) and in
//! English (`--lang en`, `OPENSMEV_LANG=en`), with no mixed text.
//!
//! Russian: every line of prose, once option names, placeholders (`FILE`, `<DATA_DIR>`), paths,
//! file names, URLs, code spans and the values in [`RU_IGNORED`] are taken out, holds Cyrillic
//! and none of the common English words of [`ENGLISH_WORDS`]. Exempt: the line
//! «Подробности (на английском): …» of an error, which quotes the English-only message of a lower
//! layer (the TOML parser, the registry check) after the Russian one.
//!
//! English: no Cyrillic at all, except the example value in [`EN_EXEMPT`].

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

/// Common English words that must not appear in Russian prose.
const ENGLISH_WORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "of",
    "to",
    "is",
    "are",
    "be",
    "file",
    "files",
    "with",
    "without",
    "for",
    "from",
    "and",
    "or",
    "not",
    "no",
    "this",
    "that",
    "in",
    "on",
    "by",
    "at",
    "it",
    "its",
    "print",
    "show",
    "default",
    "options",
    "usage",
    "commands",
    "command",
    "arguments",
    "argument",
    "possible",
    "values",
    "value",
    "version",
    "error",
    "unexpected",
    "found",
    "tip",
    "reading",
    "writing",
    "directory",
    "certificate",
    "registry",
    "message",
    "messages",
    "request",
    "response",
    "send",
    "take",
    "next",
    "only",
    "also",
    "instead",
    "here",
    "there",
    "data",
    "check",
    "store",
    "kind",
    "sign",
    "signature",
    "verify",
    "run",
    "generate",
    "written",
    "invalid",
    "unknown",
    "required",
    "missing",
    "such",
    "permission",
    "denied",
    "env",
];

/// Words of Russian lines that are names, not prose: subcommand and value names.
const RU_IGNORED: &[&str] = &["help"];

/// Cyrillic allowed in English help: an example certificate subject.
const EN_EXEMPT: &[&str] = &["CN=Тестовая ИС, O=Тест"];

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_opensmev")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Lang {
    Ru,
    /// English through `--lang en`.
    EnFlag,
    /// English through `OPENSMEV_LANG=en`.
    EnEnv,
}

fn run(lang: Lang, args: &[&str]) -> Output {
    let mut command = Command::new(bin());
    command
        .env_remove("OPENSMEV_LANG")
        .env_remove("OPENSMEV_CONFIG")
        .env_remove("OPENSMEV_LOG");
    match lang {
        Lang::Ru => {}
        Lang::EnFlag => {
            command.arg("--lang").arg("en");
        }
        Lang::EnEnv => {
            command.env("OPENSMEV_LANG", "en");
        }
    }
    command.args(args).output().expect("the binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{04FF}').contains(&c)
}

/// The words of a line that count as prose: what is left after option names, placeholders,
/// paths, URLs, code spans and identifiers are taken out.
fn prose_words(line: &str) -> Vec<String> {
    // A command list entry ("  verify      Проверить …"): the first word is a command's name.
    let mut line = line.to_owned();
    if line.starts_with("  ")
        && !line.trim_start().starts_with('-')
        && let Some((name, rest)) = line.trim_start().split_once("  ")
        && !name.contains(' ')
    {
        line = rest.to_owned();
    }
    // Code spans, and the values of the "[по умолчанию: …]" notes.
    let mut cleaned = String::new();
    let mut in_code = false;
    let mut rest = line.as_str();
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("[по умолчанию:") {
            rest = after.split_once(']').map_or("", |(_, tail)| tail);
            continue;
        }
        rest = &rest[c.len_utf8()..];
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            cleaned.push(c);
        }
    }
    let mut words = Vec::new();
    let mut command_path = false;
    for token in cleaned.split_whitespace() {
        // "opensmev sig verify …": the command path of a usage line.
        if token == "opensmev" {
            command_path = true;
            continue;
        }
        if command_path
            && token
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            continue;
        }
        command_path = false;
        let token = token.trim_matches(|c: char| ",.;:()[]«»\"'!?".contains(c));
        let skip = token.is_empty()
            || token.starts_with('-')
            || token.starts_with('<')
            || token.starts_with('[')
            || token.contains('/')
            || token.contains('=')
            || token.contains('_')
            || token.contains("://")
            || (token.contains('.') && !token.ends_with('.'))
            || token.chars().any(|c| c.is_ascii_digit())
            // Placeholders and acronyms: FILE, XML, SMEV, CMS/PKCS#7, SignedInfo-like names.
            || token.chars().filter(|c| c.is_alphabetic()).all(|c| c.is_uppercase())
            || token.chars().skip(1).any(|c| c.is_uppercase());
        if !skip {
            words.push(token.to_owned());
        }
    }
    words
}

/// The problems of a Russian text, one per offending line.
fn russian_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("Подробности (на английском):")
        {
            continue;
        }
        let words = prose_words(line);
        let latin: Vec<&String> = words
            .iter()
            .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
            .filter(|w| !RU_IGNORED.contains(&w.as_str()))
            .collect();
        let english: Vec<&&String> = latin
            .iter()
            .filter(|w| ENGLISH_WORDS.contains(&w.to_lowercase().as_str()))
            .collect();
        if !english.is_empty() {
            problems.push(format!("English words {english:?} in: {line}"));
        } else if !latin.is_empty() && !trimmed.chars().any(is_cyrillic) {
            problems.push(format!("no Russian in: {line}"));
        }
    }
    problems
}

/// The problems of an English text: lines with Cyrillic outside the exemptions.
fn english_problems(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| {
            let mut line = line.to_string();
            for exempt in EN_EXEMPT {
                line = line.replace(exempt, "");
            }
            line.chars().any(is_cyrillic)
        })
        .map(|line| format!("Cyrillic in: {line}"))
        .collect()
}

fn problems(lang: Lang, text: &str) -> Vec<String> {
    match lang {
        Lang::Ru => russian_problems(text),
        Lang::EnFlag | Lang::EnEnv => english_problems(text),
    }
}

/// The subcommand names listed in a help text (the lines under the commands heading).
fn subcommands(help: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line == "Commands:" || line == "Команды:" {
            in_commands = true;
            continue;
        }
        if in_commands {
            if !line.starts_with("  ") {
                in_commands = false;
                continue;
            }
            if let Some(name) = line.split_whitespace().next()
                && name != "help"
            {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// Every command path, from the root's help down, with its help text in `lang`.
fn walk(lang: Lang) -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    let mut pending = vec![Vec::<String>::new()];
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let output = run(lang, &args);
        assert!(output.status.success(), "{path:?} --help: {output:?}");
        let help = text(&output);
        for name in subcommands(&help) {
            let mut sub = path.clone();
            sub.push(name);
            pending.push(sub);
        }
        found.push((path, help));
    }
    found
}

#[test]
fn help_of_every_command_reads_in_one_language() {
    let mut all = Vec::new();
    for lang in [Lang::Ru, Lang::EnFlag, Lang::EnEnv] {
        let helps = walk(lang);
        let paths: BTreeSet<String> = helps.iter().map(|(p, _)| p.join(" ")).collect();
        for expected in [
            "",
            "serve",
            "registry import",
            "sig verify",
            "sig cms-verify",
            "client send-request",
            "client queue-statistics",
            "doctor",
        ] {
            assert!(
                paths.contains(expected),
                "{lang:?}: no help of '{expected}' in {paths:?}"
            );
        }
        assert!(
            paths.len() >= 25,
            "{lang:?}: only {} commands: {paths:?}",
            paths.len()
        );
        for (path, help) in &helps {
            let (usage, options) = match lang {
                Lang::Ru => ("Использование:", "Параметры:"),
                _ => ("Usage:", "Options:"),
            };
            assert!(
                help.contains(usage),
                "{lang:?} {path:?}: no '{usage}':\n{help}"
            );
            assert!(
                help.contains(options),
                "{lang:?} {path:?}: no '{options}':\n{help}"
            );
            for problem in problems(lang, help) {
                all.push(format!("{lang:?} `opensmev {}`: {problem}", path.join(" ")));
            }
        }
    }
    assert!(all.is_empty(), "mixed text:\n{}", all.join("\n"));
}

#[test]
fn russian_is_the_default_and_english_is_asked_for() {
    let ru = text(&run(Lang::Ru, &["sig", "verify", "--help"]));
    assert!(ru.contains("Проверить каждую ds:Signature"), "{ru}");
    let en = text(&run(Lang::EnFlag, &["sig", "verify", "--help"]));
    assert!(en.contains("Verify every ds:Signature"), "{en}");
    // `--lang=en` after the subcommand, too.
    let en = text(&run(Lang::Ru, &["sig", "verify", "--lang=en", "--help"]));
    assert!(en.contains("Verify every ds:Signature"), "{en}");
    // The help subcommand shows the same help.
    let via_help = text(&run(Lang::Ru, &["help", "sig", "verify"]));
    assert!(
        via_help.contains("Проверить каждую ds:Signature"),
        "{via_help}"
    );
    let version = run(Lang::Ru, &["--version"]);
    assert!(version.status.success());
    assert!(text(&version).starts_with("opensmev "), "{version:?}");
}

#[test]
fn errors_read_in_one_language() {
    let dir = tempfile::tempdir().unwrap();
    let bad_registry = dir.path().join("registry.toml");
    std::fs::write(&bad_registry, "[[systems]\nmnemonic = = 1\n").unwrap();
    let missing = dir.path().join("missing.xml");
    let bad = bad_registry.to_str().unwrap();
    let missing = missing.to_str().unwrap();
    let no_store = dir.path().to_str().unwrap();
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["sig", "verify", missing],
            "нет такого файла",
            "No such file",
        ),
        (
            &["sig", "verify", "--bogus", "x.xml"],
            "неизвестный аргумент",
            "unexpected argument",
        ),
        (
            &["frobnicate"],
            "неизвестная команда",
            "unrecognized subcommand",
        ),
        (
            &["sig", "sign", "x.xml"],
            "не заданы обязательные аргументы",
            "required arguments",
        ),
        (
            &["sig", "transform", "--flavor", "nope", "x.xml"],
            "недопустимое значение",
            "invalid value",
        ),
        (&["registry", "check", bad], "файл реестра", "registry file"),
        (
            &["registry", "export", "--data-dir", no_store],
            "нет хранилища",
            "no OpenSMEV store",
        ),
    ];
    let mut all = Vec::new();
    for (args, ru, en) in cases {
        for lang in [Lang::Ru, Lang::EnFlag, Lang::EnEnv] {
            let output = run(lang, args);
            let shown = text(&output);
            assert_eq!(output.status.code(), Some(2), "{lang:?} {args:?}: {shown}");
            let wanted = if lang == Lang::Ru { ru } else { en };
            assert!(
                shown.contains(wanted),
                "{lang:?} {args:?}: no '{wanted}' in:\n{shown}"
            );
            for problem in problems(lang, &shown) {
                all.push(format!("{lang:?} {args:?}: {problem}"));
            }
        }
    }
    assert!(all.is_empty(), "mixed text:\n{}", all.join("\n"));
}

#[test]
fn the_checks_find_mixed_text() {
    // The checks themselves: English prose in Russian, Cyrillic in English.
    assert!(
        !russian_problems("  --data-dir <DATA_DIR>  The data directory of the server").is_empty()
    );
    assert!(!russian_problems("Каталог данных of the server").is_empty());
    assert!(
        russian_problems("  --data-dir <DATA_DIR>  Каталог данных сервера [по умолчанию: data]")
            .is_empty()
    );
    assert!(!english_problems("The data directory (каталог)").is_empty());
    assert!(english_problems("The subject, e.g. \"CN=Тестовая ИС, O=Тест, OGRN=1\"").is_empty());
    assert!(Path::new(bin()).exists());
}
