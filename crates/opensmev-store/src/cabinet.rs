//! What the web cabinet keeps in the store: signed-in sessions, failed logins (for the lock-out)
//! and drafts of forms. Kept in the store so that every node of a cluster sees the same ones.

use time::OffsetDateTime;

/// A signed-in session of the web cabinet. The browser holds a random secret in a cookie; the
/// store keeps only its SHA-256 ([`WebSession::id_hash`]), so a copy of the database opens no
/// session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// SHA-256 of the cookie's secret; unique.
    pub id_hash: [u8; 32],
    /// The account's login.
    pub login: String,
    /// The session's CSRF token (sent back with every state change).
    pub csrf: String,
    /// When it was opened.
    pub created_at: OffsetDateTime,
    /// When it was last used.
    pub last_seen: OffsetDateTime,
    /// When it ends unless used again (idle expiry; the cabinet also bounds its whole life).
    pub expires_at: OffsetDateTime,
}

/// Failed logins of one login name, counted from `since` (the first failure of the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    /// Failures since `since`.
    pub count: u32,
    /// The first failure counted.
    pub since: OffsetDateTime,
}

/// A saved draft of a form (a request, an answer, a rejection), owned by one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// The draft's id (made by the cabinet); unique.
    pub id: String,
    /// The owner's login: only they see and change it.
    pub owner: String,
    /// The kind of information.
    pub vs_id: String,
    /// What the form makes (`request`, `response`, `rejection`, `status`).
    pub form: String,
    /// For an answer: the request it answers.
    pub request_id: Option<String>,
    /// A title for lists.
    pub title: String,
    /// The form's values, as the cabinet encodes them.
    pub values: String,
    /// When it was last saved.
    pub updated_at: OffsetDateTime,
}
