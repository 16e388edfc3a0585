"""Sharded extraction on local processes: same table as extract_features, resumable."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from _dist_helpers import SlowStats

from _signals import voiced_tone
from vocalmind.distributed import extract_sharded, plan_shards
from vocalmind.distributed.sharded import default_shard_size
from vocalmind.errors import ConfigError, FeatureError, TooManyFailuresError
from vocalmind.features.executor import LocalExecutor
from vocalmind.features.extract import extract_features


@pytest.fixture
def manifest(tmp_path: Path) -> pd.DataFrame:
    rows = []
    for i in range(7):
        # voiced audio: whole recordings without voiced speech are failures, not rows
        y = voiced_tone(110 + 13 * i, seconds=1.0, seed=i, loud=0.1 + 0.02 * i)
        f = tmp_path / f"x{i}.wav"
        sf.write(f, np.clip(y, -1, 1), 16000)
        rows.append({"file": str(f), "start": np.nan, "end": np.nan})
        rows.append({"file": str(f), "start": 0.25, "end": 0.75})  # a segment of the same file
    rows.insert(3, {"file": str(tmp_path / "gone.wav"), "start": np.nan, "end": np.nan})
    return pd.DataFrame(rows)


class Counting:
    """An executor that records which items it ran and can stop after ``stop_after``."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.ran: list[Any] = []
        self.stop_after = stop_after

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *, description: str = "") -> Iterator[Any]:
        for item in items:
            if self.stop_after is not None and len(self.ran) >= self.stop_after:
                raise KeyboardInterrupt  # the run is interrupted here
            self.ran.append(item)
            yield item, fn(item)


def test_same_table_as_extract_features_on_processes(manifest: pd.DataFrame, tmp_path: Path) -> None:
    fs = SlowStats()
    ref = extract_features(manifest, fs, max_failure_fraction=0.1, progress=False)
    out = tmp_path / "out.parquet"
    res = extract_sharded(manifest, fs, work_dir=tmp_path / "w", shard_size=4,
                          executor=LocalExecutor(2, progress=False), max_failure_fraction=0.1,
                          output=out, progress=False)
    pd.testing.assert_frame_equal(res.features, ref.features)
    pd.testing.assert_frame_equal(res.failures, ref.failures)
    assert len(res.failures) == 1 and res.failures["file"].iloc[0].endswith("gone.wav")
    written = pd.read_parquet(out)
    assert list(written.columns[:3]) == ["file", "start", "end"] and len(written) == 14
    assert not (tmp_path / "w").exists()  # shards removed after the merge by default


def test_interrupted_run_resumes_from_finished_shards(manifest: pd.DataFrame, tmp_path: Path) -> None:
    fs = SlowStats()
    work = tmp_path / "w"
    first = Counting(stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        extract_sharded(manifest, fs, work_dir=work, shard_size=4, executor=first,
                        max_failure_fraction=0.1, progress=False)
    assert len(list(work.glob("shard-*.parquet"))) == 2
    second = Counting()
    res = extract_sharded(manifest, fs, work_dir=work, shard_size=4, executor=second,
                          max_failure_fraction=0.1, keep_shards=True, progress=False)
    assert {s.index for s in second.ran} == {2, 3}  # only the unfinished shards ran again
    assert res.n_cached == 8
    ref = extract_features(manifest, fs, max_failure_fraction=0.1, progress=False)
    pd.testing.assert_frame_equal(res.features, ref.features)
    # a damaged shard file is recomputed, not trusted
    victim = sorted(work.glob("shard-*.parquet"))[0]
    victim.write_bytes(b"not parquet")
    third = Counting()
    again = extract_sharded(manifest, fs, work_dir=work, shard_size=4, executor=third,
                            max_failure_fraction=0.1, progress=False)
    assert len(third.ran) == 1
    pd.testing.assert_frame_equal(again.features, ref.features)


def test_shard_names_follow_rows_settings_and_file_content(manifest: pd.DataFrame, tmp_path: Path) -> None:
    a = plan_shards(manifest, SlowStats(), work_dir=tmp_path, shard_size=4)
    assert [s.path for s in a] == [s.path for s in plan_shards(manifest, SlowStats(), work_dir=tmp_path, shard_size=4)]
    assert sum(len(s.rows) for s in a) == len(manifest) and len(a) == 4
    b = plan_shards(manifest, SlowStats(delay_s=0.001), work_dir=tmp_path, shard_size=4)
    assert not {s.path for s in a} & {s.path for s in b}
    c = plan_shards(manifest, SlowStats(), work_dir=tmp_path, shard_size=4, preprocess={"normalize": "peak"})
    assert not {s.path for s in a} & {s.path for s in c}
    # the voiced-speech screen and the feature code key shards as they key the item cache
    e = plan_shards(manifest, SlowStats(), work_dir=tmp_path, shard_size=4, screen_voiced=False)
    assert not {s.path for s in a} & {s.path for s in e} and not e[0].screen_voiced
    changed = SlowStats()
    changed.code_digest = lambda: "other code"  # type: ignore[method-assign]
    g = plan_shards(manifest, changed, work_dir=tmp_path, shard_size=4)
    assert not {s.path for s in a} & {s.path for s in g}
    f0 = manifest["file"].iloc[0]
    os.utime(f0, ns=(1, 1))  # the recording changed: its shard must be recomputed
    d = plan_shards(manifest, SlowStats(), work_dir=tmp_path, shard_size=4)
    assert d[0].path != a[0].path and [s.path for s in d[1:]] == [s.path for s in a[1:]]


def test_failures_and_lost_shards_are_errors(manifest: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(TooManyFailuresError) as e:
        extract_sharded(manifest, SlowStats(), work_dir=tmp_path / "w", shard_size=4, progress=False)
    assert len(e.value.failures) == 1  # type: ignore[attr-defined]

    class Dying:
        def map(self, fn: Any, items: Any, *, description: str = "") -> Iterator[Any]:
            for k, item in enumerate(items):
                yield item, (RuntimeError("worker died") if k == 1 else fn(item))

    with pytest.raises(FeatureError, match="1 of 4 shards did not finish"):
        extract_sharded(manifest, SlowStats(), work_dir=tmp_path / "v", shard_size=4,
                        executor=Dying(), max_failure_fraction=0.1, progress=False)
    assert len(list((tmp_path / "v").glob("shard-*.parquet"))) == 3  # kept for the re-run
    with pytest.raises(ConfigError):
        extract_sharded(manifest, SlowStats(), work_dir=tmp_path / "u", shard_size=0)


def test_default_shard_size() -> None:
    assert default_shard_size(10) == 8
    assert default_shard_size(64 * 100) == 100
    assert default_shard_size(10**7) == 256


def test_relative_paths_are_read_from_the_driver_folder(manifest: pd.DataFrame, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel = manifest.assign(file=[os.path.relpath(f, tmp_path) for f in manifest["file"]])
    ref = extract_features(rel, SlowStats(), max_failure_fraction=0.1, progress=False)

    class Elsewhere:  # a worker whose working directory is not the driver's
        def map(self, fn: Any, items: Any, *, description: str = "") -> Iterator[Any]:
            for item in items:
                here = os.getcwd()
                os.chdir("/")
                try:
                    out = fn(item)
                finally:
                    os.chdir(here)
                yield item, out

    res = extract_sharded(rel, SlowStats(), work_dir="w", shard_size=4, executor=Elsewhere(),
                          max_failure_fraction=0.1, progress=False)
    pd.testing.assert_frame_equal(res.features, ref.features)
    assert res.features.index.get_level_values("file")[0] == "x0.wav"
