"""TensorFlow Serving REST API: ``:predict`` requests to arrays, arrays to responses."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ValidationError

from modelserve.bundles import BundleMetadata
from modelserve.errors import InvalidInput
from modelserve.protocol.decoding import (
    check_finite,
    check_value_count,
    column_to_array,
    invalid,
    rows_to_array,
    too_many_rows,
)
from modelserve.protocol.types import (
    ModelMetadataResponse,
    ModelSpec,
    ModelStatusResponse,
    ModelVersionStatus,
    PredictRequest,
    PredictRows,
    SignatureDef,
    TensorInfo,
)

INPUT_NAME = "features"
SIGNATURE = "serving_default"


def decode_predict(body: bytes, metadata: BundleMetadata, max_rows: int) -> tuple[np.ndarray, str]:
    """The (N, F) batch of a predict request, and its format: ``rows`` or ``columns``."""
    check_value_count(body, metadata.n_features, max_rows)
    names = metadata.feature_names
    rows = _plain_rows(body)
    if rows and len(rows) <= max_rows and all(len(row) == len(names) for row in rows):
        return check_finite(np.asarray(rows, dtype=np.float32), "instances"), "rows"
    try:
        request = PredictRequest.model_validate_json(body)
    except ValidationError as exc:
        raise invalid("body", exc) from exc
    if request.signature_name not in (None, "", SIGNATURE):
        raise InvalidInput(
            f"signature_name: unknown signature {request.signature_name!r}; "
            f"this model has {SIGNATURE!r}",
            field="signature_name",
        )
    if request.instances is not None:
        rows = [_instance(item, i, names) for i, item in enumerate(request.instances)]
        return rows_to_array(rows, "instances", len(names), max_rows), "rows"
    return _columns(request.inputs, names, max_rows), "columns"


def _plain_rows(body: bytes) -> list[list[float]] | None:
    try:
        return PredictRows.model_validate_json(body).instances
    except ValidationError:  # another form, or a mistake: the full reading names it
        return None


def _instance(item: Any, i: int, names: list[str]) -> Any:
    if not isinstance(item, dict):
        return item
    if set(item) == {INPUT_NAME}:
        return item[INPUT_NAME]
    missing = [n for n in names if n not in item]
    unknown = [k for k in item if k not in names]
    if unknown or missing:
        culprit = unknown[0] if unknown else missing[0]
        problem = "is not an input of this model" if unknown else "is missing"
        raise InvalidInput(
            f"instances[{i}].{culprit}: {problem} (inputs: {INPUT_NAME!r}, or each of "
            f"{', '.join(names)})",
            field=f"instances[{i}].{culprit}",
        )
    return [item[n] for n in names]


def _columns(inputs: Any, names: list[str], max_rows: int) -> np.ndarray:
    if isinstance(inputs, list):
        return rows_to_array(inputs, "inputs", len(names), max_rows)
    if set(inputs) == {INPUT_NAME}:
        return rows_to_array(inputs[INPUT_NAME], f"inputs.{INPUT_NAME}", len(names), max_rows)
    for key in inputs:
        if key not in names:
            raise InvalidInput(
                f"inputs.{key}: is not an input of this model", field=f"inputs.{key}"
            )
    for name in names:
        if name not in inputs:
            raise InvalidInput(f"inputs.{name}: is missing", field=f"inputs.{name}")
    columns = [column_to_array(inputs[n], f"inputs.{n}") for n in names]
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        raise InvalidInput("inputs: feature columns differ in length", field="inputs")
    (n_rows,) = lengths
    if n_rows == 0:
        raise InvalidInput("inputs: the batch is empty", field="inputs")
    if n_rows > max_rows:
        raise too_many_rows("inputs", n_rows, max_rows)
    return np.stack(columns, axis=1)


def encode_predict(probabilities: np.ndarray, fmt: str) -> dict[str, Any]:
    values = probabilities.reshape(-1, 1).tolist()
    return {"predictions": values} if fmt == "rows" else {"outputs": values}


def model_status(versions: list[int]) -> ModelStatusResponse:
    return ModelStatusResponse(
        model_version_status=[
            ModelVersionStatus(version=str(v), state="AVAILABLE") for v in sorted(versions)
        ]
    )


def model_metadata(metadata: BundleMetadata) -> ModelMetadataResponse:
    def tensor(name: str, width: int) -> TensorInfo:
        return TensorInfo(
            dtype="DT_FLOAT",
            tensor_shape={
                "dim": [{"size": "-1", "name": ""}, {"size": str(width), "name": ""}],
                "unknown_rank": False,
            },
            name=f"{SIGNATURE}_{name}:0",
        )

    signature = SignatureDef(
        inputs={INPUT_NAME: tensor(INPUT_NAME, metadata.n_features)},
        outputs={metadata.output.name: tensor(metadata.output.name, 1)},
    )
    return ModelMetadataResponse(
        model_spec=ModelSpec(name=metadata.name, version=str(metadata.version)),
        metadata={"signature_def": {"signature_def": {SIGNATURE: signature.model_dump()}}},
    )
