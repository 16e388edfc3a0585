"""Classical models on feature tables, as scikit-learn pipelines.

Scaling lives inside the pipeline, so it is fitted on the training fold only. Hyperparameter
tuning (:func:`make_classical`) wraps the pipeline in a ``GridSearchCV`` whose inner folds are
grouped by subject, so it is nested inside the outer training fold.

:class:`FusionClassifier` is the one classifier over named feature blocks (a ``fusion``
feature table, or a ``whisper`` table with several layers): one linear model on the
concatenated blocks (``mode="concat"``), or one per block with their calibrated
probabilities averaged (``mode="late"``). ``blocks`` and ``mode`` are ordinary parameters,
so ``model.tune`` chooses them inside each training fold with subject-grouped inner folds,
exactly as it chooses ``C`` (e.g. which Whisper layer, or early versus late fusion).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
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

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # SVC and its calibration take sparse input
        return tags

    def fit(self, X: Any, y: Any) -> SVMClassifier:
        """Fit the SVM and its probability calibration on ``X [shape=(n, n_features)]``."""
        from sklearn.utils.validation import validate_data

        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"])
        svc = SVC(C=self.C, kernel=self.kernel, gamma=self.gamma,
                  class_weight=self.class_weight, random_state=self.random_state)
        self.svc_ = clone(svc).fit(X, y)
        n_min = int(np.min(np.unique(np.asarray(y), return_counts=True)[1]))
        cv = max(2, min(self.calibration_cv, n_min))
        self.calibrated_ = CalibratedClassifierCV(svc, ensemble=False, cv=cv).fit(X, y)
        self.classes_ = self.svc_.classes_
        return self

    def _checked(self, X: Any) -> Any:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self, "svc_")
        return validate_data(self, X, reset=False, accept_sparse=["csr", "csc"])

    def predict(self, X: Any) -> np.ndarray:
        X = self._checked(X)  # fitted? same features?
        return self.svc_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities ``[shape=(n, n_classes)]``, columns in ``classes_`` order."""
        X = self._checked(X)
        return self.calibrated_.predict_proba(X)

    def decision_function(self, X: Any) -> np.ndarray:
        X = self._checked(X)
        return self.svc_.decision_function(X)


MODES = ("concat", "late")
BASES = ("svm", "logreg")


