/* Agent ticket page: macro search and insert, and the collision indicator.
 *
 * Macros: a search box filters the macro list; "Insert in reply" puts the macro's text
 * (already rendered by the server for this ticket) into the reply box. "Apply" does the
 * same and also sets "Then set status" to the macro's status and remembers the macro, so
 * that Send applies its priority/queue too; nothing is sent until the agent presses Send.
 * Without JavaScript the list is a plain select and both buttons post and come back with
 * the reply pre-filled.
 *
 * Presence: every few seconds the page tells the server whether you are viewing or
 * typing a reply, and shows who else has this request open. If a message arrived
 * since the page loaded, a notice says so (the server also refuses a reply sent
 * without seeing it, so this works without JavaScript too). */
(function () {
  "use strict";
  var reply = document.querySelector("form[action$='/reply'] textarea[name=body]");

  // the conversation scrolls in its own box: start at the newest message
  var thread = document.querySelector("ol.thread-scroll");
  if (thread) { thread.scrollTop = thread.scrollHeight; }

  // ---------------------------------------------------------------- macros
  var select = document.getElementById("macro-select");
  var search = document.getElementById("macro-search");
  var insert = document.getElementById("macro-insert");
  var status = document.getElementById("macro-status");
  if (select && search) {
    search.parentNode.hidden = false;
    var all = Array.prototype.slice.call(select.options);
    search.addEventListener("input", function () {
      var term = search.value.trim().toLowerCase();
      var first = null;
      all.forEach(function (opt) {
        var match = !term || (opt.getAttribute("data-title") || "").indexOf(term) !== -1;
        opt.hidden = !match;
        opt.disabled = !match;
        if (match && first === null) { first = opt; }
      });
      if (first) { select.value = first.value; }
      if (status) { status.textContent = first ? "" : "No macro matches."; }
    });
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); if (insert) { insert.click(); } }
    });
  }
  if (select && insert && reply) {
    insert.addEventListener("click", function (event) {
      var opt = select.options[select.selectedIndex];
      if (!opt || opt.disabled) { event.preventDefault(); return; }
      event.preventDefault();
      var text = opt.getAttribute("data-text") || "";
      var current = reply.value.replace(/\s+$/, "");
      reply.value = current ? current + "\n\n" + text : text;
      reply.focus();
      reply.setSelectionRange(reply.value.length, reply.value.length);
      reply.dispatchEvent(new Event("input", { bubbles: true }));
      if (status) { status.textContent = "Macro inserted in the reply."; }
    });
  }

  var apply = document.getElementById("macro-apply");
  var preview = document.getElementById("macro-preview");
  var replyForm = reply ? reply.form : null;
  if (select && apply && reply && replyForm && preview) {
    apply.addEventListener("click", function (event) {
      var opt = select.options[select.selectedIndex];
      event.preventDefault();
      if (!opt || opt.disabled) { return; }
      var text = opt.getAttribute("data-text") || "";
      var current = reply.value.replace(/\s+$/, "");
      reply.value = current && text ? current + "\n\n" + text : (current || text);
      var macroId = replyForm.querySelector("input[name=macro_id]");
      if (macroId) { macroId.value = opt.value; }
      var next = replyForm.querySelector("select[name=next_status]");
      if (next) { next.value = opt.getAttribute("data-status") || ""; }
      var extra = opt.getAttribute("data-extra") || "";
      preview.hidden = false;
      preview.textContent = "";
      var p = document.createElement("p");
      p.textContent = "Macro “" + (opt.getAttribute("data-name") || "") + "” is in the reply box: edit it, then press Send. Nothing has been sent." +
        (extra ? " On Send it also sets " + extra + "." : "") +
        (opt.getAttribute("data-status") ? " Its status is chosen in “Then set status”." : "");
      preview.appendChild(p);
      reply.focus();
      reply.setSelectionRange(reply.value.length, reply.value.length);
      reply.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }

  // ---------------------------------------------------------------- presence
  var box = document.getElementById("presence");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-url");
  var every = Math.max(2, parseInt(box.getAttribute("data-poll"), 10) || 4) * 1000;
  var loadedLast = parseInt(box.getAttribute("data-last-message-id"), 10) || 0;
  var tokenInput = document.querySelector("input[name=csrf_token]");
  var token = tokenInput ? tokenInput.value : "";
  var typingUntil = 0;
  var timer = null;
  var warned = false;

  function state() { return Date.now() < typingUntil ? "typing" : "viewing"; }

  function show(data) {
    var others = data.others || [];
    var list = box.querySelector(".presence-list");
    if (!list) {
      list = document.createElement("p");
      list.className = "presence-list";
      box.appendChild(list);
    }
    list.textContent = others.length ? "Also here: " + others.map(function (o) {
      return o.name + (o.state === "typing" ? " (typing a reply)" : " (viewing)");
    }).join(", ") : "";
    box.classList.toggle("active", others.length > 0);
    if (!warned && data.last_message_id > loadedLast) {
      warned = true;
      var note = document.createElement("p");
      note.className = "presence-new";
      note.setAttribute("role", "alert");
      note.textContent = "A new message arrived since you opened this page. Reload to read it before you send.";
      box.appendChild(note);
    }
  }

  function beat() {
    clearTimeout(timer);
    var now = state();
    var headers = { "Content-Type": "application/json", "X-CSRFToken": token };
    // A check-in while only viewing is not activity: it must not keep an idle session
    // alive (helpdesk.auth.sessions). One while typing a reply is.
    if (now === "viewing") { headers["X-Helpdesk-Background"] = "1"; }
    fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: headers,
      body: JSON.stringify({ state: now })
    }).then(function (resp) {
      if (!resp.ok) { throw new Error(String(resp.status)); }
      return resp.json();
    }).then(function (data) {
      show(data);
      timer = setTimeout(beat, every);
    }).catch(function () {
      timer = setTimeout(beat, every * 3);  // server unhappy: back off, keep the page usable
    });
  }

  if (reply) {
    reply.addEventListener("input", function () {
      var wasTyping = state() === "typing";
      typingUntil = Date.now() + 8000;
      if (!wasTyping) { beat(); }
    });
  }
  beat();
}());
