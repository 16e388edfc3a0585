"""Evaluation pictures, drawn with matplotlib's object API (no pyplot, no global state).

Every function returns a :class:`matplotlib.figure.Figure` rendered by the Agg canvas, so it
works headless and leaves no figure registered in pyplot (nothing to close, no leak across a
long run). :func:`save_figure` writes one atomically as PNG.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from vocalmind.evaluation.aggregation import PROBA_PREFIX, proba_columns
from vocalmind.evaluation.metrics import HEADLINE
from vocalmind.files import atomic_path

_DPI = 100


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols)


def plot_confusion_matrix(cm: Any, classes: Sequence[Any]) -> Figure:
    """Confusion matrix as counts (left) and row-normalised to recall (right).

    Parameters
    ----------
    cm : array-like [shape=(K, K)]
        Counts, rows = true class, columns = predicted class.
    classes : sequence of K labels
    """
    counts = np.asarray(cm, dtype=np.float64)
    k = len(classes)
    if counts.shape != (k, k):
        raise ValueError(f"confusion matrix has shape {counts.shape}, expected ({k}, {k})")
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(rows > 0, counts / rows, 0.0)
    size = max(4.0, 0.6 * k + 2.5)
    fig, axes = _figure(2 * size, size, ncols=2)
    labels = [str(c) for c in classes]
    for ax, data, title, fmt in (
        (axes[0], counts, "counts", "{:.0f}"),
        (axes[1], norm, "row-normalised (recall)", "{:.2f}"),
    ):
        im = ax.imshow(data, cmap="Blues", vmin=0, vmax=max(data.max(), 1e-9))
        ax.set_xticks(range(k), labels, rotation=45, ha="right")
        ax.set_yticks(range(k), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        threshold = data.max() / 2
        for i in range(k):
            for j in range(k):
                ax.text(j, i, fmt.format(data[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if data[i, j] > threshold else "black")
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def plot_model_importance(table: pd.DataFrame, *, top_k: int = 10, score: str = "score",
                          model: str = "model") -> Figure:
    """Horizontal bars of the evaluated model's held-out permutation importance.

    ``table`` has ``feature``, ``permutation_mean`` (drop of ``score`` when the feature is
    shuffled among held-out subjects) and optionally ``permutation_std`` (across outer
    folds, drawn as error bars); the ``top_k`` largest are drawn, largest on top.
    """
    data = table.dropna(subset=["permutation_mean"]).sort_values(
        "permutation_mean", ascending=False).head(top_k).iloc[::-1]
    fig, ax = _figure(6.4, 1 + 0.3 * max(len(data), 1))
    err = data["permutation_std"] if "permutation_std" in data else None
    ax.barh(data["feature"].astype(str), data["permutation_mean"], xerr=err, color="tab:blue")
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xlabel(f"drop in held-out {score} when shuffled (mean over outer folds)")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(f"permutation importance of the evaluated {model} model", fontsize=9)
    return fig


def plot_per_class(per_class: Mapping[str, Mapping[str, float]]) -> Figure:
    """Grouped bars of precision, recall and F1 per class (``metrics["per_class"]``)."""
    names = list(per_class)
    x = np.arange(len(names))
    fig, ax = _figure(max(5.0, 0.9 * len(names) + 2), 3.5)
    for i, key in enumerate(("precision", "recall", "f1")):
        values = np.array([per_class[c][key] for c in names], dtype=float)
        cis = [per_class[c].get(f"{key}_ci") for c in names]
        yerr = None
        if any(ci is not None for ci in cis):
            # whiskers: the subject-bootstrap interval of each class's value
            lo = np.array([v - ci[0] if ci else 0.0 for v, ci in zip(values, cis, strict=True)])
            hi = np.array([ci[1] - v if ci else 0.0 for v, ci in zip(values, cis, strict=True)])
            yerr = np.clip(np.vstack([lo, hi]), 0, None)
        ax.bar(x + (i - 1) * 0.27, values, width=0.27, label=key, yerr=yerr,
               error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 1.2)  # headroom for the legend above the bars
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("score")
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    ax.set_title("per-class precision, recall and F1")
    return fig


def plot_roc_curves(y_true: Any, proba: Any, classes: Sequence[Any]) -> Figure:
    """ROC curves: the positive class for a binary task, one-vs-rest per class otherwise.

    Parameters
    ----------
    y_true : array-like [shape=(n,)]
    proba : array-like [shape=(n, K)], columns in the order of ``classes``
    classes : sequence of K labels (binary: ``classes[1]`` is the positive class)
    """
    yt = np.asarray([str(v) for v in y_true])
    p = np.asarray(proba, dtype=np.float64)
    fig, ax = _figure(4.5, 4.5)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    which = [1] if len(classes) == 2 else range(len(classes))
    for k in which:
        positive = yt == str(classes[k])
        if positive.all() or not positive.any():
            continue  # AUC undefined for a class that is always or never true
        fpr, tpr, _ = roc_curve(positive, p[:, k])
        auc = roc_auc_score(positive, p[:, k])
        ax.plot(fpr, tpr, linewidth=1.5, label=f"{classes[k]} (AUC {auc:.2f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC" if len(classes) == 2 else "ROC, one-vs-rest")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_regression_scatter(y_true: Any, y_pred: Any, *, label: str = "score") -> Figure:
    """Predicted against actual values with the identity line."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    fig, ax = _figure(4.5, 4.5)
    ax.scatter(t, p, s=14, alpha=0.7)
    lo = float(min(t.min(), p.min()))
    hi = float(max(t.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1, label="identity")
    ax.set_xlabel(f"actual {label}")
    ax.set_ylabel(f"predicted {label}")
    ax.set_title("predicted vs actual")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_error_histogram(y_true: Any, y_pred: Any) -> Figure:
    """Histogram of prediction errors (predicted - actual) with a line at zero."""
    err = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    fig, ax = _figure(5, 3.5)
    ax.hist(err, bins="auto", color="tab:blue", alpha=0.8)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_xlabel("error (predicted - actual)")
    ax.set_ylabel("count")
    ax.set_title(f"errors: mean {err.mean():+.2f}, sd {err.std():.2f}")
    return fig


#: Metrics that share a scale: bounded scores (0-1, correlations -1-1) and errors in the
#: label's own units. One axis never mixes the two.
_UNIT_METRICS = frozenset({"mae", "rmse"})


def bootstrap_interval_plot(
    metrics: Mapping[str, Any],
    names: Sequence[str] | None = None,
    *,
    baselines: Mapping[str, float | None] | None = None,
) -> Figure:
    """Headline metrics as points with their bootstrap confidence intervals.

    Error metrics in the label's units (MAE, RMSE) and bounded scores (UAR, r, CCC ...) get
    separate panels, so no axis mixes two scales.

    Parameters
    ----------
    metrics : dict from ``classification_metrics`` or ``regression_metrics``
    names : metrics to show; default the task's headline metrics that have a value
    baselines : value of a baseline per metric (chance level, majority class, mean of the
        training subjects), drawn as a grey diamond
    """
    if names is None:
        names = HEADLINE.get(str(metrics.get("task")), [])
    names = [n for n in names if metrics.get(n) is not None]
    groups = [g for g in ([n for n in names if n in _UNIT_METRICS],
                          [n for n in names if n not in _UNIT_METRICS]) if g]
    heights = [0.5 * len(g) + 0.9 for g in groups] or [1.0]
    fig = Figure(figsize=(6.0, sum(heights) + 0.6), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(len(groups), 1), 1, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    shown_baseline = False
    for ax, group in zip(axes, groups, strict=False):
        y = np.arange(len(group))[::-1]
        for yi, name in zip(y, group, strict=True):
            point = float(metrics[name])
            interval = metrics.get(f"{name}_ci")
            if interval is not None:
                ax.plot(interval, [yi, yi], color="tab:blue", linewidth=2)
            ax.plot([point], [yi], "o", color="tab:blue")
            ax.annotate(f"{point:.3f}", (point, yi), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=8)
            base = (baselines or {}).get(name)
            if base is not None:
                ax.plot([base], [yi], "D", color="grey", markersize=6,
                        label=None if shown_baseline else "baseline")
                shown_baseline = True
        ax.set_yticks(y, group)
        ax.set_ylim(-0.7, len(group) - 0.3)
        ax.grid(axis="x", alpha=0.3)
        if group[0] in _UNIT_METRICS:
            ax.set_xlabel("error, in the label's units (lower is better)")
        else:
            ax.set_xlabel("score (higher is better)")
    boot = metrics.get("bootstrap") or {}
    ci = boot.get("ci", 0.95)
    fig.suptitle(f"{ci:.0%} bootstrap intervals over {boot.get('unit', 'subject')}s",
                 fontsize=10)
    if shown_baseline:
        axes[0].legend(loc="best", fontsize=8)
    return fig


def report_figures(
    metrics: Mapping[str, Any],
    predictions: pd.DataFrame | None,
    *,
    baselines: Mapping[str, float | None] | None = None,
) -> dict[str, Figure]:
    """The standard pictures for a metrics dict (and its prediction table when given).

    ``baselines`` (metric -> value) are drawn beside the headline intervals.
    """
    figs: dict[str, Figure] = {
        "bootstrap_intervals": bootstrap_interval_plot(metrics, baselines=baselines)}
    has_preds = predictions is not None and {"y_true", "y_pred"} <= set(predictions.columns)
    if metrics.get("task") == "classification":
        classes = metrics["classes"]
        figs["confusion_matrix"] = plot_confusion_matrix(metrics["confusion_matrix"], classes)
        figs["per_class"] = plot_per_class(metrics["per_class"])
        cols = [f"{PROBA_PREFIX}{c}" for c in classes]
        if has_preds and set(cols) <= set(proba_columns(predictions)):
            figs["roc"] = plot_roc_curves(
                predictions["y_true"], predictions[cols].to_numpy(), classes
            )
    elif metrics.get("task") == "regression" and has_preds:
        figs["predicted_vs_actual"] = plot_regression_scatter(
            predictions["y_true"], predictions["y_pred"]
        )
        figs["errors"] = plot_error_histogram(predictions["y_true"], predictions["y_pred"])
    return figs


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names (``.png``,
    ``.pdf``, ``.svg``; PNG when there is none); return ``path``."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        if fmt == "png":
            tmp.write_bytes(figure_png(fig))
        else:
            fig.savefig(tmp, format=fmt, dpi=_DPI, bbox_inches="tight")
    return Path(path)
