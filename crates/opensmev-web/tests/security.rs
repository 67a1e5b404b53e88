//! The web cabinet's defences, end to end on the real server in-process
//! (`opensmev_testkit::TestBus`, demo mode, the accounts `mfc01`, `pfr01`, `fns01`), driven by a
//! cookie-less HTTP client that keeps its cookies itself and never follows redirects (every 303
//! is seen):
//!
//! * CSRF: every `POST` of the cabinet without the session's token, or with a wrong one, is 403
//!   and changes nothing (no message sent, no draft saved or deleted, no settings saved, the
//!   session still open); the same `POST` with the right token does its work.
//! * Sessions: an attacker's `osmv_session` value is never adopted by a login, each login makes a
//!   new secret, logout ends the session.
//! * XSS: a business value `<script>` and a client id `"><img …>` are shown escaped on every
//!   page that shows them; the pages carry a strict `Content-Security-Policy`.
//! * Isolation: a system never sees (or answers) another system's messages.
//! * Lock-out after 5 wrong passwords of one login, the others unaffected.
//! * Cookie flags and the security headers of pages.
//! * No open redirect after login (nor from the language switch), a `next` with a tab or a line
//!   break included.

use std::collections::BTreeMap;

use opensmev_testkit::TestBus;
use serde_json::{Value, json};

const VS_PFR: &str = "VS00001v001-PFR001";
const VS_EGRUL: &str = "VS00002v001-FNS001";
const SESSION: &str = "osmv_session";
const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(1)>";

// ------------------------------------------------------------------------------------------------
// A browser that keeps its own cookies

/// One answer of the server.
#[derive(Debug)]
struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The `Location` of a redirect (empty when none).
    fn location(&self) -> String {
        self.header("location").unwrap_or_default()
    }

    /// The whole `Set-Cookie` line of cookie `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of a hidden input `name` of the page.
    fn hidden(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&needle)? + needle.len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_owned())
    }

    #[track_caller]
    fn expect(&self, status: u16, what: &str) -> &Page {
        assert_eq!(
            self.status,
            status,
            "{what}: {} {}\n{}",
            self.status,
            self.location(),
            self.body
        );
        self
    }
}

/// The value of a `Set-Cookie` line (`name=value; …` → `value`).
fn cookie_value(line: &str) -> String {
    let pair = line.split(';').next().unwrap_or_default();
    pair.split_once('=')
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// Percent-encoding of a form field (`application/x-www-form-urlencoded`).
fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A browser: its own cookie jar (so a test can plant or inspect cookies), no redirects followed.
#[derive(Debug)]
struct Browser {
    http: reqwest::Client,
    origin: String,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(bus: &TestBus) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            origin: bus.origin.clone(),
            cookies: BTreeMap::new(),
        }
    }

    /// A browser already signed in as `login`.
    async fn signed_in(bus: &TestBus, login: &str) -> Browser {
        let mut browser = Browser::new(bus);
        let password = bus.accounts[login].clone();
        browser
            .login(login, &password, "/")
            .await
            .expect(303, &format!("login of {login}"));
        assert!(browser.session().is_some(), "{login} has a session");
        browser
    }

    async fn send(&mut self, method: reqwest::Method, path: &str, form: Option<String>) -> Page {
        let mut request = self.http.request(method, format!("{}{path}", self.origin));
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header("cookie", header.join("; "));
        }
        if let Some(body) = form {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = request.send().await.expect("HTTP");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for line in headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let Some((name, _)) = line.split(';').next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let value = cookie_value(line);
            if value.is_empty() || line.contains("Max-Age=0") {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().to_owned(), value);
            }
        }
        let bytes = response.bytes().await.expect("body");
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        self.send(reqwest::Method::POST, path, Some(body.join("&")))
            .await
    }

    /// The login form, then its `POST`.
    async fn login(&mut self, login: &str, password: &str, next: &str) -> Page {
        let form = self.get("/login").await;
        form.expect(200, "the login page");
        let token = form.hidden("_login").expect("the login form's token");
        assert!(
            self.cookies.contains_key("osmv_login"),
            "the double-submit cookie"
        );
        self.post(
            "/login",
            &[
                ("_login", &token),
                ("login", login),
                ("password", password),
                ("next", next),
            ],
        )
        .await
    }

    fn session(&self) -> Option<String> {
        self.cookies.get(SESSION).cloned()
    }

    /// The session's CSRF token, from the logout form of a page.
    async fn csrf(&mut self) -> String {
        let page = self.get("/messages").await;
        page.expect(200, "the list");
        page.hidden("_csrf").expect("a CSRF token on the page")
    }
}

// ------------------------------------------------------------------------------------------------
// The integration API (to make and count messages)

