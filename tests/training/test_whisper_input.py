"""Whisper encoder frames as the input of melcnn and cnn_lstm (a tiny random Whisper in a
temporary transformers folder; nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vocalmind.errors import ConfigError
from vocalmind.training.data import build_units, row_cache_stats, split_params
from vocalmind.training.estimator import DeepEstimator

D_MODEL = 16
TINY = dict(d_model=D_MODEL, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
            num_mel_bins=80, max_source_positions=1500, decoder_layers=1,
            decoder_attention_heads=2, decoder_ffn_dim=32)


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-whisper")
    WhisperModel(WhisperConfig(**TINY)).eval().save_pretrained(folder)
    return folder


def _params(folder: Path, **kw) -> dict:
    return {"input": "whisper", "whisper_model": str(folder), "whisper_layer": 1, **kw}


def test_units_are_encoder_frames_at_20_ms(clips: pd.DataFrame, whisper_dir: Path) -> None:
    from vocalmind.encoders.whisper import load_whisper_encoder
    from vocalmind.training.data import load_row

    _, d = split_params("melcnn", _params(whisper_dir))
    u = build_units(clips.iloc[:2], "melcnn", d)
    assert u.arrays[0].shape == (1, D_MODEL, 60)  # 1.2 s / 20 ms, whole clip, channel axis
    enc = load_whisper_encoder(str(whisper_dir))
    want = enc.encode_signal(load_row(clips.iloc[0]), layers=[1])[0].T
    assert np.allclose(u.arrays[0][0], want, atol=1e-5)
    other = build_units(clips.iloc[:1], "melcnn", {**d, "whisper_layer": 2})
    assert not np.allclose(other.arrays[0], u.arrays[0])  # the layer is part of the key
    # cnn_lstm: segments of segment_s at 50 positions per second (tail rule as for audio)
    _, d2 = split_params("cnn_lstm", _params(whisper_dir, segment_s=0.5))
    u2 = build_units(clips.iloc[:1], "cnn_lstm", d2)
    assert [a.shape for a in u2.arrays] == [(D_MODEL, 25)] * 2  # 60 positions: 2 x 25, tail 10 dropped
    assert np.allclose(u2.arrays[1], u.arrays[0][0][:, 25:50], atol=1e-5)


def test_whisper_frames_are_computed_once(clips: pd.DataFrame, whisper_dir: Path,
                                          monkeypatch) -> None:
    from vocalmind.encoders import whisper as wmod

    calls: list[int] = []
    real = wmod.WhisperFeatureEncoder.encode_signal

    def spy(self, y, **kw):
        calls.append(len(y))
        return real(self, y, **kw)

    monkeypatch.setattr(wmod.WhisperFeatureEncoder, "encode_signal", spy)
    _, d = split_params("cnn_lstm", _params(whisper_dir, segment_s=0.5))
    build_units(clips, "cnn_lstm", d)
    build_units(clips, "cnn_lstm", {**d, "augment": True, "time_masks": 2})  # same units
    assert len(calls) == len(clips) and row_cache_stats()["hits"] == len(clips)


@pytest.mark.parametrize(("family", "extra"), [
    ("melcnn", {"base_channels": 4}),
    ("cnn_lstm", {"segment_s": 0.5, "channels": 8, "lstm_hidden": 8, "n_res_blocks": 1,
                  "freq_masks": 1, "time_masks": 1, "augment": True}),
])
def test_families_train_on_whisper_frames(clips: pd.DataFrame, whisper_dir: Path, tmp_path,
                                          family: str, extra: dict) -> None:
    est = DeepEstimator(family, params=_params(whisper_dir, **extra), epochs=2, batch_size=4,
                        n_threads=1, patience=0, progress=False, run_dir=tmp_path / "r")
    est.fit(clips, clips["label"])
    assert est.model_params_["n_mels"] == D_MODEL  # the model reads the encoder width
    proba = est.predict_proba(clips)
    assert proba.shape == (12, 2) and np.allclose(proba.sum(1), 1)
    back = DeepEstimator.load(tmp_path / "r" / "model.pt")
    assert np.allclose(back.predict_proba(clips), proba, atol=1e-6)


def test_bad_whisper_settings(clips: pd.DataFrame, whisper_dir: Path) -> None:
    with pytest.raises(ConfigError, match="input"):
        split_params("cnn_lstm", {"input": "wav2vec"})
    _, d = split_params("cnn_lstm", _params(whisper_dir, whisper_layer=7))
    with pytest.raises(ConfigError, match="whisper_layer"):
        build_units(clips.iloc[:1], "cnn_lstm", d)
    # the wavelet family has no input setting: it always reads raw audio
    model, data = split_params("wavelet", {"input": "whisper"})
    assert "input" not in data and model["input"] == "whisper"


# ------------------------------------------------------------------ distillation


def test_teacher_is_out_of_fold_by_subject(clips: pd.DataFrame, whisper_dir: Path,
                                           monkeypatch) -> None:
    from sklearn.model_selection import StratifiedGroupKFold

    from vocalmind.training.distill import check_distill, teacher_probabilities

    seen: list[tuple[set, set]] = []
    real = StratifiedGroupKFold.split

    def spy(self, X, y=None, groups=None):
        for tr, te in real(self, X, y, groups):
            seen.append((set(np.asarray(groups)[tr]), set(np.asarray(groups)[te])))
            yield tr, te

    monkeypatch.setattr(StratifiedGroupKFold, "split", spy)
    y = (clips["label"] == "hi").astype(float).to_numpy()
    settings = check_distill({"whisper_model": str(whisper_dir), "whisper_layer": 1,
                              "inner_splits": 3})
    p = teacher_probabilities(clips, y, clips["subject"].to_numpy(), n_classes=2,
                              settings=settings)
    assert p.shape == (12, 2) and np.allclose(p.sum(1), 1)
    assert len(seen) == 3
    for tr_subjects, te_subjects in seen:  # a row's own subject never teaches it
        assert te_subjects and not (tr_subjects & te_subjects)
    assert set().union(*(te for _, te in seen)) == set(clips["subject"])


def test_distillation_loss_and_estimator(clips: pd.DataFrame, whisper_dir: Path,
                                         monkeypatch) -> None:
    from vocalmind.training import distill as distill_mod
    from vocalmind.training.engine import _distilled

    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, 0.0]])
    onehot = torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2]))
    # weight 1, T = 1, one-hot teacher: the KL term is the cross-entropy
    assert float(_distilled(torch.tensor(9.0), logits, onehot, 1.0, 1.0)) == \
        pytest.approx(float(ce), rel=1e-5)
    assert float(_distilled(torch.tensor(9.0), logits, onehot, 0.25, 1.0)) == \
        pytest.approx(0.75 * 9 + 0.25 * float(ce), rel=1e-5)

    rows_seen: list[set] = []
    real = distill_mod.teacher_probabilities

    def spy(X, *a, **kw):
        rows_seen.append(set(X["subject"]))
        return real(X, *a, **kw)

    monkeypatch.setattr(distill_mod, "teacher_probabilities", spy)
    train = clips[clips["subject"] != "s5"]
    est = DeepEstimator("cnn_lstm", params={"segment_s": 0.5, "channels": 8, "lstm_hidden": 8,
                                            "n_res_blocks": 1},
                        epochs=2, batch_size=4, n_threads=1, patience=0, progress=False,
                        distill={"whisper_model": str(whisper_dir), "whisper_layer": 1,
                                 "inner_splits": 2, "weight": 0.5})
    est.fit(train, train["label"])
    assert rows_seen == [set(train["subject"])]  # the held-out subject never informs it
    assert est.teacher_proba_.shape == (10, 2)
    assert all(np.isfinite(h["train_loss"]) for h in est.history_)
    assert est.predict(clips[clips["subject"] == "s5"]).shape == (2,)
    with pytest.raises(ConfigError, match="distill"):
        DeepEstimator("cnn_lstm", distill={"wieght": 1}).fit(train, train["label"])
