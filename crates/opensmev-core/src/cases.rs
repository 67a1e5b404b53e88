//! The provider's work in the cabinet: a system's cabinet settings (departments, assignment
//! rules, deadlines, the working-day calendar) and its cases — one per incoming request — with
//! automatic assignment, deadlines and the history of who did what.
//!
//! The settings are a TOML document per system, kept in the store as a versioned, audited
//! settings document `cabinet/<MNEMONIC>`:
//!
//! ```toml
//! [[departments]]
//! id = "pensions"
//! name = "Отдел назначения пенсий"
//!
//! [[rules]]                      # the first rule that matches assigns
//! vs_id = "VS00001v001-PFR001"   # optional: the kind of information
//! xpath = "//Snils"              # optional: a field of the content…
//! starts_with = "112"            # …and its value (`equals` or `starts_with`; none: present)
//! department = "pensions"
//!
//! [[deadlines]]
//! vs_id = "VS00001v001-PFR001"
//! working_days = 5               # or `hours = 4`
//!
//! [calendar]
//! holidays = ["2027-01-01"]      # days off besides Saturdays and Sundays
//! workdays = ["2027-02-20"]      # Saturdays or Sundays that are working days
//! ```
//!
//! XPath: the subset that names an element by its path — `/Root/Child/Leaf`, `//Leaf`,
//! `Child/Leaf` (from the root), `*` for any element; prefixes are ignored (elements are matched
//! by local name); a trailing `/text()` is allowed. The value is the first matching element's
//! text, trimmed.

use std::collections::BTreeSet;

use opensmev_store::{
    Case, CaseChange, CaseEvent, MessageSummary, NewAuditEntry, Settings, StoreError,
};
use opensmev_types::{MessageId, Mnemonic};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, Time, UtcOffset, Weekday};

use crate::auth::{AccessError, Action, Principal, SYSTEM_ACTOR};
use crate::bus::Bus;
use crate::error::BusError;

/// Moscow time, the clock of deadlines in working days.
const MSK: UtcOffset = match UtcOffset::from_hms(3, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// How many new cases a listing opens at most (the rest at the next one).
pub const SYNC_BATCH: u32 = 500;

/// How far back the first synchronisation of a system's cases looks.
const FIRST_SYNC: Duration = Duration::days(30);

/// A department of a provider's system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    /// Its id (in rules and cases).
    pub id: String,
    /// Its name.
    pub name: String,
}

/// An assignment rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Only requests of this kind of information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_id: Option<String>,
    /// A field of the content (the XPath subset of the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xpath: Option<String>,
    /// The field's value must be this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// The field's value must start with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<String>,
    /// The department assigned.
    pub department: String,
}

/// A deadline rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineRule {
    /// The kind of information (absent: every kind without a rule of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_id: Option<String>,
    /// Working days after the day of receipt (the deadline is the end of the last one, Moscow
    /// time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_days: Option<u32>,
    /// Or hours after receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<u32>,
}

/// The working-day calendar.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// Days off besides Saturdays and Sundays (`YYYY-MM-DD`).
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Saturdays and Sundays that are working days.
    #[serde(default)]
    pub workdays: Vec<String>,
}

/// A system's cabinet settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CabinetSettings {
    /// Departments.
    #[serde(default)]
    pub departments: Vec<Department>,
    /// Assignment rules, in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Deadlines.
    #[serde(default)]
    pub deadlines: Vec<DeadlineRule>,
    /// The calendar.
    #[serde(default)]
    pub calendar: Calendar,
}

/// The settings document's name for a system.
pub fn settings_name(system: &Mnemonic) -> String {
    format!("cabinet/{system}")
}

fn invalid(message: impl Into<String>) -> AccessError {
    AccessError::Invalid {
        field: "settings",
        message: message.into(),
    }
}

fn parse_day(text: &str) -> Option<Date> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// A parsed XPath of the subset: (anywhere below the root?, steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    descendant: bool,
    steps: Vec<String>,
}

