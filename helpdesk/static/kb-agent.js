/* Agent ticket page: "Insert" puts a help-centre article's title, link and summary
 * into the reply box. Without JavaScript the link reloads the page with the reply
 * pre-filled (?kb_insert=<id>). */
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
      if (status) { status.textContent = "Inserted in the reply: " + text.split("\n")[0]; }
    });
  });
}());
