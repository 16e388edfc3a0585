"""Figures for the analysis room: heatmaps, importance bars, paired lines, forest plots.

Every function builds a :class:`matplotlib.figure.Figure` without pyplot (no global state,
no display needed) and returns it; :func:`save_figure` writes one atomically. Figures about
depression or anxiety scores show research measurements, not diagnoses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vocalmind.evaluation.plots import save_figure

__all__ = ["plot_correlation_heatmap", "plot_effect_forest", "plot_importance",
           "plot_learning_curve", "plot_paired_lines", "save_figure"]


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
    fig = Figure(figsize=(2.0 + 1.1 * n_cols, 1.2 + 0.28 * max(n_rows, 1)))
    ax = fig.add_subplot()
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(n_cols), grid.columns.astype(str))
    ax.set_yticks(range(n_rows), grid.index.astype(str), fontsize=7)
    for i, j in zip(*np.nonzero(sig.to_numpy(dtype=bool)), strict=True):
        ax.text(j, i, "*", ha="center", va="center", fontsize=9)
    fig.colorbar(image, ax=ax, label=value)
    ax.set_title(f"top {n_rows} features by p (* {p_col} < {alpha})", fontsize=9)
    return fig


def plot_importance(table: pd.DataFrame, *, column: str = "impurity", top_k: int | None = None) -> Figure:
    """Horizontal bars of ``column`` (``impurity`` or ``permutation_mean``) per feature.

    Permutation bars carry their standard deviation as error bars.
    """
    data = table.dropna(subset=[column]).sort_values(column, ascending=False)
    if top_k is not None:
        data = data.head(top_k)
    data = data.iloc[::-1]  # largest on top
    fig = Figure(figsize=(6, 1 + 0.3 * max(len(data), 1)))
    ax = fig.add_subplot()
    err = data["permutation_std"] if column == "permutation_mean" and "permutation_std" in data else None
    ax.barh(data["feature"].astype(str), data[column], xerr=err, color="tab:blue")
    ax.set_xlabel(column.replace("_", " "))
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title("random-forest importance", fontsize=9)
    return fig


def plot_paired_lines(
    before: pd.DataFrame, after: pd.DataFrame, feature: str, *, subject_col: str,
    labels: tuple[str, str] = ("before", "after"),
) -> Figure:
    """One line per subject from its ``before`` to its ``after`` value of ``feature``, with medians."""
    merged = before[[subject_col, feature]].merge(
        after[[subject_col, feature]], on=subject_col, suffixes=("_b", "_a")
    ).dropna()
    fig = Figure(figsize=(3.2, 4))
    ax = fig.add_subplot()
    for _, r in merged.iterrows():
        ax.plot([0, 1], [r[f"{feature}_b"], r[f"{feature}_a"]], color="0.6", lw=0.8, marker="o", ms=3)
    ax.plot([0, 1], [merged[f"{feature}_b"].median(), merged[f"{feature}_a"].median()],
            color="tab:red", lw=2.5, marker="s", label="median")
    ax.set_xticks([0, 1], list(labels))
    ax.set_xlim(-0.3, 1.3)
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
    fig = Figure(figsize=(6, 1 + 0.3 * max(len(data), 1)))
    ax = fig.add_subplot()
    y = np.arange(len(data))
    lo = (data["effect_size"] - data["ci_low"]).to_numpy(float)
    hi = (data["ci_high"] - data["effect_size"]).to_numpy(float)
    ax.errorbar(data["effect_size"], y, xerr=np.nan_to_num([lo, hi]), fmt="none", ecolor="0.5")
    sig = data.get("significant", pd.Series(False, index=data.index)).to_numpy(bool)
    for marker, kind in (("o", "cohen_dz"), ("s", "rank_biserial")):
        m = (data["effect_type"] == kind).to_numpy()
        ax.scatter(data["effect_size"][m & sig], y[m & sig], marker=marker, color="tab:red", zorder=3)
        ax.scatter(data["effect_size"][m & ~sig], y[m & ~sig], marker=marker, facecolors="white",
                   edgecolors="tab:red", zorder=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, data["feature"].astype(str), fontsize=7)
    ax.set_xlabel("effect size (after - before): o Cohen's d_z, s rank-biserial r")
    ax.set_title(f"filled: significant at {alpha}", fontsize=9)
    return fig


def plot_learning_curve(history: pd.DataFrame) -> Figure:
    """Train (and validation) loss per epoch from ``MLPModel.history_``."""
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    ax.plot(history["epoch"], history["train_loss"], label="train")
    if history["val_loss"].notna().any():
        ax.plot(history["epoch"], history["val_loss"], label="validation")
        best = history.loc[history["val_loss"].idxmin()]
        ax.axvline(best["epoch"], color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    return fig