impl Path {
    /// Parses the subset (see the module docs).
    pub fn parse(text: &str) -> Result<Path, String> {
        let t = text.trim();
        let t = t.strip_suffix("/text()").unwrap_or(t);
        let (descendant, rest) = if let Some(r) = t.strip_prefix("//") {
            (true, r)
        } else if let Some(r) = t.strip_prefix('/') {
            (false, r)
        } else {
            (false, t)
        };
        let mut steps = Vec::new();
        for step in rest.split('/') {
            let local = step.rsplit(':').next().unwrap_or(step);
            let ok = local == "*"
                || (!local.is_empty()
                    && local
                        .chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')));
            if !ok {
                return Err(format!(
                    "«{text}»: only element paths are supported (/A/B, //B, *), not «{step}»"
                ));
            }
            steps.push(local.to_owned());
        }
        Ok(Path { descendant, steps })
    }

    /// The trimmed text of the first element the path selects in `xml`.
    pub fn value_in(&self, xml: &str) -> Option<String> {
        let doc = roxmltree::Document::parse(xml).ok()?;
        let matches = |node: &roxmltree::Node<'_, '_>, step: &str| {
            node.is_element() && (step == "*" || node.tag_name().name() == step)
        };
        let follow = |start: roxmltree::Node<'_, '_>, steps: &[String]| -> Option<String> {
            let mut current = vec![start];
            for step in steps {
                current = current
                    .iter()
                    .flat_map(|n| n.children())
                    .filter(|c| matches(c, step))
                    .collect();
            }
            current
                .first()
                .map(|n| n.text().unwrap_or_default().trim().to_owned())
        };
        let root = doc.root();
        if self.descendant {
            let (first, rest) = self.steps.split_first()?;
            doc.descendants()
                .filter(|n| matches(n, first))
                .find_map(|n| follow(n, rest))
        } else {
            follow(root, &self.steps)
        }
    }
}

impl CabinetSettings {
    /// Reads and checks a settings document: departments unique, rules naming known
    /// departments and paths of the subset, deadlines with one unit, calendar days as dates.
    pub fn parse(text: &str) -> Result<CabinetSettings, AccessError> {
        let settings: CabinetSettings =
            toml::from_str(text).map_err(|e| invalid(format!("TOML: {e}")))?;
        let mut ids = BTreeSet::new();
        for d in &settings.departments {
            if d.id.trim().is_empty() || d.name.trim().is_empty() {
                return Err(invalid("a department needs an id and a name"));
            }
            if !ids.insert(d.id.as_str()) {
                return Err(invalid(format!(
                    "the department «{}» is listed twice",
                    d.id
                )));
            }
        }
        for (i, r) in settings.rules.iter().enumerate() {
            if !ids.contains(r.department.as_str()) {
                return Err(invalid(format!(
                    "rule {}: no department «{}»",
                    i + 1,
                    r.department
                )));
            }
            if let Some(x) = &r.xpath {
                Path::parse(x).map_err(|e| invalid(format!("rule {}: {e}", i + 1)))?;
            } else if r.equals.is_some() || r.starts_with.is_some() {
                return Err(invalid(format!(
                    "rule {}: a value to compare needs an xpath",
                    i + 1
                )));
            }
        }
        for (i, d) in settings.deadlines.iter().enumerate() {
            match (d.working_days, d.hours) {
                (Some(n), None) | (None, Some(n)) if n > 0 && n <= 10_000 => {}
                _ => {
                    return Err(invalid(format!(
                        "deadline {}: give either working_days or hours (1–10000)",
                        i + 1
                    )));
                }
            }
        }
        for day in settings
            .calendar
            .holidays
            .iter()
            .chain(&settings.calendar.workdays)
        {
            if parse_day(day).is_none() {
                return Err(invalid(format!(
                    "calendar: «{day}» is not a date (YYYY-MM-DD)"
                )));
            }
        }
        Ok(settings)
    }

