"""The distributed search, run on one local worker, equals training.search.run_search."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _dist_helpers import quadratic_objective

from vocalmind.distributed.search import TrialSeededSampler, lost_trials, run_search_distributed
from vocalmind.errors import ConfigError
from vocalmind.features.executor import LocalExecutor
from vocalmind.training.search import AshaPolicy, run_search

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}, "depth": {"type": "int", "low": 1, "high": 3}}
POLICY = AshaPolicy(min_resource=1, reduction_factor=3, max_resource=9)


def _decisions(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if k != "t"} for x in path.read_text().splitlines()]


def test_one_worker_equals_run_search(tmp_path: Path) -> None:
    ref = run_search(quadratic_objective, SPACE, n_trials=10, policy=POLICY, seed=5,
                     run_dir=tmp_path / "ref", sampler=TrialSeededSampler(5), progress=False)
    res = run_search_distributed(quadratic_objective, SPACE, n_trials=10, policy=POLICY, seed=5,
                                 run_dir=tmp_path / "dist", executor=LocalExecutor(1, progress=False))
    drop = ["duration_s"]
    pd.testing.assert_frame_equal(res.trials.drop(columns=drop), ref.trials.drop(columns=drop))
    assert _decisions(tmp_path / "dist" / "decisions.jsonl") == _decisions(tmp_path / "ref" / "decisions.jsonl")
    assert (res.best_params, res.best_value) == (ref.best_params, ref.best_value)
    assert "PRUNED" in set(res.trials["state"])  # the policy did prune: decisions were compared
    assert lost_trials(tmp_path / "dist").empty


def test_two_processes_run_every_trial_once(tmp_path: Path) -> None:
    res = run_search_distributed(quadratic_objective, SPACE, n_trials=6, policy=POLICY, seed=1,
                                 run_dir=tmp_path / "d", executor=LocalExecutor(2, progress=False))
    assert sorted(res.trials["trial"]) == list(range(6))
    assert set(res.trials["state"]) <= {"COMPLETE", "PRUNED"}
    lines = (tmp_path / "d" / "decisions.jsonl").read_text().splitlines()
    assert len(lines) == res.trials["n_reports"].sum()
    with pytest.raises(ConfigError, match="already holds a search"):
        run_search_distributed(quadratic_objective, SPACE, n_trials=2, policy=POLICY, run_dir=tmp_path / "d")
    with pytest.raises(ConfigError):
        run_search_distributed(quadratic_objective, SPACE, n_trials=2, policy=POLICY,
                               run_dir=tmp_path / "e", sampler="grid")  # type: ignore[arg-type]
