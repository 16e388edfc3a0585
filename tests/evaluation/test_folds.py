"""EmoBox-style fold files: round trip, path matching, the leakage guard, and a real run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vocalmind.errors import ConfigError, LeakageError
from vocalmind.evaluation import make_protocol
from vocalmind.evaluation.folds import fold_indices, read_fold_files, write_fold_files


def savee_manifest(root: Path) -> pd.DataFrame:
    """SAVEE under its authors' layout: AudioData/<speaker>/<emotion><nn>.wav."""
    rows = []
    for spk in ("DC", "JE", "JK", "KL"):
        for emo, name in (("anger", "a"), ("neutral", "n")):
            for i in range(1, 4):
                rows.append({"file": str(root / "AudioData" / spk / f"{name}{i:02d}.wav"),
                             "subject": spk, "emotion": emo})
    return pd.DataFrame(rows)


def emobox_savee(out: Path, manifest: pd.DataFrame, *, leak: bool = False) -> None:
    """Fold files as EmoBox publishes them: flat downloads/savee/JE_n01.wav paths."""
    speakers = sorted(manifest["subject"].unique())
    for k, spk in enumerate(speakers, 1):
        for side in ("train", "test"):
            part = manifest[(manifest["subject"] == spk) == (side == "test")]
            if leak and side == "train":
                part = manifest  # every speaker in training, the test speaker included
            lines = [json.dumps({"key": f"savee-{r.subject}-{Path(r.file).stem}", "dataset": "savee",
                                 "wav": f"downloads/savee/{r.subject}_{Path(r.file).name}",
                                 "emo": r.emotion[0], "length": 3.0, "sample_rate": 44100})
                     for r in part.itertuples()]
            path = out / f"fold_{k}" / f"savee_{side}_fold_{k}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")


def test_emobox_files_match_the_authors_layout_and_give_loso(tmp_path):
    m = savee_manifest(tmp_path / "savee")
    emobox_savee(tmp_path / "folds", m)
    table = read_fold_files(tmp_path / "folds")
    assert set(table["fold"]) == {1, 2, 3, 4} and set(table["side"]) == {"train", "test"}
    p = make_protocol("fold_file", path=str(tmp_path / "folds"))
    folds = list(p.split(m, groups=m["subject"]))
    assert len(folds) == 4 and p.subject_independent
    groups = m["subject"].to_numpy()
    for (train, test), spk in zip(folds, ["DC", "JE", "JK", "KL"], strict=True):
        assert set(groups[test]) == {spk} and spk not in set(groups[train])
        assert train.size + test.size == len(m)


def test_round_trip_write_then_read(tmp_path):
    m = savee_manifest(tmp_path / "savee")
    folds = list(make_protocol("loso").split(m, groups=m["subject"]))
    written = write_fold_files(tmp_path / "out", m, folds, dataset="savee")
    assert len(written) == 8 and written[0].name == "savee_train_fold_1.jsonl"
    line = json.loads(written[1].read_text().splitlines()[0])
    assert {"key", "dataset", "wav", "emo", "speaker"} <= set(line)
    back = list(make_protocol("fold_file", path=str(tmp_path / "out")).split(m, groups=m["subject"]))
    for (a_tr, a_te), (b_tr, b_te) in zip(folds, back, strict=True):
        np.testing.assert_array_equal(np.sort(a_tr), b_tr)
        np.testing.assert_array_equal(np.sort(a_te), b_te)


def test_speaker_dependent_fold_file_is_refused_unless_declared(tmp_path):
    m = savee_manifest(tmp_path / "savee")
    emobox_savee(tmp_path / "folds", m, leak=True)
    with pytest.raises(LeakageError, match="speaker_dependent: true"):
        list(make_protocol("fold_file", path=str(tmp_path / "folds")).split(m, groups=m["subject"]))
    p = make_protocol("fold_file", path=str(tmp_path / "folds"), speaker_dependent=True)
    assert len(list(p.split(m, groups=m["subject"]))) == 4
    assert not p.subject_independent and "SPEAKER-DEPENDENT" in p.describe()
    assert p.to_dict()["subject_independent"] is False
    # the report says so, in the banner and as a caveat
    from vocalmind.evaluation import classification_metrics, write_report

    y = m["emotion"].to_numpy()
    metrics = classification_metrics(y, y, groups=m["subject"], n_boot=0)
    metrics.update({"protocol": "fold_file (speaker-dependent)",
                    "protocol_description": p.describe(), "subject_independent": False})
    text = write_report(tmp_path / "run", metrics=metrics, predictions=None, config={},
                        title="t").read_text()
    assert 'class="banner dependent"' in text and "speaker-dependent folds" in text


