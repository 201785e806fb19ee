"""The web front end: one WSGI application (``app``) made of the JSON APIs (``api``) and the
HTML pages (``site``, ``pages``), observed by ``observability``, served by ``server``."""
