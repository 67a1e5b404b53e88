//! The HTML fragment of a form ([`render_html`]), its script ([`FORM_JS`]) and styles
//! ([`FORM_CSS`]). The markup is XHTML-compatible (self-closed void elements, boolean attributes
//! with values) so that it also parses as XML.

use std::fmt::Write as _;

use crate::Lang;
use crate::build::FieldError;
use crate::model::{
    Any, Builtin, Content, Element, Form, Group, GroupKind, Node, SimpleType, Variety,
};
use crate::regex;
use crate::values::FormValues;

/// The script of the forms: repeats (`data-add`, `data-remove`, `<template>` with `__i__`),
/// optional sections (`data-toggle`), choices (radios show one `data-branch`, the others'
/// inputs are disabled so they are not posted) and masks (`data-mask`). No dependencies.
pub const FORM_JS: &str = include_str!("form.js");

/// Minimal styles of the forms' own classes (`.xf-…`, `.field-error`).
pub const FORM_CSS: &str = include_str!("form.css");

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

struct R<'a> {
    values: &'a FormValues,
    errors: &'a [FieldError],
    lang: Lang,
    out: String,
    /// Inside an optional section or a choice branch: `required` is left to the script
    /// (`data-required`), so that a browser without it does not demand fields of a section the
    /// server will ignore.
    soft: usize,
}

fn id(path: &str) -> String {
    Form::field_id(path)
}

