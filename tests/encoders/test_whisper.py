"""Whisper encoder: front end, loaders for every on-disk format, windows, packaged weights."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from _signals import voiced_tone
from vocalmind.encoders import weights as W
from vocalmind.encoders.whisper import (
    load_whisper_encoder,
    whisper_log_mel,
)
from vocalmind.errors import EncoderWeightsError, FeatureError


def _signal(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    y = voiced_tone(180, seed=seed, loud=0.4)
    reps = int(np.ceil(seconds * 16_000 / len(y)))
    return np.tile(y, reps)[: int(seconds * 16_000)].astype(np.float32)


def test_front_end_matches_transformers_feature_extractor() -> None:
    from transformers import WhisperFeatureExtractor

    y = _signal(3.0)
    ref = WhisperFeatureExtractor(feature_size=80)(y, sampling_rate=16_000,
                                                    return_tensors="np").input_features[0]
    mine = whisper_log_mel(y, pad_30s=True).numpy()
    assert mine.shape == ref.shape == (80, 3000)
    assert np.abs(mine - ref).max() < 2e-4
    short = whisper_log_mel(y)  # no padding: 10 ms frames of the clip itself
    assert short.shape == (80, len(y) // 160)
    with pytest.raises(FeatureError, match="at least 160 samples"):
        whisper_log_mel(np.zeros(100, np.float32))


@pytest.mark.parametrize("fmt", ["hf", "ct2", "ct2_fp16", "openai"])
def test_every_format_gives_the_reference_encoder(fmt: str, tiny_whisper_dirs: dict) -> None:
    from transformers import WhisperModel

    ref = WhisperModel.from_pretrained(str(tiny_whisper_dirs["hf"]), local_files_only=True).eval()
    mel = whisper_log_mel(_signal(2.0), pad_30s=True)[None]
    with torch.no_grad():
        expected = ref.encoder(mel).last_hidden_state
    model = load_whisper_encoder(tiny_whisper_dirs[fmt])
    states = model(mel)
    assert len(states) == 1 + model.n_layers == 3
    tol = 2e-2 if fmt == "ct2_fp16" else 1e-5  # fp16 storage rounds the weights
    err = (states[-1] - expected).abs().max() / expected.abs().max()
    assert err < tol, f"{fmt}: relative error {float(err):.2e}"
    assert model.weights_sha256 and len(model.weights_sha256) == 64


def test_openai_checkpoint_without_stored_positions(tiny_whisper_dirs: dict, tmp_path: Path) -> None:
    from _tiny_models import tiny_hf_whisper, write_openai

    hf = tiny_hf_whisper()
    with torch.no_grad():  # OpenAI's fixed sinusoids, which the loader rebuilds
        from vocalmind.encoders.whisper import _sinusoids

        hf.encoder.embed_positions.weight.copy_(_sinusoids(1500, 16))
    path = write_openai(tmp_path / "nopos.pt", hf.encoder, with_positions=False)
    mel = whisper_log_mel(_signal(1.0), pad_30s=True)[None]
    with torch.no_grad():
        expected = hf.encoder(mel).last_hidden_state
    got = load_whisper_encoder(path)(mel)[-1]
    assert torch.allclose(got, expected, atol=1e-4)


def test_long_recordings_are_encoded_in_30_s_windows(tiny_whisper_dirs: dict) -> None:
    model = load_whisper_encoder(tiny_whisper_dirs["hf"])
    y = _signal(65.0)
    frames = model.encode_signal(y, layers=[1, 2])
    # 30 s + 30 s + 5 s windows: 1500 + 1500 + 250 positions of 20 ms
    assert [f.shape for f in frames] == [(3250, 16), (3250, 16)]
    first = model.encode_signal(y[: 30 * 16_000], layers=[2])[0]
    np.testing.assert_allclose(frames[1][:1500], first, atol=1e-5)
    with pytest.raises(FeatureError):
        model.encode_signal(np.zeros(50, np.float32), layers=[1])
    with pytest.raises(FeatureError, match="does not exist"):
        model(whisper_log_mel(y[:16000])[None], up_to=5)


def test_bad_sources_name_the_accepted_formats(tmp_path: Path, tiny_whisper_dirs: dict) -> None:
    with pytest.raises(EncoderWeightsError, match="CTranslate2.*transformers.*OpenAI"):
        load_whisper_encoder(tmp_path)
    bad = tmp_path / "broken"
    shutil.copytree(tiny_whisper_dirs["ct2"], bad)
    data = (bad / "model.bin").read_bytes()
    (bad / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(EncoderWeightsError, match="truncated"):
        load_whisper_encoder(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(EncoderWeightsError, match="not a readable"):
        load_whisper_encoder(junk)


def test_missing_package_and_altered_weights_are_refused(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setattr(W, "_module_dir", lambda module: None)
    with pytest.raises(EncoderWeightsError, match=r"vocalmind\[encoders\]"):
        load_whisper_encoder("base")
    monkeypatch.undo()
    # a package whose file is not the pinned bytes
    fake = tmp_path / "pkg"
    (fake / "model").mkdir(parents=True)
    (fake / "model" / "model.bin").write_bytes(b"\x06\x00\x00\x00tampered")
    monkeypatch.setattr(W, "_module_dir", lambda module: fake)
    with pytest.raises(EncoderWeightsError, match="sha256.*altered"):
        W.packaged_weights("tiny.en")
    with pytest.raises(EncoderWeightsError, match="known"):
        W.packaged_weights("large-v9")


def test_multipart_reader_reads_parts_as_one_stream(tmp_path: Path) -> None:
    parts = []
    for i, chunk in enumerate([b"abc", b"", b"defgh", b"ij"]):
        parts.append(tmp_path / f"p{i}")
        parts[-1].write_bytes(chunk)
    with W.MultiPartReader(parts) as r:
        assert r.read(4) == b"abcd"
        r.seek(2, 1)
        assert r.read() == b"ghij"
        r.seek(-3, 2)
        assert r.read(2) == b"hi"
    import hashlib

    assert W.sha256_files(parts) == hashlib.sha256(b"abcdefghij").hexdigest()


_HAVE = {name: all(importlib.util.find_spec(m) is not None for m, _ in w.parts)
         for name, w in W.PACKAGED.items()}


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_packaged_weights_match_ctranslate2_own_encoder(name: str, tmp_path: Path) -> None:
    if not _HAVE[name]:
        pytest.skip(f"weights {name!r} not installed (make setup installs them)")
    ct2 = pytest.importorskip("ctranslate2")
    parts, config = W.packaged_weights(name)
    folder = tmp_path / name
    folder.mkdir()
    with open(folder / "model.bin", "wb") as out:  # CTranslate2 reads one joined file
        for p in parts:
            out.write(p.read_bytes())
    for extra in ("config.json", "vocabulary.txt", "tokenizer.json"):
        if (config.parent / extra).is_file():
            shutil.copy(config.parent / extra, folder)
    y = _signal(4.0, seed=3) + 0.01 * np.random.default_rng(0).standard_normal(64000).astype(
        np.float32)
    mel = whisper_log_mel(y, pad_30s=True)[None]
    ref = np.array(ct2.models.Whisper(str(folder), device="cpu", compute_type="float32").encode(
        ct2.StorageView.from_array(mel.numpy().copy())))
    model = load_whisper_encoder(name)
    mine = model(mel)[-1].numpy()
    assert mine.shape == ref.shape
    rel = np.linalg.norm(mine - ref) / np.linalg.norm(ref)
    assert rel <= 1e-4, f"{name}: relative error {rel:.2e} against CTranslate2"
    assert model.weights_sha256 == W.PACKAGED[name].sha256
    assert model.n_layers == {"tiny.en": 4, "base": 6}[name]
