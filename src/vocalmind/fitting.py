"""Fitting one model as a config says, inside one training fold.

The estimator comes from the model-family registry (:meth:`vocalmind.models.ModelFamily.
make_estimator`), with the configured feature selection in front; :func:`fit_estimator`
then tunes it (``model.tune``), searches it (``model.search``, ASHA) or pre-trains it
(``model.pretrain``), each on the fold's training subjects only; :func:`fit_fold` fits one
outer fold and predicts its held-out subjects. :mod:`vocalmind.experiment` runs the folds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.config import ExperimentConfig
from vocalmind.design import label_values, task_type
from vocalmind.errors import ConfigError
from vocalmind.models import get_family
from vocalmind.recipe import clip_to_scale

__all__ = ["make_estimator", "fit_estimator", "fit_fold", "fit_final", "fit_job",
           "heldout_permutation_importance", "model_figures"]


def make_estimator(cfg: ExperimentConfig, task: str, *, run_dir: Path | None = None,
                   **overrides: Any) -> Any:
    """A fresh, unfitted estimator for the config's model, by the family registry.

    ``overrides`` replace deep-model training settings (used for in-fold pre-training).
    Feature models get the configured feature selection as their first step.
    """
    family = get_family(cfg.model.name)
    training = {"progress": False, **cfg.model.training, **overrides} if family.deep else {}
    est = family.make_estimator(task, params=cfg.model.params, seed=cfg.seed, run_dir=run_dir,
                                **training)
    return est if family.deep else _with_selection(est, cfg)


def _with_selection(pipe: Any, cfg: ExperimentConfig) -> Any:
    """Put the configured feature selection first in a pipeline (fitted per training fold)."""
    sel = cfg.selection
    if sel is None:
        return pipe
    from sklearn.pipeline import Pipeline

    from vocalmind.analysis.selection import PartialCorrelationSelector

    selector = PartialCorrelationSelector(
        alpha=sel.alpha, fdr=sel.fdr, covariates=tuple(sel.covariates), mode=sel.mode,
        method=sel.correlation, fallback_k=sel.fallback_k)
    return Pipeline([("select", selector), *pipe.steps])


def fit_estimator(est: Any, X: Any, y: Any, groups: np.ndarray,
                  cfg: ExperimentConfig, task: str) -> Any:
    """Fit ``est`` on one training fold.

    Tuning (``model.tune``) runs inside the fold with inner folds grouped by subject;
    pre-training (``model.pretrain``) uses the fold's training subjects only.
    """
    from sklearn.pipeline import Pipeline

    if isinstance(est, Pipeline):
        tune = cfg.model.tune
        if tune and tune.grid:
            return _tuned(est, X, y, groups, cfg, task)
        return est.fit(X, y, **_groups_kw(est, groups))
    if cfg.model.search is not None:
        est = _searched(est, X, y, groups, cfg, task)
    if cfg.model.pretrain is None:
        return est.fit(X, y, groups=groups)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vocalmind-pretrain-") as tmp:
        est = _pretrained(est, X, groups, cfg, Path(tmp) / "pretrained.pt")
        return est.fit(X, y, groups=groups)


def _tuned(est: Any, X: Any, y: Any, groups: np.ndarray, cfg: ExperimentConfig,
           task: str) -> Any:
    """``model.tune``: every point of the grid scored on inner subject-grouped folds of
    this training set by the one search runner, then the best refitted on all of it.

    Returns the refitted pipeline with ``best_params_`` (grid keys, e.g. ``model__C``) and
    ``best_score_`` (mean inner score; ties go to the earlier grid point).
    """
    import tempfile

    from joblib import Memory
    from sklearn.base import clone

    from vocalmind.evaluation import inner_cv
    from vocalmind.models.classical import grid_key
    from vocalmind.training.search import CategoricalGrid, estimator_cv_objective, run_search

    tune = cfg.model.tune
    assert tune is not None
    scoring = tune.scoring or ("balanced_accuracy" if task == "classification"
                               else "neg_mean_absolute_error")
    n_inner = min(tune.inner_splits, len(np.unique(groups)))
    cv = inner_cv(groups, y if task == "classification" else None,
                  n_splits=n_inner, stratified=task == "classification", seed=cfg.seed)
    grid = {grid_key(cfg.model.name, k): list(v) for k, v in tune.grid.items()}
    # Candidates are scored on decisions only: calibrating each one (the SVM's internal
    # folds) would triple the search; the chosen model is calibrated.
    key = grid_key(cfg.model.name, "probability")
    calibrate = bool(est.get_params().get(key, False)) and key not in grid
    if calibrate:
        est.set_params(**{key: False})
    # structured values (lists of feature blocks, say) are searched as their JSON text
    coded = CategoricalGrid(grid)
    points = list(coded.points())
    with tempfile.TemporaryDirectory(prefix="vocalmind-tune-") as tmp:
        # The steps before the model (imputation, scaling, selection) do not depend on the
        # tuned model parameters: fitted once per inner fold and reused by every candidate
        # (the pipeline's memory), not refitted per candidate.
        if all(k.startswith("model__") for k in grid) and len(est.steps) > 1:
            est.set_params(memory=Memory(tmp, verbose=0))
        objective = estimator_cv_objective(est, X, y, groups, scoring=scoring, cv=cv)
        search_dir = getattr(est, "search_dir", None)
        run_search(lambda params, report: objective(coded.decode(params), report),
                   coded.space(), n_trials=len(points), policy=None, points=points, seed=cfg.seed,
                   run_dir=search_dir, overwrite=True, progress=False,
                   description="model.tune grid")
        est.set_params(memory=None)  # no reference to the cache folder survives it
    best = objective.best()
    final = clone(est).set_params(**best["params"])
    if calibrate:
        final.set_params(**{key: True})
    final.fit(X, y, **_groups_kw(final, groups))
    final.best_params_ = dict(best["params"])
    final.best_score_ = float(np.mean(best["scores"]))
    return final


def _groups_kw(pipe: Any, groups: np.ndarray) -> dict[str, Any]:
    """Route the subjects to a pipeline's model when its ``fit`` takes ``groups`` (the SVM's
    subject-grouped calibration, the fusion model's in-fold block choice, the MLP)."""
    name, model = pipe.steps[-1]
    return {f"{name}__groups": groups} if "groups" in _fit_params(model) else {}