class FusionClassifier(ClassifierMixin, BaseEstimator):
    """Linear classifier over named feature blocks, early or late fusion.

    Parameters
    ----------
    blocks : list of column-name prefixes, or None (every column, one block). A column
        belongs to the longest prefix that matches it; columns of no block are dropped.
    mode : ``"concat"`` or ``"late"`` (see the module docstring)
    base : ``"svm"`` (linear SVM, Platt-calibrated probabilities) or ``"logreg"``
    C : inverse regularisation strength of every base model
    class_weight : as scikit-learn (default ``"balanced"``)
    random_state : seed

    Attributes
    ----------
    block_columns_ : dict block -> list of column names used
    models_ : dict block -> fitted base model (one entry ``"all"`` in concat mode)
    classes_ : np.ndarray of labels

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(40, 4)), columns=["a_0", "a_1", "b_0", "b_1"])
    >>> y = np.array(["x", "y"] * 20)
    >>> clf = FusionClassifier(blocks=["a", "b"], mode="late").fit(X, y)
    >>> clf.predict_proba(X).shape, sorted(clf.block_columns_)
    ((40, 2), ['a', 'b'])
    """

    def __init__(self, blocks: list[str] | None = None, mode: str = "concat",
                 base: str = "svm", C: float = 1.0, class_weight: str | dict | None = "balanced",
                 random_state: int | None = None) -> None:
        self.blocks = blocks
        self.mode = mode
        self.base = base
        self.C = C
        self.class_weight = class_weight
        self.random_state = random_state

    def _base(self) -> Any:
        if self.base == "svm":
            return SVMClassifier(C=self.C, kernel="linear", class_weight=self.class_weight,
                                 random_state=self.random_state)
        return LogisticRegression(C=self.C, max_iter=2000, class_weight=self.class_weight,
                                  random_state=self.random_state)

    def _columns(self, X: Any) -> dict[str, list[Any]]:
        cols = list(X.columns) if isinstance(X, pd.DataFrame) else list(range(np.shape(X)[1]))
        if self.blocks is None:
            return {"all": cols}
        if not isinstance(X, pd.DataFrame):
            raise ConfigError("fusion: blocks are chosen by column name; give a DataFrame")
        from vocalmind.features.fusion import block_of

        blocks = [str(b) for b in self.blocks]
        out: dict[str, list[Any]] = {b: [] for b in blocks}
        for c in cols:
            b = block_of(str(c), blocks)
            if b is not None:
                out[b].append(c)
        empty = [b for b, v in out.items() if not v]
        if empty:
            raise ConfigError(f"fusion: no feature column starts with {empty}; column "
                              f"names look like {[str(c) for c in cols[:3]]}")
        return out

    def fit(self, X: Any, y: Any) -> FusionClassifier:
        """Fit on ``X [shape=(n, n_features)]`` (a DataFrame when ``blocks`` is set)."""
        if self.mode not in MODES:
            raise ConfigError(f"fusion: mode must be one of {MODES}, got {self.mode!r}")
        if self.base not in BASES:
            raise ConfigError(f"fusion: base must be one of {BASES}, got {self.base!r}")
        from sklearn.utils.validation import validate_data

        # shapes, finite values, 1-D y, n_features_in_; a DataFrame keeps its column names
        Xv, y = validate_data(self, X, y)
        X = X if isinstance(X, pd.DataFrame) else Xv
        self.block_columns_ = self._columns(X)
        self.models_ = {b: clone(self._base()).fit(self._take(X, cols), y)
                        for b, cols in self._groups().items()}
        self.classes_ = next(iter(self.models_.values())).classes_
        return self

    @staticmethod
    def _take(X: Any, cols: list[Any]) -> Any:
        return X[cols] if isinstance(X, pd.DataFrame) else np.asarray(X)[:, cols]

    def _groups(self) -> dict[str, list[Any]]:
        if self.mode == "concat":
            return {"all": [c for v in self.block_columns_.values() for c in v]}
        return self.block_columns_

    def _checked(self, X: Any) -> Any:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self, "models_")
        Xv = validate_data(self, X, reset=False)
        return X if isinstance(X, pd.DataFrame) else Xv

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``[shape=(n, n_classes)]`` (late: the blocks' average)."""
        X = self._checked(X)
        probas = [m.predict_proba(self._take(X, self._groups()[b]))
                  for b, m in self.models_.items()]
        return np.mean(probas, axis=0)

    def predict(self, X: Any) -> np.ndarray:
        X = self._checked(X)
        if self.mode == "concat":
            m = self.models_["all"]
            return m.predict(self._take(X, self._groups()["all"]))
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


#: name -> (task, estimator factory, default params)
CLASSICAL_MODELS: dict[str, tuple[str, type[BaseEstimator], dict[str, Any]]] = {
    "svm": ("classification", SVMClassifier, {"kernel": "linear", "C": 1.0,
                                              "class_weight": "balanced"}),
    "logreg": ("classification", LogisticRegression, {"C": 1.0, "max_iter": 2000,
                                                      "class_weight": "balanced"}),
    "rf": ("classification", RandomForestClassifier, {"n_estimators": 300,
                                                      "class_weight": "balanced", "n_jobs": 1}),
    "fusion": ("classification", FusionClassifier, {"mode": "concat", "base": "svm",
                                                     "C": 1.0}),
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
    pipe = Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("model", est),
    ])
    if name == "fusion":
        pipe.set_output(transform="pandas")  # the fusion model picks feature blocks by name
    return pipe


def grid_key(name: str, param: str) -> str:
    """The ``GridSearchCV`` key of ``param`` in the pipeline of model ``name``.

    Examples
    --------
    >>> grid_key("svm", "C")
    'model__C'
    """
    classical_task(name)
    return f"model__{param}"
