"""Classical models on feature tables, as scikit-learn pipelines.

Scaling lives inside the pipeline, so it is fitted on the training fold only. Hyperparameter
tuning (:func:`make_classical`) wraps the pipeline in a ``GridSearchCV`` whose inner folds are
grouped by subject, so it is nested inside the outer training fold.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from vocalmind.errors import ConfigError

#: name -> (task, estimator factory, default params)
CLASSICAL_MODELS: dict[str, tuple[str, type[BaseEstimator], dict[str, Any]]] = {
    "svm": ("classification", SVC, {"kernel": "linear", "C": 1.0, "class_weight": "balanced"}),
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
        ``model``. Use :func:`grid_key` for the tuning key of a model parameter.

    Examples
    --------
    >>> make_classical("ridge", params={"alpha": 0.1}).named_steps["model"].alpha
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
    if isinstance(est, SVC):
        # Probabilities (for ROC/AUC and assess) by Platt scaling on internal folds of the
        # training data; the replacement scikit-learn recommends for SVC(probability=True).
        est = CalibratedClassifierCV(est, ensemble=False, cv=3)
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("model", est),
    ])


def grid_key(name: str, param: str) -> str:
    """The ``GridSearchCV`` key of ``param`` in the pipeline of model ``name``.

    Examples
    --------
    >>> grid_key("svm", "C"), grid_key("ridge", "alpha")
    ('model__estimator__C', 'model__alpha')
    """
    classical_task(name)
    inner = "estimator__" if CLASSICAL_MODELS[name][1] is SVC else ""
    return f"model__{inner}{param}"
