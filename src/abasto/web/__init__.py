"""Web application: JSON API, server-rendered pages, templates and static files."""
