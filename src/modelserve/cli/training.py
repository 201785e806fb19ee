"""``modelserve train`` and ``modelserve import-legacy``: new versions from data or old files."""

from __future__ import annotations

import contextlib
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

import click

from modelserve.cli.common import (
    Context,
    echo_json,
    echo_metrics,
    empty_folder,
    json_option,
    model_name_option,
    pass_context,
)
from modelserve.datasets import read_csv

data_option = click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Labelled CSV (features, then a 0/1 label); default: MODELSERVE_DATA. A copy of it "
    "goes into the bundle (up to 16 MiB).",
)
out_option = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    callback=empty_folder,
    help="Write the bundle into this new or empty folder instead of adding it to the store.",
)
promote_option = click.option(
    "--promote", is_flag=True, help="Make the new version current at once."
)


@click.command(short_help="Train the classifier on a labelled CSV; store a new version.")
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
@json_option
@pass_context
def train(ctx: Context, data, epochs, batch_size, seed, model_name, out, promote, as_json):
    """Train the classifier, evaluate it on a stratified 20% holdout, store a new version.

    Rows of the gate data (about one in five, chosen by content) are left out of both: the
    delivery gates measure every version on them. On a terminal a progress bar shows each
    epoch's loss and accuracy on the training rows and on the holdout. --json prints one JSON
    object at the end: model, version, current, stored, metrics, dataset and next."""
    # Imported first: without the train extra this is what fails, saying how to get it.
    from modelserve.training.export import dataset_record
    from modelserve.training.train import train_classifier

    source = data or ctx.settings.data
    dataset = read_csv(source, labels=True)
    click.echo(
        f"training on {source.name} ({len(dataset)} rows) for {epochs} epochs (seed {seed})",
        err=True,
    )
    started = time.monotonic()
    with _epoch_progress(epochs) as on_epoch:
        trained = train_classifier(
            dataset, epochs=epochs, batch_size=batch_size, seed=seed, on_epoch=on_epoch
        )
    click.echo(f"trained in {time.monotonic() - started:.1f} s", err=True)
    _store_bundle(
        ctx,
        trained.model,
        model_name,
        out,
        promote,
        as_json,
        source=source,
        feature_names=dataset.feature_names,
        evaluation=trained.evaluation,
        training=trained.training,
        dataset=dataset_record(source, dataset, trained.holdout_rows),
    )


@click.command("import-legacy", short_help="Turn a Keras 2 model.json + model.h5 into a bundle.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Architecture written by Keras 2's model.to_json().",
)
@click.option(
    "--weights",
    "weights_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
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
    """Turn a Keras 2 model (model.json + model.h5) into a bundle, evaluated on the holdout
    a trained model with the same seed is evaluated on."""
    from modelserve.bundles.bundle import sha256_file
    from modelserve.bundles.metadata import Evaluation, Training
    from modelserve.evaluation import evaluate
    from modelserve.training.export import dataset_record
    from modelserve.training.legacy import load_legacy
    from modelserve.training.train import measured_split

    model, architecture = load_legacy(json_path, weights_path)
    source = data or ctx.settings.data
    dataset = read_csv(source, n_features=architecture.n_features, labels=True)
    split, _ = measured_split(dataset, seed)  # measured as a trained one is
    metrics = evaluate(split.test_labels, model.predict_on_batch(split.test_features), 0.5)
    _store_bundle(
        ctx,
        model,
        model_name,
        out,
        promote,
        False,
        source=source,
        feature_names=dataset.feature_names,
        evaluation=Evaluation(split=split.description, data_sha256=dataset.sha256, metrics=metrics),
        training=Training(
            source="import-legacy",
            data_sha256=None,
            rows=0,
            keras_version=architecture.keras_version,
            origin={"model.json": sha256_file(json_path), "model.h5": sha256_file(weights_path)},
        ),
        # Which rows the tutorial's model was fitted to is not known: no rows are claimed as
        # held out from it, though its figure above is taken on the usual holdout split.
        dataset=dataset_record(source, dataset, []),
    )


@contextlib.contextmanager
def _epoch_progress(epochs: int):
    """A progress bar on stderr while the model is fitted, if stderr is a terminal. Logs and
    pipes get nothing per epoch: the lines before and after say enough there."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    # Narrow enough for an 80-column terminal.
    columns = (
        TextColumn("epoch"),
        MofNCompleteColumn(),
        BarColumn(bar_width=10),
        TextColumn("{task.fields[figures]}"),
        TimeRemainingColumn(),
        TextColumn("left"),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("train", total=epochs, figures="")

        def report(epoch: int, logs: dict[str, float]) -> None:
            figures = (
                f"loss {logs.get('loss', math.nan):.3f} acc {logs.get('accuracy', math.nan):.3f}"
                f" · holdout {logs.get('val_loss', math.nan):.3f}"
                f" {logs.get('val_accuracy', math.nan):.3f}"
            )
            progress.update(task, completed=epoch, figures=figures)

        yield report


def _store_bundle(ctx: Context, model, model_name, out, promote, as_json, *, source, **metadata):
    from modelserve.training.export import export_bundle

    name = model_name or ctx.settings.model
    if out is not None:
        bundle = export_bundle(model, out, name=name, dataset_source=source, **metadata)
        current = False
        next_command = _command("models", "add", str(bundle.path), "--model", name)
        lines = [f"wrote bundle {name} to {bundle.path}", f"To store it: {next_command}"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            staged = export_bundle(
                model, Path(tmp) / "bundle", name=name, dataset_source=source, **metadata
            )
            bundle = ctx.store.add(staged.path, name)
        if promote or ctx.store.pointer(name) is None:
            ctx.store.promote(name, bundle.version, reason=f"{metadata['training'].source}")
        now = ctx.store.current_version(name)
        current = now == bundle.version
        status = "current" if current else f"not current; current is {now}"
        lines = [f"stored {name} version {bundle.version} ({status}) in {ctx.store.root}"]
        if current:
            next_command = _command("evaluate", "--model", name, "--rows", "holdout")
            lines.append(f"To try it: {next_command}, or the pages' /predictions?model={name}")
        else:
            next_command = _command("models", "promote", str(bundle.version), "--model", name)
            lines.append(f"To serve it: {next_command}")
    meta = bundle.metadata
    if as_json:
        echo_json(
            {
                "model": name,
                "version": bundle.version,
                "current": current,
                "stored": str(bundle.path),
                "metrics": meta.evaluation.metrics.model_dump(mode="json"),
                "dataset": meta.dataset.model_dump(mode="json") if meta.dataset else None,
                "next": next_command,
            }
        )
        return
    click.echo(lines[0])
    echo_metrics(meta.evaluation.metrics)
    for line in lines[1:]:  # what to do next, last, where it is seen
        click.echo(line)


def _command(*args: str) -> str:
    """A ``modelserve`` command line to run next, against the store this one used."""
    store = click.get_current_context().find_root().params.get("store")
    prefix = ["modelserve", *(["--store", str(store)] if store is not None else [])]
    return shlex.join([*prefix, *args])
