/* The patient pages' header on a narrow screen: the menu (navigation, account, sign out)
 * folds behind one button so the header stays small. Without this script the menu simply
 * shows (progressive enhancement); on a wide screen the button stays hidden by CSS. */
(function () {
  "use strict";
  var header = document.querySelector("header.patient-top");
  if (!header) { return; }
  var toggle = header.querySelector(".menu-toggle");
  var menu = document.getElementById("site-menu");
  if (!toggle || !menu) { return; }
  toggle.hidden = false;
  header.classList.add("has-menu");
  function setOpen(open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("menu-open", open);
  }
  toggle.addEventListener("click", function () {
    setOpen(toggle.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      toggle.focus();
    }
  });
}());
