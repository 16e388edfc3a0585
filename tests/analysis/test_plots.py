"""Every figure builds from the tables of this room and saves as a real PNG, atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from vocalmind.analysis import plots
from vocalmind.analysis.correlate import correlate_features
from vocalmind.analysis.longitudinal import paired_change

PNG = b"\x89PNG\r\n\x1a\n"


def _saved(fig: Figure, path: Path) -> bytes:
    assert isinstance(fig, Figure)
    plots.save_figure(fig, path)
    assert not list(path.parent.glob("*.part"))
    return path.read_bytes()[:8]


def test_all_figures(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    f = pd.DataFrame(rng.normal(size=(30, 6)), columns=[f"f{i}" for i in range(6)])
    s = pd.DataFrame({"phq9": 2 * f["f0"] + rng.normal(size=30), "gad7": rng.normal(size=30)})
    corr = correlate_features(f, s)
    fig = plots.plot_correlation_heatmap(corr, top_k=4)
    assert len(fig.axes[0].get_yticklabels()) == 4
    assert any(t.get_text() == "*" for t in fig.axes[0].texts)  # f0 x phq9 is significant
    assert _saved(fig, tmp_path / "heat.png") == PNG

    imp = pd.DataFrame({"feature": ["a", "b"], "impurity": [0.6, 0.4],
                        "permutation_mean": [1.0, np.nan], "permutation_std": [0.1, np.nan]})
    assert _saved(plots.plot_importance(imp, column="permutation_mean"), tmp_path / "imp.png") == PNG
    assert len(plots.plot_importance(imp).axes[0].patches) == 2

    pre = f.assign(subject=range(30))
    post = pre.assign(f0=pre["f0"] - 1)
    change = paired_change(pre, post, subject_col="subject")
    fig = plots.plot_effect_forest(change)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][-1] == "f0"  # smallest p on top
    assert _saved(fig, tmp_path / "forest.pdf")[:4] == b"%PDF"
    fig = plots.plot_paired_lines(pre, post, "f0", subject_col="subject")
    assert len(fig.axes[0].lines) == 31  # 30 subjects + the median line
    assert _saved(fig, tmp_path / "paired.png") == PNG

    hist = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.0], "val_loss": [3.0, 2.5, 2.8]})
    assert len(plots.plot_learning_curve(hist).axes[0].lines) == 3
    with pytest.raises(ValueError):
        plots.save_figure(plots.plot_learning_curve(hist), tmp_path / "x.unknown")
    assert not (tmp_path / "x.unknown").exists()
