"""Tests of vocalmind.training.search: space validation, ASHA pruning, run records, grouped CV."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vocalmind.errors import ConfigError, LeakageError
from vocalmind.training.search import (
    AshaPolicy,
    SearchSpace,
    grouped_cv_objective,
    run_fixed,
    run_search,
)

TAU = 4.0
R = 27  # max_resource: rungs at steps 1, 3, 9 with r=1, eta=3


def curve(x: float, step: int) -> float:
    """Known learning curve: asymptote x, same shape for every configuration."""
    return x * (1.0 - math.exp(-step / TAU))


def toy_objective(params, report):
    value = math.nan
    for step in range(1, R + 1):
        value = curve(params["x"], step)
        if report(step, value):
            break
    return value


def read_decisions(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "decisions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def toy_search(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("search") / "run"
    policy = AshaPolicy(min_resource=1, reduction_factor=3, max_resource=R)
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
    result = run_search(
        toy_objective, space, n_trials=30, policy=policy, seed=0, run_dir=run_dir, progress=False
    )
    return result, run_dir, policy


# ----------------------------------------------------------------------------- space


def test_space_round_trip_and_distributions():
    d = {
        "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
        "units": {"type": "int", "low": 16, "high": 256, "log": True},
        "layers": {"type": "int", "low": 1, "high": 4},
        "pool": {"type": "categorical", "choices": ["mean", "attention", None]},
    }
    space = SearchSpace.from_dict(d)
    assert space.to_dict() == d
    assert SearchSpace.from_dict(space.to_dict()) == space
    dists = space.distributions()
    assert dists["lr"].log and dists["lr"].low == 1e-4
    assert dists["dropout"].step == 0.1
    assert dists["units"].log and dists["layers"].step == 1
    assert dists["pool"].choices == ("mean", "attention", None)


def test_space_from_yaml(tmp_path):
    p = tmp_path / "space.yaml"
    p.write_text("lr: {type: loguniform, low: 1.0e-4, high: 0.1}\nk: {type: int, low: 1, high: 3}\n")
    assert SearchSpace.from_yaml(p).names == ("lr", "k")
    p.write_text("lr: {type: uniform, low: 0, high: 1}\n")
    with pytest.raises(ConfigError, match=r"space\.yaml.*'lr'.*'uniform'"):
        SearchSpace.from_yaml(p)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "gaussian", "low": 0, "high": 1}, r"'type' is 'gaussian'; use one of"),
        ({"low": 0, "high": 1}, r"'type' is None"),
        ({"type": "float", "high": 1}, r"'low' is required"),
        ({"type": "float", "low": 2.0, "high": 1.0}, r"low=2.0 > high=1.0; swap them"),
        ({"type": "int", "low": 0.5, "high": 3}, r"'low' must be an integer"),
        ({"type": "loguniform", "low": 0.0, "high": 1.0}, r"log scale needs low > 0"),
        ({"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1}, r"'step' and 'log' cannot"),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": 0.3}, r"not a multiple of step=0.3"),
        ({"type": "float", "low": 0.0, "high": 1.0, "choices": [1]}, r"keys \['choices'\] are not allowed"),
        ({"type": "categorical", "choices": []}, r"'choices' must be a non-empty list"),
        ({"type": "categorical", "choices": [[1, 2], "a"]}, r"not None/bool/int/float/str"),
        ({"type": "categorical", "choices": ["a", "a"]}, r"duplicates"),
        ("0..1", r"expected a mapping"),
    ],
)
def test_space_validation_messages(spec, message):
    with pytest.raises(ConfigError, match=message) as e:
        SearchSpace.from_dict({"p": spec})
    assert "'p'" in str(e.value)  # the message names the parameter


def test_space_lists_all_problems_at_once():
    with pytest.raises(ConfigError, match="3 problems") as e:
        SearchSpace.from_dict({"a": {"type": "float"}, "b": {"type": "categorical", "choices": []}})
    assert "'a'" in str(e.value) and "'b'" in str(e.value)
    with pytest.raises(ConfigError, match="non-empty mapping"):
        SearchSpace.from_dict({})


def test_check_params():
    space = SearchSpace.from_dict(
        {"x": {"type": "float", "low": 0, "high": 1}, "c": {"type": "categorical", "choices": ["a", "b"]}}
    )
    assert space.check_params({"c": "a", "x": 0.5}) == {"x": 0.5, "c": "a"}
    with pytest.raises(ConfigError, match=r"outside \[0, 1\]"):
        space.check_params({"x": 2.0, "c": "a"})
    with pytest.raises(ConfigError, match=r"missing \['c'\], unknown \['z'\]"):
        space.check_params({"x": 0.5, "z": 1})
    with pytest.raises(ConfigError, match="not one of the choices"):
        space.check_params({"x": 0.5, "c": "q"})


# ----------------------------------------------------------------------------- policy


def test_policy_rungs_and_validation():
    p = AshaPolicy(min_resource=2, reduction_factor=3, max_resource=60, min_early_stopping_rate=1)
    assert p.rung_steps() == [6, 18, 54]
    pruner = p.to_pruner()
    assert pruner._min_resource == 2 and pruner._reduction_factor == 3
    assert AshaPolicy.from_dict(p.to_dict()) == p
    with pytest.raises(ConfigError, match="reduction_factor=1"):
        AshaPolicy(reduction_factor=1)
    with pytest.raises(ConfigError, match="not above the first rung"):
        AshaPolicy(min_resource=4, max_resource=4)
    with pytest.raises(ConfigError, match=r"unknown keys \['eta'\]"):
        AshaPolicy.from_dict({"eta": 3})


# ----------------------------------------------------------------------------- ASHA on a toy


def test_asha_keeps_the_best_and_prunes_bad_configs(toy_search):
    result, run_dir, _ = toy_search
    t = result.trials
    xs = t["params_x"]
    # Every curve has the same shape, so the best x wins every rung it reaches: it must
    # be the best result, run to the end.
    best_row = t.loc[xs.idxmax()]
    assert result.best_params["x"] == pytest.approx(xs.max())
    assert best_row["state"] == "COMPLETE" and best_row["last_step"] == R
    assert result.best_value == pytest.approx(curve(xs.max(), R))
    # Most configurations were stopped early, all at a rung, and the pruned ones are worse
    # on average than the completed ones.
    pruned = t[t["state"] == "PRUNED"]
    done = t[t["state"] == "COMPLETE"]
    assert len(pruned) >= 20
    assert set(pruned["last_step"]) <= {1, 3, 9}
    assert (pruned["last_step"] == pruned["pruned_rung"].map({0: 1, 1: 3, 2: 9})).all()
    assert pruned["params_x"].mean() < done["params_x"].mean()
    # Total resource spent is far below running all 30 trials to the end.
    assert t["last_step"].sum() < 0.35 * 30 * R


def test_decisions_log_replays_asha(toy_search):
    """decisions.jsonl: one line per report, correct rung, and ASHA's promotion rule."""
    result, run_dir, policy = toy_search
    decisions = read_decisions(run_dir)
    assert len(decisions) == int(result.trials["last_step"].sum())
    rung_of_step = {s: k for k, s in enumerate(policy.rung_steps())}
    eta = policy.reduction_factor
    seen: dict[int, list[float]] = {}
    for d in decisions:
        assert set(d) == {"trial", "step", "value", "rung", "pruned", "t"}
        assert d["rung"] == rung_of_step.get(d["step"])
        if d["rung"] is None:
            assert d["pruned"] is False
            continue
        # ASHA: promoted iff in the top 1/eta of the values recorded at this rung so far
        # (itself included; with fewer than eta values only the best so far is promoted).
        competing = sorted([*seen.setdefault(d["rung"], []), d["value"]], reverse=True)
        k = max(len(competing) // eta, 1)
        assert d["pruned"] is (d["value"] < competing[k - 1]), d
        seen[d["rung"]].append(d["value"])
    # A pruned trial reports nothing after its pruning decision.
    last = {}
    for d in decisions:
        assert d["trial"] not in last or not last[d["trial"]]["pruned"]
        last[d["trial"]] = d


def test_trials_csv_and_best_json(toy_search):
    result, run_dir, _ = toy_search
    csv = pd.read_csv(run_dir / "trials.csv")
    assert len(csv) == 30 and list(csv["trial"]) == list(range(30))
    assert set(csv["state"]) == {"COMPLETE", "PRUNED"}
    assert csv["params_x"].notna().all() and csv["value"].notna().all()
    pd.testing.assert_series_equal(csv["params_x"], result.trials["params_x"])
    best = json.loads((run_dir / "best.json").read_text())
    assert best["best_params"] == result.best_params
    assert best["best_trial"] == result.best_trial
    search = json.loads((run_dir / "search.json").read_text())
    assert search["policy"]["reduction_factor"] == 3 and search["space"]["x"]["type"] == "float"


def test_fixed_run_reproduces_the_best_trial(toy_search):
    result, _, policy = toy_search
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0.0, "high": 1.0}})
    fixed = run_fixed(toy_objective, result.best_params, space=space, max_resource=policy.max_resource)
    assert fixed.value == result.best_value
    assert [s for s, _ in fixed.curve] == list(range(1, R + 1))
    with pytest.raises(ConfigError, match="outside"):
        run_fixed(toy_objective, {"x": 3.0}, space=space)


