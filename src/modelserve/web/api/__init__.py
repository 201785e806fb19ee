"""The JSON APIs (TensorFlow Serving's v1, the Open Inference Protocol V2, operations) as one
WSGI application: routes in ``v1``, ``v2`` and ``ops``; the checks of every request in
``http``; routing, error mapping and answering in ``app``."""

from modelserve.web.api.app import PREFIXES, JsonApi

__all__ = ["PREFIXES", "JsonApi"]
