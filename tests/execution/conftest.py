from tests.web.conftest import (  # noqa: F401 - shared fixtures
    base_env,
    celery_env,
    celery_server,
    celery_worker,
    server,
    web_store,
)
