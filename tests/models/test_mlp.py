"""MLPModel / MLPSearch: learning, determinism, curves, and a subject-grouped inner search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from vocalmind.errors import ConfigError, ModelError
from vocalmind.models.mlp import STUDY_BEST, STUDY_SPACE, FCNet, MLPModel, MLPSearch

FAST = {"layers": 1, "nodes": 16, "optimizer": "adam", "lr": 1e-2, "batch_size": 8}


def _data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)) * [1, 10, 0.1, 1, 1, 1] + [0, 100, 0, 0, 0, 0]
    y = 12 + 4 * X[:, 0] - 0.2 * (X[:, 1] - 100) + rng.normal(0, 0.5, n)
    return X, y, np.repeat(np.arange(n // 3), 3)


def test_fcnet_shape_and_depth() -> None:
    net = FCNet(7, 3, layers=3, nodes=32, activation="selu")
    assert net(torch.zeros(5, 7)).shape == (5, 3)
    assert sum(isinstance(m, torch.nn.Linear) for m in net.modules()) == 4
    assert sum(isinstance(m, torch.nn.SELU) for m in net.modules()) == 3


def test_study_space_size_and_defaults() -> None:
    assert len(ParameterGrid(STUDY_SPACE)) == 2592
    assert {k: getattr(MLPModel(), k) for k in STUDY_BEST} == STUDY_BEST


def test_regressor_learns_in_score_units() -> None:
    X, y, _ = _data(90)
    m = MLPModel(epochs=150, **FAST).fit(X[:60], y[:60])
    assert m.score(X[60:], y[60:]) > 0.8
    assert abs(m.predict(X[60:]).mean() - y[60:].mean()) < 2  # mapped back from z units
    h = m.history_
    assert list(h.columns) == ["epoch", "train_loss", "val_loss"] and len(h) == 150
    assert h["train_loss"].iloc[-1] < 0.2 * h["train_loss"].iloc[0] and h["val_loss"].isna().all()


def test_deterministic_and_threads_restored() -> None:
    X, y, _ = _data()
    before = torch.get_num_threads()
    a = MLPModel(epochs=20, random_state=3, n_threads=1, **FAST).fit(X, y).predict(X)
    b = MLPModel(epochs=20, random_state=3, n_threads=1, **FAST).fit(X, y).predict(X)
    c = MLPModel(epochs=20, random_state=4, n_threads=1, **FAST).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert torch.get_num_threads() == before


def test_validation_curve_and_early_stopping_keep_best_weights() -> None:
    X, y, g = _data()
    m = MLPModel(epochs=60, validation_fraction=0.25, early_stopping=True, patience=5,
                 random_state=1, **FAST).fit(X, y, groups=g)
    h = m.history_
    assert h["val_loss"].notna().all()
    assert m.best_epoch_ == int(h.loc[h["val_loss"].idxmin(), "epoch"])
    tr, va = m._split(len(X), g)
    assert not set(g[tr]) & set(g[va])  # validation holds out whole subjects
    val_mse = float(np.mean((m.predict(X[va]) - y[va]) ** 2))
    assert val_mse == pytest.approx(h["val_loss"].min(), rel=1e-4)


def test_classifier_probabilities_and_labels() -> None:
    X, y, _ = _data()
    labels = np.where(y > np.median(y), "high", "low")
    m = MLPModel(task="classification", epochs=60, **FAST).fit(X, labels)
    proba = m.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert set(m.predict(X)) <= {"high", "low"} and m.score(X, labels) > 0.8
    with pytest.raises(ModelError, match="classification"):
        MLPModel(epochs=2, **FAST).fit(X, y).predict_proba(X)


def test_divergence_keeps_finite_weights() -> None:
    X, y, _ = _data()
    with pytest.warns(RuntimeWarning, match="non-finite"):
        m = MLPModel(layers=2, optimizer="sgd", lr=1e6, epochs=30, batch_size=2).fit(X, y * 1e3)
    assert m.diverged_ and np.isfinite(m.predict(X)).all()


def test_parameter_errors() -> None:
    X, y, _ = _data()
    with pytest.raises(ConfigError, match="activation"):
        MLPModel(activation="softmax").fit(X, y)
    with pytest.raises(ConfigError, match="early_stopping"):
        MLPModel(early_stopping=True).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        MLPModel().fit(np.where(X > 2, np.nan, X), y)
    with pytest.raises(ModelError, match="6 features"):
        MLPModel(epochs=1, **FAST).fit(X, y).predict(X[:, :3])
    assert clone(MLPModel(nodes=64)).get_params()["nodes"] == 64


def test_search_uses_grouped_inner_folds_and_records_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y, g = _data()
    seen: list[set] = []
    real_fit = MLPModel.fit

    def spy(self: MLPModel, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> MLPModel:
        seen.append(set(groups))
        return real_fit(self, X, y, groups=groups)

    monkeypatch.setattr(MLPModel, "fit", spy)
    s = MLPSearch(strategy="random", n_trials=3, cv=3, fixed_params={"epochs": 5},
                  progress=False).fit(X, y, groups=g)
    res = s.search_results_
    assert len(res) == 3 and len(seen) == 3 * 3 + 1
    assert {"trial", *STUDY_SPACE, "mean_score", "split2_score"} <= set(res.columns)
    assert len(res.drop_duplicates(subset=list(STUDY_SPACE))) == 3
    assert all(13 <= len(s_) <= 14 for s_ in seen[:-1])  # 3 inner folds of 20 subjects
    assert seen[-1] == set(g)  # only the refit sees every subject
    assert s.best_score_ == res["mean_score"].max() and (res["mean_score"] <= 0).all()
    assert s.best_params_ == {k: res.loc[s.best_index_, k] for k in STUDY_SPACE}
    assert s.predict(X).shape == (60,) and len(s.history_) == 5


def test_search_on_the_runner_scores_what_a_plain_loop_scores() -> None:
    """The architecture search runs on the one search runner; its draws and scores are those
    of the plain loop it replaced (same seeded draws, folds, fits and scorer)."""
    from sklearn.base import clone
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import ParameterGrid

    from vocalmind.evaluation.protocols import InnerGroupSplit

    X, y, g = _data(42)
    s = MLPSearch(strategy="random", n_trials=2, cv=2, random_state=5, refit=False,
                  fixed_params={"epochs": 4}, progress=False).fit(X, y, groups=g)
    grid = ParameterGrid(STUDY_SPACE)
    order = np.random.default_rng(5).choice(len(grid), size=2, replace=False)
    base = MLPModel(task="regression", random_state=5, epochs=4)
    scorer = get_scorer("neg_mean_squared_error")
    splits = list(InnerGroupSplit(n_splits=2, stratify=False, shuffle=False).split(X, y, g))
    for row, i in zip(s.search_results_.itertuples(), order, strict=True):
        params = grid[int(i)]
        assert {k: getattr(row, k) for k in params} == params
        scores = [scorer(clone(base).set_params(**params).fit(X[tr], y[tr], groups=g[tr]),
                         X[va], y[va]) for tr, va in splits]
        assert row.mean_score == pytest.approx(np.mean(scores), rel=1e-9)


def test_grid_and_tpe_strategies() -> None:
    X, y, g = _data(30)
    space = {"layers": [1, 2], "lr": [1e-2, 1e-3]}
    grid = MLPSearch(space=space, strategy="grid", cv=2, progress=False,
                     fixed_params={"epochs": 3, "optimizer": "adam"}).fit(X, y, groups=g)
    assert sorted(map(tuple, grid.search_results_[["layers", "lr"]].to_numpy().tolist())) == [
        (1, 0.001), (1, 0.01), (2, 0.001), (2, 0.01)]
    tpe = MLPSearch(strategy="tpe", n_trials=3, cv=2, refit=False, progress=False,
                    fixed_params={"epochs": 3}).fit(X, y, groups=g)
    res = tpe.search_results_
    assert len(res) == 3 and res["activation"].isin(STUDY_SPACE["activation"]).all()
    assert isinstance(res, pd.DataFrame) and not hasattr(tpe, "best_estimator_")


def test_search_errors() -> None:
    X, y, g = _data(30)
    with pytest.raises(ConfigError, match="groups"):
        MLPSearch(progress=False).fit(X, y)
    with pytest.raises(ConfigError, match="distinct subjects"):
        MLPSearch(cv=3, progress=False).fit(X, y, groups=np.repeat([0, 1], 15))
    with pytest.raises(ConfigError, match="not an MLPModel parameter"):
        MLPSearch(space={"depth": [1]}, progress=False).fit(X, y, groups=g)
    with pytest.raises(ConfigError, match="optimizer"):
        MLPSearch(space={"optimizer": ["mse"]}, progress=False).fit(X, y, groups=g)
