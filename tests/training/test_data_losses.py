"""Data pipeline rules (padding, chunking, silence), augmentation, split and losses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from vocalmind.errors import AudioError, ConfigError
from vocalmind.training.data import (
    SilentAudioError,
    augment_logmel,
    build_units,
    inner_split,
    segment_signal,
    split_params,
)
from vocalmind.training.losses import MultiTaskLoss, TaskSpec, balanced_class_weights


def tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _row(path) -> pd.DataFrame:
    return pd.DataFrame([{"file": str(path), "start": np.nan, "end": np.nan, "subject": "a"}])


def test_segment_rule() -> None:
    assert segment_signal(np.ones(25), 10).shape == (3, 10)
    assert segment_signal(np.ones(24), 10).shape == (2, 10)
    short = segment_signal(np.ones(3), 10)
    assert short.shape == (1, 10) and short[0, 3:].sum() == 0


def test_units_short_padded_long_chunked(tmp_path) -> None:
    short, long_ = tmp_path / "short.wav", tmp_path / "long.wav"
    sf.write(short, tone(300, 0.2), 16000)
    sf.write(long_, tone(300, 7.0), 16000)
    _, d = split_params("cnn_lstm", {"segment_s": 5.0})
    u = build_units(_row(short), "cnn_lstm", d)
    assert len(u.arrays) == 1 and u.arrays[0].shape == (40, 500)
    assert np.allclose(u.arrays[0][:, 30:], -1.0)  # padded tail is silence
    u = build_units(_row(long_), "cnn_lstm", d)
    assert len(u.arrays) == 1  # 2 s tail < half a segment: dropped
    _, d = split_params("melcnn", {"chunk_s": 3.0})
    u = build_units(_row(long_), "melcnn", d)
    assert len(u.arrays) == 3 and all(a.shape[:2] == (1, 128) for a in u.arrays)
    assert (u.item == 0).all()


def test_silence_raises_or_is_skipped(tmp_path) -> None:
    p = tmp_path / "silent.wav"
    sf.write(p, np.zeros(16000, dtype=np.float32), 16000)
    _, d = split_params("wavelet", {})
    with pytest.raises(SilentAudioError, match="all silence") as exc:
        build_units(_row(p), "wavelet", d)
    assert isinstance(exc.value, AudioError)
    u = build_units(pd.concat([_row(p), _row(p)]), "wavelet", d, on_error="skip")
    assert u.arrays == [] and set(u.skipped) == {0, 1} and "silence" in u.skipped[0]


def test_split_params_and_validation() -> None:
    model, data = split_params("melcnn", {"n_blocks": 4, "augment": False})
    assert model == {"n_blocks": 4, "n_mels": 128} and data["augment"] is False
    with pytest.raises(ConfigError, match="segment_s"):
        split_params("wavelet", {"segment_s": 0})


def test_augmentation_changes_input_keeps_shape() -> None:
    x = torch.linspace(-1, 1, 128).repeat(60, 1).T[None].contiguous()
    g = torch.Generator().manual_seed(1)
    outs = [augment_logmel(x, generator=g, p=1.0) for _ in range(3)]
    assert all(o.shape == x.shape for o in outs)
    assert not torch.allclose(outs[0], x)
    y = augment_logmel(x, generator=g, p=0.0)
    assert torch.equal(y, x)


def test_inner_split_groups_and_stratifies() -> None:
    groups = np.repeat([f"s{i}" for i in range(20)], 3)
    y = np.repeat(np.arange(20) % 2, 3).astype(float)
    tr, va = inner_split(groups, y=y, val_fraction=0.2, seed=3)
    assert not set(groups[tr]) & set(groups[va])
    assert set(y[va]) == {0.0, 1.0}
    tr, va = inner_split(np.array(["a", "a"]), val_fraction=0.2)
    assert len(va) == 0


def test_loss_masks_missing_labels() -> None:
    tasks = [TaskSpec("a", "classification", 2), TaskSpec("b", "regression")]
    loss = MultiTaskLoss(tasks)
    out = {"a": torch.tensor([[2.0, 0.0], [0.0, 2.0]]), "b": torch.tensor([[1.0], [100.0]])}
    y = torch.tensor([[0.0, 0.0], [float("nan"), float("nan")]])
    total, parts = loss(out, y)
    # the second example carries no label: its huge regression error must not count
    assert parts["b"] == pytest.approx(1.0)
    assert float(total) == pytest.approx(parts["a"] + 1.0, rel=1e-5)
    assert balanced_class_weights(np.array([0, 0, 0, 1.0]), 2).tolist() == pytest.approx(
        [2 / 3, 2.0])


def test_speaker_norm_standardises_each_speaker_on_its_own_frames(tmp_path) -> None:
    rows = []
    for spk, freq, amp in (("a", 300, 0.3), ("a", 600, 0.3), ("b", 2000, 0.05)):
        p = tmp_path / f"{spk}{freq}.wav"
        sf.write(p, amp * tone(freq, 0.6) / 0.3, 16000)
        rows.append({"file": str(p), "start": np.nan, "end": np.nan, "subject": spk})
    X = pd.DataFrame(rows)
    _, d = split_params("melcnn", {"speaker_norm": True, "n_mels": 32})
    u = build_units(X, "melcnn", d)
    a = np.concatenate([u.arrays[0][0], u.arrays[1][0]], axis=1)
    b = u.arrays[2][0]
    for frames in (a, b):  # per speaker and mel bin: mean 0, std 1 (or a constant bin)
        assert np.allclose(frames.mean(axis=1), 0, atol=1e-4)
        assert np.all((np.abs(frames.std(axis=1) - 1) < 1e-3) | (frames.std(axis=1) < 1e-3))
    # the same rows without the option keep the (dB + 40) / 40 scale
    _, d0 = split_params("melcnn", {"n_mels": 32})
    assert build_units(X, "melcnn", d0).arrays[0].max() == pytest.approx(1.0)
    # a speaker's statistics never use another speaker's rows
    only_b = build_units(X.iloc[[2]], "melcnn", d)
    assert np.allclose(only_b.arrays[0], u.arrays[2])


def test_row_cache_decodes_each_row_once_across_fits(tmp_path, monkeypatch) -> None:
    from vocalmind.training import data as data_mod

    p = tmp_path / "x.wav"
    sf.write(p, tone(300, 0.6), 16000)
    calls = []
    real = data_mod.load_row
    monkeypatch.setattr(data_mod, "load_row", lambda row: calls.append(1) or real(row))
    _, d = split_params("wavelet", {"segment_s": 0.5})
    first = build_units(_row(p), "wavelet", d)
    again = build_units(_row(p), "wavelet", d)  # a later fold / fit: no decoding
    build_units(_row(p), "wavelet", {**d, "segment_s": 0.25})  # other settings: new entry
    assert len(calls) == 2 and np.array_equal(first.arrays[0], again.arrays[0])
    with data_mod.cached_rows():  # the old context still works (a no-op now)
        build_units(_row(p), "wavelet", d)
    assert len(calls) == 2
    # augmentation-only settings share the entry; speaker_norm too
    build_units(_row(p), "wavelet", {**d, "speed_perturb": (0.9,)})
    assert len(calls) == 2
    # a rewritten file (other size and time) is read again
    sf.write(p, tone(300, 0.9), 16000)
    third = build_units(_row(p), "wavelet", d)
    assert len(calls) == 3 and len(third.arrays) == 2
    st = data_mod.row_cache_stats()
    assert st["misses"] == 3 and st["hits"] >= 3 and st["bytes"] > 0


def test_row_cache_is_bounded_and_can_be_off(tmp_path, monkeypatch) -> None:
    from vocalmind.training import data as data_mod

    paths = []
    for i in range(3):
        p = tmp_path / f"x{i}.wav"
        sf.write(p, tone(300 + 50 * i, 1.0), 16000)
        paths.append(p)
    _, d = split_params("wavelet", {"segment_s": 1.0})
    one = 16000 * 4 / 2**20  # MB of one 1 s float32 unit
    monkeypatch.setattr(data_mod, "ROW_CACHE_MB", 2.5 * one)
    for p in paths:
        build_units(_row(p), "wavelet", d)
    st = data_mod.row_cache_stats()
    assert st["entries"] == 2 and st["bytes"] <= 2.5 * one * 2**20  # oldest evicted
    monkeypatch.setattr(data_mod, "ROW_CACHE_MB", 0)
    data_mod.clear_row_cache()
    build_units(_row(paths[0]), "wavelet", d)
    assert data_mod.row_cache_stats()["entries"] == 0


@pytest.mark.parametrize(("n", "n_mels", "n_fft", "hop"),
                         [(48000, 40, 400, 160), (33333, 128, 1024, 256), (300, 40, 400, 160)])
def test_fast_logmel_matches_librosa(n, n_mels, n_fft, hop) -> None:
    import warnings

    from vocalmind.features.logmel import logmel
    from vocalmind.training.data import logmel_db

    rng = np.random.default_rng(n)
    y = (0.3 * rng.standard_normal(n) * np.hanning(n)).astype(np.float32)
    fast = logmel_db(y, n_mels=n_mels, n_fft=n_fft, hop_length=hop)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa: n_fft larger than a short signal
        ref = logmel(y, n_mels=n_mels, n_fft=n_fft, hop_length=hop)
    ref = np.maximum(ref - ref.max(), -80.0)
    assert fast.shape == ref.shape and fast.dtype == np.float32
    assert np.abs(fast - ref).max() < 1e-3
