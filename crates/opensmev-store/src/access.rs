//! Records of who may use the integration API and the cabinet: API tokens, accounts, and the
//! audit log of administrative changes.

use opensmev_types::{Mnemonic, Role};
use time::OffsetDateTime;

/// An API token as stored: never the secret itself, only its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The public id (`tok_…`), shown in listings and used to revoke; unique.
    pub id: String,
    /// SHA-256 of the secret the holder presents; unique.
    pub secret_hash: [u8; 32],
    /// A label for people ("ЕПГУ, продуктив").
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// For [`Role::Is`]: the information system it acts as.
    pub system: Option<Mnemonic>,
    /// The account it belongs to, if any (tokens of operator accounts).
    pub account: Option<String>,
    /// Who created it (an account login, or `system` for tokens the bus made itself).
    pub created_by: String,
    /// When.
    pub created_at: OffsetDateTime,
    /// Not accepted after this time.
    pub expires_at: Option<OffsetDateTime>,
    /// Not accepted since this time.
    pub revoked_at: Option<OffsetDateTime>,
}

/// An account of a person (operator, administrator, auditor, or an IS's staff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The login; unique, case-sensitive.
    pub login: String,
    /// The person's name.
    pub name: String,
    /// What the account may do.
    pub role: Role,
    /// For [`Role::Is`]: the information system.
    pub system: Option<Mnemonic>,
    /// The password as an argon2 PHC string (`$argon2id$…`); `None`: cannot log in by password.
    pub password_hash: Option<String>,
    /// The password is a one-time one and must be changed at the next login.
    pub must_change_password: bool,
    /// Disabled accounts (and their tokens) are refused.
    pub disabled: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// An entry of the audit log, to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When.
    pub at: OffsetDateTime,
    /// Who (account login, `token:<id>`, or `system`).
    pub actor: String,
    /// What was done, a stable code (`registry.change`, `token.create`, `account.update`, …).
    pub action: String,
    /// What it was done to (`registry`, a token id, a login, …).
    pub target: String,
    /// A readable description of the change (for the registry: a diff).
    pub detail: String,
}

/// An entry of the audit log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Store-assigned, increasing: the order of recording.
    pub seq: i64,
    /// The entry.
    pub entry: NewAuditEntry,
}

/// Which audit entries to read: newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries with `seq` below this (the cursor of the previous page).
    pub before: Option<i64>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions starting with this (`registry.` = every registry action).
    pub action_prefix: Option<String>,
    /// Only entries at or after this time.
    pub from: Option<OffsetDateTime>,
    /// Only entries before this time.
    pub to: Option<OffsetDateTime>,
    /// At most this many (at least 1).
    pub limit: u32,
}
