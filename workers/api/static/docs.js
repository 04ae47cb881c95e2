// The API reference at /docs: Swagger UI served by this server (no CDN), started here
// rather than in an inline script, which the page's Content-Security-Policy forbids.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
