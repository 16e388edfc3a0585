"""Figures for the analysis room: heatmaps, importance bars, paired lines, forest plots.

The functions live in :mod:`vocalmind.figures` (the package's one figures module) and are
re-exported here under the names the analysis CLI and user scripts know. Each builds a
:class:`matplotlib.figure.Figure` without pyplot and returns it; :func:`save_figure` writes
one atomically. Figures about depression or anxiety scores show research measurements, not
diagnoses.
"""

from __future__ import annotations

from vocalmind.figures import (
    plot_correlation_heatmap,
    plot_effect_forest,
    plot_importance,
    plot_learning_curve,
    plot_paired_lines,
    save_figure,
)

__all__ = ["plot_correlation_heatmap", "plot_effect_forest", "plot_importance",
           "plot_learning_curve", "plot_paired_lines", "save_figure"]
