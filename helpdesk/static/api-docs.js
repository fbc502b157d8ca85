// Starts Swagger UI from a file (the CSP allows no inline script).
(function () {
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: el.getAttribute("data-spec-url"), dom_id: "#swagger-ui", deepLinking: true });
})();
