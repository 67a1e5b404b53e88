//! Who calls the integration API and the cabinet: API tokens, accounts with passwords, roles,
//! and what each role may do ([`Principal::authorize`]).
//!
//! A token is `osmv_` followed by 43 base64url characters (32 random bytes); the store keeps
//! only its SHA-256 digest, so a token is shown once, when it is made. Accounts have argon2id
//! passwords (for the cabinet); the API takes tokens. Every refusal — unauthenticated or
//! forbidden — is logged at WARN under the target `opensmev::denied` with its reason and
//! counted ([`Bus::denials`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine as _;
use opensmev_store::{Account, NewAuditEntry, StoreError, TokenRecord};
use opensmev_types::{Mnemonic, Role};
use sha2::Digest as _;
use time::OffsetDateTime;

use crate::{Bus, BusError};

/// The prefix of every API token.
pub const TOKEN_PREFIX: &str = "osmv_";

/// Bytes of randomness in a token secret.
const TOKEN_SECRET_BYTES: usize = 32;

/// The actor name of what the bus does itself (the first admin account, demo tokens).
pub const SYSTEM_ACTOR: &str = "system";

/// An authenticated caller of the API or the cabinet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// What it may do.
    pub role: Role,
    /// For [`Role::Is`]: the information system it acts as.
    pub system: Option<Mnemonic>,
    /// How it is named in logs, journals and the audit log: the account login, or
    /// `token:<id>` for a token of no account.
    pub actor: String,
    /// The token it presented, if any.
    pub token_id: Option<String>,
}

/// Why a caller is not authenticated (HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials were presented.
    #[error("no API token was presented (Authorization: Bearer <token>)")]
    Missing,
    /// What was presented is not an OpenSMEV token.
    #[error("the credentials are not an OpenSMEV API token (osmv_…)")]
    Malformed,
    /// No such token.
    #[error("the API token is not known to the bus")]
    Unknown,
    /// The token expired.
    #[error("the API token {id} expired at {at}")]
    Expired {
        /// The token id.
        id: String,
        /// When.
        at: OffsetDateTime,
    },
    /// The token was revoked.
    #[error("the API token {id} was revoked at {at}")]
    Revoked {
        /// The token id.
        id: String,
        /// When.
        at: OffsetDateTime,
    },
    /// The account (of the token, or logging in) is disabled.
    #[error("the account {login} is disabled")]
    AccountDisabled {
        /// The login.
        login: String,
    },
    /// The token's information system is no longer in the registry.
    #[error("the information system {0} of the token is no longer in the registry")]
    SystemGone(String),
    /// Login with a wrong login or password (never says which).
    #[error("wrong login or password")]
    BadPassword,
    /// The credentials could not be checked: the store failed (a database failover, say). Not
    /// the caller's fault, and worth retrying: the edges answer it as an internal failure
    /// (`SMEV-500`), never as a refusal of the credentials.
    #[error("the credentials cannot be checked now: {0}")]
    Unavailable(String),
    /// Too many failed logins of this login name: locked out until `until`.
    #[error("too many failed logins: locked out until {until}")]
    LockedOut {
        /// When logins are accepted again.
        until: OffsetDateTime,
    },
    /// The session cookie names no session (never opened, or logged out).
    #[error("no such session")]
    SessionUnknown,
    /// The session expired.
    #[error("the session expired")]
    SessionExpired,
}

impl AuthError {
    /// A stable machine code (the API's problem `code`, the denial counters).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "auth.token-missing",
            AuthError::Malformed => "auth.token-malformed",
            AuthError::Unknown => "auth.token-unknown",
            AuthError::Expired { .. } => "auth.token-expired",
            AuthError::Revoked { .. } => "auth.token-revoked",
            AuthError::AccountDisabled { .. } => "auth.account-disabled",
            AuthError::SystemGone(_) => "auth.system-gone",
            AuthError::BadPassword => "auth.bad-password",
            AuthError::Unavailable(_) => "SMEV-500",
            AuthError::LockedOut { .. } => "auth.locked-out",
            AuthError::SessionUnknown => "auth.session-unknown",
            AuthError::SessionExpired => "auth.session-expired",
        }
    }
}

