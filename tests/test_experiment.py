"""End-to-end experiments on a synthetic tone cohort (no corpus needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from _signals import SR, voiced_tone
from vocalmind.config import load_config
from vocalmind.corpora import write_manifest
from vocalmind.errors import ConfigError, ModelError
from vocalmind.experiment import run_experiment


def _cfg(manifest_path: Path, **over: object) -> dict:
    raw = {
        "name": "t", "jobs": 1,
        "corpus": {"manifest": str(manifest_path)},
        "task": {"label": "emotion"},
        "features": {"set": "egemaps", "cache_dir": None, "jobs": 1},
        "model": {"name": "svm", "tune": {"grid": {"C": [0.01, 1.0]}, "inner_splits": 2}},
        "protocol": {"name": "loso"},
        "evaluation": {"n_boot": 200},
    }
    raw.update(over)
    return raw


@pytest.fixture
def manifest_path(tone_cohort: pd.DataFrame, tmp_path: Path) -> Path:
    return write_manifest(tone_cohort, tmp_path / "manifest.csv")


def test_classification_run_folder(manifest_path: Path, tmp_path: Path) -> None:
    res = run_experiment(load_config(raw=_cfg(manifest_path)), out=tmp_path / "run")
    d = res.run_dir
    for name in ("config.yaml", "metrics.json", "predictions.csv", "report.html",
                 "model/model.json"):
        assert (d / name).is_file(), name
    assert not (tmp_path / "run.partial").exists()
    m = json.loads((d / "metrics.json").read_text())
    assert m["task"] == "classification" and m["protocol"] == "loso"
    assert m["n_subjects"] == 6 and m["subject_independent"] is True
    for k in ("uar", "accuracy", "macro_f1"):
        lo, hi = m[f"{k}_ci"]
        assert lo <= m[k] <= hi
    # pitch and loudness separate the classes for every speaker
    assert m["uar"] >= 0.9
    pred = pd.read_csv(d / "predictions.csv")
    assert len(pred) == 36 and set(pred["fold"]) == set(range(6))
    # each speaker is predicted only by the fold that held it out
    assert pred.groupby("subject")["fold"].nunique().eq(1).all()
    assert "disclaimer" not in m
    # each recording's quality record sits beside its prediction
    assert pred["quality_voiced_fraction"].between(0.9, 1).all()
    assert pred["quality_native_sr"].eq(16000).all()


def test_assess_new_recording(manifest_path: Path, tmp_path: Path) -> None:
    from vocalmind.assess import assess

    res = run_experiment(load_config(raw=_cfg(manifest_path)), out=tmp_path / "run")
    clip = tmp_path / "new.wav"
    sf.write(clip, voiced_tone(420, seed=7, loud=0.5), SR)
    out = assess([clip], res.run_dir)
    assert out[0]["prediction"] == "high"
    assert abs(sum(out[0]["probabilities"].values()) - 1) < 1e-6
    with pytest.raises(ModelError, match="not a finished run folder"):
        assess([clip], tmp_path)


def test_regression_is_a_research_measurement(manifest_path: Path, tmp_path: Path) -> None:
    raw = _cfg(manifest_path, task={"label": "phq9"},
               model={"name": "ridge", "tune": {"grid": {"alpha": [1.0, 10.0, 100.0, 1000.0]}, "inner_splits": 2}})
    res = run_experiment(load_config(raw=raw), out=tmp_path / "reg")
    m = res.metrics
    assert m["task"] == "regression"
    for k in ("mae", "rmse", "pearson_r"):
        assert k in m and len(m[f"{k}_ci"]) == 2
    # one recording of this cohort gives extreme features, so rank agreement is the check
    assert m["spearman_r"] > 0.7
    pred = pd.read_csv(res.run_dir / "predictions.csv")
    assert pred["y_pred"].between(0, 27).all()  # clipped to the PHQ-9 range
    assert m["disclaimer"] == "Research measurement, not a diagnosis."
    assert "not a diagnosis" in (res.run_dir / "report.html").read_text()


def test_speaker_dependent_protocol_says_so(manifest_path: Path, tmp_path: Path) -> None:
    raw = _cfg(manifest_path, protocol={"name": "stratified_kfold", "params": {"n_splits": 3}})
    m = run_experiment(load_config(raw=raw), out=tmp_path / "sd").metrics
    assert "speaker-dependent" in m["protocol"]
    assert m["subject_independent"] is False
    assert "speaker-dependent" in (tmp_path / "sd" / "report.html").read_text()


def test_model_task_mismatch_and_existing_folder(manifest_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="regression model"):
        run_experiment(load_config(raw=_cfg(manifest_path, model={"name": "svr"})),
                       out=tmp_path / "x")
    (tmp_path / "exists").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        run_experiment(load_config(raw=_cfg(manifest_path)), out=tmp_path / "exists")


def test_bad_file_is_skipped_and_listed(tone_cohort: pd.DataFrame, tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage")
    m = pd.concat([tone_cohort, tone_cohort.iloc[[0]].assign(file=str(bad))], ignore_index=True)
    path = write_manifest(m, tmp_path / "m.csv")
    raw = _cfg(path)
    raw["features"]["max_failure_fraction"] = 0.1
    res = run_experiment(load_config(raw=raw), out=tmp_path / "run")
    failures = pd.read_csv(res.run_dir / "failures.csv")
    assert failures["file"].tolist() == [str(bad)]
    assert res.metrics["n_failures"] == 1


def test_interrupted_run_leaves_no_finished_folder(manifest_path: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import vocalmind.evaluation as ev

    def boom(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ev, "write_report", boom)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_config(raw=_cfg(manifest_path)), out=tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_no_subject_leaks_into_tuning(manifest_path: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Every inner tuning split is grouped by subject, inside the outer training fold, and
    the grid runs on the one search runner (its records in the run folder)."""
    from vocalmind.training import search

    seen: list[tuple[set, set]] = []
    orig = search.EstimatorCVObjective.__init__

    def spy(self, estimator, X, y, groups, splits, *a, **k):  # type: ignore[no-untyped-def]
        for tr, va in splits:
            seen.append((set(np.asarray(groups)[tr]), set(np.asarray(groups)[va])))
        orig(self, estimator, X, y, groups, splits, *a, **k)

    monkeypatch.setattr(search.EstimatorCVObjective, "__init__", spy)
    res = run_experiment(load_config(raw=_cfg(manifest_path)), out=tmp_path / "run")
    assert seen and all(not (a & b) for a, b in seen)
    trials = pd.read_csv(res.run_dir / "search" / "fold_0" / "trials.csv")
    assert set(trials["state"]) == {"COMPLETE"} and len(trials) == len(
        _cfg(manifest_path)["model"]["tune"]["grid"]["C"])
    assert all("model__C" in p for p in res.metrics["tuned_params_per_fold"])


