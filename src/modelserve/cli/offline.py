"""``modelserve predict`` and ``modelserve evaluate``: the fast runtime on local data."""

from __future__ import annotations

from pathlib import Path

import click

from modelserve.cli.common import (
    Context,
    echo_json,
    echo_metrics,
    echo_table,
    json_option,
    model_option,
    pass_context,
)
from modelserve.datasets import parse_row, read_csv
from modelserve.evaluation import classify
from modelserve.evaluation import evaluate as evaluate_metrics
from modelserve.runtime import load_runtime


def _load(ctx: Context, model_ref):
    name, version = model_ref.resolve(ctx.settings)
    return load_runtime(ctx.store.bundle(name, version))


@click.command()
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Labelled CSV; default: MODELSERVE_DATA.",
)
@model_option
@json_option
@pass_context
def evaluate(ctx: Context, data, model_ref, as_json: bool) -> None:
    """Accuracy, confusion matrix and more of a model on a labelled CSV."""
    runtime = _load(ctx, model_ref)
    dataset = read_csv(
        data or ctx.settings.data,
        n_features=runtime.metadata.n_features,
        labels=True,
        feature_names=runtime.metadata.feature_names,
    )
    metrics = evaluate_metrics(
        dataset.labels, runtime.predict(dataset.features), runtime.metadata.output.threshold
    )
    if as_json:
        echo_json(
            {"model": runtime.name, "version": runtime.version, **metrics.model_dump(mode="json")}
        )
        return
    click.echo(f"{runtime.name} version {runtime.version} on {data or ctx.settings.data}")
    echo_metrics(metrics)


@click.command()
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV of feature rows, with or without the label column.",
)
@click.option(
    "--row",
    default=None,
    metavar="X1,X2,…",
    help='One row of features, e.g. "6,148,72,35,0,33.6,0.627,50".',
)
@model_option
@json_option
@pass_context
def predict(ctx: Context, data, row, model_ref, as_json: bool) -> None:
    """Probability of class 1 and the predicted class, per row."""
    if (data is None) == (row is None):
        raise click.UsageError("give exactly one of --data or --row")
    runtime = _load(ctx, model_ref)
    n_features, names = runtime.metadata.n_features, runtime.metadata.feature_names
    if row is not None:
        features, labels = parse_row(row, n_features, source="--row", feature_names=names), None
    else:
        dataset = read_csv(data, n_features=n_features, feature_names=names)
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
