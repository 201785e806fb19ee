"""The bundle's metadata file, as typed models: what a bundle promises about itself."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FORMAT_VERSION = 1
FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Feature(_Strict):
    name: str
    dtype: Literal["float32"] = "float32"


class Output(_Strict):
    name: str = "probability"
    description: str = "probability of class 1"
    shape: tuple[int, ...] = (1,)
    threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="class 1 where the probability exceeds it"
    )


class Normalisation(_Strict):
    """Per-feature ``(x - mean) / std``, applied before the first layer (inside model.keras too)."""

    mean: list[float]
    std: list[float]

    @model_validator(mode="after")
    def _same_length(self) -> Normalisation:
        if len(self.mean) != len(self.std):
            raise ValueError("mean and std must have one value per feature")
        if any(s <= 0 for s in self.std):
            raise ValueError("std must be positive")
        return self


class Layer(_Strict):
    kind: Literal["dense"] = "dense"
    units: int = Field(gt=0)
    activation: Literal["relu", "sigmoid", "tanh", "linear"]


class Metrics(_Strict):
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float | None
    confusion_matrix: list[list[int]] = Field(description="[[tn, fp], [fn, tp]]")
    n: int


class Evaluation(_Strict):
    split: str = Field(description="how the held-out rows were chosen")
    data_sha256: str = Field(description="SHA-256 of the data file the held-out rows come from")
    metrics: Metrics


class Training(_Strict):
    source: Literal["train", "import-legacy"]
    epochs: int | None = None
    batch_size: int | None = None
    seed: int | None = None
    optimizer: str | None = None
    loss: str | None = None
    data_sha256: str | None = Field(description="SHA-256 of the training data; None if unknown")
    rows: int
    keras_version: str | None = None
    origin: dict[str, str] = Field(default_factory=dict, description="e.g. legacy file digests")


class DatasetRecord(_Strict):
    """The table a version was trained and measured on."""

    name: str = Field(description="file name of the training data as given, e.g. heart.csv")
    sha256: str = Field(description="SHA-256 of that file")
    rows: int = Field(ge=0, description="data rows in the file")
    file: str | None = Field(None, description="its verbatim copy inside the bundle, or None")
    holdout: list[int] = Field(
        default_factory=list, description="0-based indexes of the data rows the evaluation measured"
    )
    label_column: str | None = Field(
        None, description="the header's name of the label column; None for a headerless table"
    )


class BundleMetadata(_Strict):
    format_version: Literal[1] = FORMAT_VERSION
    name: str
    version: int = Field(ge=1)
    created: datetime
    features: list[Feature]
    output: Output = Output()
    normalisation: Normalisation | None
    layers: list[Layer]
    evaluation: Evaluation
    training: Training
    files: dict[str, str] = Field(description="SHA-256 of every other file in the bundle")
    # Bundles made before it was recorded have none; they stay valid.
    dataset: DatasetRecord | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BundleMetadata:
        for file in self.files:
            # Plain names only: a bundle must never make the store write outside its folder.
            if not FILE_NAME.fullmatch(file):
                raise ValueError(f"{file!r} is not a plain file name")
        if not self.features:
            raise ValueError("a model needs at least one input feature")
        if self.normalisation and len(self.normalisation.mean) != len(self.features):
            raise ValueError("normalisation must have one value per input feature")
        if not self.layers or self.layers[-1].units != 1:
            raise ValueError("the last layer must have one unit (the probability)")
        if self.dataset is not None:
            # Listed, so the bundle's checksums cover the copy as they cover the model.
            file = self.dataset.file
            if file is not None and file not in self.files:
                raise ValueError(f"dataset file {file!r} is not listed in files")
            if file is not None and self.files[file] != self.dataset.sha256:
                raise ValueError(f"dataset file {file!r} is not a verbatim copy of the table")
            if any(i < 0 or i >= self.dataset.rows for i in self.dataset.holdout):
                raise ValueError("dataset holdout indexes must be data rows of the file")
        return self

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def table_options(self) -> dict:
        """How ``datasets.read_csv`` reads rows for this model: its width, its feature names
        (a header is matched to them) and the name its training data gave the label."""
        return {
            "n_features": self.n_features,
            "feature_names": self.feature_names,
            "label_column": self.dataset.label_column if self.dataset else None,
        }
