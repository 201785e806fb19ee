"""A web server and a worker with stores of their own, over the machine's RabbitMQ."""

from __future__ import annotations

import uuid

import requests

from modelserve.bundles import ModelStore
from modelserve.settings import demo_bundle_path
from tests.support.bundles import make_bundle
from tests.support.processes import Server, Worker
from tests.web.conftest import BROKER, ROW


def test_a_version_damaged_at_its_source_fails_by_name_and_others_keep_serving(tmp_path):
    web_store = ModelStore(tmp_path / "web")
    web_store.seed(demo_bundle_path(), "diabetes")
    web_store.add(make_bundle(tmp_path / "revised", "revised"))
    common = {"MODELSERVE_BROKER_URL": BROKER, "MODELSERVE_QUEUE": f"served-{uuid.uuid4().hex}"}
    worker_store = ModelStore(tmp_path / "worker")
    worker = Worker(
        {**common, "MODELSERVE_STORE": str(worker_store.root), "MODELSERVE_SEED_DEMO": "false"}
    )
    server = Server({**common, "MODELSERVE_STORE": str(web_store.root)}, workers=1)
    url = f"{server.url}/v1/models/diabetes"
    try:
        first = requests.post(f"{url}:predict", json={"instances": [ROW]}, timeout=30)
        assert first.status_code == 200 and first.headers["X-Model-Version"] == "1"
        assert worker_store.versions("diabetes") == [1]
        # The web server checks rows against version 2, loaded while it was sound ...
        assert requests.get(f"{url}/versions/2", timeout=30).status_code == 200
        weights = web_store.bundle("diabetes", 2).path / "weights.npz"
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
        # ... but the copy a worker would fetch no longer matches its checksum.
        damaged = requests.post(f"{url}/versions/2:predict", json={"instances": [ROW]}, timeout=30)
        assert damaged.status_code == 503
        assert damaged.json()["error"] == (
            "version 2 of 'diabetes': the web node refused: "
            "diabetes/2/weights.npz: checksum does not match the metadata"
        )
        assert worker_store.versions("diabetes") == [1]
        again = requests.post(f"{url}:predict", json={"instances": [ROW]}, timeout=30)
        assert again.status_code == 200 and again.json() == first.json()
    finally:
        server.stop()
        worker.stop()
