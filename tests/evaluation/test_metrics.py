"""Metrics: sklearn/scipy point values, subject bootstrap intervals, degenerate resamples."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)

from vocalmind.errors import ConfigError
from vocalmind.evaluation import classification_metrics, concordance_cc, regression_metrics
from vocalmind.evaluation.metrics import (
    _scores_from_confusion,
    _weighted_auc,
    _weighted_midranks,
)


def noisy_classes(rng: np.random.Generator, n: int, k: int, n_subj: int):
    y = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), y] += 0.4
    proba /= proba.sum(axis=1, keepdims=True)
    groups = rng.integers(0, n_subj, n)
    return y, pred, proba, groups


@pytest.mark.parametrize("k", [2, 4])
def test_point_values_match_sklearn(k):
    rng = np.random.default_rng(k)
    y, pred, proba, groups = noisy_classes(rng, 300, k, 30)
    names = np.array(["anger", "fear", "joy", "sad"])[:k]
    m = classification_metrics(names[y], names[pred], proba=proba, groups=groups, n_boot=200)
    assert m["classes"] == names.tolist()
    assert m["uar"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    auc = roc_auc_score(y, proba[:, 1]) if k == 2 else roc_auc_score(y, proba, multi_class="ovr")
    assert m["roc_auc"] == pytest.approx(auc)
    assert np.asarray(m["confusion_matrix"]).sum() == 300 and m["n"] == 300
    assert m["n_subjects"] == 30
    assert m["per_class"]["anger"]["support"] == int((y == 0).sum())
    for name in ("uar", "accuracy", "macro_f1", "roc_auc"):
        lo, hi = m[f"{name}_ci"]
        assert lo <= m[name] <= hi
    json.dumps(m, allow_nan=False)  # JSON-safe


def test_vectorised_bootstrap_pieces_match_sklearn_with_weights():
    rng = np.random.default_rng(7)
    y, pred, proba, _ = noisy_classes(rng, 120, 3, 10)
    weights = rng.integers(0, 4, size=(6, 120)).astype(float)
    cm = np.zeros((6, 3, 3))
    for b in range(6):
        np.add.at(cm[b], (y, pred), weights[b])
    scores = _scores_from_confusion(cm)
    score = np.round(proba[:, 0], 1)  # with ties
    rows = np.arange(120)  # every row its own subject: counts = row weights
    auc = _weighted_auc(score, y == 0, rows, weights)
    for b in range(6):
        w = weights[b]
        assert scores["uar"][b] == pytest.approx(balanced_accuracy_score(y, pred, sample_weight=w))
        assert scores["macro_f1"][b] == pytest.approx(
            f1_score(y, pred, average="macro", sample_weight=w))
        assert auc[b] == pytest.approx(roc_auc_score(y == 0, score, sample_weight=w))
        x = np.round(rng.normal(size=120), 1)
        ranks = _weighted_midranks(x, rows, w[None, :])[0]
        rep = np.repeat(np.arange(120), w.astype(int))
        np.testing.assert_allclose(ranks[rep], stats.rankdata(x[rep]))


def test_bootstrap_resamples_subjects_not_rows():
    # 10 subjects x 50 rows; a subject's rows are all right or all wrong, so the
    # effective sample size is 10 and the subject interval must be much wider
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(10), 50)
    y = rng.integers(0, 2, 500)
    right = np.repeat(rng.random(10) < 0.7, 50)
    pred = np.where(right, y, 1 - y)
    by_subject = classification_metrics(y, pred, groups=groups)
    by_row = classification_metrics(y, pred)
    width = lambda m: m["accuracy_ci"][1] - m["accuracy_ci"][0]  # noqa: E731
    assert width(by_subject) > 3 * width(by_row)
    assert by_subject["bootstrap"]["unit"] == "subject" and by_row["bootstrap"]["unit"] == "row"


def test_interval_shrinks_with_more_subjects_and_is_seeded():
    def run(n_subj, seed=0):
        rng = np.random.default_rng(1)
        y, pred, _, _ = noisy_classes(rng, n_subj * 5, 3, 1)
        groups = np.repeat(np.arange(n_subj), 5)
        return classification_metrics(y, pred, groups=groups, seed=seed)

    small, large = run(20), run(400)
    assert (small["uar_ci"][1] - small["uar_ci"][0]) > 2 * (large["uar_ci"][1] - large["uar_ci"][0])
    assert run(20)["uar_ci"] == small["uar_ci"]
    assert run(20, seed=1)["uar_ci"] != small["uar_ci"]


def test_degenerate_resamples_are_skipped_and_counted():
    # two subjects, each with a single class: half the resamples hold one class only
    y = np.array([0] * 5 + [1] * 5)
    pred = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 0])
    m = classification_metrics(y, pred, proba=pred * 0.8 + 0.1, groups=[0] * 5 + [1] * 5)
    skipped = m["bootstrap"]["skipped"]
    assert 400 < skipped["uar"] < 600
    assert skipped["roc_auc"] == skipped["uar"] == skipped["macro_f1"]
    assert skipped["accuracy"] == 0
    r = regression_metrics([1.0, 2.0, 3.0, 4.0], [2.0] * 4, groups=[0, 0, 1, 1])
    assert r["pearson_r"] is None and r["pearson_r_ci"] is None
    assert r["bootstrap"]["skipped"]["pearson_r"] == 1000
    assert r["ccc"] == pytest.approx(0.0) and r["bootstrap"]["skipped"]["mae"] == 0


def test_auc_none_without_proba_or_absent_class():
    m = classification_metrics([0, 1, 1], [0, 1, 0], n_boot=10)
    assert m["roc_auc"] is None and m["roc_auc_ci"] is None
    proba = np.full((3, 3), 1 / 3)
    m = classification_metrics([0, 1, 1], [0, 1, 2], proba=proba, classes=[0, 1, 2], n_boot=10)
    assert m["roc_auc"] is None


def test_proba_dataframe_matched_by_column_name():
    rng = np.random.default_rng(3)
    y, pred, proba, groups = noisy_classes(rng, 100, 3, 10)
    names = np.array(["a", "b", "c"])
    df = pd.DataFrame(proba, columns=["proba_a", "proba_b", "proba_c"])[["proba_c", "proba_a",
                                                                         "proba_b"]]
    m = classification_metrics(names[y], names[pred], proba=df, classes=["a", "b", "c"],
                               groups=groups, n_boot=50)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"))


def test_bad_inputs_raise():
    with pytest.raises(ConfigError, match="not in classes"):
        classification_metrics(["a", "b"], ["a", "c"], classes=["a", "b"])
    with pytest.raises(ConfigError, match="equally long"):
        classification_metrics([0, 1], [0])
    with pytest.raises(ConfigError, match="missing"):
        regression_metrics([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ConfigError, match="groups has 1"):
        regression_metrics([1.0, 2.0], [1.0, 2.0], groups=[0])
    with pytest.raises(ConfigError, match="proba has shape"):
        classification_metrics([0, 1, 2], [0, 1, 2], proba=np.ones((3, 2)))


def test_regression_point_values_and_intervals():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(60), 4)
    t = np.repeat(rng.integers(0, 25, 60), 4).astype(float)
    p = t + rng.normal(0, 3, t.size)
    m = regression_metrics(t, p, groups=groups)
    assert m["mae"] == pytest.approx(mean_absolute_error(t, p))
    assert m["rmse"] == pytest.approx(root_mean_squared_error(t, p))
    assert m["pearson_r"] == pytest.approx(stats.pearsonr(t, p).statistic)
    assert m["spearman_r"] == pytest.approx(stats.spearmanr(t, p).statistic)
    assert m["ccc"] == pytest.approx(concordance_cc(t, p))
    for name in ("mae", "rmse", "pearson_r", "ccc", "spearman_r"):
        lo, hi = m[f"{name}_ci"]
        assert lo <= m[name] <= hi, name
    assert m["n_subjects"] == 60
    json.dumps(m, allow_nan=False)


def test_concordance_known_values():
    # cov 2/3, variances 2/3 each, mean shift 1: 2*(2/3) / (4/3 + 1) = 4/7
    assert concordance_cc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)
    assert concordance_cc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert concordance_cc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
