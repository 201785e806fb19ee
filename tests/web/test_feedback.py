"""Feedback over HTTP: the answers clients rely on, and the token rules of the JSON APIs."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.support.metrics import logged_rows, samples, wait_until_logged
from tests.web.conftest import ROW, TOKEN

FEEDBACK = "/v2/models/diabetes/feedback"


def _logged_prediction(url: str, headers: dict | None = None) -> str:
    before = sum(logged_rows(samples(url)).values())
    key = f"fb-{uuid.uuid4().hex[:12]}"
    answer = requests.post(
        f"{url}/v1/models/diabetes:predict",
        json={"instances": [ROW]},
        headers={"X-Request-ID": key, **(headers or {})},
    )
    assert answer.status_code == 200
    wait_until_logged(url, before + 1)
    return key


@pytest.mark.parametrize("path", [FEEDBACK, "/v1/models/diabetes:feedback"])
def test_feedback_answers_accepted_then_refuses_a_second_label(server, path):
    key = _logged_prediction(server.url)
    body = {"feedback": [{"request_id": key, "label": 1}]}
    first = requests.post(server.url + path, json=body)
    assert (first.status_code, first.json()) == (200, {"accepted": 1})
    again = requests.post(server.url + path, json=body)
    assert again.status_code == 409
    assert again.json()["field"] == "feedback[0].label"
    assert key in again.json()["error"]


@pytest.mark.parametrize(
    ("feedback", "status", "field"),
    [
        ([{"request_id": "never-served", "label": 1}], 404, "feedback[1].request_id"),
        ([{"request_id": "{key}", "label": 0}], 400, "feedback[1].request_id"),
        ([{"request_id": "x", "label": "1"}], 400, "feedback[1].label"),
        ([{"request_id": "x"}], 400, "feedback[1].label"),
    ],
    ids=["unknown", "repeated", "label-as-text", "no-label"],
)
def test_a_refused_call_names_the_field_and_records_nothing(server, feedback, status, field):
    key = _logged_prediction(server.url)
    given = [{"request_id": key, "label": 1}]
    given += [{**item, "request_id": item["request_id"].format(key=key)} for item in feedback]
    answer = requests.post(server.url + FEEDBACK, json={"feedback": given})
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field
    # Nothing was half-written: the first label, valid on its own, is still accepted.
    answer = requests.post(server.url + FEEDBACK, json={"feedback": given[:1]})
    assert answer.json() == {"accepted": 1}


def test_feedback_for_an_unknown_model_is_404(server):
    answer = requests.post(
        f"{server.url}/v2/models/nosuch/feedback",
        json={"feedback": [{"request_id": "a", "label": 1}]},
    )
    assert answer.status_code == 404


def test_feedback_needs_the_token_when_the_api_does(token_server):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    key = _logged_prediction(token_server.url, auth)
    body = {"feedback": [{"request_id": key, "label": 0}]}
    assert requests.post(token_server.url + FEEDBACK, json=body).status_code == 401
    answer = requests.post(token_server.url + FEEDBACK, json=body, headers=auth)
    assert answer.json() == {"accepted": 1}
