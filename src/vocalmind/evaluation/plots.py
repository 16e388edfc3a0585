"""The evaluation report's pictures.

Every plot function lives in :mod:`vocalmind.figures` (the package's one figures module)
and is re-exported here under its old name. What stays here is what only evaluation knows:
which metrics are a task's headline (:data:`~vocalmind.evaluation.metrics.HEADLINE`) and
which prediction columns hold class probabilities, i.e. which figures a report shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from vocalmind.evaluation.aggregation import PROBA_PREFIX, proba_columns
from vocalmind.evaluation.metrics import HEADLINE
from vocalmind.figures import (
    figure_png,
    plot_bootstrap_intervals,
    plot_confusion_matrix,
    plot_error_histogram,
    plot_model_importance,
    plot_per_class,
    plot_regression_scatter,
    plot_roc_curves,
    save_figure,
)

__all__ = ["bootstrap_interval_plot", "figure_png", "plot_confusion_matrix",
           "plot_error_histogram", "plot_model_importance", "plot_per_class",
           "plot_regression_scatter", "plot_roc_curves", "report_figures", "save_figure"]


def bootstrap_interval_plot(
    metrics: Mapping[str, Any],
    names: Sequence[str] | None = None,
    *,
    baselines: Mapping[str, float | None] | None = None,
) -> Figure:
    """Headline metrics as points with their bootstrap confidence intervals.

    :func:`vocalmind.figures.plot_bootstrap_intervals` with ``names`` defaulting to the
    task's headline metrics (:data:`~vocalmind.evaluation.metrics.HEADLINE`) that have a
    value; ``baselines`` (metric -> value) are drawn as grey diamonds.
    """
    if names is None:
        names = HEADLINE.get(str(metrics.get("task")), [])
    return plot_bootstrap_intervals(metrics, names, baselines=baselines)


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
