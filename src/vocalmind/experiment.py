"""One experiment, from a validated config to a run folder.

The data flow is: manifest -> inputs by the :class:`~vocalmind.recipe.Recipe` (quality
screen, segments, features, key alignment, per-speaker normalisation) -> protocol folds ->
per-fold fit/predict -> predictions aggregated to the reporting level -> metrics with
subject-bootstrap intervals -> report; then a final model fitted on all the data, saved with
its recipe and a model card that hashes every model file, for ``vocalmind assess``.

The run-folder format (config.yaml, metrics.json, predictions.csv, failures.csv,
quality.csv, model/, report.html) is described in :mod:`vocalmind.runs`.

The folder is built under ``<out>.partial`` and renamed into place when complete; a run
that fails or is interrupted removes its ``.partial`` folder, so nothing half-written is
left that looks like a run.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import yaml

import vocalmind
from vocalmind.config import ExperimentConfig, config_to_dict
from vocalmind.errors import ConfigError, ManifestError
from vocalmind.files import check_writable, write_json, write_table, write_text
from vocalmind.models import DEEP_FAMILIES as DEEP_FAMILIES  # one registry of families
from vocalmind.recipe import Recipe
from vocalmind.recipe import clip_to_scale as clip_to_scale  # re-exported
from vocalmind.runs import load_model as load_model  # re-exported: older callers
from vocalmind.runs import write_model_card
from vocalmind.scales import SCALES

log = logging.getLogger(__name__)

#: the notice every clinical output carries (the same text as the report's NOT_A_DIAGNOSIS)
DISCLAIMER = "Research measurement, not a diagnosis."


def is_clinical(label: str) -> bool:
    """True if ``label`` is a depression/anxiety scale or a band/screen derived from one."""
    # one policy with the report (vocalmind.evaluation.report.CLINICAL_LABELS): a scale's
    # total, its bands and its screening binary; imported here, as the report pulls in
    # matplotlib, which `import vocalmind.experiment` should not
    from vocalmind.evaluation.report import CLINICAL_LABELS

    return label in CLINICAL_LABELS


@dataclass
class RunResult:
    """What :func:`run_experiment` returns: where the run is and its headline metrics."""

    run_dir: Path
    metrics: dict[str, Any]


# --------------------------------------------------------------------------- data


def load_manifest(cfg: ExperimentConfig) -> pd.DataFrame:
    """The config's manifest, restricted to rows that carry the task's label(s).

    Single task: rows without the label are dropped (``drop_unlabelled``) or rejected.
    Multi-task: rows are kept when at least one label is present.
    """
    from vocalmind.corpora import read_manifest, validate_manifest

    if cfg.corpus.manifest:
        manifest = read_manifest(cfg.corpus.manifest)
    else:
        from vocalmind.corpora import read_corpus

        manifest = read_corpus(cfg.corpus.name, cfg.corpus.root, **cfg.corpus.options)
    # Duplicates and impossible spans are errors; missing or unreadable files are skipped
    # and listed by the extraction's failure summary (under its threshold).
    validate_manifest(manifest, check_files=False)
    labels = cfg.task.labels
    for label in labels:
        if label not in manifest.columns:
            present = [c for c in manifest.columns if manifest[c].notna().any()]
            raise ConfigError(f"task.label {label!r} is not a manifest column; "
                              f"columns with values here: {present}")
    has = manifest[labels].notna().any(axis=1)
    if not has.all():
        if not cfg.task.drop_unlabelled:
            raise ManifestError(f"{int((~has).sum())} rows have no {labels} label; "
                                "set task.drop_unlabelled: true to drop them")
        manifest = manifest[has]
    if cfg.task.classes:
        values = set(manifest[cfg.task.primary].dropna().astype(str))
        missing = [c for c in cfg.task.classes if c not in values]
        if missing:
            import difflib

            hints = {c: difflib.get_close_matches(c, sorted(values), n=1) for c in missing}
            hint = "; ".join(f"{c!r}: did you mean {h[0]!r}?" for c, h in hints.items() if h)
            raise ConfigError(f"task.classes: {missing} are not values of "
                              f"{cfg.task.primary!r} (it has {sorted(values)})"
                              + (f"; {hint}" if hint else ""))
        manifest = manifest[manifest[cfg.task.primary].astype(str).isin(cfg.task.classes)]
    if manifest.empty:
        raise ManifestError(f"no rows left with a {labels} label")
    if manifest["subject"].nunique() < 2:
        raise ManifestError("subject-independent evaluation needs at least 2 subjects; "
                            f"found {manifest['subject'].nunique()}")
    return manifest.reset_index(drop=True)


def speaker_normalised(cfg: ExperimentConfig) -> bool:
    """Whether the config's inputs are standardised per speaker: ``features.
    speaker_normalization`` for feature models, the ``speaker_norm`` data setting of a deep
    family (log-mel or Whisper-frame inputs, the kinds it applies to)."""
    if cfg.model.name not in DEEP_FAMILIES:
        return bool(cfg.features.speaker_normalization)
    from vocalmind.training.data import input_kind, split_params

    _, data = split_params(cfg.model.name, cfg.model.params)
    return bool(data.get("speaker_norm")) and input_kind(cfg.model.name) in (
        "logmel", "logmel_segment")


def check_speaker_normalisation(cfg: ExperimentConfig, manifest: pd.DataFrame) -> None:
    """Refuse per-speaker normalisation of inputs whose label never varies within a subject.

    Standardising each speaker's inputs with that speaker's own statistics removes
    everything that is constant per speaker; when each person has one label (a depression
    screen, a questionnaire score), that is exactly the signal, and the model becomes a
    constant predictor. Labels that vary within speakers (emotions) are what it is for.

    Raises
    ------
    ConfigError
        Speaker normalisation on, and the primary label constant within every subject (one
        value per person; also when each person has a single recording).
    """
    if not speaker_normalised(cfg):
        return
    label = cfg.task.primary
    rows = manifest[manifest[label].notna()]
    per_subject = rows.groupby(rows["subject"].astype(str))[label].nunique()
    if len(per_subject) and (per_subject <= 1).all():
        key = ("features.speaker_normalization" if cfg.model.name not in DEEP_FAMILIES
               else "model.params.speaker_norm")
        raise ConfigError(
            f"per-speaker normalisation ({key}: true) with label {label!r}, which is constant "
            f"within every subject ({len(per_subject)} subjects, each with one value): "
            "normalising each speaker's inputs by that speaker's own statistics "
            "removes whatever differs between people, here the label itself, and leaves a "
            f"constant predictor. Set {key}: false")


def outer_folds(cfg: ExperimentConfig, manifest: pd.DataFrame, task: str, *, repeat: int = 0,
                ) -> tuple[Any, list[tuple[np.ndarray, np.ndarray]]]:
    """The config's protocol and its outer folds ``(train, test)`` (row positions) of
    ``manifest``. Folds are stratified on the primary label; rows without it are still
    trained on (multi-task) but never scored for it. With ``protocol.repeats`` > 1, repeat
    ``r`` uses the protocol seed ``seed + r``."""
    from vocalmind.evaluation import make_protocol

    pparams = dict(cfg.protocol.params)
    if cfg.protocol.repeats > 1:
        pparams["seed"] = cfg.seed + repeat
    if cfg.protocol.name == "group_kfold" and task == "regression":
        pparams.setdefault("stratified", False)  # scores have no classes to balance
    protocol = make_protocol(cfg.protocol.name, **pparams)
    split_labels = manifest["split"].to_numpy() if "split" in manifest else None
    primary = manifest[cfg.task.primary]
    strat = (np.where(primary.notna(), label_values(primary, task).astype(str), "__missing__")
             if task == "classification" else None)
    groups = manifest["subject"].astype(str).to_numpy()
    folds = list(protocol.split(manifest, strat, groups=groups, split_labels=split_labels))
    return protocol, folds


def inner_subjects_needed(cfg: ExperimentConfig) -> tuple[int, str] | None:
    """How many training subjects the model's inner, subject-grouped CV needs in every
    outer training fold, and the setting that asks for it; None when nothing is tuned."""
    if cfg.model.tune and cfg.model.tune.grid:
        return 2, "model.tune"
    if cfg.model.search is not None:
        return 2, "model.search"
    if cfg.model.name == "mlp":
        from vocalmind.models.mlp import MLPSearch

        return int(cfg.model.params.get("cv", MLPSearch().cv)), "the mlp's architecture search"
    return None


def check_inner_cv(cfg: ExperimentConfig, manifest: pd.DataFrame, task: str) -> None:
    """Refuse, before any extraction, a tuned model whose outer training folds hold too
    few subjects for its inner subject-grouped cross-validation.

    Raises
    ------
    ConfigError
        Naming the protocol, the fold, why and what to change.
    """
    need = inner_subjects_needed(cfg)
    if need is None:
        return
    n_need, what = need
    protocol, folds = outer_folds(cfg, manifest, task)
    groups = manifest["subject"].astype(str).to_numpy()
    counts = [len(np.unique(groups[train])) for train, _ in folds]
    if not counts or min(counts) >= n_need:
        return
    k = int(np.argmin(counts))
    raise ConfigError(
        f"{what} chooses hyperparameters by an inner cross-validation grouped by subject "
        f"inside each training fold, which needs >= {n_need} training subjects; with "
        f"protocol {protocol.name} on {len(np.unique(groups))} subjects, fold {k} trains on "
        f"{counts[k]}. To run it: set the parameters in model.params and remove {what}, or "
        f"evaluate on a corpus with at least {n_need + 1} speakers")


def task_type(cfg: ExperimentConfig, y: pd.Series) -> str:
    """``classification`` or ``regression``: from the config, the model, or the label.

    Raises
    ------
    ConfigError
        If the model's task contradicts the config or the label (a regression model on a
        categorical label, say).
    """
    from vocalmind.models.classical import CLASSICAL_MODELS

    numeric = pd.api.types.is_numeric_dtype(y)
    model_task = CLASSICAL_MODELS.get(cfg.model.name, (None,))[0]
    task = cfg.task.type or model_task or (
        "regression" if numeric and y.name in SCALES else "classification")
    if model_task and model_task != task:
        raise ConfigError(f"model {cfg.model.name!r} is a {model_task} model but task.type "
                          f"is {task}")
    if task == "regression" and not numeric:
        raise ConfigError(f"model {cfg.model.name!r} is a regression model but the label "
                          f"{y.name!r} is categorical; choose a classifier")
    return task


def _check_classes(manifest: pd.DataFrame, label: str, *, subject_independent: bool) -> None:
    """Refuse a classification task that cannot be evaluated across subjects.

    Raises
    ------
    ManifestError
        Fewer than two classes, or a class whose recordings all come from one subject
        (it would be absent from the training data of the fold that holds that subject).
    """
    has = manifest[label].notna()
    per_class = manifest[has].groupby(manifest.loc[has, label].astype(str))["subject"].nunique()
    if len(per_class) < 2:
        raise ManifestError(f"task.label {label!r} has {len(per_class)} class(es) "
                            f"{list(per_class.index)}; classification needs at least 2")
    lonely = sorted(per_class[per_class < 2].index)
    if lonely and subject_independent:
        raise ManifestError(f"class(es) {lonely} of {label!r} come from one subject only; a "
                            "subject-independent evaluation needs each class from at least 2 "
                            "subjects (drop them with task.classes, or add recordings)")


def label_values(col: pd.Series, task: str) -> np.ndarray:
    """Labels as the models take them: strings (None = missing) or floats (NaN = missing)."""
    if task == "regression":
        return col.astype(float).to_numpy()
    out = col.astype(object).where(col.notna(), None).to_numpy()
    return np.array([None if v is None else str(v) for v in out], dtype=object)


def build_inputs(cfg: ExperimentConfig, manifest: pd.DataFrame, *, executor: Any = None,
                 work_dir: Path | None = None, recipe: Recipe | None = None,
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Model inputs for every manifest row that could be processed, by the config's recipe.

    The :class:`~vocalmind.recipe.Recipe` (quality screen, preprocessing, segmentation,
    extraction, key alignment, per-speaker normalisation) is the same object ``assess``
    loads from the run folder, so training and assessment build inputs identically.
    Selection covariates are then added as columns (training only).

    Returns
    -------
    X : features (rows aligned with the returned manifest) for feature models, or the
        manifest rows themselves for models that read audio
    manifest : the rows kept
    failures : (file, reason) of the rows dropped
    """
    recipe = recipe or Recipe.from_config(cfg)
    fc = cfg.features
    extract_fn = None
    if executor is not None:
        # A cluster: shards written as they finish, merged once all are done.
        from vocalmind.distributed import extract_sharded

        extract_fn = extract_sharded
    inputs = recipe.build(
        manifest, executor=executor, work_dir=work_dir or Path(".cache") / "shards",
        n_jobs=fc.jobs, cache_dir=fc.cache_dir, max_failure_fraction=fc.max_failure_fraction,
        extract_fn=extract_fn)
    recipe.fit_domain(inputs.quality)
    X, manifest = inputs.X, inputs.rows
    if cfg.selection is not None and recipe.model not in DEEP_FAMILIES:
        # Covariates travel as columns of X so every split slices them with the rows; the
        # selector uses them and drops them from its output.
        X = X.copy()
        for col in cfg.selection.covariates:
            if col not in manifest.columns:
                raise ConfigError(f"selection.covariates: {col!r} is not a manifest column")
            if col in X.columns:
                raise ConfigError(f"selection covariate {col!r} clashes with a feature name")
            X[col] = manifest[col].to_numpy()
    return X, manifest, inputs.failures


