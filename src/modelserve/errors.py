"""One exception family: ``web`` maps it to HTTP statuses, ``cli`` to exit codes."""

from __future__ import annotations


class ModelserveError(Exception):
    """An error whose message is meant for the user, as is."""

    exit_code = 2


class InvalidInput(ModelserveError):
    """Data given by a user (a CSV, a row, a payload) is malformed.

    ``field`` names the offending field or column; ``line`` the 1-based line of a text source.
    """

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        super().__init__(message)
        self.field = field
        self.line = line


class ModelNotFound(ModelserveError):
    """No such model, or no such version of it."""


class InvalidBundle(ModelserveError):
    """A bundle is malformed, incomplete or its files do not match their checksums."""


class StoreConflict(ModelserveError):
    """A store operation cannot apply to the store as it is (e.g. nothing to roll back to)."""


class MissingDependency(ModelserveError):
    """An optional part of modelserve is not installed (e.g. the ``train`` extra)."""

    exit_code = 1


class PayloadTooLarge(InvalidInput):
    """A request carries more rows or bytes than the server accepts."""


class UnsupportedMediaType(InvalidInput):
    """A request body comes in a format the endpoint does not read."""

    def __init__(self, message: str):
        super().__init__(message, field="Content-Type")


class BackendUnavailable(ModelserveError):
    """The broker cannot be reached: the request was not accepted; retrying later may work."""

    exit_code = 1


class BundleFetchFailed(ModelserveError):
    """A worker node could not obtain the model version a request names from the web node."""

    exit_code = 1


class BackendFailed(ModelserveError):
    """A worker crashed while running the request."""

    exit_code = 1


class BackendTimeout(ModelserveError):
    """The request was queued but no worker answered within the request timeout."""

    exit_code = 1


class GateFailed(ModelserveError):
    """A model failed a validation gate, so it does not go live."""

    exit_code = 1
