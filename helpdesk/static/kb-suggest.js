/* Get help: as the patient types, suggest up to three help-centre articles.
 * Same origin only; the text goes in a POST body (never in a URL), debounced.
 * "This answered my question" submits the separate #kb-deflect form: no request is sent.
 * Without JavaScript the server shows the same suggestions as a step before sending. */
(function () {
  "use strict";
  var form = document.getElementById("get-help-form");
  var box = document.getElementById("kb-live");
  var deflect = document.getElementById("kb-deflect");
  if (!form || !box || !deflect || !window.fetch || !window.JSON) { return; }
  var subject = form.querySelector("[name=subject]");
  var body = form.querySelector("[name=body]");
  var tokenInput = form.querySelector("[name=csrf_token]");
  var status = document.getElementById("kb-live-status");
  var list = document.getElementById("kb-live-list");
  var url = box.getAttribute("data-suggest-url");
  if (!subject || !body || !status || !list || !url) { return; }

  // The words shown and announced, in the page's language (data-msg-* on #kb-live).
  function msg(name, fallback) { return box.getAttribute("data-msg-" + name) || fallback; }
  var WORDS = {
    headingOne: msg("heading-one", "This article may answer your question"),
    headingMany: msg("heading-many", "These articles may answer your question"),
    newTab: msg("new-tab", "(opens in a new tab)"),
    answered: msg("answered", "This answered my question"),
    countOne: msg("count-one", "1 suggestion after the description."),
    countMany: msg("count-many", "{n} suggestions after the description.")
  };

  var MIN_CHARS = 8;
  var DELAY_MS = 450;
  var timer = null;
  var lastText = null;
  var controller = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function clearList() {
    while (list.firstChild) { list.removeChild(list.firstChild); }
  }

  function currentText() {
    return (subject.value + "\n" + body.value).trim();
  }

  function markSeen() {
    // The patient has seen suggestions: the final submit sends the request directly.
    if (!form.querySelector("input[name=confirm]")) {
      var confirm = el("input");
      confirm.type = "hidden";
      confirm.name = "confirm";
      confirm.value = "1";
      form.appendChild(confirm);
    }
  }

  function render(data, length) {
    clearList();
    if (data.emergency) {
      var alertBox = el("p", "emergency", data.emergency);
      alertBox.setAttribute("role", "alert");
      list.appendChild(alertBox);
      status.textContent = "";
      return;
    }
    var items = data.articles || [];
    if (!items.length) {
      status.textContent = "";
      return;
    }
    var heading = items.length === 1 ? WORDS.headingOne : WORDS.headingMany;
    list.appendChild(el("h2", "kb-live-h", heading));
    var ul = el("ul", "cards kb-live-cards");
    items.forEach(function (article) {
      var li = el("li", "card");
      var link = el("a");
      link.href = article.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.setAttribute("hreflang", article.language);
      link.appendChild(el("strong", null, article.title));
      link.appendChild(el("span", "sr-only", " " + WORDS.newTab));
      li.appendChild(link);
      var summary = el("p", null, article.summary);
      summary.lang = article.language;
      li.appendChild(summary);
      var button = el("button", "kb-answered", WORDS.answered);
      button.type = "button";
      button.appendChild(el("span", "sr-only", ": " + article.title));
      button.addEventListener("click", function () {
        deflect.elements.namedItem("article_id").value = String(article.id);
        deflect.elements.namedItem("query_length").value = String(length);
        deflect.submit();
      });
      li.appendChild(button);
      ul.appendChild(li);
    });
    list.appendChild(ul);
    status.textContent = heading + ": " +
      (items.length === 1 ? WORDS.countOne : WORDS.countMany.replace("{n}", String(items.length)));
    markSeen();
  }

  function ask() {
    var text = currentText();
    if (text === lastText) { return; }
    lastText = text;
    if (controller) { controller.abort(); }
    if (text.length < MIN_CHARS) {
      clearList();
      status.textContent = "";
      return;
    }
    controller = window.AbortController ? new window.AbortController() : null;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": tokenInput ? tokenInput.value : ""
      },
      body: JSON.stringify({ subject: subject.value, body: body.value }),
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (!response.ok) { throw new Error("suggestions unavailable"); }
      return response.json();
    }).then(function (data) {
      render(data, typeof data.query_length === "number" ? data.query_length : text.length);
    }).catch(function () {
      /* Suggestions are optional: the form works without them. */
    });
  }

  function schedule() {
    if (timer) { window.clearTimeout(timer); }
    timer = window.setTimeout(ask, DELAY_MS);
  }

  subject.addEventListener("input", schedule);
  body.addEventListener("input", schedule);
}());
