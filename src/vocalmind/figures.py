"""Every figure vocalmind draws, and the one way it saves them.

Each ``plot_*`` function builds a :class:`matplotlib.figure.Figure` with matplotlib's
object API on its own Agg canvas: no pyplot, no global backend change, nothing registered
that a long run would have to close, and it works headless. :func:`save_figure` writes a
figure atomically (via :func:`vocalmind.files.atomic_path`); :func:`figure_png` renders one
to PNG bytes for an HTML report.

This module sits at the foundation of the package (it imports only :mod:`vocalmind.files`
and :mod:`vocalmind.errors`), so the corpus, training, evaluation and analysis rooms all
draw through it without an import cycle. What a figure is *about* (which metrics are the
headline, where a questionnaire's cut-off lies, which files a summary writes) stays in the
room that knows it and is passed in. Figures about depression or anxiety scores show
research measurements, not diagnoses.

Sections: helpers; evaluation (confusion matrix, importance, per-class scores, ROC,
regression scatter, error histogram, bootstrap intervals); analysis (correlation heatmap,
importance, paired lines, effect forest); training (learning curve, validation metrics,
embedding scatter); corpus overview (durations, label balance, scores, rows per subject).
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
from matplotlib.ticker import MaxNLocator

from vocalmind.errors import InputError
from vocalmind.files import atomic_path

__all__ = [
    "DPI",
    "figure_png",
    "new_figure",
    "plot_bootstrap_intervals",
    "plot_confusion_matrix",
    "plot_correlation_heatmap",
    "plot_duration_histogram",
    "plot_effect_forest",
    "plot_embedding_scatter",
    "plot_error_histogram",
    "plot_importance",
    "plot_label_balance",
    "plot_learning_curve",
    "plot_model_importance",
    "plot_paired_lines",
    "plot_per_class",
    "plot_regression_scatter",
    "plot_roc_curves",
    "plot_rows_per_subject",
    "plot_score_histogram",
    "plot_validation_metrics",
    "save_figure",
]

#: Resolution of every figure and every saved raster (dots per inch).
DPI = 100


# --------------------------------------------------------------------------- helpers


def new_figure(width: float, height: float, *, nrows: int = 1, ncols: int = 1,
               layout: str | None = "constrained", **subplots: Any) -> tuple[Figure, Any]:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas, and its axes.

    Parameters
    ----------
    width, height : size in inches (at :data:`DPI` dots per inch)
    nrows, ncols : grid of axes; one axes object comes back for 1 x 1, else an array
    layout : matplotlib layout engine (``"constrained"``; ``None`` keeps fixed margins)
    **subplots : passed to :meth:`Figure.subplots` (``squeeze``, ``gridspec_kw`` ...)
    """
    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **subplots)


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes (tight bounding box, :data:`DPI` dots per inch)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names (``.png``,
    ``.pdf``, ``.svg`` ...; PNG when there is none); return ``path``.

    Raises
    ------
    InputError
        The suffix names a format matplotlib cannot write; nothing is written.
    """
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    if fmt not in FigureCanvasAgg.get_supported_filetypes():
        raise InputError(f"save_figure: {path}: cannot write a '.{fmt}' figure; use .png, "
                         ".pdf or .svg")
    with atomic_path(path) as tmp:
        if fmt == "png":
            tmp.write_bytes(figure_png(fig))
        else:
            fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight")
    return Path(path)


# --------------------------------------------------------------------------- evaluation


def plot_confusion_matrix(cm: Any, classes: Sequence[Any]) -> Figure:
    """Confusion matrix as counts (left) and row-normalised to recall (right).

    Parameters
    ----------
    cm : array-like [shape=(K, K)]
        Counts, rows = true class, columns = predicted class.
    classes : sequence of K labels

    Raises
    ------
    InputError
        ``cm`` is not K x K.
    """
    counts = np.asarray(cm, dtype=np.float64)
    k = len(classes)
    if counts.shape != (k, k):
        raise InputError(f"plot_confusion_matrix: matrix has shape {counts.shape}, expected "
                         f"({k}, {k}) for {k} classes")
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(rows > 0, counts / rows, 0.0)
    size = max(4.0, 0.6 * k + 2.5)
    fig, axes = new_figure(2 * size, size, ncols=2)
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


def _importance_bars(data: pd.DataFrame, column: str, *, err_column: str | None,
                     xlabel: str, title: str, width: float, layout: str | None,
                     zero_line: bool) -> Figure:
    """Horizontal bars of ``data[column]`` per ``feature``, drawn in table order (first at
    the bottom), ``err_column`` as error bars when the table has it."""
    fig, ax = new_figure(width, 1 + 0.3 * max(len(data), 1), layout=layout)
    err = data[err_column] if err_column is not None and err_column in data else None
    ax.barh(data["feature"].astype(str), data[column], xerr=err, color="tab:blue")
    if zero_line:
        ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("feature")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title, fontsize=9)
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
    return _importance_bars(
        data, "permutation_mean", err_column="permutation_std",
        xlabel=f"drop in held-out {score} when shuffled (mean over outer folds)",
        title=f"permutation importance of the evaluated {model} model", width=6.4,
        layout="constrained", zero_line=True)


def plot_per_class(per_class: Mapping[str, Mapping[str, float]]) -> Figure:
    """Grouped bars of precision, recall and F1 per class (``metrics["per_class"]``).

    A class's ``<key>_ci`` (subject-bootstrap interval), when present, is drawn as whiskers.
    """
    names = list(per_class)
    x = np.arange(len(names))
    fig, ax = new_figure(max(5.0, 0.9 * len(names) + 2), 3.5)
    for i, key in enumerate(("precision", "recall", "f1")):
        values = np.array([per_class[c][key] for c in names], dtype=float)
        cis = [per_class[c].get(f"{key}_ci") for c in names]
        yerr = None
        if any(ci is not None for ci in cis):
            lo = np.array([v - ci[0] if ci else 0.0 for v, ci in zip(values, cis, strict=True)])
            hi = np.array([ci[1] - v if ci else 0.0 for v, ci in zip(values, cis, strict=True)])
            yerr = np.clip(np.vstack([lo, hi]), 0, None)
        ax.bar(x + (i - 1) * 0.27, values, width=0.27, label=key, yerr=yerr,
               error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 1.2)  # headroom for the legend above the bars
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_xlabel("class")
    ax.set_ylabel("score")
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    ax.set_title("per-class precision, recall and F1")
    return fig


def plot_roc_curves(y_true: Any, proba: Any, classes: Sequence[Any], *,
                    title: str | None = None) -> Figure:
    """ROC curves: the positive class for a binary task, one-vs-rest per class otherwise.

    A class that is always or never true in ``y_true`` has no curve (its AUC is undefined).

    Parameters
    ----------
    y_true : array-like [shape=(n,)], compared with ``classes`` as text
    proba : array-like [shape=(n, K)], columns in the order of ``classes``
    classes : sequence of K labels (binary: ``classes[1]`` is the positive class)
    title : default ``"ROC"`` (binary) or ``"ROC, one-vs-rest"``
    """
    from sklearn.metrics import roc_auc_score, roc_curve  # sklearn only when a ROC is drawn

    yt = np.asarray([str(v) for v in y_true])
    p = np.asarray(proba, dtype=np.float64)
    fig, ax = new_figure(4.5, 4.5)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    which = [1] if len(classes) == 2 else range(len(classes))
    for k in which:
        positive = yt == str(classes[k])
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, p[:, k])
        auc = roc_auc_score(positive, p[:, k])
        ax.plot(fpr, tpr, linewidth=1.5, label=f"{classes[k]} (AUC {auc:.2f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title or ("ROC" if len(classes) == 2 else "ROC, one-vs-rest"))
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_regression_scatter(y_true: Any, y_pred: Any, *, label: str = "score") -> Figure:
    """Predicted against actual values with the identity line."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    fig, ax = new_figure(4.5, 4.5)
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
    fig, ax = new_figure(5, 3.5)
    ax.hist(err, bins="auto", color="tab:blue", alpha=0.8)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_xlabel("error (predicted - actual)")
    ax.set_ylabel("count")
    ax.set_title(f"errors: mean {err.mean():+.2f}, sd {err.std():.2f}")
    return fig


