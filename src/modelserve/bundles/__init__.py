"""Bundle format, metadata schema, checksums, and the versioned store with its current pointer."""

from modelserve.bundles.bundle import (
    KERAS_FILE,
    METADATA_FILE,
    WEIGHTS_FILE,
    Bundle,
    read_metadata,
    seal,
    write_weights,
)
from modelserve.bundles.metadata import BundleMetadata
from modelserve.bundles.store import (
    Canary,
    HistoryEntry,
    ModelStore,
    Pointer,
    VersionRecord,
    check_model_name,
)

__all__ = [
    "KERAS_FILE",
    "METADATA_FILE",
    "WEIGHTS_FILE",
    "Bundle",
    "BundleMetadata",
    "Canary",
    "HistoryEntry",
    "VersionRecord",
    "ModelStore",
    "Pointer",
    "check_model_name",
    "read_metadata",
    "seal",
    "write_weights",
]
