"""The web front end: the Flask application factory (``app``), blueprints for the pages, both
JSON APIs and operations, and the gunicorn server (``server``)."""
