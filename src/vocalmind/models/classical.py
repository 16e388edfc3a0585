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

import warnings
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC

from vocalmind.errors import ConfigError, ParameterError

#: how an SVM is solved (see SVMClassifier)
SVM_SOLVERS = ("auto", "liblinear", "libsvm")


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _scores(d: np.ndarray) -> np.ndarray:
    """Decision values as one column per class ``[shape=(n, n_classes)]``: a binary
    decision ``d`` (positive = second class) becomes ``[-d/2, d/2]``, so a softmax of the
    columns is the logistic sigmoid of ``d`` and its arg-max is the sign of ``d``."""
    d = np.asarray(d, dtype=float)
    return np.column_stack([-d / 2, d / 2]) if d.ndim == 1 else d


def fit_temperature(scores: np.ndarray, y_idx: np.ndarray,
                    sample_weight: np.ndarray | None = None) -> float:
    """The slope ``a > 0`` minimising the (weighted) log-loss of ``softmax(a * scores)``.

    One positive scale for all classes (temperature scaling) leaves every row's arg-max
    where the decision values put it, so calibrated probabilities never contradict the
    classifier's decisions.

    Parameters
    ----------
    scores : ``[shape=(n, n_classes)]`` out-of-fold decision values (see :func:`_scores`)
    y_idx : ``[shape=(n,)]`` column index of each row's true class
    sample_weight : ``[shape=(n,)]`` or None (the class weights of the classifier, so a
        balanced classifier's probabilities are balanced too)
    """
    from scipy.optimize import minimize_scalar

    w = np.ones(len(y_idx)) if sample_weight is None else np.asarray(sample_weight, float)
    rows = np.arange(len(y_idx))

    def loss(log_a: float) -> float:
        z = np.exp(log_a) * scores
        z = z - z.max(axis=1, keepdims=True)
        logp = z[rows, y_idx] - np.log(np.exp(z).sum(axis=1))
        return float(-(w * logp).sum() / w.sum())

    res = minimize_scalar(loss, bounds=(-12.0, 8.0), method="bounded")
    return float(np.exp(res.x))


#: above this many training rows, ``solver="auto"`` solves a linear SVM with liblinear
#: instead of libsvm on a precomputed Gram matrix (n^2 doubles: 200 MB at 5,000 rows)
GRAM_MAX_ROWS = 5000
#: Gram matrices of recent training sets, by content: the candidates of a C grid on one
#: inner fold (and the calibration folds) share one matrix instead of recomputing it
_GRAMS: OrderedDict[bytes, np.ndarray] = OrderedDict()
_GRAMS_KEPT = 6


def _content_key(X: Any) -> bytes:
    import hashlib

    h = hashlib.blake2b(digest_size=20)
    h.update(repr((X.shape, str(X.dtype), type(X).__name__)).encode())
    if hasattr(X, "indptr"):  # sparse rows
        for part in (X.data, X.indices, X.indptr):
            h.update(np.ascontiguousarray(part).tobytes())
    else:
        h.update(np.ascontiguousarray(X).tobytes())
    return h.digest()


def linear_gram(X: Any) -> np.ndarray:
    """``X @ X.T [shape=(n, n)]`` (dense), computed once per distinct ``X`` in this process.

    Tuning ``C`` refits the same rows once per candidate; the linear kernel does not depend
    on ``C``, so every candidate (and the calibration folds, which are sub-blocks) reuses
    it. The key is a hash of the content, so equal data refitted in a new pipeline hits.
    """
    key = _content_key(X)
    K = _GRAMS.get(key)
    if K is None:
        K = X @ X.T
        K = np.asarray(K.toarray() if hasattr(K, "toarray") else K, dtype=np.float64)
        _GRAMS[key] = K
        while len(_GRAMS) > _GRAMS_KEPT:
            _GRAMS.popitem(last=False)
    else:
        _GRAMS.move_to_end(key)
    return K