    /// Whether a department exists.
    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    /// The department the rules assign a request of `vs_id` with `content` to.
    pub fn assign(&self, vs_id: &str, content: &str) -> Option<String> {
        self.rules.iter().find_map(|r| {
            if r.vs_id.as_deref().is_some_and(|v| v != vs_id) {
                return None;
            }
            if let Some(x) = &r.xpath {
                let value = Path::parse(x).ok()?.value_in(content)?;
                if r.equals.as_deref().is_some_and(|e| e != value)
                    || r.starts_with
                        .as_deref()
                        .is_some_and(|p| !value.starts_with(p))
                {
                    return None;
                }
            }
            Some(r.department.clone())
        })
    }

    fn is_working_day(&self, day: Date) -> bool {
        let text = day.to_string();
        if self.calendar.workdays.contains(&text) {
            return true;
        }
        if self.calendar.holidays.contains(&text) {
            return false;
        }
        !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
    }

    /// The deadline of a request of `vs_id` received at `received`: the kind's rule, else the
    /// rule without a kind; `None` without either.
    pub fn due(&self, vs_id: &str, received: OffsetDateTime) -> Option<OffsetDateTime> {
        let rule = self
            .deadlines
            .iter()
            .find(|d| d.vs_id.as_deref() == Some(vs_id))
            .or_else(|| self.deadlines.iter().find(|d| d.vs_id.is_none()))?;
        if let Some(hours) = rule.hours {
            return Some(received + Duration::hours(i64::from(hours)));
        }
        let mut left = rule.working_days?;
        let mut day = received.to_offset(MSK).date();
        while left > 0 {
            day = day.next_day()?;
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        Some(day.with_time(Time::MAX).assume_offset(MSK))
    }
}

impl Bus {
    /// A system's cabinet settings and their version (`None`: none saved).
    pub async fn cabinet_settings(
        &self,
        system: &Mnemonic,
    ) -> Result<Option<(CabinetSettings, u64)>, BusError> {
        let Some(doc) = self.store().settings(&settings_name(system)).await? else {
            return Ok(None);
        };
        let parsed = CabinetSettings::parse(&doc.text)
            .map_err(|e| BusError::Internal(format!("the stored {}: {e}", doc.name)))?;
        Ok(Some((parsed, doc.version)))
    }

    /// The settings document itself (for editing).
    pub async fn cabinet_settings_text(
        &self,
        system: &Mnemonic,
    ) -> Result<Option<Settings>, BusError> {
        Ok(self.store().settings(&settings_name(system)).await?)
    }

    /// Replaces a system's cabinet settings (an administrator; audited). `expected` is the
    /// version the change was based on (0: none yet).
    pub async fn save_cabinet_settings(
        &self,
        principal: &Principal,
        system: &Mnemonic,
        text: &str,
        expected: Option<u64>,
    ) -> Result<Settings, AccessError> {
        self.authorize(principal, Action::ManageAccess)
            .map_err(AccessError::Denied)?;
        if self.registry().system(system).is_none() {
            return Err(AccessError::NotFound(format!(
                "information system {system}"
            )));
        }
        CabinetSettings::parse(text)?;
        let audit = NewAuditEntry {
            at: self.now(),
            actor: principal.actor.clone(),
            action: "cabinet.settings".into(),
            target: system.to_string(),
            detail: text.to_owned(),
        };
        match self
            .store()
            .save_settings(
                &settings_name(system),
                text.to_owned(),
                expected,
                self.now(),
                audit,
            )
            .await
        {
            Ok(s) => Ok(s),
            Err(StoreError::VersionConflict { current, .. }) => Err(AccessError::Conflict(
                format!("the settings changed meanwhile: now at version {current}"),
            )),
            Err(e) => Err(BusError::Store(e).into()),
        }
    }

