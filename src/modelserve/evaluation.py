"""Classification metrics in plain NumPy.

Written here rather than taken from scikit-learn so that evaluating a model on a production
server (gates, the /accuracy page) needs no SciPy stack; tests check every figure against
scikit-learn.
"""

from __future__ import annotations

import numpy as np

from modelserve.bundles.metadata import Metrics


def classify(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Class 1 where the probability reaches the threshold, as Keras' binary accuracy counts it."""
    return (np.asarray(probabilities).reshape(-1) > threshold).astype(np.int64)


def evaluate(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> Metrics:
    scores = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    return evaluate_classes(labels, classify(scores, threshold), scores)


def evaluate_classes(labels: np.ndarray, predicted: np.ndarray, scores: np.ndarray) -> Metrics:
    """The figures of classes already decided (as served), ``scores`` for the ROC area."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    predicted = np.asarray(predicted).reshape(-1).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    tp = int(np.sum((predicted == 1) & (labels == 1)))
    tn = int(np.sum((predicted == 0) & (labels == 0)))
    fp = int(np.sum((predicted == 1) & (labels == 0)))
    fn = int(np.sum((predicted == 0) & (labels == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Metrics(
        accuracy=(tp + tn) / len(labels),
        precision=precision,
        recall=recall,
        f1=f1,
        roc_auc=roc_auc(labels, scores),
        confusion_matrix=[[tn, fp], [fn, tp]],
        n=len(labels),
    )


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve as the Mann-Whitney U statistic, ties counted as half.

    None when only one class is present, where the area is undefined.
    """
    positive = labels == 1
    n_pos = int(positive.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = (ends - counts + 1 + ends) / 2.0
    rank_sum = average_rank[inverse][positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    tps, fps = _cumulative_counts(labels, scores)
    if tps[-1] == 0 or fps[-1] == 0:
        raise ValueError("a ROC curve needs both classes")
    return np.concatenate([[0.0], fps / fps[-1]]), np.concatenate([[0.0], tps / tps[-1]])


def precision_recall_curve(labels: np.ndarray, scores: np.ndarray):
    """Recall and precision at every distinct threshold, from the strictest to the loosest."""
    tps, fps = _cumulative_counts(labels, scores)
    if tps[-1] == 0:
        raise ValueError("a precision-recall curve needs positive rows")
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    # Recall 0 at precision 1, as scikit-learn draws it: the curve starts at the top left.
    return np.concatenate([[0.0], recall]), np.concatenate([[1.0], precision])


def calibration(labels: np.ndarray, scores: np.ndarray, bins: int = 10):
    """Per probability bin with rows: the mean predicted probability, the share of class 1
    and the row count (bins of equal width on [0, 1], as scikit-learn's uniform strategy)."""
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    # A score on an edge falls in the lower bin, as in scikit-learn.
    which = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], scores)
    counts = np.bincount(which, minlength=bins)
    predicted = np.bincount(which, weights=scores, minlength=bins)
    observed = np.bincount(which, weights=labels, minlength=bins)
    filled = counts > 0
    return predicted[filled] / counts[filled], observed[filled] / counts[filled], counts[filled]


def _cumulative_counts(labels: np.ndarray, scores: np.ndarray):
    """True and false positives when the threshold sits at each distinct score, high to low."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(scores, kind="mergesort")[::-1]
    scores, labels = scores[order], labels[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(labels)[last_of_each].astype(np.float64)
    fps = (last_of_each + 1) - tps
    return tps, fps
