//! The cabinet's languages: Russian by default, English on request (a cookie set by the switch
//! in the header), and the table of interface texts.

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Russian (the default).
    #[default]
    Ru,
    /// English.
    En,
}

impl Lang {
    /// From a cookie or query value; anything else is Russian.
    pub fn parse(code: Option<&str>) -> Lang {
        match code {
            Some("en") => Lang::En,
            _ => Lang::Ru,
        }
    }

    /// The ISO code (`ru`, `en`), for `<html lang>` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    /// The text of `key` in this language (the key itself when the table lacks it: a test
    /// checks that every key the templates use is in the table).
    pub fn t(self, key: &str) -> &'static str {
        match TEXTS.binary_search_by(|(k, _, _)| (*k).cmp(key)) {
            Ok(i) => match self {
                Lang::Ru => TEXTS[i].1,
                Lang::En => TEXTS[i].2,
            },
            Err(_) => "??",
        }
    }

    /// The language of the form generator.
    pub fn forms(self) -> opensmev_forms::Lang {
        match self {
            Lang::Ru => opensmev_forms::Lang::Ru,
            Lang::En => opensmev_forms::Lang::En,
        }
    }
}

/// (key, Russian, English), sorted by key.
pub(crate) const TEXTS: &[(&str, &str, &str)] = &[
    ("account", "Учётная запись", "Account"),
    ("actions", "Действия", "Actions"),
    ("all", "Все", "All"),
    ("answer", "Ответить", "Answer"),
    ("answer_form", "Ответ на запрос", "Answer to the request"),
    ("answers", "Ответы", "Answers"),
    ("apply", "Применить", "Apply"),
    ("attachments", "Вложения", "Attachments"),
    ("back", "Назад", "Back"),
    ("cabinet_settings", "Настройки кабинета", "Cabinet settings"),
    ("cancel", "Отмена", "Cancel"),
    ("case", "Исполнение", "Handling"),
    ("case_closed", "Закрытые", "Closed"),
    ("case_open", "Открытые", "Open"),
    ("certificate", "Сертификат", "Certificate"),
    ("change_password", "Смена пароля", "Change the password"),
    ("client_id", "Идентификатор клиента", "Client id"),
    ("closed_as", "закрыт", "closed"),
    ("copy", "Копировать запрос", "Copy the request"),
    ("deadline", "Срок", "Deadline"),
    ("delete", "Удалить", "Delete"),
    ("department", "Подразделение", "Department"),
    ("direction", "Направление", "Direction"),
    ("document", "Документ", "Document"),
    ("download", "Скачать", "Download"),
    ("draft_saved", "Черновик сохранён", "The draft is saved"),
    ("drafts", "Черновики", "Drafts"),
    ("due_soon", "скоро срок", "due soon"),
    ("email", "Адрес электронной почты", "E-mail address"),
    ("empty", "Ничего не найдено", "Nothing found"),
    ("error", "Ошибка", "Error"),
    (
        "errors_in_form",
        "В форме есть ошибки: они показаны у полей.",
        "The form has errors: they are shown at the fields.",
    ),
    ("event", "Событие", "Event"),
    ("filters", "Отбор", "Filters"),
    ("from", "С", "From"),
    ("inbox", "Входящие запросы", "Incoming requests"),
    ("invalid", "недействительна", "invalid"),
    ("kind", "Вид сведений", "Kind of information"),
    ("language", "Язык", "Language"),
    (
        "locked_out",
        "Слишком много неудачных попыток входа. Вход заблокирован до",
        "Too many failed logins. Logins are locked until",
    ),
    ("login", "Вход", "Sign in"),
    ("login_name", "Логин", "Login"),
    ("logout", "Выйти", "Sign out"),
    ("message", "Сообщение", "Message"),
    ("message_id", "Идентификатор сообщения", "Message id"),
    ("messages", "Журнал сообщений", "Messages"),
    (
        "must_change_password",
        "Пароль выдан на один раз: задайте свой, чтобы продолжить.",
        "The password was a one-time one: set your own to go on.",
    ),
    ("my_departments", "Мои подразделения", "My departments"),
    ("new_request", "Новый запрос", "New request"),
    ("next_page", "Следующая страница", "Next page"),
    (
        "no_form",
        "Для этого вида сведений форма недоступна",
        "No form is available for this kind of information",
    ),
    ("no_grant", "нет доступа", "no grant"),
    ("node", "Узел", "Node"),
    ("not_assigned", "не назначено", "not assigned"),
    ("notifications", "Уведомления", "Notifications"),
    ("notify_about", "Сообщать по почте", "Tell me by e-mail"),
    (
        "notify_answers",
        "о полученных ответах на запросы моей системы",
        "of answers to my system's requests",
    ),
    (
        "notify_assigned",
        "о новых запросах, назначенных моим подразделениям",
        "of new requests assigned to my departments",
    ),
    (
        "notify_deadlines",
        "о запросах моих подразделений, срок ответа на которые истекает в течение суток",
        "of my departments' requests due within a day",
    ),
    ("overdue", "просрочен", "overdue"),
    ("password", "Пароль", "Password"),
    (
        "password_again",
        "Новый пароль ещё раз",
        "New password again",
    ),
    (
        "password_changed",
        "Пароль изменён. Войдите с новым паролем.",
        "The password is changed. Sign in with the new one.",
    ),
    ("password_current", "Текущий пароль", "Current password"),
    (
        "password_mismatch",
        "Новые пароли не совпадают",
        "The new passwords differ",
    ),
    ("password_new", "Новый пароль", "New password"),
    (
        "password_rule",
        "Не короче 12 символов",
        "At least 12 characters",
    ),
    ("product", "OpenSMEV — личный кабинет", "OpenSMEV — cabinet"),
    ("provider", "Поставщик", "Provider"),
    ("raw_xml", "XML сообщения", "Message XML"),
    ("reason", "Причина", "Reason"),
    ("reassign", "Передать в другое подразделение", "Reassign"),
    ("received", "Поступил", "Received"),
    ("recipient", "Получатель", "Recipient"),
    ("reject", "Отказать", "Reject"),
    ("reject_code", "Код отказа", "Rejection code"),
    (
        "reject_form",
        "Отказ в предоставлении сведений",
        "Rejection of the request",
    ),
    ("reject_text", "Описание причины", "Description"),
    ("request", "Запрос", "Request"),
    ("response", "Ответ", "Response"),
    ("save", "Сохранить", "Save"),
    ("save_draft", "Сохранить черновик", "Save the draft"),
    ("send", "Отправить", "Send"),
    ("sender", "Отправитель", "Sender"),
    ("sent_at", "Принято", "Accepted"),
    ("sent_requests", "Отправленные запросы", "Sent requests"),
    (
        "session_expired",
        "Сеанс завершён. Войдите снова.",
        "The session has ended. Please sign in again.",
    ),
    (
        "settings_help",
        "Подразделения, правила назначения, сроки и календарь — в формате TOML (см. docs/cabinet.md).",
        "Departments, assignment rules, deadlines and the calendar, in TOML (see docs/cabinet.md).",
    ),
    (
        "settings_saved",
        "Настройки сохранены",
        "The settings are saved",
    ),
    ("settings_toml", "Настройки (TOML)", "Settings (TOML)"),
    ("show", "показать", "show"),
    ("signatures", "Электронные подписи", "Electronic signatures"),
    ("signed_by", "Подписал", "Signed by"),
    ("state", "Состояние", "State"),
    ("status", "Статус", "Status"),
    ("status_code", "Код статуса", "Status code"),
    ("status_form", "Промежуточный статус", "Intermediate status"),
    ("status_text", "Описание статуса", "Status description"),
    ("text", "Текст", "Text"),
    ("timeline", "История", "Timeline"),
    ("to", "По", "To"),
    ("valid", "действительна", "valid"),
    (
        "wrong_password",
        "Неверный логин или пароль",
        "Wrong login or password",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_complete() {
        for pair in TEXTS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        // Every key a template or module uses is in the table.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let mut missing = Vec::new();
        let mut files = Vec::new();
        let mut folders = vec![format!("{dir}templates"), format!("{dir}src")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path.display().to_string());
                } else {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 10, "the templates and sources are found");
        {
            for path in files {
                let text = std::fs::read_to_string(path).unwrap();
                for part in text.split(".t(\"").skip(1) {
                    let key = &part[..part.find('"').unwrap()];
                    if TEXTS.binary_search_by(|(k, _, _)| (*k).cmp(key)).is_err() {
                        missing.push(key.to_owned());
                    }
                }
            }
        }
        assert!(missing.is_empty(), "missing texts: {missing:?}");
    }
}