    /// Opens the cases of the requests `system` received since its newest case (at most
    /// `limit`), assigned by its rules and with their deadlines; how many were opened. A system
    /// without cabinet settings has no cases.
    pub async fn sync_cases(&self, system: &Mnemonic, limit: u32) -> Result<u32, BusError> {
        let Some((settings, _)) = self.cabinet_settings(system).await? else {
            return Ok(0);
        };
        let since = self.now() - FIRST_SYNC;
        let found: Vec<MessageSummary> = self
            .store()
            .requests_without_case(system, since, limit)
            .await?;
        let mut opened = 0;
        for m in found {
            let Some(stored) = self.store().message(&m.id).await? else {
                continue;
            };
            let department = settings.assign(&m.vs_id, &stored.message.sender_data);
            let case = Case {
                request: m.id.clone(),
                request_seq: m.seq,
                system: system.clone(),
                sender: m.sender.clone(),
                vs_id: m.vs_id.clone(),
                received_at: m.sent_at,
                department: department.clone(),
                due_at: settings.due(&m.vs_id, m.sent_at),
                closed_at: None,
                outcome: None,
            };
            let event = CaseEvent {
                at: self.now(),
                actor: SYSTEM_ACTOR.into(),
                action: "assigned".into(),
                detail: department,
            };
            if self.store().open_case(case, event).await? {
                opened += 1;
            }
        }
        Ok(opened)
    }

    fn own_case_system(&self, principal: &Principal) -> Result<Mnemonic, AccessError> {
        self.authorize(principal, Action::WorkAsOwn)
            .map_err(AccessError::Denied)?;
        principal
            .own_system()
            .cloned()
            .ok_or_else(|| AccessError::Invalid {
                field: "role",
                message: "the account works for no information system".into(),
            })
    }

    /// The cases of `principal`'s system matching `query` (its `system` is set here), after
    /// opening the cases of newly received requests.
    pub async fn cases_as(
        &self,
        principal: &Principal,
        mut query: opensmev_store::CaseQuery,
    ) -> Result<Vec<Case>, AccessError> {
        let system = self.own_case_system(principal)?;
        self.sync_cases(&system, SYNC_BATCH).await?;
        query.system = system;
        Ok(self.store().cases(query).await.map_err(BusError::Store)?)
    }

    /// A request's case, for its system's people.
    pub async fn case_as(
        &self,
        principal: &Principal,
        request: &MessageId,
    ) -> Result<Option<(Case, Vec<CaseEvent>)>, AccessError> {
        let system = self.own_case_system(principal)?;
        let found = self.store().case(request).await.map_err(BusError::Store)?;
        Ok(found.filter(|(c, _)| c.system == system))
    }

    /// Moves a case to another department (or none), with the reason, as `principal`.
    pub async fn reassign_case(
        &self,
        principal: &Principal,
        request: &MessageId,
        department: Option<&str>,
        reason: &str,
    ) -> Result<(), AccessError> {
        let system = self.own_case_system(principal)?;
        let (settings, _) = self
            .cabinet_settings(&system)
            .await?
            .ok_or_else(|| AccessError::NotFound(format!("cabinet settings of {system}")))?;
        if let Some(d) = department
            && settings.department(d).is_none()
        {
            return Err(AccessError::Invalid {
                field: "department",
                message: format!("no department «{d}»"),
            });
        }
        if reason.trim().is_empty() {
            return Err(AccessError::Invalid {
                field: "reason",
                message: "give the reason".into(),
            });
        }
        let Some((case, _)) = self.case_as(principal, request).await? else {
            return Err(AccessError::NotFound(format!("case of {request}")));
        };
        let name = |d: Option<&str>| d.unwrap_or("—").to_owned();
        let event = CaseEvent {
            at: self.now(),
            actor: principal.actor.clone(),
            action: "reassigned".into(),
            detail: Some(format!(
                "{} → {}: {}",
                name(case.department.as_deref()),
                name(department),
                reason.trim()
            )),
        };
        let change = CaseChange {
            department: Some(department.map(str::to_owned)),
            close: None,
        };
        self.store()
            .change_case(request, change, event)
            .await
            .map_err(BusError::Store)?;
        Ok(())
    }

