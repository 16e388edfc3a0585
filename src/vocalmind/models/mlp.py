"""The fully connected network of Wang et al. (2023) and its architecture search.

The study (47 people, 1,200 acoustic statistics, HAMD-17) fed the selected features to a
Keras stack of dense layers and grid-searched layers {1, 2, 3, 4} x nodes {16, 32, 64} x
activation x batch {2, 4, 8} x optimizer x learning rate {1e-2 ... 1e-5}; the best was
4 x 32 softplus, SGD, lr 1e-3, batch 4, stopped at epoch 175 where the validation MSE was
lowest. Two details of the paper are not reproduced on purpose:

- it kept the combination with the smallest MSE *on the test set*; :class:`MLPSearch`
  chooses by an inner cross-validation grouped by subject inside the training data, so the
  outer test fold never influences the choice;
- its lists name ``'softmax'`` as a hidden activation and ``'mse'`` as an optimizer (a loss);
  both are left out, giving 4 x 3 x 6 x 3 x 3 x 4 = 2,592 combinations (:data:`STUDY_SPACE`).

:class:`MLPModel` is a scikit-learn estimator (PyTorch on CPU) that standardises its inputs
(and, for regression, its target) on the rows it is fitted on, seeds every random draw
from ``random_state`` and limits torch to ``n_threads`` while fitting. Scores it predicts
are research measurements, not diagnoses.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import ShuffleSplit
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from vocalmind.errors import ConfigError, ModelError, VocalmindError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
}
#: The study's search space (minus 'softmax' and 'mse', see the module docstring).
STUDY_SPACE: dict[str, list[Any]] = {
    "layers": [1, 2, 3, 4],
    "nodes": [16, 32, 64],
    "activation": ["relu", "elu", "selu", "softplus", "tanh", "sigmoid"],
    "batch_size": [2, 4, 8],
    "optimizer": ["sgd", "rmsprop", "adam"],
    "lr": [1e-2, 1e-3, 1e-4, 1e-5],
}
#: The architecture the study reported as best.
STUDY_BEST: dict[str, Any] = {
    "layers": 4,
    "nodes": 32,
    "activation": "softplus",
    "batch_size": 4,
    "optimizer": "sgd",
    "lr": 1e-3,
}
Task = Literal["regression", "classification"]


def _validated(est: BaseEstimator, X: Any, y: Any = None, *, reset: bool,
               y_numeric: bool = False) -> Any:
    """scikit-learn's input validation (shapes, finite values, feature count and names),
    its ``ValueError`` turned into :class:`ModelError` (also a ``ValueError``)."""
    try:
        if y is None:
            return validate_data(est, X, reset=reset, dtype=np.float64)
        return validate_data(est, X, y, reset=reset, dtype=np.float64, y_numeric=y_numeric)
    except ValueError as e:
        if isinstance(e, VocalmindError):
            raise
        raise ModelError(str(e)) from None


class _NoProbabilities(ModelError, AttributeError):
    """``predict_proba`` of a regression model: an AttributeError, so ``hasattr`` is False."""


def _classifier_only(method: Any) -> property:
    """Expose ``method`` only on classifiers: on a regression model the attribute raises
    :class:`_NoProbabilities` (so ``hasattr(model, "predict_proba")`` is False, as
    scikit-learn expects, and calling it says why)."""

    def get(self: Any) -> Any:
        if self.task != "classification":
            raise _NoProbabilities(f"{method.__name__} needs task='classification'")
        return method.__get__(self, type(self))

    return property(get, doc=method.__doc__)


class FCNet(nn.Module):
    """``layers`` dense hidden layers of ``nodes`` units with one activation, then a linear head.

    Parameters
    ----------
    n_in : number of input features
    n_out : 1 for regression, number of classes for classification (logits)
    layers, nodes, activation : see :class:`MLPModel`

    Examples
    --------
    >>> net = FCNet(10, 1, layers=2, nodes=16, activation="elu")
    >>> net(torch.zeros(3, 10)).shape
    torch.Size([3, 1])
    """

    def __init__(
        self, n_in: int, n_out: int, *, layers: int = 4, nodes: int = 32, activation: str = "softplus"
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = n_in
        for _ in range(layers):
            blocks += [nn.Linear(width, nodes), ACTIVATIONS[activation]()]
            width = nodes
        blocks.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [batch, n_in] -> [batch, n_out]."""
        return self.net(x)