def test_property_fold_files_from_random_layouts_never_leak(tmp_path):
    rng = np.random.default_rng(5)
    for trial in range(25):
        n_subj = int(rng.integers(3, 9))
        per = rng.integers(1, 5, n_subj)
        groups = np.repeat([f"s{i}" for i in range(n_subj)], per)
        files = [str(tmp_path / f"t{trial}" / f"s{g}" / f"{i}.wav") for i, g in enumerate(groups)]
        m = pd.DataFrame({"file": files, "subject": groups, "emotion": "x"})
        k = int(rng.integers(2, n_subj + 1))
        folds = list(make_protocol("group_kfold", n_splits=k, stratified=False,
                                   seed=trial).split(m, groups=groups))
        write_fold_files(tmp_path / f"f{trial}", m, folds, dataset="d")
        back = list(make_protocol("fold_file", path=str(tmp_path / f"f{trial}")).split(
            m, groups=groups))
        tested = np.sort(np.concatenate([te for _, te in back]))
        np.testing.assert_array_equal(tested, np.arange(len(m)))  # each row tested once
        for train, test in back:
            assert not set(groups[train]) & set(groups[test])


def test_unmatched_and_missing_folds(tmp_path):
    m = savee_manifest(tmp_path / "savee")
    emobox_savee(tmp_path / "folds", m)
    folds, report = fold_indices(m["file"].iloc[:-3].tolist(), read_fold_files(tmp_path / "folds"))
    assert report["unmatched"] == 3 and len(folds) == 4
    with pytest.raises(ConfigError, match="none of the"):
        fold_indices(["/x/other.wav"], read_fold_files(tmp_path / "folds"))
    with pytest.raises(ConfigError, match="no <dataset>_train_fold"):
        (tmp_path / "empty").mkdir()
        read_fold_files(tmp_path / "empty")
    (tmp_path / "folds" / "fold_4" / "savee_test_fold_4.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"folds \[4\] lack"):
        read_fold_files(tmp_path / "folds")


def test_experiment_runs_on_folds_read_from_a_fold_file(tone_cohort, tmp_path):
    from vocalmind.config import load_config
    from vocalmind.corpora import write_manifest
    from vocalmind.experiment import run_experiment

    manifest_path = write_manifest(tone_cohort, tmp_path / "manifest.csv")
    groups = tone_cohort["subject"].to_numpy()
    folds = list(make_protocol("group_kfold", n_splits=3, stratified=False).split(
        tone_cohort, groups=groups))
    write_fold_files(tmp_path / "folds", tone_cohort, folds, dataset="tones")
    raw = {"name": "t", "jobs": 1, "corpus": {"manifest": str(manifest_path)},
           "task": {"label": "emotion"},
           "features": {"set": "egemaps", "cache_dir": None, "jobs": 1},
           "model": {"name": "logreg"},
           "protocol": {"name": "fold_file", "params": {"path": str(tmp_path / "folds")}},
           "evaluation": {"n_boot": 50}}
    res = run_experiment(load_config(raw=raw), out=tmp_path / "run")
    pred = pd.read_csv(res.run_dir / "predictions.csv")
    assert res.metrics["subject_independent"] is True and res.metrics["n_folds"] == 3
    want = {s: k for k, (_, te) in enumerate(folds) for s in set(groups[te])}
    assert dict(zip(pred["subject"], pred["fold"], strict=True)) == want
    text = (res.run_dir / "report.html").read_text()
    assert "published folds of the fold file" in text
