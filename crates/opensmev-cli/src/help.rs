//! The command line's help and parse errors in the interface language.
//!
//! The English texts are the derive doc comments of the argument structs; the Russian ones are in
//! [`RU`], keyed by command path and argument id. The language is found before parsing
//! ([`detect_lang`]), the clap `Command` is rewritten for it ([`localize`]) — about texts, argument
//! help, clap's own headings (through a help template), the help and version flags, the `help`
//! subcommand — and parse errors are rendered in that language ([`render_error`]).

use std::ffi::OsString;

use clap::builder::PossibleValue;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command};

use crate::i18n::Lang;

/// The interface language from the command line (`--lang X`, `--lang=X`) or, failing that,
/// `OPENSMEV_LANG`; Russian when neither names English.
pub(crate) fn detect_lang(args: &[OsString], env: Option<OsString>) -> Lang {
    let mut from_args = None;
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let Some(arg) = arg.to_str() else { continue };
        if arg == "--" {
            break;
        }
        if arg == "--lang" {
            from_args = iter.next().and_then(|v| v.to_str()).map(str::to_owned);
        } else if let Some(value) = arg.strip_prefix("--lang=") {
            from_args = Some(value.to_owned());
        }
    }
    let chosen = from_args.or_else(|| env.and_then(|v| v.into_string().ok()));
    match chosen.as_deref().map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("en") => Lang::En,
        _ => Lang::Ru,
    }
}

