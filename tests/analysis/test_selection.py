"""PartialCorrelationSelector: selection, covariate mechanisms and fold purity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline

from vocalmind.analysis.selection import PartialCorrelationSelector
from vocalmind.errors import ConfigError, FeatureError


def _data(n: int = 60, m: int = 12, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, m)), columns=[f"f{i}" for i in range(m)])
    y = 3 * X["f0"].to_numpy() - 2 * X["f1"].to_numpy() + rng.normal(0, 1, n)
    X["gender"] = rng.choice(["f", "m"], n)
    X["age"] = rng.uniform(18, 60, n)
    groups = np.repeat(np.arange(n // 3), 3)
    return X, y, groups


def test_selects_informative_features_and_removes_covariates() -> None:
    X, y, _ = _data()
    sel = PartialCorrelationSelector().fit(X, y)
    assert sel.get_feature_names_out().tolist() == ["f0", "f1"]
    out = sel.transform(X)
    assert out.shape == (60, 2)
    np.testing.assert_array_equal(out, X[["f0", "f1"]].to_numpy())
    assert "gender" not in sel.feature_names_ and sel.n_features_in_ == 14
    assert not sel.fallback_used_
    # a plain array of the same columns works too
    np.testing.assert_array_equal(sel.transform(X.assign(gender=0).to_numpy(float)), out)


def test_zero_mode_keeps_width_like_the_study() -> None:
    X, y, _ = _data()
    sel = PartialCorrelationSelector(mode="zero", fdr=True).fit(X, y)
    out = sel.transform(X)
    assert out.shape == (60, 12)
    assert np.all(out[:, 2:] == 0) and np.all(out[:, :2] == X[["f0", "f1"]].to_numpy())
    assert sel.set_output(transform="pandas").transform(X).columns.tolist()[:2] == ["f0", "f1"]


def test_covariates_passed_to_fit_equal_covariates_in_x() -> None:
    X, y, _ = _data()
    a = PartialCorrelationSelector().fit(X, y)
    b = PartialCorrelationSelector().fit(X.drop(columns=["gender", "age"]), y, covariates=X[["gender", "age"]])
    np.testing.assert_allclose(a.pvalues_, b.pvalues_)
    c = PartialCorrelationSelector(covariates=()).fit(X.drop(columns=["gender", "age"]), y)
    assert not np.allclose(a.pvalues_, c.pvalues_)


def _leaky_data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """f11 equals y on the rows of one fold's test subjects and is noise elsewhere."""
    X, y, groups = _data(n=60, m=12, seed=3)
    X["f0"] = X["f0"] * 0.1  # only f1 is informative on the training rows
    y = -2 * X["f1"].to_numpy() + np.random.default_rng(9).normal(0, 1, 60)
    train, test = next(GroupKFold(n_splits=3).split(X, y, groups))
    X.loc[test, "f11"] = y[test] * 10
    return X, y, groups, train, test


def test_fit_on_a_fold_never_looks_at_other_rows() -> None:
    X, y, groups, train, test = _leaky_data()
    # on all rows the leaky feature is selected ...
    assert "f11" in PartialCorrelationSelector().fit(X, y).get_feature_names_out()
    # ... inside the training fold it is not, and garbage in the test rows changes nothing
    clean = PartialCorrelationSelector().fit(X.iloc[train], y[train])
    assert "f11" not in clean.get_feature_names_out()
    poisoned = X.copy()
    poisoned.loc[test, [c for c in X.columns if c.startswith("f")]] = 1e9
    poisoned.loc[test, "age"] = np.nan
    poisoned.loc[test, "gender"] = "x"
    again = PartialCorrelationSelector().fit(poisoned.iloc[train], y[train])
    np.testing.assert_array_equal(clean.pvalues_, again.pvalues_)
    # and a cross-validated pipeline refits per fold on exactly those rows
    res = cross_validate(
        make_pipeline(PartialCorrelationSelector(), Ridge()), X, y, groups=groups,
        cv=GroupKFold(n_splits=3), return_estimator=True, return_indices=True,
    )
    for est, tr in zip(res["estimator"], res["indices"]["train"], strict=True):
        ref = PartialCorrelationSelector().fit(X.iloc[tr], y[tr])
        np.testing.assert_allclose(est[0].pvalues_, ref.pvalues_)
    assert "f11" not in res["estimator"][0][0].get_feature_names_out()


def test_metadata_routing_slices_covariates_per_fold() -> None:
    X, y, groups = _data()
    feats, cov = X.drop(columns=["gender", "age"]), X[["gender", "age"]]
    with sklearn.config_context(enable_metadata_routing=True):
        sel = PartialCorrelationSelector().set_fit_request(covariates=True)
        ridge = Ridge().set_fit_request(sample_weight=False)
        res = cross_validate(
            make_pipeline(sel, ridge), feats, y, cv=GroupKFold(n_splits=3),
            params={"covariates": cov, "groups": groups}, return_estimator=True,
            return_indices=True,
        )
    for est, tr in zip(res["estimator"], res["indices"]["train"], strict=True):
        ref = PartialCorrelationSelector().fit(X.iloc[tr], y[tr])
        np.testing.assert_allclose(est[0].pvalues_, ref.pvalues_)


def test_fallback_keeps_top_k_when_nothing_passes() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(30, 8)), columns=list("abcdefgh"))
    y = rng.normal(size=30)
    with pytest.warns(UserWarning, match="fallback_k"):
        sel = PartialCorrelationSelector(alpha=1e-9, covariates=(), fallback_k=3).fit(X, y)
    assert sel.fallback_used_ and sel.support_.sum() == 3
    best3 = np.argsort(sel.pvalues_)[:3]
    assert set(sel.get_support(indices=True)) == set(best3)


def test_errors_are_clear() -> None:
    X, y, _ = _data()
    with pytest.raises(ConfigError, match="not found"):
        PartialCorrelationSelector().fit(X.drop(columns=["age"]), y)
    with pytest.raises(ConfigError, match="one mechanism"):
        PartialCorrelationSelector().fit(X, y, covariates=X[["gender", "age"]])
    with pytest.raises(ConfigError, match="alpha"):
        PartialCorrelationSelector(alpha=2).fit(X, y)
    with pytest.raises(ConfigError, match="mode"):
        PartialCorrelationSelector(mode="keep").fit(X, y)
    sel = PartialCorrelationSelector().fit(X, y)
    with pytest.raises(FeatureError, match="columns"):
        sel.transform(np.zeros((3, 5)))
