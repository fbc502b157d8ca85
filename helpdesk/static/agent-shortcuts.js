/* Keyboard shortcuts on the agent ticket list and ticket pages.
 *   j / k   next / previous ticket     o, Enter  open (list)    x  select (list)
 *   r reply   n internal note   a assign to me   / search   ? this help    Esc close help
 * Nothing fires while you type in a field, or with Ctrl/Alt/Meta held. */
(function () {
  "use strict";
  var help = document.getElementById("shortcuts-help");
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.tickets tbody tr"));
  var current = -1;

  function typing(target) {
    if (!target) { return false; }
    var tag = (target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function toggleHelp() {
    if (!help) { return; }
    if (help.open) { help.close(); }
    else if (help.showModal) { help.showModal(); }
    else { help.setAttribute("open", ""); }
  }

  function focusRow(i) {
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, n) { r.classList.toggle("kb-current", n === current); });
    var link = rows[current].querySelector("a.ref");
    if (link) { link.focus(); }
  }

  function ticketPath() {
    var m = window.location.pathname.match(/\/agent\/tickets\/(HD-[A-Z0-9]+)$/i);
    return m ? m[1].toUpperCase() : null;
  }

  function neighbour(step) {
    var here = ticketPath();
    var refs = [];
    try { refs = JSON.parse(window.sessionStorage.getItem("helpdesk.ticketList") || "[]"); } catch (e) { refs = []; }
    var i = refs.indexOf(here);
    if (i === -1 || !refs[i + step]) { return; }
    window.location.href = window.location.pathname.replace(/[^/]+$/, refs[i + step]);
  }

  function writeReply(note) {
    var box = document.querySelector("form[action$='/reply'] textarea[name=body]");
    if (!box) { return; }
    var internal = document.querySelector("form[action$='/reply'] input[name=internal]");
    if (internal) { internal.checked = note; }
    box.focus();
  }

  function assignToMe() {
    var claim = document.querySelector("form[action$='/claim']");
    if (claim) { claim.submit(); return; }
    if (rows.length && current >= 0) {
      var form = document.getElementById("bulk-form");
      if (!form) { return; }
      Array.prototype.forEach.call(form.querySelectorAll("input[name=ref]"), function (box) { box.checked = false; });
      var box = rows[current].querySelector("input[name=ref]");
      if (!box) { return; }
      box.checked = true;
      form.querySelector("select[name=action]").value = "assign";
      form.querySelector("select[name=assign]").value = "me";
      form.submit();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey) { return; }
    if (typing(event.target)) { return; }
    var key = event.key;
    if (key === "?") { event.preventDefault(); toggleHelp(); return; }
    if (help && help.open) { if (key === "Escape") { help.close(); } return; }
    if (key === "/") {
      var box = document.getElementById("q");  // the ticket list's search box
      if (box) { event.preventDefault(); box.focus(); box.select(); }
      else if (help && help.getAttribute("data-search-url")) {
        event.preventDefault();
        window.location.href = help.getAttribute("data-search-url") + "#q";
      }
      return;
    }
    if (rows.length) {
      if (key === "j") { event.preventDefault(); focusRow(current + 1); return; }
      if (key === "k") { event.preventDefault(); focusRow(current < 0 ? 0 : current - 1); return; }
      if ((key === "o" || key === "Enter") && current >= 0) {
        var link = rows[current].querySelector("a.ref");
        if (link) { event.preventDefault(); link.click(); }
        return;
      }
      if (key === "x" && current >= 0) {
        var cb = rows[current].querySelector("input[name=ref]");
        if (cb) { event.preventDefault(); cb.checked = !cb.checked; }
        return;
      }
      if (key === "a") { event.preventDefault(); assignToMe(); return; }
      return;
    }
    if (key === "j") { event.preventDefault(); neighbour(1); }
    else if (key === "k") { event.preventDefault(); neighbour(-1); }
    else if (key === "r") { event.preventDefault(); writeReply(false); }
    else if (key === "n") { event.preventDefault(); writeReply(true); }
    else if (key === "a") { event.preventDefault(); assignToMe(); }
  });
}());