/// Russian texts: (command path, argument id or "" for the command's about, text). An argument
/// not found under its own command's path is looked up under the parents' paths, so arguments
/// shared by several subcommands are written once.
const RU: &[(&str, &str, &str)] = &[
    (
        "opensmev",
        "",
        "OpenSMEV — открытая шина, совместимая со СМЭВ 3, и инструменты для работы с ней.",
    ),
    ("opensmev", "lang", "Язык интерфейса."),
    ("opensmev", "help", "Показать справку"),
    ("opensmev", "version", "Показать версию"),
    (
        "opensmev",
        "subcommand",
        "Команда, справку о которой показать",
    ),
    (
        "opensmev help",
        "",
        "Показать справку о программе или о заданной команде",
    ),
    // serve
    (
        "opensmev serve",
        "",
        "Запустить шину (SOAP-точки для схем СМЭВ 3 версий 1.1, 1.2, 1.3).",
    ),
    ("opensmev serve", "config", "Файл конфигурации (TOML)."),
    (
        "opensmev serve",
        "listen",
        "Слушать на HOST:PORT (по умолчанию 127.0.0.1:7500).",
    ),
    (
        "opensmev serve",
        "data_dir",
        "Каталог данных (хранилище, созданные ключи).",
    ),
    (
        "opensmev serve",
        "demo",
        "Демо-режим: создать ключи, демо-реестр и примеры в каталоге данных. Демо-реестр записывается только в хранилище без реестра; уже сохранённый реестр остаётся.",
    ),
    (
        "opensmev serve",
        "reset_demo",
        "Демо-режим с заменой сохранённого реестра демо-реестром.",
    ),
    (
        "opensmev serve",
        "registry",
        "Импортировать этот файл реестра при запуске.",
    ),
    // registry
    (
        "opensmev registry",
        "",
        "Реестр: проверка, импорт, экспорт.",
    ),
    ("opensmev registry", "file", "Файл реестра (TOML)."),
    ("opensmev registry", "data_dir", "Каталог данных сервера."),
    (
        "opensmev registry",
        "store",
        "Хранилище вместо хранилища каталога данных: postgres://… или sqlite:ПУТЬ.",
    ),
    (
        "opensmev registry import",
        "",
        "Проверить файл реестра и сохранить его как новый реестр (работающий сервер его подхватит).",
    ),
    (
        "opensmev registry export",
        "",
        "Напечатать действующий реестр.",
    ),
    (
        "opensmev registry check",
        "",
        "Проверить файл реестра, не сохраняя его.",
    ),
    // sig
    (
        "opensmev sig",
        "",
        "XML-подписи: проверка, подписание, преобразование, ключи и сертификаты.",
    ),
    ("opensmev sig", "file", "XML-файл."),
    ("opensmev sig", "flavor", "Вариант преобразования."),
    ("opensmev sig", "key", "Закрытый ключ (PKCS#8 PEM)."),
    ("opensmev sig", "cert", "Сертификат (PEM или DER)."),
    (
        "opensmev sig",
        "out",
        "Записать результат в этот файл вместо стандартного вывода.",
    ),
    (
        "opensmev sig verify",
        "",
        "Проверить каждую ds:Signature в XML-(SOAP-)файле; код выхода 0, только если все действительны.",
    ),
    (
        "opensmev sig verify",
        "at",
        "Проверять срок действия сертификата на этот момент (RFC 3339), а не на текущий.",
    ),
    (
        "opensmev sig verify",
        "any_profile",
        "Принимать и подписи вне профиля СМЭВ (другие преобразования, несколько ссылок).",
    ),
    (
        "opensmev sig verify",
        "show_transformed",
        "Напечатать хешированные байты каждой ссылки и каноническую форму SignedInfo.",
    ),
    (
        "opensmev sig verify",
        "flavor",
        "Принимать только хеши этого варианта преобразования СМЭВ (по умолчанию — любого из двух).",
    ),
    (
        "opensmev sig verify",
        "accept_variant",
        "Принимать также хеши этой известной неэталонной реализации преобразования СМЭВ (python-port, dotnet-crlf) — как ключ реестра transform_variant для ИС.",
    ),
    (
        "opensmev sig transform",
        "",
        "Напечатать результат преобразования СМЭВ для элемента (по умолчанию — корневого).",
    ),
    (
        "opensmev sig transform",
        "id",
        "Id преобразуемого элемента.",
    ),
    (
        "opensmev sig c14n",
        "",
        "Напечатать исключающую каноническую форму (exc-c14n) элемента (по умолчанию — корневого).",
    ),
    ("opensmev sig c14n", "id", "Id элемента для канонизации."),
    (
        "opensmev sig sign",
        "",
        "Подписать элемент с Id=ID и поместить отсоединённую подпись на её место по правилам СМЭВ.",
    ),
    ("opensmev sig sign", "id", "Id подписываемого элемента."),
    (
        "opensmev sig sign",
        "alg",
        "Ожидаемый алгоритм (gost2012-256, gost2012-512, gost2001, ecdsa-p256, rsa-sha256); он должен соответствовать ключу.",
    ),
    (
        "opensmev sig sign",
        "out_signature",
        "Напечатать только элемент ds:Signature.",
    ),
    (
        "opensmev sig sign",
        "enveloped",
        "Поставить первым преобразование enveloped-signature (как делают некоторые клиенты).",
    ),
    (
        "opensmev sig sign",
        "after_element",
        "Вставить подпись сразу после элемента, а не в элемент-обёртку СМЭВ.",
    ),
    (
        "opensmev sig keygen",
        "",
        "Создать тестовый ключ и самоподписанный сертификат.",
    ),
    (
        "opensmev sig keygen",
        "alg",
        "Алгоритм: gost2012-256 (по умолчанию), gost2012-512, gost2001, ecdsa-p256, rsa-sha256.",
    ),
    (
        "opensmev sig keygen",
        "subject",
        "Владелец сертификата, например \"CN=Тестовая ИС, O=Тест, OGRN=1027700000000, INN=7700000000\".",
    ),
    (
        "opensmev sig keygen",
        "out",
        "Каталог для результата (туда записываются key.pem и cert.pem).",
    ),
    (
        "opensmev sig keygen",
        "days",
        "Срок действия в днях от текущего момента.",
    ),
    (
        "opensmev sig cert",
        "",
        "Показать сертификат (PEM, DER или base64).",
    ),
    ("opensmev sig cert", "file", "Файл сертификата."),
    (
        "opensmev sig cms-sign",
        "",
        "Создать отсоединённую подпись CMS/PKCS#7 файла (например, SignaturePKCS7 вложения).",
    ),
    ("opensmev sig cms-sign", "file", "Подписываемый файл."),
    (
        "opensmev sig cms-sign",
        "out",
        "Куда записать подпись (DER).",
    ),
    (
        "opensmev sig cms-verify",
        "",
        "Проверить отсоединённую подпись CMS/PKCS#7 файла.",
    ),
    ("opensmev sig cms-verify", "file", "Подписанный файл."),
    (
        "opensmev sig cms-verify",
        "signature",
        "Отсоединённая подпись (DER или PEM).",
    ),
    // The commands over the integration API (remote.rs).
    (
        "opensmev",
        "url",
        "Адрес сервера (его API — по пути /api/v1).",
    ),
    ("opensmev", "token", "API-токен (osmv_…)."),
    ("opensmev", "json", "Вывести JSON API вместо таблицы."),
    (
        "opensmev send",
        "",
        "Отправить запрос от имени информационной системы через REST API (подписывает шина).",
    ),
    (
        "opensmev send",
        "content",
        "Бизнес-данные: файл с одним XML-элементом (корневым элементом вида сведений).",
    ),
    (
        "opensmev send",
        "client_id",
        "Ваш собственный идентификатор сообщения (уникален в пределах ИС).",
    ),
    (
        "opensmev send",
        "message_id",
        "MessageID (UUID версии 1; по умолчанию его создаёт шина).",
    ),
    (
        "opensmev send",
        "test_message",
        "Пометить запрос как тестовый.",
    ),
    (
        "opensmev send",
        "node",
        "NodeID отправителя (ответы получат только опросы с этим узлом).",
    ),
    ("opensmev send", "transaction_code", "TransactionCode."),
    (
        "opensmev send",
        "attachments",
        "Вложение: ИД:MIME-ТИП:ФАЙЛ (можно несколько).",
    ),
    (
        "opensmev poll",
        "",
        "Получить следующий входящий запрос или ответ через REST API.",
    ),
    (
        "opensmev poll",
        "queue",
        "Очередь: `requests` — входящие запросы (поставщик), `responses` — ответы на ваши запросы (потребитель).",
    ),
    (
        "opensmev poll",
        "wait",
        "Ждать сообщения до стольких секунд (длинный опрос).",
    ),
    (
        "opensmev poll",
        "message_type",
        "Только сообщения этого типа: {пространство имён}имя.",
    ),
    ("opensmev poll", "node", "Ваш NodeID."),
    (
        "opensmev poll",
        "out",
        "Записать бизнес-данные полученного сообщения в этот файл.",
    ),
    (
        "opensmev ack",
        "",
        "Подтвердить получение сообщения через REST API.",
    ),
    (
        "opensmev ack",
        "message_id",
        "MessageID полученного сообщения.",
    ),
    (
        "opensmev ack",
        "refuse",
        "Отказаться от него (`accepted=false`).",
    ),
    (
        "opensmev respond",
        "",
        "Ответить на полученный запрос через REST API.",
    ),
    (
        "opensmev respond",
        "request_id",
        "MessageID запроса, на который дан ответ.",
    ),
    (
        "opensmev respond",
        "content",
        "Бизнес-данные ответа (файл).",
    ),
    (
        "opensmev respond",
        "client_id",
        "Ваш собственный идентификатор ответа.",
    ),
    (
        "opensmev reject",
        "",
        "Отклонить полученный запрос (RequestRejected) через REST API.",
    ),
    (
        "opensmev reject",
        "request_id",
        "MessageID отклоняемого запроса.",
    ),
    (
        "opensmev reject",
        "reasons",
        "Причина КОД:ТЕКСТ (ACCESS_DENIED, NO_DATA, UNKNOWN_REQUEST_DESCRIPTION, FAILURE); можно несколько.",
    ),
    (
        "opensmev status",
        "",
        "Получить следующее уведомление о статусе ваших сообщений через REST API.",
    ),
    (
        "opensmev messages",
        "",
        "Журнал сообщений: поиск, одно сообщение с историей его статусов.",
    ),
    (
        "opensmev messages search",
        "",
        "Искать в журнале сообщений (сначала новые).",
    ),
    (
        "opensmev messages search",
        "system",
        "ИС — отправитель или получатель.",
    ),
    ("opensmev messages search", "sender", "Отправитель."),
    ("opensmev messages search", "recipient", "Получатель."),
    (
        "opensmev messages search",
        "vs",
        "Идентификатор вида сведений.",
    ),
    (
        "opensmev messages search",
        "direction",
        "`request` (запросы) или `response` (ответы).",
    ),
    (
        "opensmev messages search",
        "from",
        "Принято не раньше (RFC 3339).",
    ),
    (
        "opensmev messages search",
        "to",
        "Принято раньше (RFC 3339).",
    ),
    (
        "opensmev messages search",
        "status",
        "Статус взаимодействия.",
    ),
    (
        "opensmev messages search",
        "state",
        "Состояние доставки (`queued`, `leased`, `acked`, `expired`, `undeliverable`).",
    ),
    (
        "opensmev messages search",
        "client_id",
        "Идентификатор клиента, данный отправителем.",
    ),
    ("opensmev messages search", "text", "Текст в бизнес-данных."),
    (
        "opensmev messages search",
        "limit",
        "Размер страницы (1–500).",
    ),
    (
        "opensmev messages search",
        "cursor",
        "Курсор следующей страницы (печатается после полной страницы).",
    ),
    (
        "opensmev messages show",
        "",
        "Одно сообщение с историей его статусов.",
    ),
    ("opensmev messages show", "message_id", "MessageID."),
    ("opensmev token", "", "API-токены: список, создание, отзыв."),
    ("opensmev token list", "", "Все токены (без секретов)."),
    (
        "opensmev token create",
        "",
        "Создать токен; его секрет печатается один раз.",
    ),
    ("opensmev token create", "name", "Название."),
    (
        "opensmev token create",
        "role",
        "`admin`, `operator`, `auditor` или `is`.",
    ),
    (
        "opensmev token create",
        "system",
        "Для роли `is`: информационная система.",
    ),
    (
        "opensmev token create",
        "account",
        "Учётная запись, которой он принадлежит.",
    ),
    (
        "opensmev token create",
        "expires",
        "Срок действия (RFC 3339).",
    ),
    ("opensmev token revoke", "", "Отозвать токен."),
    (
        "opensmev token revoke",
        "id",
        "Идентификатор токена (tok_…).",
    ),
    (
        "opensmev user",
        "",
        "Учётные записи: список, создание, отключение, включение, пароль.",
    ),
    ("opensmev user", "id", "Логин."),
    ("opensmev user list", "", "Все учётные записи."),
    (
        "opensmev user create",
        "",
        "Создать учётную запись (одноразовый пароль создаётся и печатается, если нет --password-stdin).",
    ),
    ("opensmev user create", "login", "Логин."),
    ("opensmev user create", "name", "Имя человека."),
    (
        "opensmev user create",
        "role",
        "`admin`, `operator`, `auditor` или `is`.",
    ),
    (
        "opensmev user create",
        "system",
        "Для роли `is`: информационная система.",
    ),
    (
        "opensmev user create",
        "password_stdin",
        "Прочитать пароль со стандартного ввода (первая строка).",
    ),
    (
        "opensmev user disable",
        "",
        "Отключить учётную запись (её токены тоже перестают приниматься).",
    ),
    ("opensmev user enable", "", "Включить учётную запись."),
    (
        "opensmev user password",
        "",
        "Задать пароль (читается со стандартного ввода).",
    ),
    (
        "opensmev audit",
        "",
        "Журнал аудита административных изменений.",
    ),
    ("opensmev audit", "actor", "Только этот исполнитель."),
    (
        "opensmev audit",
        "action",
        "Только действия, начинающиеся так (`registry.`, `token.`, `account.`).",
    ),
    ("opensmev audit", "limit", "Размер страницы (1–500)."),
    (
        "opensmev audit",
        "full",
        "Показать изменения целиком (различия версий реестра).",
    ),
    ("opensmev kinds", "", "Каталог видов сведений."),
    (
        "opensmev dead-letters",
        "",
        "Недоставленные сообщения активной доставки: список, повторная отправка.",
    ),
    (
        "opensmev dead-letters list",
        "",
        "Недоставленные сообщения, новые сначала (токен ИС — только свои).",
    ),
    (
        "opensmev dead-letters list",
        "recipient",
        "Только этого получателя (мнемоника).",
    ),
    (
        "opensmev dead-letters list",
        "sender",
        "Только этого отправителя (мнемоника).",
    ),
    (
        "opensmev dead-letters list",
        "vs_id",
        "Только этого вида сведений (идентификатор ВС).",
    ),
    (
        "opensmev dead-letters list",
        "from",
        "Недоставленные с этого момента (RFC 3339).",
    ),
    (
        "opensmev dead-letters list",
        "to",
        "Недоставленные до этого момента (RFC 3339).",
    ),
    (
        "opensmev dead-letters list",
        "limit",
        "Размер страницы (1–500).",
    ),
    (
        "opensmev dead-letters list",
        "cursor",
        "Следующая страница (курсор, напечатанный предыдущей).",
    ),
    (
        "opensmev dead-letters replay",
        "",
        "Снова поставить недоставленные сообщения в очередь для нового круга попыток.",
    ),
    (
        "opensmev dead-letters replay",
        "id",
        "Одно сообщение (его MessageID).",
    ),
    (
        "opensmev dead-letters replay",
        "recipient",
        "Только этого получателя (мнемоника).",
    ),
    (
        "opensmev dead-letters replay",
        "sender",
        "Только этого отправителя (мнемоника).",
    ),
    (
        "opensmev dead-letters replay",
        "vs_id",
        "Только этого вида сведений (идентификатор ВС).",
    ),
    (
        "opensmev dead-letters replay",
        "from",
        "Недоставленные с этого момента (RFC 3339).",
    ),
    (
        "opensmev dead-letters replay",
        "to",
        "Недоставленные до этого момента (RFC 3339).",
    ),
    (
        "opensmev dead-letters replay",
        "all",
        "Все недоставленные, доступные токену.",
    ),
    (
        "opensmev registry pull",
        "",
        "Скачать действующий реестр с работающего сервера (REST API).",
    ),
    (
        "opensmev registry pull",
        "out",
        "Записать его в этот файл (по умолчанию — на стандартный вывод).",
    ),
    (
        "opensmev registry push",
        "",
        "Загрузить файл реестра на работающий сервер (REST API): проверяется, попадает в аудит, действует сразу.",
    ),
    ("opensmev registry push", "file", "Файл реестра (TOML)."),
    (
        "opensmev registry push",
        "expect_version",
        "Отказать, если реестр уже не этой версии (её сообщает `registry pull`).",
    ),
    // Registry administration over the API (remote_registry.rs).
    (
        "opensmev registry",
        "expect_version",
        "Отказать, если реестр уже не этой версии.",
    ),
    (
        "opensmev registry",
        "id",
        "Идентификатор (ОГРН, мнемоника, SHA-256 сертификата, идентификатор допуска).",
    ),
    (
        "opensmev registry participant",
        "",
        "Участники в реестре работающего сервера: список, добавление или изменение, удаление.",
    ),
    ("opensmev registry participant list", "", "Участники."),
    (
        "opensmev registry participant put",
        "",
        "Добавить участника или изменить его.",
    ),
    ("opensmev registry participant put", "ogrn", "ОГРН."),
    ("opensmev registry participant put", "name", "Название."),
    ("opensmev registry participant put", "inn", "ИНН."),
    (
        "opensmev registry participant delete",
        "",
        "Удалить участника, которому не принадлежит ни одна ИС.",
    ),
    (
        "opensmev registry system",
        "",
        "Информационные системы в реестре работающего сервера: список, добавление или изменение, удаление, квота.",
    ),
    (
        "opensmev registry system list",
        "",
        "Информационные системы с их сертификатами.",
    ),
    (
        "opensmev registry system put",
        "",
        "Создать информационную систему или изменить её.",
    ),
    ("opensmev registry system put", "mnemonic", "Мнемоника."),
    ("opensmev registry system put", "name", "Название."),
    ("opensmev registry system put", "owner", "ОГРН владельца."),
    (
        "opensmev registry system put",
        "signature",
        "Требование подписи: `required` или `optional`.",
    ),
    (
        "opensmev registry system put",
        "quota",
        "Собственная квота очереди.",
    ),
    (
        "opensmev registry system put",
        "transform_variant",
        "Допускаемая неэталонная реализация преобразования СМЭВ: `reference`, `python-port`, `dotnet-crlf`.",
    ),
    (
        "opensmev registry system put",
        "certificates",
        "Файл сертификата (PEM) новой ИС; можно несколько.",
    ),
    (
        "opensmev registry system delete",
        "",
        "Удалить ИС, на которую ничто не ссылается.",
    ),
    (
        "opensmev registry system quota",
        "",
        "Задать квоту очереди ИС (без значения — общая квота реестра).",
    ),
    ("opensmev registry system quota", "mnemonic", "Мнемоника."),
    (
        "opensmev registry system quota",
        "quota",
        "Число ожидающих сообщений в очереди; без значения — общая квота реестра.",
    ),
    (
        "opensmev registry certificate",
        "",
        "Сертификаты информационных систем: добавление, замена с перекрытием, отзыв.",
    ),
    (
        "opensmev registry certificate add",
        "",
        "Добавить сертификат информационной системе.",
    ),
    (
        "opensmev registry certificate add",
        "mnemonic",
        "Мнемоника.",
    ),
    (
        "opensmev registry certificate add",
        "file",
        "Файл сертификата (PEM).",
    ),
    (
        "opensmev registry certificate rotate",
        "",
        "Заменить сертификат: новый — сразу, старый — до момента --until.",
    ),
    (
        "opensmev registry certificate rotate",
        "old",
        "Старый сертификат: его SHA-256 или SHA-1 (шестнадцатеричный).",
    ),
    (
        "opensmev registry certificate rotate",
        "file",
        "Файл нового сертификата (PEM).",
    ),
    (
        "opensmev registry certificate rotate",
        "until",
        "До какого момента старый ещё принимается (RFC 3339).",
    ),
    (
        "opensmev registry certificate revoke",
        "",
        "Отозвать сертификат сразу.",
    ),
    (
        "opensmev registry kind",
        "",
        "Виды сведений с их наборами XSD: список, добавление (--xsd или --zip), изменение.",
    ),
    (
        "opensmev registry kind list",
        "",
        "Виды сведений с их наборами XSD.",
    ),
    (
        "opensmev registry kind put",
        "",
        "Создать вид сведений или его новую версию с набором XSD (--xsd или --zip).",
    ),
    (
        "opensmev registry kind put",
        "id",
        "Идентификатор вида сведений.",
    ),
    (
        "opensmev registry kind put",
        "xsd",
        "Файл XSD или папка, файлы .xsd которой отправляются с путями в ней; можно несколько.",
    ),
    (
        "opensmev registry kind put",
        "zip",
        "Набор XSD архивом ZIP, как его публикует ведомство.",
    ),
    ("opensmev registry kind put", "title", "Название."),
    (
        "opensmev registry kind put",
        "provider",
        "Мнемоника поставщика.",
    ),
    (
        "opensmev registry kind put",
        "request",
        "Корневой элемент запроса: {пространство имён}Имя.",
    ),
    (
        "opensmev registry kind put",
        "responses",
        "Корневой элемент ответа: {пространство имён}Имя; можно несколько.",
    ),
    ("opensmev registry kind put", "version", "Версия."),
    (
        "opensmev registry kind put",
        "request_entry",
        "Файл XSD (путь в наборе), объявляющий корневой элемент запроса.",
    ),
    (
        "opensmev registry kind put",
        "response_entry",
        "Файл XSD, объявляющий корневые элементы ответов.",
    ),
    (
        "opensmev registry kind put",
        "status",
        "`active`, `deprecated` или `retired`.",
    ),
    (
        "opensmev registry kind put",
        "sunset",
        "Последний день, когда устаревший вид сведений принимает запросы (ГГГГ-ММ-ДД).",
    ),
    (
        "opensmev registry kind put",
        "successor",
        "Вид сведений, который его заменяет.",
    ),
    (
        "opensmev registry kind patch",
        "",
        "Изменить название, версию, состояние, дату прекращения или преемника вида сведений.",
    ),
    (
        "opensmev registry kind patch",
        "id",
        "Идентификатор вида сведений.",
    ),
    ("opensmev registry kind patch", "title", "Название."),
    ("opensmev registry kind patch", "version", "Версия."),
    (
        "opensmev registry kind patch",
        "status",
        "`active`, `deprecated` или `retired`.",
    ),
    (
        "opensmev registry kind patch",
        "sunset",
        "Последний день, когда устаревший вид сведений принимает запросы (ГГГГ-ММ-ДД).",
    ),
    (
        "opensmev registry kind patch",
        "successor",
        "Вид сведений, который его заменяет.",
    ),
    (
        "opensmev registry grant",
        "",
        "Допуски: список, добавление, удаление.",
    ),
    ("opensmev registry grant list", "", "Допуски."),
    (
        "opensmev registry grant add",
        "",
        "Дать потребителю допуск к виду сведений.",
    ),
    (
        "opensmev registry grant add",
        "consumer",
        "Мнемоника потребителя.",
    ),
    (
        "opensmev registry grant add",
        "kind",
        "Идентификатор вида сведений.",
    ),
    (
        "opensmev registry grant add",
        "basis",
        "Правовое основание.",
    ),
    (
        "opensmev registry grant add",
        "basis_ref",
        "Ссылка на документ, статью.",
    ),
    (
        "opensmev registry grant add",
        "valid_from",
        "Первый день действия (ГГГГ-ММ-ДД).",
    ),
    (
        "opensmev registry grant add",
        "valid_to",
        "Последний день действия (ГГГГ-ММ-ДД).",
    ),
    ("opensmev registry grant remove", "", "Удалить допуск."),
    (
        "opensmev registry default-quota",
        "",
        "Задать общую квоту очереди реестра.",
    ),
    (
        "opensmev registry default-quota",
        "quota",
        "Число ожидающих сообщений в очереди.",
    ),
    // client
    (
        "opensmev client",
        "",
        "Вызовы СМЭВ от имени информационной системы: send-request, get-request, ack, send-response, reject, get-response, get-status, queue-statistics.",
    ),
    (
        "opensmev client",
        "url",
        "Адрес шины для одной версии схем, например http://127.0.0.1:7500/smev/v1.2/ws.",
    ),
    (
        "opensmev client",
        "schema",
        "Версия схем 1.1, 1.2 или 1.3 (по умолчанию — из части /v1.x/ адреса --url).",
    ),
    (
        "opensmev client",
        "key",
        "Закрытый ключ ИС (PEM); вместе с --cert.",
    ),
    (
        "opensmev client",
        "cert",
        "Сертификат ИС (PEM), зарегистрированный в шине; вместе с --key.",
    ),
    (
        "opensmev client",
        "demo_dir",
        "Демо-каталог команды `opensmev serve --demo` (data/demo); вместе с --as.",
    ),
    (
        "opensmev client",
        "mnemonic",
        "Демо-ИС, от имени которой действовать (MFC01, PFR01, FNS01); вместе с --demo-dir.",
    ),
    (
        "opensmev client",
        "smev_cert",
        "Сертификат шины, которым должны быть подписаны ответы (ЭП-СМЭВ) (по умолчанию с --demo-dir: DIR/SMEV/cert.pem).",
    ),
    (
        "opensmev client",
        "out",
        "Записать ответ целиком (XML) в этот файл.",
    ),
    ("opensmev client", "timeout", "Сколько секунд ждать ответа."),
    (
        "opensmev client",
        "node",
        "Только сообщения для этого узла (MessageTypeSelector/NodeID).",
    ),
    (
        "opensmev client",
        "message_type",
        "Только сообщения этого типа: пространство имён и локальное имя корневого элемента.",
    ),
    ("opensmev client", "to", "ReplyTo запроса (адресат ответа)."),
    (
        "opensmev client",
        "answer",
        "Взять ReplyTo из ответа, сохранённого командой get-request с --out.",
    ),
    (
        "opensmev client",
        "message_id",
        "MessageID ответа (UUID версии 1; по умолчанию — новый).",
    ),
    (
        "opensmev client send-request",
        "",
        "SendRequest: отправить запрос (бизнес-данные из --content).",
    ),
    (
        "opensmev client send-request",
        "content",
        "Бизнес-данные: файл с одним XML-элементом (корнем вида сведений).",
    ),
    (
        "opensmev client send-request",
        "message_id",
        "MessageID (UUID версии 1; по умолчанию — новый).",
    ),
    (
        "opensmev client send-request",
        "node",
        "Узел отправителя (SenderProvidedRequestData/NodeID).",
    ),
    (
        "opensmev client send-request",
        "test_message",
        "Пометить запрос как тестовое сообщение (TestMessage).",
    ),
    (
        "opensmev client get-request",
        "",
        "GetRequest: взять следующий запрос из очереди вызывающей ИС.",
    ),
    (
        "opensmev client ack",
        "",
        "Ack: подтвердить получение сообщения (--message-id или --answer).",
    ),
    (
        "opensmev client ack",
        "message_id",
        "MessageID полученного сообщения.",
    ),
    (
        "opensmev client ack",
        "answer",
        "Взять MessageID из ответа, сохранённого с --out командой get-request или get-response.",
    ),
    (
        "opensmev client ack",
        "accepted",
        "true — сообщение принято; false — его ЭП-СМЭВ отвергнута.",
    ),
    (
        "opensmev client send-response",
        "",
        "SendResponse: ответить на запрос (бизнес-данные из --content, адресат из --to или --answer).",
    ),
    (
        "opensmev client send-response",
        "content",
        "Бизнес-данные: файл с одним XML-элементом (зарегистрированным корнем ответа).",
    ),
    (
        "opensmev client reject",
        "",
        "SendResponse с RequestRejected: отказать в запросе (--reason КОД:ТЕКСТ).",
    ),
    (
        "opensmev client reject",
        "reasons",
        "Причина КОД:ТЕКСТ, где КОД — ACCESS_DENIED, NO_DATA, UNKNOWN_REQUEST_DESCRIPTION или FAILURE; можно повторять.",
    ),
    (
        "opensmev client get-response",
        "",
        "GetResponse: взять следующий ответ из очереди вызывающей ИС.",
    ),
    (
        "opensmev client get-status",
        "",
        "GetStatus: следующее уведомление о статусе сообщений вызывающей ИС.",
    ),
    (
        "opensmev client queue-statistics",
        "",
        "GetIncomingQueueStatistics (только схема 1.1): число ожидающих сообщений ИС по очередям.",
    ),
    (
        "opensmev client queue-statistics",
        "node",
        "Только очереди этого узла.",
    ),
    // migrate, store
    (
        "opensmev migrate",
        "",
        "Применить недостающие миграции к хранилищу PostgreSQL (узел делает это и сам при запуске, если не задано store_migrate = false).",
    ),
    (
        "opensmev migrate",
        "store",
        "Хранилище: postgres://… или sqlite:ПУТЬ.",
    ),
    (
        "opensmev store",
        "",
        "Хранилище: копирование между встроенным хранилищем и PostgreSQL, отпечаток.",
    ),
    (
        "opensmev store copy",
        "",
        "Скопировать все записи хранилища в другое, пустое (сначала остановите шину), затем сравнить оба по числу записей и контрольным суммам.",
    ),
    (
        "opensmev store copy",
        "from",
        "Копируемое хранилище: sqlite:ПУТЬ или postgres://….",
    ),
    (
        "opensmev store copy",
        "to",
        "Пустое хранилище, в которое копировать: postgres://… или sqlite:ПУТЬ.",
    ),
    (
        "opensmev store fingerprint",
        "",
        "Напечатать число записей и контрольные суммы хранилища: реестр, сообщения, журнал, уведомления, токены, учётные записи, аудит.",
    ),
    (
        "opensmev store fingerprint",
        "store",
        "Хранилище: sqlite:ПУТЬ или postgres://….",
    ),
    // doctor
    (
        "opensmev doctor",
        "",
        "Проверить установку перед первым запуском: конфигурация, хранилище, ключи, реестр, движок ГОСТ, адрес.",
    ),
    (
        "opensmev doctor",
        "config",
        "Файл конфигурации (TOML), тот же, что у `opensmev serve`.",
    ),
    (
        "opensmev doctor",
        "data_dir",
        "Каталог данных (вместо указанного в конфигурации).",
    ),
];

