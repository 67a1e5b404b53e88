//! E-mail notifications of the cabinet's users: what each user wants (their preferences, a
//! settings document `user/<login>`), and which notices are due — an answer arrived for their
//! system's request, a request was assigned to their department, a deadline is near. The bus
//! decides what to say and to whom; the server sends (SMTP), and a notice is sent once
//! ([`opensmev_store::Store::once`]) whichever node does it.

use opensmev_store::{CaseQuery, MessageQuery, NewAuditEntry};
use opensmev_types::{MessageKind, Mnemonic, Role};
use serde::{Deserialize, Serialize};
use time::Duration;

use crate::auth::{AccessError, Principal};
use crate::bus::Bus;
use crate::cases::SYNC_BATCH;
use crate::error::BusError;

/// A user's notification preferences.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prefs {
    /// Where to write (none: no e-mail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// An answer (or rejection, or status) arrived for a request of the user's system.
    pub answers: bool,
    /// A request was assigned to one of the user's departments.
    pub assigned: bool,
    /// A request of the user's departments is due within a day.
    pub deadlines: bool,
    /// The user's departments (ids of the system's cabinet settings).
    pub departments: Vec<String>,
}

/// A notice to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What makes it unique (recorded once sent).
    pub key: String,
    /// The user.
    pub login: String,
    /// The address.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The text.
    pub body: String,
}

/// How far back answers are looked for (a node taking the job over finds what its predecessor
/// left).
const LOOK_BACK: Duration = Duration::hours(2);

/// A deadline within this time is "near".
pub const DEADLINE_NEAR: Duration = Duration::hours(24);

fn prefs_name(login: &str) -> String {
    format!("user/{login}")
}

/// A plausible e-mail address: one `@`, something on both sides, no spaces or angle brackets.
fn plausible(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(d), None)
        if !a.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.'))
        && !email
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"'))
        && email.len() <= 254
}

impl Bus {
    /// A user's preferences (the defaults when none are saved).
    pub async fn prefs(&self, login: &str) -> Result<Prefs, BusError> {
        match self.store().settings(&prefs_name(login)).await? {
            Some(doc) => toml::from_str(&doc.text)
                .map_err(|e| BusError::Internal(format!("the stored {}: {e}", doc.name))),
            None => Ok(Prefs::default()),
        }
    }

    /// Saves the principal's own preferences (an account's; audited).
    pub async fn save_prefs(
        &self,
        principal: &Principal,
        prefs: &Prefs,
    ) -> Result<(), AccessError> {
        if let Some(email) = &prefs.email
            && !plausible(email)
        {
            return Err(AccessError::Invalid {
                field: "email",
                message: format!("«{email}» is not an e-mail address"),
            });
        }
        if let Some(system) = principal.own_system()
            && !prefs.departments.is_empty()
        {
            let settings = self
                .cabinet_settings(system)
                .await?
                .map(|(s, _)| s)
                .unwrap_or_default();
            if let Some(d) = prefs
                .departments
                .iter()
                .find(|d| settings.department(d).is_none())
            {
                return Err(AccessError::Invalid {
                    field: "departments",
                    message: format!("no department «{d}» in the cabinet settings of {system}"),
                });
            }
        }
        let text = toml::to_string(prefs).map_err(|e| BusError::Internal(e.to_string()))?;
        let audit = NewAuditEntry {
            at: self.now(),
            actor: principal.actor.clone(),
            action: "user.notifications".into(),
            target: principal.actor.clone(),
            detail: text.clone(),
        };
        self.store()
            .save_settings(&prefs_name(&principal.actor), text, None, self.now(), audit)
            .await
            .map_err(BusError::Store)?;
        Ok(())
    }

    /// The people of a system who want notices, with their preferences.
    async fn people_of(&self, system: &Mnemonic) -> Result<Vec<(String, String, Prefs)>, BusError> {
        let mut out = Vec::new();
        for account in self.store().accounts().await? {
            if account.disabled
                || account.role != Role::Is
                || account.system.as_ref() != Some(system)
            {
                continue;
            }
            let prefs = self.prefs(&account.login).await?;
            if let Some(email) = prefs.email.clone() {
                out.push((account.login, email, prefs));
            }
        }
        Ok(out)
    }

