/* A preview of the files a form will send: name, size and (for images the browser can
 * show) a small picture read locally with FileReader — nothing leaves the device before
 * the form is sent. The site's limits (count, size per file, size together) are checked
 * here so that a too-large choice is caught before sending; the server checks them
 * again, with the type by content and the virus scan. Without JavaScript nothing
 * changes: the form sends the files and the server answers. */
(function () {
  "use strict";
  var box = document.getElementById("file-preview");
  var input = document.getElementById("attachments");
  if (!box || !input) { return; }
  var form = input.form;
  var list = box.querySelector(".file-list");
  var error = box.querySelector("#file-preview-error");
  var heading = box.querySelector(".file-preview-h");
  var clear = box.querySelector(".file-clear");
  var lang = document.documentElement.lang || "en";
  var maxFiles = parseInt(box.dataset.maxFiles, 10);
  var maxBytes = parseInt(box.dataset.maxBytes, 10);
  var maxTotal = parseInt(box.dataset.maxTotal, 10);
  var SHOWN = ["image/png", "image/jpeg", "image/gif", "image/webp"];
  heading.textContent = box.dataset.msgHeading;
  clear.textContent = box.dataset.msgRemove;

  function size(bytes) {
    if (bytes < 1048576) {
      return box.dataset.msgKb.replace("{n}", Math.max(1, Math.round(bytes / 1024)).toLocaleString(lang));
    }
    return box.dataset.msgMb.replace("{n}", (bytes / 1048576).toLocaleString(lang, {maximumFractionDigits: 1}));
  }

  function problems(files) {
    var out = [];
    var total = 0;
    if (files.length > maxFiles) { out.push(box.dataset.msgTooMany); }
    for (var i = 0; i < files.length; i++) {
      total += files[i].size;
      if (files[i].size > maxBytes) { out.push(box.dataset.msgTooBig.replace("{name}", files[i].name)); }
    }
    if (total > maxTotal) { out.push(box.dataset.msgTotal); }
    return out;
  }

  function render() {
    var files = input.files || [];
    while (list.firstChild) { list.removeChild(list.firstChild); }
    box.hidden = files.length === 0;
    for (var i = 0; i < files.length; i++) {
      var f = files[i];
      var li = document.createElement("li");
      if (SHOWN.indexOf(f.type) !== -1 && f.size <= maxBytes) {
        var img = document.createElement("img");
        img.className = "thumb";
        img.alt = "";
        img.width = 64;
        img.height = 64;
        var reader = new FileReader();
        reader.onload = (function (target) {
          return function (event) { target.src = event.target.result; };
        })(img);
        reader.readAsDataURL(f);
        li.appendChild(img);
      }
      var name = document.createElement("span");
      name.className = "file-name";
      name.textContent = f.name;
      var meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = " (" + size(f.size) + ")";
      li.appendChild(name);
      li.appendChild(meta);
      list.appendChild(li);
    }
    var found = problems(files);
    error.textContent = found.join(" ");
    input.setAttribute("aria-invalid", found.length ? "true" : "false");
    return found;
  }

  input.addEventListener("change", render);
  clear.addEventListener("click", function () {
    input.value = "";
    render();
    input.focus();
  });
  if (form) {
    form.addEventListener("submit", function (event) {
      if (render().length) {  // too many or too large: nothing is sent, the typed text stays
        event.preventDefault();
        input.focus();
      }
    });
  }
  render();
})();