def test_study_pipeline_selection_mlp_importance(manifest_path: Path, tmp_path: Path) -> None:
    """Document 002's recipe: partial-correlation selection in-fold, searched MLP, RF top-k."""
    raw = _cfg(manifest_path, task={"label": "phq9"},
               selection={"alpha": 0.05, "covariates": ["gender"]},
               model={"name": "mlp", "params": {"strategy": "random", "n_trials": 2, "cv": 2,
                                                "fixed_params": {"epochs": 20}}},
               protocol={"name": "group_kfold", "params": {"n_splits": 3}},
               evaluation={"n_boot": 50, "importance_top_k": 5})
    res = run_experiment(load_config(raw=raw), out=tmp_path / "study")
    m = res.metrics
    assert m["model"] == "mlp" and m["task"] == "regression"
    imp = pd.read_csv(res.run_dir / "importance.csv")
    # the evaluated model's own held-out importance, every feature but the covariate
    assert list(imp.columns[:3]) == ["feature", "rank", "permutation_mean"]
    assert len(imp) == 88 and "gender" not in set(imp["feature"])
    html = (res.run_dir / "report.html").read_text()
    assert "Learning curves" in html
    assert "Permutation importance of the evaluated mlp model on held-out subjects" in html
    assert "random-forest" not in html.lower()


