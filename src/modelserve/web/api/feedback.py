"""Feedback: the true class of earlier predictions, by the X-Request-ID they were answered
with. V2's ``/v2/models/<name>/feedback`` and its v1-style twin ``/v1/models/<name>:feedback``
take the same body, ``{"feedback": [{"request_id": ..., "row": 0, "label": 0|1}, ...]}``."""

from __future__ import annotations

from modelserve.monitoring.feedback import attach_labels, decode_feedback
from modelserve.web.api.http import Answer, Request, Route
from modelserve.web.services import Services


def feedback(svc: Services, request: Request) -> Answer:
    name = request.args["name"]
    svc.store.check_known(name)
    accepted = attach_labels(svc.database, name, decode_feedback(request.body))
    return Answer({"accepted": accepted})


ROUTES = (
    Route("/v1/models/<model_name:name>:feedback", feedback, ("POST",), reads="json"),
    Route("/v2/models/<model_name:name>/feedback", feedback, ("POST",), reads="json"),
)
