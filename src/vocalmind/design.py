"""The study design of an experiment: which rows, which labels and task, which folds, which
inputs, and the checks that refuse a design that cannot be evaluated across subjects.

Everything here runs before any model is fitted, and most of it before any audio is read, so
a design error costs seconds, not an extraction. :mod:`vocalmind.experiment` strings these
steps together; :mod:`vocalmind.fitting` fits the models inside the folds chosen here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.config import ExperimentConfig
from vocalmind.errors import ConfigError, ManifestError
from vocalmind.models import get_family
from vocalmind.recipe import Recipe, speaker_normalised
from vocalmind.scales import SCALES

__all__ = ["load_manifest", "speaker_normalised", "check_speaker_normalisation",
           "outer_folds", "inner_subjects_needed", "check_inner_cv", "task_type",
           "check_classes", "label_values", "build_inputs"]


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
        key = ("model.params.speaker_norm" if get_family(cfg.model.name).deep
               else "features.speaker_normalization")
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
    numeric = pd.api.types.is_numeric_dtype(y)
    model_task = get_family(cfg.model.name).task
    task = cfg.task.type or model_task or (
        "regression" if numeric and y.name in SCALES else "classification")
    if model_task and model_task != task:
        raise ConfigError(f"model {cfg.model.name!r} is a {model_task} model but task.type "
                          f"is {task}")
    if task == "regression" and not numeric:
        raise ConfigError(f"model {cfg.model.name!r} is a regression model but the label "
                          f"{y.name!r} is categorical; choose a classifier")
    return task


def check_classes(manifest: pd.DataFrame, label: str, *, subject_independent: bool) -> None:
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
    if cfg.selection is not None and not get_family(recipe.model).deep:
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

