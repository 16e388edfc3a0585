"""Classical models on feature tables, as scikit-learn pipelines.

Scaling lives inside the pipeline, so it is fitted on the training fold only. Hyperparameter
tuning (:func:`make_classical`) wraps the pipeline in a ``GridSearchCV`` whose inner folds are
grouped by subject, so it is nested inside the outer training fold.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from vocalmind.errors import ConfigError

#: name -> (task, estimator factory, default params)
CLASSICAL_MODELS: dict[str, tuple[str, type[BaseEstimator], dict[str, Any]]] = {
    # SVC(kernel="linear") rather than LinearSVC: it keeps probability outputs for ROC/AUC
    "svm": ("classification", SVC, {"kernel": "linear", "C": 1.0, "class_weight": "balanced",
                                    "probability": True}),
    "logreg": ("classification", LogisticRegression, {"C": 1.0, "max_iter": 2000,
                                                      "class_weight": "balanced"}),
    "rf": ("classification", RandomForestClassifier, {"n_estimators": 300,
                                                      "class_weight": "balanced", "n_jobs": 1}),
    "svr": ("regression", SVR, {"kernel": "rbf", "C": 1.0}),
    "ridge": ("regression", Ridge, {"alpha": 1.0}),
    "rf_regressor": ("regression", RandomForestRegressor, {"n_estimators": 300, "n_jobs": 1}),
}


def classical_task(name: str) -> str:
    """``"classification"`` or ``"regression"`` for a classical model name."""
    if name not in CLASSICAL_MODELS:
        raise ConfigError(
            f"unknown classical model {name!r}; choose one of {', '.join(CLASSICAL_MODELS)}"
        )
    return CLASSICAL_MODELS[name][0]


def make_classical(name: str, *, params: dict[str, Any] | None = None,
                   seed: int = 0) -> Pipeline:
    """Build ``impute -> standardise -> model`` for a classical model.

    Parameters
    ----------
    name : one of :data:`CLASSICAL_MODELS`
    params : estimator parameters overriding the defaults (e.g. ``{"C": 0.1}``)
    seed : random state for estimators that take one

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``impute`` (median; features undefined on a recording are NaN), ``scale``,
        ``model``. Grid keys for tuning are therefore ``model__<param>``.

    Examples
    --------
    >>> make_classical("svm", params={"C": 0.1}).named_steps["model"].C
    0.1
    """
    classical_task(name)  # validates the name
    _, cls, defaults = CLASSICAL_MODELS[name]
    kwargs = {**defaults, **(params or {})}
    if "random_state" in cls().get_params():
        kwargs.setdefault("random_state", seed)
    try:
        est = cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"model {name!r}: {e}") from None
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("model", est),
    ])
