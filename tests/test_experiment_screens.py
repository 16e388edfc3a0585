"""Clinical-screen evaluation: repeated subject-grouped CV pooled over seeds, the positive
class's F1/sensitivity/specificity with intervals, and the evaluated model's own held-out
permutation importance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vocalmind.config import load_config
from vocalmind.corpora import write_manifest
from vocalmind.errors import ConfigError


def _raw(manifest: Path, **over: object) -> dict:
    raw = {"name": "screen", "jobs": 1, "corpus": {"manifest": str(manifest)},
           "task": {"label": "emotion"},
           "features": {"set": "egemaps", "cache_dir": None, "jobs": 1},
           "model": {"name": "logreg"},
           "protocol": {"name": "group_kfold", "params": {"n_splits": 3}, "repeats": 2},
           "evaluation": {"n_boot": 100, "positive_class": "high", "importance_top_k": 3,
                          "importance_repeats": 2}}
    raw.update(over)
    return raw


def test_repeated_grouped_cv_with_positive_class(tone_cohort: pd.DataFrame,
                                                 tmp_path: Path) -> None:
    from vocalmind.experiment import run_experiment

    path = write_manifest(tone_cohort, tmp_path / "m.csv")
    res = run_experiment(load_config(raw=_raw(path)), out=tmp_path / "run")
    d = res.run_dir
    m = json.loads((d / "metrics.json").read_text())
    assert m["repeats"] == 2 and [r["seed"] for r in m["per_repeat"]] == [0, 1]
    assert m["n_folds"] == 6 and "Repeated 2 times" in m["protocol_description"]
    pred = pd.read_csv(d / "predictions.csv")
    # every recording scored once per repeat, by a fold that did not train on its speaker
    assert len(pred) == 2 * len(tone_cohort)
    assert pred.groupby("file")["repeat"].nunique().eq(2).all()
    assert pred.groupby(["repeat", "subject"])["fold"].nunique().eq(1).all()
    # the two repeats really differ in their folds (other seeds, other groupings)
    by_rep = pred.groupby("repeat").apply(
        lambda t: tuple(t.sort_values("file")["fold"] % 3), include_groups=False)
    assert by_rep.iloc[0] != by_rep.iloc[1]
    pos = m["positive"]
    assert pos["class"] == "high" and pos["negative_class"] == "low"
    for k in ("f1", "sensitivity", "specificity", "ppv"):
        lo, hi = pos[f"{k}_ci"]
        assert lo <= pos[k] <= hi
    html = (d / "report.html").read_text()
    assert "Positive class: high" in html and "Repeats (2, pooled above)" in html
    imp = pd.read_csv(d / "importance.csv")
    assert imp["n_folds"].eq(6).all()
    assert "Permutation importance of the evaluated logreg model" in html


def test_repeats_need_a_seeded_protocol(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="protocol.repeats: loso gives the same folds"):
        load_config(raw=_raw(tmp_path / "m.csv", protocol={"name": "loso", "repeats": 3}))
    with pytest.raises(ConfigError, match="remove protocol.params.seed"):
        load_config(raw=_raw(tmp_path / "m.csv", protocol={
            "name": "group_kfold", "params": {"seed": 3}, "repeats": 2}))


def test_positive_class_rules() -> None:
    from vocalmind.evaluation.metrics import positive_class

    assert positive_class(["not", "depressed"]) == "depressed"
    assert positive_class(["False", "True"]) == "True"
    assert positive_class(["a", "b", "c"]) is None
    with pytest.raises(ConfigError, match="not a class"):
        positive_class(["0", "1"], "yes")
    with pytest.raises(ConfigError, match="binary"):
        positive_class(["a", "b", "c"], "a")


def test_importance_is_the_fitted_models_own() -> None:
    """Held-out permutation importance of a fitted pipeline: the informative column
    matters, the noise column does not, and a column the model ignores scores exactly 0."""
    from vocalmind.experiment import heldout_permutation_importance
    from vocalmind.models.classical import make_classical

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=200), "noise": rng.normal(size=200)})
    y = np.where(X["signal"] > 0, "b", "a").astype(object)
    est = make_classical("logreg").fit(X[:150], y[:150])
    cfg = load_config(raw=_raw(Path("m.csv")))
    imp = heldout_permutation_importance(est, X[150:], y[150:], "classification", cfg)
    assert imp[0] > 0.3 and abs(imp[1]) < 0.05
    est.named_steps["model"].coef_[:, 0] = 0.0  # the model no longer reads "signal"
    imp = heldout_permutation_importance(est, X[150:], y[150:], "classification", cfg)
    assert imp[0] == 0.0