def test_same_seed_same_search_and_rundir_protection(tmp_path, toy_search):
    result, run_dir, policy = toy_search
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
    with pytest.raises(ConfigError, match="already holds a search"):
        run_search(toy_objective, space, n_trials=2, policy=policy, run_dir=run_dir, progress=False)
    again = run_search(
        toy_objective, space, n_trials=30, policy=policy, seed=0, run_dir=tmp_path, progress=False
    )
    pd.testing.assert_series_equal(again.trials["params_x"], result.trials["params_x"])
    pd.testing.assert_series_equal(again.trials["state"], result.trials["state"])


def test_minimize_tpe_and_parallel(tmp_path):
    def loss(params, report):
        v = math.nan
        for step in range(1, 10):
            v = (params["x"] - 0.3) ** 2 + 1.0 / step
            if report(step, v):
                break
        return v

    policy = AshaPolicy(min_resource=1, reduction_factor=2, max_resource=9)
    res = run_search(
        loss, {"x": {"type": "float", "low": 0.0, "high": 1.0}}, n_trials=12, policy=policy,
        direction="minimize", sampler="tpe", n_jobs=2, run_dir=tmp_path, progress=False,
    )
    done = res.trials[res.trials["state"] == "COMPLETE"]
    assert res.best_value == pytest.approx(done["value"].min())
    assert len(read_decisions(tmp_path)) == int(res.trials["last_step"].sum())


