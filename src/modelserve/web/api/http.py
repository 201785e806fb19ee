"""The HTTP side of the JSON APIs: what a handler receives and returns, and the checks every
request passes on its way in (bearer token, Content-Type, body size and completeness)."""

from __future__ import annotations

import hmac
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from modelserve.errors import (
    Forbidden,
    InvalidInput,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from modelserve.web.documents import json_body

if TYPE_CHECKING:
    from modelserve.web.services import Services

JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"
# What `curl -d` (the TensorFlow Serving documentation's examples) and a bare client send.
# Browsers send them cross-site without asking first, so they are read only when the API needs
# a bearer token, which no cross-site request carries.
LENIENT_TYPES = ("application/x-www-form-urlencoded", "text/plain")
_READ_SIZE = 64 * 1024
DRAIN_FACTOR = 4
BODY_READ = "modelserve.body_read"  # set in the WSGI environ once the whole body is read


@dataclass(frozen=True)
class Request:
    """One API request as a handler sees it: URL arguments and, for a POST, its whole body."""

    environ: dict
    args: Mapping[str, Any]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))


@dataclass(frozen=True)
class Answer:
    """A handler's answer; ``document`` is written as JSON unless ``body`` is given."""

    document: Any = None
    status: int = 200
    body: bytes | None = None
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()

    def encoded(self) -> bytes:
        return self.body if self.body is not None else json_body(self.document)


Handler = Callable[["Services", Request], Answer]


@dataclass(frozen=True)
class Route:
    rule: str  # werkzeug's rule syntax; also the route's name in logs and metrics
    handler: Handler
    methods: tuple[str, ...] = ("GET",)
    reads: str | None = None  # POST bodies: "json", or "binary" (JSON or the V2 binary type)
    token: bool = True  # whether a configured bearer token is required


def token_matches(authorization: str, token: SecretStr) -> bool:
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.get_secret_value().encode()
    )


def check_token(environ: dict, token: SecretStr | None) -> None:
    if token is not None and not token_matches(environ.get("HTTP_AUTHORIZATION", ""), token):
        raise Unauthorized("missing or wrong bearer token")


def check_content_type(environ: dict, *, binary: bool, lenient: bool) -> None:
    """JSON (or the V2 binary type where the route reads it); the types a browser sends
    cross-site only when a bearer token guards the API. No Content-Type at all is read as
    JSON (tritonclient sends none); a browser sending none from another site says so in
    ``Origin`` (:func:`check_origin`)."""
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if not mimetype or mimetype == JSON_TYPE or mimetype.endswith("+json"):
        return
    if (binary and mimetype == BINARY_TYPE) or (lenient and mimetype in LENIENT_TYPES):
        return
    raise UnsupportedMediaType(
        f"Content-Type {mimetype!r} is not accepted; send {JSON_TYPE}"
        + (f" or {BINARY_TYPE} with Inference-Header-Content-Length" if binary else "")
    )


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def hosts_for(listen_host: str) -> frozenset[str] | None:
    """The host names a browser may use for a server listening on ``listen_host``: loopback
    names and the address itself; None (any) for a wildcard address."""
    if listen_host in ("0.0.0.0", "::", ""):
        return None
    return LOOPBACK_NAMES | {f"[{listen_host}]" if ":" in listen_host else listen_host}


def check_origin(environ: dict, hosts: frozenset[str] | None) -> None:
    """Without a token, refuse what a browser sends on another site's behalf: an ``Origin``
    other than the server itself, or a ``Host`` that is not one of the server's own names (a
    page whose domain was made to resolve to this address, DNS rebinding)."""
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return
    host = environ.get("HTTP_HOST", "")
    name = host[: host.find("]") + 1] if host.startswith("[") else host.rsplit(":", 1)[0]
    if origin.partition("://")[2].rstrip("/") != host or (hosts is not None and name not in hosts):
        raise Forbidden(f"requests from {origin} are not accepted without a bearer token")


def read_body(environ: dict, limit: int) -> bytes:
    """The whole body, decompressed, at most ``limit`` bytes; refused while it arrives, not
    after, when it is longer, and refused when it ends before its Content-Length."""
    stream = environ["wsgi.input"]
    given = environ.get("CONTENT_LENGTH") or ""
    if given:
        if not (given.isascii() and given.isdigit()):
            raise InvalidInput(f"Content-Length {given!r} is not a number", field="Content-Length")
        length = int(given)
        if length > limit:
            raise _too_large(limit)
        body = _read_exactly(stream, length)
        if len(body) < length:
            raise InvalidInput(
                f"the body ended after {len(body)} of its {length} bytes", field="body"
            )
    else:  # chunked, or HTTP/2 without a length: to its end (empty at once when it has none)
        body = _read_to_end(stream, limit)
    environ[BODY_READ] = True
    return _decoded(body, environ.get("HTTP_CONTENT_ENCODING", ""), limit)


def _read_exactly(stream, length: int) -> bytes:
    """Up to ``length`` bytes, fewer if the body ends first.

    A large body is read in parts into one buffer of its announced size: neither the server
    nor the allocator's per-thread arenas are left holding body-sized blocks afterwards.
    """
    if length <= _READ_SIZE:
        return stream.read(length) if length else b""
    buffer, received = bytearray(length), 0
    while received < length and (chunk := stream.read(min(length - received, _READ_SIZE))):
        buffer[received : received + len(chunk)] = chunk
        received += len(chunk)
    return bytes(buffer) if received == length else bytes(buffer[:received])


def _read_to_end(stream, limit: int) -> bytes:
    parts, size = [], 0
    while chunk := stream.read(_READ_SIZE):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def _decoded(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo the Content-Encoding clients such as tritonclient may apply, within the limit."""
    encoding = encoding.strip().lower() or "identity"
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not accepted")
    # gzip: a gzip header; deflate: a zlib stream, as HTTP means by "deflate".
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"the body is not valid {encoding} data", field="body") from exc
    if len(data) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"the decompressed body exceeds the limit of {limit} bytes", field="body"
        )
    if not inflater.eof or inflater.unused_data:
        raise InvalidInput(f"the body is not one complete {encoding} stream", field="body")
    return data


def drain(environ: dict, limit: int) -> None:
    """Read and drop the rest of a refused body, so that a client still sending it receives
    the answer rather than a reset connection. Only up to a few times the limit: a body
    announced beyond that is left unread (the connection then closes after the answer)."""
    if environ.get(BODY_READ):
        return
    most = DRAIN_FACTOR * limit
    given = environ.get("CONTENT_LENGTH") or ""
    if given.isascii() and given.isdigit() and int(given) > most:
        return
    stream = environ["wsgi.input"]
    while most > 0 and (chunk := stream.read(min(most, _READ_SIZE))):
        most -= len(chunk)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body exceeds the limit of {limit} bytes", field="body")
