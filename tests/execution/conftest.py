import pytest

from tests.support.proxy import TcpProxy
from tests.web.conftest import (  # noqa: F401 - shared fixtures
    base_env,
    celery_env,
    celery_server,
    celery_worker,
    server,
    web_store,
)


@pytest.fixture
def proxy():
    """A way to the machine's RabbitMQ that the test can cut, restore, stall and resume."""
    proxy = TcpProxy(("127.0.0.1", 5672))
    proxy.start()
    yield proxy
    proxy.stop()