def _searched(est: Any, X: pd.DataFrame, y: Any, groups: np.ndarray, cfg: ExperimentConfig,
              task: str) -> Any:
    """Choose hyperparameters by ASHA on inner subject-grouped folds of this training set."""
    import tempfile

    from vocalmind.training.tuning import asha_tune

    sc = cfg.model.search
    assert sc is not None
    search_dir = getattr(est, "search_dir", None)
    with tempfile.TemporaryDirectory(prefix="vocalmind-asha-") as tmp:
        best = asha_tune(lambda params: _with_params(est, params), X, y, groups,
                         space=sc.space, n_trials=sc.n_trials, policy=sc.policy,
                         sampler=sc.sampler, inner_splits=sc.inner_splits, seed=cfg.seed,
                         run_dir=Path(search_dir or tmp), task=task)
    out = _with_params(est, best)
    out.search_best_ = best
    return out


def _with_params(est: Any, params: dict[str, Any]) -> Any:
    """A clone of a deep estimator with ``params`` applied: training settings by name,
    anything else as a model/data parameter."""
    from sklearn.base import clone

    new = clone(est)
    own = {k: v for k, v in params.items() if k in new.get_params()}
    model = {k: v for k, v in params.items() if k not in own}
    if model:
        own["params"] = {**(new.params or {}), **model}
    return new.set_params(**own)


def _fit_params(est: Any) -> set[str]:
    import inspect

    return set(inspect.signature(est.fit).parameters)


def _pretrained(est: Any, X: pd.DataFrame, groups: np.ndarray, cfg: ExperimentConfig,
                path: Path) -> Any:
    """Pre-train on ``model.pretrain.label`` of these rows, save the model to ``path`` and
    return ``est`` set to initialise its trunk from it."""
    pre = cfg.model.pretrain
    assert pre is not None
    if pre.label not in X.columns:
        raise ConfigError(f"model.pretrain.label {pre.label!r} is not a manifest column")
    has = X[pre.label].notna().to_numpy()
    pre_task = task_type(cfg.model_copy(update={"task": cfg.task.model_copy(
        update={"label": pre.label, "type": None})}), X[pre.label])
    over = {"epochs": pre.epochs} if pre.epochs else {}
    base = make_estimator(cfg, pre_task, **over)
    base.fit(X[has], label_values(X.loc[has, pre.label], pre_task), groups=groups[has])
    base.save(path)
    return est.set_params(init_from=str(path), freeze_layers=list(pre.freeze_layers))


