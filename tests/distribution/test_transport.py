"""Bundles between nodes over the machine's RabbitMQ: the web node's server, a worker's fetch."""

from __future__ import annotations

import io
import logging
import tarfile
import time
import uuid

import kombu
import pytest

from modelserve.bundles import ModelStore
from modelserve.bundles.archive import pack
from modelserve.distribution import server as bundle_server
from modelserve.distribution.client import fetch_bundle
from modelserve.distribution.server import BundleServer
from modelserve.distribution.wire import request_queue
from modelserve.errors import BundleFetchFailed, InvalidBundle, ModelNotFound
from modelserve.settings import Settings
from modelserve.worker.app import create_celery

BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def queue() -> str:
    return f"transport-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def app(queue):
    return create_celery(Settings(broker_url=BROKER, queue=queue))


@pytest.fixture
def serving(app, demo_store, queue):
    server = BundleServer(app, demo_store, queue).start()
    assert server.connected.wait(10)
    yield demo_store
    server.stop()


def test_a_worker_gets_the_exact_archive_of_the_web_nodes_version(app, serving, queue):
    archive = fetch_bundle(app, queue, "diabetes", 1, timeout=5)
    assert archive == pack(serving.bundle("diabetes", 1))


def test_large_bundles_travel_in_parts(app, serving, queue, monkeypatch, caplog):
    monkeypatch.setattr(bundle_server, "PART_BYTES", 1000)
    caplog.set_level(logging.INFO, logger="modelserve.distribution.server")
    archive = fetch_bundle(app, queue, "diabetes", 1, timeout=5)
    assert archive == pack(serving.bundle("diabetes", 1))
    parts = -(-len(archive) // 1000)
    assert parts > 5
    assert f"sent diabetes version 1 ({len(archive)} bytes in {parts} parts)" in caplog.messages
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert "weights.npz" in tar.getnames()


def test_a_missing_version_is_refused_by_name(app, serving, queue):
    with pytest.raises(ModelNotFound) as error:
        fetch_bundle(app, queue, "diabetes", 9, timeout=5)
    assert str(error.value) == (
        "version 9 of 'diabetes': the web node refused: model 'diabetes' has no version 9"
    )


def test_a_copy_damaged_on_the_web_node_is_refused_at_its_source(app, serving, queue):
    weights = serving.bundle("diabetes", 1).path / "weights.npz"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(InvalidBundle) as error:
        fetch_bundle(app, queue, "diabetes", 1, timeout=5)
    assert str(error.value) == (
        "version 1 of 'diabetes': the web node refused: "
        "diabetes/1/weights.npz: checksum does not match the metadata"
    )


def test_no_web_node_is_reported_after_the_timeout(app, queue):
    started = time.monotonic()
    with pytest.raises(BundleFetchFailed, match="no web node answered within 1 s"):
        fetch_bundle(app, queue, "diabetes", 1, timeout=1)
    assert 1 <= time.monotonic() - started < 3


def test_an_unreachable_broker_is_reported_at_once(queue):
    dead = create_celery(Settings(broker_url="amqp://guest:guest@127.0.0.1:1//", queue=queue))
    started = time.monotonic()
    with pytest.raises(BundleFetchFailed, match="cannot reach the message broker"):
        fetch_bundle(dead, queue, "diabetes", 1, timeout=5)
    assert time.monotonic() - started < 3


def test_a_worker_store_fills_from_the_web_node(app, serving, queue, tmp_path):
    from modelserve.runtime import ModelCache

    worker_store = ModelStore(tmp_path / "worker")
    cache = ModelCache(
        worker_store, fetch=lambda name, version: fetch_bundle(app, queue, name, version, 5)
    )
    wanted = serving.bundle("diabetes", 1)
    runtime = cache.get("diabetes", 1, wanted.digest)
    assert runtime.digest == wanted.digest and worker_store.versions("diabetes") == [1]


def test_answers_go_to_a_direct_reply_to_only(app, serving, queue):
    # A request naming another queue (say, a web process's replies) as its reply-to would
    # make the server publish bundles there: it is dropped instead.
    victim = kombu.Queue(f"victim-{queue}", durable=False, auto_delete=False)
    with kombu.Connection(BROKER) as connection:
        channel = connection.channel()
        victim(channel).declare()
        kombu.Producer(channel).publish(
            {"model": "diabetes", "version": 1},
            routing_key=request_queue(queue).name,
            declare=[request_queue(queue)],
            reply_to=victim.name,
            serializer="json",
        )
        # Requests are handled in order: once a later one is answered, that one was too.
        assert fetch_bundle(app, queue, "diabetes", 1, timeout=5)
        assert channel.queue_declare(victim.name, passive=True).message_count == 0
        channel.queue_delete(victim.name)


@pytest.mark.parametrize(
    ("body", "kind"), [(b"nonsense", "InvalidInput"), (b'{"model": "x"}', "InvalidInput")]
)
def test_malformed_requests_are_refused(app, demo_store, queue, body, kind):
    server = BundleServer(app, demo_store, queue)
    with pytest.raises(Exception) as refusal:
        server._answer(body)
    assert refusal.value.document["kind"] == kind
