import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.calibration import calibration_curve

from modelserve.evaluation import (
    calibration,
    evaluate,
    precision_recall_curve,
    roc_auc,
    roc_curve,
)


@pytest.mark.parametrize("seed", range(5))
def test_metrics_equal_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    # Rounded scores create ties, which ROC AUC must count as half.
    scores = np.round(np.clip(labels * 0.3 + rng.random(300) * 0.7, 0, 1), 2)
    result = evaluate(labels, scores, threshold=0.5)
    predicted = (scores > 0.5).astype(int)
    assert result.accuracy == pytest.approx(sk.accuracy_score(labels, predicted))
    assert result.precision == pytest.approx(sk.precision_score(labels, predicted))
    assert result.recall == pytest.approx(sk.recall_score(labels, predicted))
    assert result.f1 == pytest.approx(sk.f1_score(labels, predicted))
    assert result.roc_auc == pytest.approx(sk.roc_auc_score(labels, scores))
    assert result.confusion_matrix == sk.confusion_matrix(labels, predicted).tolist()
    assert result.n == 300


def test_degenerate_cases():
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.9])) is None
    result = evaluate(np.array([0, 0]), np.array([0.1, 0.2]), 0.5)
    assert (result.precision, result.recall, result.f1, result.accuracy) == (0, 0, 0, 1)


def scores_with_ties(seed: int, n: int = 300):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, np.round(np.clip(labels * 0.3 + rng.random(n) * 0.7, 0, 1), 2)


@pytest.mark.parametrize("seed", range(3))
def test_curves_equal_scikit_learn(seed):
    labels, scores = scores_with_ties(seed)
    fpr, tpr = roc_curve(labels, scores)
    sk_fpr, sk_tpr, _ = sk.roc_curve(labels, scores, drop_intermediate=False)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)
    # The area under the drawn curve is the figure the pages print beside it.
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(labels, scores))

    recall, precision = precision_recall_curve(labels, scores)
    sk_precision, sk_recall, _ = sk.precision_recall_curve(labels, scores)
    # scikit-learn lists the points from the loosest threshold to the strictest.
    assert np.allclose(recall, sk_recall[::-1]) and np.allclose(precision, sk_precision[::-1])

    predicted, observed, counts = calibration(labels, scores)
    sk_observed, sk_predicted = calibration_curve(labels, scores, n_bins=10)
    assert np.allclose(predicted, sk_predicted) and np.allclose(observed, sk_observed)
    assert counts.sum() == len(labels)


def test_curves_need_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        roc_curve(np.array([1, 1]), np.array([0.2, 0.9]))
    with pytest.raises(ValueError, match="positive rows"):
        precision_recall_curve(np.array([0, 0]), np.array([0.2, 0.9]))
