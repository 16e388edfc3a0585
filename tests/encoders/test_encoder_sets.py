"""The ``whisper``, ``speaker`` and ``fusion`` feature sets in the extraction engine, the
fusion classifier, and a whisper model from experiment run to ``vocalmind assess``."""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from _signals import SR, voiced_tone
from vocalmind.errors import ConfigError, EncoderWeightsError
from vocalmind.features import extract_features, get_feature_set


def _write(tmp_path: Path, name: str, seconds: float, f0: float = 150.0) -> Path:
    y = voiced_tone(f0, seed=int(f0), loud=0.4)
    y = np.tile(y, int(np.ceil(seconds * SR / len(y))))[: int(seconds * SR)]
    path = tmp_path / name
    sf.write(path, y, SR)
    return path


def test_whisper_set_table_shape_index_and_cache(tiny_whisper_dirs: dict, tmp_path: Path) -> None:
    fs = get_feature_set("whisper", model=str(tiny_whisper_dirs["ct2"]), layers=[1, 2])
    assert len(fs.names()) == 2 * 2 * 16 and fs.names()[0] == "whisper_L1_mean_0"
    assert get_feature_set("whisper", model=str(tiny_whisper_dirs["ct2"])).layer_list == [1]
    a, b = _write(tmp_path, "a.wav", 3.0), _write(tmp_path, "b.wav", 1.0, 220)
    items = pd.DataFrame({"file": [str(a), str(a), str(b)], "start": [0.0, 1.5, np.nan],
                          "end": [1.5, 3.0, np.nan]})
    res = extract_features(items, fs, cache_dir=tmp_path / "cache", progress=False)
    assert res.features.shape == (3, 64)
    assert list(res.features.index.names) == ["file", "start", "end"]
    assert np.isfinite(res.features.to_numpy()).all()
    assert res.feature_set["weights_sha256"] == fs.model.weights_sha256
    again = extract_features(items, fs, cache_dir=tmp_path / "cache", progress=False)
    assert again.n_cached == 3
    np.testing.assert_array_equal(again.features.to_numpy(), res.features.to_numpy())
    # the two halves of a differ from each other and from b: the encoder sees the signal
    assert not np.allclose(res.features.iloc[0], res.features.iloc[2])
    # a pickled set (sent to a worker) carries no network, and reloads it lazily
    clone = pickle.loads(pickle.dumps(fs))
    assert "_model" not in clone.__dict__ and clone.names() == fs.names()


def test_whisper_set_in_worker_processes(tiny_whisper_dirs: dict, tmp_path: Path) -> None:
    fs = get_feature_set("whisper", model=str(tiny_whisper_dirs["hf"]), pooling="mean")
    files = [_write(tmp_path, f"{i}.wav", 1.0, 120 + 30 * i) for i in range(3)]
    serial = extract_features(files, fs, progress=False).features
    parallel = extract_features(files, fs, n_jobs=2, progress=False).features
    assert serial.shape == (3, 16)
    np.testing.assert_allclose(parallel.to_numpy(), serial.to_numpy(), rtol=1e-5, atol=1e-6)


def test_bad_whisper_params_are_config_errors(tiny_whisper_dirs: dict) -> None:
    with pytest.raises(ConfigError, match="pooling"):
        get_feature_set("whisper", pooling="max")
    with pytest.raises(ConfigError, match="out of range"):
        get_feature_set("whisper", model=str(tiny_whisper_dirs["hf"]), layers=[7]).names()
    with pytest.raises(EncoderWeightsError, match="no Whisper weights"):
        get_feature_set("whisper", model="/nowhere/at/all").names()


def test_speaker_set_shapes_and_normalised_embedding(tiny_ge2e: Path, tmp_path: Path) -> None:
    fs = get_feature_set("speaker", model=str(tiny_ge2e))
    assert len(fs.names()) == 768
    y = voiced_tone(140, seed=1, loud=0.3)
    out = fs.process_signal(np.tile(y, 3), SR)
    assert out.shape == (768,) and np.isfinite(out).all()
    assert abs(np.linalg.norm(out[:256]) - 1.0) < 1e-5
    only = get_feature_set("speaker", model=str(tiny_ge2e), parts="embedding")
    np.testing.assert_allclose(only.process_signal(np.tile(y, 3), SR), out[:256], atol=1e-6)
    with pytest.raises(ConfigError, match="parts"):
        get_feature_set("speaker", parts=["voice"])
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"x")
    with pytest.raises(EncoderWeightsError):
        get_feature_set("speaker", model=str(junk)).process_signal(np.tile(y, 3), SR)


@pytest.mark.skipif(importlib.util.find_spec("resemblyzer") is None,
                    reason="resemblyzer weights not installed (make setup installs them)")
def test_packaged_speaker_encoder_tells_voices_apart() -> None:
    import torch

    torch.set_num_threads(1)
    fs = get_feature_set("speaker", parts="embedding")
    low = [fs.process_signal(np.tile(voiced_tone(95, seed=s, loud=0.3), 4), SR) for s in (1, 2)]
    high = fs.process_signal(np.tile(voiced_tone(260, seed=3, loud=0.3), 4), SR)
    assert fs.weights()[0]["sha256"].startswith("39373b86")
    assert float(low[0] @ low[1]) > float(low[0] @ high)


