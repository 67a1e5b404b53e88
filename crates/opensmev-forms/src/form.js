// OpenSMEV forms: repeats, optional sections, choices and input masks. No dependencies.
(function () {
  "use strict";
  var PH = "__i__";

  // Replaces the first index placeholder in every attribute (nested templates too: their first
  // placeholder is this item's index, the next ones belong to their own items).
  function renumber(root, idx) {
    var els = root.querySelectorAll ? root.querySelectorAll("*") : [];
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      for (var j = 0; j < el.attributes.length; j++) {
        var a = el.attributes[j];
        if (a.value.indexOf(PH) >= 0) el.setAttribute(a.name, a.value.replace(PH, String(idx)));
      }
      if (el.tagName === "TEMPLATE") renumber(el.content, idx);
    }
  }

  function setDisabled(box, off) {
    var inputs = box.querySelectorAll("input, select, textarea, button");
    for (var i = 0; i < inputs.length; i++) {
      var inp = inputs[i];
      if (off) {
        if (!inp.disabled) { inp.disabled = true; inp.setAttribute("data-xf-off", "1"); }
      } else if (inp.getAttribute("data-xf-off")) {
        inp.disabled = false; inp.removeAttribute("data-xf-off");
      }
      // Fields required inside a section or branch are required only while it is shown.
      if (inp.hasAttribute("data-required")) inp.required = !inp.disabled;
    }
  }

  function applyToggle(cb) {
    var sec = document.getElementById(cb.getAttribute("data-toggle"));
    if (!sec) return;
    sec.hidden = !cb.checked;
    setDisabled(sec, !cb.checked);
    if (cb.checked) refresh(sec);
  }

  function applyChoice(fs) {
    var name = fs.getAttribute("data-choice");
    var radios = fs.querySelectorAll("input[type=radio]");
    var value = null;
    for (var i = 0; i < radios.length; i++) {
      if (radios[i].name === name && radios[i].checked) value = radios[i].value;
    }
    var kids = fs.children;
    for (var k = 0; k < kids.length; k++) {
      var b = kids[k];
      if (!b.hasAttribute("data-branch")) continue;
      var on = b.getAttribute("data-branch") === value;
      b.hidden = !on;
      setDisabled(b, !on);
      if (on) refresh(b);
    }
  }

  // Re-applies toggles and choices inside a box that was just shown or added.
  function refresh(box) {
    var t = box.querySelectorAll("[data-toggle]");
    for (var i = 0; i < t.length; i++) if (!t[i].disabled) applyToggle(t[i]);
    var c = box.querySelectorAll("[data-choice]");
    for (var j = 0; j < c.length; j++) applyChoice(c[j]);
  }

  var MASKS = {
    "snils": "999-999-999 99", "inn10": "9999999999", "inn12": "999999999999",
    "inn": "999999999999", "ogrn": "999999999999999", "ogrnip": "999999999999999",
    "passport-series": "9999", "passport-number": "999999"
  };

  function applyMask(inp) {
    var kind = inp.getAttribute("data-mask");
    if (kind === "kpp") {
      inp.value = inp.value.toUpperCase().replace(/[^0-9A-Z]/g, "").slice(0, 9);
      return;
    }
    var mask = MASKS[kind];
    if (!mask) return;
    var digits = inp.value.replace(/\D/g, "");
    var out = "", d = 0;
    for (var i = 0; i < mask.length && d < digits.length; i++) {
      out += mask.charAt(i) === "9" ? digits.charAt(d++) : mask.charAt(i);
    }
    inp.value = out;
  }

  function onClick(ev) {
    var t = ev.target;
    if (!t || !t.closest) return;
    var add = t.closest("[data-add]");
    if (add) {
      var rep = add.closest("[data-repeat]");
      var tpl = rep && rep.querySelector(":scope > template");
      if (!tpl) return;
      var idx = parseInt(rep.getAttribute("data-next") || "0", 10);
      var frag = tpl.content.cloneNode(true);
      renumber(frag, idx);
      var items = rep.querySelector(":scope > .xf-items");
      var item = frag.firstElementChild;
      items.appendChild(frag);
      rep.setAttribute("data-next", String(idx + 1));
      var count = rep.querySelector(":scope > input[data-count]");
      if (count) count.value = String(idx + 1);
      if (item) { refresh(item); var f = item.querySelector("input:not([type=hidden]), select, textarea"); if (f) f.focus(); }
      return;
    }
    var fill = t.closest("[data-address-fill]");
    if (fill) {
      var box = fill.closest("[data-address]");
      var line = box && box.querySelector("[data-address-line]");
      if (line) fillAddress(box, line.value);
      return;
    }
    var rm = t.closest("[data-remove]");
    if (rm) {
      var it = rm.closest("[data-item]");
      if (it) it.parentNode.removeChild(it);
    }
  }

  function onChange(ev) {
    var t = ev.target;
    if (!t) return;
    if (t.hasAttribute && t.hasAttribute("data-toggle")) applyToggle(t);
    if (t.type === "radio") {
      var fs = t.closest("[data-choice]");
      if (fs && fs.getAttribute("data-choice") === t.name) applyChoice(fs);
    }
  }

  // The address helper: each comma-separated part is recognised by its form (a postcode, "г.",
  // "ул.", "д." …) and goes to the first empty field of the address whose name or label says
  // that part (Region/Регион, City/Город, Street/Улица, House/Дом, Flat/Квартира …).
  var ADDRESS_PARTS = [
    { part: /^\d{6}$/, field: /индекс|index|postal|zip|почт/i, keep: true },
    { part: /(^|\s)(обл\.?|область|край|респ\.?|республика|округ|ао)(\s|$)|^г\.?\s*(москва|санкт-петербург|севастополь)$/i, field: /регион|region|субъект|област/i, keep: true },
    { part: /(^|\s)(р-н|район)(\s|$)/i, field: /район|district/i, keep: true },
    { part: /^(г\.|город|пос\.|посёлок|поселок|пгт|с\.|село|дер\.|деревня|ст-ца|станица)\s*/i, field: /город|city|town|населен|locality|settlement|пункт/i, keep: true },
    { part: /^(ул\.|улица|пр-т|просп\.|проспект|пер\.|переулок|ш\.|шоссе|б-р|бульвар|наб\.|набережная|пл\.|площадь|проезд|мкр\.|микрорайон)\s*/i, field: /улиц|street|road/i, keep: true },
    { part: /^(д\.|дом)\s*(?=\d)/i, field: /^(дом|house)|[.\s]дом|house/i, keep: false },
    { part: /^(к\.|корп\.|корпус)\s*/i, field: /корп|building|block/i, keep: false },
    { part: /^(стр\.|строение)\s*/i, field: /строен|structure/i, keep: false },
    { part: /^(кв\.|квартира|оф\.|офис|пом\.|помещение)\s*/i, field: /кварт|flat|apartment|офис|office|помещ/i, keep: false }
  ];

  function fieldKey(input) {
    var name = (input.getAttribute("name") || "").split(".").pop() || "";
    var label = input.id ? document.querySelector("label[for='" + input.id + "']") : null;
    return (name + " " + (label ? label.textContent : "")).toLowerCase();
  }

  function fillAddress(box, text) {
    var inputs = box.querySelectorAll("input[name]:not([type=hidden]):not([type=checkbox]):not([type=radio])");
    var parts = String(text || "").split(/[,;]/);
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i].trim();
      if (!p) continue;
      for (var k = 0; k < ADDRESS_PARTS.length; k++) {
        var rule = ADDRESS_PARTS[k];
        if (!rule.part.test(p)) continue;
        var value = rule.keep ? p : p.replace(rule.part, "").trim();
        for (var j = 0; j < inputs.length; j++) {
          var input = inputs[j];
          if (input.value || input.disabled || !rule.field.test(fieldKey(input))) continue;
          input.value = value;
          input.dispatchEvent(new Event("input", { bubbles: true }));
          break;
        }
        break;
      }
    }
  }

  function onInput(ev) {
    var t = ev.target;
    if (t && t.hasAttribute && t.hasAttribute("data-mask")) applyMask(t);
  }

  function init(root) {
    var forms = root.querySelectorAll(".xf-form");
    for (var i = 0; i < forms.length; i++) {
      var f = forms[i];
      if (f.getAttribute("data-xf-ready")) continue;
      f.setAttribute("data-xf-ready", "1");
      f.addEventListener("click", onClick);
      f.addEventListener("change", onChange);
      f.addEventListener("input", onInput);
      refresh(f);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
  window.opensmevForms = { init: init };
})();
