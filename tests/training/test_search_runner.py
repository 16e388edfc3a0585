"""The one search runner serves every search: no-pruning runs of given points (grids), no
records on disk, and scikit-learn estimators scored on subject-grouped inner folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, ParameterGrid

from vocalmind.errors import LeakageError
from vocalmind.evaluation.protocols import InnerGroupSplit
from vocalmind.training.search import estimator_cv_objective, run_search


def _data(seed: int = 0, n_subjects: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_subjects), 8).astype(str)
    y = np.tile(np.array(["a", "b"]), len(groups) // 2)
    X = rng.normal(size=(len(groups), 5)) + (y == "b")[:, None] * np.array([0.8, 0, 0, 0, 0])
    return X, y, groups


def test_grid_points_without_pruning_match_gridsearchcv(tmp_path) -> None:
    X, y, groups = _data()
    grid = {"C": [0.001, 0.01, 0.1, 1.0, 10.0]}
    cv = InnerGroupSplit(n_splits=3, stratify=True, seed=0)
    objective = estimator_cv_objective(LogisticRegression(), X, y, groups,
                                       scoring="balanced_accuracy", cv=cv)
    points = list(ParameterGrid(grid))
    res = run_search(objective, {"C": {"type": "categorical", "choices": grid["C"]}},
                     n_trials=len(points), policy=None, points=points, run_dir=tmp_path,
                     progress=False)
    # every point ran once, in the given order, to its end (no pruning without a policy)
    assert [h["params"]["C"] for h in objective.history] == grid["C"]
    assert set(res.trials["state"]) == {"COMPLETE"}
    gs = GridSearchCV(LogisticRegression(), grid, cv=objective.splits,
                      scoring="balanced_accuracy").fit(X, y)
    means = [float(np.mean(h["scores"])) for h in objective.history]
    np.testing.assert_allclose(means, gs.cv_results_["mean_test_score"], rtol=0, atol=1e-12)
    assert objective.best()["params"] == gs.best_params_
    assert (tmp_path / "trials.csv").exists() and (tmp_path / "best.json").exists()


def test_ties_go_to_the_earlier_point_and_no_folder_means_no_files(tmp_path) -> None:
    X, y, groups = _data(1)
    # C so small that every candidate predicts one class: all scores tie at 0.5
    objective = estimator_cv_objective(LogisticRegression(), X, y, groups,
                                       scoring="balanced_accuracy", n_splits=3)
    points = [{"C": 1e-8}, {"C": 2e-8}, {"C": 3e-8}]
    run_search(objective, {"C": {"type": "categorical", "choices": [1e-8, 2e-8, 3e-8]}},
               n_trials=3, policy=None, points=points, run_dir=None, progress=False)
    assert objective.best()["params"] == {"C": 1e-8}
    assert list(tmp_path.iterdir()) == []


def test_estimator_objective_refuses_a_leaky_splitter() -> None:
    X, y, groups = _data(2)
    leaky = [(np.arange(0, 40), np.arange(36, 72))]  # subject 4 on both sides
    with pytest.raises(LeakageError):
        estimator_cv_objective(LogisticRegression(), X, y, groups,
                               scoring="balanced_accuracy", cv=leaky)


def test_estimator_objective_passes_inner_subjects_to_fit_when_asked() -> None:
    from sklearn.base import BaseEstimator, ClassifierMixin

    seen: list[set[str]] = []

    class Grouped(ClassifierMixin, BaseEstimator):
        def fit(self, X, y, groups=None):  # type: ignore[no-untyped-def]
            seen.append(set(groups))
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):  # type: ignore[no-untyped-def]
            return np.full(len(X), self.classes_[0])

    X, y, groups = _data(3)
    objective = estimator_cv_objective(Grouped(), X, y, groups, scoring="accuracy",
                                       n_splits=3, fit_groups=True)
    objective({}, lambda step, value: False)
    for (tr, va), got in zip(objective.splits, seen, strict=True):
        assert got == set(groups[tr]) and not got & set(groups[va])


def test_a_grid_of_structured_values_is_searched_as_text_and_decoded() -> None:
    from vocalmind.training.search import CategoricalGrid, SearchSpace

    grid = CategoricalGrid({"blocks": [["a_"], ["a_", "b_"]], "C": [0.1, 1.0]})
    space = SearchSpace.from_dict(grid.space())  # valid: every choice is plain text or a number
    points = list(grid.points())
    assert [space.check_params(p) for p in points] == points
    assert [grid.decode(p) for p in points] == list(ParameterGrid(grid.values))
    assert grid.decode({"blocks": '["a_", "b_"]', "C": 1.0}) == {"blocks": ["a_", "b_"], "C": 1.0}
