"""Tests of vocalmind.demo: the espeak-ng cohort and the assessment clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import parselmouth
import pytest
import soundfile as sf

from vocalmind import demo
from vocalmind.corpora.manifest import read_manifest, validate_manifest
from vocalmind.errors import ConfigError

pytestmark = pytest.mark.skipif(
    __import__("shutil").which("espeak-ng") is None, reason="espeak-ng not installed"
)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    m = demo.synthesize_cohort(
        out, n_speakers=2, utterances_per_class=2, classes=("sad", "anger"), seed=3, jobs=2,
        progress=False,
    )
    return out, m


def measure(path: str) -> dict[str, float]:
    y, sr = sf.read(path)
    pitch = parselmouth.Sound(y, sr).to_pitch_ac(pitch_floor=60, pitch_ceiling=500)
    f0 = pitch.selected_array["frequency"]
    f0 = f0[f0 > 0]
    return {
        "dur": len(y) / sr,
        "f0": float(np.median(f0)),
        "f0_range": float(np.std(np.log(f0))),
        "rms": float(np.sqrt(np.mean(y**2))),
    }


def test_files_and_manifest(cohort):
    out, m = cohort
    assert len(m) == 2 * 2 * 2
    validate_manifest(m, check_files=True, label="emotion")
    for row in m.itertuples():
        info = sf.info(row.file)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert Path(row.file).parent.name == row.subject
        assert f"_{row.emotion}_" in Path(row.file).name
        y, _ = sf.read(row.file)
        assert 1.5 < len(y) / 16000 < 15 and np.abs(y).max() <= 1.0
    assert sorted(m["subject"].unique()) == ["demo01", "demo02"]
    assert m.groupby("subject")["gender"].first().to_dict() == {"demo01": "f", "demo02": "m"}
    assert (m.groupby(["subject", "emotion"]).size() == 2).all()
    assert set(m["emotion"]) == {"sadness", "anger"}  # aliases become the project vocabulary
    assert set(m["corpus"]) == {"vocalmind-demo"} and set(m["language"]) == {"en"}
    # every class reads the same text for a given speaker and utterance
    assert (m.groupby(["subject", "utterance"])["text"].nunique() == 1).all()
    pd.testing.assert_frame_equal(read_manifest(out / "manifest.csv"), m, check_dtype=False)


def test_class_prosody_differs(cohort):
    _, m = cohort
    feats = pd.DataFrame([measure(f) for f in m["file"]], index=m.index)
    d = pd.concat([m[["subject", "utterance", "emotion"]], feats], axis=1)
    wide = d.pivot_table(index=["subject", "utterance"], columns="emotion")
    # Same speaker, same text: angry is higher, wider in range, louder and faster than sad.
    assert (wide["f0"]["anger"] > wide["f0"]["sadness"] * 1.15).all()
    assert (wide["f0_range"]["anger"] > wide["f0_range"]["sadness"]).all()
    assert (wide["rms"]["anger"] > wide["rms"]["sadness"] * 1.5).all()
    assert (wide["dur"]["sadness"] > wide["dur"]["anger"] * 1.3).all()
    # And the female voice is higher than the male one.
    by_subject = d.groupby("subject")["f0"].mean()
    assert by_subject["demo01"] > by_subject["demo02"] * 1.4


def test_same_seed_same_manifest(cohort, tmp_path):
    out, m = cohort
    again = demo.synthesize_cohort(
        tmp_path, n_speakers=2, utterances_per_class=2, classes=("sadness", "angry"), seed=3,
        jobs=1, progress=False,
    )
    rel = lambda df, root: df.assign(file=[str(Path(f).relative_to(root)) for f in df["file"]])  # noqa: E731
    pd.testing.assert_frame_equal(rel(again, tmp_path.resolve()), rel(m, out.resolve()))


def test_assessment_clip_uses_an_unseen_voice(tmp_path):
    out = demo.make_demo_assessment_clip(tmp_path / "clip.wav", seed=1, emotion="neutral")
    info = sf.info(out)
    assert (info.samplerate, info.channels) == (16000, 1)
    assert 5 < info.duration < 30
    assert demo.ASSESSMENT_VOICE[0] not in {v for v, _ in demo.VOICES}
    accent = demo.ASSESSMENT_VOICE[0].split("+")[0]
    assert accent not in {v.split("+")[0] for v, _ in demo.VOICES}
    assert not set(demo.ASSESSMENT_TEXT) & set(demo.SENTENCES)


def test_bad_arguments(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"'joyful'.*from \["):
        demo.synthesize_cohort(tmp_path, classes=("neutral", "joyful"))
    with pytest.raises(ConfigError, match="n_speakers=11: must be an integer between 1 and 10"):
        demo.synthesize_cohort(tmp_path, n_speakers=11)
    with pytest.raises(ConfigError, match=r"distinct labels"):
        demo.synthesize_cohort(tmp_path, classes=("sad", "sadness"))
    with pytest.raises(ConfigError, match="emotion='calm'"):
        demo.make_demo_assessment_clip(tmp_path / "x.wav", emotion="calm")
    monkeypatch.setattr(demo.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="apt-get install espeak-ng"):
        demo.synthesize_cohort(tmp_path, n_speakers=1, utterances_per_class=1, classes=("sadness",))
    assert not list(tmp_path.rglob("*.wav"))
