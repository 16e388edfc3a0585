"""scikit-learn's ``check_estimator`` suite for every classical and MLP estimator.

Each estimator must pass every check except those listed in :data:`EXPECTED` with the
reason; the list is strict: a listed check that starts passing fails the test too, so the
list never goes stale.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from vocalmind.models.classical import CLASSICAL_MODELS, SVMClassifier, make_classical
from vocalmind.models.mlp import MLPModel, MLPSearch

#: checks a vocalmind pipeline (impute -> scale -> model) fails on purpose, with the reason
PIPELINE_EXPECTED = {
    "check_estimators_nan_inf":
        "the pipeline imputes NaN on purpose: a feature undefined on a recording is NaN, "
        "and the median imputer (fitted in the training fold) fills it",
    "check_estimators_overwrite_params":
        "scikit-learn's Pipeline fits its steps in place (Pipeline itself fails this check)",
    "check_dont_overwrite_parameters":
        "scikit-learn's Pipeline fits its steps in place (Pipeline itself fails this check)",
}

#: small but learning settings: the suite's accuracy checks need a network that learns
_FAST = {"layers": 1, "optimizer": "adam", "lr": 1e-2, "epochs": 100, "batch_size": 16}


class _GroupedMLPSearch(MLPSearch):
    """MLPSearch needs subject ids by design (its inner folds are grouped); the suite calls
    ``fit(X, y)``, so this test adapter supplies groups that alternate in pairs."""

    def fit(self, X: Any, y: Any, groups: Any = None) -> MLPSearch:
        n = X.shape[0] if hasattr(X, "shape") else len(np.asarray(X))
        return super().fit(X, y, groups=(np.arange(n) // 2) % 2 if groups is None else groups)


def _small(name: str) -> dict[str, Any]:
    return {"n_estimators": 10} if name.startswith("rf") else {}


ESTIMATORS: dict[str, tuple[Any, dict[str, str]]] = {
    "SVMClassifier": (SVMClassifier(), {}),
    "MLPModel-classification": (MLPModel(task="classification", nodes=16, **_FAST), {}),
    "MLPModel-regression": (MLPModel(task="regression", nodes=16, **_FAST), {}),
    "MLPSearch-classification": (_GroupedMLPSearch(
        task="classification", n_trials=1, cv=2, space={"nodes": [16]}, fixed_params=_FAST,
        progress=False), {}),
    "MLPSearch-regression": (_GroupedMLPSearch(
        task="regression", n_trials=1, cv=2, space={"nodes": [16]}, fixed_params=_FAST,
        progress=False), {}),
}
for _name, (_task, _cls, _defaults) in CLASSICAL_MODELS.items():
    # vocalmind's own model classes alone (scikit-learn's own classes -- LogisticRegression,
    # RandomForest*, SVR, Ridge -- are checked by scikit-learn's suite with its own list of
    # expected failures, e.g. SVR's sample-weight equivalence) ...
    if not _cls.__module__.startswith("sklearn."):
        ESTIMATORS[f"{_name}-model"] = (_cls(**{**_defaults, **_small(_name)}), {})
    # ... and the pipeline the experiment runner builds around every one of them
    ESTIMATORS[f"{_name}-pipeline"] = (make_classical(_name, params=_small(_name)),
                                       PIPELINE_EXPECTED)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_check_estimator(name: str) -> None:
    est, expected = ESTIMATORS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, on_fail=None, on_skip=None)
    failed = {r["check_name"]: str(r["exception"])[:300] for r in results
              if r["status"] == "failed"}
    unexpected = {k: v for k, v in failed.items() if k not in expected}
    assert not unexpected, f"{name} fails: {unexpected}"
    stale = sorted(set(expected) - set(failed))
    assert not stale, f"{name} now passes {stale}: remove them from the expected list"
    assert all(reason for reason in expected.values())
    assert len(results) > 40  # the suite really ran
