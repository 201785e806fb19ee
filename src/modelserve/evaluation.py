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
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    scores = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    predicted = classify(scores, threshold)
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
