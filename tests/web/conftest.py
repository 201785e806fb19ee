from __future__ import annotations

import uuid

import pytest
import requests

from modelserve.bundles import ModelStore
from modelserve.settings import demo_bundle_path
from tests.support.processes import Server, Worker

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]


@pytest.fixture(scope="module")
def web_store(tmp_path_factory) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("web") / "store")
    store.seed(demo_bundle_path(), "diabetes")
    return store


@pytest.fixture(scope="module")
def base_env(web_store, pima_csv, tmp_path_factory) -> dict[str, str]:
    return {
        "MODELSERVE_STORE": str(web_store.root),
        "MODELSERVE_RESULTS": str(tmp_path_factory.mktemp("results")),
        "MODELSERVE_DATA": str(pima_csv),
        "MODELSERVE_MAX_BATCH_ROWS": "1000",
        "MODELSERVE_MAX_BODY_BYTES": str(256 * 1024),
        "MODELSERVE_REQUEST_TIMEOUT": "5",
    }


@pytest.fixture(scope="module")
def server(base_env):
    """The embedded-mode server, as ``modelserve serve`` runs it."""
    process = Server(base_env)
    yield process
    process.stop()


TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def token_server(base_env):
    process = Server(
        {**base_env, "MODELSERVE_API_TOKEN": TOKEN, "MODELSERVE_PAGES": "false"}, workers=1
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def celery_env(base_env) -> dict[str, str]:
    # A queue of its own, so nothing else consuming from this broker takes the tests' tasks.
    return {
        **base_env,
        "MODELSERVE_BROKER_URL": BROKER,
        "MODELSERVE_QUEUE": f"modelserve-test-{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture(scope="module")
def celery_worker(celery_env):
    process = Worker(celery_env, concurrency=2)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def celery_server(celery_env, celery_worker):
    process = Server(celery_env)
    yield process
    process.stop()


@pytest.fixture
def http() -> requests.Session:
    with requests.Session() as session:
        yield session
