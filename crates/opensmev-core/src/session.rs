//! Signed-in sessions of the web cabinet: login with a lock-out after repeated failures, the
//! session's secret (the browser's cookie; the store keeps its SHA-256), its CSRF token, idle and
//! absolute expiry. Kept in the store, so every node of a cluster knows every session.

use opensmev_store::WebSession;
use time::{Duration, OffsetDateTime};

use crate::auth::{AuthError, Principal, random_text, token_hash};
use crate::bus::Bus;

/// How long sessions live and when logins are locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after login, however much it is used.
    pub absolute: Duration,
    /// After this many failed logins of one login name within `lockout`, logins of that name
    /// are refused until `lockout` has passed since the first of them.
    pub max_failures: u32,
    /// The window of failures, and how long a lock-out lasts.
    pub lockout: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
            max_failures: 5,
            lockout: Duration::minutes(15),
        }
    }
}

/// A session in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who.
    pub principal: Principal,
    /// The person's name.
    pub name: String,
    /// The CSRF token every state change must carry.
    pub csrf: String,
    /// The password is a one-time one and must be changed.
    pub must_change_password: bool,
    /// When it ends unless used.
    pub expires_at: OffsetDateTime,
}

/// A session just opened: the secret for the browser's cookie, and the session.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The cookie's value (shown once; the store keeps only its SHA-256).
    pub secret: String,
    /// The session.
    pub session: Session,
}

/// Uses within this time of the last recorded one are not written again (fewer writes; the idle
/// expiry is that much coarser).
const TOUCH_EVERY: Duration = Duration::seconds(60);

impl Bus {
    /// Checks a login and password under the lock-out policy and opens a session.
    pub async fn open_session(&self, login: &str, password: &str) -> Result<Opened, AuthError> {
        let principal = self.login(login, password).await?;
        let account = self
            .store()
            .account(login)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .ok_or(AuthError::BadPassword)?;
        let unavailable = |e: crate::BusError| AuthError::Unavailable(e.to_string());
        let secret = random_text(32).map_err(unavailable)?;
        let csrf = random_text(32).map_err(unavailable)?;
        let now = self.now();
        let policy = self.config().sessions;
        let record = WebSession {
            id_hash: token_hash(&secret),
            login: account.login.clone(),
            csrf: csrf.clone(),
            created_at: now,
            last_seen: now,
            expires_at: (now + policy.idle).min(now + policy.absolute),
        };
        let expires_at = record.expires_at;
        self.store()
            .create_session(record)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        tracing::info!(target: "opensmev::access", actor = %account.login, "signed in to the cabinet");
        Ok(Opened {
            secret,
            session: Session {
                principal,
                name: account.name,
                csrf,
                must_change_password: account.must_change_password,
                expires_at,
            },
        })
    }

    /// The session of a cookie's secret: refused when unknown, expired (idle or absolute), or
    /// when its account was disabled or removed; a use extends its idle expiry.
    pub async fn resume_session(&self, secret: &str) -> Result<Session, AuthError> {
        let unavailable = |e: opensmev_store::StoreError| AuthError::Unavailable(e.to_string());
        let hash = token_hash(secret);
        let Some(record) = self.store().session(&hash).await.map_err(unavailable)? else {
            return Err(AuthError::SessionUnknown);
        };
        let now = self.now();
        let policy = self.config().sessions;
        let hard_end = record.created_at + policy.absolute;
        if now >= record.expires_at || now >= hard_end {
            self.store()
                .delete_session(&hash)
                .await
                .map_err(unavailable)?;
            return Err(AuthError::SessionExpired);
        }
        let account = match self
            .store()
            .account(&record.login)
            .await
            .map_err(unavailable)?
        {
            Some(a) if !a.disabled => a,
            _ => {
                self.store()
                    .delete_session(&hash)
                    .await
                    .map_err(unavailable)?;
                return Err(AuthError::AccountDisabled {
                    login: record.login,
                });
            }
        };
        let mut expires_at = record.expires_at;
        if now - record.last_seen >= TOUCH_EVERY {
            expires_at = (now + policy.idle).min(hard_end);
            self.store()
                .touch_session(&hash, now, expires_at)
                .await
                .map_err(unavailable)?;
        }
        Ok(Session {
            principal: Principal {
                role: account.role,
                system: account.system.clone(),
                actor: account.login.clone(),
                token_id: None,
            },
            name: account.name,
            csrf: record.csrf,
            must_change_password: account.must_change_password,
            expires_at,
        })
    }

    /// Ends a session (logout). Ending an unknown one is not an error.
    pub async fn close_session(&self, secret: &str) -> Result<(), AuthError> {
        self.store()
            .delete_session(&token_hash(secret))
            .await
            .map(|_| ())
            .map_err(|e| AuthError::Unavailable(e.to_string()))
    }
}
