"""Random-forest importance: informative features come first, permutation is out of fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vocalmind.analysis.importance import rf_importance
from vocalmind.errors import ConfigError


def _data(n: int = 60, m: int = 15) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, m)), columns=[f"f{i}" for i in range(m)])
    y = 4 * X["f3"].to_numpy() + 2 * X["f7"].to_numpy() + rng.normal(0, 0.5, n)
    return X, y, np.repeat(np.arange(n // 2), 2)


def test_informative_features_rank_first() -> None:
    X, y, g = _data()
    t = rf_importance(X, y, groups=g, top_k=5, n_estimators=60, n_repeats=3, n_splits=3)
    assert list(t.columns) == ["feature", "impurity", "impurity_rank", "permutation_mean",
                               "permutation_std", "permutation_rank"]
    assert len(t) == 5 and t["feature"].tolist()[:2] == ["f3", "f7"]
    assert t.loc[0, "permutation_mean"] > t.loc[2:, "permutation_mean"].max()
    p = rf_importance(X, y, groups=g, top_k=2, sort_by="permutation", n_estimators=60,
                      n_repeats=3, n_splits=3, n_candidates=4)
    assert p["feature"].tolist() == ["f3", "f7"]


def test_candidates_limit_and_classification() -> None:
    X, y, g = _data()
    t = rf_importance(X, y > 0, groups=g, top_k=15, task="classification", n_estimators=40,
                      n_repeats=2, n_splits=3, n_candidates=3)
    assert t["permutation_mean"].notna().sum() == 3
    assert t.loc[0, "feature"] == "f3"


def test_errors() -> None:
    X, y, g = _data()
    with pytest.raises(ConfigError, match="subjects"):
        rf_importance(X, y, groups=np.zeros(60))
    with pytest.raises(ValueError, match="length"):
        rf_importance(X, y[:-1], groups=g)
    with pytest.raises(ConfigError, match="sort_by"):
        rf_importance(X, y, groups=g, sort_by="gain")  # type: ignore[arg-type]
