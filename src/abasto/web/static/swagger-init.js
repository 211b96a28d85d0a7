// Swagger UI for /docs, started here and not inline: the Content-Security-Policy refuses inline
// scripts. The options are those FastAPI's get_swagger_ui_html uses.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
