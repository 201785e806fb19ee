"""``modelserve feedback`` and ``modelserve monitor``: the prediction log from the command line,
on the same database the server writes (MODELSERVE_DATABASE_URL, or SQLite beside the store)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from modelserve.cli.common import (
    Context,
    echo_json,
    echo_table,
    json_option,
    model_name_option,
    pass_context,
)
from modelserve.errors import InvalidInput
from modelserve.monitoring.database import Database, database_url
from modelserve.monitoring.feedback import attach_labels, read_labels_csv
from modelserve.monitoring.monitor import Monitor, MonitorReport
from modelserve.settings import format_duration, parse_duration


class DurationType(click.ParamType):
    name = "DURATION"

    def convert(self, value, param, ctx) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _database(ctx: Context) -> Database:
    return Database(database_url(ctx.settings))


@click.command(short_help="Record true classes of earlier predictions.")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV with the header request_id,label (and row, for requests of several rows).",
)
@model_name_option
@json_option
@pass_context
def feedback(ctx: Context, data: Path, model_name: str | None, as_json: bool) -> None:
    """Record the true class of earlier predictions, by the X-Request-ID they were answered
    with. All of the file's labels are recorded, or none."""
    name = model_name or ctx.settings.model
    ctx.store.check_known(name)
    try:
        text = data.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {data}: {exc}", field="data") from None
    accepted = attach_labels(_database(ctx), name, read_labels_csv(text, source=str(data)))
    if as_json:
        echo_json({"accepted": accepted})
    else:
        click.echo(f"recorded {accepted} label{'s' if accepted != 1 else ''} for {name}")


@click.command(short_help="Live accuracy and input drift in production.")
@model_name_option
@click.option("--version", type=click.IntRange(min=1), default=None, help="One version only.")
@click.option(
    "--window",
    type=DurationType(),
    default=None,
    help="How far back to look, e.g. 1h, 24h, 7d; default: MODELSERVE_MONITOR_WINDOW.",
)
@json_option
@pass_context
def monitor(
    ctx: Context,
    model_name: str | None,
    version: int | None,
    window: timedelta | None,
    as_json: bool,
) -> None:
    """How the model does in production: live accuracy of the predictions labelled so far,
    and which input features drifted from its training data."""
    settings = ctx.settings
    watcher = Monitor(
        _database(ctx),
        ctx.store,
        window=settings.monitor_window,
        drift_threshold=settings.drift_threshold,
        drift_min_rows=settings.drift_min_rows,
    )
    report = watcher.report(model_name or settings.model, version, window)
    if as_json:
        echo_json(report.model_dump(mode="json"))
    else:
        _echo_report(report)


def _echo_report(report: MonitorReport) -> None:
    which = f"version {report.version}" if report.version is not None else "all versions"
    span = format_duration(timedelta(seconds=report.window_seconds))
    click.echo(f"{report.model}, {which}, last {span}: {report.predictions} predictions logged")
    if report.labelled:
        click.echo(f"labelled {report.labelled}: live accuracy {report.live_accuracy:.4f}")
    else:
        click.echo("labelled 0: no live accuracy yet (send labels with `modelserve feedback`)")
    if report.versions:
        echo_table(
            ["version", "predictions", "labelled", "accuracy", "precision", "recall", "roc_auc"],
            [
                [v.version, v.predictions, v.labelled, v.accuracy, v.precision, v.recall, v.roc_auc]
                for v in report.versions
            ],
        )
    if report.drift_note is not None:
        click.echo(f"drift: not judged: {report.drift_note}")
        return
    drifted = ", ".join(report.drifted) or "none"
    click.echo(
        f"drift against {report.drift_reference} ({report.drift_rows} recent rows, PSI above "
        f"{report.drift_threshold:g} counts): drifted: {drifted}"
    )
    echo_table(
        ["feature", "psi", "drifted"],
        [[d.feature, d.psi, "drifted" if d.drifted else ""] for d in report.drift],
    )
