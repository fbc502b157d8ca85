/* Ticket list: the bulk toolbar shows only the fields of the chosen action
 * (without JavaScript all are shown and only the chosen action's field is used),
 * and remembers the list's order for j/k on ticket pages. */
(function () {
  "use strict";
  var action = document.getElementById("bulk-action");
  if (action) {
    var sync = function () {
      Array.prototype.forEach.call(document.querySelectorAll("[data-bulk-for]"), function (el) {
        el.hidden = el.getAttribute("data-bulk-for") !== action.value;
      });
    };
    action.addEventListener("change", sync);
    sync();
  }
  var all = document.getElementById("select-all");
  if (all) {
    var boxes = document.querySelectorAll("#bulk-form input[name=ref]");
    all.hidden = false;
    all.addEventListener("change", function () {
      Array.prototype.forEach.call(boxes, function (box) { box.checked = all.checked; });
    });
  }
  var q = document.getElementById("q");
  if (q && window.location.hash === "#q") { q.focus(); }
  var refs = Array.prototype.map.call(document.querySelectorAll("table.tickets a.ref"), function (a) {
    return a.textContent.trim();
  });
  try { window.sessionStorage.setItem("helpdesk.ticketList", JSON.stringify(refs)); } catch (e) { /* private mode */ }
}());
