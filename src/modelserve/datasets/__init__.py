"""Strict reading of feature tables, labelled or not, with errors naming line and column."""

from modelserve.datasets.tabular import (
    PIMA_FEATURES,
    Dataset,
    ExtraColumns,
    default_feature_names,
    parse_row,
    read_csv,
    read_csv_bytes,
    read_csv_text,
)

__all__ = [
    "PIMA_FEATURES",
    "Dataset",
    "ExtraColumns",
    "default_feature_names",
    "parse_row",
    "read_csv",
    "read_csv_bytes",
    "read_csv_text",
]