class SVMClassifier(ClassifierMixin, BaseEstimator):
    """A support vector machine whose probabilities agree with its decisions.

    A linear kernel is solved by libsvm on a precomputed Gram matrix (:func:`linear_gram`),
    which the candidates of a ``C`` grid and the calibration folds share, or, above
    :data:`GRAM_MAX_ROWS` training rows (or with ``solver="liblinear"``), by liblinear
    (:class:`sklearn.svm.LinearSVC`, hinge loss, one-vs-rest). On functionals (n_samples
    << n_features: EMO-DB ComParE, 480 x 6,373) libsvm's dual solve on the Gram matrix took
    0.5 CPU s per fit and liblinear 2-4 s, and liblinear's one-vs-rest cost 3 UAR points
    against libsvm's one-vs-one (measured; docs/benchmarks.md). Other kernels use
    :class:`sklearn.svm.SVC` directly. Labels are the arg-max of the one-vs-rest decision
    values (``break_ties``), i.e. the SVM's own decisions with ``class_weight`` applied. A
    tie of one-vs-one votes is thus broken by the summed confidences, not by class order
    as ``SVC.predict`` does by default; that is what lets the probabilities agree with the
    labels, and it is the only source of different predictions from the former SVC path
    (UAR on EMO-DB ComParE 0.795 -> 0.801, 0.864 -> 0.865 with per-speaker normalisation;
    on the 8-speaker demo cohort 0.854 -> 0.807).

    Probabilities are ``softmax(a * decision values)`` (a binary decision ``d`` gives
    ``sigmoid(a * d)``): temperature scaling, with the one slope ``a`` fitted on
    out-of-fold decision values of ``calibration_cv`` stratified internal folds, weighted by
    the same class weights as the SVM. So the arg-max of :meth:`predict_proba` is
    :meth:`predict` on every row, and a class-weighted (balanced) SVM gives balanced
    probabilities: averaging them per subject keeps the SVM's decisions, where a Platt
    sigmoid fitted without the weights pulled every probability towards the majority class
    (a constant predictor on imbalanced labels). ``probability=False`` skips the calibration
    (used while tuning ``C``, where only decisions are scored).

    Parameters
    ----------
    C, kernel, gamma, class_weight : as :class:`sklearn.svm.SVC`
    calibration_cv : internal folds for the probability calibration
    probability : fit the calibration (needed by :meth:`predict_proba`)
    solver : ``"auto"`` (see above), ``"libsvm"`` or ``"liblinear"`` (linear kernel only)
    random_state : seed

    Attributes
    ----------
    svm_ : the fitted SVC (on the Gram matrix for the linear kernel) or LinearSVC
    solver_ : ``"libsvm-gram"``, ``"libsvm"`` or ``"liblinear"``
    support_X_ : the support vectors' rows (``"libsvm-gram"`` only; the test kernel)
    temperature_ : the calibration slope ``a`` (None when ``probability=False``)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3)); y = np.array(["a"] * 50 + ["b"] * 10); X[y == "b"] += 1
    >>> clf = SVMClassifier(random_state=0).fit(X, y)
    >>> bool((clf.classes_[clf.predict_proba(X).argmax(1)] == clf.predict(X)).all())
    True
    """

    def __init__(self, C: float = 1.0, kernel: str = "linear", gamma: str | float = "scale",
                 class_weight: str | dict | None = "balanced", calibration_cv: int = 3,
                 probability: bool = True, solver: str = "auto",
                 random_state: int | None = None) -> None:
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.class_weight = class_weight
        self.calibration_cv = calibration_cv
        self.probability = probability
        self.solver = solver
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # every solver takes sparse input
        return tags

    def _solver(self, n_rows: int) -> str:
        if self.solver not in SVM_SOLVERS:
            raise ConfigError(f"svm: solver must be one of {SVM_SOLVERS}, got {self.solver!r}")
        if self.kernel != "linear":
            if self.solver == "liblinear":
                raise ConfigError(f"svm: solver 'liblinear' is linear only; kernel "
                                  f"{self.kernel!r} needs solver 'libsvm' (or 'auto')")
            return "libsvm"
        if self.solver == "liblinear" or (self.solver == "auto" and n_rows > GRAM_MAX_ROWS):
            return "liblinear"
        return "libsvm-gram"

    def _svm(self, solver: str) -> Any:
        if solver == "liblinear":
            # hinge loss as SVC; the dual problem (n_samples < n_features on functionals)
            return LinearSVC(C=self.C, loss="hinge", dual=True, class_weight=self.class_weight,
                             max_iter=20000, random_state=self.random_state)
        # break_ties: predict is the arg-max of the one-vs-rest decision values, as here
        return SVC(C=self.C, kernel="precomputed" if solver == "libsvm-gram" else self.kernel,
                   gamma=self.gamma, break_ties=True, class_weight=self.class_weight,
                   random_state=self.random_state)

    def fit(self, X: Any, y: Any, groups: Any = None) -> SVMClassifier:
        """Fit the SVM (and its calibration) on ``X [shape=(n, n_features)]``.

        ``groups`` (subject per row, optional): the calibration folds then hold out whole
        subjects (:class:`~vocalmind.evaluation.protocols.InnerGroupSplit`), so the
        temperature is fitted on decision values of speakers the fold's SVM never saw, as
        at assessment; without them the folds are stratified by class only, and the
        temperature is that of a speaker-dependent fit (over-confident on new speakers).
        """
        from sklearn.model_selection import StratifiedKFold
        from sklearn.utils.class_weight import compute_sample_weight
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import validate_data

        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"])
        check_classification_targets(y)
        self.solver_ = self._solver(X.shape[0])
        svm = self._svm(self.solver_)
        gram = self.solver_ == "libsvm-gram"
        K = linear_gram(X) if gram else None

        def part(rows: np.ndarray, cols: np.ndarray | None = None) -> Any:
            """Training input of rows (against ``cols`` of the Gram matrix)."""
            if K is None:
                return X[rows]
            return K[np.ix_(rows, rows if cols is None else cols)]

        with warnings.catch_warnings():
            # liblinear's iteration cap is a warning of a still-usable solution
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.svm_ = clone(svm).fit(X if K is None else K, y)
            self.classes_ = self.svm_.classes_
            if gram:
                self.support_X_ = X[self.svm_.support_]
                self.n_train_ = X.shape[0]
            self.temperature_: float | None = None
            if not self.probability:
                return self
            y_idx = np.searchsorted(self.classes_, y)
            n_min = int(np.min(np.bincount(y_idx)))
            seed = 0 if self.random_state is None else self.random_state
            g = None if groups is None else np.asarray(groups)
            if g is not None and len(g) != len(y_idx):
                raise ParameterError(f"SVMClassifier.fit: groups has {len(g)} entries, X has "
                                     f"{len(y_idx)} rows")
            splits = None
            if g is not None and len(np.unique(g)) >= 2:
                from vocalmind.evaluation.protocols import InnerGroupSplit

                splits = list(InnerGroupSplit(n_splits=max(2, self.calibration_cv),
                                              stratify=True, seed=seed).split(None, y_idx, g))
            elif n_min >= 2:
                splits = list(StratifiedKFold(max(2, min(self.calibration_cv, n_min)),
                                              shuffle=True, random_state=seed
                                              ).split(np.zeros(len(y_idx)), y_idx))
            scored = np.zeros(len(y_idx), dtype=bool)  # rows with out-of-fold scores
            scores = np.zeros((len(y_idx), len(self.classes_)))
            for tr, te in splits or ():
                if len(np.unique(y_idx[tr])) < 2:
                    continue  # a fold whose training part holds one class has no SVM
                m = clone(svm).fit(part(tr), y[tr])
                cols = np.searchsorted(self.classes_, m.classes_)
                scores[np.ix_(te, cols)] = _scores(m.decision_function(part(te, tr)))
                scored[te] = True
            weights = (None if self.class_weight is None
                       else compute_sample_weight(self.class_weight, y))
            if not scored.any():
                # a class with one row leaves no out-of-fold scores: the training scores
                self.temperature_ = fit_temperature(
                    _scores(self.svm_.decision_function(X if K is None else K)), y_idx, weights)
            else:
                self.temperature_ = fit_temperature(
                    scores[scored], y_idx[scored], None if weights is None else weights[scored])
        return self

    def _checked(self, X: Any) -> Any:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self, "svm_")
        return validate_data(self, X, reset=False, accept_sparse=["csr", "csc"])

    def decision_function(self, X: Any) -> np.ndarray:
        """Decision values ``[shape=(n,)]`` (binary) or ``[shape=(n, n_classes)]``."""
        X = self._checked(X)
        if getattr(self, "solver_", None) != "libsvm-gram":
            return self.svm_.decision_function(X)
        # the test kernel against the support vectors (other training columns carry no
        # weight in the dual solution)
        k = X @ self.support_X_.T
        K = np.zeros((X.shape[0], self.n_train_))
        K[:, self.svm_.support_] = k.toarray() if hasattr(k, "toarray") else k
        return self.svm_.decision_function(K)

    def predict(self, X: Any) -> np.ndarray:
        """The SVM's decisions: the arg-max of the decision values."""
        best = _scores(self.decision_function(X)).argmax(axis=1)  # checks fitted first
        return self.classes_[best]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities ``[shape=(n, n_classes)]`` in ``classes_`` order; their
        arg-max is :meth:`predict`."""
        d = self.decision_function(X)
        if self.temperature_ is None:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this SVMClassifier was fitted with probability=False")
        return _softmax(self.temperature_ * _scores(d))


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


def make_estimator(name: str, task: str, *, params: dict[str, Any] | None = None,
                   seed: int = 0, run_dir: Any = None) -> Pipeline:
    """The registry's factory for the classical families (:func:`make_classical`).

    ``task`` was checked by the registry against the family's one task; ``run_dir`` is
    unused (a classical fit writes no training records).
    """
    return make_classical(name, params=params, seed=seed)


def grid_key(name: str, param: str) -> str:
    """The ``GridSearchCV`` key of ``param`` in the pipeline of model ``name``.

    Examples
    --------
    >>> grid_key("svm", "C")
    'model__C'
    """
    classical_task(name)
    return f"model__{param}"
