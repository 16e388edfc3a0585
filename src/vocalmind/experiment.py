"""One experiment, from a validated config to a run folder: the runner.

The data flow is: manifest and study design (:mod:`vocalmind.design`: rows, labels, task,
checks, folds) -> inputs by the :class:`~vocalmind.recipe.Recipe` (quality screen,
segments, features, key alignment, per-speaker normalisation) -> per-fold fit/predict
(:mod:`vocalmind.fitting`, the estimator from the model-family registry) -> predictions
aggregated to the reporting level and metrics with subject-bootstrap intervals
(:mod:`vocalmind.evaluation.outcomes`) -> report; then a final model fitted on all the data,
saved with its recipe and a model card that hashes every model file, for ``vocalmind assess``.

The run-folder format (config.yaml, metrics.json, predictions.csv, failures.csv,
quality.csv, model/, report.html) and its atomic ``.partial`` build are
:mod:`vocalmind.runs`'.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

import vocalmind
from vocalmind.config import ExperimentConfig, config_to_dict
from vocalmind.design import (
    build_inputs,
    check_classes,
    check_inner_cv,
    check_speaker_normalisation,
    label_values,
    load_manifest,
    outer_folds,
    speaker_normalised,
    task_type,
)
from vocalmind.errors import ConfigError, ManifestError
from vocalmind.files import write_json, write_table, write_text
from vocalmind.fitting import (
    fit_estimator,
    fit_final,
    fit_job,
    heldout_permutation_importance,
    make_estimator,
    model_figures,
)
from vocalmind.models import get_family
from vocalmind.recipe import Recipe
from vocalmind.runs import load_model, new_run_dir, partial_run_dir, save_model
from vocalmind.scales import NOT_A_DIAGNOSIS, is_clinical_label

# Names older callers import from here; each lives in the module that owns it.
__all__ = ["RunResult", "run_experiment", "DISCLAIMER", "is_clinical", "load_model",
           "build_inputs", "load_manifest", "label_values", "task_type", "make_estimator",
           "fit_estimator", "heldout_permutation_importance", "speaker_normalised",
           "check_speaker_normalisation", "deep_fold_workers"]

log = logging.getLogger(__name__)

#: the notice every clinical output carries (:data:`vocalmind.scales.NOT_A_DIAGNOSIS`)
DISCLAIMER = NOT_A_DIAGNOSIS
is_clinical = is_clinical_label


@dataclass
class RunResult:
    """What :func:`run_experiment` returns: where the run is and its headline metrics."""

    run_dir: Path
    metrics: dict[str, Any]


def run_experiment(cfg: ExperimentConfig, *, out: str | Path | None = None,
                   force: bool = False, executor: Any = None) -> RunResult:
    """Run the experiment described by ``cfg`` and write its run folder.

    ``executor`` (e.g. a Ray executor) runs the feature extraction in shards and the outer
    folds of feature models as its tasks; by default local processes (``jobs``) do both.

    Raises
    ------
    ConfigError, ManifestError, TooManyFailuresError, LeakageError
    """
    final_dir = new_run_dir(out, cfg.name, force=force)
    with partial_run_dir(final_dir) as run_dir:
        metrics = _run(cfg, run_dir, executor)
    return RunResult(final_dir, metrics)


def _run(cfg: ExperimentConfig, run_dir: Path, executor: Any) -> dict[str, Any]:
    """The body of :func:`run_experiment`, writing into ``run_dir`` (the .partial folder);
    returns the metrics."""
    from vocalmind.evaluation import write_report
    from vocalmind.evaluation.outcomes import (
        label_predictions,
        point_metrics,
        scored_predictions,
        with_quality,
    )

    t0 = time.perf_counter()
    cfg_dict = config_to_dict(cfg)
    write_text(run_dir / "config.yaml", yaml.safe_dump(cfg_dict, sort_keys=False))
    deep = get_family(cfg.model.name).deep

    # the design: rows, checks that need no audio, then inputs
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
    if len(labels) > 1 and not deep:
        raise ConfigError("a list of labels (multi-task) needs a deep model family")
    task = tasks[labels[0]]
    if task == "classification":
        check_classes(manifest, labels[0],
                      subject_independent=cfg.protocol.name != "stratified_kfold")
    Y = {lab: label_values(manifest[lab], task) for lab in labels}
    groups = manifest["subject"].astype(str).to_numpy()
    primary = labels[0]

    # the outer folds of every repeat, fitted by the executor
    repeats = cfg.protocol.repeats
    fold_sets = [outer_folds(cfg, manifest, task, repeat=r) for r in range(repeats)]
    protocol = fold_sets[0][0]
    folds = [(train, test) for _, fs in fold_sets for train, test in fs]
    repeat_of = [r for r, (_, fs) in enumerate(fold_sets) for _ in fs]  # fold k -> repeat
    log.info("%s: %d rows, %d subjects, %d folds (%s)", cfg.name, len(groups),
             len(np.unique(groups)), len(folds), protocol.name)
    # the model a user will assess with (same recipe, every labelled row): a deep family's
    # trains in the folds' pool when there is one, else after the folds
    yall: Any = Y[primary] if len(labels) == 1 else pd.DataFrame(Y)
    final_args = (cfg, task, X, yall, groups, run_dir)
    results, final = _fit_folds(cfg, tasks, X, Y, groups, folds, protocol, run_dir, executor,
                                deep, final_args)

    # out-of-fold predictions -> scored units -> metrics, per label
    protocol_name = protocol.name + ("" if protocol.subject_independent else " (speaker-dependent)")
    level = cfg.evaluation.level
    per_label: dict[str, dict[str, Any]] = {}
    tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    per_repeat: list[dict[str, Any]] = []
    for lab in labels:
        preds, scoreds = [], []
        for r in range(repeats):
            pred = label_predictions(manifest, Y[lab], [
                x for x in results if repeat_of[x["fold"]] == r], lab, task, protocol_name)
            scored = scored_predictions(pred, task, level)
            if repeats > 1:  # each unit once per repeat: pooled, and told apart
                pred, scored = pred.assign(repeat=r), scored.assign(repeat=r)
                if lab == primary:
                    per_repeat.append({"repeat": r, "seed": cfg.seed + r,
                                       **point_metrics(scored, task)})
            preds.append(pred)
            scoreds.append(scored)
        pred = pd.concat(preds, ignore_index=True)
        scored = pd.concat(scoreds, ignore_index=True)
        per_label[lab] = _label_metrics(scored, task, cfg)
        tables[lab] = (pred, scored)
    metrics = _headline(cfg, protocol, protocol_name, task, len(folds), len(failures),
                        per_label, per_repeat, results)

    if final is None:
        final = fit_final(*final_args)
    if not deep and recipe.feature_names is None:
        covs = set(cfg.selection.covariates) if cfg.selection is not None else set()
        recipe.feature_names = [c for c in X.columns if c not in covs]
    save_model(final, run_dir / "model", recipe=recipe, info=_model_card(
        cfg, task, final, n_train=int(manifest[primary].notna().sum()),
        n_subjects=int(len(np.unique(groups))),
        feature_names=None if deep else list(X.columns)))
    metrics["wall_time_s"] = round(time.perf_counter() - t0, 2)

    # files and the report
    write_json(run_dir / "metrics.json", metrics)
    for lab in labels:
        pred, scored = tables[lab]
        suffix = "" if lab == primary else f"_{lab}"
        write_table(with_quality(scored, quality), run_dir / f"predictions{suffix}.csv")
        if level != "segment" and len(pred) != len(scored):
            write_table(pred, run_dir / f"predictions{suffix}_segments.csv")
    figures = model_figures(final, run_dir / "model" / "training")
    if cfg.evaluation.importance_top_k and not deep:
        figures.update(_importance(X, results, cfg, task, run_dir))
    write_report(run_dir, metrics=metrics, predictions=tables[primary][1], config=cfg_dict,
                 title=f"{cfg.name}: {cfg.model.name} on {metrics['corpus']}",
                 extra_figures=figures or None)
    shutil.rmtree(run_dir / "shards", ignore_errors=True)
    return metrics


def _fit_folds(cfg: ExperimentConfig, tasks: dict[str, str], X: Any, Y: dict[str, np.ndarray],
               groups: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], protocol: Any,
               run_dir: Path, executor: Any, deep: bool, final_args: tuple[Any, ...]
               ) -> tuple[list[dict[str, Any]], Any | None]:
    """Every outer fold's :func:`~vocalmind.fitting.fit_fold` result, in fold order, and the
    final model when it was trained among them (else None: the caller fits it).

    Feature models run their folds on ``executor`` (or ``cfg.jobs`` local processes); deep
    families on local processes too, as many as :func:`deep_fold_workers` allows (each
    worker trains one fold with its own torch threads). With more than one worker a deep
    family's final model (:func:`~vocalmind.fitting.fit_final`, ``final_args``) is queued
    first, beside the folds: it is the longest job, and after the folds it would train on
    one core while the others idle. A model does not depend on the process it ran in:
    every fit seeds itself.
    """
    from vocalmind.features.executor import get_executor

    jobs: list[tuple[str, tuple[Any, ...]]] = [
        ("fold", (cfg, tasks, X, Y, groups, train, test, k, protocol.subject_independent,
                  run_dir)) for k, (train, test) in enumerate(folds)]
    n_jobs = deep_fold_workers(cfg, len(folds)) if deep else min(cfg.jobs, len(folds))
    if deep and n_jobs > 1:
        jobs.insert(0, ("final", final_args))
    fold_executor = executor if executor is not None and not deep else get_executor(
        "local", n_jobs=n_jobs)
    results, final = [], None
    what = f"{protocol.name} folds" + (" + final model" if jobs[0][0] == "final" else "")
    for (kind, _), res in fold_executor.map(fit_job, jobs, description=what):
        if isinstance(res, BaseException):
            raise res
        if kind == "final":
            final = res
        else:
            results.append(res)
    return sorted(results, key=lambda r: r["fold"]), final


def deep_fold_workers(cfg: ExperimentConfig, n_folds: int) -> int:
    """How many outer folds of a deep family train at once: ``cfg.jobs`` CPU threads shared
    by folds that each use the training's ``n_threads`` torch threads; one fold at a time when
    training runs on a GPU (the GPU is the parallelism there, and folds would share its
    memory).

    On 2 cores with one torch thread per fold this halves a run's wall time: a second torch
    thread in the same fold buys far less (docs/benchmarks.md, "Deep training cost").
    """
    from vocalmind.training.engine import resolve_device

    training = cfg.model.training or {}
    if resolve_device(str(training.get("device", "auto"))).type != "cpu":
        return 1
    threads = max(1, int(training.get("n_threads", 1)))
    return max(1, min(cfg.jobs // threads, n_folds))


def _label_metrics(scored: pd.DataFrame, task: str, cfg: ExperimentConfig) -> dict[str, Any]:
    from vocalmind.evaluation.outcomes import label_metrics

    ev = cfg.evaluation
    return label_metrics(scored, task, n_boot=ev.n_boot, ci=ev.ci, seed=cfg.seed,
                         positive=ev.positive_class)


def _headline(cfg: ExperimentConfig, protocol: Any, protocol_name: str, task: str,
              n_folds: int, n_failures: int, per_label: dict[str, dict[str, Any]],
              per_repeat: list[dict[str, Any]], results: list[dict[str, Any]],
              ) -> dict[str, Any]:
    """``metrics.json``: what was evaluated, how, and the primary label's metrics."""
    labels = cfg.task.labels
    deep = get_family(cfg.model.name).deep
    metrics: dict[str, Any] = {
        "task": task, "label": labels[0], "protocol": protocol_name,
        "protocol_description": protocol.describe(),
        "subject_independent": protocol.subject_independent,
        "level": cfg.evaluation.level, "n_folds": n_folds, "model": cfg.model.name,
        "features": None if deep else cfg.features.set,
        "speaker_normalization": speaker_normalised(cfg),
        "corpus": cfg.corpus.name or cfg.corpus.manifest, "n_failures": n_failures,
        **per_label[labels[0]],
    }
    if len(labels) > 1:
        metrics["tasks"] = per_label
    repeats = cfg.protocol.repeats
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
    if any(is_clinical_label(lab) for lab in labels):
        metrics["disclaimer"] = DISCLAIMER
    return metrics