/// The Russian text for `id` ("" for the about) of the command at `path`, looked up there and
/// then under each parent path.
fn ru(path: &str, id: &str) -> Option<&'static str> {
    let mut path = path;
    loop {
        if let Some((_, _, text)) = RU.iter().find(|(p, i, _)| *p == path && *i == id) {
            return Some(text);
        }
        path = path.rsplit_once(' ')?.0;
        // The about of a command is its own, never a parent's.
        if id.is_empty() {
            return None;
        }
    }
}

/// Russian names of possible values whose English help comes from a `ValueEnum` doc comment.
const RU_VALUES: &[(&str, &str)] = &[
    ("ru", "русский"),
    ("en", "английский"),
    (
        "woodstox",
        "эталонное преобразование на Woodstox (МР 3.5.0.27, шаг 9)",
    ),
    ("jdk", "эталонное преобразование на встроенном StAX из JDK"),
];

/// The command, with help texts, headings, help and version flags and the `help` subcommand in
/// `lang`. English keeps clap's own texts and the doc comments.
pub(crate) fn localize(command: Command, lang: Lang) -> Command {
    match lang {
        Lang::En => command,
        Lang::Ru => {
            let name = command.get_name().to_owned();
            localize_ru(command, &name, true)
        }
    }
}

fn localize_ru(mut command: Command, path: &str, root: bool) -> Command {
    if let Some(about) = ru(path, "") {
        command = command.about(about).long_about(None::<&str>);
    }
    command = command.mut_args(|arg| localize_arg(arg, path));
    let has_subcommands = command.has_subcommands();
    let positionals = command
        .get_arguments()
        .any(|a| a.is_positional() && !a.is_hide_set());
    command = command
        .disable_help_flag(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help(ru(path, "help").unwrap_or("Показать справку")),
        )
        .help_template(template(has_subcommands, positionals));
    if root {
        command = command.disable_version_flag(true).arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help(ru(path, "version").unwrap_or("Показать версию")),
        );
    }
    if has_subcommands {
        // clap's generated `help` subcommand is English; this one is Russian and is handled in
        // `main` by showing the named command's help.
        command = command.disable_help_subcommand(true).subcommand(
            Command::new("help")
                .about(ru("opensmev help", "").unwrap_or_default())
                .arg(
                    Arg::new("subcommand")
                        .action(ArgAction::Append)
                        .num_args(0..)
                        .value_name("КОМАНДА")
                        .help(ru("opensmev", "subcommand").unwrap_or_default()),
                )
                .disable_help_flag(true)
                .help_template(template(false, true)),
        );
        let names: Vec<String> = command
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .filter(|n| n != "help")
            .collect();
        for name in names {
            let sub_path = format!("{path} {name}");
            command = command.mut_subcommand(&name, |sub| localize_ru(sub, &sub_path, false));
        }
    }
    command
}

