// End-to-end test of the web cabinet in a real browser: Debian's Chromium driven by
// playwright-core (no browser download). Run by scripts/cabinet-e2e.sh, which starts
// `opensmev serve --demo` and passes the address and the demo accounts' passwords:
//   BASE_URL, MFC_PASSWORD, PFR_PASSWORD, FNS_PASSWORD; SCREENSHOTS=dir to save screenshots.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

const base = process.env.BASE_URL;
const shots = process.env.SCREENSHOTS || "";
assert.ok(base, "BASE_URL is required");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
const page = await context.newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
// Script errors only (a refused form answers 401/422 on purpose: the console reports those too).
page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });

let step = "start";
async function shot(name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}
function log(text) { step = text; console.log(`• ${text}`); }

async function login(user, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel("Логин").fill(user);
  await page.getByLabel("Пароль").fill(password);
  await page.getByRole("button", { name: "Вход" }).click();
  await page.waitForURL(/\/messages/);
}

async function logout() {
  await page.getByRole("button", { name: "Выйти" }).click();
  await page.waitForURL(/\/login/);
}

try {
  log("a wrong password is refused with a message");
  await page.goto(`${base}/login`);
  await shot("login");
  await page.getByLabel("Логин").fill("mfc01");
  await page.getByLabel("Пароль").fill("not-the-password");
  await page.getByRole("button", { name: "Вход" }).click();
  await page.getByText("Неверный логин или пароль").waitFor();

  log("the consumer signs in");
  await login("mfc01", process.env.MFC_PASSWORD);

  log("a request of the PFR kind: a bad SNILS is shown at its field");
  await page.getByRole("link", { name: "Новый запрос" }).click();
  await page.getByRole("link", { name: /лицевого счёта/ }).click();
  await page.getByLabel("СНИЛС").fill("11223344500");
  await page.getByLabel("Фамилия").fill("Иванов <script>alert(1)</script>");
  await page.getByLabel("Имя").fill("Иван");
  await page.getByLabel("Дата рождения").fill("1980-05-17");
  await page.getByRole("button", { name: "Отправить" }).click();
  const snilsError = page.locator(".xf-field:has(input[name$='.Snils']) .field-error, .xf-field:has(input[name$='.Snils']) [role=alert]");
  await snilsError.first().waitFor();
  assert.match(await snilsError.first().innerText(), /СНИЛС|контрольн/i);
  await shot("request-form-error");

  log("the SNILS corrected, the request is sent");
  await page.getByLabel("СНИЛС").fill("112-233-445 95");
  await page.getByRole("button", { name: "Отправить" }).click();
  await page.waitForURL(/\/messages\/[0-9a-f-]{36}$/);
  const pfrRequest = page.url().split("/").pop();
  await page.getByText("112-233-445 95").first().waitFor();
  // The business value with <script> is text, not markup.
  await page.getByText("Иванов <script>alert(1)</script>").first().waitFor();
  await shot("request-sent");

  log("a request of the EGRUL kind with the choice switched to INN");
  await page.getByRole("link", { name: "Новый запрос" }).click();
  await page.getByRole("link", { name: "Выписка из ЕГРЮЛ" }).click();
  await page.getByLabel("ИНН").check().catch(async () => {
    await page.locator("input[type=radio][value='1']").first().check();
  });
  await page.locator("input[name$='.Inn']").fill("7707083893");
  await page.getByRole("button", { name: "Отправить" }).click();
  await page.waitForURL(/\/messages\/[0-9a-f-]{36}$/);
  await page.getByText("7707083893").first().waitFor();
  const egrulRequest = page.url().split("/").pop();

  log("a request of the tax-debt kind, filled field by field");
  await page.getByRole("link", { name: "Новый запрос" }).click();
  await page.getByRole("link", { name: /задолженности/ }).click();
  for (const input of await page.locator("form.xf input[required]:visible").all()) {
    const type = await input.getAttribute("type");
    const mask = await input.getAttribute("data-mask");
    if (type === "date") await input.fill("2026-12-01");
    else if (mask === "inn12") await input.fill("500100732259");
    else if (mask === "inn10") await input.fill("7707083893");
    else await input.fill("7707083893");
  }
  await page.getByRole("button", { name: "Отправить" }).click();
  await page.waitForURL(/\/messages\/[0-9a-f-]{36}$/);

  log("the sent requests are listed");
  await page.getByRole("link", { name: "Отправленные запросы" }).click();
  await page.getByRole("link", { name: pfrRequest }).waitFor();
  await shot("sent-requests");
  await logout();

  log("the provider finds the request in its department's inbox");
  await login("pfr01", process.env.PFR_PASSWORD);
  await page.getByRole("link", { name: "Входящие запросы" }).click();
  // Assigned by the rule on the SNILS, with its deadline.
  const row = page.locator("tr", { has: page.getByRole("link", { name: pfrRequest }) });
  await row.getByText("Отдел персонифицированного учёта").waitFor();
  await shot("inbox");
  await page.getByRole("link", { name: pfrRequest }).click();
  assert.equal(await page.locator("#case-department").innerText(), "Отдел персонифицированного учёта");

  log("the provider reassigns the request with a reason");
  await page.getByText("Передать в другое подразделение").first().click();
  await page.getByLabel("Подразделение").selectOption({ label: "Отдел назначения пенсий" });
  await page.getByLabel("Причина").fill("по компетенции");
  await page.getByRole("button", { name: "Передать в другое подразделение" }).click();
  await page.waitForURL(new RegExp(`/messages/${pfrRequest}$`));
  assert.equal(await page.locator("#case-department").innerText(), "Отдел назначения пенсий");
  const reassigned = page.locator("table.timeline tr", { hasText: "передано в другое подразделение" });
  await reassigned.getByText("по компетенции").waitFor();
  await reassigned.getByText("pfr01").waitFor();
  await page.getByRole("link", { name: "Входящие запросы" }).click();
  await page.getByLabel("Подразделение").selectOption({ label: "Отдел назначения пенсий" });
  await page.getByRole("button", { name: "Применить" }).click();
  await page.getByRole("link", { name: pfrRequest }).click();

  log("the provider answers with the form");
  await page.getByRole("link", { name: "Ответить" }).click();
  await page.getByLabel("СНИЛС").fill("112-233-445 95");
  // The repeated group: two periods of work.
  const add = page.locator("[data-add]").first();
  await add.click();
  await add.click();
  const employers = page.locator("input[name*='Period'][name$='.Employer']");
  assert.equal(await employers.count(), 2, "two periods after two clicks");
  for (let i = 0; i < 2; i++) {
    await employers.nth(i).fill(`ООО «Работодатель ${i + 1}»`);
    await page.locator("input[name*='Period'][name$='.From']").nth(i).fill(`201${i}-01-01`);
    await page.locator("input[name*='Period'][name$='.Contributions']").nth(i).fill(`1000${i}.50`);
  }
  await page.locator("input[name$='.PensionPoints']").fill("42.5");
  const formedAt = page.locator("input[name$='.FormedAt']");
  await formedAt.fill(await formedAt.getAttribute("type") === "datetime-local" ? "2026-12-07T10:00" : "2026-12-07T10:00:00+03:00");
  await shot("answer-form");
  await page.getByRole("button", { name: "Отправить" }).click();
  await page.waitForURL(new RegExp(`/messages/${pfrRequest}$`));
  await page.getByText("ООО «Работодатель 2»").first().waitFor();
  await page.locator("table.timeline tr", { hasText: "дан ответ" }).getByText("pfr01").waitFor();
  await logout();

  log("FNS01's inbox marks the EGRUL request (4 hours to answer) as due soon");
  await login("fns01", process.env.FNS_PASSWORD);
  await page.getByRole("link", { name: "Входящие запросы" }).click();
  const egrulRow = page.locator("tr", { has: page.getByRole("link", { name: egrulRequest }) });
  await egrulRow.getByText("скоро срок").waitFor();
  await egrulRow.getByText("Отдел ведения ЕГРЮЛ").waitFor();

  log("FNS01 answers the EGRUL request; the address helper lays one line out over the address's fields");
  await page.getByRole("link", { name: egrulRequest }).click();
  await page.getByRole("link", { name: "Ответить" }).click();
  const field = (suffix) => page.locator(`form.xf input[name$='${suffix}']`).first();
  await field(".EgrulExtractResponse.FullName").fill("Публичное акционерное общество «Пример»");
  await field(".Ogrn").fill("1027700132195");
  await field(".Inn").fill("7707083893");
  await field(".Kpp").fill("773601001");
  await page.getByLabel("Адрес одной строкой").fill("117312, г. Москва, ул. Вавилова, д. 19, кв. 5");
  await page.getByRole("button", { name: "Разложить по полям" }).click();
  assert.equal(await field(".Address.PostalCode").inputValue(), "117312");
  assert.equal(await field(".Address.Region").inputValue(), "г. Москва");
  assert.equal(await field(".Address.Street").inputValue(), "ул. Вавилова");
  assert.equal(await field(".Address.House").inputValue(), "19");
  assert.equal(await field(".Address.Flat").inputValue(), "5");
  await shot("address-helper");
  await field(".Director.FullName").fill("Петров Пётр Петрович");
  await field(".Director.Position").fill("Президент");
  await page.locator("form.xf select[name$='.Status']").selectOption("active");
  await field(".RegisteredOn").fill("2002-08-16");
  await page.getByRole("button", { name: "Отправить" }).click();
  await page.waitForURL(new RegExp(`/messages/${egrulRequest}$`));
  await page.getByText("ул. Вавилова").first().waitFor();

  log("a user sets their e-mail notifications");
  await page.getByRole("link", { name: "Уведомления" }).click();
  // The browser checks the form as typed; the bus checks what passes it.
  await page.getByLabel("Адрес электронной почты").fill("fns01@localhost");
  await page.getByRole("button", { name: "Сохранить" }).click();
  await page.getByRole("alert").getByText("не адрес электронной почты").waitFor();
  await page.getByLabel("Адрес электронной почты").fill("fns01@fns.example");
  await page.getByLabel(/срок ответа на которые истекает/).check();
  await page.getByLabel("Отдел ведения ЕГРЮЛ").check();
  await page.getByRole("button", { name: "Сохранить" }).click();
  await page.getByText("Настройки сохранены").waitFor();
  assert.equal(await page.getByLabel("Адрес электронной почты").inputValue(), "fns01@fns.example");
  assert.ok(await page.getByLabel("Отдел ведения ЕГРЮЛ").isChecked());
  await shot("notifications");
  await logout();

  log("the consumer sees the answer as a document and the raw XML");
  await login("mfc01", process.env.MFC_PASSWORD);
  await page.goto(`${base}/messages/${pfrRequest}`);
  await page.getByRole("heading", { name: "Ответы" }).waitFor();
  // The kind's print form (XSLT registered with the kind) renders the answer.
  const printed = page.locator(".print-form-out");
  await printed.getByRole("heading", { name: "Выписка из индивидуального лицевого счёта застрахованного лица" }).waitFor();
  await printed.locator("tr", { hasText: "ООО «Работодатель 1»" }).getByText("10000.50").waitFor();
  await printed.getByText("42.5").waitFor();
  await shot("answer-document");
  await page.getByText("XML сообщения").click();
  await page.locator("pre.xml .x-tag").first().waitFor();
  await shot("xml-viewer");

  log("the PDF download: the request and its answer, Cyrillic intact (pdftotext)");
  {
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Скачать PDF" }).click(),
    ]);
    const text = execFileSync("pdftotext", ["-layout", await download.path(), "-"]).toString("utf8");
    for (const needle of ["СНИЛС", "112-233-445 95", "Период работы", "ООО «Работодатель 1»", "ООО «Работодатель 2»", "пенсионный", "42.5", pfrRequest]) {
      assert.ok(text.includes(needle), `the PDF's text has «${needle}»:\n${text}`);
    }
  }

  log("downloads: XML and HTML");
  for (const name of ["XML", "HTML"]) {
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: `Скачать ${name}` }).click(),
    ]);
    const path = await download.path();
    assert.ok(path, `the ${name} download was saved`);
  }

  log("the same page on a phone's screen: nothing wider than the screen");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px on a phone`);
  await shot("phone-message");
  await page.setViewportSize({ width: 1366, height: 768 });

  log("the interface switches to English");
  await page.getByRole("link", { name: "EN", exact: true }).click();
  await page.getByRole("heading", { name: "Answers" }).waitFor();
  await page.getByRole("link", { name: "RU", exact: true }).click();

  log("the administrator changes the one-time password, then edits PFR01's cabinet settings");
  await logout();
  await page.goto(`${base}/login`);
  await page.getByLabel("Логин").fill("admin");
  await page.getByLabel("Пароль").fill(process.env.ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Вход" }).click();
  await page.waitForURL(/\/password$/);
  await page.getByLabel("Текущий пароль").fill(process.env.ADMIN_PASSWORD);
  await page.getByLabel("Новый пароль", { exact: true }).fill("e2e-admin-password-1");
  await page.getByLabel("Новый пароль ещё раз").fill("e2e-admin-password-1");
  await page.getByRole("button", { name: "Смена пароля" }).click();
  await page.waitForURL(/\/login/);
  await page.getByText("Пароль изменён").waitFor();
  await login("admin", "e2e-admin-password-1");
  await page.getByRole("link", { name: "Настройки кабинета" }).click();
  await page.getByRole("link", { name: "PFR01" }).click();
  const settings = page.getByLabel("Настройки (TOML)");
  assert.match(await settings.inputValue(), /Отдел назначения пенсий/);
  const good = await settings.inputValue();
  await settings.fill(good + "\n[[rules]]\ndepartment = \"нет-такого\"\n");
  await page.getByRole("button", { name: "Сохранить" }).click();
  await page.getByRole("alert").getByText("нет-такого").waitFor();
  await shot("cabinet-settings");
  await settings.fill(good.replace("working_days = 5", "working_days = 3"));
  await page.getByRole("button", { name: "Сохранить" }).click();
  await page.getByText("Настройки сохранены").waitFor();

  assert.deepEqual(errors, [], "no script errors in the pages");
  console.log("cabinet e2e: passed");
} catch (e) {
  console.error(`cabinet e2e: FAILED at step «${step}»: ${e.stack || e}`);
  await page.screenshot({ path: "/tmp/cabinet-e2e-failure.png", fullPage: true }).catch(() => {});
  console.error(`url: ${page.url()}; screenshot: /tmp/cabinet-e2e-failure.png`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