async fn api(bus: &TestBus, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let http = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http
        .request(method, bus.url(path))
        .header("authorization", format!("Bearer {}", bus.token(token)));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap());
    }
    let response = request.send().await.expect("HTTP");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!((200..300).contains(&status), "{path}: {status}\n{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// How many messages the bus has (requests and answers alike), as the administrator sees them.
async fn message_count(bus: &TestBus) -> usize {
    let page = api(bus, "GET", "/api/v1/messages?limit=500", "admin", None).await;
    assert!(page.get("next_cursor").is_none(), "more than a page");
    page["items"].as_array().expect("items").len()
}

/// A PFR request sent by MFC01 through the API: its id.
async fn send_pfr(bus: &TestBus, family_name: &str, client_id: Option<&str>) -> String {
    let xml = format!(
        "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\">\
         <Snils>112-233-445 95</Snils><FamilyName>{}</FamilyName><FirstName>Иван</FirstName>\
         <BirthDate>1980-05-17</BirthDate></PersonalAccountRequest>",
        xml_escape(family_name)
    );
    let mut body = json!({ "business_xml": xml });
    if let Some(c) = client_id {
        body["client_id"] = json!(c);
    }
    let reply = api(bus, "POST", "/api/v1/requests", "MFC01", Some(body)).await;
    reply["message_id"].as_str().expect("message_id").to_owned()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The fields of a valid PFR request form.
fn pfr_form(family_name: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("f.PersonalAccountRequest.Snils", "112-233-445 95"),
        ("f.PersonalAccountRequest.FamilyName", family_name),
        ("f.PersonalAccountRequest.FirstName", "Иван"),
        ("f.PersonalAccountRequest.BirthDate", "1980-05-17"),
    ]
}

/// `fields` with a `_csrf` field of `token` (none for `None`).
fn with_csrf<'a>(fields: &[(&'a str, &'a str)], token: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut all = fields.to_vec();
    if let Some(t) = token {
        all.push(("_csrf", t));
    }
    all
}

/// `POST path` by `browser` without a `_csrf` field, with an empty one, with a token of the right
/// length that is not the session's, and with the token of another session (`foreign`): each is
/// 403 naming the CSRF token.
async fn refused(
    browser: &mut Browser,
    path: &str,
    fields: &[(&str, &str)],
    own: &str,
    foreign: &str,
) {
    let wrong = altered(own);
    let cases: [(Option<&str>, &str); 4] = [
        (None, "without _csrf"),
        (Some(""), "with an empty _csrf"),
        (Some(&wrong), "with a wrong _csrf"),
        (Some(foreign), "with another session's _csrf"),
    ];
    for (token, what) in cases {
        let page = browser.post(path, &with_csrf(fields, token)).await;
        page.expect(403, &format!("POST {path} {what}"));
        assert!(
            page.body.contains("CSRF"),
            "POST {path} {what}: the page names the reason\n{}",
            page.body
        );
        assert!(
            page.location().is_empty(),
            "POST {path} {what}: no redirect"
        );
    }
}

/// The settings of PFR01's cabinet used here: two departments, everything to the first.
const SETTINGS: &str = "[[departments]]\nid = \"main\"\nname = \"Основной отдел\"\n\n\
[[departments]]\nid = \"second\"\nname = \"Второй отдел\"\n\n\
[[rules]]\ndepartment = \"main\"\n\n\
[[deadlines]]\nworking_days = 5\n\n\
[calendar]\nholidays = []\nworkdays = []\n";

/// The fields of a valid answer to a PFR request (no periods).
const PFR_ANSWER: [(&str, &str); 6] = [
    ("_root", "0"),
    ("_action", "send"),
    ("f.PersonalAccountResponse.Snils", "112-233-445 95"),
    ("f.PersonalAccountResponse.Period#n", "0"),
    ("f.PersonalAccountResponse.PensionPoints", "42.5"),
    ("f.PersonalAccountResponse.FormedAt", "2026-01-15T10:00:00"),
];

/// The id of the message a redirect goes to (`/messages/{id}`).
#[track_caller]
fn message_of(page: &Page) -> String {
    let location = page.location();
    location
        .strip_prefix("/messages/")
        .unwrap_or_else(|| panic!("not a message: {location}"))
        .to_owned()
}

/// `token` with its last character changed: the same length, not the same token.
fn altered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let last = chars.last_mut().expect("a token");
    *last = if *last == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

// ------------------------------------------------------------------------------------------------
// CSRF

