"""Edge cases of the application, through Flask's test client (no server needed)."""

import pytest

from modelserve.settings import Settings
from modelserve.web.app import create_app


@pytest.fixture
def client(demo_store, pima_csv):
    app = create_app(Settings(store=demo_store.root, data=pima_csv))
    return app.test_client()


def test_models_page_reports_unreadable_parts_in_place(client, demo_store):
    broken = demo_store.root / "diabetes" / "7"
    broken.mkdir()
    (broken / "metadata.json").write_text("{not json")
    with open(demo_store.root / "diabetes" / "history.jsonl", "a") as history:
        history.write("garbage\n")
    page = client.get("/models")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "version 7:" in text and "invalid metadata" in text
    assert "unreadable at line 2" in text
    assert "<td>1</td><td>current</td>" in text


def test_responses_keep_the_protocol_field_order(client):
    body = client.get("/v1/models/diabetes/metadata").get_data(as_text=True)
    assert body.index('"model_spec"') < body.index('"metadata"')


def test_json_answers_write_what_flasks_own_provider_writes(client):
    import datetime
    import decimal

    import numpy as np

    json = client.application.json
    document = {"at": datetime.date(2026, 1, 2), "price": decimal.Decimal("1.5"), 1: np.int64(3)}
    assert json.loads(json.dumps(document)) == {
        "at": "Fri, 02 Jan 2026 00:00:00 GMT",
        "price": "1.5",
        "1": 3,
    }
    with pytest.raises(TypeError):
        json.dumps({"unknown": object()})


def test_a_log_line_is_written_even_with_what_orjson_refuses():
    import json
    import logging

    from modelserve.logs import JsonFormatter

    record = logging.makeLogRecord({"msg": "odd \udc80 path", "big": 2**70})
    line = json.loads(JsonFormatter().format(record))
    assert line["big"] == 2**70 and line["message"] == "odd \udc80 path"