fn template(subcommands: bool, positionals: bool) -> String {
    let mut t = String::from("{before-help}{about-with-newline}\nИспользование: {usage}\n");
    if subcommands {
        t.push_str("\nКоманды:\n{subcommands}\n");
    }
    if positionals {
        t.push_str("\nАргументы:\n{positionals}\n");
    }
    t.push_str("\nПараметры:\n{options}{after-help}");
    t
}

fn localize_arg(arg: Arg, path: &str) -> Arg {
    let id = arg.get_id().as_str().to_owned();
    let mut help = match ru(path, &id) {
        Some(text) => text.to_owned(),
        // Untranslated: left in English, which the languages test finds.
        None => match arg.get_help() {
            Some(text) => text.to_string(),
            None => return arg,
        },
    };
    let values: Vec<PossibleValue> = arg
        .get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .collect();
    let is_flag = !arg.get_action().takes_values();
    // Possible values of `bool` arguments (true, false) are not worth listing.
    if !values.is_empty() && !is_flag {
        let names: Vec<String> = values
            .iter()
            .map(|v| {
                let name = v.get_name();
                match (v.get_help(), RU_VALUES.iter().find(|(n, _)| *n == name)) {
                    (Some(_), Some((_, ru))) => format!("{name} — {ru}"),
                    _ => name.to_owned(),
                }
            })
            .collect();
        if names.len() > 2 || names.iter().any(|n| n.contains('—')) {
            help.push_str(&format!(" [возможные значения: {}]", names.join("; ")));
        }
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && !is_flag {
        help.push_str(&format!(" [по умолчанию: {}]", defaults.join(", ")));
    }
    if let Some(env) = arg.get_env() {
        help.push_str(&format!(" [переменная: {}]", env.to_string_lossy()));
    }
    let mut arg = arg.help(help).long_help(None::<&str>);
    if arg.get_action().takes_values() {
        arg = arg.hide_possible_values(true).hide_default_value(true);
    }
    if arg.get_env().is_some() {
        arg = arg.hide_env(true);
    }
    arg
}

/// The path of subcommand names of `help a b …` found in `matches`, if the command line asked
/// for help through a `help` subcommand (at any level).
pub(crate) fn help_request(matches: &clap::ArgMatches) -> Option<Vec<String>> {
    let mut path = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        if name == "help" {
            let rest = sub
                .get_many::<String>("subcommand")
                .map(|v| v.cloned().collect::<Vec<_>>())
                .unwrap_or_default();
            path.extend(rest);
            return Some(path);
        }
        path.push(name.to_owned());
        current = sub;
    }
    None
}

