"""Flask's JSON through orjson: the same documents, written in a fraction of the time."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import JSONProvider


class OrjsonProvider(JSONProvider):
    """Keys keep their order (the protocols' field order); responses end with a newline, as
    Flask's own provider writes them."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = orjson.dumps(
            self._prepare_response_obj(args, kwargs),
            option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE,
        )
        return self._app.response_class(body, mimetype="application/json")