/// What a call wants to do, for [`Principal::authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Work as this information system: send, receive, acknowledge, take statuses.
    WorkAs(&'a Mnemonic),
    /// Work as the principal's own information system (the API's work endpoints).
    WorkAsOwn,
    /// Read a message (and its journal) from `sender` to `recipient`.
    ReadMessage {
        /// The sender.
        sender: &'a Mnemonic,
        /// The recipient.
        recipient: &'a Mnemonic,
    },
    /// Search the journal of messages of every system (an IS searches only its own: the edge
    /// restricts its query, see [`Principal::own_system`]).
    SearchAllMessages,
    /// Search the messages of one's own system.
    SearchOwnMessages,
    /// Read the catalogue of kinds of information (every authenticated caller may).
    ReadCatalogue,
    /// Read the registry: participants, systems, certificates, grants, quotas.
    ReadRegistry,
    /// Change the registry.
    ChangeRegistry,
    /// Create and revoke tokens, create and change accounts, read them.
    ManageAccess,
    /// Read the audit log.
    ReadAudit,
    /// Read queue statistics of every system.
    ReadStatistics,
    /// List and replay the dead letters of every system (an IS token handles only its own:
    /// the edge restricts the query and checks [`Action::WorkAsOwn`]).
    ManageDeliveries,
}

impl Action<'_> {
    /// A stable name (logs, counters).
    pub fn code(&self) -> &'static str {
        match self {
            Action::WorkAs(_) | Action::WorkAsOwn => "work-as",
            Action::ReadMessage { .. } => "read-message",
            Action::SearchAllMessages => "search-all-messages",
            Action::SearchOwnMessages => "search-own-messages",
            Action::ReadCatalogue => "read-catalogue",
            Action::ReadRegistry => "read-registry",
            Action::ChangeRegistry => "change-registry",
            Action::ManageAccess => "manage-access",
            Action::ReadAudit => "read-audit",
            Action::ReadStatistics => "read-statistics",
            Action::ManageDeliveries => "manage-deliveries",
        }
    }
}

/// A refused action (HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{actor} ({role}) may not {action}: {reason}", role = .role.code())]
pub struct Denied {
    /// Who.
    pub actor: String,
    /// Their role.
    pub role: Role,
    /// [`Action::code`].
    pub action: &'static str,
    /// Why, readable.
    pub reason: String,
}

impl Principal {
    /// The one system whose messages this principal is limited to (role `is`).
    pub fn own_system(&self) -> Option<&Mnemonic> {
        match self.role {
            Role::Is => self.system.as_ref(),
            _ => None,
        }
    }

    /// Whether this principal may do `action` (the role matrix of `docs/api.md`). Does not log:
    /// use [`Bus::authorize`], which logs and counts refusals.
    pub fn check(&self, action: Action<'_>) -> Result<(), Denied> {
        let deny = |reason: String| Denied {
            actor: self.actor.clone(),
            role: self.role,
            action: action.code(),
            reason,
        };
        let own = |m: &Mnemonic| self.role == Role::Is && self.system.as_ref() == Some(m);
        let allowed = match (self.role, action) {
            (_, Action::ReadCatalogue) => true,
            (Role::Is, Action::WorkAs(m)) => own(m),
            (Role::Is, Action::WorkAsOwn) => self.system.is_some(),
            (_, Action::WorkAsOwn) => false,
            (_, Action::WorkAs(_)) => false,
            (Role::Is, Action::ReadMessage { sender, recipient }) => own(sender) || own(recipient),
            (_, Action::ReadMessage { .. }) => true,
            (Role::Is, Action::SearchOwnMessages) => true,
            (Role::Is, _) => false,
            (_, Action::SearchAllMessages | Action::SearchOwnMessages) => true,
            (Role::Admin, _) => true,
            (
                Role::Operator,
                Action::ReadRegistry | Action::ReadStatistics | Action::ManageDeliveries,
            ) => true,
            (Role::Auditor, Action::ReadRegistry | Action::ReadAudit) => true,
            (Role::Operator | Role::Auditor, _) => false,
        };
        if allowed {
            return Ok(());
        }
        Err(deny(match action {
            Action::WorkAs(m) => match (self.role, &self.system) {
                (Role::Is, Some(own)) => {
                    format!("the token acts as {own}, not as {m}")
                }
                _ => format!("only a token of the information system {m} (role is) works as it"),
            },
            Action::WorkAsOwn => {
                "only a token of an information system (role is) works as one".to_owned()
            }
            Action::ReadMessage { sender, recipient } => format!(
                "the message is between {sender} and {recipient}; the token sees only {}'s",
                self.system.as_ref().map(Mnemonic::as_str).unwrap_or("-")
            ),
            _ => format!("the role {} does not allow it", self.role.code()),
        }))
    }
}