def test_report_protocol_errors_and_ignored_pruning(tmp_path):
    policy = AshaPolicy(min_resource=1, reduction_factor=2, max_resource=8)
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0}}

    def backwards(params, report):
        report(2, 0.1)
        report(1, 0.2)
        return 0.0

    with pytest.raises(ConfigError, match="steps must increase"):
        run_search(backwards, space, n_trials=1, policy=policy, run_dir=tmp_path / "a", progress=False)
    assert (tmp_path / "a" / "trials.csv").is_file()  # the failed trial is still recorded

    def stubborn(params, report):  # ignores report's True and keeps training
        for step in range(1, 9):
            report(step, params["x"])
        return params["x"]

    res = run_search(stubborn, space, n_trials=8, policy=policy, seed=1, run_dir=tmp_path / "b", progress=False)
    pruned = res.trials[res.trials["state"] == "PRUNED"]
    assert len(pruned) > 0
    # the trial was stopped at the report after the pruning decision, and it counted no more
    assert (pruned["last_step"] == pruned["pruned_rung"].map(policy.rung_step)).all()


# ----------------------------------------------------------------------------- grouped CV


def _grouped_data(n_subjects=12, per_subject=6, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"s{i:02d}" for i in range(n_subjects)], per_subject)
    y = np.tile(np.arange(per_subject) % 2, n_subjects)
    feat = y + rng.normal(0, 0.7, len(y))
    X = pd.DataFrame({"subject": groups, "f": feat})
    return X, y, groups