def test_bad_manifests_get_clear_errors(tone_cohort: pd.DataFrame, tmp_path: Path) -> None:
    from vocalmind.errors import ManifestError

    dup = write_manifest(pd.concat([tone_cohort, tone_cohort.iloc[[0]]]), tmp_path / "dup.csv")
    with pytest.raises(ManifestError, match="duplicate"):
        run_experiment(load_config(raw=_cfg(dup)), out=tmp_path / "a")
    ok = write_manifest(tone_cohort, tmp_path / "ok.csv")
    with pytest.raises(ConfigError, match="'mood' is not a manifest column"):
        run_experiment(load_config(raw=_cfg(ok, task={"label": "mood"})), out=tmp_path / "b")
    unl = tone_cohort.assign(emotion=np.where(tone_cohort["subject"] == "S0", None,
                                              tone_cohort["emotion"]))
    path = write_manifest(unl, tmp_path / "unl.csv")
    with pytest.raises(ManifestError, match="no .*emotion.* label"):
        run_experiment(load_config(raw=_cfg(path, task={"label": "emotion",
                                                        "drop_unlabelled": False})),
                       out=tmp_path / "c")
    missing = write_manifest(tone_cohort.assign(file=tone_cohort["file"] + ".gone"),
                             tmp_path / "missing.csv")
    from vocalmind.errors import TooManyFailuresError

    with pytest.raises(TooManyFailuresError, match="no such file|not found|does not exist"):
        run_experiment(load_config(raw=_cfg(missing)), out=tmp_path / "d")
    assert not (tmp_path / "d").exists() and not (tmp_path / "d.partial").exists()


@pytest.mark.parametrize("setting", ["segmented", "speaker_normalised"])
def test_train_and_assess_inputs_are_identical(tone_cohort: pd.DataFrame, tmp_path: Path,
                                               setting: str) -> None:
    """The run folder's recipe builds the same inputs at assessment as in training."""
    from vocalmind.assess import assess
    from vocalmind.experiment import build_inputs, load_manifest

    path = write_manifest(tone_cohort, tmp_path / "m.csv")
    raw = _cfg(path, model={"name": "logreg"})
    if setting == "segmented":
        raw["segmentation"] = {"length_s": 0.5}
    else:
        raw["features"]["speaker_normalization"] = True
    cfg = load_config(raw=raw)
    run = run_experiment(cfg, out=tmp_path / "run").run_dir
    X, rows, _ = build_inputs(cfg, load_manifest(cfg))
    mine = (rows["subject"] == "S2").to_numpy()
    files = tone_cohort.loc[tone_cohort["subject"] == "S2", "file"].tolist()
    got: list = []
    out = assess(files, run, speakers="S2", inputs_out=got)
    Xa, ra = got[0]
    assert len(Xa) == mine.sum() == (12 if setting == "segmented" else 6)
    pd.testing.assert_frame_equal(Xa, X[mine].reset_index(drop=True))
    pd.testing.assert_frame_equal(ra[["file", "start", "end"]],
                                  rows.loc[mine, ["file", "start", "end"]].reset_index(drop=True))
    assert all(r["prediction"] in {"low", "high"} and not r["warnings"] for r in out)
    if setting == "segmented":
        assert {r["n_segments"] for r in out} == {2}  # 1.2 s: two 0.5 s segments
    assert json.loads((run / "model" / "model.json").read_text())["files"]["recipe.json"]


def test_speakers_are_explicit_for_normalised_models(tone_cohort: pd.DataFrame,
                                                     tmp_path: Path) -> None:
    from vocalmind.assess import assess
    from vocalmind.errors import SpeakerError

    path = write_manifest(tone_cohort, tmp_path / "m.csv")
    raw = _cfg(path, model={"name": "logreg"})
    raw["features"]["speaker_normalization"] = True
    run = run_experiment(load_config(raw=raw), out=tmp_path / "run").run_dir
    files = tone_cohort["file"].tolist()
    with pytest.raises(SpeakerError, match="speaker of 3 recording"):
        assess(files[:3], run)  # three people? vocalmind will not pool them silently
    with pytest.raises(SpeakerError, match="speaker 'S1' has 2"):
        assess(files[:3] + files[6:8], run, speakers=["S0"] * 3 + ["S1"] * 2)
    one = assess(files[:1], run, reference=files[1:3])  # one speaker per call
    assert one[0]["speaker"] is None and one[0]["prediction"] in {"low", "high"}
    two = assess(files[:6] + files[6:12], run, speakers=["S0"] * 6 + ["S1"] * 6)
    alone = assess(files[:6], run, speakers="S0")
    # each speaker is normalised on their own: the company of S1 changes nothing for S0
    for a, b in zip(two[:6], alone, strict=True):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-12)
    # batch assessment sends each speaker's recordings to one task
    from vocalmind.distributed import assess_sharded
    from vocalmind.features.executor import LocalExecutor

    who = {f: ("S0" if i < 6 else "S1") for i, f in enumerate(files[:12])}
    batch = assess_sharded(files[:12], run, executor=LocalExecutor(1, progress=False),
                           speakers=who)
    assert [r["file"] for r in batch] == [r["file"] for r in two]
    for a, b in zip(batch, two, strict=True):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-12)
    with pytest.raises(ModelError, match="give the speaker of every recording"):
        assess_sharded(files[:2], run)


