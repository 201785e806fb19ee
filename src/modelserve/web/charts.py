"""The pages' charts as geometry: axes, series and reference lines in SVG user units.

``templates/_charts.html`` draws them as inline SVG, so nothing is fetched from elsewhere and
no script runs. The drawing is 360 units wide, about the width of a phone, so that its
13-unit labels stay at least that many pixels tall on a 390 px screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from modelserve.evaluation import calibration, precision_recall_curve, roc_curve
from modelserve.settings import format_duration

if TYPE_CHECKING:
    from modelserve.monitoring.monitor import Slice

WIDTH, HEIGHT = 360, 250
LEFT, RIGHT, TOP, BOTTOM = 50, 346, 14, 200  # the plotting area


@dataclass(frozen=True)
class Tick:
    at: float  # position along its axis, in SVG units
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # the class that colours it, and the legend's swatch
    points: str = ""  # an SVG polyline
    markers: list[tuple[float, float, str]] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    css: str
    label: str = ""


@dataclass(frozen=True)
class Chart:
    id: str
    title: str  # what a screen reader announces, and the figure's caption
    x_title: str
    y_title: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[Series]
    lines: list[Line] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM

    @property
    def legend(self) -> list[Series]:
        """The series a reader must tell apart: only where there are several."""
        return self.series if len(self.series) > 1 else []


class _Scale:
    def __init__(self, low: float, high: float, start: float, end: float):
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        return round(self.start + (value - self.low) / span * (self.end - self.start), 2)

    def ticks(self, values, fmt: str = "{:g}") -> list[Tick]:
        return [Tick(self(v), fmt.format(v)) for v in values]


X01 = _Scale(0.0, 1.0, LEFT, RIGHT)
Y01 = _Scale(0.0, 1.0, BOTTOM, TOP)
QUARTERS = (0, 0.25, 0.5, 0.75, 1)


def _polyline(xs, ys, x: _Scale = X01, y: _Scale = Y01) -> str:
    return " ".join(f"{x(a)},{y(b)}" for a, b in zip(xs, ys, strict=True))


def _nice_top(count: int) -> tuple[int, list[int]]:
    """An axis top at or above ``count`` with at most six round ticks (steps 1, 2, 5, 10…)."""
    step, magnitude = 1, 1
    while -(-count // step) > 5:
        for multiple in (2, 5, 10):
            step = multiple * magnitude
            if -(-count // step) <= 5:
                break
        magnitude *= 10
    top = max(step, -(-count // step) * step)
    return top, list(range(0, top + 1, step))


def histogram(
    probabilities: np.ndarray, labels: np.ndarray | None, threshold: float, bins: int = 20
) -> Chart:
    """Rows per probability bin, one series per true class when labels are known."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    groups = [("all rows", "rows", np.ones(len(probabilities), bool))]
    if labels is not None:
        groups = [
            ("true class 0", "class-0", labels == 0),
            ("true class 1", "class-1", labels == 1),
        ]
    counts = [np.histogram(probabilities[mask], edges)[0] for _, _, mask in groups]
    top, y_ticks = _nice_top(int(max(c.max() for c in counts)) or 1)
    y = _Scale(0, top, BOTTOM, TOP)
    slot = (RIGHT - LEFT) / bins
    width = slot / len(groups)
    series = []
    for g, ((name, css, _), count) in enumerate(zip(groups, counts, strict=True)):
        bars = [
            Bar(
                x=round(LEFT + i * slot + g * width, 2),
                y=y(int(n)),
                width=round(width * 0.92, 2),
                height=round(BOTTOM - y(int(n)), 2),
                title=f"{name}: {int(n)} rows with probability {edges[i]:.2f}–{edges[i + 1]:.2f}",
            )
            for i, n in enumerate(count)
            if n
        ]
        series.append(Series(name, css, bars=bars))
    at = X01(threshold)
    return Chart(
        id="probability-histogram",
        title="Rows by predicted probability of class 1"
        + (", per true class" if labels is not None else ""),
        x_title="probability of class 1",
        y_title="rows",
        x_ticks=X01.ticks(QUARTERS),
        y_ticks=y.ticks(y_ticks),
        series=series,
        lines=[Line(at, TOP, at, BOTTOM, "threshold", f"threshold {threshold:g}")],
    )


def _unit_square(id: str, title: str, x_title: str, y_title: str, curve: Series, reference: Line):
    """A curve on [0, 1] × [0, 1], beside the line that tells good from useless."""
    return Chart(
        id=id,
        title=title,
        x_title=x_title,
        y_title=y_title,
        x_ticks=X01.ticks(QUARTERS),
        y_ticks=Y01.ticks(QUARTERS),
        series=[curve],
        lines=[reference],
    )


def _diagonal(label: str) -> Line:
    return Line(X01(0), Y01(0), X01(1), Y01(1), "reference", label)


def roc(labels: np.ndarray, probabilities: np.ndarray, auc: float | None) -> Chart | None:
    if auc is None:
        return None
    fpr, tpr = roc_curve(labels, probabilities)
    return _unit_square(
        "roc-curve",
        f"ROC curve (area {auc:.3f})",
        "false positive rate",
        "true positive rate",
        Series("model", "curve", points=_polyline(fpr, tpr)),
        _diagonal("chance"),
    )