def _model_card(cfg: ExperimentConfig, task: str, final: Any, *, n_train: int,
                n_subjects: int, feature_names: list[str] | None) -> dict[str, Any]:
    """What the model card says about the final model (besides its kind and file hashes)."""
    classes = None
    if task == "classification":
        c = final.classes_
        classes = [str(v) for v in (c[cfg.task.primary] if isinstance(c, dict) else c)]
    return {
        "vocalmind_version": vocalmind.__version__, "model": cfg.model.name,
        "task": task, "label": cfg.task.primary, "labels": cfg.task.labels,
        "classes": classes,
        "corpus": cfg.corpus.name or cfg.corpus.manifest, "n_train": n_train,
        "n_subjects": n_subjects, "features": cfg.features.model_dump(mode="json"),
        "speaker_normalization": speaker_normalised(cfg),
        "segmentation": cfg.segmentation.model_dump(mode="json"),
        "feature_names": feature_names,
        "disclaimer": DISCLAIMER if any(is_clinical_label(x) for x in cfg.task.labels)
        else None,
    }


def _importance(X: pd.DataFrame, results: list[dict[str, Any]], cfg: ExperimentConfig,
                task: str, run_dir: Path) -> dict[str, Any]:
    """``importance.csv`` (every feature) and a chart of the top ``k``: the evaluated
    model's own permutation importance on held-out subjects, pooled over the outer folds."""
    from vocalmind.evaluation.outcomes import pooled_importance
    from vocalmind.evaluation.plots import plot_model_importance

    covs = set(cfg.selection.covariates) if cfg.selection else set()
    table = pooled_importance([str(c) for c in X.columns], results, exclude=covs)
    if table is None:
        log.warning("%s: no permutation importance: every held-out fold has fewer than 2 "
                    "labelled rows, and a single row cannot be shuffled", cfg.name)
        return {}
    write_table(table, run_dir / "importance.csv")
    k = cfg.evaluation.importance_top_k
    score = "balanced accuracy" if task == "classification" else "MAE"
    title = (f"Permutation importance of the evaluated {cfg.model.name} model on held-out "
             f"subjects, top {k}")
    return {title: plot_model_importance(table, top_k=int(k or 10), score=score,
                                         model=cfg.model.name)}
