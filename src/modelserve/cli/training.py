"""``modelserve train`` and ``modelserve import-legacy``: new versions from data or old files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from modelserve.cli.common import Context, echo_metrics, model_name_option, pass_context
from modelserve.datasets import read_csv

data_option = click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Labelled CSV (features, then a 0/1 label); default: MODELSERVE_DATA.",
)
out_option = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the bundle into this empty folder instead of adding it to the store.",
)
promote_option = click.option(
    "--promote", is_flag=True, help="Make the new version current at once."
)


@click.command()
@data_option
@click.option("--epochs", type=click.IntRange(min=1), default=150, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="Seeds the holdout split, initial weights and shuffling.",
)
@model_name_option
@out_option
@promote_option
@pass_context
def train(ctx: Context, data, epochs, batch_size, seed, model_name, out, promote) -> None:
    """Train the classifier, evaluate it on a stratified 20% holdout, store a new version.

    Rows of the gate data (about one in five, chosen by content) are left out of both: the
    delivery gates measure every version on them."""
    from modelserve.training.train import train_classifier

    dataset = read_csv(data or ctx.settings.data, labels=True)
    click.echo(f"training on {len(dataset)} rows for {epochs} epochs (seed {seed})…", err=True)
    trained = train_classifier(dataset, epochs=epochs, batch_size=batch_size, seed=seed)
    _store_bundle(
        ctx,
        trained.model,
        model_name,
        out,
        promote,
        feature_names=dataset.feature_names,
        evaluation=trained.evaluation,
        training=trained.training,
    )


@click.command("import-legacy")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Architecture written by Keras 2's model.to_json().",
)
@click.option(
    "--weights",
    "weights_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="HDF5 weights written by Keras 2's save_weights().",
)
@data_option
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="Seeds the holdout split the imported model is evaluated on.",
)
@model_name_option
@out_option
@promote_option
@pass_context
def import_legacy(ctx, json_path, weights_path, data, seed, model_name, out, promote) -> None:
    """Turn a Keras 2 model (model.json + model.h5) into a bundle."""
    from modelserve.bundles.bundle import sha256_file
    from modelserve.bundles.metadata import Evaluation, Training
    from modelserve.datasets.gate import gate_split
    from modelserve.evaluation import evaluate
    from modelserve.training.legacy import load_legacy
    from modelserve.training.train import holdout_split

    model, architecture = load_legacy(json_path, weights_path)
    dataset = read_csv(data or ctx.settings.data, n_features=architecture.n_features, labels=True)
    split = holdout_split(gate_split(dataset).training, seed)  # measured as a trained one is
    metrics = evaluate(split.test_labels, model.predict_on_batch(split.test_features), 0.5)
    _store_bundle(
        ctx,
        model,
        model_name,
        out,
        promote,
        feature_names=dataset.feature_names,
        evaluation=Evaluation(split=split.description, data_sha256=dataset.sha256, metrics=metrics),
        training=Training(
            source="import-legacy",
            data_sha256=None,
            rows=0,
            keras_version=architecture.keras_version,
            origin={"model.json": sha256_file(json_path), "model.h5": sha256_file(weights_path)},
        ),
    )


def _store_bundle(ctx: Context, model, model_name, out, promote, **metadata) -> None:
    from modelserve.training.export import export_bundle

    name = model_name or ctx.settings.model
    if out is not None:
        bundle = export_bundle(model, out, name=name, **metadata)
        click.echo(f"wrote bundle {name} to {bundle.path}")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            staged = export_bundle(model, Path(tmp) / "bundle", name=name, **metadata)
            bundle = ctx.store.add(staged.path, name)
        current = ctx.store.pointer(name)
        if promote or current is None:
            ctx.store.promote(name, bundle.version, reason=f"{metadata['training'].source}")
        now = ctx.store.current_version(name)
        status = "current" if now == bundle.version else f"not current; current is {now}"
        click.echo(f"stored {name} version {bundle.version} ({status}) in {ctx.store.root}")
    echo_metrics(bundle.metadata.evaluation.metrics)