#: Metrics that share a scale: bounded scores (0-1, correlations -1-1) and errors in the
#: label's own units. One axis never mixes the two.
_UNIT_METRICS = frozenset({"mae", "rmse"})


def plot_bootstrap_intervals(
    metrics: Mapping[str, Any],
    names: Sequence[str],
    *,
    baselines: Mapping[str, float | None] | None = None,
) -> Figure:
    """Metrics as points with their bootstrap confidence intervals (``<name>_ci``).

    Error metrics in the label's units (MAE, RMSE) and bounded scores (UAR, r, CCC ...) get
    separate panels, so no axis mixes two scales.

    Parameters
    ----------
    metrics : dict from ``classification_metrics`` or ``regression_metrics``
    names : metrics to show (those without a value are left out)
    baselines : value of a baseline per metric (chance level, majority class, mean of the
        training subjects), drawn as a grey diamond
    """
    names = [n for n in names if metrics.get(n) is not None]
    groups = [g for g in ([n for n in names if n in _UNIT_METRICS],
                          [n for n in names if n not in _UNIT_METRICS]) if g]
    heights = [0.5 * len(g) + 0.9 for g in groups] or [1.0]
    fig, axes = new_figure(6.0, sum(heights) + 0.6, nrows=max(len(groups), 1), squeeze=False,
                           gridspec_kw={"height_ratios": heights})
    axes = axes[:, 0]
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
        ax.set_ylabel("metric")
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


