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
