"""ssl_attention's per-speaker normalisation of frozen encoder states (``speaker_norm``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from vocalmind.errors import ConfigError, SpeakerError
from vocalmind.models import build_model
from vocalmind.models.ssl_attention import _valid_frames
from vocalmind.training.estimator import DeepEstimator


@pytest.fixture(scope="module")
def encoder(tiny_wav2vec2: str) -> str:
    return tiny_wav2vec2


def _model(encoder: str, **kw) -> torch.nn.Module:
    return build_model("ssl_attention", heads={"y": 2}, encoder_path=encoder, layers="weighted",
                       cnn_channels=(), pooling="mean_std", lstm_hidden=8, speaker_norm=True,
                       speaker_norm_min_segments=2, normalize_input=False, **kw).eval()


def _speaker(seed: int, gain: float, freq: float, n: int = 4) -> torch.Tensor:
    """``n`` segments of 0.25 s: a speaker-specific tone and level plus noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(4000) / 16000
    return torch.stack([gain * torch.sin(2 * np.pi * (freq + 20 * k) * t)
                        + 0.05 * torch.randn(4000, generator=g) for k in range(n)])


def _normalised(m: torch.nn.Module, seg: torch.Tensor) -> torch.Tensor:
    keys = m._segment_keys(seg)
    return m._speaker_normalise(m._frozen_states(seg, keys), keys)  # (L, n, frames, hidden)


def test_speaker_offsets_vanish(encoder: str) -> None:
    m = _model(encoder)
    a, b = _speaker(0, 0.1, 200.0), _speaker(1, 0.8, 900.0)
    raw_a, raw_b = m._frozen_states(a), m._frozen_states(b)
    # the two speakers' raw states differ by a clear per-dimension offset ...
    offset = (raw_a.mean(dim=(1, 2)) - raw_b.mean(dim=(1, 2))).abs().amax()
    assert offset > 0.1
    m.set_speakers([a[:2], a[2:], b], ["A", "A", "B"])  # a speaker may span several units
    for seg in (a, b):
        h = _normalised(m, seg).double()
        # ... which the normalisation removes: every speaker is mean 0, std 1 per dimension
        assert h.mean(dim=(1, 2)).abs().amax() < 1e-3
        sd = h.std(dim=(1, 2), unbiased=False)
        assert ((sd - 1).abs() < 1e-2).all()
    out = m(torch.stack([a, b]))["y"]
    assert out.shape == (2, 2) and torch.isfinite(out).all()


def test_statistics_leave_out_tail_padding(encoder: str) -> None:
    seg = torch.ones(2, 1000)
    seg[1, 600:] = 0  # a tail segment: 600 samples of audio, then padding
    v = _valid_frames(seg, 10)
    assert v[0].all() and v[1].tolist() == [True] * 6 + [False] * 4
    m = _model(encoder)
    a = _speaker(0, 0.3, 300.0)
    padded = a.clone()
    padded[:, 2000:] = 0
    m.set_speakers([a], ["A"])
    m2 = _model(encoder)
    m2.set_speakers([padded], ["A"])
    # the padded frames (zeros) would pull the mean towards the encoder's silence state
    full = m2._frozen_states(padded)
    valid = _valid_frames(padded, full.shape[2])
    mean_valid = (full * valid[None, :, :, None]).sum(dim=(1, 2)) / valid.sum()
    assert torch.allclose(m2._speaker_stats["A"][0], mean_valid, atol=1e-4)
    assert not torch.allclose(m2._speaker_stats["A"][0], full.mean(dim=(1, 2)), atol=1e-3)


def test_refusals(encoder: str) -> None:
    m = _model(encoder)
    with pytest.raises(SpeakerError, match="fewer than 2 segments"):
        m.set_speakers([_speaker(0, 0.3, 300.0, n=1)], ["A"])
    with pytest.raises(SpeakerError, match="no known speaker"):
        m(_speaker(3, 0.3, 300.0)[None])
    with pytest.raises(ConfigError, match="freeze=.frozen."):  # build_model wraps it
        _model(encoder, freeze="last")


# ------------------------------------------------------------------------------ estimator

PARAMS = {"segment_s": 0.25, "cnn_channels": (), "pooling": "mean_std", "lstm_hidden": 8,
          "layers": "weighted", "speaker_norm": True, "speaker_norm_min_segments": 6}  # 5 segments a clip


def _fit(clips: pd.DataFrame, y: pd.Series, encoder: str, **kw) -> DeepEstimator:
    return DeepEstimator("ssl_attention", "classification",
                         params={"encoder_path": encoder, **PARAMS}, epochs=2, batch_size=4,
                         n_threads=1, seed=0, progress=False, patience=0, **kw).fit(clips, y)


def test_estimator_statistics_use_no_labels(clips: pd.DataFrame, encoder: str) -> None:
    est = _fit(clips, clips["label"], encoder)
    flipped = clips["label"].map({"lo": "hi", "hi": "lo"})
    other = _fit(clips, flipped.sample(frac=1, random_state=1).to_numpy(), encoder)
    stats, stats2 = est.model_._speaker_stats, other.model_._speaker_stats
    assert sorted(stats) == sorted(clips["subject"].unique())
    for spk in stats:
        assert all(torch.equal(x, y) for x, y in zip(stats[spk], stats2[spk], strict=True))


def test_predict_uses_the_new_speakers_own_statistics(clips: pd.DataFrame, encoder: str,
                                                      tmp_path) -> None:
    train, test = clips[clips["subject"] != "s5"], clips[clips["subject"] == "s5"]
    est = _fit(train, train["label"], encoder, refit=True)
    assert "s5" not in est.model_._speaker_stats
    proba = est.predict_proba(test)
    assert proba.shape == (2, 2) and np.isfinite(proba).all()
    # the statistics are s5's, from s5's recordings alone ...
    from vocalmind.training.data import build_units

    ref = build_model("ssl_attention", heads={"y": 2}, **est.model_params_)

    u = build_units(test, "ssl_attention", est.data_params_)
    ref.set_speakers(u.arrays, ["s5"] * len(u.arrays))
    for x, y in zip(est.model_._speaker_stats["s5"], ref._speaker_stats["s5"], strict=True):
        assert torch.allclose(x, y)
    # ... other speakers in the same table do not change them or the predictions
    assert np.allclose(est.predict_proba(clips)[-2:], proba, atol=1e-6)
    # and they are used: s5 read with s0's statistics is predicted differently
    est.model_._speaker_stats["s5"] = est.model_._speaker_stats["s0"]
    with torch.no_grad():
        seq = torch.from_numpy(u.arrays[0])
        k = est.model_._segment_keys(seq)
        a = est.model_._speaker_normalise(est.model_._frozen_states(seq, k), k)
        est.model_._speaker_stats["s5"] = ref._speaker_stats["s5"]
        b = est.model_._speaker_normalise(est.model_._frozen_states(seq, k), k)
    assert not torch.allclose(a, b, atol=1e-3)
    # a saved model recomputes the statistics from the rows it is given
    est.save(tmp_path / "m.pt")
    back = DeepEstimator.load(tmp_path / "m.pt")
    assert np.allclose(back.predict_proba(test), proba, atol=1e-6)


def test_estimator_refusals(clips: pd.DataFrame, encoder: str) -> None:
    est = _fit(clips, clips["label"], encoder)
    with pytest.raises(ConfigError, match="'subject' column"):
        est.predict_proba(clips.drop(columns="subject"))
    with pytest.raises(SpeakerError, match="fewer than 6 segments"):
        est.predict_proba(clips.iloc[:1])
