/* Accessibility helpers for the patient pages (no inline scripts: CSP).
 * A form that came back with errors: move focus to its summary, so keyboard and
 * screen-reader users start at the list of what to fix (each item links to its field). */
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
}());

/* A link in the error summary moves focus to its field (a fragment link alone only
 * scrolls), with the field's label in view. */
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (!summary) { return; }
  summary.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href^='#']") : null;
    if (!link) { return; }
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) { return; }
    event.preventDefault();
    var label = document.querySelector("label[for='" + field.id + "']");
    (label || field).scrollIntoView();
    field.focus({ preventScroll: true });
  });
}());
