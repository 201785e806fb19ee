"""``modelserve predict`` and ``modelserve evaluate``: the fast runtime on local data."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from modelserve.bundles.bundle import Bundle
from modelserve.bundles.metadata import DatasetRecord
from modelserve.cli.common import (
    Context,
    echo_json,
    echo_metrics,
    echo_table,
    json_option,
    model_option,
    pass_context,
)
from modelserve.datasets import Dataset, parse_row, read_csv
from modelserve.errors import InvalidInput, ModelserveError
from modelserve.evaluation import classify
from modelserve.evaluation import evaluate as evaluate_metrics
from modelserve.runtime import load_runtime


class NoHoldout(ModelserveError):
    """``--rows holdout`` asked of a model whose bundle does not record its held-out rows."""


def _bundle(ctx: Context, model_ref) -> Bundle:
    name, version = model_ref.resolve(ctx.settings)
    return ctx.store.bundle(name, version)


extra_columns_option = click.option(
    "--extra-columns",
    type=click.Choice(["ignore", "refuse"]),
    default="ignore",
    show_default=True,
    help="What to do with header columns the model has no feature for.",
)


def _note_ignored(dataset: Dataset) -> None:
    if dataset.ignored_columns:
        click.echo(
            f"ignored columns not used by the model: {', '.join(dataset.ignored_columns)}",
            err=True,
        )


def _evaluation_data(ctx: Context, bundle: Bundle, data: Path | None) -> tuple[Path, str]:
    """The CSV to evaluate on and the name to report it by."""
    if data is not None:
        return data, data.name
    # A model trained on another CSV cannot be measured on MODELSERVE_DATA: its own copy first.
    own = bundle.dataset_path()
    if own is not None:
        return own, bundle.metadata.dataset.name
    return ctx.settings.data, ctx.settings.data.name


def _holdout_rows(record: DatasetRecord | None) -> list[int]:
    if record is None or not record.holdout:
        raise NoHoldout(
            "--rows holdout: this version's bundle does not record which rows its evaluation "
            "held out; use --rows all"
        )
    return record.holdout


def _holdout_index(
    rows: list[int], record: DatasetRecord, dataset: Dataset, name: str
) -> np.ndarray:
    if record.sha256 != dataset.sha256:
        raise InvalidInput(
            f"--rows holdout: {name} is not the file the model was trained on "
            f"({record.name}): its held-out rows are rows of that file",
            field="data",
        )
    index = np.asarray(rows, dtype=np.int64)
    if index.min() < 0 or index.max() >= len(dataset):
        raise InvalidInput(
            f"--rows holdout: the bundle's held-out rows go beyond the {len(dataset)} rows "
            f"of {name}",
            field="data",
        )
    return index


def _trained_on(bundle: Bundle, dataset: Dataset) -> bool:
    record = bundle.metadata.dataset
    digests = {record and record.sha256, bundle.metadata.training.data_sha256}
    return dataset.sha256 in digests


@click.command(short_help="Accuracy and more of a model on a labelled CSV.")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Labelled CSV; default: the copy of its data the model's bundle carries, "
    "else MODELSERVE_DATA.",
)
@click.option(
    "--rows",
    "which_rows",
    type=click.Choice(["all", "holdout"]),
    default="all",
    show_default=True,
    help="Every row of the data, or only the rows the model's own evaluation held out "
    "from training (needs a bundle that records them).",
)
@extra_columns_option
@model_option
@json_option
@pass_context
def evaluate(
    ctx: Context, data, which_rows: str, extra_columns: str, model_ref, as_json: bool
) -> None:
    """Accuracy, confusion matrix and more of a model on a labelled CSV."""
    bundle = _bundle(ctx, model_ref)
    runtime = load_runtime(bundle)
    record = bundle.metadata.dataset
    holdout = _holdout_rows(record) if which_rows == "holdout" else None
    path, name = _evaluation_data(ctx, bundle, data)
    dataset = read_csv(
        path, labels=True, extra_columns=extra_columns, **runtime.metadata.table_options()
    )
    _note_ignored(dataset)
    features, labels = dataset.features, dataset.labels
    if holdout is not None:
        index = _holdout_index(holdout, record, dataset, name)
        features, labels = features[index], labels[index]
    metrics = evaluate_metrics(labels, runtime.predict(features), runtime.metadata.output.threshold)
    if as_json:
        echo_json(
            {
                "model": runtime.name,
                "version": runtime.version,
                "data": name,
                "rows": which_rows,
                **metrics.model_dump(mode="json"),
            }
        )
        return
    if which_rows == "holdout":
        measured = f"the {len(labels)} held-out rows of {name}"
    elif _trained_on(bundle, dataset):
        measured = (
            f"{len(labels)} rows of {name} (all rows, including those the model was trained on)"
        )
    else:
        measured = f"{len(labels)} rows of {name} (all rows)"
    click.echo(f"{runtime.name} version {runtime.version} on {measured}")
    echo_metrics(metrics)


@click.command()
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="CSV of feature rows, with or without the label column.",
)
@click.option(
    "--row",
    default=None,
    metavar="X1,X2,…",
    help='One row of features, e.g. "6,148,72,35,0,33.6,0.627,50".',
)
@extra_columns_option
@model_option
@json_option
@pass_context
def predict(ctx: Context, data, row, extra_columns: str, model_ref, as_json: bool) -> None:
    """Probability of class 1 and the predicted class, per row."""
    if (data is None) == (row is None):
        raise click.UsageError("give exactly one of --data or --row")
    runtime = load_runtime(_bundle(ctx, model_ref))
    n_features, names = runtime.metadata.n_features, runtime.metadata.feature_names
    if row is not None:
        features, labels = parse_row(row, n_features, source="--row", feature_names=names), None
    else:
        dataset = read_csv(data, extra_columns=extra_columns, **runtime.metadata.table_options())
        _note_ignored(dataset)
        features, labels = dataset.features, dataset.labels
    probabilities = runtime.predict(features).reshape(-1)
    classes = classify(probabilities, runtime.metadata.output.threshold)
    if as_json:
        for i, (p, c) in enumerate(zip(probabilities, classes, strict=True)):
            record = {
                "row": i + 1,
                "probability": float(p),
                "class": int(c),
                "model": runtime.name,
                "version": runtime.version,
            }
            if labels is not None:
                record["label"] = int(labels[i])
            echo_json(record)
        return
    click.echo(f"# {runtime.name} version {runtime.version}", err=True)
    headers = ["row", "probability", "class"] + (["label"] if labels is not None else [])
    echo_table(
        headers,
        [
            [i + 1, float(p), int(c)] + ([int(labels[i])] if labels is not None else [])
            for i, (p, c) in enumerate(zip(probabilities, classes, strict=True))
        ],
    )