/// Every `POST` of the cabinet refuses a missing or wrong `_csrf` (403, nothing changes) and
/// does its work with the session's own token.
#[tokio::test]
async fn every_state_change_needs_the_session_csrf_token() {
    let bus = TestBus::start().await;
    // An administrator (the only role that may save cabinet settings).
    api(
        &bus,
        "POST",
        "/api/v1/accounts",
        "admin",
        Some(json!({"login": "boss", "name": "Boss", "role": "admin",
                    "password": "boss-password-42"})),
    )
    .await;
    let mut boss = Browser::new(&bus);
    boss.login("boss", "boss-password-42", "/")
        .await
        .expect(303, "login of the administrator");
    let boss_token = boss.csrf().await;
    let mut mfc = Browser::signed_in(&bus, "mfc01").await;
    let mfc_token = mfc.csrf().await;
    let mut pfr = Browser::signed_in(&bus, "pfr01").await;
    let pfr_token = pfr.csrf().await;
    assert_ne!(mfc_token, pfr_token, "each session has its own token");

    // Cabinet settings: refused for an account of role `is` even with its token; refused for
    // the administrator without it; saved with it.
    let settings = "/admin/cabinet/PFR01";
    let version_now = |page: &Page| page.hidden("version").expect("the settings' version");
    let page = boss.get(settings).await;
    page.expect(200, "the settings page");
    let version: u64 = version_now(&page).parse().expect("a version");
    let version_text = version.to_string();
    let form = [("version", version_text.as_str()), ("text", SETTINGS)];
    refused(&mut mfc, settings, &form, &mfc_token, &boss_token).await;
    mfc.post(settings, &with_csrf(&form, Some(&mfc_token)))
        .await
        .expect(403, "settings saved by an account of role `is`");
    refused(&mut boss, settings, &form, &boss_token, &mfc_token).await;
    let page = boss.get(settings).await;
    assert_eq!(
        version_now(&page),
        version_text,
        "the refused saves changed nothing"
    );
    assert!(!page.body.contains("Второй отдел"), "{}", page.body);
    let page = boss
        .post(settings, &with_csrf(&form, Some(&boss_token)))
        .await;
    page.expect(200, "settings saved by the administrator");
    let saved = (version + 1).to_string();
    assert_eq!(version_now(&page), saved, "saved");
    let page = boss.get(settings).await;
    assert_eq!(version_now(&page), saved);
    assert!(page.body.contains("Второй отдел"), "{}", page.body);

    // Sending a request from the form.
    let new = format!("/new/{VS_PFR}");
    let mut send = pfr_form("Петров");
    send.push(("_action", "send"));
    let before = message_count(&bus).await;
    refused(&mut mfc, &new, &send, &mfc_token, &pfr_token).await;
    assert_eq!(message_count(&bus).await, before, "nothing was sent");
    let page = mfc.post(&new, &with_csrf(&send, Some(&mfc_token))).await;
    page.expect(303, "the request sent with the token");
    let request = message_of(&page);
    assert_eq!(message_count(&bus).await, before + 1, "one request sent");

    // Saving a draft.
    let mut draft = pfr_form("Сидоров");
    draft.push(("_action", "draft"));
    refused(&mut mfc, &new, &draft, &mfc_token, &pfr_token).await;
    let drafts = mfc.get("/drafts").await;
    drafts.expect(200, "the drafts");
    assert!(
        !drafts.body.contains("/delete\""),
        "no draft saved\n{}",
        drafts.body
    );
    let page = mfc.post(&new, &with_csrf(&draft, Some(&mfc_token))).await;
    page.expect(303, "the draft saved with the token");
    let location = page.location();
    let draft_id = location
        .split_once("draft=")
        .and_then(|(_, rest)| rest.split('&').next())
        .unwrap_or_else(|| panic!("no draft in {location}"))
        .to_owned();
    let delete = format!("/drafts/{draft_id}/delete");
    assert!(
        mfc.get("/drafts").await.body.contains(&delete),
        "the draft is listed"
    );
    assert_eq!(message_count(&bus).await, before + 1, "a draft is not sent");

    // Deleting a draft.
    refused(&mut mfc, &delete, &[], &mfc_token, &pfr_token).await;
    assert!(
        mfc.get("/drafts").await.body.contains(&delete),
        "the draft is still there"
    );
    let page = mfc.post(&delete, &with_csrf(&[], Some(&mfc_token))).await;
    page.expect(303, "the draft deleted with the token");
    assert_eq!(page.location(), "/drafts");
    assert!(!mfc.get("/drafts").await.body.contains(&delete), "deleted");

    // The provider's actions on the request: reassign, intermediate status, answer.
    let page = pfr.get(&format!("/messages/{request}")).await;
    page.expect(200, "the request at its recipient");
    assert!(
        page.body.contains("id=\"case-department\">Основной отдел<"),
        "{}",
        page.body
    );
    let reassign = format!("/messages/{request}/reassign");
    let form = [
        ("department", "second"),
        ("reason", "по подведомственности"),
    ];
    refused(&mut pfr, &reassign, &form, &pfr_token, &mfc_token).await;
    let page = pfr.get(&format!("/messages/{request}")).await;
    assert!(
        page.body.contains("id=\"case-department\">Основной отдел<"),
        "not reassigned"
    );
    let page = pfr
        .post(&reassign, &with_csrf(&form, Some(&pfr_token)))
        .await;
    page.expect(303, "reassigned with the token");
    let page = pfr.get(&format!("/messages/{request}")).await;
    assert!(
        page.body.contains("id=\"case-department\">Второй отдел<"),
        "{}",
        page.body
    );

    let status = format!("/messages/{request}/status");
    let form = [("code", "3"), ("text", "Запрос принят в работу")];
    refused(&mut pfr, &status, &form, &pfr_token, &mfc_token).await;
    assert_eq!(message_count(&bus).await, before + 1, "no status sent");
    let page = pfr.post(&status, &with_csrf(&form, Some(&pfr_token))).await;
    page.expect(303, "the status sent with the token");
    assert_eq!(message_count(&bus).await, before + 2, "one status sent");

    let answer = format!("/messages/{request}/answer");
    refused(&mut pfr, &answer, &PFR_ANSWER, &pfr_token, &mfc_token).await;
    assert_eq!(message_count(&bus).await, before + 2, "no answer sent");
    let page = pfr
        .post(&answer, &with_csrf(&PFR_ANSWER, Some(&pfr_token)))
        .await;
    page.expect(303, "the answer sent with the token");
    assert_eq!(message_count(&bus).await, before + 3, "one answer sent");

    // Rejecting another request.
    let other = send_pfr(&bus, "Кузнецов", None).await;
    let count = message_count(&bus).await;
    let reject = format!("/messages/{other}/reject");
    let form = [("code", "NO_DATA"), ("text", "Сведений нет")];
    refused(&mut pfr, &reject, &form, &pfr_token, &mfc_token).await;
    assert_eq!(message_count(&bus).await, count, "no rejection sent");
    let page = pfr.post(&reject, &with_csrf(&form, Some(&pfr_token))).await;
    page.expect(303, "the rejection sent with the token");
    assert_eq!(message_count(&bus).await, count + 1, "one rejection sent");

    // Notification settings: refused without the token (nothing saved), saved with it.
    let form = [("email", "mfc01@mfc.example"), ("answers", "1")];
    refused(&mut mfc, "/settings", &form, &mfc_token, &pfr_token).await;
    let page = mfc.get("/settings").await;
    page.expect(200, "the settings page");
    assert!(!page.body.contains("mfc01@mfc.example"), "nothing saved");
    let page = mfc
        .post("/settings", &with_csrf(&form, Some(&mfc_token)))
        .await;
    page.expect(200, "saved with the token");
    assert!(page.body.contains("mfc01@mfc.example"), "saved");

    // The password change: refused without the token (the old password still works).
    let password = bus.accounts["mfc01"].clone();
    let form = [
        ("current", password.as_str()),
        ("new", "a-new-password-123"),
        ("again", "a-new-password-123"),
    ];
    refused(&mut mfc, "/password", &form, &mfc_token, &pfr_token).await;
    mfc.get("/messages")
        .await
        .expect(200, "the session survives a refused password change");

    // Logout: refused without the token (the session goes on), done with it.
    refused(&mut mfc, "/logout", &[], &mfc_token, &pfr_token).await;
    mfc.get("/messages")
        .await
        .expect(200, "the session survives a refused logout");
    let page = mfc.post("/logout", &with_csrf(&[], Some(&mfc_token))).await;
    page.expect(303, "logout with the token");
    assert_eq!(page.location(), "/login");
    let page = mfc.get("/messages").await;
    page.expect(303, "after logout");
    assert!(page.location().starts_with("/login"), "{}", page.location());
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// Sessions

/// A login never adopts a session value the browser already carries (neither one an attacker
/// made up nor the attacker's own valid session), every login makes a new secret, and logout
/// ends the session for good.
#[tokio::test]
async fn login_makes_a_new_session_and_logout_ends_it() {
    let bus = TestBus::start().await;
    let password = bus.accounts["mfc01"].clone();

    // A made-up value planted in the victim's browser.
    let planted = "attacker-chosen-session-value-0123456789abc";
    let mut victim = Browser::new(&bus);
    victim.cookies.insert(SESSION.into(), planted.into());
    let page = victim.login("mfc01", &password, "/").await;
    page.expect(303, "login with a planted cookie");
    let line = page.set_cookie(SESSION).expect("a session cookie is set");
    let secret = cookie_value(&line);
    assert!(!secret.is_empty());
    assert_ne!(secret, planted, "the planted value is not adopted");
    assert_eq!(victim.session().as_deref(), Some(secret.as_str()));
    victim.get("/messages").await.expect(200, "the new session");
    let mut attacker = Browser::new(&bus);
    attacker.cookies.insert(SESSION.into(), planted.into());
    let page = attacker.get("/messages").await;
    page.expect(303, "the planted value after the victim's login");
    assert!(page.location().starts_with("/login"), "{}", page.location());

    // The attacker's own valid session (FNS01) planted in the victim's browser: the victim's
    // login makes another, and the attacker's stays FNS01's.
    let attacker = Browser::signed_in(&bus, "fns01").await;
    let theirs = attacker.session().unwrap();
    let mut victim = Browser::new(&bus);
    victim.cookies.insert(SESSION.into(), theirs.clone());
    victim
        .login("mfc01", &password, "/")
        .await
        .expect(303, "login over the attacker's session");
    let ours = victim.session().unwrap();
    assert_ne!(ours, theirs, "the attacker's session is not adopted");
    let mut attacker = attacker;
    let page = attacker.get("/messages").await;
    page.expect(200, "the attacker's own session");
    assert!(page.body.contains("· FNS01"), "still FNS01's session");
    assert!(!page.body.contains("· MFC01"), "not raised to MFC01");

    // A second login makes another secret.
    let first = ours;
    victim
        .login("mfc01", &password, "/")
        .await
        .expect(303, "the second login");
    let second = victim.session().unwrap();
    assert_ne!(first, second, "each login a new secret");

    // Logout ends the session: its cookie is cleared and the old value leads to the login page.
    let token = victim.csrf().await;
    let page = victim.post("/logout", &[("_csrf", &token)]).await;
    page.expect(303, "logout");
    assert_eq!(page.location(), "/login");
    let cleared = page.set_cookie(SESSION).expect("the cookie is cleared");
    assert!(
        cookie_value(&cleared).is_empty() && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(victim.session().is_none());
    let mut replay = Browser::new(&bus);
    replay.cookies.insert(SESSION.into(), second.clone());
    let page = replay.get("/messages").await;
    page.expect(303, "the ended session");
    assert!(page.location().starts_with("/login"), "{}", page.location());
    let page = replay.post("/logout", &[("_csrf", &token)]).await;
    assert_ne!(page.status, 200);
    let page = replay
        .post(&format!("/new/{VS_PFR}"), &[("_csrf", &token)])
        .await;
    page.expect(303, "a POST with the ended session");
    assert!(page.location().starts_with("/login"), "{}", page.location());
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// XSS

/// The checks of a page that shows hostile values: none of them raw, and a strict CSP.
#[track_caller]
fn escaped(page: &Page, what: &str, shows_name: bool, shows_client_id: bool) {
    page.expect(200, what);
    assert!(
        !page.body.contains(SCRIPT),
        "{what}: a raw <script>\n{}",
        page.body
    );
    assert!(
        !page.body.contains("<img"),
        "{what}: a raw <img>\n{}",
        page.body
    );
    assert!(
        !page.body.contains("onerror=alert(1)>"),
        "{what}: a raw attribute\n{}",
        page.body
    );
    // Named or numeric character references alike (the templates write `&#60;`, the document
    // views `&lt;`).
    let text = page
        .body
        .replace("&#60;", "&lt;")
        .replace("&#62;", "&gt;")
        .replace("&#34;", "&quot;");
    if shows_name {
        assert!(
            text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{what}: the name shown escaped\n{}",
            page.body
        );
    }
    if shows_client_id {
        assert!(
            text.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
            "{what}: the client id shown escaped\n{}",
            page.body
        );
    }
    csp(page, what);
}

/// A strict `Content-Security-Policy`: own scripts only, nothing inline, no framing.
#[track_caller]
fn csp(page: &Page, what: &str) {
    let policy = page
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    assert!(!policy.contains("unsafe-inline"), "{what}: {policy}");
    assert!(!policy.contains("unsafe-eval"), "{what}: {policy}");
    assert!(policy.contains("script-src 'self'"), "{what}: {policy}");
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{what}: {policy}"
    );
}

/// A business value `<script>` and a client id `"><img …>` are escaped on every page that
/// shows them, at the sender and at the recipient; reflected filter values too.
#[tokio::test]
async fn hostile_values_are_shown_escaped() {
    let bus = TestBus::start().await;
    let client_id = format!("cid-1{IMG}");
    let by_api = send_pfr(&bus, SCRIPT, Some(&client_id)).await;
    let mut mfc = Browser::signed_in(&bus, "mfc01").await;
    let token = mfc.csrf().await;
    let mut form = pfr_form(SCRIPT);
    form.push(("_action", "send"));
    form.push(("_csrf", &token));
    let page = mfc.post(&format!("/new/{VS_PFR}"), &form).await;
    page.expect(303, "the request sent from the form");
    let by_form = message_of(&page);

    escaped(&mfc.get("/messages").await, "/messages", false, true);
    let query = format!(
        "/messages?text={}&client_id={}",
        form_encode(SCRIPT),
        form_encode(&client_id)
    );
    // The filter's values are shown again in its inputs.
    escaped(&mfc.get(&query).await, "/messages filtered", true, true);
    let page = mfc
        .get(&format!("/messages?client_id={}", form_encode(&client_id)))
        .await;
    escaped(&page, "/messages by client id", false, true);
    assert!(page.body.contains(&by_api), "the filter finds it");
    for id in [&by_api, &by_form] {
        let with_cid = id == &by_api;
        let page = mfc.get(&format!("/messages/{id}")).await;
        escaped(&page, "the message at its sender", true, with_cid);
        let page = mfc.get(&format!("/messages/{id}/document.html")).await;
        escaped(&page, "document.html at the sender", true, false);
        let page = mfc.get(&format!("/new/{VS_PFR}?copy={id}")).await;
        escaped(&page, "a copy of the request", false, false);
        assert!(
            page.body
                .contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""),
            "the copied value escaped in its input\n{}",
            page.body
        );
    }

    let mut pfr = Browser::signed_in(&bus, "pfr01").await;
    let page = pfr.get("/inbox").await;
    escaped(&page, "/inbox", false, false);
    assert!(page.body.contains(&by_api), "the inbox lists it");
    for id in [&by_api, &by_form] {
        let with_cid = id == &by_api;
        let page = pfr.get(&format!("/messages/{id}")).await;
        escaped(&page, "the message at its recipient", true, with_cid);
        let page = pfr.get(&format!("/messages/{id}/document.html")).await;
        escaped(&page, "document.html at the recipient", true, false);
    }

    // A reflected value of the login page.
    let page = Browser::new(&bus)
        .get(&format!(
            "/login?next={}",
            form_encode(&format!("/{IMG}{SCRIPT}"))
        ))
        .await;
    escaped(&page, "/login?next=…", false, false);
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// Isolation

/// A system sees only its own messages: FNS01 finds nothing of a MFC01→PFR01 request (404, as if
/// it did not exist, on every page of it), the recipient opens it, and only the recipient may
/// answer it.
#[tokio::test]
async fn a_system_sees_only_its_own_messages() {
    let bus = TestBus::start().await;
    let secret_name = "Секретова";
    let id = send_pfr(&bus, secret_name, None).await;
    // A request FNS01 does receive (to show its pages work at all).
    let egrul = api(
        &bus,
        "POST",
        "/api/v1/requests",
        "MFC01",
        Some(json!({"business_xml": bus.example(VS_EGRUL, "request.xml")})),
    )
    .await["message_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut fns = Browser::signed_in(&bus, "fns01").await;
    let fns_token = fns.csrf().await;
    let page = fns.get(&format!("/messages/{egrul}")).await;
    page.expect(200, "FNS01 opens its own request");
    let page = fns.get("/inbox").await;
    page.expect(200, "FNS01's inbox");
    assert!(
        page.body.contains(&egrul),
        "FNS01's inbox lists its request"
    );
    assert!(
        !page.body.contains(&id),
        "FNS01's inbox lists PFR01's request"
    );
    let page = fns.get("/messages").await;
    page.expect(200, "FNS01's sent requests");
    assert!(
        !page.body.contains(&id),
        "FNS01's list shows PFR01's request"
    );
    let page = fns.get(&format!("/messages/{id}")).await;
    page.expect(404, "FNS01 opens PFR01's request");
    assert!(!page.body.contains(secret_name));
    for tail in [
        "/xml",
        "/document.html",
        "/document.pdf",
        "/answer",
        "/reject",
        "/status",
    ] {
        let page = fns.get(&format!("/messages/{id}{tail}")).await;
        assert!(
            matches!(page.status, 403 | 404),
            "FNS01 GET {tail}: {}",
            page.status
        );
        assert!(
            !page.body.contains(secret_name),
            "FNS01 GET {tail} shows the content"
        );
    }
    let page = fns.get(&format!("/new/{VS_PFR}?copy={id}")).await;
    assert!(
        !page.body.contains(secret_name),
        "FNS01 copies PFR01's request"
    );
    // Nor can it act on it, even with its own valid token.
    let count = message_count(&bus).await;
    let actions: [(&str, Vec<(&str, &str)>); 4] = [
        ("reject", vec![("code", "NO_DATA"), ("text", "нет")]),
        ("status", vec![("code", "3"), ("text", "в работе")]),
        ("answer", PFR_ANSWER.to_vec()),
        (
            "reassign",
            vec![("department", "egrul"), ("reason", "чужое")],
        ),
    ];
    for (action, fields) in &actions {
        let page = fns
            .post(
                &format!("/messages/{id}/{action}"),
                &with_csrf(fields, Some(&fns_token)),
            )
            .await;
        assert!(
            matches!(page.status, 403 | 404),
            "FNS01 POST {action}: {} {}",
            page.status,
            page.location()
        );
    }
    assert_eq!(message_count(&bus).await, count, "FNS01 sent nothing");

    // The recipient opens it.
    let mut pfr = Browser::signed_in(&bus, "pfr01").await;
    let page = pfr.get(&format!("/messages/{id}")).await;
    page.expect(200, "PFR01 opens the request it received");
    assert!(page.body.contains(secret_name));
    assert!(
        pfr.get("/inbox").await.body.contains(&id),
        "PFR01's inbox lists it"
    );
    pfr.get(&format!("/messages/{id}/answer"))
        .await
        .expect(200, "PFR01's answer form");

    // The sender reads it but may not answer its own request.
    let mut mfc = Browser::signed_in(&bus, "mfc01").await;
    let mfc_token = mfc.csrf().await;
    mfc.get(&format!("/messages/{id}"))
        .await
        .expect(200, "MFC01 opens its request");
    for action in ["answer", "reject", "status"] {
        mfc.get(&format!("/messages/{id}/{action}"))
            .await
            .expect(403, &format!("MFC01 GET /{action} of its own request"));
    }
    for (action, fields) in &actions[..3] {
        mfc.post(
            &format!("/messages/{id}/{action}"),
            &with_csrf(fields, Some(&mfc_token)),
        )
        .await
        .expect(403, &format!("MFC01 POST /{action} of its own request"));
    }
    assert_eq!(message_count(&bus).await, count, "MFC01 answered nothing");
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// Lock-out

/// The time named in a lock-out message: `ДД.ММ.ГГГГ ЧЧ:ММ:СС МСК`.
fn locked_until(body: &str) -> Option<time::OffsetDateTime> {
    let end = body.find(" МСК")?;
    let text = body.get(end.checked_sub(19)?..end)?;
    let format = time::macros::format_description!("[day].[month].[year] [hour]:[minute]:[second]");
    let at = time::PrimitiveDateTime::parse(text, format).ok()?;
    Some(at.assume_offset(time::UtcOffset::from_hms(3, 0, 0).ok()?))
}

/// Five wrong passwords of one login lock it (even the right password is then refused, 429,
/// naming until when), whatever the browser; other logins are unaffected.
#[tokio::test]
async fn five_wrong_passwords_lock_the_login() {
    let bus = TestBus::start().await;
    let started = time::OffsetDateTime::now_utc();
    let mut browser = Browser::new(&bus);
    for attempt in 1..=5 {
        let page = browser.login("mfc01", "not-the-password", "/").await;
        page.expect(401, &format!("wrong password #{attempt}"));
        assert!(page.set_cookie(SESSION).is_none());
    }
    let password = bus.accounts["mfc01"].clone();
    let page = browser.login("mfc01", &password, "/").await;
    page.expect(429, "the right password after 5 wrong ones");
    assert!(page.set_cookie(SESSION).is_none(), "no session");
    let until = locked_until(&page.body)
        .unwrap_or_else(|| panic!("the message names no time\n{}", page.body));
    let expected = started + time::Duration::minutes(15);
    assert!(
        (until - expected).abs() < time::Duration::minutes(2),
        "locked until {until}, expected about {expected}"
    );
    // Another browser: the login is locked, not the browser.
    Browser::new(&bus)
        .login("mfc01", &password, "/")
        .await
        .expect(429, "the locked login from another browser");
    // Other logins work, and a wrong password of theirs is only wrong.
    let page = browser.login("pfr01", "not-the-password", "/").await;
    page.expect(401, "a wrong password of another login");
    let pfr = bus.accounts["pfr01"].clone();
    let page = browser.login("pfr01", &pfr, "/").await;
    page.expect(303, "another login");
    assert!(page.set_cookie(SESSION).is_some());
    browser.get("/messages").await.expect(200, "pfr01 at work");
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// Cookies and headers

/// The session cookie is `HttpOnly` and `SameSite=Lax`; every page (and every download, redirect
/// and error page) is `no-store`, not framable and not sniffed.
#[tokio::test]
async fn cookies_and_pages_carry_the_security_flags() {
    let bus = TestBus::start().await;
    let id = send_pfr(&bus, "Иванов", None).await;
    let mut mfc = Browser::new(&bus);
    let page = mfc.get("/login").await;
    let login_cookie = page.set_cookie("osmv_login").expect("the login cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(login_cookie.contains(flag), "{login_cookie}");
    }
    let password = bus.accounts["mfc01"].clone();
    let page = mfc.login("mfc01", &password, "/").await;
    page.expect(303, "login");
    let session = page.set_cookie(SESSION).expect("the session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    assert!(!session.contains("SameSite=None"), "{session}");

    let mut anonymous = Browser::new(&bus);
    let mut pages = vec![
        ("/login".to_owned(), anonymous.get("/login").await),
        (
            "/messages anonymous".to_owned(),
            anonymous.get("/messages").await,
        ),
    ];
    for path in [
        "/messages".to_owned(),
        "/inbox".to_owned(),
        "/new".to_owned(),
        format!("/new/{VS_PFR}"),
        "/drafts".to_owned(),
        format!("/messages/{id}"),
        format!("/messages/{id}/xml"),
        format!("/messages/{id}/document.html"),
        format!("/messages/{id}/document.pdf"),
        format!("/messages/{id}/answer"),
        "/messages/00000000-0000-0000-0000-000000000000".to_owned(),
        "/admin/cabinet".to_owned(),
    ] {
        let page = mfc.get(&path).await;
        pages.push((path, page));
    }
    pages.push((
        "POST /logout without a token".to_owned(),
        mfc.post("/logout", &[]).await,
    ));
    let mut statuses = Vec::new();
    for (what, page) in &pages {
        statuses.push(page.status);
        assert_eq!(
            page.header("cache-control").as_deref(),
            Some("no-store"),
            "{what}"
        );
        assert_eq!(
            page.header("x-frame-options").as_deref(),
            Some("DENY"),
            "{what}"
        );
        assert_eq!(
            page.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            page.header("referrer-policy").as_deref(),
            Some("same-origin"),
            "{what}"
        );
        csp(page, what);
    }
    // The list is of pages, redirects and refusals alike.
    for status in [200, 303, 403, 404] {
        assert!(statuses.contains(&status), "no {status} among {statuses:?}");
    }
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// Open redirects

/// After login the browser goes back only to a path of this site.
#[tokio::test]
async fn login_redirects_only_to_this_site() {
    let bus = TestBus::start().await;
    let password = bus.accounts["mfc01"].clone();
    let mut browser = Browser::new(&bus);
    let page = browser.login("mfc01", &password, "/drafts?x=1").await;
    page.expect(303, "login");
    assert_eq!(
        page.location(),
        "/drafts?x=1",
        "a path of this site is kept"
    );
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "http://evil.example/x",
        "/\\evil.example/",
        "\\\\evil.example/",
        "javascript:alert(1)",
        "evil.example",
    ] {
        let page = browser.login("mfc01", &password, next).await;
        page.expect(303, &format!("login with next={next}"));
        assert_eq!(page.location(), "/", "next={next}");
        // The login page's own form does not carry it either.
        let form = Browser::new(&bus)
            .get(&format!("/login?next={}", form_encode(next)))
            .await;
        assert_eq!(
            form.hidden("next").as_deref(),
            Some("/"),
            "GET /login?next={next}"
        );
        // Nor the language switch.
        let page = Browser::new(&bus)
            .get(&format!("/lang/en?back={}", form_encode(next)))
            .await;
        page.expect(303, "the language switch");
        assert_eq!(page.location(), "/", "/lang/en?back={next}");
    }
    bus.stop().await;
}

/// Browsers remove tabs and line breaks from a URL before reading it (WHATWG URL: "remove all
/// ASCII tab or newline"), so a `Location` of `/<TAB>/evil.example/` takes them to
/// `//evil.example/`: another host. Neither the login nor the language switch may answer so.
#[tokio::test]
async fn a_tab_or_line_break_in_next_does_not_lead_elsewhere() {
    let bus = TestBus::start().await;
    let password = bus.accounts["mfc01"].clone();
    let mut browser = Browser::new(&bus);
    let mut wrong = Vec::new();
    for next in [
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\r\n/evil.example/",
    ] {
        let page = browser.login("mfc01", &password, next).await;
        if page.status != 303 || page.location() != "/" {
            wrong.push(format!(
                "POST /login next={next:?}: {} Location {:?}",
                page.status,
                page.location()
            ));
        }
        let page = Browser::new(&bus)
            .get(&format!("/lang/en?back={}", form_encode(next)))
            .await;
        if page.status != 303 || page.location() != "/" {
            wrong.push(format!(
                "GET /lang/en?back={next:?}: {} Location {:?}",
                page.status,
                page.location()
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    bus.stop().await;
}
