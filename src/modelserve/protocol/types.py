"""Protocol payloads as typed models: TensorFlow Serving REST (v1) and the Open Inference
Protocol V2 (KServe / Triton REST). Field names follow the published specifications."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, model_validator

# A JSON number that is finite; strings and booleans are refused, as TensorFlow Serving does.
Number = Annotated[float, Strict(), AllowInfNan(False)]
Row = list[Number]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    """Responses and V2 objects, where the specifications allow extra fields."""

    model_config = ConfigDict(extra="allow")


# -- TensorFlow Serving REST API (v1) ------------------------------------------------------


class PredictRequest(_Payload):
    """``POST /v1/models/<name>[/versions/<v>]:predict``.

    ``instances`` is the row format: one entry per example, either the list of feature values
    or an object naming the input (``{"features": [...]}``) or each feature. ``inputs`` is the
    columnar format: the (N, F) list, or an object naming the input or each feature's column.
    """

    signature_name: str | None = None
    # Checked value by value in ``protocol.v1`` so that errors name the exact element.
    instances: list[Any] | None = None
    inputs: list[Any] | dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_format(self) -> PredictRequest:
        if (self.instances is None) == (self.inputs is None):
            raise ValueError("give exactly one of 'instances' (row format) or 'inputs' (columnar)")
        return self


class PredictRows(_Payload):
    """The common ``:predict`` body, rows of numbers: read in one pass where ``PredictRequest``
    reads every form element by element."""

    instances: list[Row]


class PredictResponseRows(BaseModel):
    predictions: list[list[float]]


class PredictResponseColumns(BaseModel):
    outputs: list[list[float]]


class ModelVersionStatus(BaseModel):
    version: str
    state: Literal["START", "LOADING", "AVAILABLE", "UNLOADING", "END"]
    status: dict[str, str] = Field(
        default_factory=lambda: {"error_code": "OK", "error_message": ""}
    )


class ModelStatusResponse(BaseModel):
    model_version_status: list[ModelVersionStatus]


class TensorInfo(BaseModel):
    dtype: str
    tensor_shape: dict[str, Any]
    name: str


class SignatureDef(BaseModel):
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    method_name: str = "tensorflow/serving/predict"


class ModelSpec(BaseModel):
    name: str
    signature_name: str = ""
    version: str


class ModelMetadataResponse(BaseModel):
    model_spec: ModelSpec
    metadata: dict[str, Any]


class ErrorResponse(BaseModel):
    """Both protocols answer errors as ``{"error": message}``; ``field`` names the culprit."""

    error: str
    field: str | None = None


# -- Open Inference Protocol V2 ------------------------------------------------------------

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]


class Parameters(_Open):
    binary_data_size: int | None = Field(default=None, ge=0)
    binary_data: bool | None = None
    binary_data_output: bool | None = None


class MetadataTensor(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]


class MetadataServerResponse(BaseModel):
    name: str
    version: str
    extensions: list[str]


class MetadataModelResponse(BaseModel):
    name: str
    versions: list[str] | None = None
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: dict[str, Any] | None = None


class LiveResponse(BaseModel):
    live: bool


class ReadyResponse(BaseModel):
    ready: bool


class ModelReadyResponse(BaseModel):
    name: str
    ready: bool


class RequestInput(_Open):
    name: str
    shape: list[Annotated[int, Field(ge=0)]]
    datatype: Datatype
    parameters: Parameters | None = None
    data: Any = None


class RequestOutput(_Open):
    name: str
    parameters: Parameters | None = None


class InferenceRequest(_Open):
    id: str | None = None
    parameters: Parameters | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[float] | list[int] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


# -- Feedback: the true outcome of earlier predictions (v1 ``:feedback``, V2 ``/feedback``) --

# X-Request-ID as the server accepts it from a client, and as feedback names a prediction.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
MAX_FEEDBACK_LABELS = 10_000


class FeedbackLabel(_Payload):
    request_id: Annotated[str, Field(pattern=REQUEST_ID_PATTERN)] = Field(
        description="The X-Request-ID the prediction was answered with (or sent with)."
    )
    row: Annotated[int, Strict(), Field(ge=0)] = Field(
        default=0, description="Which row of a request that sent several; 0 for one row."
    )
    label: Annotated[int, Strict(), Field(ge=0, le=1)] = Field(description="The true class.")


class FeedbackRequest(_Payload):
    feedback: list[FeedbackLabel] = Field(min_length=1, max_length=MAX_FEEDBACK_LABELS)


class FeedbackResponse(BaseModel):
    accepted: int
