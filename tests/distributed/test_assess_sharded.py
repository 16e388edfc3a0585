"""Batch assessment in shards equals one assess() call."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vocalmind.assess import assess
from vocalmind.config import load_config
from vocalmind.corpora import write_manifest
from vocalmind.distributed import assess_sharded
from vocalmind.experiment import run_experiment
from vocalmind.features.executor import LocalExecutor


def test_sharded_assessment_equals_one_call(tone_cohort: pd.DataFrame, tmp_path: Path) -> None:
    manifest = write_manifest(tone_cohort, tmp_path / "manifest.csv")
    raw = {
        "name": "t", "jobs": 1, "corpus": {"manifest": str(manifest)}, "task": {"label": "emotion"},
        "features": {"set": "egemaps", "cache_dir": None, "jobs": 1},
        "model": {"name": "svm"}, "protocol": {"name": "loso"}, "evaluation": {"n_boot": 50},
    }
    run = run_experiment(load_config(raw=raw), out=tmp_path / "run").run_dir
    files = tone_cohort["file"].tolist()[:5]
    one = assess(files, run)
    sharded = assess_sharded(files, run, executor=LocalExecutor(2, progress=False), shard_size=2)
    # the same answers; probabilities to rounding (the linear SVM's kernel rows are one
    # matrix product per batch, and BLAS sums a 2-row batch in another order than a 5-row one)
    strip = [{k: v for k, v in r.items() if k != "probabilities"} for r in sharded]
    assert strip == [{k: v for k, v in r.items() if k != "probabilities"} for r in one]
    for a, b in zip(sharded, one, strict=True):
        assert a["probabilities"].keys() == b["probabilities"].keys()
        for k in a["probabilities"]:
            assert a["probabilities"][k] == pytest.approx(b["probabilities"][k], rel=1e-9, abs=1e-12)
    assert [r["file"] for r in sharded] == [str(Path(f).resolve()) for f in files]