def fit_fold(cfg: ExperimentConfig, tasks: dict[str, str], X: Any, Y: dict[str, np.ndarray],
              groups: np.ndarray, train: np.ndarray, test: np.ndarray, fold: int,
              subject_independent: bool, run_dir: Path | None = None) -> dict[str, Any]:
    """Fit on ``train``, predict ``test``; per label: predictions and probabilities."""
    if subject_independent:  # the protocol checked already; checked again where it matters
        from vocalmind.evaluation import check_no_leakage

        check_no_leakage(groups[train], groups[test])
    Xtr = X.iloc[train] if hasattr(X, "iloc") else X[train]
    Xte = X.iloc[test] if hasattr(X, "iloc") else X[test]
    labels = list(Y)
    task = tasks[labels[0]]
    if len(labels) == 1:
        ytr: Any = Y[labels[0]][train]
    else:
        ytr = pd.DataFrame({lab: Y[lab][train] for lab in labels})
    est = make_estimator(cfg, task)
    if run_dir is not None:
        est.search_dir = run_dir / "search" / f"fold_{fold}"
    est = fit_estimator(est, Xtr, ytr, groups[train], cfg, task)
    pred = est.predict(Xte)
    pred = pred.reshape(len(test), -1) if len(labels) > 1 else pred[:, None]
    out: dict[str, Any] = {"fold": fold, "test": test, "labels": {}}
    for j, lab in enumerate(labels):
        r: dict[str, Any] = {"pred": clip_to_scale(pred[:, j], lab)}
        if tasks[lab] == "classification" and hasattr(est, "predict_proba"):
            if len(labels) > 1:
                r["proba"] = est.predict_proba(Xte, task=lab)
                r["classes"] = [str(c) for c in est.classes_[lab]]
            else:
                r["proba"] = est.predict_proba(Xte)
                r["classes"] = [str(c) for c in est.classes_]
        out["labels"][lab] = r
    best = getattr(est, "best_params_", None) or getattr(est, "search_best_", None)
    if best:
        out["best_params"] = best
    if cfg.evaluation.importance_top_k and not get_family(cfg.model.name).deep \
            and len(labels) == 1 and hasattr(Xte, "columns"):
        imp = heldout_permutation_importance(est, Xte, Y[labels[0]][test], task, cfg)
        if imp is not None:
            out["importance"] = imp
    return out


def heldout_permutation_importance(est: Any, Xte: pd.DataFrame, yte: np.ndarray, task: str,
                                   cfg: ExperimentConfig) -> np.ndarray | None:
    """The fitted model's permutation importance on its held-out fold ``[shape=(n_features,)]``,
    or None when the fold has fewer than 2 labelled test rows.

    :func:`sklearn.inspection.permutation_importance` of ``est`` (the model of this outer
    fold, tuning and selection included) on the test rows: the drop of the protocol's score
    (balanced accuracy, or minus the MAE) when one column is shuffled among the held-out
    subjects, averaged over ``evaluation.importance_repeats`` shuffles. A single row cannot
    be shuffled (every column would score exactly 0: a wrong number, and in leave-one-
    subject-out studies with one recording per person it cost ~80 % of each fold's CPU).
    """
    from sklearn.inspection import permutation_importance

    has = pd.notna(yte)
    if int(has.sum()) < 2:
        return None
    scoring = "balanced_accuracy" if task == "classification" else "neg_mean_absolute_error"
    res = permutation_importance(est, Xte[has], yte[has], scoring=scoring,
                                 n_repeats=cfg.evaluation.importance_repeats,
                                 random_state=cfg.seed, n_jobs=1)
    return np.asarray(res.importances_mean, dtype=float)


def fit_final(cfg: ExperimentConfig, task: str, X: Any, y: Any, groups: np.ndarray,
              run_dir: Path) -> Any:
    """The model a user will assess with: the folds' recipe fitted on every labelled row
    (its training log in ``run_dir/model/training``, a search's trials in
    ``run_dir/search/final``)."""
    est = make_estimator(cfg, task, run_dir=run_dir / "model" / "training")
    est.search_dir = run_dir / "search" / "final"
    return fit_estimator(est, X, y, groups, cfg, task)


def fit_job(job: tuple[str, tuple[Any, ...]]) -> Any:
    """One job of an experiment for executors' ``map``: ``("fold", fit_fold's arguments)``
    or ``("final", fit_final's arguments)``, so that a pool can train the final model
    beside the outer folds."""
    kind, args = job
    return fit_final(*args) if kind == "final" else fit_fold(*args)


def model_figures(est: Any, training_dir: Path) -> dict[str, Any]:
    """Figures the final model offers for the report: its ``report_figures()`` and the
    pictures the training engine saved (curves, ROC, learned-representation projection)."""
    inner = getattr(est, "best_estimator_", est)
    inner = inner.steps[-1][1] if hasattr(inner, "steps") else inner
    fn = getattr(inner, "report_figures", None)
    figures: dict[str, Any] = dict(fn()) if callable(fn) else {}
    for png in sorted(training_dir.glob("**/*.png")):
        figures[f"Final model: {png.stem.replace('_', ' ')}"] = png
    return figures

