"""The error format nodes exchange over the broker, defined once in ``modelserve.errors``."""

import json

from modelserve import errors


def test_an_error_crosses_as_data_and_keeps_its_class_and_field():
    sent = errors.PayloadTooLarge("rows: too many", field="rows")
    document = json.loads(json.dumps(errors.error_document(sent)))  # as it travels
    received = errors.error_from_document(document)
    assert type(received) is errors.PayloadTooLarge
    assert str(received) == "rows: too many" and received.field == "rows"


def test_kinds_that_may_not_cross_become_the_fallback():
    document = errors.error_document(errors.StoreConflict("nothing to roll back"))
    assert type(errors.error_from_document(document)) is errors.ModelserveError
    refused = errors.error_document(errors.InvalidInput("bad request"))
    received = errors.error_from_document(
        refused, errors.BundleFetchFailed, "version 2: ", keep=(errors.InvalidBundle,)
    )
    assert type(received) is errors.BundleFetchFailed
    assert str(received) == "version 2: bad request"