def test_one_clinical_label_policy() -> None:
    from vocalmind.evaluation.report import CLINICAL_LABELS, NOT_A_DIAGNOSIS
    from vocalmind.experiment import DISCLAIMER, is_clinical

    assert DISCLAIMER == NOT_A_DIAGNOSIS
    for label in [*CLINICAL_LABELS, "emotion", "phq9_item3", "gender"]:
        assert is_clinical(label) == (label in CLINICAL_LABELS)


def test_deep_model_is_assessed_through_its_recipe(manifest_path: Path, tmp_path: Path) -> None:
    """A deep family reads audio rows: its recipe still gates, segments and aggregates."""
    from vocalmind.assess import assess

    raw = _cfg(manifest_path, segmentation={"length_s": 0.6},
               model={"name": "melcnn", "params": {"n_blocks": 3, "base_channels": 4,
                                                    "augment": False},
                      "training": {"epochs": 2, "batch_size": 8, "n_threads": 1,
                                   "patience": 0}},
               protocol={"name": "group_kfold", "params": {"n_splits": 3}})
    run = run_experiment(load_config(raw=raw), out=tmp_path / "deep").run_dir
    clip = tmp_path / "new.wav"
    sf.write(clip, voiced_tone(420, seed=7, loud=0.5), SR)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    got: list = []
    out = assess([clip, silent], run, inputs_out=got)
    assert out[0]["prediction"] in {"low", "high"} and out[0]["n_segments"] == 2
    assert abs(sum(out[0]["probabilities"].values()) - 1) < 1e-6
    assert out[1]["abstained"] and out[1]["reason"].startswith("insufficient quality: silent")
    X, rows = got[0]
    assert list(X["start"]) == [0.0, 0.6] and set(X["file"]) == {str(clip.resolve())}


def test_mlp_pipeline_fills_statistics_undefined_for_some_recordings(tmp_path: Path) -> None:
    """A selected feature that is NaN for some rows (a clinical statistic with no frame to
    describe) is filled with the training fold's median, not refused by the network."""
    from vocalmind.experiment import make_estimator

    cfg = load_config(raw=_cfg(tmp_path / "unused.csv", task={"label": "phq9"},
                               selection={"alpha": 0.05, "covariates": []},
                               model={"name": "mlp", "params": {
                                   "strategy": "random", "n_trials": 1, "cv": 2,
                                   "fixed_params": {"epochs": 5}}}))
    rng = np.random.default_rng(0)
    y = rng.normal(10, 4, 40)
    X = pd.DataFrame({"signal": y + rng.normal(0, 0.5, 40), "noise": rng.normal(size=40)})
    X.loc[::4, "signal"] = np.nan  # undefined for a quarter of the recordings
    groups = np.repeat(np.arange(20), 2)
    est = make_estimator(cfg, "regression")
    est.fit(X, y, model__groups=groups)
    assert "signal" in est.named_steps["select"].feature_names_[est.named_steps["select"].support_]
    pred = est.predict(X)
    assert pred.shape == (40,) and np.isfinite(pred).all()


def test_heldout_importance_is_not_measured_on_a_single_row(manifest_path: Path) -> None:
    """Shuffling a one-row column changes nothing: every importance would read exactly 0.
    Such folds (leave-one-subject-out with one recording per person) measure none."""
    from sklearn.linear_model import LinearRegression

    from vocalmind.fitting import heldout_permutation_importance

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    y = 3 * X["a"].to_numpy() + 0.1 * rng.normal(size=30)
    est = LinearRegression().fit(X.iloc[:20], y[:20])
    cfg = load_config(raw=_cfg(manifest_path, evaluation={"n_boot": 50, "importance_top_k": 3}))
    assert heldout_permutation_importance(est, X.iloc[20:21], y[20:21], "regression", cfg) is None
    # one labelled row among unlabelled ones is still a single row
    y_some = np.r_[y[20:21], np.nan, np.nan]
    assert heldout_permutation_importance(est, X.iloc[20:23], y_some, "regression", cfg) is None
    imp = heldout_permutation_importance(est, X.iloc[20:], y[20:], "regression", cfg)
    assert imp.shape == (3,) and imp[0] > 1 > abs(imp[1]) + abs(imp[2])