# --------------------------------------------------------------------------- models


def make_estimator(cfg: ExperimentConfig, task: str, *, run_dir: Path | None = None,
                   **overrides: Any) -> Any:
    """A fresh, unfitted estimator for the config's model.

    ``overrides`` replace deep-model training settings (used for in-fold pre-training).
    """
    name = cfg.model.name
    from vocalmind.models.classical import CLASSICAL_MODELS, make_classical

    if name in CLASSICAL_MODELS:
        return _with_selection(make_classical(name, params=cfg.model.params, seed=cfg.seed),
                               cfg)
    if name == "mlp":
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline

        from vocalmind.models.mlp import MLPSearch

        params = {"random_state": cfg.seed, "progress": False, **cfg.model.params}
        # statistics undefined for a recording (e.g. no creaky frame) are NaN by design; the
        # selection may keep such a column, so fill it with the training fold's median, as
        # the classical pipelines do, rather than let the network refuse the fold
        return _with_selection(Pipeline([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("model", MLPSearch(task=task, **params))]), cfg)
    if name in DEEP_FAMILIES:
        from vocalmind.training.estimator import DeepEstimator

        training = {"progress": False, **cfg.model.training, **overrides}
        return DeepEstimator(name, task, params=cfg.model.params, seed=cfg.seed,
                             run_dir=run_dir, **training)
    raise ConfigError(f"unknown model {name!r}; see `vocalmind models list`")


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
            from sklearn.model_selection import GridSearchCV

            from vocalmind.evaluation import inner_cv
            from vocalmind.models.classical import grid_key

            scoring = tune.scoring or ("balanced_accuracy" if task == "classification"
                                       else "neg_mean_absolute_error")
            n_inner = min(tune.inner_splits, len(np.unique(groups)))
            cv = inner_cv(groups, y if task == "classification" else None,
                          n_splits=n_inner, stratified=task == "classification", seed=cfg.seed)
            grid = {grid_key(cfg.model.name, k): v for k, v in tune.grid.items()}
            # Candidates are scored on decisions only: calibrating each one (the SVM's
            # internal folds) would triple the search; the chosen model is calibrated.
            key = grid_key(cfg.model.name, "probability")
            calibrate = bool(est.get_params().get(key, False)) and key not in grid
            if calibrate:
                est.set_params(**{key: False})
            import tempfile

            from joblib import Memory

            with tempfile.TemporaryDirectory(prefix="vocalmind-tune-") as tmp:
                # The steps before the model (imputation, scaling, selection) do not depend
                # on the tuned model parameters: fitted once per inner fold and reused by
                # every candidate (the pipeline's memory), not refitted per candidate.
                tuned = all(k.startswith("model__") for k in grid)
                if tuned and len(est.steps) > 1:
                    est.set_params(memory=Memory(tmp, verbose=0))
                gs = GridSearchCV(est, grid, cv=cv, scoring=scoring, n_jobs=1, refit=True)
                gs.fit(X, y, groups=groups)
                # no reference to the cache folder survives it (models are saved)
                gs.set_params(estimator__memory=None)
                gs.best_estimator_.set_params(memory=None)
            if calibrate:
                gs.set_params(**{f"estimator__{key}": True})
                gs.best_estimator_.set_params(**{key: True}).fit(X, y)
            return gs
        if "groups" in _fit_params(est.steps[-1][1]):
            return est.fit(X, y, **{f"{est.steps[-1][0]}__groups": groups})
        return est.fit(X, y)
    if cfg.model.search is not None:
        est = _searched(est, X, y, groups, cfg, task)
    if cfg.model.pretrain is None:
        return est.fit(X, y, groups=groups)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vocalmind-pretrain-") as tmp:
        est = _pretrained(est, X, groups, cfg, Path(tmp) / "pretrained.pt")
        return est.fit(X, y, groups=groups)


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


