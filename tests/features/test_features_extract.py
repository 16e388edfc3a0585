"""The extraction engine: order, workers, cache, resumption, failures, preprocessing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vocalmind.errors import ConfigError, ManifestError, TooManyFailuresError
from vocalmind.features.base import FeatureSet
from vocalmind.features.extract import PreprocessSettings, extract_features


class CountingSet(FeatureSet):
    """Mean, RMS and length of the signal; counts its calls (in-process runs only)."""

    name = "counting"
    calls = 0

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__(scale=scale)

    def names(self) -> list[str]:
        return ["mean", "rms", "seconds"]

    def process_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        type(self).calls += 1
        s = self.params["scale"]
        return np.array([s * y.mean(), s * np.sqrt(np.mean(y**2)), y.size / sr])


@pytest.fixture(autouse=True)
def _reset_counter() -> None:
    CountingSet.calls = 0


def test_pool_equals_in_process_row_for_row(speech_files: list[Path], tone_files: list[Path]) -> None:
    files = [*speech_files, *tone_files[:2]]
    serial = extract_features(files, "egemaps", n_jobs=1, progress=False)
    pooled = extract_features(files, "egemaps", n_jobs=2, progress=False)
    assert serial.features.shape == (6, 88)
    assert list(pooled.features.index.get_level_values("file")) == [str(f) for f in files]
    pd.testing.assert_frame_equal(serial.features, pooled.features)
    assert np.isfinite(serial.features.to_numpy()).all()


def test_manifest_segments_keep_input_order_and_index(tone_files: list[Path]) -> None:
    items = pd.DataFrame({
        "file": [str(tone_files[1]), str(tone_files[0]), str(tone_files[0])],
        "start": [np.nan, 0.5, 0.0],
        "end": [np.nan, 1.0, 0.25],
        "subject": ["a", "b", "b"],
    })
    res = extract_features(items, CountingSet(), progress=False)
    assert res.features.index.names == ["file", "start", "end"]
    assert list(res.features.index.get_level_values("file")) == list(items["file"])
    assert list(res.features.index)[1:] == [(str(tone_files[0]), 0.5, 1.0), (str(tone_files[0]), 0.0, 0.25)]
    np.testing.assert_allclose(res.features["seconds"], [1.0, 0.5, 0.25], atol=1e-3)
    assert np.isnan(res.features.index[0][1]) and np.isnan(res.features.index[0][2])


def test_cache_hit_skips_work(tone_files: list[Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = extract_features(tone_files, CountingSet(), cache_dir=cache, progress=False)
    assert CountingSet.calls == 5 and first.n_cached == 0
    again = extract_features(tone_files, CountingSet(), cache_dir=cache, progress=False)
    assert CountingSet.calls == 5 and again.n_cached == 5
    pd.testing.assert_frame_equal(first.features, again.features)
    # a renamed copy hits too (content-keyed), a changed setting misses
    moved = tmp_path / "moved.wav"
    shutil.copy(tone_files[0], moved)
    extract_features([moved], CountingSet(), cache_dir=cache, progress=False)
    assert CountingSet.calls == 5
    extract_features(tone_files, CountingSet(scale=2.0), cache_dir=cache, progress=False)
    assert CountingSet.calls == 10
    extract_features(tone_files, CountingSet(), preprocess={"normalize": "peak"}, cache_dir=cache,
                     progress=False)  # fmt: skip
    assert CountingSet.calls == 15


def test_no_cache_dir_means_no_cache(tone_files: list[Path]) -> None:
    extract_features(tone_files[:2], CountingSet(), progress=False)
    extract_features(tone_files[:2], CountingSet(), progress=False)
    assert CountingSet.calls == 4


def test_edited_file_is_recomputed(tone_files: list[Path], tmp_path: Path) -> None:
    import soundfile as sf

    cache = tmp_path / "cache"
    before = extract_features(tone_files[:1], CountingSet(), cache_dir=cache, progress=False)
    y, sr = sf.read(tone_files[0], dtype="float32")
    sf.write(tone_files[0], 0.5 * y, sr, subtype="PCM_16")  # same path, new content
    after = extract_features(tone_files[:1], CountingSet(), cache_dir=cache, progress=False)
    assert CountingSet.calls == 2 and after.n_cached == 0
    assert after.features["rms"].iloc[0] == pytest.approx(0.5 * before.features["rms"].iloc[0], rel=1e-3)


def test_interrupted_run_resumes_from_cache(tone_files: list[Path], bad_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    items = [tone_files[0], tone_files[1], bad_file, tone_files[2], tone_files[3]]
    with pytest.raises(TooManyFailuresError, match="1 of 5 items failed") as info:
        extract_features(items, CountingSet(), cache_dir=cache, progress=False)
    assert CountingSet.calls == 2  # stopped at the bad file
    assert list(info.value.failures["file"]) == [str(bad_file)]  # type: ignore[attr-defined]
    # the input is repaired and the run repeated: only the three missing items are computed
    shutil.copy(tone_files[4], bad_file)
    res = extract_features(items, CountingSet(), cache_dir=cache, progress=False)
    assert CountingSet.calls == 2 + 3 and res.n_cached == 2
    assert len(res.features) == 5 and res.failures.empty


def test_bad_files_are_listed_and_threshold_applies(tone_files: list[Path], bad_file: Path, tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    import soundfile as sf

    sf.write(silent, np.zeros(16_000, np.float32), 16_000)
    missing = tmp_path / "missing.wav"
    items = [*tone_files, bad_file, silent, missing]
    res = extract_features(items, CountingSet(), max_failure_fraction=0.5, progress=False)
    assert len(res.features) == 5
    assert list(res.failures["file"]) == [str(bad_file), str(silent), str(missing)]
    assert set(res.failures.columns) == {"file", "start", "end", "error", "reason"}
    assert (res.failures["error"] == "AudioError").all()
    assert res.failure_fraction == pytest.approx(3 / 8)
    with pytest.raises(TooManyFailuresError, match="allowed 25.0%"):
        extract_features(items, CountingSet(), max_failure_fraction=0.25, progress=False)


def test_preprocessing_is_applied_and_validated(tone_files: list[Path]) -> None:
    plain = extract_features(tone_files[:1], CountingSet(), progress=False).features
    peak = extract_features(tone_files[:1], CountingSet(), preprocess={"normalize": "peak", "peak_db": -6.0},
                            progress=False).features  # fmt: skip
    assert peak["rms"].iloc[0] > plain["rms"].iloc[0]  # the tone peaks at 0.3 < -6 dBFS
    with pytest.raises(ConfigError, match="keep_speech"):
        PreprocessSettings.parse({"keep_speech": True})
    with pytest.raises(ConfigError, match="normalise"):
        PreprocessSettings.parse({"normalise": "peak"})
    with pytest.raises(ConfigError, match="normalize"):
        PreprocessSettings.parse({"normalize": "rms"})


def test_vad_trim_shortens_padded_speech(speech_files: list[Path], tmp_path: Path) -> None:
    import soundfile as sf

    from vocalmind.audio import load

    y = load(speech_files[0])
    padded = tmp_path / "padded.wav"
    sf.write(padded, np.concatenate([np.zeros(16_000, np.float32), y, np.zeros(16_000, np.float32)]), 16_000)
    plain = extract_features([padded], CountingSet(), progress=False).features["seconds"].iloc[0]
    trimmed = extract_features([padded], CountingSet(), preprocess={"vad_trim": "webrtc"},
                               progress=False).features["seconds"].iloc[0]  # fmt: skip
    assert trimmed < plain - 1.0


def test_duplicate_items_and_bad_threshold_are_rejected(tone_files: list[Path]) -> None:
    with pytest.raises(ManifestError, match="duplicate"):
        extract_features([tone_files[0], tone_files[0]], CountingSet(), progress=False)
    with pytest.raises(ConfigError, match="max_failure_fraction"):
        extract_features(tone_files, CountingSet(), max_failure_fraction=1.5, progress=False)