/// The message of a clap error in Russian: what went wrong, clap's detail (the argument, the
/// value), the usage line and where to read more. Help and version "errors" are not errors and
/// are printed by clap itself.
pub(crate) fn render_error_ru(error: &clap::Error, command: &mut Command) -> String {
    let value = |kind: ContextKind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        Some(ContextValue::StyledStr(s)) => Some(s.to_string()),
        Some(ContextValue::StyledStrs(v)) => Some(
            v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(ContextValue::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let arg = value(ContextKind::InvalidArg).unwrap_or_default();
    let bad = value(ContextKind::InvalidValue).unwrap_or_default();
    let sub = value(ContextKind::InvalidSubcommand).unwrap_or_default();
    let mut text = match error.kind() {
        ErrorKind::InvalidValue => {
            if bad.is_empty() {
                format!("для {arg} нужно значение, а оно не задано")
            } else {
                format!("недопустимое значение «{bad}» для {arg}")
            }
        }
        ErrorKind::UnknownArgument => format!("неизвестный аргумент «{arg}»"),
        ErrorKind::InvalidSubcommand => format!("неизвестная команда «{sub}»"),
        ErrorKind::NoEquals => format!("для {arg} значение задаётся через «=»"),
        ErrorKind::ValueValidation => format!("недопустимое значение «{bad}» для {arg}"),
        ErrorKind::TooManyValues => format!("лишнее значение «{bad}» для {arg}"),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            format!("для {arg} задано не то число значений")
        }
        ErrorKind::ArgumentConflict => {
            let prior = value(ContextKind::PriorArg).unwrap_or_default();
            if prior.is_empty() {
                format!("аргумент {arg} нельзя задавать повторно или вместе с другими")
            } else {
                format!("аргумент {arg} нельзя задавать вместе с {prior}")
            }
        }
        ErrorKind::MissingRequiredArgument => format!("не заданы обязательные аргументы: {arg}"),
        ErrorKind::MissingSubcommand => "не указана команда".to_owned(),
        ErrorKind::InvalidUtf8 => "аргумент — не текст UTF-8".to_owned(),
        ErrorKind::Io | ErrorKind::Format => "не удаётся вывести текст".to_owned(),
        _ => "неверная командная строка".to_owned(),
    };
    if let Some(valid) = value(ContextKind::ValidValue) {
        text.push_str(&format!("; возможные значения: {valid}"));
    }
    match (
        value(ContextKind::SuggestedSubcommand),
        value(ContextKind::SuggestedArg),
    ) {
        (Some(s), _) => text.push_str(&format!("; возможно, имелась в виду команда «{s}»")),
        (None, Some(a)) => text.push_str(&format!("; возможно, имелся в виду «{a}»")),
        _ => {}
    }
    let usage = error
        .get(ContextKind::Usage)
        .map(|u| u.to_string())
        .unwrap_or_else(|| command.render_usage().to_string());
    let usage = usage.trim().trim_start_matches("Usage:").trim().to_owned();
    format!("ошибка: {text}\n\nИспользование: {usage}\n\nПодробнее: --help\n")
}