    /// The notices due now (not yet sent), with links into the cabinet at `base_url`. Opens the
    /// cases of newly received requests on the way, so assignments are noticed even when no
    /// one looks at the inbox.
    pub async fn due_notices(&self, base_url: &str) -> Result<Vec<Notice>, BusError> {
        let now = self.now();
        let base = base_url.trim_end_matches('/');
        let registry = self.registry();
        let title = |vs: &str| {
            registry
                .kind(vs)
                .map(|k| k.entry.title.clone())
                .unwrap_or_else(|| vs.to_owned())
        };
        let mut notices = Vec::new();
        // Answers: responses accepted lately, to every person of the consumer who wants them.
        let answers = self
            .store()
            .search_messages(MessageQuery {
                kind: Some(MessageKind::Response),
                from: Some(now - LOOK_BACK),
                limit: 500,
                ..MessageQuery::default()
            })
            .await?;
        for m in answers {
            let Some(request) = &m.original_message_id else {
                continue;
            };
            for (login, to, prefs) in self.people_of(&m.recipient).await? {
                if !prefs.answers {
                    continue;
                }
                notices.push(Notice {
                    key: format!("answer:{}:{login}", m.id),
                    login,
                    to,
                    subject: format!("Получен ответ на запрос: {}", title(&m.vs_id)),
                    body: format!(
                        "На запрос {request} ({}) от {} получен ответ.\n\nОткрыть: {base}/messages/{request}\n\n— OpenSMEV",
                        title(&m.vs_id),
                        m.sender
                    ),
                });
            }
        }
        // Assignments and deadlines: the open cases of every system with cabinet settings.
        for system in registry.systems() {
            let system = &system.mnemonic;
            if self.cabinet_settings(system).await?.is_none() {
                continue;
            }
            self.sync_cases(system, SYNC_BATCH).await?;
            let people = self.people_of(system).await?;
            if people.is_empty() {
                continue;
            }
            let cases = self
                .store()
                .cases(CaseQuery {
                    system: system.clone(),
                    department: None,
                    open: Some(true),
                    due_before: None,
                    vs_id: None,
                    before: None,
                    limit: 500,
                })
                .await?;
            for case in cases {
                let Some(department) = &case.department else {
                    continue;
                };
                for (login, to, prefs) in &people {
                    if !prefs.departments.contains(department) {
                        continue;
                    }
                    let link = format!("{base}/messages/{}", case.request);
                    if prefs.assigned && case.received_at > now - LOOK_BACK {
                        notices.push(Notice {
                            key: format!("assigned:{}:{department}:{login}", case.request),
                            login: login.clone(),
                            to: to.clone(),
                            subject: format!("Новый запрос в подразделение: {}", title(&case.vs_id)),
                            body: format!(
                                "Запрос {} от {} ({}) назначен вашему подразделению.\n\nОткрыть: {link}\n\n— OpenSMEV",
                                case.request,
                                case.sender,
                                title(&case.vs_id)
                            ),
                        });
                    }
                    if prefs.deadlines
                        && let Some(due) = case.due_at
                        && due > now
                        && due <= now + DEADLINE_NEAR
                    {
                        notices.push(Notice {
                            key: format!("deadline:{}:{login}", case.request),
                            login: login.clone(),
                            to: to.clone(),
                            subject: format!("Истекает срок ответа: {}", title(&case.vs_id)),
                            body: format!(
                                "Срок ответа на запрос {} от {} истекает {}.\n\nОткрыть: {link}\n\n— OpenSMEV",
                                case.request,
                                case.sender,
                                due.to_offset(time::UtcOffset::from_hms(3, 0, 0).unwrap_or(time::UtcOffset::UTC))
                                    .format(time::macros::format_description!("[day].[month].[year] [hour]:[minute] МСК"))
                                    .unwrap_or_default()
                            ),
                        });
                    }
                }
            }
        }
        Ok(notices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(plausible("ivanova@pfr.example"));
        for bad in [
            "",
            "a",
            "a@b",
            "@b.ru",
            "a@b.ru@c.ru",
            "a b@c.ru",
            "a@c.ru>",
            "a@.ru",
            "a@ru.",
        ] {
            assert!(!plausible(bad), "{bad}");
        }
    }
}
