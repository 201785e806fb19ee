"""Open Inference Protocol V2 (KServe / Triton REST), with Triton's binary tensor extension.

A request body is JSON, or (binary extension) a JSON header of ``Inference-Header-Content-Length``
bytes followed by the raw little-endian tensors its inputs announce in
``parameters.binary_data_size``. Answers come back the same way when the client asks for
binary outputs, as ``tritonclient`` does by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from modelserve import __version__
from modelserve.bundles import BundleMetadata
from modelserve.errors import InvalidInput
from modelserve.evaluation import classify
from modelserve.protocol.decoding import (
    check_finite,
    check_value_count,
    column_to_array,
    invalid,
    rows_to_array,
    too_many_rows,
)
from modelserve.protocol.types import (
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
    MetadataServerResponse,
    MetadataTensor,
    ResponseOutput,
)
from modelserve.protocol.v1 import INPUT_NAME

CLASS_OUTPUT = "class"
FLOAT_TYPES = {"FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}
BINARY_HEADER = "Inference-Header-Content-Length"


@dataclass(frozen=True)
class DecodedInfer:
    batch: np.ndarray
    request: InferenceRequest
    outputs: list[str]
    binary_outputs: set[str]


def decode_infer(
    body: bytes, header_length: str | None, metadata: BundleMetadata, max_rows: int
) -> DecodedInfer:
    json_part, binary = _split(body, header_length)
    check_value_count(json_part, metadata.n_features, max_rows)
    try:
        request = InferenceRequest.model_validate_json(json_part)
    except ValidationError as exc:
        raise invalid("body", exc) from exc
    if len(request.inputs) != 1:
        raise InvalidInput(
            f"inputs: this model takes one input, {INPUT_NAME!r}; got {len(request.inputs)}",
            field="inputs",
        )
    tensor = request.inputs[0]
    if tensor.name != INPUT_NAME:
        raise InvalidInput(
            f"inputs[0].name: unknown input {tensor.name!r}; this model takes {INPUT_NAME!r}",
            field="inputs[0].name",
        )
    if tensor.datatype not in FLOAT_TYPES:
        raise InvalidInput(
            f"inputs[0].datatype: {tensor.datatype} is not supported; use FP32 or FP64",
            field="inputs[0].datatype",
        )
    n_features = metadata.n_features
    if len(tensor.shape) != 2 or tensor.shape[1] != n_features:
        raise InvalidInput(
            f"inputs[0].shape: expected [N, {n_features}], got {tensor.shape}",
            field="inputs[0].shape",
        )
    n_rows = tensor.shape[0]
    if n_rows == 0:
        raise InvalidInput("inputs[0].shape: the batch is empty", field="inputs[0].shape")
    if n_rows > max_rows:
        raise too_many_rows("inputs[0]", n_rows, max_rows)

    size = tensor.parameters.binary_data_size if tensor.parameters else None
    if size is not None:
        batch = _binary_tensor(binary, size, tensor.datatype, n_rows, n_features)
    else:
        if binary:
            raise InvalidInput(
                "body: binary data follows the header but no input claims it", field="body"
            )
        batch = _json_tensor(tensor.data, n_rows, n_features, max_rows)
    outputs, binary_outputs = _requested_outputs(request, metadata)
    return DecodedInfer(batch, request, outputs, binary_outputs)


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 < length <= len(body):
        raise InvalidInput(
            f"{BINARY_HEADER}: {header_length!r} is not a length within the body",
            field=BINARY_HEADER,
        )
    return body[:length], body[length:]


def _binary_tensor(binary: bytes, size: int, datatype: str, rows: int, cols: int) -> np.ndarray:
    dtype = FLOAT_TYPES[datatype]
    expected = rows * cols * dtype.itemsize
    if size != expected or len(binary) != size:
        raise InvalidInput(
            f"inputs[0].parameters.binary_data_size: {size} bytes announced, {len(binary)} sent,"
            f" a {datatype} tensor of shape [{rows}, {cols}] takes {expected}",
            field="inputs[0].parameters.binary_data_size",
        )
    batch = np.frombuffer(binary, dtype=dtype).reshape(rows, cols).astype(np.float32)
    return check_finite(batch, "inputs[0].data")


def _json_tensor(data: Any, rows: int, cols: int, max_rows: int) -> np.ndarray:
    if not isinstance(data, list):
        raise InvalidInput("inputs[0].data: expected a list of numbers", field="inputs[0].data")
    if data and not isinstance(data[0], list):
        # Flat, row-major: the common form.
        if len(data) != rows * cols:
            raise InvalidInput(
                f"inputs[0].data: {len(data)} values do not fill shape [{rows}, {cols}]",
                field="inputs[0].data",
            )
        return column_to_array(data, "inputs[0].data").reshape(rows, cols)
    if len(data) != rows:
        raise InvalidInput(
            f"inputs[0].data: {len(data)} rows do not match shape [{rows}, {cols}]",
            field="inputs[0].data",
        )
    return rows_to_array(data, "inputs[0].data", cols, max_rows)


def _requested_outputs(
    request: InferenceRequest, metadata: BundleMetadata
) -> tuple[list[str], set[str]]:
    available = [metadata.output.name, CLASS_OUTPUT]
    all_binary = bool(request.parameters and request.parameters.binary_data_output)
    if not request.outputs:
        return available, set(available) if all_binary else set()
    names, binary = [], set()
    for i, out in enumerate(request.outputs):
        if out.name not in available:
            raise InvalidInput(
                f"outputs[{i}].name: unknown output {out.name!r}; outputs: {', '.join(available)}",
                field=f"outputs[{i}].name",
            )
        names.append(out.name)
        wants_binary = out.parameters.binary_data if out.parameters else None
        if wants_binary or (wants_binary is None and all_binary):
            binary.add(out.name)
    return names, binary


def encode_infer(
    decoded: DecodedInfer, probabilities: np.ndarray, metadata: BundleMetadata, version: int
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it."""
    probabilities = probabilities.reshape(-1, 1).astype(np.float32)
    tensors = {
        metadata.output.name: ("FP32", probabilities),
        CLASS_OUTPUT: ("INT64", classify(probabilities, metadata.output.threshold).reshape(-1, 1)),
    }
    outputs, blobs = [], []
    for name in decoded.outputs:
        datatype, array = tensors[name]
        if name in decoded.binary_outputs:
            blob = array.astype(array.dtype.newbyteorder("<")).tobytes()
            blobs.append(blob)
            outputs.append(
                ResponseOutput(
                    name=name,
                    shape=list(array.shape),
                    datatype=datatype,
                    parameters={"binary_data_size": len(blob)},
                )
            )
        else:
            outputs.append(
                ResponseOutput(
                    name=name,
                    shape=list(array.shape),
                    datatype=datatype,
                    data=array.reshape(-1).tolist(),
                )
            )
    response = InferenceResponse(
        model_name=metadata.name,
        model_version=str(version),
        id=decoded.request.id,
        outputs=outputs,
    )
    header = response.model_dump_json(exclude_none=True).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def server_metadata() -> MetadataServerResponse:
    return MetadataServerResponse(
        name="modelserve", version=__version__, extensions=["binary_tensor_data"]
    )


def model_metadata(metadata: BundleMetadata, versions: list[int]) -> MetadataModelResponse:
    return MetadataModelResponse(
        name=metadata.name,
        versions=[str(v) for v in versions],
        platform="modelserve_numpy",
        inputs=[MetadataTensor(name=INPUT_NAME, datatype="FP32", shape=[-1, metadata.n_features])],
        outputs=[
            MetadataTensor(name=metadata.output.name, datatype="FP32", shape=[-1, 1]),
            MetadataTensor(name=CLASS_OUTPUT, datatype="INT64", shape=[-1, 1]),
        ],
        parameters={
            "version": str(metadata.version),
            "features": metadata.feature_names,
            "threshold": metadata.output.threshold,
        },
    )