def _check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {list(allowed)}")


class MLPModel(BaseEstimator):
    """Fully connected regressor or classifier as a scikit-learn estimator (PyTorch, CPU).

    Parameters
    ----------
    task : ``"regression"`` (MSE loss, e.g. HAMD total) or ``"classification"``
        (cross-entropy, e.g. PHQ-9 bands)
    layers : number of hidden layers (>= 1)
    nodes : units per hidden layer
    activation : one of :data:`ACTIVATIONS`
    batch_size : mini-batch size
    optimizer : ``"sgd"``, ``"rmsprop"`` or ``"adam"``
    lr : learning rate
    epochs : maximum passes over the training rows
    weight_decay : L2 penalty given to the optimizer
    validation_fraction : share of the fitting rows (whole subjects when ``groups`` are
        given to ``fit``) held out to record a validation curve; 0 records none
    early_stopping : with a validation part, keep the weights of the epoch with the lowest
        validation loss (the study stopped at its minimum, epoch 175) and stop after
        ``patience`` epochs without improvement
    patience : see ``early_stopping``
    standardize : z-score the inputs with statistics of the fitting rows; for regression
        the target is z-scored too and predictions are mapped back to score units
    random_state : seed of weight init, shuffling and the validation split
    n_threads : torch intra-op threads while fitting/predicting (restored afterwards)

    Attributes
    ----------
    history_ : DataFrame
        ``epoch, train_loss, val_loss`` (MSE in score units for regression, cross-entropy
        for classification; ``val_loss`` NaN without a validation part).
    best_epoch_ : int
        Epoch whose weights are kept (1-based).
    diverged_ : bool
        The loss became non-finite; the last finite weights are kept.
    classes_ : np.ndarray (classification only)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5)); y = 10 + 3 * X[:, 0]
    >>> m = MLPModel(layers=1, nodes=16, optimizer="adam", lr=1e-2, epochs=100).fit(X, y)
    >>> m.predict(X).shape, len(m.history_)
    ((40,), 100)
    """

    def __init__(
        self,
        task: Task = "regression",
        layers: int = 4,
        nodes: int = 32,
        activation: str = "softplus",
        batch_size: int = 4,
        optimizer: str = "sgd",
        lr: float = 1e-3,
        epochs: int = 200,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.0,
        early_stopping: bool = False,
        patience: int = 25,
        standardize: bool = True,
        random_state: int = 0,
        n_threads: int = 1,
    ) -> None:
        self.task = task
        self.layers = layers
        self.nodes = nodes
        self.activation = activation
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.standardize = standardize
        self.random_state = random_state
        self.n_threads = n_threads

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, RegressorTags

        tags = super().__sklearn_tags__()
        if self.task == "classification":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        else:
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    def _check_params(self) -> None:
        _check_choice("task", self.task, ("regression", "classification"))
        _check_choice("activation", self.activation, list(ACTIVATIONS))
        _check_choice("optimizer", self.optimizer, list(OPTIMIZERS))
        for name in ("layers", "nodes", "batch_size", "epochs", "patience", "n_threads"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 1:
                raise ConfigError(f"{name}={v!r} must be a positive integer")
        if not (isinstance(self.lr, float | int) and self.lr > 0):
            raise ConfigError(f"lr={self.lr!r} must be a positive number, e.g. 1e-3")
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(f"validation_fraction={self.validation_fraction!r} must be in [0, 1)")
        if self.early_stopping and self.validation_fraction == 0:
            raise ConfigError("early_stopping=True needs validation_fraction > 0 (e.g. 0.2)")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay={self.weight_decay!r} must be >= 0")

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, groups: Any = None) -> MLPModel:
        """Train on ``X`` [n_samples, n_features] and ``y`` [n_samples].

        ``groups`` (subject ids, [n_samples]) are used only to hold out whole subjects for
        the validation curve when ``validation_fraction > 0``.

        Raises
        ------
        ConfigError
            Invalid parameters.
        ValueError
            Non-finite inputs, mismatched lengths, or fewer than 2 classes.
        """
        self._check_params()
        # shapes, NaN/inf ("impute or drop those features first"), complex, sparse, 1-D y
        x, yv = _validated(self, X, y, reset=True, y_numeric=self.task == "regression")
        if self.task == "classification":
            try:
                check_classification_targets(yv)
            except ValueError as e:
                raise ModelError(f"{e}; use task='regression' for scores") from None
            self.classes_, target = np.unique(yv, return_inverse=True)
            if len(self.classes_) < 2:
                raise ModelError(f"classification needs at least 2 classes in y; got 1 class "
                                 f"{self.classes_.tolist()}")
            t = target.astype(np.int64)
        else:
            t = yv.astype(np.float64)
            if not np.isfinite(t).all():
                raise ModelError("y contains NaN or inf; drop unlabelled rows first")

        train_idx, val_idx = self._split(len(x), groups)
        self.scaler_ = StandardScaler(with_mean=self.standardize, with_std=self.standardize)
        self.scaler_.fit(x[train_idx])
        self.y_mean_, self.y_scale_ = 0.0, 1.0
        if self.task == "regression" and self.standardize:
            self.y_mean_ = float(t[train_idx].mean())
            self.y_scale_ = float(t[train_idx].std()) or 1.0
        n_out = len(self.classes_) if self.task == "classification" else 1

        prev_threads = torch.get_num_threads()
        torch.set_num_threads(int(self.n_threads))
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.random_state))
                self.net_ = FCNet(
                    x.shape[1], n_out, layers=self.layers, nodes=self.nodes, activation=self.activation
                )
                self._train(x, t, train_idx, val_idx)
        finally:
            torch.set_num_threads(prev_threads)
        return self

    def _split(self, n: int, groups: Any) -> tuple[np.ndarray, np.ndarray]:
        all_idx = np.arange(n)
        if self.validation_fraction == 0:
            return all_idx, all_idx[:0]
        if groups is not None:
            g = np.asarray(groups)
            if len(np.unique(g)) < 2:
                raise ModelError("a validation split by subject needs >= 2 distinct groups")
            # local: the vocalmind.evaluation package loads matplotlib
            from vocalmind.evaluation.protocols import InnerGroupSplit

            splitter: Any = InnerGroupSplit(
                val_fraction=self.validation_fraction, stratify=False, seed=self.random_state
            )
            tr, va = next(splitter.split(all_idx, groups=g))
        else:
            splitter = ShuffleSplit(1, test_size=self.validation_fraction, random_state=self.random_state)
            tr, va = next(splitter.split(all_idx))
        return tr, va

    def _tensors(self, x: np.ndarray, t: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xt = torch.as_tensor(self.scaler_.transform(x), dtype=torch.float32)
        if self.task == "classification":
            return xt, torch.as_tensor(t, dtype=torch.long)
        return xt, torch.as_tensor((t - self.y_mean_) / self.y_scale_, dtype=torch.float32)[:, None]

    def _train(self, x: np.ndarray, t: np.ndarray, tr: np.ndarray, va: np.ndarray) -> None:
        loss_fn: nn.Module = nn.CrossEntropyLoss() if self.task == "classification" else nn.MSELoss()
        # report regression losses as MSE in score units, not z units
        unit = 1.0 if self.task == "classification" else self.y_scale_**2
        xtr, ttr = self._tensors(x[tr], t[tr])
        xva, tva = self._tensors(x[va], t[va]) if len(va) else (None, None)
        opt = OPTIMIZERS[self.optimizer](
            self.net_.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay)
        )
        gen = torch.Generator().manual_seed(int(self.random_state))
        rows: list[tuple[int, float, float]] = []
        best = (np.inf, 0, copy.deepcopy(self.net_.state_dict()))
        last_good = best[2]
        self.diverged_ = False
        since_best = 0
        for epoch in range(1, int(self.epochs) + 1):
            self.net_.train()
            for batch in torch.randperm(len(xtr), generator=gen).split(int(self.batch_size)):
                opt.zero_grad()
                loss = loss_fn(self.net_(xtr[batch]), ttr[batch])
                loss.backward()
                opt.step()
            self.net_.eval()
            with torch.no_grad():
                tr_loss = float(loss_fn(self.net_(xtr), ttr)) * unit
                va_loss = float(loss_fn(self.net_(xva), tva)) * unit if xva is not None else np.nan
            if not np.isfinite(tr_loss) or (xva is not None and not np.isfinite(va_loss)):
                self.diverged_ = True
                self.net_.load_state_dict(last_good)
                warnings.warn(
                    f"MLP loss became non-finite at epoch {epoch} (lr={self.lr}, "
                    f"optimizer={self.optimizer}); keeping the last finite weights",
                    RuntimeWarning,
                    stacklevel=3,
                )
                break
            rows.append((epoch, tr_loss, va_loss))
            last_good = copy.deepcopy(self.net_.state_dict())
            monitor = va_loss if xva is not None else tr_loss
            if monitor < best[0]:
                best, since_best = (monitor, epoch, last_good), 0
            else:
                since_best += 1
            if self.early_stopping and since_best >= self.patience:
                break
        self.history_ = pd.DataFrame(rows, columns=["epoch", "train_loss", "val_loss"])
        if self.early_stopping:
            self.net_.load_state_dict(best[2])
            self.best_epoch_ = int(best[1])
        else:
            self.best_epoch_ = int(rows[-1][0]) if rows else 0

    # -- prediction ------------------------------------------------------------------------
    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        x = _validated(self, X, reset=False)
        prev_threads = torch.get_num_threads()
        torch.set_num_threads(int(self.n_threads))
        try:
            self.net_.eval()
            with torch.no_grad():
                out = self.net_(torch.as_tensor(self.scaler_.transform(x), dtype=torch.float32))
        finally:
            torch.set_num_threads(prev_threads)
        return out.numpy().astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted score (regression) or class label, shape [n_samples]."""
        out = self._forward(X)
        if self.task == "classification":
            return self.classes_[out.argmax(axis=1)]
        return out[:, 0] * self.y_scale_ + self.y_mean_

    def _predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities [n_samples, n_classes] (classification only)."""
        return torch.softmax(torch.as_tensor(self._forward(X)), dim=1).numpy()

    _predict_proba.__name__ = "predict_proba"
    predict_proba = _classifier_only(_predict_proba)

    def score(self, X: Any, y: Any) -> float:
        """R^2 for regression, accuracy for classification."""
        pred = self.predict(X)
        return float(r2_score(y, pred) if self.task == "regression" else accuracy_score(y, pred))


