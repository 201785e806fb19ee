"""HTML pages: welcome, predictions and their results, accuracy, and the model registry.

Every page works for any model and version in the store (``?model=NAME`` or
``?model=NAME:VERSION``; default: MODELSERVE_MODEL, its current version). A form post runs the
model once, keeps the result (``web.results``) and redirects to it.

Rows a person types or uploads are served predictions like the JSON APIs' and go to the
prediction log under the request's id, which the result then shows as its feedback key;
/accuracy reads the log back (live accuracy per version, drift) and takes the labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from modelserve.bundles import check_model_name
from modelserve.bundles.metadata import Metrics
from modelserve.datasets import Dataset, parse_row, read_csv_bytes
from modelserve.errors import (
    DatabaseUnavailable,
    InvalidInput,
    ModelNotFound,
    ModelserveError,
    PayloadTooLarge,
)
from modelserve.evaluation import evaluate
from modelserve.monitoring.feedback import attach_labels, read_labels_csv
from modelserve.monitoring.monitor import MonitorReport
from modelserve.runtime import ModelRuntime
from modelserve.settings import format_duration
from modelserve.web import charts
from modelserve.web.api import serving
from modelserve.web.errors import error_headers, status_of
from modelserve.web.forms import FeedbackForm, ModelDataForm, RowForm, UploadForm
from modelserve.web.model_data import ModelData
from modelserve.web.observability import note_model, note_prediction, request_id_of
from modelserve.web.results import Description, PredictionResult, ResultStore
from modelserve.web.services import Services

blueprint = Blueprint("pages", __name__)

SOURCES = {"data": ModelDataForm, "upload": UploadForm, "row": RowForm}


def services() -> Services:
    return current_app.extensions["modelserve"]


def results() -> ResultStore:
    return current_app.extensions["modelserve.results"]


@blueprint.before_request
def _check_csrf_token():
    """Every form post carries the token its page was rendered with (CSRFProtect)."""
    if current_app.config["WTF_CSRF_ENABLED"]:
        current_app.extensions["csrf"].protect()


# -- the model a page is about ---------------------------------------------------------------


@dataclass(frozen=True)
class Chosen:
    """The model and version a page shows, and what the picker offers."""

    runtime: ModelRuntime
    pinned: bool  # the version was asked for, rather than the current one
    catalogue: list[tuple[str, str]]  # (value, label) for the model picker

    @property
    def value(self) -> str:
        name = self.runtime.name
        return f"{name}:{self.runtime.version}" if self.pinned else name


def _chosen() -> Chosen:
    svc = services()
    asked = (request.values.get("model") or svc.settings.model).strip()
    name, _, version = asked.partition(":")
    try:
        name = check_model_name(name)
    except InvalidInput as exc:
        raise ModelNotFound(str(exc)) from None
    if version and not re.fullmatch(r"[0-9]{1,9}", version):
        raise ModelNotFound(f"model: version must be a positive integer, got {version!r}")
    if name not in svc.store.models():
        raise ModelNotFound(f"no model {name!r} in the store")
    runtime = svc.cache.get(name, int(version) if version else None)
    note_model(request.environ, runtime.name, runtime.version)
    return Chosen(runtime, bool(version), _catalogue())


def _catalogue() -> list[tuple[str, str]]:
    store = services().store
    options = []
    for name in store.models():
        try:
            current = store.current_version(name)
        except ModelserveError:
            current = None
        current_label = f"current: version {current}" if current else "no current version"
        options.append((name, f"{name} ({current_label})"))
        for version in reversed(store.versions(name)):
            mark = " (current)" if version == current else ""
            options.append((f"{name}:{version}", f"{name} version {version}{mark}"))
    return options


def _model_data(runtime: ModelRuntime) -> ModelData | None:
    return current_app.extensions["modelserve.model_data"].data(runtime)


def _measured(runtime: ModelRuntime) -> np.ndarray:
    """What the model predicts for each of its own rows, computed once per version."""
    cache = current_app.extensions["modelserve.model_data"]
    return cache.probabilities(runtime, lambda features: _run(runtime, features))


def _placeholder(runtime: ModelRuntime, data: ModelData | None) -> str:
    if data is not None:
        return ",".join(f"{v:g}" for v in data.dataset.features[0])
    return ",".join("0" for _ in runtime.metadata.feature_names)


# -- pages --------------------------------------------------------------------------------


@blueprint.get("/")
def index():
    chosen = _chosen()
    return render_template(
        "index.html", chosen=chosen, model=chosen.runtime.metadata, mode=services().executor.mode
    )


@blueprint.get("/predictions")
def predictions():
    return _predictions_page(_chosen())


@blueprint.post("/predictions/<source>")
def predict_from(source: str):
    if source not in SOURCES:
        raise ModelNotFound(f"no such source of rows: {source!r}")
    chosen = _chosen()
    try:
        dataset, name = _rows(source, chosen.runtime, labels=None)
        if source == "data":
            # Not logged: these are the rows the model was trained and measured on, not
            # traffic; logged, they would pull live accuracy and drift towards its training.
            found = _predict(chosen.runtime, dataset, name, _measured(chosen.runtime))
        else:
            found = _predict(chosen.runtime, dataset, name, logged=True)
        return _show(found)
    except InvalidInput as exc:
        status = 413 if isinstance(exc, PayloadTooLarge) else 400
        return _predictions_page(chosen, failed=source, error=str(exc), status=status)


@blueprint.get("/accuracy")
def accuracy():
    return _accuracy_page(_chosen())


@blueprint.post("/accuracy/upload")
def accuracy_upload():
    chosen = _chosen()
    try:
        dataset, name = _rows("upload", chosen.runtime, labels=True)
        # Not logged: a test of the model on rows whose truth is already known, not traffic
        # it serves (nor would its labels be the feedback of anything served).
        return _show(_predict(chosen.runtime, dataset, name))
    except InvalidInput as exc:
        status = 413 if isinstance(exc, PayloadTooLarge) else 400
        return _accuracy_page(chosen, failed="upload", error=str(exc), status=status)


@blueprint.post("/accuracy/feedback")
def accuracy_feedback():
    chosen = _chosen()
    name = chosen.runtime.name  # labels belong to the model's predictions, of any version
    try:
        recorded = attach_labels(services().database, name, _labels())
    except (InvalidInput, DatabaseUnavailable) as exc:
        return _accuracy_page(chosen, failed="feedback", error=str(exc), status=status_of(exc))
    flash(f"{recorded} label{'s' if recorded != 1 else ''} recorded", "feedback")
    return redirect(url_for("pages.accuracy", model=chosen.value, _anchor="production"), code=303)


@blueprint.get("/results/<result_id>")
def result(result_id: str):
    found = results().load(result_id)
    wrong_only = request.args.get("show") == "wrong" and found.labels is not None
    page = found.page(request.args.get("page", 1, type=int), wrong_only)
    return render_template(
        "result.html",
        result=found,
        result_id=result_id,
        sample=services().settings.prediction_log_sample,
        page=page,
        wrong_only=wrong_only,
        charts=_charts(found.labels, found.probabilities, found.description.threshold),
    )


@blueprint.get("/results/<result_id>/rows.csv")
def result_csv(result_id: str):
    found = results().load(result_id)
    described = found.description
    filename = f"{described.model}-v{described.version}-predictions.csv"
    return Response(
        found.to_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


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
            "chart": None,
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
        model["chart"] = charts.versions_over_time(_accuracy_by_version(model))
        registry.append(model)
    return render_template("models.html", registry=registry)


def _accuracy_by_version(model: dict) -> list[tuple[int, float | None, float | None]]:
    """Per version, oldest first: the accuracy its bundle claims, and the latest the gates
    measured when it was switched to."""
    measured: dict[int, float] = {}
    for entry in reversed(model["history"]):  # oldest first: the latest measurement wins
        figure = entry.details.get("accuracy")
        if isinstance(figure, int | float):
            measured[entry.to_version] = float(figure)
    return [
        (m.version, m.evaluation.metrics.accuracy, measured.get(m.version))
        for m in reversed(model["versions"])
    ]


# -- how a page is made ---------------------------------------------------------------------


def _predictions_page(chosen: Chosen, failed: str | None = None, error=None, status=200):
    data = _model_data(chosen.runtime)
    forms = {source: form() for source, form in SOURCES.items()}
    return render_template(
        "predictions.html",
        chosen=chosen,
        data=data,
        forms=forms,
        placeholder=_placeholder(chosen.runtime, data),
        failed=failed,
        error=error,
    ), status


def _accuracy_page(chosen: Chosen, failed: str | None = None, error=None, status=200):
    runtime = chosen.runtime
    data = _model_data(runtime)
    measured = []
    if data is not None:
        probabilities = _measured(runtime)
        labels, threshold = data.dataset.labels, runtime.metadata.output.threshold
        if data.holdout is not None:
            held = data.holdout
            measured.append(
                _Measured(
                    "holdout",
                    f"The {len(held)} held-out rows",
                    "Rows of the model's data it never saw in training: what to expect on new data",
                    evaluate(labels[held], probabilities[held], threshold),
                    _charts(labels[held], probabilities[held], threshold),
                )
            )
        if data.trained_rows:
            whole = f"Every row of {data.name}, including the {data.trained_rows} it was trained on"
        else:
            whole = f"Every row of {data.name}; which of them it was trained on is not recorded"
        measured.append(
            _Measured(
                "all",
                f"All {len(labels)} rows",
                f"{whole}: a figure that flatters the model",
                evaluate(labels, probabilities, threshold),
                _charts(labels, probabilities, threshold) if data.holdout is None else None,
            )
        )
    page = render_template(
        "accuracy.html",
        chosen=chosen,
        data=data,
        measured=measured,
        production=_production(runtime.name),
        form=UploadForm(),
        feedback_form=FeedbackForm(),
        failed=failed,
        error=error,
    )
    return page, status, error_headers(status)  # a 503 says when to try again


@dataclass(frozen=True)
class _Measured:
    """One figure on /accuracy, with the rows it was taken on named."""

    key: str  # "holdout" or "all", in element ids
    title: str
    explanation: str
    metrics: Metrics
    charts: list[charts.Chart] | None


@dataclass(frozen=True)
class _Production:
    """The model in production, as the prediction log tells it, for /accuracy."""

    window: str  # e.g. "1d"
    logging: bool  # this server records its predictions
    report: MonitorReport | None  # None: the log could not be read
    chart: charts.Chart | None
    problem: str | None  # why there is no report


def _production(name: str) -> _Production:
    svc = services()
    window = format_duration(svc.monitor.window)
    logging = svc.predictions is not None
    try:
        report = svc.monitor.report(name)
    except ModelserveError as exc:
        # The log's database down (or the model without a current version to judge drift
        # against) costs this section, not the page: the dataset figures need neither.
        return _Production(window, logging, None, None, str(exc))
    chart = charts.live_accuracy(report.series, report.since, report.until)
    return _Production(window, logging, report, chart, None)


def _labels():
    upload = FeedbackForm().labels_file.data
    if upload is None or not upload.filename:
        raise InvalidInput("Feedback CSV file: choose a file to upload", field="labels_file")
    try:
        text = upload.read().decode("utf-8-sig")  # as spreadsheets save it, mark and all
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{upload.filename}: not UTF-8 text (byte {exc.start})") from None
    return read_labels_csv(text, source=upload.filename)


def _charts(labels, probabilities, threshold) -> list[charts.Chart]:
    drawn = [charts.histogram(probabilities, labels, threshold)]
    if labels is not None:
        auc = evaluate(labels, probabilities, threshold).roc_auc
        drawn += [
            charts.roc(labels, probabilities, auc),
            charts.precision_recall(labels, probabilities),
            charts.calibration_plot(labels, probabilities),
        ]
    return [chart for chart in drawn if chart is not None]


def _rows(source: str, runtime: ModelRuntime, *, labels: bool | None) -> tuple[Dataset, str]:
    metadata = runtime.metadata
    shape = metadata.table_options()
    if source == "data":
        data = _model_data(runtime)
        if data is None:
            raise InvalidInput("this model's bundle carries no data; upload a CSV", field="data")
        return data.dataset, data.name
    if source == "upload":
        upload = UploadForm().csv_file.data
        if upload is None or not upload.filename:
            raise InvalidInput("CSV file: choose a file to upload", field="csv_file")
        dataset = read_csv_bytes(upload.read(), source=upload.filename, labels=labels, **shape)
        return dataset, upload.filename
    text = (RowForm().row.data or "").strip()
    if not text:
        raise InvalidInput("row: type the feature values, separated by commas", field="row")
    features = parse_row(
        text, metadata.n_features, source="row", feature_names=metadata.feature_names
    )
    return Dataset(features, None, tuple(metadata.feature_names), "", np.array([1])), "a typed row"


def _run(runtime: ModelRuntime, features: np.ndarray) -> np.ndarray:
    """Probabilities of class 1 for a model's own data, in requests of at most the row limit
    each (it may be longer than what one request may carry); never logged."""
    svc = services()
    limit = svc.settings.max_batch_rows
    parts = []
    for start in range(0, len(features), limit):
        prediction = svc.executor.predict(runtime, features[start : start + limit])
        parts.append(prediction.probabilities.reshape(-1))
    note_prediction(request.environ, prediction, len(features))
    return np.concatenate(parts)


def _predict(
    runtime: ModelRuntime,
    dataset: Dataset,
    source: str,
    measured: np.ndarray | None = None,
    *,
    logged: bool = False,
) -> PredictionResult:
    """The rows with what the model predicts for them: ``measured`` where already known
    (the model's own data, which may exceed what one request may carry). ``logged``: the
    prediction log records them under this request's id, the result's feedback key."""
    svc = services()
    request_id = None
    if measured is None:
        limit = svc.settings.max_batch_rows
        if len(dataset) > limit:
            raise PayloadTooLarge(f"{source}: {len(dataset)} rows exceed the limit of {limit}")
        if logged:
            prediction = serving.run(svc, request.environ, "pages", runtime, dataset.features)
            measured = prediction.probabilities.reshape(-1)
            if svc.predictions is not None:
                request_id = request_id_of(request.environ)
        else:
            measured = _run(runtime, dataset.features)
    metadata = runtime.metadata
    return PredictionResult(
        description=Description(
            model=runtime.name,
            version=runtime.version,
            source=source,
            threshold=metadata.output.threshold,
            feature_names=list(metadata.feature_names),
            ignored_columns=list(dataset.ignored_columns),
            request_id=request_id,
        ),
        rows=np.arange(1, len(dataset) + 1),
        features=dataset.features,
        labels=dataset.labels,
        probabilities=measured,
    )


def _show(found: PredictionResult):
    return redirect(url_for("pages.result", result_id=results().save(found)), code=303)
