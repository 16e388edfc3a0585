"""Random-forest feature importance, as in Wang et al. (2023), plus an honest variant.

The study fitted scikit-learn random forests to the HAMD score (on all features and on the
selected ones) and read the top 10 impurity importances. :func:`rf_importance` reports

- ``impurity``: mean decrease in impurity of a forest fitted on all rows (the study's
  measure; descriptive, biased towards high-variance features);
- ``permutation_mean``/``permutation_std``: the loss in held-out score when one feature is
  shuffled, computed out of fold: a forest is fitted on each training part of a
  subject-grouped ``GroupKFold`` and the feature is permuted in the held-out subjects only.

Permuting 1,200 features x repeats x folds through a forest is slow, so by default only the
``n_candidates`` features with the largest impurity importance are permuted; the others
get NaN (``n_candidates=None`` permutes all).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import balanced_accuracy_score, mean_squared_error
from sklearn.model_selection import GroupKFold

from vocalmind.errors import ConfigError, InputError


def rf_importance(
    X: pd.DataFrame,
    y: Any,
    *,
    groups: Any,
    top_k: int = 10,
    task: Literal["regression", "classification"] = "regression",
    sort_by: Literal["impurity", "permutation"] = "impurity",
    n_estimators: int = 300,
    n_splits: int = 5,
    n_repeats: int = 5,
    n_candidates: int | None = 100,
    random_state: int = 0,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Top-``k`` random-forest importances (impurity and out-of-fold permutation).

    Parameters
    ----------
    X : DataFrame [shape=(n_samples, n_features)]
        Numeric features, finite.
    y : array-like [shape=(n_samples,)]
        Score (regression) or class labels.
    groups : array-like [shape=(n_samples,)]
        Subject ids; permutation importance is measured on subjects the forest never saw.
    top_k : rows returned
    task : ``"regression"`` (loss = MSE) or ``"classification"`` (loss = 1 - balanced accuracy)
    sort_by : column ranking the rows (``"permutation"`` sorts by ``permutation_mean``)
    n_estimators, random_state, n_jobs : forest settings
    n_splits : GroupKFold folds for the permutation part (capped at the number of subjects)
    n_repeats : shuffles per feature and fold
    n_candidates : features permuted (largest impurity first); ``None`` = all

    Returns
    -------
    DataFrame
        Columns ``feature, impurity, impurity_rank, permutation_mean, permutation_std,
        permutation_rank``; ``top_k`` rows sorted by ``sort_by``. Permutation values are
        increases of the held-out loss (MSE in squared score units, or balanced-accuracy
        points); near 0 or negative means the feature does not help on new subjects.

    Raises
    ------
    ConfigError
        Bad options, or fewer than 2 subjects.
    """
    if task not in ("regression", "classification"):
        raise ConfigError(f"task={task!r} must be 'regression' or 'classification'")
    if sort_by not in ("impurity", "permutation"):
        raise ConfigError(f"sort_by={sort_by!r} must be 'impurity' or 'permutation'")
    if top_k < 1 or n_repeats < 1 or n_estimators < 1:
        raise ConfigError("top_k, n_repeats and n_estimators must be >= 1")
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X), columns=[f"x{i}" for i in range(np.shape(X)[1])])
    x = X.to_numpy(dtype=float)
    if not np.isfinite(x).all():
        raise InputError("held-out permutation importance: X contains NaN or inf; impute or drop "
                         "those features first")
    yv = np.asarray(y).ravel()
    g = np.asarray(groups)
    if not (len(x) == len(yv) == len(g)):
        raise InputError(f"held-out permutation importance: X, y and groups differ in length: "
                         f"{len(x)}, {len(yv)}, {len(g)}")
    n_groups = len(np.unique(g))
    if n_groups < 2:
        raise ConfigError(f"need >= 2 subjects for held-out permutation importance; got {n_groups}")

    def forest() -> Any:
        cls = RandomForestRegressor if task == "regression" else RandomForestClassifier
        return cls(n_estimators=n_estimators, random_state=random_state, n_jobs=n_jobs)

    def loss(true: np.ndarray, pred: np.ndarray) -> float:
        if task == "regression":
            return float(mean_squared_error(true, pred))
        return 1.0 - float(balanced_accuracy_score(true, pred))

    impurity = forest().fit(x, yv).feature_importances_
    m = x.shape[1]
    k = m if n_candidates is None else min(int(n_candidates), m)
    candidates = np.argsort(-impurity, kind="stable")[:k]
    drops = np.zeros((k, 0))
    rng = np.random.default_rng(random_state)
    for tr, te in GroupKFold(n_splits=min(n_splits, n_groups)).split(x, yv, g):
        model = forest().fit(x[tr], yv[tr])
        xt = x[te]
        base = loss(yv[te], model.predict(xt))
        fold = np.empty((k, n_repeats))
        for i, j in enumerate(candidates):
            # all repeats of one feature in one predict call: forests pay per call, not per row
            stacked = np.tile(xt, (n_repeats, 1))
            stacked[:, j] = np.concatenate([rng.permutation(xt[:, j]) for _ in range(n_repeats)])
            pred = model.predict(stacked).reshape(n_repeats, len(te))
            fold[i] = [loss(yv[te], p) - base for p in pred]
        drops = np.concatenate([drops, fold], axis=1)
    perm_mean = np.full(m, np.nan)
    perm_std = np.full(m, np.nan)
    perm_mean[candidates] = drops.mean(axis=1)
    perm_std[candidates] = drops.std(axis=1)
    table = pd.DataFrame(
        {
            "feature": X.columns.astype(str),
            "impurity": impurity,
            "permutation_mean": perm_mean,
            "permutation_std": perm_std,
        }
    )
    table.insert(2, "impurity_rank", table["impurity"].rank(ascending=False, method="min").astype(int))
    table["permutation_rank"] = table["permutation_mean"].rank(ascending=False, method="min").astype("Int64")
    key = "impurity" if sort_by == "impurity" else "permutation_mean"
    table = table.sort_values(key, ascending=False, na_position="last", kind="stable")
    return table.head(top_k).reset_index(drop=True)