def test_grouped_objective_never_leaks_subjects():
    X, y, groups = _grouped_data()
    seen_val: list[set] = []

    def build_and_train(params, X_tr, y_tr, X_va, y_va):
        tr, va = set(X_tr["subject"]), set(X_va["subject"])
        assert not tr & va, f"subjects in both inner train and val: {tr & va}"
        seen_val.append(va)
        for epoch in range(1, 4):
            yield float(np.mean((X_va["f"] > params["thr"]) == y_va)) * epoch / 3

    obj = grouped_cv_objective(build_and_train, X, y, groups, n_splits=3, seed=0)
    fixed = run_fixed(obj, {"thr": 0.5})
    assert len(seen_val) == 3
    assert set().union(*seen_val) == set(groups)  # every subject validated exactly once
    assert sum(len(v) for v in seen_val) == len(set(groups))
    assert [s for s, _ in fixed.curve] == [1, 2, 3]
    assert fixed.value == pytest.approx(fixed.curve[-1][1])
    # the reported value is the mean of the folds' scores
    expected = np.mean([np.mean((X["f"].iloc[va] > 0.5) == y[va]) for _, va in obj.splits])
    assert fixed.value == pytest.approx(expected)


def test_grouped_objective_rejects_leaky_splitter_and_few_subjects():
    from sklearn.model_selection import KFold

    X, y, groups = _grouped_data()
    with (
        pytest.raises(LeakageError, match="both train and validation"),
        pytest.warns(UserWarning, match="groups parameter is ignored"),
    ):
        grouped_cv_objective(lambda *a: 0.0, X, y, groups, cv=KFold(3, shuffle=True, random_state=0))
    with pytest.raises(ConfigError, match="need at least 5 subjects; got 4"):
        grouped_cv_objective(lambda *a: 0.0, X.iloc[:24], y[:24], groups[:24], n_splits=5)


def test_grouped_objective_in_a_search(tmp_path):
    from sklearn.linear_model import SGDClassifier

    X, y, groups = _grouped_data(n_subjects=9)

    def build_and_train(params, X_tr, y_tr, X_va, y_va):
        clf = SGDClassifier(alpha=params["alpha"], random_state=0)
        for _ in range(params["epochs"]):
            clf.partial_fit(X_tr[["f"]], y_tr, classes=[0, 1])
            yield clf.score(X_va[["f"]], y_va)

    obj = grouped_cv_objective(build_and_train, X, y, groups, n_splits=3)
    space = {
        "alpha": {"type": "loguniform", "low": 1e-4, "high": 10.0},
        "epochs": {"type": "categorical", "choices": [4]},
    }
    policy = AshaPolicy(min_resource=1, reduction_factor=2, max_resource=4)
    res = run_search(obj, space, n_trials=6, policy=policy, run_dir=tmp_path, progress=False)
    assert 0.0 <= res.best_value <= 1.0
    assert run_fixed(obj, res.best_params).value == pytest.approx(res.best_value)


def test_grouped_objective_for_regression_targets():
    X, _, groups = _grouped_data()
    scores = np.linspace(0, 27, len(groups))  # e.g. PHQ-9 totals: not stratifiable
    obj = grouped_cv_objective(lambda p, *a: 1.0, X, scores, groups, n_splits=4, stratify=False)
    assert len(obj.splits) == 4
    for tr, va in obj.splits:
        assert not set(groups[tr]) & set(groups[va])
    assert run_fixed(obj, {}).value == 1.0
