//! Shared by the integration tests that run the real `opensmev serve` on a free loopback port:
//! its command line, its banner ("OpenSMEV listening on http://127.0.0.1:PORT/smev/v1.1/ws, …")
//! and the address in it, and waiting until it answers.

// Each test binary includes this module and uses only its own part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `command` + `[--lang en] serve [--demo] --listen 127.0.0.1:0 --data-dir DIR`, standard output
/// piped for the banner; the caller adds its environment, further arguments and standard error.
pub(crate) fn serve_command(
    mut command: Command,
    lang_en: bool,
    demo: bool,
    data_dir: &Path,
) -> Command {
    if lang_en {
        command.args(["--lang", "en"]);
    }
    command.arg("serve");
    if demo {
        command.arg("--demo");
    }
    command
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped());
    command
}

/// Reads the first line of the banner from the server's standard output; a thread reads the rest
/// (so the server never blocks on a full pipe) and returns it.
pub(crate) fn read_banner(child: &mut Child) -> (String, JoinHandle<String>) {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    reader.read_line(&mut first_line).unwrap();
    let rest = std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        String::from_utf8_lossy(&rest).into_owned()
    });
    (first_line, rest)
}

/// How many API tokens the demo banner prints (admin, operator, auditor and the three demo
/// systems).
pub(crate) const DEMO_TOKENS: usize = 6;

/// Reads a demo server's banner: its `host:port` and its API tokens by holder; waits until the
/// server answers (the rest of its standard output is drained in the background).
pub(crate) fn read_demo_banner(
    child: &mut Child,
) -> (String, std::collections::HashMap<String, String>) {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    let address = address_of(banner_url(&first));
    let mut tokens = std::collections::HashMap::new();
    let mut line = String::new();
    while tokens.len() < DEMO_TOKENS {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the banner ended before the demo tokens"
        );
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [holder, secret] = words.as_slice()
            && secret.starts_with("osmv_")
        {
            tokens.insert((*holder).to_owned(), (*secret).to_owned());
        }
    }
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
    });
    wait_ready(&address);
    (address, tokens)
}

/// The `http://…/smev/v1.1/ws` URL of the banner's first line.
pub(crate) fn banner_url(first_line: &str) -> &str {
    first_line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in the banner: {first_line:?}"))
        .trim_end_matches(',')
}

/// `host:port` of an `http://host:port/…` URL.
pub(crate) fn address_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

/// Waits until `?wsdl` is answered at `address`: the server runs, its banner is complete.
pub(crate) fn wait_ready(address: &str) {
    let start = Instant::now();
    loop {
        if let Ok(mut stream) = TcpStream::connect(address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let request = format!(
                "GET /smev/v1.2/ws?wsdl HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server did not answer"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
