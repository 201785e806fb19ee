"""Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.

They need no token: an orchestrator or a scraper calls them, and they reveal no prediction.
"""

from __future__ import annotations

from modelserve.web.api.http import Answer, Request, Route
from modelserve.web.openapi import openapi_document
from modelserve.web.services import Services


def healthz(svc: Services, request: Request) -> Answer:
    return Answer({"status": "alive"})


def readyz(svc: Services, request: Request) -> Answer:
    readiness = svc.executor.readiness(svc.settings.model)
    document = {"ready": readiness.ready, "mode": svc.executor.mode, **readiness.checks}
    return Answer(document, 200 if readiness.ready else 503)


def metrics(svc: Services, request: Request) -> Answer:
    body, content_type = svc.metrics.exposition()
    return Answer(body=body, content_type=content_type)


def openapi(svc: Services, request: Request) -> Answer:
    return Answer(openapi_document())


ROUTES = (
    Route("/healthz", healthz, token=False),
    Route("/readyz", readyz, token=False),
    Route("/metrics", metrics, token=False),
    Route("/openapi.json", openapi, token=False),
)