def precision_recall(labels: np.ndarray, probabilities: np.ndarray) -> Chart | None:
    if not (labels == 1).any():
        return None
    recall, precision = precision_recall_curve(labels, probabilities)
    base = float((labels == 1).mean())
    return _unit_square(
        "precision-recall-curve",
        "Precision against recall",
        "recall",
        "precision",
        Series("model", "curve", points=_polyline(recall, precision)),
        Line(X01(0), Y01(base), X01(1), Y01(base), "reference", f"share of 1s {base:.2f}"),
    )


def calibration_plot(labels: np.ndarray, probabilities: np.ndarray) -> Chart:
    predicted, observed, counts = calibration(labels, probabilities)
    markers = [
        (X01(p), Y01(o), f"{n} rows: mean probability {p:.2f}, share of class 1 {o:.2f}")
        for p, o, n in zip(predicted, observed, counts, strict=True)
    ]
    return _unit_square(
        "calibration-plot",
        "Calibration: predicted probability against the share of class 1",
        "mean predicted probability (10 bins)",
        "share of class 1",
        Series("model", "curve", points=_polyline(predicted, observed), markers=markers),
        _diagonal("perfectly calibrated"),
    )


def versions_over_time(points: list[tuple[int, float | None, float | None]]) -> Chart | None:
    """Accuracy per version: what its bundle claims and what the gates measured."""
    if not points:
        return None
    versions = [v for v, _, _ in points]
    values = [a for _, c, m in points for a in (c, m) if a is not None]
    if not values:
        return None
    # A margin of at least 0.025 on both sides, in steps of 0.05: no point sits on an axis.
    low = max(0.0, np.floor((min(values) - 0.025) * 20) / 20)
    high = min(1.0, np.ceil((max(values) + 0.025) * 20) / 20)
    tick = 0.05 if (high - low) <= 0.3 else 0.1 if (high - low) <= 0.6 else 0.25
    first, last = versions[0], versions[-1]
    x = _Scale(first - 0.5, last + 0.5, LEFT, RIGHT)
    y = _Scale(low, high, BOTTOM, TOP)
    step = max(1, -(-len(versions) // 8))
    series = []
    for index, name, css in (
        (1, "claimed by the bundle", "claimed"),
        (2, "measured by the gates", "measured"),
    ):
        known = [(p[0], p[index]) for p in points if p[index] is not None]
        series.append(
            Series(
                name,
                css,
                points=" ".join(f"{x(v)},{y(a)}" for v, a in known),
                markers=[(x(v), y(a), f"version {v}: {name} {a:.4f}") for v, a in known],
            )
        )
    return Chart(
        id="accuracy-over-versions",
        title="Accuracy of each version",
        x_title="version",
        y_title="accuracy",
        x_ticks=[Tick(x(v), str(v)) for v in versions[::step]],
        y_ticks=y.ticks(np.round(np.arange(low, high + tick / 2, tick), 2).tolist()),
        series=series,
    )


LIVE_STYLES = 4  # line styles (colour and dash pattern) before versions share one


def live_accuracy(slices: list[Slice], since: datetime, until: datetime) -> Chart | None:
    """Accuracy of the labelled predictions in each part of the window, a line per version;
    each point sits in the middle of its part, on a time axis that ends now."""
    if not slices:
        return None
    span = (until - since).total_seconds()
    x = _Scale(0.0, span, LEFT, RIGHT)  # seconds after ``since``
    versions = sorted({s.version for s in slices})
    series = []
    for index, version in enumerate(versions):
        own = sorted((s for s in slices if s.version == version), key=lambda s: s.start)
        middles = [((s.start - since) + (s.end - since)).total_seconds() / 2 for s in own]
        series.append(
            Series(
                f"version {version}",
                f"live-{index % LIVE_STYLES}",
                points=_polyline(middles, [s.accuracy for s in own], x=x),
                markers=[
                    (
                        x(at),
                        Y01(s.accuracy),
                        f"version {version}, {s.start:%Y-%m-%d %H:%M}–{s.end:%H:%M} UTC: "
                        f"accuracy {s.accuracy:.4f} on {s.labelled} labelled "
                        f"row{'s' if s.labelled != 1 else ''}",
                    )
                    for at, s in zip(middles, own, strict=True)
                ],
            )
        )
    part = format_duration(slices[0].end - slices[0].start)
    window = format_duration(until - since)
    shown = f"version {versions[0]}" if len(versions) == 1 else "each version"
    return Chart(
        id="live-accuracy-chart",
        title=f"Live accuracy of {shown}, per {part} of the last {window}",
        x_title="time before now",
        y_title="accuracy of labelled rows",
        x_ticks=[Tick(x(span * q), _ago(span * (1 - q))) for q in QUARTERS],
        y_ticks=Y01.ticks(QUARTERS),
        series=series,
    )


def _ago(seconds: float) -> str:
    return f"{format_duration(timedelta(seconds=seconds))} ago" if seconds else "now"