def test_fusion_set_prefixes_blocks(tiny_whisper_dirs: dict, tiny_ge2e: Path) -> None:
    fs = get_feature_set("fusion", sets=[
        {"set": "whisper", "params": {"model": str(tiny_whisper_dirs["hf"])}},
        {"set": "speaker", "params": {"model": str(tiny_ge2e), "parts": "embedding"}},
        "egemaps"])
    assert [w["name"] for w in fs.weights()] == ["hf", "ge2e-random"]
    assert "sets" in fs.settings()
    assert "_model" not in fs.parts[0].__dict__  # settings and weights need no network
    names = fs.names()
    assert len(names) == 32 + 256 + 88 and len(set(names)) == len(names)
    assert names[0] == "whisper_L1_mean_0" and names[32] == "speaker_emb_0"
    assert all(n.startswith("egemaps_") for n in names[288:])
    y = np.tile(voiced_tone(150, seed=2, loud=0.4), 2)
    assert fs.process_signal(y, SR).shape == (len(names),)
    with pytest.raises(ConfigError, match="at least two"):
        get_feature_set("fusion", sets=["egemaps"])
    with pytest.raises(ConfigError, match="each part"):
        get_feature_set("fusion", sets=[{"name": "egemaps"}, "compare"])


def test_fusion_classifier_modes_and_blocks() -> None:
    from vocalmind.models.classical import FusionClassifier, make_classical

    rng = np.random.default_rng(0)
    n = 60
    y = np.array(["a", "b", "c"] * (n // 3))
    X = pd.DataFrame(rng.normal(size=(n, 6)),
                     columns=["w_L2_0", "w_L2_1", "w_L3_0", "w_L3_1", "s_0", "s_1"])
    X.loc[y == "b", "w_L3_0"] += 4
    X.loc[y == "c", "s_0"] += 4
    # each block tells one class apart, so one block alone gets about 2/3 right
    alone = FusionClassifier(blocks=["s"]).fit(X, y)
    assert (alone.predict(X) == y).mean() < 0.8
    for mode in ("concat", "late"):
        clf = FusionClassifier(blocks=["w_L3", "s"], mode=mode).fit(X, y)
        assert (clf.predict(X) == y).mean() >= 0.9  # both blocks used
        p = clf.predict_proba(X)
        assert p.shape == (n, 3) and np.allclose(p.sum(1), 1)
    only_l2 = FusionClassifier(blocks=["w_L2"]).fit(X, y)
    assert only_l2.block_columns_ == {"w_L2": ["w_L2_0", "w_L2_1"]}
    assert (only_l2.predict(X) == y).mean() < 0.8  # the informative blocks were left out
    with pytest.raises(ConfigError, match="no feature column"):
        FusionClassifier(blocks=["nothing"]).fit(X, y)
    with pytest.raises(ConfigError, match="mode"):
        FusionClassifier(mode="stacked").fit(X, y)
    pipe = make_classical("fusion", params={"blocks": ["w_L3", "s"], "mode": "late"})
    assert (pipe.fit(X, y).predict(X) == y).mean() > 0.9  # names survive impute + scale


def test_whisper_model_from_run_folder_to_assess(tiny_whisper_dirs: dict, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    from vocalmind.config import load_config
    from vocalmind.corpora import make_manifest, write_manifest
    from vocalmind.experiment import run_experiment

    rows = []
    for s in range(4):
        for cls, f0 in (("low", 110 + 10 * s), ("high", 260 + 10 * s)):
            for r in range(2):
                p = _write(tmp_path, f"s{s}_{cls}_{r}.wav", 1.0, f0 * (1 + 0.02 * r))
                rows.append({"file": str(p), "subject": f"S{s}", "emotion": cls})
    manifest = write_manifest(make_manifest(rows), tmp_path / "m.csv")
    import shutil

    model_dir = str(shutil.copytree(tiny_whisper_dirs["ct2"], tmp_path / "ct2"))
    cfg = load_config(raw={
        "name": "w", "jobs": 1, "corpus": {"manifest": str(manifest)},
        "task": {"label": "emotion"},
        "features": {"set": "whisper", "params": {"model": model_dir, "layers": [1, 2]},
                     "cache_dir": None, "jobs": 1},
        "model": {"name": "fusion", "tune": {"grid": {"blocks": [["whisper_L1_"], ["whisper_L2_"]],
                                                      "C": [0.1, 1.0]}, "inner_splits": 2}},
        "protocol": {"name": "loso"}, "evaluation": {"n_boot": 50}})
    res = run_experiment(cfg, out=tmp_path / "run")
    recipe = json.loads((res.run_dir / "model" / "recipe.json").read_text())
    assert recipe["encoder_weights"] == [{"name": "ct2", "sha256": load_sha(model_dir)}]
    assert {r["model__blocks"][0] for r in res.metrics["tuned_params_per_fold"]} <= {
        "whisper_L1_", "whisper_L2_"}

    from typer.testing import CliRunner

    from vocalmind.cli import app

    clip = _write(tmp_path, "new.wav", 1.0, 270)
    out = CliRunner().invoke(app, ["assess", str(clip), "--model", str(res.run_dir), "--json"])
    assert out.exit_code == 0, out.output
    assert '"prediction"' in out.output

    # the service scores with it unchanged (registration card, integrity check, assess)
    from vocalmind.service.assessing import compute_assessment, model_card

    card = model_card(res.run_dir)
    got = compute_assessment(clip, card, markers=False)
    assert got["prediction"] in {"low", "high"} and set(got["probabilities"]) == {"low", "high"}
    assert str(tmp_path) not in json.dumps(got)  # no server paths in answers

    # other weights at the same place: the model refuses to score with them
    from _tiny_models import tiny_hf_whisper, write_ct2

    write_ct2(Path(model_dir), tiny_hf_whisper(seed=5).encoder, dtype="float32")
    out = CliRunner().invoke(app, ["assess", str(clip), "--model", str(res.run_dir), "--json"])
    assert out.exit_code != 0 and "encoder weights" in out.output, out.output


def load_sha(folder: str) -> str:
    from vocalmind.encoders.weights import sha256_files

    return sha256_files([Path(folder) / "model.bin"])
