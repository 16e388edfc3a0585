"""vocalmind.figures is the package's one figures module.

Every plot function builds a Figure whose axes are labelled and saves as a real image,
atomically; no other module of the package constructs or saves a figure itself; the old
modules' names are the same objects as the figures module's (no second copy).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import vocalmind
from vocalmind import figures
from vocalmind.errors import InputError

SRC = Path(vocalmind.__file__).resolve().parent
PNG = b"\x89PNG\r\n\x1a\n"


def _cases() -> dict[str, Figure]:
    rng = np.random.default_rng(0)
    classes = ["anger", "neutral", "sadness"]
    y = rng.integers(0, 3, 40)
    proba = rng.dirichlet(np.ones(3), 40)
    metrics = {"task": "regression", "mae": 3.1, "mae_ci": [2.5, 3.8], "ccc": 0.4,
               "ccc_ci": [0.2, 0.6], "bootstrap": {"ci": 0.95, "unit": "subject"}}
    corr = pd.DataFrame({"feature": ["f0", "f0", "f1", "f1"], "score": ["phq9", "gad7"] * 2,
                         "r": [0.5, 0.1, -0.2, 0.0], "p": [0.01, 0.5, 0.2, 0.9],
                         "p_fdr": [0.04, 0.6, 0.3, 0.9]})
    imp = pd.DataFrame({"feature": ["a", "b"], "impurity": [0.6, 0.4],
                        "permutation_mean": [0.2, 0.1], "permutation_std": [0.05, 0.02]})
    change = pd.DataFrame({"feature": ["a", "b"], "p": [0.01, 0.3], "effect_size": [0.8, 0.1],
                           "ci_low": [0.4, -0.2], "ci_high": [1.2, 0.4],
                           "effect_type": ["cohen_dz", "rank_biserial"],
                           "significant": [True, False]})
    pre = pd.DataFrame({"subject": range(5), "f0": rng.normal(size=5)})
    hist = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.0],
                         "val_loss": [3.0, 2.5, 2.8], "val_bacc": [0.3, 0.5, 0.4]})
    per_class = {c: {"precision": 0.5, "recall": 0.6, "f1": 0.55, "recall_ci": [0.4, 0.7]}
                 for c in classes}
    return {
        "plot_confusion_matrix": figures.plot_confusion_matrix(np.eye(3) * 4 + 1, classes),
        "plot_model_importance": figures.plot_model_importance(imp),
        "plot_per_class": figures.plot_per_class(per_class),
        "plot_roc_curves": figures.plot_roc_curves([classes[i] for i in y], proba, classes),
        "plot_regression_scatter": figures.plot_regression_scatter(y, y + rng.normal(size=40)),
        "plot_error_histogram": figures.plot_error_histogram(y, y + rng.normal(size=40)),
        "plot_bootstrap_intervals": figures.plot_bootstrap_intervals(metrics, ["mae", "ccc"],
                                                                     baselines={"mae": 4.0}),
        "plot_correlation_heatmap": figures.plot_correlation_heatmap(corr),
        "plot_importance": figures.plot_importance(imp, column="permutation_mean"),
        "plot_paired_lines": figures.plot_paired_lines(pre, pre.assign(f0=pre["f0"] + 1), "f0",
                                                       subject_col="subject"),
        "plot_effect_forest": figures.plot_effect_forest(change),
        "plot_learning_curve": figures.plot_learning_curve(hist),
        "plot_validation_metrics": figures.plot_validation_metrics(hist),
        "plot_embedding_scatter": figures.plot_embedding_scatter(
            rng.normal(size=(40, 2)), y, label="emotion", categorical=True, title="PCA"),
        "plot_duration_histogram": figures.plot_duration_histogram([1.0, 2.5, np.nan, 3.0]),
        "plot_label_balance": figures.plot_label_balance({"none": 3, "mild": 2},
                                                         label="phq9_band"),
        "plot_score_histogram": figures.plot_score_histogram([2, 7, 12, 17], score="phq9",
                                                             cutoff=10),
        "plot_rows_per_subject": figures.plot_rows_per_subject(
            pd.Series([3, 2, 1], index=["s1", "s2", "s3"])),
    }


def test_every_plot_has_labelled_axes_and_saves(tmp_path: Path) -> None:
    cases = _cases()
    # a new plot function must come with a case here
    assert set(cases) == {n for n in figures.__all__ if n.startswith("plot_")}
    for name, fig in cases.items():
        assert isinstance(fig, Figure), name
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert axes, name
        for ax in axes:
            assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: unlabelled axis"
        path = figures.save_figure(fig, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == PNG, name
    assert figures.figure_png(cases["plot_roc_curves"])[:8] == PNG
    assert not list(tmp_path.glob("*.part"))


def test_save_figure_formats_and_refusal(tmp_path: Path) -> None:
    fig = figures.plot_learning_curve(pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.0]}))
    assert figures.save_figure(fig, tmp_path / "a.pdf").read_bytes()[:4] == b"%PDF"
    assert figures.save_figure(fig, tmp_path / "sub" / "noext").read_bytes()[:8] == PNG
    with pytest.raises(InputError, match="cannot write a '.unknown' figure"):
        figures.save_figure(fig, tmp_path / "x.unknown")
    assert not (tmp_path / "x.unknown").exists()
    with pytest.raises(InputError, match="expected \\(3, 3\\)"):
        figures.plot_confusion_matrix(np.eye(2), ["a", "b", "c"])


def test_roc_title_and_undefined_classes() -> None:
    fig = figures.plot_roc_curves(["a", "a", "b", "b"], np.array([[0.9, 0.1], [0.6, 0.4],
                                                                 [0.3, 0.7], [0.2, 0.8]]),
                                  ["a", "b"], title="ROC y (validation units)")
    ax = fig.axes[0]
    assert ax.get_title() == "ROC y (validation units)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["chance", "b (AUC 1.00)"]
    # a class that never occurs has no curve (its AUC is undefined)
    fig = figures.plot_roc_curves(["a", "b"], np.eye(3)[:2], ["a", "b", "c"])
    assert len(fig.axes[0].lines) == 3  # chance + a + b


def test_only_the_figures_module_draws() -> None:
    drawing = re.compile(r"\.savefig\(|\bFigure\(|\.subplots\(|matplotlib\.pyplot|FigureCanvas")
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if p.name != "figures.py" and drawing.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_old_names_are_the_figures_modules() -> None:
    from vocalmind.analysis import plots as analysis_plots
    from vocalmind.evaluation import plots as evaluation_plots

    for mod in (analysis_plots, evaluation_plots):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if hasattr(figures, name):
                assert obj is getattr(figures, name), f"{mod.__name__}.{name}"
            else:  # only evaluation's report assembly stays in its room
                assert name in {"bootstrap_interval_plot", "report_figures"}, name