class MLPSearch(BaseEstimator):
    """Choose the :class:`MLPModel` architecture by a subject-grouped inner cross-validation.

    Parameters
    ----------
    task : ``"regression"`` or ``"classification"``
    space : mapping of :class:`MLPModel` parameter -> list of values; default
        :data:`STUDY_SPACE` (2,592 combinations)
    strategy : ``"grid"`` (every combination; ``n_trials`` ignored), ``"random"``
        (``n_trials`` distinct combinations drawn uniformly) or ``"tpe"`` (Optuna's TPE
        sampler, ``n_trials`` trials, seeded)
    n_trials : trials for ``random``/``tpe``
    cv : number of inner ``GroupKFold`` folds (subjects never on both sides)
    scoring : scikit-learn scorer name; default ``"neg_mean_squared_error"`` (the study's
        criterion) for regression, ``"balanced_accuracy"`` for classification
    fixed_params : further :class:`MLPModel` parameters held fixed (e.g. ``epochs``,
        ``early_stopping``)
    random_state : seed of the sampler and of every model
    n_threads : torch threads per model
    refit : refit the best combination on all rows given to ``fit``
    progress : show a rich progress bar

    Attributes
    ----------
    search_results_ : DataFrame
        One row per trial: ``trial``, the parameters, ``mean_score``, ``std_score``,
        ``split<i>_score`` (higher is better, as in scikit-learn), sorted by trial.
    best_params_, best_score_, best_estimator_
    history_ : learning curve of ``best_estimator_``

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(24, 4)); y = X[:, 0]; g = np.repeat(np.arange(8), 3)
    >>> s = MLPSearch(strategy="random", n_trials=2, cv=2, fixed_params={"epochs": 5},
    ...               progress=False).fit(X, y, groups=g)
    >>> len(s.search_results_), s.predict(X).shape
    (2, (24,))
    """

    def __init__(
        self,
        task: Task = "regression",
        space: Mapping[str, Sequence[Any]] | None = None,
        strategy: Literal["grid", "random", "tpe"] = "random",
        n_trials: int = 30,
        cv: int = 3,
        scoring: str | None = None,
        fixed_params: Mapping[str, Any] | None = None,
        random_state: int = 0,
        n_threads: int = 1,
        refit: bool = True,
        progress: bool = True,
    ) -> None:
        self.task = task
        self.space = space
        self.strategy = strategy
        self.n_trials = n_trials
        self.cv = cv
        self.scoring = scoring
        self.fixed_params = fixed_params
        self.random_state = random_state
        self.n_threads = n_threads
        self.refit = refit
        self.progress = progress

    def __sklearn_tags__(self) -> Any:
        return MLPModel(task=self.task).__sklearn_tags__()

    def _space(self) -> dict[str, list[Any]]:
        space = {k: list(v) for k, v in (self.space or STUDY_SPACE).items()}
        base = MLPModel().get_params()
        for key, values in space.items():
            if key not in base or key == "task":
                raise ConfigError(f"search space key {key!r} is not an MLPModel parameter")
            if not values:
                raise ConfigError(f"search space key {key!r} has no values")
        for key in set(space) & set(self.fixed_params or {}):
            raise ConfigError(f"{key!r} is both searched and fixed; remove it from one")
        # validate every value once, so a typo fails before hours of search
        for key, values in space.items():
            for v in values:
                MLPModel(**{key: v})._check_params()
        return space

    def fit(self, X: Any, y: Any, groups: Any = None) -> MLPSearch:
        """Search on these rows (the outer training fold); ``groups`` are required.

        Parameters
        ----------
        X : array [shape=(n_samples, n_features)]
        y : array [shape=(n_samples,)]
        groups : array [shape=(n_samples,)]
            Subject ids; the inner folds never split a subject.

        Raises
        ------
        ConfigError
            Missing ``groups``, fewer subjects than ``cv``, unknown strategy or bad space.
        """
        if groups is None:
            raise ConfigError(
                "MLPSearch.fit needs groups= (subject ids) so that no subject is on both sides "
                "of an inner fold"
            )
        _check_choice("strategy", self.strategy, ("grid", "random", "tpe"))
        _check_choice("task", self.task, ("regression", "classification"))
        space = self._space()
        x, yv = _validated(self, X, y, reset=True, y_numeric=self.task == "regression")
        g = np.asarray(groups)
        if not (len(x) == len(yv) == len(g)):
            raise ModelError(f"X, y and groups differ in length: {len(x)}, {len(yv)}, {len(g)}")
        if int(self.cv) < 2 or len(np.unique(g)) < int(self.cv):
            raise ConfigError(
                f"cv={self.cv} inner folds need >= cv distinct subjects; got {len(np.unique(g))}"
                f" (n_samples={len(x)})"
            )
        scoring = self.scoring or (
            "neg_mean_squared_error" if self.task == "regression" else "balanced_accuracy"
        )
        base = MLPModel(
            task=self.task, random_state=self.random_state, n_threads=self.n_threads,
            **dict(self.fixed_params or {}),
        )
        from vocalmind.evaluation.protocols import InnerGroupSplit  # local, as in _split
        from vocalmind.training.search import (
            CategoricalGrid,
            estimator_cv_objective,
            run_search,
        )

        objective = estimator_cv_objective(
            base, x, yv, g, scoring=scoring, fit_groups=True,
            cv=InnerGroupSplit(n_splits=int(self.cv), stratify=False, shuffle=False))
        cat = CategoricalGrid(space)
        grid = cat.points()
        n = len(grid) if self.strategy == "grid" else min(int(self.n_trials), len(grid))
        if self.strategy != "grid" and int(self.n_trials) < 1:
            raise ConfigError(f"n_trials={self.n_trials!r} must be >= 1")
        # grid and random run given points (every combination, or n distinct ones drawn
        # uniformly); tpe lets Optuna's sampler choose. One runner for all three.
        if self.strategy == "grid":
            points = [grid[i] for i in range(n)]
        elif self.strategy == "random":
            rng = np.random.default_rng(int(self.random_state))
            points = [grid[int(i)] for i in rng.choice(len(grid), size=n, replace=False)]
        else:
            points = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # divergence is scored, not fatal
            run_search(lambda params, report: objective(cat.decode(params), report),
                       cat.space(), n_trials=n, policy=None, sampler="tpe", seed=int(self.random_state),
                       points=points, run_dir=None, progress=self.progress,
                       description=f"MLP search ({self.strategy})")
        rows = []
        for i, h in enumerate(objective.history):
            row = {"trial": i, **h["params"], "mean_score": float(np.mean(h["scores"])),
                   "std_score": float(np.std(h["scores"]))}
            row.update({f"split{j}_score": v for j, v in enumerate(h["scores"])})
            rows.append(row)
        self.search_results_ = pd.DataFrame(rows)
        best = int(self.search_results_["mean_score"].idxmax())
        self.best_index_ = best
        self.best_params_ = {k: _plain(self.search_results_.loc[best, k]) for k in space}
        self.best_score_ = float(self.search_results_.loc[best, "mean_score"])
        self.scoring_ = scoring
        if self.refit:
            self.best_estimator_ = clone(base).set_params(**self.best_params_).fit(x, yv, groups=g)
        return self


    def report_figures(self) -> dict[str, Any]:
        """Pictures for the experiment report: the chosen network's learning curves."""
        from vocalmind.analysis.plots import plot_learning_curve

        return {"Learning curves of the final network": plot_learning_curve(self.history_)}

    @property
    def classes_(self) -> np.ndarray:
        """Class labels of the refitted best model (classification)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.classes_

    @property
    def history_(self) -> pd.DataFrame:
        """Learning curve (``epoch, train_loss, val_loss``) of the refitted best model."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.history_

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the refitted best model, shape [n_samples]."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def _predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the refitted best model (classification)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    _predict_proba.__name__ = "predict_proba"
    predict_proba = _classifier_only(_predict_proba)

    def score(self, X: Any, y: Any) -> float:
        """``MLPModel.score`` of the refitted best model."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.score(X, y)


def make_estimator(name: str, task: str, *, params: dict[str, Any] | None = None,
                   seed: int = 0, run_dir: Any = None) -> Any:
    """The registry's factory for ``mlp``: median imputation, then :class:`MLPSearch`.

    Statistics undefined for a recording (e.g. no creaky frame) are NaN by design and a
    feature selection may keep such a column, so each training fold fills it with its own
    median, as the classical pipelines do, rather than let the network refuse the fold.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    kwargs = {"random_state": seed, "progress": False, **(params or {})}
    return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("model", MLPSearch(task=task, **kwargs))])  # type: ignore[arg-type]


def _plain(v: Any) -> Any:
    """numpy scalar -> Python scalar, so best_params_ round-trips into MLPModel/JSON."""
    return v.item() if isinstance(v, np.generic) else v
