"""Classical models on feature tables, as scikit-learn pipelines.

Scaling lives inside the pipeline, so it is fitted on the training fold only. Hyperparameter
tuning (:func:`make_classical`) wraps the pipeline in a ``GridSearchCV`` whose inner folds are
grouped by subject, so it is nested inside the outer training fold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from vocalmind.errors import ConfigError


class SVMClassifier(ClassifierMixin, BaseEstimator):
    """An SVC whose labels are the SVC's own decisions and whose probabilities come from
    Platt scaling on internal folds of the training data.

    ``SVC(probability=True)`` is deprecated in scikit-learn 1.9, and a calibrated
    classifier's argmax is not the SVM's decision (on EMO-DB it cost ~1 UAR point), so
    both are kept: :meth:`predict` is the SVM, :meth:`predict_proba` the calibrated model.

    Parameters
    ----------
    C, kernel, gamma, class_weight : as :class:`sklearn.svm.SVC`
    calibration_cv : internal folds for the probability calibration
    random_state : seed
    """

    def __init__(self, C: float = 1.0, kernel: str = "linear", gamma: str | float = "scale",
                 class_weight: str | dict | None = "balanced", calibration_cv: int = 3,
                 random_state: int | None = None) -> None:
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.class_weight = class_weight
        self.calibration_cv = calibration_cv
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> SVMClassifier:
        """Fit the SVM and its probability calibration on ``X [shape=(n, n_features)]``."""
        svc = SVC(C=self.C, kernel=self.kernel, gamma=self.gamma,
                  class_weight=self.class_weight, random_state=self.random_state)
        self.svc_ = clone(svc).fit(X, y)
        n_min = int(np.min(np.unique(np.asarray(y), return_counts=True)[1]))
        cv = max(2, min(self.calibration_cv, n_min))
        self.calibrated_ = CalibratedClassifierCV(svc, ensemble=False, cv=cv).fit(X, y)
        self.classes_ = self.svc_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.svc_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities ``[shape=(n, n_classes)]``, columns in ``classes_`` order."""
        return self.calibrated_.predict_proba(X)

    def decision_function(self, X: Any) -> np.ndarray:
        return self.svc_.decision_function(X)


#: name -> (task, estimator factory, default params)
CLASSICAL_MODELS: dict[str, tuple[str, type[BaseEstimator], dict[str, Any]]] = {
    "svm": ("classification", SVMClassifier, {"kernel": "linear", "C": 1.0,
                                              "class_weight": "balanced"}),
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
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("model", est),
    ])


def grid_key(name: str, param: str) -> str:
    """The ``GridSearchCV`` key of ``param`` in the pipeline of model ``name``.

    Examples
    --------
    >>> grid_key("svm", "C")
    'model__C'
    """
    classical_task(name)
    return f"model__{param}"
