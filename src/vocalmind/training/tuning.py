"""ASHA hyperparameter search for the deep families, nested inside a training fold.

:func:`asha_tune` is what the experiment runner calls when a config has ``model.search``
(see :func:`vocalmind.fitting.fit_estimator`). The resource ASHA allocates is
**epochs**: a trial trains one model per inner fold (folds grouped by subject), all folds
in lockstep, and after every epoch the mean over folds of the validation score is
reported, so :func:`vocalmind.training.search.run_search` can stop a poor trial at a rung.

Score per epoch (higher is better):

- classification: UAR (balanced accuracy) of the primary (first) task on the inner
  validation subjects' units, minus ``1e-4 * min(validation loss, 10)``: UAR moves in
  steps on small validation sets, and without the tie-break equal UARs would all be
  promoted by ASHA; the tie-break (at most 0.001) only orders trials of equal UAR;
- regression: minus the mean absolute error of the primary task, in the label's units.

Inside a trial early stopping is off (every fold trains exactly as many epochs as ASHA
grants; the folds' own validation parts are the inner folds), and nothing is written but
the search records: ``search.json``, ``decisions.jsonl`` (every report and pruning
decision), ``trials.csv`` and ``best.json`` in ``run_dir``.

>>> best = asha_tune(lambda p: DeepEstimator("melcnn", params=p), X, y, groups,
...                  space={"lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2}},
...                  n_trials=8, policy={"min_resource": 1, "reduction_factor": 3,
...                  "max_resource": 9}, sampler="random", inner_splits=3, seed=0,
...                  run_dir=Path("run/search/fold_0"), task="classification")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.errors import ConfigError
from vocalmind.training.data import cached_rows
from vocalmind.training.estimator import DeepEstimator
from vocalmind.training.search import AshaPolicy, SearchSpace, grouped_cv_objective, run_search

__all__ = ["asha_tune", "epoch_score", "inner_folds"]

#: estimator settings the search controls itself; searching them would break the resource
_RESERVED = {"epochs": "epochs are the ASHA resource: set model.search.policy.max_resource",
             "patience": "early stopping is off inside a trial (ASHA prunes instead)",
             "run_dir": "trials write nothing but the search records",
             "seed": "the seed comes from the config's top-level seed"}


def epoch_score(row: dict[str, Any], task_name: str, kind: str) -> float:
    """The per-epoch validation score of a history row: UAR (ties broken by the validation
    loss, see the module docstring), or -MAE for regression.

    Examples
    --------
    >>> epoch_score({"val_emotion_bacc": 0.5, "val_loss": 2.0}, "emotion", "classification")
    0.4998
    >>> epoch_score({"val_phq9_mae": 3.0}, "phq9", "regression")
    -3.0
    """
    key = f"val_{task_name}_{'bacc' if kind == 'classification' else 'mae'}"
    if key not in row:  # no validation label of this task in the fold
        raise ConfigError(f"inner validation fold has no {task_name!r} label to score; "
                          "use fewer model.search.inner_splits")
    v = float(row[key])
    if kind == "regression":
        return -v
    loss = float(row.get("val_loss", 0.0))
    return v - 1e-4 * min(loss if np.isfinite(loss) else 10.0, 10.0)


def inner_folds(y_primary: np.ndarray, groups: np.ndarray, *, n_splits: int, seed: int,
                task: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Subject-grouped inner folds (stratified on the primary label for classification):
    :class:`~vocalmind.evaluation.protocols.InnerGroupSplit` in k-fold mode.

    Parameters
    ----------
    y_primary : primary label per row ``(n,)`` (None / NaN = missing)
    groups : subject per row ``(n,)``
    n_splits : wanted folds; lowered to the number of subjects (at least 2 needed)
    seed : shuffling seed
    task : ``"classification"`` or ``"regression"``

    Returns
    -------
    list of (train, validation) position arrays, no subject on both sides

    Raises
    ------
    ConfigError
        Fewer than 2 subjects.
    """
    from vocalmind.evaluation.protocols import InnerGroupSplit

    groups = np.asarray(groups).astype(str)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ConfigError(f"the search needs at least 2 subjects for inner folds; got {n_groups}")
    strat = None
    if task == "classification":  # a missing label is a class of its own
        strat = np.array(["__missing__" if v is None or (isinstance(v, float) and np.isnan(v))
                          else str(v) for v in np.asarray(y_primary, dtype=object)])
    splitter = InnerGroupSplit(n_splits=n_splits, stratify=strat is not None, seed=seed)
    return list(splitter.split(None, strat, groups))


