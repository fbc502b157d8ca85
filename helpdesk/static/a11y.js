/* Accessibility helpers for the patient pages (no inline scripts: CSP).
 * A form that came back with errors: move focus to its summary, so keyboard and
 * screen-reader users start at the list of what to fix (each item links to its field). */
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
}());
