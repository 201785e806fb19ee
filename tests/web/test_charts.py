"""Chart geometry: every mark inside the plotting area, and counts that add up."""

import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from modelserve.monitoring.monitor import Slice
from modelserve.web import charts


def inside(chart: charts.Chart, x: float, y: float) -> bool:
    return chart.left <= x <= chart.right and chart.top <= y <= chart.bottom


def test_the_histogram_counts_every_row_once_per_class():
    rng = np.random.default_rng(1)
    probabilities = rng.random(500)
    labels = rng.integers(0, 2, 500)
    chart = charts.histogram(probabilities, labels, threshold=0.5)
    counted = {
        s.name: sum(int(re.match(r".*: (\d+) rows", b.title).group(1)) for b in s.bars)
        for s in chart.series
    }
    assert counted == {"true class 0": (labels == 0).sum(), "true class 1": (labels == 1).sum()}
    for bar in (b for s in chart.series for b in s.bars):
        assert inside(chart, bar.x, bar.y) and bar.y + bar.height == pytest.approx(chart.bottom)
    (threshold,) = chart.lines
    assert threshold.x1 == pytest.approx((chart.left + chart.right) / 2)


def test_curves_stay_in_the_unit_square():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(labels * 0.4 + rng.random(200) * 0.6, 0, 1)
    drawn = [
        charts.roc(labels, scores, auc=0.8),
        charts.precision_recall(labels, scores),
        charts.calibration_plot(labels, scores),
    ]
    for chart in drawn:
        points = [tuple(map(float, p.split(","))) for s in chart.series for p in s.points.split()]
        assert points and all(inside(chart, x, y) for x, y in points)
    assert charts.roc(labels, scores, auc=None) is None
    assert charts.precision_recall(np.zeros(5), scores[:5]) is None


def test_versions_sit_clear_of_the_axes_on_round_ticks():
    chart = charts.versions_over_time([(1, 0.7008, None), (2, 0.72, 0.7252), (3, 0.69, 0.71)])
    assert [t.label for t in chart.y_ticks] == ["0.65", "0.7", "0.75", "0.8"]
    assert [t.label for t in chart.x_ticks] == ["1", "2", "3"]
    markers = [m for s in chart.series for m in s.markers]
    assert len(markers) == 5  # version 1 was never measured by the gates
    assert all(chart.top < y < chart.bottom for _, y, _ in markers)
    assert charts.versions_over_time([]) is None


def test_live_accuracy_draws_a_line_per_version_across_the_window():
    until = datetime(2026, 1, 2, tzinfo=timezone.utc)
    since = until - timedelta(days=1)
    part = (until - since) / 12

    def parts(version, accuracies):
        return [
            Slice(
                version=version,
                start=since + i * part,
                end=since + (i + 1) * part,
                labelled=4,
                accuracy=a,
            )
            for i, a in accuracies
        ]

    slices = parts(1, [(0, 0.5), (5, 0.75)]) + parts(2, [(11, 1.0)])
    chart = charts.live_accuracy(slices, since, until)
    assert [s.name for s in chart.legend] == ["version 1", "version 2"]
    assert len({s.css for s in chart.series}) == 2  # told apart by style as well as by name
    assert [t.label for t in chart.x_ticks] == ["1d ago", "18h ago", "12h ago", "6h ago", "now"]
    assert chart.title == "Live accuracy of each version, per 2h of the last 1d"
    first, second = chart.series
    assert len(first.points.split()) == 2 and len(second.points.split()) == 1
    markers = [m for s in chart.series for m in s.markers]
    assert all(inside(chart, x, y) for x, y, _ in markers)
    # Each point in the middle of its twelfth: the first an hour into the window.
    assert markers[0][0] == pytest.approx(chart.left + (chart.right - chart.left) / 24, abs=0.01)
    assert markers[1][2].startswith("version 1, 2026-01-01 10:00–12:00 UTC: accuracy 0.7500")
    one = charts.live_accuracy(parts(3, [(2, 0.5)]), since, until)
    assert one.legend == [] and one.title.startswith("Live accuracy of version 3,")
    assert charts.live_accuracy([], since, until) is None