def asha_tune(make_estimator: Callable[[dict], DeepEstimator], X: pd.DataFrame,
              y: np.ndarray | pd.DataFrame, groups: np.ndarray, *, space: dict,
              n_trials: int, policy: dict, sampler: str, inner_splits: int, seed: int,
              run_dir: Path, task: str) -> dict:
    """Choose a deep estimator's hyperparameters by ASHA on inner subject-grouped folds.

    Parameters
    ----------
    make_estimator : params -> a fresh, unfitted :class:`DeepEstimator` with them applied
        (training settings by name, anything else as model/data parameters)
    X : manifest rows of the training fold ``(n, ...)``
    y : labels ``(n,)``, or a DataFrame ``(n, n_tasks)`` for a multi-task model (the
        first column is the primary task, the one scored)
    groups : subject per row ``(n,)``
    space : the search space as data (see :class:`~vocalmind.training.search.SearchSpace`)
    n_trials : trials to run
    policy : :class:`~vocalmind.training.search.AshaPolicy` as a dict; its
        ``max_resource`` is the epochs of a full trial (default: the estimator's
        ``epochs``)
    sampler : ``"random"`` or ``"tpe"``
    inner_splits : inner folds (lowered to the number of subjects)
    seed : sampler and fold seed
    run_dir : where the search records go (replaced if present)
    task : ``"classification"`` (score: UAR) or ``"regression"`` (score: -MAE)

    Returns
    -------
    dict
        The best trial's parameters (a point of ``space``).

    Raises
    ------
    ConfigError
        Bad space or policy; a reserved setting (epochs, patience ...) in the space;
        fewer than 2 subjects; mismatched lengths.
    TooManyFailuresError
        No trial completed.
    """
    if task not in ("classification", "regression"):
        raise ConfigError(f"task={task!r}: use 'classification' or 'regression'")
    sp = SearchSpace.from_dict(space)
    bad = [f"{n} ({_RESERVED[n]})" for n in sp.names if n in _RESERVED]
    if bad:
        raise ConfigError(f"model.search.space may not search {', '.join(bad)}")
    pol = AshaPolicy.from_dict(policy)
    X = X.reset_index(drop=True)
    groups = np.asarray(groups).astype(str)
    multi = isinstance(y, pd.DataFrame)
    y_tab = y.reset_index(drop=True) if multi else np.asarray(y, dtype=object)
    if len(y_tab) != len(X) or len(groups) != len(X):
        raise ConfigError(f"X, y and groups must have the same length; got {len(X)}, "
                          f"{len(y_tab)}, {len(groups)}")
    primary = y_tab.iloc[:, 0].to_numpy(dtype=object) if multi else y_tab
    probe = make_estimator({})
    epochs = int(pol.max_resource or probe.epochs)

    def labels(idx: np.ndarray) -> Any:
        return y_tab.iloc[idx].reset_index(drop=True) if multi else y_tab[idx]

    def build_and_train(params: dict[str, Any], X_tr: pd.DataFrame, i_tr: np.ndarray,
                        X_va: pd.DataFrame, i_va: np.ndarray) -> Iterator[float]:
        est = make_estimator(params).set_params(epochs=epochs, patience=0, run_dir=None,
                                                progress=False)
        for row in est.fit_epochs(X_tr, labels(i_tr), groups[i_tr],
                                  validation=(X_va, labels(i_va))):
            primary_task = est.tasks_[0]  # the first column of a multi-task table
            yield epoch_score(row, primary_task.name, primary_task.kind)

    splits = inner_folds(primary, groups, n_splits=inner_splits, seed=seed, task=task)
    # y given to the objective is the row position: labels (1-D or a table) are looked up
    # from it, so multi-task tables travel through the fold slicing unchanged.
    objective = grouped_cv_objective(build_and_train, X, np.arange(len(X)), groups,
                                     cv=splits)
    with cached_rows():  # every trial and fold reads the same rows: decode them once
        result = run_search(objective, sp, n_trials=n_trials, policy=pol,
                            direction="maximize", seed=seed, run_dir=run_dir,
                            sampler=sampler,  # type: ignore[arg-type]
                            overwrite=True, progress=False)
    return dict(result.best_params)
