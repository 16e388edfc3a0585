"""A teacher for distillation: out-of-fold class probabilities of a linear model on pooled
Whisper frames, computed on the training rows only.

:func:`teacher_probabilities` gets the rows a :class:`~vocalmind.training.DeepEstimator`
is fitted on -- in an experiment, the rows of one training fold -- and returns, for every
row, the probabilities of a standardise + logistic-regression teacher that was fitted
**without that row's subject** (inner folds grouped by subject). So the teacher never saw
the student's test speakers (they are not in the rows) nor, for a training row, its own
speaker. The features are the mean and standard deviation over time of one Whisper block's
hidden states (the row's frames, from the same cache as ``input: whisper``).

The student then minimises ``(1 - w) * task loss + w * T^2 * KL(teacher || student_T)``
(:class:`~vocalmind.training.engine.TrainConfig` ``distill_weight``/``distill_temperature``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vocalmind.errors import ConfigError

__all__ = ["DISTILL_DEFAULTS", "check_distill", "pooled_whisper", "teacher_probabilities"]

#: settings of ``DeepEstimator(distill={...})``
DISTILL_DEFAULTS: dict[str, Any] = {"weight": 0.5, "temperature": 2.0, "whisper_model": "base",
                                    "whisper_layer": None, "inner_splits": 5, "C": 1.0}


def check_distill(distill: dict[str, Any] | None) -> dict[str, Any] | None:
    """Complete ``distill`` with the defaults and check it (None = no distillation).

    Examples
    --------
    >>> check_distill({"weight": 0.3})["temperature"]
    2.0
    """
    if distill is None:
        return None
    if not isinstance(distill, dict):
        raise ConfigError(f"distill={distill!r}: give a mapping, e.g. {{'weight': 0.5}}")
    bad = set(distill) - set(DISTILL_DEFAULTS)
    if bad:
        raise ConfigError(f"distill: unknown setting(s) {', '.join(sorted(bad))}; "
                          f"allowed: {', '.join(DISTILL_DEFAULTS)}")
    d = {**DISTILL_DEFAULTS, **distill}
    if not 0 < float(d["weight"]) <= 1:
        raise ConfigError(f"distill.weight={d['weight']} must be in (0, 1]")
    if not float(d["temperature"]) > 0:
        raise ConfigError(f"distill.temperature={d['temperature']} must be > 0")
    if int(d["inner_splits"]) < 2:
        raise ConfigError(f"distill.inner_splits={d['inner_splits']} must be >= 2")
    return d


def pooled_whisper(X: pd.DataFrame, *, whisper_model: str, whisper_layer: int | None,
                   on_error: str = "raise") -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over time of one Whisper block per row.

    Returns
    -------
    features : np.ndarray [shape=(n_ok, 2 * dim)]
    rows : np.ndarray [shape=(n_ok,)] positions in ``X`` of the rows that have features
    """
    from vocalmind.training.data import build_units, split_params

    _, data = split_params("melcnn", {"input": "whisper", "whisper_model": whisper_model,
                                      "whisper_layer": whisper_layer})
    units = build_units(X, "melcnn", data, on_error=on_error)
    feats = []
    for it in range(len(units.item_rows)):
        h = np.concatenate([units.arrays[i][0] for i in np.flatnonzero(units.item == it)], axis=1)
        feats.append(np.concatenate([h.mean(1), h.std(1)]))
    return np.asarray(feats, dtype=np.float32), np.array([r[0] for r in units.item_rows])


def teacher_probabilities(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, *,
                          n_classes: int, settings: dict[str, Any], seed: int = 0,
                          on_error: str = "raise") -> np.ndarray:
    """Out-of-fold teacher probabilities of every row, no subject informing its own row.

    Parameters
    ----------
    X : the training rows (manifest rows)
    y : class index per row ``(n,)`` (NaN = unlabelled: gets a teacher output, trains none)
    groups : subject per row ``(n,)``
    n_classes : classes of the student's (first) task
    settings : :func:`check_distill`'s output
    seed : inner-fold shuffling seed

    Returns
    -------
    np.ndarray [shape=(n, n_classes)]
        Rows sum to 1; a row without features (skipped) is uniform.

    Raises
    ------
    ConfigError
        Fewer than 2 subjects with labels.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from vocalmind.evaluation.protocols import InnerGroupSplit

    feats, rows = pooled_whisper(X, whisper_model=settings["whisper_model"],
                                 whisper_layer=settings["whisper_layer"], on_error=on_error)
    out = np.full((len(X), n_classes), 1.0 / n_classes)
    yr = np.asarray(y, dtype=float)[rows]
    gr = np.asarray(groups).astype(str)[rows]
    lab = ~np.isnan(yr)
    n_groups = len(np.unique(gr[lab]))
    if n_groups < 2:
        raise ConfigError("distillation needs labelled rows of at least 2 subjects")
    k = min(int(settings["inner_splits"]), n_groups)
    strat = np.where(lab, yr, -1).astype(int)  # unlabelled rows: a stratum of their own
    # stratified subject folds; plain (seeded) subject folds when no class can be spread
    for tr, te in InnerGroupSplit(n_splits=k, seed=seed).split(feats, strat, gr):
        tr = tr[lab[tr]]
        if len(np.unique(yr[tr])) < 2:
            continue  # this inner fold cannot train a teacher: its rows stay uniform
        clf = make_pipeline(StandardScaler(), LogisticRegression(
            C=float(settings["C"]), max_iter=2000, class_weight="balanced"))
        clf.fit(feats[tr], yr[tr].astype(int))
        p = np.full((len(te), n_classes), 1e-3)
        p[:, clf.classes_.astype(int)] = np.maximum(clf.predict_proba(feats[te]), 1e-3)
        out[rows[te]] = p / p.sum(1, keepdims=True)
    return out
