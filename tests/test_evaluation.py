import numpy as np
import pytest
from sklearn import metrics as sk

from modelserve.evaluation import evaluate, roc_auc


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