/// Counts of refusals by reason code ([`AuthError::code`], or `forbidden.<action>`).
#[derive(Debug, Default)]
pub struct Denials(Mutex<BTreeMap<String, u64>>);

impl Denials {
    fn count(&self, code: String) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(code).or_default() += 1;
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// All refusals so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

/// SHA-256 of a token's text (what the store keeps).
pub fn token_hash(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

pub(crate) fn random_text(bytes: usize) -> Result<String, BusError> {
    let raw = opensmev_crypto::random_bytes(bytes)
        .map_err(|e| BusError::Internal(format!("random bytes: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// `bytes` random bytes as URL-safe Base64 without padding (tokens of forms and sessions).
pub fn random_token_text(bytes: usize) -> Result<String, BusError> {
    random_text(bytes)
}

/// Hashes a password (argon2id with the crate's default parameters, PHC string).
pub fn hash_password(password: &str) -> Result<String, BusError> {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let salt_bytes = opensmev_crypto::random_bytes(16)
        .map_err(|e| BusError::Internal(format!("random bytes: {e}")))?;
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| BusError::Internal(format!("password salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| BusError::Internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches a PHC string made by [`hash_password`].
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    PasswordHash::new(phc).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// What to create a token for ([`Bus::issue_token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// A label.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// For [`Role::Is`]: the information system (must be in the registry).
    pub system: Option<Mnemonic>,
    /// The account it belongs to (must exist, with the same role).
    pub account: Option<String>,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
}

/// A token just made: its record and the secret, shown this once.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// As stored.
    pub record: TokenRecord,
    /// The token text to present (`osmv_…`).
    pub secret: String,
}

/// Why a token or account cannot be made as asked (HTTP 422/409).
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A field is wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// A login or id is taken.
    #[error("{0} exists already")]
    Exists(String),
    /// No such token or account.
    #[error("{0} is not found")]
    NotFound(String),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The principal's role may not do it.
    #[error("{0}")]
    Denied(Denied),
    /// What was changed changed meanwhile (the version the change was based on is not current).
    #[error("{0}")]
    Conflict(String),
}

impl From<StoreError> for AccessError {
    fn from(e: StoreError) -> AccessError {
        match e {
            StoreError::Exists(what) => AccessError::Exists(what),
            e => AccessError::Bus(BusError::Store(e)),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> AccessError {
    AccessError::Invalid {
        field,
        message: message.into(),
    }
}

/// A new account ([`Bus::create_account`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRequest {
    /// Login: 1–64 characters of `A–Z a–z 0–9 . _ -` and `@`.
    pub login: String,
    /// The person's name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// For [`Role::Is`]: the information system.
    pub system: Option<Mnemonic>,
    /// A password; `None`: the bus makes a one-time one and returns it.
    pub password: Option<String>,
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

fn check_login(login: &str) -> Result<(), AccessError> {
    let ok = !login.is_empty()
        && login.chars().count() <= 64
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "login",
            "1–64 characters of A–Z, a–z, 0–9, '.', '_', '-', '@'",
        ))
    }
}

fn check_password(password: &str) -> Result<(), AccessError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid(
            "password",
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

impl Bus {
    /// The refusal counters.
    pub fn denials(&self) -> &Denials {
        &self.denials
    }

    /// Logs and counts a refusal to authenticate.
    pub fn record_unauthenticated(&self, error: &AuthError, context: &str) {
        tracing::warn!(target: "opensmev::denied", code = error.code(), context, reason = %error,
            "refused: {error}");
        self.denials.count(error.code().to_owned());
    }

    /// Whether `principal` may do `action`; a refusal is logged (WARN, `opensmev::denied`) and
    /// counted.
    pub fn authorize(&self, principal: &Principal, action: Action<'_>) -> Result<(), Denied> {
        principal
            .check(action)
            .inspect_err(|denied| self.record_denied(denied))
    }

    /// Logs (WARN, `opensmev::denied`) and counts a refusal the edge found otherwise (e.g. an IS
    /// acknowledging or answering a message of another system, refused by the bus as not found).
    pub fn record_denied(&self, denied: &Denied) {
        tracing::warn!(target: "opensmev::denied", code = "forbidden", actor = %denied.actor,
            role = denied.role.code(), action = denied.action, reason = %denied.reason,
            "refused: {denied}");
        self.denials.count(format!("forbidden.{}", denied.action));
    }

    /// The principal of an API token (`Authorization: Bearer` text). Refusals are logged and
    /// counted.
    pub async fn authenticate_token(&self, token: Option<&str>) -> Result<Principal, AuthError> {
        let result = self.check_token(token).await;
        match result {
            Ok(Ok(principal)) => Ok(principal),
            Ok(Err(e)) => {
                self.record_unauthenticated(&e, "api token");
                Err(e)
            }
            Err(e) => {
                tracing::error!(error = %e, "reading a token");
                // The store failing is not the caller's fault: a retryable failure, never
                // "unknown token" (a client would give up on a good token).
                Err(AuthError::Unavailable(e.to_string()))
            }
        }
    }

    async fn check_token(
        &self,
        token: Option<&str>,
    ) -> Result<Result<Principal, AuthError>, StoreError> {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Err(AuthError::Missing));
        };
        let well_formed = token.strip_prefix(TOKEN_PREFIX).is_some_and(|s| {
            s.len() == 43
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !well_formed {
            return Ok(Err(AuthError::Malformed));
        }
        let Some(record) = self
            .store()
            .token_by_secret_hash(&token_hash(token))
            .await?
        else {
            return Ok(Err(AuthError::Unknown));
        };
        let now = self.now();
        if let Some(at) = record.revoked_at {
            return Ok(Err(AuthError::Revoked { id: record.id, at }));
        }
        if let Some(at) = record.expires_at
            && at <= now
        {
            return Ok(Err(AuthError::Expired { id: record.id, at }));
        }
        if let Some(login) = &record.account {
            match self.store().account(login).await? {
                Some(account) if !account.disabled => {}
                _ => {
                    return Ok(Err(AuthError::AccountDisabled {
                        login: login.clone(),
                    }));
                }
            }
        }
        if record.role == Role::Is {
            match &record.system {
                Some(m) if self.registry().system(m).is_some() => {}
                other => {
                    return Ok(Err(AuthError::SystemGone(
                        other.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                    )));
                }
            }
        }
        Ok(Ok(Principal {
            role: record.role,
            system: record.system,
            actor: record
                .account
                .clone()
                .unwrap_or_else(|| format!("token:{}", record.id)),
            token_id: Some(record.id),
        }))
    }

    /// Makes an API token; the secret is in the result only. `by` names who asked (audited).
    pub async fn issue_token(
        &self,
        by: &str,
        request: TokenRequest,
    ) -> Result<IssuedToken, AccessError> {
        let name = request.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("name", "1–200 characters"));
        }
        match (request.role, &request.system) {
            (Role::Is, None) => {
                return Err(invalid("system", "a token of role is names its system"));
            }
            (Role::Is, Some(m)) if self.registry().system(m).is_none() => {
                return Err(invalid(
                    "system",
                    format!("{m} is not an information system of the registry"),
                ));
            }
            (Role::Is, Some(_)) => {}
            (_, Some(_)) => {
                return Err(invalid("system", "only tokens of role is name a system"));
            }
            (_, None) => {}
        }
        let now = self.now();
        if request.expires_at.is_some_and(|at| at <= now) {
            return Err(invalid("expires_at", "the expiry lies in the past"));
        }
        if let Some(login) = &request.account {
            let account = self
                .store()
                .account(login)
                .await
                .map_err(BusError::Store)?
                .ok_or_else(|| invalid("account", format!("no account {login}")))?;
            if account.role != request.role || account.system != request.system {
                return Err(invalid(
                    "account",
                    format!(
                        "the account {login} has the role {}; a token of it has the same role and system",
                        account.role.code()
                    ),
                ));
            }
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_text(TOKEN_SECRET_BYTES)?);
        let id = format!(
            "tok_{}",
            hex::encode(
                opensmev_crypto::random_bytes(8)
                    .map_err(|e| BusError::Internal(format!("random bytes: {e}")))?
            )
        );
        let record = self
            .save_token(
                by,
                id,
                token_hash(&secret),
                TokenRequest { name, ..request },
            )
            .await?;
        Ok(IssuedToken { record, secret })
    }

    /// Stores a token whose secret the caller chose (demo mode's tokens, derived from the demo
    /// data), unless a token with that secret exists. Returns whether it was stored.
    pub async fn install_token(
        &self,
        by: &str,
        request: TokenRequest,
        secret: &str,
    ) -> Result<bool, AccessError> {
        let hash = token_hash(secret);
        if self
            .store()
            .token_by_secret_hash(&hash)
            .await
            .map_err(BusError::Store)?
            .is_some()
        {
            return Ok(false);
        }
        let well_formed = secret
            .strip_prefix(TOKEN_PREFIX)
            .is_some_and(|s| s.len() == 43);
        if !well_formed {
            return Err(invalid("secret", "osmv_ and 43 base64url characters"));
        }
        let id = format!("tok_{}", &hex::encode(hash)[..16]);
        self.save_token(
            by,
            id,
            hash,
            TokenRequest {
                account: None,
                ..request
            },
        )
        .await?;
        Ok(true)
    }

    /// Stores a token made by [`Bus::issue_token`] or [`Bus::install_token`], with its audit
    /// entry.
    async fn save_token(
        &self,
        by: &str,
        id: String,
        secret_hash: [u8; 32],
        request: TokenRequest,
    ) -> Result<TokenRecord, AccessError> {
        let now = self.now();
        let record = TokenRecord {
            id: id.clone(),
            secret_hash,
            name: request.name,
            role: request.role,
            system: request.system,
            account: request.account,
            created_by: by.to_owned(),
            created_at: now,
            expires_at: request.expires_at,
            revoked_at: None,
        };
        let audit = NewAuditEntry {
            at: now,
            actor: by.to_owned(),
            action: "token.create".into(),
            target: id,
            detail: format!(
                "«{}», роль {}{}{}",
                record.name,
                record.role.code(),
                record
                    .system
                    .as_ref()
                    .map(|m| format!(", ИС {m}"))
                    .unwrap_or_default(),
                record
                    .expires_at
                    .map(|at| format!(", действует до {at}"))
                    .unwrap_or_default()
            ),
        };
        self.store().create_token(record.clone(), audit).await?;
        Ok(record)
    }

    /// Revokes a token (audited).
    pub async fn revoke_token(&self, by: &str, id: &str) -> Result<(), AccessError> {
        let now = self.now();
        let audit = NewAuditEntry {
            at: now,
            actor: by.to_owned(),
            action: "token.revoke".into(),
            target: id.to_owned(),
            detail: "отозван".into(),
        };
        if self.store().revoke_token(id, now, audit).await? {
            Ok(())
        } else {
            Err(AccessError::NotFound(format!("token {id}")))
        }
    }

    /// Creates an account (audited). Returns it and, when no password was given, the one-time
    /// password made for it (to be changed at the first login).
    pub async fn create_account(
        &self,
        by: &str,
        request: AccountRequest,
    ) -> Result<(Account, Option<String>), AccessError> {
        check_login(&request.login)?;
        let name = request.name.trim().to_owned();
        if name.chars().count() > 200 {
            return Err(invalid("name", "at most 200 characters"));
        }
        match (request.role, &request.system) {
            (Role::Is, Some(m)) if self.registry().system(m).is_some() => {}
            (Role::Is, _) => {
                return Err(invalid(
                    "system",
                    "an account of role is names an information system of the registry",
                ));
            }
            (_, Some(_)) => {
                return Err(invalid("system", "only accounts of role is name a system"));
            }
            (_, None) => {}
        }
        let (password, one_time) = match request.password {
            Some(p) => {
                check_password(&p)?;
                (p, None)
            }
            None => {
                let p = random_text(18)?;
                (p.clone(), Some(p))
            }
        };
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| BusError::Internal(format!("hashing a password: {e}")))??;
        let now = self.now();
        let account = Account {
            login: request.login.clone(),
            name,
            role: request.role,
            system: request.system,
            password_hash: Some(hash),
            must_change_password: one_time.is_some(),
            disabled: false,
            created_at: now,
        };
        let audit = NewAuditEntry {
            at: now,
            actor: by.to_owned(),
            action: "account.create".into(),
            target: account.login.clone(),
            detail: format!(
                "«{}», роль {}{}",
                account.name,
                account.role.code(),
                account
                    .system
                    .as_ref()
                    .map(|m| format!(", ИС {m}"))
                    .unwrap_or_default()
            ),
        };
        self.store().create_account(account.clone(), audit).await?;
        Ok((account, one_time))
    }

    /// Enables or disables an account, or sets a new password (audited).
    pub async fn update_account(
        &self,
        by: &str,
        login: &str,
        disabled: Option<bool>,
        password: Option<String>,
    ) -> Result<Account, AccessError> {
        let mut account = self
            .store()
            .account(login)
            .await
            .map_err(BusError::Store)?
            .ok_or_else(|| AccessError::NotFound(format!("account {login}")))?;
        let mut changes = Vec::new();
        if let Some(disabled) = disabled
            && disabled != account.disabled
        {
            account.disabled = disabled;
            changes.push(if disabled {
                "отключена"
            } else {
                "включена"
            });
        }
        if let Some(password) = password {
            check_password(&password)?;
            let hash = tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(|e| BusError::Internal(format!("hashing a password: {e}")))??;
            account.password_hash = Some(hash);
            account.must_change_password = false;
            changes.push("пароль изменён");
        }
        if changes.is_empty() {
            return Ok(account);
        }
        let audit = NewAuditEntry {
            at: self.now(),
            actor: by.to_owned(),
            action: "account.update".into(),
            target: login.to_owned(),
            detail: changes.join(", "),
        };
        if !self.store().update_account(account.clone(), audit).await? {
            return Err(AccessError::NotFound(format!("account {login}")));
        }
        // A disabled account or a new password ends the account's cabinet sessions.
        if account.disabled || changes.contains(&"пароль изменён") {
            self.store().delete_sessions_of(login).await?;
        }
        Ok(account)
    }

    /// Checks a login and password (the cabinet's login). Refusals are logged and counted.
    /// Repeated failures lock the login name out ([`crate::session::SessionPolicy`]).
    pub async fn login(&self, login: &str, password: &str) -> Result<Principal, AuthError> {
        let policy = self.config().sessions;
        let now = self.now();
        let unavailable = |e: StoreError| {
            tracing::error!(error = %e, "reading failed logins");
            AuthError::Unavailable(e.to_string())
        };
        let failures = self
            .store()
            .login_failures(login)
            .await
            .map_err(unavailable)?;
        if let Some(f) = failures
            && f.count >= policy.max_failures
            && now < f.since + policy.lockout
        {
            let e = AuthError::LockedOut {
                until: f.since + policy.lockout,
            };
            self.record_unauthenticated(&e, "login");
            return Err(e);
        }
        let result = self.check_password(login, password).await;
        match &result {
            Err(AuthError::BadPassword) => {
                self.store()
                    .note_login_failure(login, now, policy.lockout)
                    .await
                    .map_err(unavailable)?;
            }
            Ok(_) if failures.is_some() => {
                self.store()
                    .clear_login_failures(login)
                    .await
                    .map_err(unavailable)?;
            }
            _ => {}
        }
        result
    }

    async fn check_password(&self, login: &str, password: &str) -> Result<Principal, AuthError> {
        let account = match self.store().account(login).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "reading an account");
                return Err(AuthError::Unavailable(e.to_string()));
            }
        };
        let result = match account {
            None => Err(AuthError::BadPassword),
            Some(account) => {
                // argon2 is deliberately slow: off the async threads.
                let (password, phc) = (password.to_owned(), account.password_hash.clone());
                let ok = tokio::task::spawn_blocking(move || {
                    phc.is_some_and(|phc| verify_password(&password, &phc))
                })
                .await
                .unwrap_or(false);
                if !ok {
                    Err(AuthError::BadPassword)
                } else if account.disabled {
                    Err(AuthError::AccountDisabled {
                        login: account.login.clone(),
                    })
                } else {
                    Ok(Principal {
                        role: account.role,
                        system: account.system.clone(),
                        actor: account.login.clone(),
                        token_id: None,
                    })
                }
            }
        };
        result.inspect_err(|e| self.record_unauthenticated(e, "login"))
    }

    /// On a store without accounts, creates the first administrator `admin` with a one-time
    /// password and returns the password (to be printed once); `None` when accounts exist.
    pub async fn ensure_first_admin(&self) -> Result<Option<String>, AccessError> {
        if !self
            .store()
            .accounts()
            .await
            .map_err(BusError::Store)?
            .is_empty()
        {
            return Ok(None);
        }
        let (_, password) = self
            .create_account(
                SYSTEM_ACTOR,
                AccountRequest {
                    login: "admin".into(),
                    name: "Администратор".into(),
                    role: Role::Admin,
                    system: None,
                    password: None,
                },
            )
            .await?;
        Ok(password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, system: Option<&str>) -> Principal {
        Principal {
            role,
            system: system.map(|s| Mnemonic::parse(s).unwrap()),
            actor: "t".into(),
            token_id: None,
        }
    }

    #[test]
    fn the_role_matrix() {
        let a = Mnemonic::parse("A").unwrap();
        let b = Mnemonic::parse("B").unwrap();
        let is_a = principal(Role::Is, Some("A"));
        assert!(is_a.check(Action::WorkAs(&a)).is_ok());
        assert!(is_a.check(Action::WorkAs(&b)).is_err());
        assert!(
            is_a.check(Action::ReadMessage {
                sender: &b,
                recipient: &a
            })
            .is_ok()
        );
        assert!(
            is_a.check(Action::ReadMessage {
                sender: &b,
                recipient: &b
            })
            .is_err()
        );
        assert!(is_a.check(Action::SearchAllMessages).is_err());
        assert!(is_a.check(Action::SearchOwnMessages).is_ok());
        assert!(is_a.check(Action::ReadCatalogue).is_ok());
        assert!(is_a.check(Action::ReadRegistry).is_err());
        for role in [Role::Admin, Role::Operator, Role::Auditor] {
            let p = principal(role, None);
            assert!(p.check(Action::WorkAs(&a)).is_err(), "{role:?}");
            assert!(p.check(Action::SearchAllMessages).is_ok(), "{role:?}");
            assert!(p.check(Action::ReadRegistry).is_ok(), "{role:?}");
            assert_eq!(p.check(Action::ChangeRegistry).is_ok(), role == Role::Admin);
            assert_eq!(p.check(Action::ManageAccess).is_ok(), role == Role::Admin);
            assert_eq!(
                p.check(Action::ReadAudit).is_ok(),
                role != Role::Operator,
                "{role:?}"
            );
            assert_eq!(
                p.check(Action::ReadStatistics).is_ok(),
                role != Role::Auditor,
                "{role:?}"
            );
        }
    }

    #[test]
    fn passwords_round_trip() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterz", &phc));
        assert!(!verify_password("x", "not a phc string"));
    }
}