def _fit_fold(cfg: ExperimentConfig, tasks: dict[str, str], X: Any, Y: dict[str, np.ndarray],
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
    if cfg.evaluation.importance_top_k and cfg.model.name not in DEEP_FAMILIES \
            and len(labels) == 1 and hasattr(Xte, "columns"):
        out["importance"] = heldout_permutation_importance(
            est, Xte, Y[labels[0]][test], task, cfg)
    return out


def heldout_permutation_importance(est: Any, Xte: pd.DataFrame, yte: np.ndarray, task: str,
                                   cfg: ExperimentConfig) -> np.ndarray:
    """The fitted model's permutation importance on its held-out fold ``[shape=(n_features,)]``.

    :func:`sklearn.inspection.permutation_importance` of ``est`` (the model of this outer
    fold, tuning and selection included) on the test rows: the drop of the protocol's score
    (balanced accuracy, or minus the MAE) when one column is shuffled among the held-out
    subjects, averaged over ``evaluation.importance_repeats`` shuffles.
    """
    from sklearn.inspection import permutation_importance

    scoring = "balanced_accuracy" if task == "classification" else "neg_mean_absolute_error"
    has = pd.notna(yte)
    res = permutation_importance(est, Xte[has], yte[has], scoring=scoring,
                                 n_repeats=cfg.evaluation.importance_repeats,
                                 random_state=cfg.seed, n_jobs=1)
    return np.asarray(res.importances_mean, dtype=float)


def _fit_fold_args(args: tuple[Any, ...]) -> dict[str, Any]:
    return _fit_fold(*args)


def _with_folds(scored: pd.DataFrame, pred: pd.DataFrame, level: str) -> pd.DataFrame:
    """Carry the outer fold and protocol onto aggregated predictions."""
    key = "subject" if level == "subject" else (
        "recording" if "recording" in pred.columns and "recording" in scored.columns else "file")
    first = pred.groupby(key)[["fold", "protocol"]].first()
    out = scored.drop(columns=[c for c in ("fold", "protocol") if c in scored.columns])
    return out.join(first, on=key)


# --------------------------------------------------------------------------- run


def _new_run_dir(cfg: ExperimentConfig, out: str | Path | None, force: bool) -> Path:
    run_dir = Path(out) if out else Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_writable(run_dir, what="run folder", folder=True)  # before hours of extraction
    if run_dir.exists():
        if not force:
            raise ConfigError(f"{run_dir} already exists; choose another --out or pass --force")
        shutil.rmtree(run_dir)
    return run_dir


def run_experiment(cfg: ExperimentConfig, *, out: str | Path | None = None,
                   force: bool = False, executor: Any = None) -> RunResult:
    """Run the experiment described by ``cfg`` and write its run folder.

    ``executor`` (e.g. a Ray executor) runs the feature extraction in shards and the outer
    folds of feature models as its tasks; by default local processes (``jobs``) do both.

    Raises
    ------
    ConfigError, ManifestError, TooManyFailuresError, LeakageError
    """

    final_dir = _new_run_dir(cfg, out, force)
    run_dir = final_dir.with_name(final_dir.name + ".partial")
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    try:
        return _run(cfg, run_dir, final_dir, executor)
    except BaseException:
        # a failed or interrupted run leaves nothing behind that looks like a run
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _run(cfg: ExperimentConfig, run_dir: Path, final_dir: Path, executor: Any) -> RunResult:
    """The body of :func:`run_experiment`, writing into ``run_dir`` (the .partial folder)."""
    from vocalmind.evaluation import (
        aggregate_predictions,
        classification_metrics,
        regression_metrics,
        write_report,
    )

    t0 = time.perf_counter()
    cfg_dict = config_to_dict(cfg)
    write_text(run_dir / "config.yaml", yaml.safe_dump(cfg_dict, sort_keys=False))

    manifest = load_manifest(cfg)
    check_speaker_normalisation(cfg, manifest)
    check_inner_cv(cfg, manifest, task_type(cfg, manifest[cfg.task.primary]))
    recipe = Recipe.from_config(cfg)
    X, manifest, failures = build_inputs(cfg, manifest, executor=executor,
                                         work_dir=run_dir / "shards", recipe=recipe)
    quality = recipe.quality_ if recipe.quality_ is not None else pd.DataFrame()
    write_table(quality, run_dir / "quality.csv")
    if len(failures):
        write_table(failures, run_dir / "failures.csv")
    if manifest["subject"].nunique() < 2:
        raise ManifestError("fewer than 2 subjects left after dropping failed inputs")
    labels = cfg.task.labels
    tasks = {lab: task_type(cfg, manifest[lab]) for lab in labels}
    if len(set(tasks.values())) > 1:
        raise ConfigError(f"multi-task labels must all be classification or all regression: {tasks}")
    if len(labels) > 1 and cfg.model.name not in DEEP_FAMILIES:
        raise ConfigError("a list of labels (multi-task) needs a deep model family")
    task = tasks[labels[0]]
    if task == "classification":
        _check_classes(manifest, labels[0],
                       subject_independent=cfg.protocol.name != "stratified_kfold")
    Y = {lab: label_values(manifest[lab], task) for lab in labels}
    groups = manifest["subject"].astype(str).to_numpy()
    primary = labels[0]
    has_primary = manifest[primary].notna().to_numpy()

    repeats = cfg.protocol.repeats
    fold_sets = [outer_folds(cfg, manifest, task, repeat=r) for r in range(repeats)]
    protocol = fold_sets[0][0]
    # one list of outer folds over all repeats; fold k belongs to repeat repeat_of[k]
    folds = [(train, test) for _, fs in fold_sets for train, test in fs]
    repeat_of = [r for r, (_, fs) in enumerate(fold_sets) for _ in fs]
    deep = cfg.model.name in DEEP_FAMILIES
    n_jobs = 1 if deep else min(cfg.jobs, len(folds))
    log.info("%s: %d rows, %d subjects, %d folds (%s)", cfg.name, len(groups),
             len(np.unique(groups)), len(folds), protocol.name)
    from vocalmind.features.executor import get_executor

    jobs = [(cfg, tasks, X, Y, groups, train, test, k, protocol.subject_independent, run_dir)
            for k, (train, test) in enumerate(folds)]
    fold_executor = executor if executor is not None and not deep else get_executor(
        "local", n_jobs=n_jobs)
    results = []
    for _, res in fold_executor.map(
            _fit_fold_args, jobs, description=f"{protocol.name} folds"):
        if isinstance(res, BaseException):
            raise res
        results.append(res)

    protocol_name = protocol.name + ("" if protocol.subject_independent else " (speaker-dependent)")
    level = cfg.evaluation.level
    per_label: dict[str, dict[str, Any]] = {}
    tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    per_repeat: list[dict[str, Any]] = []
    for lab in labels:
        preds, scoreds = [], []
        for r in range(repeats):
            pred = _label_predictions(manifest, Y[lab], [
                x for x in results if repeat_of[x["fold"]] == r], lab, task, protocol_name)
            scored = pred if level == "segment" else _with_folds(
                aggregate_predictions(pred, level=level, task=task), pred, level)
            if repeats > 1:  # each unit once per repeat: pooled, and told apart
                pred, scored = pred.assign(repeat=r), scored.assign(repeat=r)
                if lab == primary:
                    per_repeat.append({"repeat": r, "seed": cfg.seed + r, **_point_metrics(
                        scored, task)})
            preds.append(pred)
            scoreds.append(scored)
        pred = pd.concat(preds, ignore_index=True)
        scored = pd.concat(scoreds, ignore_index=True)
        g = scored["subject"].to_numpy()
        if task == "classification":
            classes = sorted(set(scored["y_true"].astype(str)) | set(scored["y_pred"].astype(str)))
            proba_cols = [f"proba_{c}" for c in classes if f"proba_{c}" in scored]
            m = classification_metrics(
                scored["y_true"].astype(str).to_numpy(), scored["y_pred"].astype(str).to_numpy(),
                proba=scored[proba_cols].to_numpy() if len(proba_cols) == len(classes) else None,
                classes=classes, groups=g, n_boot=cfg.evaluation.n_boot, ci=cfg.evaluation.ci,
                seed=cfg.seed)
            from vocalmind.evaluation.metrics import positive_class, positive_class_metrics

            pos = positive_class(classes, cfg.evaluation.positive_class)
            if pos is not None:
                m["positive"] = positive_class_metrics(m, pos)
        else:
            m = regression_metrics(
                scored["y_true"].astype(float).to_numpy(), scored["y_pred"].astype(float).to_numpy(),
                groups=g, n_boot=cfg.evaluation.n_boot, ci=cfg.evaluation.ci, seed=cfg.seed)
        m["n_subjects"] = int(len(np.unique(g)))
        m["n_units"] = int(len(scored))
        per_label[lab] = m
        tables[lab] = (pred, scored)

    metrics: dict[str, Any] = {
        "task": task, "label": primary, "protocol": protocol_name,
        "protocol_description": protocol.describe(),
        "subject_independent": protocol.subject_independent,
        "level": level, "n_folds": len(folds), "model": cfg.model.name,
        "features": None if deep else cfg.features.set,
        "speaker_normalization": speaker_normalised(cfg),
        "corpus": cfg.corpus.name or cfg.corpus.manifest, "n_failures": int(len(failures)),
        **per_label[primary],
    }
    if len(labels) > 1:
        metrics["tasks"] = per_label
    if repeats > 1:
        seeds = f"{cfg.seed}-{cfg.seed + repeats - 1}"
        metrics["repeats"] = repeats
        metrics["per_repeat"] = per_repeat
        metrics["protocol_description"] = (
            f"{protocol.describe()} Repeated {repeats} times with protocol seeds {seeds}; "
            f"the out-of-fold predictions of all repeats are pooled (each unit is scored "
            f"once per repeat; the bootstrap resamples subjects with all their repeats).")
    if cfg.model.pretrain is not None:
        metrics["pretrained_on"] = cfg.model.pretrain.label
    best_params = [{"fold": r["fold"], **r["best_params"]} for r in results if "best_params" in r]
    if best_params:
        metrics["tuned_params_per_fold"] = best_params
    if any(is_clinical(lab) for lab in labels):
        metrics["disclaimer"] = DISCLAIMER

    # The model a user will assess with: same recipe, fitted on every labelled row.
    yall: Any = Y[primary] if len(labels) == 1 else pd.DataFrame(Y)
    final = make_estimator(cfg, task, run_dir=run_dir / "model" / "training")
    final.search_dir = run_dir / "search" / "final"
    final = fit_estimator(final, X, yall, groups, cfg, task)
    classes_final = None
    if task == "classification":
        c = final.classes_
        classes_final = [str(v) for v in (c[primary] if isinstance(c, dict) else c)]
    save_model(final, run_dir / "model", cfg=cfg, task=task, classes=classes_final,
               n_train=int(has_primary.sum()), n_subjects=int(len(np.unique(groups))),
               feature_names=None if deep else list(X.columns), recipe=recipe)
    metrics["wall_time_s"] = round(time.perf_counter() - t0, 2)
    write_json(run_dir / "metrics.json", metrics)
    for lab in labels:
        pred, scored = tables[lab]
        suffix = "" if lab == primary else f"_{lab}"
        write_table(_with_quality(scored, quality),
                    run_dir / f"predictions{suffix}.csv")
        if level != "segment" and len(pred) != len(scored):
            write_table(pred, run_dir / f"predictions{suffix}_segments.csv")
    figures = _model_figures(final, run_dir / "model" / "training")
    if cfg.evaluation.importance_top_k and not deep:
        figures.update(_importance(X, results, cfg, task, run_dir))
    write_report(run_dir, metrics=metrics, predictions=tables[primary][1], config=cfg_dict,
                 title=f"{cfg.name}: {cfg.model.name} on {metrics['corpus']}",
                 extra_figures=figures or None)
    shutil.rmtree(run_dir / "shards", ignore_errors=True)
    if final_dir.exists():
        shutil.rmtree(final_dir)
    run_dir.rename(final_dir)
    return RunResult(final_dir, metrics)


def _point_metrics(scored: pd.DataFrame, task: str) -> dict[str, float | None]:
    """Headline point values of one set of predictions (no intervals)."""
    from vocalmind.evaluation import classification_metrics, regression_metrics

    if task == "classification":
        m = classification_metrics(scored["y_true"].astype(str).to_numpy(),
                                   scored["y_pred"].astype(str).to_numpy(), n_boot=0)
        keys = ("uar", "accuracy", "macro_f1")
    else:
        m = regression_metrics(scored["y_true"].astype(float).to_numpy(),
                               scored["y_pred"].astype(float).to_numpy(), n_boot=0)
        keys = ("mae", "rmse", "pearson_r")
    return {k: m[k] for k in keys}


def _label_predictions(manifest: pd.DataFrame, y: np.ndarray, results: list[dict[str, Any]],
                       label: str, task: str, protocol_name: str) -> pd.DataFrame:
    """Out-of-fold predictions of one label, one row per scored manifest row."""
    cols = ["file", "start", "end", "subject"] + (
        ["recording"] if "recording" in manifest.columns else [])
    pred = manifest[cols].copy()
    pred["y_true"] = y
    pred["fold"] = -1
    pred["y_pred"] = pd.Series([None] * len(pred), dtype=object) if task == "classification" \
        else np.nan
    for r in results:
        idx, lr = r["test"], r["labels"][label]
        pred.loc[idx, "fold"] = r["fold"]
        pred.loc[idx, "y_pred"] = lr["pred"]
        if "proba" in lr:
            for j, c in enumerate(lr["classes"]):
                col = f"proba_{c}"
                if col not in pred:
                    pred[col] = np.nan
                pred.loc[idx, col] = lr["proba"][:, j]
    keep = (pred["fold"] >= 0) & pred["y_true"].notna() & pred["y_pred"].notna()
    pred = pred[keep].reset_index(drop=True)
    pred["protocol"] = protocol_name
    return pred


def _with_quality(pred: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    """Predictions with each recording's quality record beside them (``quality_*``), when
    recordings are whole files (one quality record per file) and predictions name them."""
    if "file" not in pred.columns or quality.empty or quality["file"].duplicated().any():
        return pred
    cols = [c for c in quality.columns if c.startswith("quality_")]
    return pred.merge(quality[["file", *cols]], on="file", how="left")


def _model_figures(est: Any, training_dir: Path) -> dict[str, Any]:
    """Figures the final model offers for the report: its ``report_figures()`` and the
    pictures the training engine saved (curves, ROC, learned-representation projection)."""
    inner = getattr(est, "best_estimator_", est)
    inner = inner.steps[-1][1] if hasattr(inner, "steps") else inner
    fn = getattr(inner, "report_figures", None)
    figures: dict[str, Any] = dict(fn()) if callable(fn) else {}
    for png in sorted(training_dir.glob("**/*.png")):
        figures[f"Final model: {png.stem.replace('_', ' ')}"] = png
    return figures


def _importance(X: pd.DataFrame, results: list[dict[str, Any]], cfg: ExperimentConfig,
                task: str, run_dir: Path) -> dict[str, Any]:
    """The evaluated model's own permutation importance, pooled over the outer folds:
    ``importance.csv`` (every feature) and a chart of the top ``k``."""
    from vocalmind.evaluation.plots import plot_model_importance

    folds = [(r["importance"], len(r["test"])) for r in results if "importance" in r]
    if not folds:
        return {}
    values = np.vstack([v for v, _ in folds])
    weights = np.array([n for _, n in folds], dtype=float)
    covs = set(cfg.selection.covariates) if cfg.selection else set()
    table = pd.DataFrame({
        "feature": [str(c) for c in X.columns],
        "permutation_mean": np.average(values, axis=0, weights=weights),
        "permutation_std": values.std(axis=0),  # across outer folds
        "n_folds": len(folds),
    })
    table = table[~table["feature"].isin(covs)]  # covariates are not features of the model
    table = table.sort_values("permutation_mean", ascending=False, kind="stable")
    table.insert(1, "rank", np.arange(1, len(table) + 1))
    write_table(table, run_dir / "importance.csv")
    k = cfg.evaluation.importance_top_k
    score = "balanced accuracy" if task == "classification" else "MAE"
    title = (f"Permutation importance of the evaluated {cfg.model.name} model on held-out "
             f"subjects, top {k}")
    return {title: plot_model_importance(table, top_k=int(k or 10), score=score,
                                         model=cfg.model.name)}


# --------------------------------------------------------------------------- model files


def save_model(est: Any, model_dir: Path, *, cfg: ExperimentConfig, task: str,
               classes: list[str] | None, n_train: int, n_subjects: int,
               feature_names: list[str] | None, recipe: Recipe | None = None) -> Path:
    """Write the fitted model, its input recipe and ``model.json`` (what it was trained on
    and for, and the SHA-256 of every file the model loads)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    recipe = recipe or Recipe.from_config(cfg)
    if feature_names is not None and recipe.feature_names is None:
        covs = set(cfg.selection.covariates) if cfg.selection is not None else set()
        recipe.feature_names = [c for c in feature_names if c not in covs]
    recipe.save(model_dir)
    if hasattr(est, "save"):
        est.save(model_dir / "model.pt")
        kind = "deep"
    else:
        from vocalmind.files import atomic_path

        with atomic_path(model_dir / "model.joblib") as tmp:
            joblib.dump(est, tmp)
        kind = "sklearn"
    info = {
        "vocalmind_version": vocalmind.__version__, "kind": kind, "model": cfg.model.name,
        "task": task, "label": cfg.task.primary, "labels": cfg.task.labels,
        "classes": classes,
        "corpus": cfg.corpus.name or cfg.corpus.manifest, "n_train": n_train,
        "n_subjects": n_subjects, "features": cfg.features.model_dump(mode="json"),
        "segmentation": cfg.segmentation.model_dump(mode="json"),
        "feature_names": feature_names,
        "disclaimer": DISCLAIMER if any(is_clinical(x) for x in cfg.task.labels) else None,
    }
    # the card hashes every file the model loads (vocalmind.runs): assess refuses changes
    write_model_card(model_dir, info)
    return model_dir