impl R<'_> {
    fn t<'s>(&self, ru: &'s str, en: &'s str) -> &'s str {
        self.lang.t(ru, en)
    }

    fn error_of(&self, path: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.path == path)
            .map(|e| e.message.as_str())
    }

    fn present(&self, path: &str) -> bool {
        match self.values.switch(path) {
            Some(b) => b,
            None => self.values.has_values(path),
        }
    }

    /// Hint + error after an input; returns the `aria-describedby` value.
    fn described(&self, path: &str, hint: Option<&str>) -> String {
        let fid = id(path);
        let mut ids = Vec::new();
        if hint.is_some() {
            ids.push(format!("{fid}-hint"));
        }
        if self.error_of(path).is_some() {
            ids.push(format!("{fid}-err"));
        }
        ids.join(" ")
    }

    fn hint_and_error(&mut self, path: &str, hint: Option<&str>) {
        let fid = id(path);
        if let Some(h) = hint {
            let _ = write!(
                self.out,
                "<small class=\"xf-hint\" id=\"{fid}-hint\">{}</small>",
                esc(h)
            );
        }
        if let Some(e) = self.error_of(path) {
            let e = esc(e);
            let _ = write!(
                self.out,
                "<p class=\"field-error\" id=\"{fid}-err\" role=\"alert\">{e}</p>"
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn field(
        &mut self,
        st: &SimpleType,
        path: &str,
        label: &str,
        hint: Option<&str>,
        required: bool,
        fixed: Option<&str>,
        default: Option<&str>,
        address: bool,
    ) {
        let fid = id(path);
        let value = self.values.get(path).unwrap_or("").to_string();
        let hint_owned;
        let hint = if address {
            let a = self.t(
                "Адрес: регион, город, улица, дом, квартира",
                "Address: region, city, street, house, flat",
            );
            hint_owned = match hint {
                Some(h) => format!("{h}\n{a}"),
                None => a.to_string(),
            };
            Some(hint_owned.as_str())
        } else {
            hint
        };
        let _ = write!(
            self.out,
            "<div class=\"xf-field\"><label for=\"{fid}\">{}",
            esc(label)
        );
        if required {
            self.out
                .push_str("<span class=\"xf-req\" aria-hidden=\"true\"> *</span>");
        }
        self.out.push_str("</label>");
        let described = self.described(path, hint);
        let mut common = format!("id=\"{fid}\" name=\"{}\"", esc(path));
        if required && fixed.is_none() {
            common.push_str(if self.soft > 0 {
                " data-required=\"1\""
            } else {
                " required=\"required\""
            });
        }
        if !described.is_empty() {
            let _ = write!(common, " aria-describedby=\"{described}\"");
        }
        if self.error_of(path).is_some() {
            common.push_str(" aria-invalid=\"true\"");
        }
        if address {
            common.push_str(" data-address=\"1\"");
        }
        let f = &st.facets;
        if let Some(fx) = fixed {
            let _ = write!(
                self.out,
                "<input type=\"text\" {common} value=\"{}\" readonly=\"readonly\" />",
                esc(fx)
            );
        } else if !f.enumeration.is_empty() && st.variety == Variety::Atomic {
            let _ = write!(self.out, "<select {common}><option value=\"\">—</option>");
            for (v, doc) in &f.enumeration {
                let text = match doc {
                    Some(d) => d.lines().next().unwrap_or(v).trim().to_string(),
                    None => v.clone(),
                };
                let sel = if *v == value {
                    " selected=\"selected\""
                } else {
                    ""
                };
                let _ = write!(
                    self.out,
                    "<option value=\"{}\"{sel}>{}</option>",
                    esc(v),
                    esc(&text)
                );
            }
            self.out.push_str("</select>");
        } else if st.base == Builtin::Boolean && st.variety == Variety::Atomic {
            let _ = write!(self.out, "<select {common}><option value=\"\">—</option>");
            for (v, ru, en) in [("true", "Да", "Yes"), ("false", "Нет", "No")] {
                let sel = if v == value {
                    " selected=\"selected\""
                } else {
                    ""
                };
                let _ = write!(
                    self.out,
                    "<option value=\"{v}\"{sel}>{}</option>",
                    self.t(ru, en)
                );
            }
            self.out.push_str("</select>");
        } else if st.base == Builtin::Base64 || st.max_len().is_some_and(|m| m > 200) {
            let mut attrs = String::new();
            if let Some(m) = st.max_len() {
                let _ = write!(attrs, " maxlength=\"{m}\"");
            }
            let _ = write!(
                self.out,
                "<textarea {common}{attrs} rows=\"3\">{}</textarea>",
                esc(&value)
            );
        } else {
            let mut attrs = String::new();
            let ty = match st.base {
                Builtin::Date if st.variety == Variety::Atomic && f.patterns.is_empty() => "date",
                _ => "text",
            };
            if let Some(kind) = st.ident {
                let _ = write!(attrs, " data-mask=\"{}\"", kind.mask());
                if kind != crate::IdentKind::Kpp {
                    attrs.push_str(" inputmode=\"numeric\"");
                }
                attrs.push_str(" autocomplete=\"off\"");
            } else {
                match st.base {
                    Builtin::Integer => attrs.push_str(" inputmode=\"numeric\""),
                    Builtin::Decimal | Builtin::Float => attrs.push_str(" inputmode=\"decimal\""),
                    Builtin::DateTime => {
                        let _ = write!(
                            attrs,
                            " placeholder=\"{}\"",
                            self.t("ГГГГ-ММ-ДДTчч:мм:сс", "YYYY-MM-DDThh:mm:ss")
                        );
                    }
                    Builtin::Time => {
                        let _ =
                            write!(attrs, " placeholder=\"{}\"", self.t("чч:мм:сс", "hh:mm:ss"));
                    }
                    Builtin::GYear => attrs.push_str(" placeholder=\"ГГГГ\" inputmode=\"numeric\""),
                    Builtin::GYearMonth => attrs.push_str(" placeholder=\"ГГГГ-ММ\""),
                    _ => {}
                }
                if !st.base.is_numeric() && st.variety == Variety::Atomic {
                    if let Some(m) = st.max_len() {
                        let _ = write!(attrs, " maxlength=\"{m}\"");
                    }
                    if let Some(m) = st.min_len().filter(|&m| m > 0) {
                        let _ = write!(attrs, " minlength=\"{m}\"");
                    }
                }
                if let [step] = &f.patterns[..]
                    && let [p] = &step[..]
                    && st.variety == Variety::Atomic
                    && regex::js_safe(p)
                {
                    let _ = write!(attrs, " pattern=\"{}\"", esc(p));
                }
                if let Some(d) = default
                    && !attrs.contains("placeholder")
                {
                    let _ = write!(attrs, " placeholder=\"{}\"", esc(d));
                }
            }
            let _ = write!(
                self.out,
                "<input type=\"{ty}\" {common}{attrs} value=\"{}\" />",
                esc(&value)
            );
        }
        self.hint_and_error(path, hint);
        self.out.push_str("</div>");
    }

    fn element_items(&mut self, el: &Element, prefix: &str) {
        let base = format!("{prefix}.{}", el.name);
        if el.repeats() {
            let count = self.values.count(&base).max(el.min as usize);
            let label = el.label.clone();
            self.repeat(&base, count, &label, |r, p| r.element(el, p, true));
            return;
        }
        let complexish = !matches!(el.content, Content::Simple(_)) || !el.attributes.is_empty();
        if el.min == 0 && complexish {
            let label = el.label.clone();
            self.optional(&base, &label, |r, p| r.element(el, p, true));
        } else {
            self.element(el, &base, el.min > 0);
        }
    }

    fn optional(&mut self, path: &str, label: &str, body: impl FnOnce(&mut Self, &str)) {
        let fid = id(path);
        let on = self.present(path);
        let checked = if on { " checked=\"checked\"" } else { "" };
        let name = esc(&format!("{path}#on"));
        let _ = write!(
            self.out,
            "<div class=\"xf-optional\"><input type=\"hidden\" name=\"{name}\" value=\"0\" />\
             <label class=\"xf-toggle\"><input type=\"checkbox\" id=\"{fid}-on\" name=\"{name}\" value=\"1\" \
             data-toggle=\"{fid}-sec\" aria-controls=\"{fid}-sec\"{checked} /> {} «{}»</label>\
             <div class=\"xf-section\" id=\"{fid}-sec\" data-section=\"1\">",
            self.t("Заполнить", "Fill in"),
            esc(label)
        );
        self.soft += 1;
        body(self, path);
        self.soft -= 1;
        self.out.push_str("</div></div>");
    }

    fn repeat(&mut self, base: &str, count: usize, label: &str, item: impl Fn(&mut Self, &str)) {
        let fid = id(base);
        let _ = write!(
            self.out,
            "<div class=\"xf-repeat\" id=\"{fid}-rep\" data-repeat=\"{}\" data-next=\"{count}\">\
             <input type=\"hidden\" name=\"{}\" value=\"{count}\" data-count=\"1\" /><div class=\"xf-items\">",
            esc(base),
            esc(&format!("{base}#n"))
        );
        let remove = self.t("Удалить", "Remove").to_string();
        for i in 0..count {
            self.out.push_str("<div class=\"xf-item\" data-item=\"1\">");
            item(self, &format!("{base}[{i}]"));
            let _ = write!(
                self.out,
                "<button type=\"button\" class=\"xf-remove\" data-remove=\"1\">{remove}</button></div>"
            );
        }
        self.out.push_str(
            "</div><template data-template=\"1\"><div class=\"xf-item\" data-item=\"1\">",
        );
        item(self, &format!("{base}[__i__]"));
        let _ = write!(
            self.out,
            "<button type=\"button\" class=\"xf-remove\" data-remove=\"1\">{remove}</button></div></template>\
             <button type=\"button\" class=\"xf-add\" data-add=\"1\">{} «{}»</button></div>",
            self.t("Добавить", "Add"),
            esc(label)
        );
    }

    fn element(&mut self, el: &Element, path: &str, required: bool) {
        if let Content::Simple(st) = &el.content
            && el.attributes.is_empty()
        {
            self.field(
                st,
                path,
                &el.label,
                el.hint.as_deref(),
                required,
                el.fixed.as_deref(),
                el.default.as_deref(),
                el.is_address,
            );
            return;
        }
        let fid = id(path);
        let addr = if el.is_address {
            " data-address=\"1\""
        } else {
            ""
        };
        let _ = write!(
            self.out,
            "<fieldset class=\"xf-group\" id=\"{fid}\"{addr}><legend>{}</legend>",
            esc(&el.label)
        );
        if let Some(h) = &el.hint {
            let _ = write!(self.out, "<small class=\"xf-hint\">{}</small>", esc(h));
        }
        if el.is_address {
            // The address helper: one line, laid out over the parts by their names and labels
            // (FORM_JS); the line itself is not posted (no name).
            let (label, button, hint) = (
                self.t("Адрес одной строкой", "The address in one line"),
                self.t("Разложить по полям", "Fill in the fields"),
                self.t(
                    "Через запятую: индекс, регион, район, город, улица, дом, корпус, квартира",
                    "Comma-separated: postcode, region, district, city, street, house, building, flat",
                ),
            );
            let _ = write!(
                self.out,
                "<div class=\"xf-address\"><label for=\"{fid}-line\">{label}</label>\
                 <input type=\"text\" id=\"{fid}-line\" data-address-line=\"1\" \
                 aria-describedby=\"{fid}-line-hint\" placeholder=\"123456, г. Москва, ул. Вавилова, д. 19, кв. 5\" />\
                 <button type=\"button\" data-address-fill=\"1\">{button}</button>\
                 <small class=\"xf-hint\" id=\"{fid}-line-hint\">{hint}</small></div>"
            );
        }
        if el.truncated {
            let _ = write!(
                self.out,
                "<p class=\"xf-note\">{}</p>",
                self.t("Вложенность слишком глубокая", "Nested too deep")
            );
        }
        if let Some(e) = self.error_of(path) {
            let _ = write!(
                self.out,
                "<p class=\"field-error\" id=\"{fid}-err\" role=\"alert\">{}</p>",
                esc(e)
            );
        }
        for a in &el.attributes {
            let ap = format!("{path}.@{}", a.name);
            self.field(
                &a.ty,
                &ap,
                &a.label,
                a.hint.as_deref(),
                a.required,
                a.fixed.as_deref(),
                a.default.as_deref(),
                false,
            );
        }
        match &el.content {
            Content::Simple(st) => {
                let label = self.t("Значение", "Value").to_string();
                self.field(
                    st,
                    path,
                    &label,
                    None,
                    el.fixed.is_none(),
                    el.fixed.as_deref(),
                    el.default.as_deref(),
                    false,
                );
            }
            Content::Complex { group, .. } => self.group(group, path),
            Content::Empty => {}
        }
        self.out.push_str("</fieldset>");
    }

    fn node(&mut self, n: &Node, prefix: &str) {
        match n {
            Node::Element(e) => self.element_items(e, prefix),
            Node::Group(g) => self.group(g, prefix),
            Node::Any(a) => self.any(a, prefix),
        }
    }

    fn any(&mut self, a: &Any, prefix: &str) {
        let base = format!("{prefix}.{}", a.key);
        let label = self.t("XML-фрагмент", "XML fragment").to_string();
        let hint = format!(
            "{} {}",
            self.t("Пространство имён:", "Namespace:"),
            a.namespace
        );
        let body = |r: &mut Self, p: &str| {
            let fid = id(p);
            let v = r.values.get(p).unwrap_or("").to_string();
            let described = r.described(p, Some(&hint));
            let req = if a.min > 0 {
                " required=\"required\""
            } else {
                ""
            };
            let _ = write!(
                r.out,
                "<div class=\"xf-field xf-any\"><label for=\"{fid}\">{}</label><textarea id=\"{fid}\" name=\"{}\" rows=\"4\" aria-describedby=\"{described}\"{req}>{}</textarea>",
                esc(&label),
                esc(p),
                esc(&v)
            );
            r.hint_and_error(p, Some(&hint));
            r.out.push_str("</div>");
        };
        if a.max != Some(1) {
            let count = self.values.count(&base).max(a.min as usize);
            self.repeat(&base, count, &label, body);
        } else {
            body(self, &base);
        }
    }

    fn branch_label(n: &Node) -> String {
        match n {
            Node::Element(e) => e.label.clone(),
            Node::Any(_) => "XML".into(),
            Node::Group(g) => {
                let labels: Vec<String> = g.items.iter().take(3).map(Self::branch_label).collect();
                let mut s = labels.join(", ");
                if g.items.len() > 3 {
                    s.push_str(", …");
                }
                s
            }
        }
    }

    fn choice(&mut self, g: &Group, p: &str, required: bool) {
        let fid = id(p);
        let explicit = self
            .values
            .get(p)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&j| j < g.items.len());
        let chosen = explicit
            .or_else(|| (0..g.items.len()).find(|j| self.values.has_values(&format!("{p}.b{j}"))))
            .or(if required { Some(0) } else { None });
        let _ = write!(
            self.out,
            "<fieldset class=\"xf-choice\" id=\"{fid}\" data-choice=\"{}\"><legend>{}</legend><div class=\"xf-radios\">",
            esc(p),
            self.t("Выберите вариант", "Choose one")
        );
        if !required {
            let checked = if chosen.is_none() {
                " checked=\"checked\""
            } else {
                ""
            };
            let _ = write!(
                self.out,
                "<label class=\"xf-radio\"><input type=\"radio\" name=\"{}\" value=\"\" id=\"{fid}-rn\"{checked} /> {}</label>",
                esc(p),
                self.t("Не заполнять", "Leave empty")
            );
        }
        for (j, it) in g.items.iter().enumerate() {
            let checked = if chosen == Some(j) {
                " checked=\"checked\""
            } else {
                ""
            };
            let _ = write!(
                self.out,
                "<label class=\"xf-radio\"><input type=\"radio\" name=\"{}\" value=\"{j}\" id=\"{fid}-r{j}\"{checked} /> {}</label>",
                esc(p),
                esc(&Self::branch_label(it))
            );
        }
        self.out.push_str("</div>");
        for (j, it) in g.items.iter().enumerate() {
            let hidden = if chosen == Some(j) {
                ""
            } else {
                " data-inactive=\"1\""
            };
            let _ = write!(
                self.out,
                "<div class=\"xf-branch\" data-branch=\"{j}\"{hidden}>"
            );
            self.soft += 1;
            self.node(it, &format!("{p}.b{j}"));
            self.soft -= 1;
            self.out.push_str("</div>");
        }
        self.out.push_str("</fieldset>");
    }

    fn group(&mut self, g: &Group, prefix: &str) {
        if g.key.is_empty() {
            for it in &g.items {
                self.node(it, prefix);
            }
            return;
        }
        let base = format!("{prefix}.{}", g.key);
        let label = match g.kind {
            GroupKind::Choice => self.t("Вариант", "Option").to_string(),
            _ => Self::branch_label(&Node::Group(g.clone())),
        };
        if g.max != Some(1) {
            let count = self.values.count(&base).max(g.min as usize);
            self.repeat(&base, count, &label, |r, p| {
                if g.kind == GroupKind::Choice {
                    r.choice(g, p, true);
                } else {
                    for it in &g.items {
                        r.node(it, p);
                    }
                }
            });
        } else if g.kind == GroupKind::Choice {
            self.choice(g, &base, g.min > 0);
        } else if g.min == 0 {
            self.optional(&base, &label, |r, p| {
                for it in &g.items {
                    r.node(it, p);
                }
            });
        } else {
            for it in &g.items {
                self.node(it, &base);
            }
        }
    }
}

/// Renders the form as an HTML fragment (no `<form>` element: the caller wraps it): fieldsets for
/// complex elements, one labelled input per field, hints, errors next to their fields, optional
/// sections, choices and repeats as described in [`FORM_JS`]. Every label and value is escaped.
pub fn render_html(form: &Form, values: &FormValues, errors: &[FieldError], lang: Lang) -> String {
    let mut r = R {
        values,
        errors,
        lang,
        out: String::new(),
        soft: 0,
    };
    let root = form.root_path();
    let _ = write!(
        r.out,
        "<div class=\"xf-form\" data-xf-root=\"{}\">",
        esc(&root)
    );
    r.element(&form.root, &root, true);
    r.out.push_str("</div>");
    r.out
}
