"""One exception family: ``web`` maps it to HTTP statuses, ``cli`` to exit codes.

On the command line every one of them is a failure (exit status 1); usage errors (status 2)
are click's own, raised before or instead of these.
"""

from __future__ import annotations


class ModelserveError(Exception):
    """An error whose message is meant for the user, as is."""

    exit_code = 1

    def local_message(self) -> str:
        """The message for the person at this machine's command line, which may name local
        paths a remote client is never told."""
        return str(self)


class InvalidInput(ModelserveError):
    """Data given by a user (a CSV, a row, a payload) is malformed.

    ``field`` names the offending field or column; ``line`` the 1-based line of a text source.
    """

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        super().__init__(message)
        self.field = field
        self.line = line


class Unauthorized(ModelserveError):
    """A request lacks the credential the server requires (a bearer token)."""

    field = "Authorization"


class Forbidden(ModelserveError):
    """A request is refused whatever its credentials (a browser posting from another site)."""

    field = "Origin"


class ModelNotFound(ModelserveError):
    """No such model, or no such version of it.

    ``local`` is the message with where it was looked for (the store folder), for the
    command line only: HTTP clients get the message without it.
    """

    def __init__(self, message: str, *, local: str | None = None):
        super().__init__(message)
        self.local = local

    def local_message(self) -> str:
        return self.local or str(self)


class PredictionNotFound(InvalidInput):
    """Feedback names a prediction the log does not hold (unknown, not yet written, or of
    another model)."""


class AlreadyLabelled(InvalidInput):
    """Feedback names a prediction whose true label was given before."""


class InvalidBundle(ModelserveError):
    """A bundle is malformed, incomplete or its files do not match their checksums."""


class StoreConflict(ModelserveError):
    """A store operation cannot apply to the store as it is (e.g. nothing to roll back to)."""


class MissingDependency(ModelserveError):
    """An optional part of modelserve is not installed (e.g. the ``train`` extra)."""


class PayloadTooLarge(InvalidInput):
    """A request carries more rows or bytes than the server accepts."""


class UnsupportedMediaType(InvalidInput):
    """A request body comes in a format the endpoint does not read."""

    def __init__(self, message: str):
        super().__init__(message, field="Content-Type")


class BackendUnavailable(ModelserveError):
    """The broker cannot be reached: the request was not accepted; retrying later may work."""


class DatabaseUnavailable(ModelserveError):
    """The prediction log's database cannot be reached; ``local`` says where, for the command
    line only."""

    def __init__(self, message: str, *, local: str | None = None):
        super().__init__(message)
        self.local = local

    def local_message(self) -> str:
        return f"{self}: {self.local}" if self.local else str(self)


class BundleFetchFailed(ModelserveError):
    """A worker node could not obtain the model version a request names from the web node."""


class BackendFailed(ModelserveError):
    """A worker crashed while running the request."""


class BackendTimeout(ModelserveError):
    """The request was queued but no worker answered within the request timeout."""


class GateFailed(ModelserveError):
    """A model failed a validation gate, so it does not go live."""


# -- errors between nodes -----------------------------------------------------------------------
# A worker answers a web node's task, and a web node a worker's bundle request, with an error
# as data: {"kind": class name, "message": ..., "field": ... or None}. Only these kinds keep
# their class on arrival; any other becomes the receiver's fallback.
_CROSSING = {
    cls.__name__: cls
    for cls in (InvalidInput, PayloadTooLarge, ModelNotFound, InvalidBundle, BundleFetchFailed)
}


def error_document(error: ModelserveError, message: str | None = None) -> dict:
    """``error`` as it crosses the broker; ``message`` replaces its text if given."""
    return {
        "kind": type(error).__name__,
        "message": str(error) if message is None else message,
        "field": getattr(error, "field", None),
    }


def error_from_document(
    document: dict,
    fallback: type[ModelserveError] = ModelserveError,
    context: str = "",
    keep: tuple[type[ModelserveError], ...] | None = None,
) -> ModelserveError:
    """The error a node received as data: of its own class if that may cross (and is among
    ``keep``, when given), else ``fallback``; its message after ``context``."""
    cls = _CROSSING.get(str(document.get("kind")), fallback)
    if keep is not None and cls not in keep:
        cls = fallback
    message = f"{context}{document.get('message')}"
    if issubclass(cls, InvalidInput):
        return cls(message, field=document.get("field"))
    return cls(message)
