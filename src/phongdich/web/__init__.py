"""Server-rendered pages (Jinja2), request dependencies and error rendering."""
