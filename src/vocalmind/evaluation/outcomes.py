"""From out-of-fold predictions to what a run reports: prediction tables, metrics with
subject-bootstrap intervals, and the model's permutation importance pooled over folds.

The inputs are the per-fold results of :func:`vocalmind.fitting.fit_fold` (``{"fold",
"test", "labels": {label: {"pred", "proba", "classes"}}, "importance"}``); nothing here
fits a model or reads a config.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.evaluation.aggregation import aggregate_predictions
from vocalmind.evaluation.metrics import (
    classification_metrics,
    positive_class,
    positive_class_metrics,
    regression_metrics,
)

__all__ = ["label_predictions", "scored_predictions", "label_metrics", "point_metrics",
           "with_quality", "pooled_importance"]


def label_predictions(manifest: pd.DataFrame, y: np.ndarray, results: list[dict[str, Any]],
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


def _with_folds(scored: pd.DataFrame, pred: pd.DataFrame, level: str) -> pd.DataFrame:
    """Carry the outer fold and protocol onto aggregated predictions."""
    key = "subject" if level == "subject" else (
        "recording" if "recording" in pred.columns and "recording" in scored.columns else "file")
    first = pred.groupby(key)[["fold", "protocol"]].first()
    out = scored.drop(columns=[c for c in ("fold", "protocol") if c in scored.columns])
    return out.join(first, on=key)


def point_metrics(scored: pd.DataFrame, task: str) -> dict[str, float | None]:
    """Headline point values of one set of predictions (no intervals)."""
    if task == "classification":
        m = classification_metrics(scored["y_true"].astype(str).to_numpy(),
                                   scored["y_pred"].astype(str).to_numpy(), n_boot=0)
        keys = ("uar", "accuracy", "macro_f1")
    else:
        m = regression_metrics(scored["y_true"].astype(float).to_numpy(),
                               scored["y_pred"].astype(float).to_numpy(), n_boot=0)
        keys = ("mae", "rmse", "pearson_r")
    return {k: m[k] for k in keys}


def with_quality(pred: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    """Predictions with each recording's quality record beside them (``quality_*``), when
    recordings are whole files (one quality record per file) and predictions name them."""
    if "file" not in pred.columns or quality.empty or quality["file"].duplicated().any():
        return pred
    cols = [c for c in quality.columns if c.startswith("quality_")]
    return pred.merge(quality[["file", *cols]], on="file", how="left")



def scored_predictions(pred: pd.DataFrame, task: str, level: str) -> pd.DataFrame:
    """The units a metric counts: ``pred`` itself at ``level="segment"``, else predictions
    pooled per recording or subject (:func:`aggregate_predictions`) with their fold."""
    if level == "segment":
        return pred
    return _with_folds(aggregate_predictions(pred, level=level, task=task), pred, level)


def label_metrics(scored: pd.DataFrame, task: str, *, n_boot: int, ci: float, seed: int,
                  positive: str | None = None) -> dict[str, Any]:
    """Metrics of one label's scored units, with intervals from a bootstrap over subjects.

    Parameters
    ----------
    scored : one row per unit: ``y_true``, ``y_pred``, ``subject`` (+ ``proba_<class>``)
    task : ``classification`` or ``regression``
    n_boot, ci, seed : bootstrap resamples, interval level, seed
    positive : ``evaluation.positive_class`` (screening metrics of a binary task)

    Returns
    -------
    dict
        :func:`classification_metrics` or :func:`regression_metrics` plus ``n_subjects``,
        ``n_units`` and, for a binary screen, ``positive``.
    """
    g = scored["subject"].to_numpy()
    if task == "classification":
        classes = sorted(set(scored["y_true"].astype(str)) | set(scored["y_pred"].astype(str)))
        proba_cols = [f"proba_{c}" for c in classes if f"proba_{c}" in scored]
        m = classification_metrics(
            scored["y_true"].astype(str).to_numpy(), scored["y_pred"].astype(str).to_numpy(),
            proba=scored[proba_cols].to_numpy() if len(proba_cols) == len(classes) else None,
            classes=classes, groups=g, n_boot=n_boot, ci=ci, seed=seed)
        pos = positive_class(classes, positive)
        if pos is not None:
            m["positive"] = positive_class_metrics(m, pos)
    else:
        m = regression_metrics(
            scored["y_true"].astype(float).to_numpy(), scored["y_pred"].astype(float).to_numpy(),
            groups=g, n_boot=n_boot, ci=ci, seed=seed)
    m["n_subjects"] = int(len(np.unique(g)))
    m["n_units"] = int(len(scored))
    return m


def pooled_importance(columns: list[str], results: list[dict[str, Any]],
                      exclude: Collection[str] = ()) -> pd.DataFrame | None:
    """The evaluated model's permutation importance pooled over the outer folds.

    Each fold's held-out importance (``results[k]["importance"]``, one value per column) is
    weighted by its number of test rows. Returns one row per feature (``feature``, ``rank``,
    ``permutation_mean``, ``permutation_std`` across folds, ``n_folds``), best first, without
    the ``exclude`` columns (covariates, which are not features of the model); None when no
    fold measured importance.
    """
    folds = [(r["importance"], len(r["test"])) for r in results if "importance" in r]
    if not folds:
        return None
    values = np.vstack([v for v, _ in folds])
    weights = np.array([n for _, n in folds], dtype=float)
    table = pd.DataFrame({
        "feature": [str(c) for c in columns],
        "permutation_mean": np.average(values, axis=0, weights=weights),
        "permutation_std": values.std(axis=0),  # across outer folds
        "n_folds": len(folds),
    })
    table = table[~table["feature"].isin(list(exclude))]
    table = table.sort_values("permutation_mean", ascending=False, kind="stable")
    table.insert(1, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)
