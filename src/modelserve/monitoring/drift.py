"""Input drift per feature: the population stability index (PSI) of recent inputs against the
training data the bundle carries.

PSI rather than a KS test: a KS p-value judges whether two samples could share a
distribution, so with the thousands of rows a log holds it flags shifts too small to matter;
PSI measures how far the mass moved between the training data's deciles, whatever the
sample size, and has a widely used reading (below 0.1 stable, 0.1 to 0.2 a moderate shift,
above 0.2 a real one).
"""

from __future__ import annotations

import numpy as np

BINS = 10
# Added to every bin's count: an empty bin must not make the index infinite.
_SMOOTHING = 0.5


def psi(reference: np.ndarray, recent: np.ndarray, bins: int = BINS) -> float:
    """The population stability index of ``recent`` against ``reference``, over the
    reference's quantile bins (fewer where its values repeat, as small counts do)."""
    reference = np.asarray(reference, dtype=np.float64)
    recent = np.asarray(recent, dtype=np.float64)
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = _shares(reference, edges)
    actual = _shares(recent, edges)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    smoothed = counts + _SMOOTHING
    return smoothed / smoothed.sum()


def feature_psi(reference: np.ndarray, recent: np.ndarray) -> list[float]:
    """PSI of each column of two (N, F) arrays."""
    return [psi(reference[:, f], recent[:, f]) for f in range(reference.shape[1])]