# --------------------------------------------------------------------------- analysis


def plot_correlation_heatmap(
    table: pd.DataFrame, *, top_k: int = 30, value: str = "r", alpha: float = 0.05
) -> Figure:
    """Heatmap of the ``top_k`` features (rows) x scores (columns) from ``correlate_features``.

    Features are ranked by their smallest p over the scores. Cells are coloured by ``value``
    (diverging, -1..1) and marked ``*`` where ``p_fdr`` (or ``p`` if ``p_fdr`` is all NaN)
    is below ``alpha``.
    """
    p_col = "p_fdr" if "p_fdr" in table and table["p_fdr"].notna().any() else "p"
    best = table.groupby("feature")["p"].min().sort_values(na_position="last")
    feats = best.index[:top_k].tolist()
    sub = table[table["feature"].isin(feats)]
    grid = sub.pivot(index="feature", columns="score", values=value).reindex(feats)
    sig = sub.pivot(index="feature", columns="score", values=p_col).reindex(feats) < alpha
    n_rows, n_cols = grid.shape
    fig, ax = new_figure(2.0 + 1.1 * n_cols, 1.2 + 0.28 * max(n_rows, 1), layout=None)
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(n_cols), grid.columns.astype(str))
    ax.set_yticks(range(n_rows), grid.index.astype(str), fontsize=7)
    ax.set_xlabel("score")
    ax.set_ylabel("feature")
    for i, j in zip(*np.nonzero(sig.to_numpy(dtype=bool)), strict=True):
        ax.text(j, i, "*", ha="center", va="center", fontsize=9)
    fig.colorbar(image, ax=ax, label=value)
    ax.set_title(f"top {n_rows} features by p (* {p_col} < {alpha})", fontsize=9)
    return fig


def plot_importance(table: pd.DataFrame, *, column: str = "impurity",
                    top_k: int | None = None) -> Figure:
    """Horizontal bars of ``column`` (``impurity`` or ``permutation_mean``) per feature from
    ``rf_importance``, largest on top.

    Permutation bars carry their standard deviation as error bars.
    """
    data = table.dropna(subset=[column]).sort_values(column, ascending=False)
    if top_k is not None:
        data = data.head(top_k)
    return _importance_bars(
        data.iloc[::-1], column,
        err_column="permutation_std" if column == "permutation_mean" else None,
        xlabel=column.replace("_", " "), title="random-forest importance", width=6,
        layout=None, zero_line=False)


