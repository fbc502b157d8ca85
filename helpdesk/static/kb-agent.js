/* Agent ticket page: "Insert" puts a help-centre article's title (as a link) and a short
 * excerpt into the reply box — the version in the patient's language when there is one —
 * and notes the article in the reply form, so that sending the reply links the article to
 * the request ("resolved with") if its link is still in the text. Without JavaScript the
 * link reloads the page with the reply pre-filled (?kb_insert=<id>). */
(function () {
  "use strict";
  var textarea = document.querySelector("form[action$='/reply'] textarea[name=body]");
  var status = document.getElementById("kb-insert-status");
  if (!textarea) { return; }
  var links = document.querySelectorAll("a.kb-insert[data-kb-insert]");
  Array.prototype.forEach.call(links, function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      var text = link.getAttribute("data-kb-insert") || "";
      var current = textarea.value.replace(/\s+$/, "");
      textarea.value = current ? current + "\n\n" + text : text;
      textarea.focus();
      textarea.setSelectionRange(textarea.value.length, textarea.value.length);
      var id = link.getAttribute("data-kb-article");
      if (id && textarea.form && !textarea.form.querySelector("input[name=kb_article][value='" + id + "']")) {
        var hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = "kb_article";
        hidden.value = id;
        textarea.form.appendChild(hidden);
      }
      if (status) { status.textContent = "Inserted in the reply: " + (link.getAttribute("data-kb-title") || ""); }
    });
  });
}());
