// OpenSMEV cabinet: the page's own behaviour (the form generator's script comes first).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // After a refused submission, focus the first field with an error.
  var bad = document.querySelector("[aria-invalid='true']");
  if (bad && typeof bad.focus === "function") { bad.focus(); }
});
