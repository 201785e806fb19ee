"""A bundle: one folder holding a model in two forms and the metadata that vouches for both."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from modelserve.bundles.metadata import BundleMetadata
from modelserve.datasets import Dataset, read_csv_bytes
from modelserve.errors import InvalidBundle, InvalidInput

METADATA_FILE = "metadata.json"
KERAS_FILE = "model.keras"
WEIGHTS_FILE = "weights.npz"
DATASET_FILE = "data.csv"
REQUIRED_FILES = (KERAS_FILE, WEIGHTS_FILE)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Bundle:
    path: Path
    metadata: BundleMetadata
    # SHA-256 of metadata.json as read. The metadata lists the SHA-256 of every other file, so
    # this one digest seals the whole bundle: nodes name a version's exact content by it.
    digest: str

    @classmethod
    def open(cls, path: Path, *, verify: bool = True) -> Bundle:
        """Read a bundle's metadata; with ``verify``, refuse it unless every file matches."""
        path = Path(path)
        raw = _read_metadata_bytes(path)
        bundle = cls(path, _parse_metadata(raw, path / METADATA_FILE), _sha256(raw))
        if verify:
            bundle.verify()
        return bundle

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def version(self) -> int:
        return self.metadata.version

    def dataset_path(self) -> Path | None:
        """The verbatim copy of the training data the bundle carries, if it carries one."""
        dataset = self.metadata.dataset
        if dataset is None or dataset.file is None:
            return None
        return self.path / dataset.file

    def training_data(self) -> Dataset | None:
        """The copy of its training data the bundle carries (None if none), read as the model
        reads rows, labels included; named as its record names it, never by a server path."""
        path, record = self.dataset_path(), self.metadata.dataset
        if path is None or record is None:
            return None
        where = f"{self.name} version {self.version}"
        try:
            options = {**self.metadata.table_options(), "labels": True}
            dataset = read_csv_bytes(path.read_bytes(), source=record.name, **options)
        except (OSError, InvalidInput) as exc:
            raise InvalidBundle(f"{where}: its copy of its data cannot be read: {exc}") from None
        if dataset.sha256 != record.sha256:
            raise InvalidBundle(f"{where}: its copy of its data changed after it was sealed")
        return dataset

    def verify(self) -> None:
        listed = self.metadata.files
        for required in REQUIRED_FILES:
            if required not in listed:
                raise InvalidBundle(f"{self.path}: metadata lists no checksum for {required}")
        present = {p.name for p in self.path.iterdir() if p.is_file()} - {METADATA_FILE}
        for unexpected in sorted(present - listed.keys()):
            raise InvalidBundle(f"{self.path / unexpected}: file is not listed in the metadata")
        for name, expected in listed.items():
            file = self.path / name
            if not file.is_file():
                raise InvalidBundle(f"{file}: file is missing")
            if sha256_file(file) != expected:
                raise InvalidBundle(f"{file}: checksum does not match the metadata")

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The dense layers' (kernel, bias) pairs from the framework-free form, in order."""
        try:
            with np.load(self.path / WEIGHTS_FILE, allow_pickle=False) as arrays:
                pairs = [
                    (arrays[f"layer{i}/kernel"], arrays[f"layer{i}/bias"])
                    for i in range(len(self.metadata.layers))
                ]
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InvalidBundle(f"{self.path / WEIGHTS_FILE}: unreadable weights: {exc}") from exc
        width = self.metadata.n_features
        for i, ((kernel, bias), layer) in enumerate(zip(pairs, self.metadata.layers, strict=True)):
            if kernel.shape != (width, layer.units) or bias.shape != (layer.units,):
                raise InvalidBundle(
                    f"{self.path / WEIGHTS_FILE}: layer {i} has shapes {kernel.shape}, "
                    f"{bias.shape}; metadata describes ({width}, {layer.units})"
                )
            width = layer.units
        return pairs


def read_metadata(path: Path) -> BundleMetadata:
    return _parse_metadata(_read_metadata_bytes(path), Path(path) / METADATA_FILE)


def _read_metadata_bytes(path: Path) -> bytes:
    file = Path(path) / METADATA_FILE
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise InvalidBundle(f"{file}: file is missing (is {path} a bundle?)") from None
    except OSError as exc:
        raise InvalidBundle(f"{file}: {exc.strerror}") from exc


def _parse_metadata(raw: bytes, file: Path) -> BundleMetadata:
    try:
        return BundleMetadata.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise InvalidBundle(f"{file}: invalid metadata at {where}: {first['msg']}") from exc


def write_weights(path: Path, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    arrays = {}
    for i, (kernel, bias) in enumerate(pairs):
        arrays[f"layer{i}/kernel"] = np.asarray(kernel, dtype=np.float32)
        arrays[f"layer{i}/bias"] = np.asarray(bias, dtype=np.float32)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def seal(path: Path, metadata: BundleMetadata) -> Bundle:
    """Write ``metadata.json`` with the checksum of every other file in the folder, last.

    The metadata is written after the model files so that a folder with a metadata file is
    complete; the checksums make a later change to any file detectable.
    """
    path = Path(path)
    files = {
        p.name: sha256_file(p)
        for p in sorted(path.iterdir())
        if p.is_file() and p.name != METADATA_FILE
    }
    sealed = metadata.model_copy(update={"files": files})
    # Round-trip through validation so a sealed bundle always reads back.
    sealed = BundleMetadata.model_validate(sealed.model_dump())
    raw = (json.dumps(sealed.model_dump(mode="json"), indent=2) + "\n").encode()
    (path / METADATA_FILE).write_bytes(raw)
    return Bundle(path, sealed, _sha256(raw))
