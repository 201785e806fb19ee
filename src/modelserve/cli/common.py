"""What every verb shares: settings, the store, model references and plain-text tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import click

from modelserve.bundles import ModelStore, check_model_name
from modelserve.errors import InvalidInput
from modelserve.settings import DEMO_MODEL_NAME, Settings, demo_bundle_path


class Context:
    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def store(self) -> ModelStore:
        store = ModelStore(self.settings.store)
        # The demo is the diabetes model: a store meant for a model of one's own starts empty.
        if self.settings.seed_demo and self.settings.model == DEMO_MODEL_NAME:
            store.seed(demo_bundle_path(), DEMO_MODEL_NAME)
        return store


pass_context = click.make_pass_decorator(Context)


@dataclass(frozen=True)
class ModelRef:
    name: str | None
    version: int | None = None

    def resolve(self, settings: Settings) -> tuple[str, int | None]:
        return self.name or settings.model, self.version


class ModelRefType(click.ParamType):
    """``NAME``, ``NAME:VERSION`` or ``:VERSION`` (the default model's version)."""

    name = "NAME[:VERSION]"

    def convert(self, value, param, ctx) -> ModelRef:
        if isinstance(value, ModelRef):
            return value
        name, _, version = value.partition(":")
        if version and not version.isdigit():
            self.fail(f"version must be a positive integer, got {version!r}", param, ctx)
        try:
            checked = check_model_name(name) if name else None
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)
        return ModelRef(checked, int(version) if version else None)


MODEL_REF = ModelRefType()

model_option = click.option(
    "--model",
    "model_ref",
    type=MODEL_REF,
    default=ModelRef(None),
    help="Model and optional version; default: MODELSERVE_MODEL, its current version.",
)


def _model_name(ctx, param, value: str | None) -> str | None:
    try:
        return None if value is None else check_model_name(value)
    except InvalidInput as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


model_name_option = click.option(
    "--model",
    "model_name",
    default=None,
    metavar="NAME",
    callback=_model_name,
    help="Model name; default: MODELSERVE_MODEL.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def echo_json(document: Any) -> None:
    click.echo(json.dumps(document, default=str))


def echo_table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [headers, *([_cell(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def echo_metrics(metrics) -> None:
    (tn, fp), (fn, tp) = metrics.confusion_matrix
    auc = "n/a" if metrics.roc_auc is None else f"{metrics.roc_auc:.4f}"
    click.echo(
        f"accuracy {metrics.accuracy:.4f}  precision {metrics.precision:.4f}  "
        f"recall {metrics.recall:.4f}  f1 {metrics.f1:.4f}  roc_auc {auc}  n {metrics.n}"
    )
    click.echo("confusion matrix (rows: true class, columns: predicted class)")
    echo_table(["", "pred 0", "pred 1"], [["true 0", tn, fp], ["true 1", fn, tp]])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def empty_folder(ctx, param, value):
    """A folder option or argument that must be new or empty: refused before any work."""
    if value is not None and value.is_dir() and any(value.iterdir()):
        raise click.BadParameter(f"{value} exists and is not empty", ctx, param)
    return value
