/* Clinical alerts banner: polls the signed-in staff member's unacknowledged alerts every
 * few seconds and redraws the list, so a new alert appears without a reload. The list is
 * rendered by the server on every page too (this script only keeps it current).
 * Polls are background requests: they never keep an idle session alive. */
(function () {
  "use strict";
  var box = document.getElementById("clinical-alerts");
  var list = document.getElementById("clinical-alerts-list");
  if (!box || !list) { return; }
  var url = box.getAttribute("data-poll-url");
  var csrf = box.getAttribute("data-csrf");
  var next = box.getAttribute("data-next") || "/";
  var every = 3000;
  var title = document.title;

  function hidden(name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    return input;
  }

  function item(a) {
    var li = document.createElement("li");
    li.setAttribute("data-alert-id", String(a.id));
    var strong = document.createElement("strong");
    strong.textContent = "Possible emergency";
    li.appendChild(strong);
    li.appendChild(document.createTextNode(" (" + a.category + ") in request "));
    var link = document.createElement("a");
    link.href = a.ticket_url;
    link.textContent = a.reference;
    li.appendChild(link);
    var text = ", raised at " + a.raised_local + " (" + a.minutes_open + " min ago)";
    if (a.round) { text += ", escalated " + a.round + " time" + (a.round > 1 ? "s" : ""); }
    li.appendChild(document.createTextNode(text + ". "));
    var form = document.createElement("form");
    form.method = "post";
    form.action = a.ack_url;
    form.className = "inline";
    form.appendChild(hidden("csrf_token", csrf));
    form.appendChild(hidden("next", next));
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "primary";
    button.textContent = "Acknowledge";
    var sr = document.createElement("span");
    sr.className = "sr-only";
    sr.textContent = " " + a.reference;
    button.appendChild(sr);
    form.appendChild(button);
    li.appendChild(form);
    return li;
  }

  function show(alerts) {
    var shown = Array.prototype.map.call(list.children, function (li) { return li.getAttribute("data-alert-id"); });
    var wanted = alerts.map(function (a) { return String(a.id); });
    if (shown.join(",") !== wanted.join(",")) {
      while (list.firstChild) { list.removeChild(list.firstChild); }
      alerts.forEach(function (a) { list.appendChild(item(a)); });
    }
    box.hidden = alerts.length === 0;
    document.title = alerts.length ? "(" + alerts.length + ") Clinical alert · " + title : title;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json", "X-Helpdesk-Background": "1" } })
      .then(function (resp) {
        if (!resp.ok) { throw new Error(String(resp.status)); }
        return resp.json();
      })
      .then(function (data) {
        show(data.alerts || []);
        setTimeout(poll, every);
      })
      .catch(function () { setTimeout(poll, every * 5); });  // signed out or server unhappy: back off
  }
  setTimeout(poll, every);
}());
