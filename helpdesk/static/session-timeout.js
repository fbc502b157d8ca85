/* Idle-timeout warning (no inline scripts: CSP). The server ends a session after a
 * period without activity; shortly before that this shows an accessible dialog with a
 * "Stay signed in" button (a keep-alive POST with the CSRF token). When the time is up
 * the page goes to the sign-in page, which says why. Checking the time left is a
 * background request (X-Helpdesk-Background): it never counts as activity, and another
 * tab's activity is taken into account. */
(function () {
  "use strict";
  var box = document.getElementById("session-timeout");
  if (!box || !window.fetch) { return; }
  var stay = document.getElementById("session-timeout-stay");
  var status = document.getElementById("session-timeout-status");
  var warnMs = (parseInt(box.getAttribute("data-warning-seconds"), 10) || 120) * 1000;
  var deadline = Date.now() + (parseInt(box.getAttribute("data-idle-seconds"), 10) || 0) * 1000;
  var timer = null;
  var returnFocus = null;

  function goToSignIn() {
    var here = window.location.pathname + window.location.search;
    window.location.assign(box.getAttribute("data-login-url") + "?next=" + encodeURIComponent(here));
  }

  function show() {
    if (!box.hidden) { return; }
    returnFocus = document.activeElement;
    box.hidden = false;
    stay.focus();
  }

  function hide() {
    if (box.hidden) { return; }
    box.hidden = true;
    if (returnFocus && returnFocus.focus) { returnFocus.focus(); }
  }

  function plan() {
    clearTimeout(timer);
    var left = deadline - Date.now();
    if (left <= 0) { check(); return; }
    if (left <= warnMs) {
      show();
      timer = setTimeout(check, left + 500);  // just after the deadline: ask, then leave
    } else {
      hide();
      timer = setTimeout(check, left - warnMs);
    }
  }

  function check() {
    fetch(box.getAttribute("data-status-url"), {
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Helpdesk-Background": "1" }
    }).then(function (resp) {
      if (resp.status === 401) { return { remaining_seconds: 0 }; }
      if (!resp.ok) { throw new Error(String(resp.status)); }
      return resp.json();
    }).then(function (data) {
      if (data.remaining_seconds <= 0) { goToSignIn(); return; }
      deadline = Date.now() + data.remaining_seconds * 1000;
      plan();
    }).catch(function () {
      timer = setTimeout(check, 15000);  // the server is unreachable: try again shortly
    });
  }

  stay.addEventListener("click", function () {
    fetch(box.getAttribute("data-keepalive-url"), {
      method: "POST", credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": box.getAttribute("data-csrf") }
    }).then(function (resp) {
      if (resp.status === 401) { goToSignIn(); return null; }
      if (!resp.ok) { throw new Error(String(resp.status)); }
      return resp.json();
    }).then(function (data) {
      if (!data) { return; }
      deadline = Date.now() + data.remaining_seconds * 1000;
      hide();
      if (status) { status.textContent = box.getAttribute("data-kept-message"); }
      plan();
    }).catch(function () { check(); });
  });

  box.addEventListener("keydown", function (event) {
    if (event.key === "Tab") { event.preventDefault(); stay.focus(); }  // the dialog has one control
  });

  plan();
}());