def plot_paired_lines(
    before: pd.DataFrame, after: pd.DataFrame, feature: str, *, subject_col: str,
    labels: tuple[str, str] = ("before", "after"),
) -> Figure:
    """One line per subject from its ``before`` to its ``after`` value of ``feature``, with medians."""
    merged = before[[subject_col, feature]].merge(
        after[[subject_col, feature]], on=subject_col, suffixes=("_b", "_a")
    ).dropna()
    fig, ax = new_figure(3.2, 4, layout=None)
    for _, r in merged.iterrows():
        ax.plot([0, 1], [r[f"{feature}_b"], r[f"{feature}_a"]], color="0.6", lw=0.8, marker="o",
                ms=3)
    ax.plot([0, 1], [merged[f"{feature}_b"].median(), merged[f"{feature}_a"].median()],
            color="tab:red", lw=2.5, marker="s", label="median")
    ax.set_xticks([0, 1], list(labels))
    ax.set_xlim(-0.3, 1.3)
    ax.set_xlabel("session")
    ax.set_ylabel(feature, fontsize=8)
    ax.set_title(f"n = {len(merged)} paired subjects", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_effect_forest(table: pd.DataFrame, *, top_k: int = 20, alpha: float = 0.05) -> Figure:
    """Forest plot of ``effect_size`` with ``ci_low``/``ci_high`` from ``paired_change``.

    The ``top_k`` smallest-p features are shown; filled markers are ``significant``.
    Cohen's d_z and rank-biserial r are on different scales: the marker shape tells them
    apart (circle = d_z, square = r).
    """
    data = table.sort_values("p", na_position="last").head(top_k).iloc[::-1]
    fig, ax = new_figure(6, 1 + 0.3 * max(len(data), 1), layout=None)
    y = np.arange(len(data))
    lo = (data["effect_size"] - data["ci_low"]).to_numpy(float)
    hi = (data["ci_high"] - data["effect_size"]).to_numpy(float)
    ax.errorbar(data["effect_size"], y, xerr=np.nan_to_num([lo, hi]), fmt="none", ecolor="0.5")
    sig = data.get("significant", pd.Series(False, index=data.index)).to_numpy(bool)
    for marker, kind in (("o", "cohen_dz"), ("s", "rank_biserial")):
        m = (data["effect_type"] == kind).to_numpy()
        ax.scatter(data["effect_size"][m & sig], y[m & sig], marker=marker, color="tab:red",
                   zorder=3)
        ax.scatter(data["effect_size"][m & ~sig], y[m & ~sig], marker=marker, facecolors="white",
                   edgecolors="tab:red", zorder=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, data["feature"].astype(str), fontsize=7)
    ax.set_xlabel("effect size (after - before): o Cohen's d_z, s rank-biserial r")
    ax.set_ylabel("feature")
    ax.set_title(f"filled: significant at {alpha}", fontsize=9)
    return fig


# --------------------------------------------------------------------------- training


def plot_learning_curve(history: pd.DataFrame | Sequence[Mapping[str, Any]]) -> Figure:
    """Train (and validation) loss per epoch; a dashed line marks the best validation epoch.

    Parameters
    ----------
    history : table or list of rows with ``epoch``, ``train_loss`` and optionally
        ``val_loss`` (``MLPModel.history_``, the training engine's ``history.csv``)
    """
    h = pd.DataFrame(history) if not isinstance(history, pd.DataFrame) else history
    fig, ax = new_figure(5, 3.5, layout=None)
    ax.plot(h["epoch"], h["train_loss"], label="train")
    if "val_loss" in h and h["val_loss"].notna().any():
        ax.plot(h["epoch"], h["val_loss"], label="validation")
        best = h.loc[h["val_loss"].idxmin()]
        ax.axvline(best["epoch"], color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    return fig


def plot_validation_metrics(history: pd.DataFrame | Sequence[Mapping[str, Any]]) -> Figure:
    """Every ``val_<metric>`` column but the loss per epoch (balanced accuracy, MAE ...)."""
    h = pd.DataFrame(history) if not isinstance(history, pd.DataFrame) else history
    fig, ax = new_figure(5, 3.5, layout=None)
    for c in (c for c in h.columns if str(c).startswith("val_") and c != "val_loss"):
        ax.plot(h["epoch"], h[c], marker="o", label=str(c)[4:])
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation metric (bacc / MAE)")
    ax.legend()
    return fig


def plot_embedding_scatter(xy: Any, values: Any, *, label: str, categorical: bool,
                           title: str, axes: tuple[str, str] = ("PC 1", "PC 2")) -> Figure:
    """Points in two dimensions (e.g. a PCA of embeddings) coloured by a label.

    Parameters
    ----------
    xy : array-like [shape=(n, 2)]
    values : array-like [shape=(n,)], class indices or scores
    label : name of ``values`` (the colour bar's label)
    categorical : ``values`` are classes (qualitative colours) rather than scores
    title : the figure's title
    axes : the two axis labels
    """
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    fig, ax = new_figure(4.5, 4, layout=None)
    sc = ax.scatter(pts[:, 0], pts[:, 1], c=np.asarray(values), s=12,
                    cmap="tab10" if categorical else "viridis")
    fig.colorbar(sc, ax=ax, label=label)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- corpus overview


def plot_duration_histogram(durations: Any) -> Figure:
    """Histogram of row durations in seconds; non-finite values (unreadable rows) are left out."""
    d = np.asarray(durations, dtype=float)
    ok = d[np.isfinite(d)]
    fig, ax = new_figure(6, 4)
    ax.hist(ok, bins=min(40, max(5, ok.size // 5)) if ok.size else 5, color="#4c72b0")
    ax.set_xlabel("duration (s)")
    ax.set_ylabel("recordings / segments")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{ok.size} readable rows, {ok.sum() / 60:.1f} min in all")
    return fig


def plot_label_balance(counts: Mapping[str, int], *, label: str) -> Figure:
    """Bars of rows per value of the label column ``label``, in the order of ``counts``."""
    order = list(counts)
    fig, ax = new_figure(max(6, 0.6 * len(order) + 2), 4)
    ax.bar(order, [int(counts[o]) for o in order], color="#dd8452")
    ax.set_xlabel(label)
    ax.set_ylabel("rows")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"label balance: {label}")
    ax.tick_params(axis="x", rotation=45)
    return fig


def plot_score_histogram(values: Any, *, score: str, cutoff: float | None = None) -> Figure:
    """Histogram of a questionnaire score (one value per subject), one bin per integer.

    Parameters
    ----------
    values : array-like [shape=(n_subjects,)], the score per subject
    score : the questionnaire's name (``phq9`` ...)
    cutoff : screening cut-off (positive at ``>= cutoff``), drawn as a dashed line
    """
    v = np.asarray(values, dtype=float)
    fig, ax = new_figure(6, 4)
    lo, hi = int(np.floor(v.min())), int(np.ceil(v.max()))
    ax.hist(v, bins=np.arange(lo, hi + 2) - 0.5, color="#8172b2")
    if cutoff is not None:
        ax.axvline(cutoff - 0.5, color="black", linestyle="--", linewidth=1,
                   label=f"screening cut-off (>= {cutoff:g})")
        ax.legend(fontsize=8)
    ax.set_xlabel(f"{score} score (mean per subject)")
    ax.set_ylabel("subjects")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{score}: {v.size} subjects")
    return fig


def plot_rows_per_subject(per_subject: pd.Series) -> Figure:
    """Bars of rows per subject (``per_subject``: counts indexed by subject, in drawing order);
    subjects are named on the axis when there are at most 40."""
    fig, ax = new_figure(max(6, min(20, 0.15 * len(per_subject))), 4)
    ax.bar(range(len(per_subject)), per_subject.to_numpy(), color="#55a868")
    if len(per_subject) <= 40:
        ax.set_xticks(range(len(per_subject)), per_subject.index.astype(str).tolist(),
                      rotation=90)
    ax.set_xlabel("subject")
    ax.set_ylabel("rows")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"recordings per subject ({len(per_subject)} subjects)")
    return fig
