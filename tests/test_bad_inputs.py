"""A catalogue of bad inputs, each with its exact outcome.

Every case ends in one of three ways, and the test says which:

- ``error``: a :class:`~vocalmind.errors.VocalmindError` whose message names the file (or
  key) and the reason; through the CLI, exit status 2 and no traceback;
- ``abstain``: ``assess`` returns no prediction but ``"insufficient quality: <reason>"``;
- ``valid``: a prediction (possibly with a domain warning).

Nothing half-written is left behind (no ``.partial`` run folder, no output file).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from _signals import SR, voiced_tone
from vocalmind.assess import assess
from vocalmind.config import load_config
from vocalmind.corpora import make_manifest, write_manifest
from vocalmind.errors import (
    AudioError,
    ConfigError,
    ManifestError,
    ModelError,
    ModelIntegrityError,
    VocalmindError,
)
from vocalmind.experiment import run_experiment

RNG = np.random.default_rng(7)
runner = CliRunner()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """4 speakers x 2 classes x 2 recordings of 1.5 s voiced tones (16 kHz)."""
    d = tmp_path_factory.mktemp("cohort")
    rows = []
    for s in range(4):
        for cls, mult, loud in (("low", 1.0, 0.2), ("high", 2.0, 0.5)):
            for r in range(2):
                p = d / f"s{s}_{cls}_{r}.wav"
                sf.write(p, voiced_tone((110 + 15 * s) * mult * (1 + 0.03 * r), seconds=1.5,
                                        seed=10 * s + r, loud=loud), SR)
                rows.append({"file": str(p), "subject": f"S{s}", "emotion": cls})
    return d, make_manifest(rows)


@pytest.fixture(scope="module")
def run(cohort: tuple[Path, pd.DataFrame]) -> Path:
    d, manifest = cohort
    path = write_manifest(manifest, d / "manifest.csv")
    cfg = load_config(raw=_raw(path))
    return run_experiment(cfg, out=d / "run").run_dir


def _raw(manifest: Path, **over: object) -> dict:
    raw = {"name": "bad", "jobs": 1, "corpus": {"manifest": str(manifest)},
           "task": {"label": "emotion"},
           "features": {"set": "egemaps", "cache_dir": None, "jobs": 1},
           "model": {"name": "logreg"}, "protocol": {"name": "loso"},
           "evaluation": {"n_boot": 20}}
    raw.update(over)
    return raw


# --------------------------------------------------------------------------- recordings


def _wav(y: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / "x.wav"
        sf.write(p, y, sr, subtype=subtype)
        return p
    return make


def _bytes(data: bytes, name: str = "x.wav") -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(data)
        return p
    return make


def _truncated(d: Path) -> Path:
    p = _wav(voiced_tone(180, seconds=3.0))(d)
    p.write_bytes(p.read_bytes()[: 44 + 2 * SR])  # the header still says 3 s
    return p


def _header_only(d: Path) -> Path:
    p = _wav(voiced_tone(180, seconds=1.0))(d)
    head = bytearray(p.read_bytes()[:44])
    head[40:44] = (0).to_bytes(4, "little")
    return _bytes(bytes(head))(d)


def _nan(d: Path) -> Path:
    y = voiced_tone(180, seconds=1.5)
    y[1000:1100] = np.nan
    return _wav(y, subtype="FLOAT")(d)


def _hour(d: Path) -> Path:
    p = d / "hour.wav"
    with sf.SoundFile(p, "w", samplerate=8000, channels=1, subtype="PCM_U8") as fh:
        block = np.zeros(8000 * 60, np.float32)
        for _ in range(60):
            fh.write(block)
    return p


def _whisper(seconds: float = 2.0) -> np.ndarray:
    from scipy.signal import iirpeak, lfilter

    n = int(seconds * SR)
    w = RNG.standard_normal(n)
    for f, bw in ((700, 130), (1200, 150), (2600, 250)):
        b, a = iirpeak(f, f / bw, fs=SR)
        w = w + 3 * lfilter(b, a, RNG.standard_normal(n))
    return (0.3 * w / np.abs(w).max()).astype(np.float32)


def _tone8k(d: Path) -> Path:
    import soxr

    return _wav(soxr.resample(voiced_tone(300, seconds=1.5, loud=0.5), SR, 8000), sr=8000)(d)


TONE = voiced_tone(300, seconds=1.5, loud=0.5)

#: (case, make(dir) -> path, outcome, exact text the outcome carries)
RECORDINGS: list[tuple[str, Callable[[Path], Path], str, str]] = [
    ("zero-byte", _bytes(b""), "error", "zero-length file (0 bytes); re-export or remove it"),
    ("header-only", _header_only, "error",
     "no audio frames (the file holds a header but no samples)"),
    ("truncated", _truncated, "abstain",
     "insufficient quality: truncated file: header declares 3.00 s, file holds 1.00 s"),
    ("text named .wav", _bytes(b"hello, this is not audio\n" * 10), "error",
     "not an audio file (content looks like plain text)"),
    ("jpeg named .wav", _bytes(b"\xff\xd8\xff\xe0" + bytes(300)), "error",
     "not an audio file (content looks like a JPEG image); ffprobe sees format 'jpeg_pipe' "
     "with no audio stream"),
    ("missing file", lambda d: d / "nope.wav", "error",
     "no such file; check the path (and the manifest's root folder)"),
    ("a directory", lambda d: d, "error", "is a directory, not an audio file"),
    ("digital silence", _wav(np.zeros(2 * SR, np.float32)), "abstain",
     "insufficient quality: silent: peak -inf dBFS below -60 dBFS"),
    ("loud white noise", _wav((0.3 * RNG.standard_normal(2 * SR)).astype(np.float32)),
     "abstain", "insufficient quality: no voiced speech (0.00 s voiced; at least 0.3 s needed)"),
    ("whisper-like noise", _wav(_whisper()), "abstain",
     "insufficient quality: no voiced speech (0.00 s voiced; at least 0.3 s needed)"),
    ("heavy clipping", _wav(np.clip(8 * TONE, -1, 1)), "abstain",
     "insufficient quality: clipped: "),
    ("dc offset 0.1", _wav(TONE + np.float32(0.1)), "abstain",
     "insufficient quality: dc offset: mean +0.100 (at most 0.05)"),
    ("NaN samples", _nan, "abstain",
     "insufficient quality: non-finite: 100 NaN/infinite samples"),
    ("10 ms", _wav(TONE[: SR // 100]), "abstain",
     "insufficient quality: too short: 0.01 s of audio; at least 0.5 s needed"),
    ("50 ms", _wav(TONE[: SR // 20]), "abstain",
     "insufficient quality: too short: 0.05 s of audio; at least 0.5 s needed"),
    ("0.3 s", _wav(TONE[: int(0.3 * SR)]), "abstain",
     "insufficient quality: too short: 0.30 s of audio; at least 0.5 s needed"),
    ("60-minute file", _hour, "abstain",
     "insufficient quality: too long: 3600 s; at most 1800 s (assess it in spans)"),
    ("8 kHz into a 16 kHz model", _tone8k, "valid",
     "sample rate 8000 Hz is below the training data's (16000 Hz and up): answers may shift"),
    ("clean recording", _wav(TONE), "valid", ""),
]


@pytest.mark.parametrize(("case", "make", "outcome", "text"), RECORDINGS,
                         ids=[c[0] for c in RECORDINGS])
def test_recording(case: str, make: Callable[[Path], Path], outcome: str, text: str,
                   run: Path, tmp_path: Path) -> None:
    path = make(tmp_path)
    if outcome == "error":
        with pytest.raises(AudioError) as ei:
            assess([path], run)
        assert ei.value.reason == text and ei.value.file == str(Path(path).resolve())
        res = runner.invoke(_app(), ["assess", str(path), "--model", str(run)])
        assert res.exit_code == 2 and "Traceback" not in res.output
        assert _flat(text) in _flat(res.output)
        return
    (r,) = assess([path], run)
    assert r["file"] == str(path.resolve())
    assert set(r["quality"]) >= {"speech_s", "voiced_fraction", "clipping_fraction",
                                 "dc_offset", "snr_db", "bandwidth_hz", "native_sr",
                                 "truncated"}
    if outcome == "abstain":
        assert r["abstained"] is True and r["prediction"] is None
        assert r["reason"].startswith(text), r["reason"]
        assert "probabilities" not in r
        res = runner.invoke(_app(), ["assess", str(path), "--model", str(run)])
        assert res.exit_code == 0 and "Traceback" not in res.output
        assert f"no answer, {r['reason']}" in res.output
    else:
        assert r["prediction"] in {"low", "high"} and "abstained" not in r
        if text:
            assert text in r["warnings"]
        else:
            assert r["warnings"] == []


def _app():  # noqa: ANN202
    from vocalmind.cli import app

    return app


def test_batch_lists_gated_recordings_with_reasons(run: Path, tmp_path: Path) -> None:
    good = _wav(TONE)(tmp_path)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    from vocalmind.distributed import assess_sharded
    from vocalmind.features.executor import LocalExecutor

    out = assess_sharded([good, silent], run, executor=LocalExecutor(1, progress=False),
                         shard_size=1)
    assert out[0]["prediction"] in {"low", "high"}
    assert out[1]["abstained"] and out[1]["reason"].startswith("insufficient quality: silent")


def test_no_voiced_speech_is_never_a_training_row(cohort: tuple[Path, pd.DataFrame],
                                                  tmp_path: Path) -> None:
    d, manifest = cohort
    noise = tmp_path / "noise.wav"
    sf.write(noise, (0.3 * RNG.standard_normal(2 * SR)).astype(np.float32), SR)
    m = pd.concat([manifest, manifest.iloc[[0]].assign(file=str(noise))], ignore_index=True)
    path = write_manifest(m, tmp_path / "m.csv")
    raw = _raw(path)
    raw["features"]["max_failure_fraction"] = 0.2
    res = run_experiment(load_config(raw=raw), out=tmp_path / "run")
    failures = pd.read_csv(res.run_dir / "failures.csv")
    assert failures.to_dict("records") == [
        {"file": str(noise), "reason": "no voiced speech (0.00 s voiced; at least 0.3 s needed)"}]
    quality = pd.read_csv(res.run_dir / "quality.csv")
    assert len(quality) == len(m) and "quality_voiced_fraction" in quality


def test_no_voiced_speech_is_never_an_extracted_row(cohort: tuple[Path, pd.DataFrame],
                                                    tmp_path: Path) -> None:
    """Outside the experiment recipe too: the library's extraction and `features extract`
    list a recording of white noise as a failure with its reason, never as a row."""
    from vocalmind.features.extract import extract_features

    d, manifest = cohort
    noise = tmp_path / "noise.wav"
    sf.write(noise, (0.3 * RNG.standard_normal(2 * SR)).astype(np.float32), SR)
    voiced = str(manifest["file"].iloc[0])
    res = extract_features([voiced, str(noise)], "egemaps", max_failure_fraction=0.5,
                           progress=False)
    assert list(res.features.index.get_level_values("file")) == [voiced]
    assert res.failures[["file", "reason"]].to_dict("records") == [
        {"file": str(noise), "reason": "no voiced speech (0.00 s voiced; at least 0.01 s needed)"}]
    # a span of the noise is data (a pause), not screened
    span = pd.DataFrame({"file": [str(noise)], "start": [0.0], "end": [1.0]})
    assert len(extract_features(span, "egemaps", progress=False).features) == 1
    out = tmp_path / "f.parquet"
    cli = runner.invoke(_app(), ["features", "extract", str(noise), "--set", "egemaps", "-o",
                                 str(out)])
    # too many failures (the default allows none): exit 1, the reasons, no feature table
    assert cli.exit_code == 1 and "Traceback" not in cli.output and not out.exists()
    assert _flat("1 x no voiced speech") in _flat(cli.output)
    assert "no voiced speech" in (tmp_path / "f.failures.csv").read_text()


# --------------------------------------------------------------------------- manifests


def _manifest_case(name: str, cohort: tuple[Path, pd.DataFrame], tmp_path: Path) -> Path:
    _, m = cohort
    if name == "duplicate rows":
        m = pd.concat([m, m.iloc[[0]]])
    elif name == "one-subject class":
        m = m.copy()
        m.loc[m.index[0], "emotion"] = "anger"
    elif name == "one class":
        m = m.assign(emotion="low")
    elif name == "end before start":
        m = m.assign(start=1.0, end=0.5)
    elif name == "no subject column":
        p = tmp_path / "m.csv"
        m.drop(columns=["subject"]).to_csv(p, index=False)
        return p
    return write_manifest(m, tmp_path / "m.csv")


MANIFESTS = [
    ("duplicate rows", {}, ManifestError, "manifest has 2 duplicate (file, start, end) rows"),
    ("one-subject class", {}, ManifestError,
     "class(es) ['anger'] of 'emotion' come from one subject only"),
    ("one class", {}, ManifestError,
     "task.label 'emotion' has 1 class(es) ['low']; classification needs at least 2"),
    ("end before start", {}, ManifestError, "segments with end <= start"),
    ("no subject column", {}, ManifestError, "manifest rows need a 'subject' value on every row"),
    ("label typo", {"task": {"label": "emotoin"}}, ConfigError,
     "task.label 'emotoin' is not a manifest column"),
    ("class typo", {"task": {"label": "emotion", "classes": ["low", "hihg"]}}, ConfigError,
     "task.classes: ['hihg'] are not values of 'emotion' (it has ['high', 'low']); "
     "'hihg': did you mean 'high'?"),
]


@pytest.mark.parametrize(("case", "over", "error", "text"), MANIFESTS,
                         ids=[c[0] for c in MANIFESTS])
def test_manifest(case: str, over: dict, error: type[VocalmindError], text: str,
                  cohort: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    path = _manifest_case(case, cohort, tmp_path)
    with pytest.raises(error) as ei:
        run_experiment(load_config(raw=_raw(path, **over)), out=tmp_path / "out")
    assert text in str(ei.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_personal_data_never_enters_a_manifest(cohort: tuple[Path, pd.DataFrame],
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from vocalmind.corpora import read_corpus

    _, m = cohort
    table = m[["file", "subject", "emotion"]].assign(
        name="Jane Doe", dob="1980-01-01", phq9_item9=2, email="j@x.org", sentence="a01")
    table.to_csv(tmp_path / "t.csv", index=False)
    out = read_corpus("csv", tmp_path / "t.csv")
    for col in ("name", "dob", "phq9_item9", "email"):
        assert col not in out.columns
    assert "sentence" in out.columns  # ordinary extra columns stay
    assert "dropped personal-data column(s) ['name', 'dob', 'phq9_item9', 'email']" in \
        capsys.readouterr().err
    written = write_manifest(out, tmp_path / "m.csv").read_text()
    assert "Jane" not in written and "1980" not in written
    only = make_manifest(table, extra_columns=[])
    assert "sentence" not in only.columns


# --------------------------------------------------------------------------- configs


CONFIGS = [
    ("typo in model.training", {"model": {"name": "cnn_lstm", "training": {"epoch": 2}}},
     "model.training.epoch: unknown training setting (did you mean 'epochs'?)"),
    ("svm with a search", {"model": {"name": "svm", "search": {"space": {
        "C": {"type": "float", "low": 0.1, "high": 1.0}}}}},
     "model.search: not used by model 'svm' (classical)"),
    ("svm with pre-training", {"model": {"name": "svm", "pretrain": {"label": "phq9"}}},
     "model.pretrain: not used by model 'svm' (classical)"),
    ("unknown feature set", {"features": {"set": "egemap", "cache_dir": None}},
     "features.set: unknown feature set 'egemap' (did you mean 'egemaps'?)"),
    ("keep_speech without a detector",
     {"features": {"preprocess": {"keep_speech": True}}},
     "keep_speech=True needs a detector"),
    ("unknown model", {"model": {"name": "svmm"}},
     "model.name: unknown model 'svmm' (did you mean 'svm'?)"),
]


@pytest.mark.parametrize(("case", "over", "text"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_config(case: str, over: dict, text: str, cohort: tuple[Path, pd.DataFrame],
                tmp_path: Path) -> None:
    d, _ = cohort
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(_raw(d / "manifest.csv", **over)))
    with pytest.raises(ConfigError) as ei:
        load_config(cfg)
    assert text in str(ei.value) and str(cfg) in str(ei.value)
    res = runner.invoke(_app(), ["experiment", "run", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert _flat(text) in _flat(res.output)
    assert not list(tmp_path.glob("o*"))


# --------------------------------------------------------------------------- run folders


def _break(run: Path, tmp_path: Path, case: str) -> Path:
    broken = tmp_path / "run"
    shutil.copytree(run, broken)
    m = broken / "model"
    if case == "model.json truncated":
        (m / "model.json").write_bytes((m / "model.json").read_bytes()[:40])
    elif case == "model.json random":
        (m / "model.json").write_bytes(RNG.bytes(300))
    elif case == "model.joblib truncated":
        (m / "model.joblib").write_bytes((m / "model.joblib").read_bytes()[:100])
    elif case == "model.joblib random":
        (m / "model.joblib").write_bytes(RNG.bytes(300))
    elif case == "recipe.json removed":
        (m / "recipe.json").unlink()
    elif case == "no model folder":
        shutil.rmtree(m)
    return broken


RUN_FOLDERS = [
    ("model.json truncated", ModelIntegrityError, "model/model.json: not valid JSON"),
    ("model.json random", ModelIntegrityError, "model/model.json: not valid JSON"),
    ("model.joblib truncated", ModelIntegrityError,
     "model/model.joblib: changed since the model was saved"),
    ("model.joblib random", ModelIntegrityError,
     "model/model.joblib: changed since the model was saved"),
    ("recipe.json removed", ModelIntegrityError, "model/recipe.json: missing"),
    ("no model folder", ModelError, "not a finished run folder (no model/model.json)"),
]


@pytest.mark.parametrize(("case", "error", "text"), RUN_FOLDERS, ids=[c[0] for c in RUN_FOLDERS])
def test_run_folder(case: str, error: type[VocalmindError], text: str, run: Path,
                    tmp_path: Path) -> None:
    broken = _break(run, tmp_path, case)
    clip = _wav(TONE)(tmp_path)
    with pytest.raises(error) as ei:
        assess([clip], broken)
    assert text in str(ei.value)
    res = runner.invoke(_app(), ["assess", str(clip), "--model", str(broken), "--json"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert _flat(text) in _flat(res.output)


def _flat(s: str) -> str:
    """Text without whitespace: the CLI wraps long paths at the terminal width."""
    return "".join(s.split())


def test_the_catalogue_is_large_enough() -> None:
    n = len(RECORDINGS) + len(MANIFESTS) + len(CONFIGS) + len(RUN_FOLDERS) + 1
    assert n >= 25, n
    assert json.dumps([c[0] for c in RECORDINGS])  # case names are plain strings
