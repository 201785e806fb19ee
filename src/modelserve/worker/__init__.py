"""Celery workers: the app and its configuration (``app``), the thin predict task and the
per-process model cache that follows the current version."""
