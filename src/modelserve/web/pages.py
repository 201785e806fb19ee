"""HTML pages: welcome, predictions, accuracy and the model registry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from flask import Blueprint, current_app, render_template, request

from modelserve.datasets import Dataset, parse_row, read_csv, read_csv_bytes
from modelserve.errors import InvalidInput, ModelserveError, PayloadTooLarge
from modelserve.evaluation import classify, evaluate
from modelserve.web.forms import DATASET, ROW, UPLOAD, AccuracyForm, PredictionForm
from modelserve.web.observability import note_model, note_prediction
from modelserve.web.services import Services

blueprint = Blueprint("pages", __name__)


def services() -> Services:
    return current_app.extensions["modelserve"]


@blueprint.before_request
def _check_csrf_token():
    """Every form post carries the token its page was rendered with (CSRFProtect)."""
    if current_app.config["WTF_CSRF_ENABLED"]:
        current_app.extensions["csrf"].protect()


@dataclass(frozen=True)
class PredictedRows:
    probabilities: list[float]
    predicted: list[int]
    labels: list[int] | None
    source: str
    model: str
    version: int
    threshold: float


@blueprint.get("/")
def index():
    svc = services()
    name = svc.settings.model
    runtime = svc.cache.current(name)
    note_model(request.environ, runtime.name, runtime.version)
    return render_template("index.html", model=runtime.metadata, mode=svc.executor.mode)


@blueprint.route("/predictions", methods=["GET", "POST"])
def predictions():
    form = PredictionForm()
    result, page = _submitted("predictions.html", form, allow_row=True)
    return page or render_template("predictions.html", form=form, result=result)


@blueprint.route("/accuracy", methods=["GET", "POST"])
def accuracy():
    form = AccuracyForm()
    result, page = _submitted("accuracy.html", form, labels=True)
    if page:
        return page
    metrics = evaluate(
        np.asarray(result.labels), np.asarray(result.probabilities), result.threshold
    )
    return render_template("accuracy.html", form=form, result=result, metrics=metrics)


@blueprint.get("/models")
def models():
    store = services().store
    registry = []
    for name in store.models():
        # One unreadable version or log line is reported in place, not a broken page.
        model = {
            "name": name,
            "current": None,
            "canary": None,
            "versions": [],
            "history": [],
            "problems": [],
        }
        try:
            pointer = store.pointer(name)
            model["current"] = pointer.version if pointer else None
            model["canary"] = pointer.canary if pointer else None
            model["history"] = list(reversed(store.history(name)))
        except ModelserveError as exc:
            model["problems"].append(str(exc))
        for version in reversed(store.versions(name)):
            try:
                model["versions"].append(store.bundle(name, version, verify=False).metadata)
            except ModelserveError as exc:
                model["problems"].append(f"version {version}: {exc}")
        registry.append(model)
    return render_template("models.html", registry=registry)


def _submitted(template: str, form, **row_options):
    """The submitted rows run through the model, or else the page to answer with."""
    if not form.validate_on_submit():
        return None, _form_page(template, form)
    try:
        dataset, source = _rows(form.source.data, form, **row_options)
        return _predict(dataset, source), None
    except InvalidInput as exc:
        status = 413 if isinstance(exc, PayloadTooLarge) else 400
        return None, _form_page(template, form, error=str(exc), status=status)


def _form_page(template: str, form, error: str | None = None, status: int | None = None):
    if form.errors and error is None:
        field, messages = next(iter(form.errors.items()))
        error = f"{field}: {messages[0]}"
    status = status or (400 if form.is_submitted() else 200)
    return render_template(template, form=form, error=error, result=None), status


def _rows(source: str, form, *, labels: bool = False, allow_row: bool = False):
    svc = services()
    metadata = svc.cache.current(svc.settings.model).metadata
    shape = {
        "n_features": metadata.n_features,
        "feature_names": metadata.feature_names,
        "labels": True if labels else None,
    }
    if source == DATASET:
        return read_csv(svc.settings.data, **shape), svc.settings.data.name
    if source == UPLOAD:
        upload = form.csv_file.data
        if upload is None or not upload.filename:
            raise InvalidInput("csv_file: choose a CSV file to upload", field="csv_file")
        return read_csv_bytes(upload.read(), source=upload.filename, **shape), upload.filename
    if source == ROW and allow_row:
        text = (form.row.data or "").strip()
        if not text:
            raise InvalidInput("row: type the feature values, separated by commas", field="row")
        features = parse_row(
            text, metadata.n_features, source="row", feature_names=metadata.feature_names
        )
        return Dataset(features, None, tuple(metadata.feature_names), "", np.array([1])), "row"
    raise InvalidInput("source: choose where the rows come from", field="source")


def _predict(dataset: Dataset, source: str) -> PredictedRows:
    svc = services()
    limit = svc.settings.max_batch_rows
    if len(dataset) > limit:
        raise PayloadTooLarge(f"{source}: {len(dataset)} rows exceed the limit of {limit}")
    runtime = svc.cache.current(svc.settings.model)
    prediction = svc.executor.predict(runtime, dataset.features)
    note_prediction(request.environ, prediction, len(dataset))
    threshold = runtime.metadata.output.threshold
    probabilities = prediction.probabilities.reshape(-1)
    return PredictedRows(
        probabilities=probabilities.tolist(),
        predicted=classify(probabilities, threshold).tolist(),
        labels=dataset.labels.tolist() if dataset.labels is not None else None,
        source=source,
        model=prediction.model,
        version=prediction.version,
        threshold=threshold,
    )