    /// Records what `principal` did with a request through the cabinet (answered, rejected —
    /// which close its case —, or an intermediate status); nothing when the request has no case.
    pub async fn record_case_action(
        &self,
        principal: &Principal,
        request: &MessageId,
        action: &str,
        detail: Option<String>,
    ) -> Result<(), BusError> {
        let close = matches!(action, "answered" | "rejected").then(|| action.to_owned());
        let event = CaseEvent {
            at: self.now(),
            actor: principal.actor.clone(),
            action: action.into(),
            detail,
        };
        self.store()
            .change_case(
                request,
                CaseChange {
                    department: None,
                    close,
                },
                event,
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const SETTINGS: &str = r#"
[[departments]]
id = "a"
name = "Отдел А"
[[departments]]
id = "b"
name = "Отдел Б"

[[rules]]
vs_id = "VS1"
xpath = "//Snils"
starts_with = "112"
department = "a"
[[rules]]
vs_id = "VS1"
department = "b"

[[deadlines]]
vs_id = "VS1"
working_days = 3
[[deadlines]]
hours = 4

[calendar]
holidays = ["2026-12-31"]
workdays = ["2027-01-02"]
"#;

    #[test]
    fn assignment_by_kind_and_field() {
        let s = CabinetSettings::parse(SETTINGS).unwrap();
        let xml = |snils: &str| {
            format!("<p:R xmlns:p=\"urn:x\"><p:Person><p:Snils>{snils}</p:Snils></p:Person></p:R>")
        };
        assert_eq!(
            s.assign("VS1", &xml("112-233-445 95")).as_deref(),
            Some("a")
        );
        assert_eq!(
            s.assign("VS1", &xml("999-233-445 95")).as_deref(),
            Some("b")
        );
        assert_eq!(s.assign("VS2", &xml("112-233-445 95")), None);
        assert_eq!(
            Path::parse("/R/Person/Snils/text()")
                .unwrap()
                .value_in(&xml(" 1 "))
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            Path::parse("R/*/Snils")
                .unwrap()
                .value_in(&xml("2"))
                .as_deref(),
            Some("2")
        );
        assert!(Path::parse("//a[@b='c']").is_err());
    }

    #[test]
    fn deadlines_in_working_days_and_hours() {
        let s = CabinetSettings::parse(SETTINGS).unwrap();
        // Received on Tuesday 29 December 2026 (MSK): Wed 30, (Thu 31 is a holiday), Fri 1
        // Jan, (Sat 2 is a working day) → the third working day is Saturday 2 January.
        let received = datetime!(2026-12-29 10:00 +3);
        assert_eq!(
            s.due("VS1", received),
            Some(datetime!(2027-01-02 23:59:59.999999999 +3))
        );
        // Received on a Friday evening: Mon, Tue, Wed.
        assert_eq!(
            s.due("VS1", datetime!(2026-12-04 18:00 +3)),
            Some(datetime!(2026-12-09 23:59:59.999999999 +3))
        );
        assert_eq!(s.due("VS9", received), Some(received + Duration::hours(4)));
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        for (text, needle) in [
            ("[[rules]]\ndepartment = \"x\"", "no department"),
            (
                "[[departments]]\nid = \"a\"\nname = \"A\"\n[[departments]]\nid = \"a\"\nname = \"B\"",
                "twice",
            ),
            ("[[deadlines]]\nworking_days = 1\nhours = 2", "either"),
            ("[calendar]\nholidays = [\"31.12.2026\"]", "not a date"),
            (
                "[[departments]]\nid = \"a\"\nname = \"A\"\n[[rules]]\nxpath = \"//a[1]\"\ndepartment = \"a\"",
                "only element paths",
            ),
            ("nonsense = 1", "TOML"),
        ] {
            let e = CabinetSettings::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
