"""Deep families through the experiment runner: single task, multi-task, in-fold transfer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vocalmind.config import load_config
from vocalmind.corpora import write_manifest
from vocalmind.errors import ConfigError
from vocalmind.experiment import load_model, run_experiment

TRAINING = {"epochs": 3, "batch_size": 8, "lr": 0.003, "n_threads": 1, "patience": 0}


@pytest.fixture
def manifest_path(tone_cohort: pd.DataFrame, tmp_path: Path) -> Path:
    m = tone_cohort.copy()
    # a second, anxiety-like label that is missing for a third of the rows
    m["gad7"] = np.where(np.arange(len(m)) % 3 == 0, np.nan, m["phq9"].clip(0, 21))
    from vocalmind.corpora import make_manifest

    return write_manifest(make_manifest(m), tmp_path / "m.csv")


def _raw(path: Path, **over: object) -> dict:
    raw = {"name": "deep", "jobs": 1, "corpus": {"manifest": str(path)},
           "task": {"label": "emotion"},
           "model": {"name": "melcnn", "params": {"n_blocks": 3, "base_channels": 4,
                                                   "augment": False},
                     "training": TRAINING},
           "protocol": {"name": "group_kfold", "params": {"n_splits": 3}},
           "evaluation": {"n_boot": 50}}
    raw.update(over)
    return raw


def test_melcnn_run_and_reload(manifest_path: Path, tmp_path: Path) -> None:
    res = run_experiment(load_config(raw=_raw(manifest_path)), out=tmp_path / "run")
    m = res.metrics
    assert m["model"] == "melcnn" and m["n_subjects"] == 6 and m["features"] is None
    assert 0 <= m["uar"] <= 1 and len(m["uar_ci"]) == 2
    est, info = load_model(res.run_dir)
    assert info["kind"] == "deep" and info["classes"] == ["high", "low"]
    rows = pd.read_csv(manifest_path).head(4)
    assert est.predict_proba(rows).shape == (4, 2)


def test_deep_folds_in_parallel_processes_give_the_same_predictions(
        manifest_path: Path, tmp_path: Path) -> None:
    """jobs=2 trains two outer folds at a time in worker processes (one torch thread each),
    and the final model beside them; each fit seeds itself, so the out-of-fold predictions
    and the final model equal those of one fit at a time, the final one after the folds."""
    from vocalmind.experiment import deep_fold_workers

    # the recipe's random parts too: augmentation, masks, mixup, speed perturbation, EMA,
    # cosine schedule, label smoothing and a refit after early stopping
    model = {"name": "cnn_lstm",
             "params": {"channels": 8, "n_res_blocks": 1, "lstm_hidden": 8, "segment_s": 1.0,
                        "augment": True, "freq_masks": 1, "time_masks": 1,
                        "speed_perturb": [0.9, 1.1]},
             "training": {**TRAINING, "patience": 2, "schedule": "cosine", "mixup_alpha": 0.2,
                          "ema_decay": 0.9, "label_smoothing": 0.1, "refit": True}}
    cfgs = {j: load_config(raw=_raw(manifest_path, jobs=j, model=model)) for j in (1, 2)}
    assert [deep_fold_workers(cfgs[j], 3) for j in (1, 2)] == [1, 2]
    preds, finals = {}, {}
    rows = pd.read_csv(manifest_path).head(6)
    for j, cfg in cfgs.items():
        res = run_experiment(cfg, out=tmp_path / f"jobs{j}")
        preds[j] = pd.read_csv(res.run_dir / "predictions.csv")
        finals[j] = load_model(res.run_dir)[0].predict_proba(rows)
        # the final model's training log, written by whichever process trained it
        assert (res.run_dir / "model" / "training" / "history.csv").is_file()
    assert preds[1]["fold"].nunique() == 3
    pd.testing.assert_frame_equal(preds[1], preds[2])
    np.testing.assert_array_equal(finals[1], finals[2])


def test_deep_fold_workers_share_the_cores_between_torch_threads(manifest_path: Path) -> None:
    from vocalmind.experiment import deep_fold_workers

    def workers(jobs: int, n_threads: int, n_folds: int = 10) -> int:
        raw = _raw(manifest_path, jobs=jobs)
        raw["model"]["training"] = {**TRAINING, "n_threads": n_threads, "device": "cpu"}
        return deep_fold_workers(load_config(raw=raw), n_folds)

    assert workers(2, 1) == 2 and workers(2, 2) == 1 and workers(4, 2) == 2
    assert workers(8, 1, n_folds=3) == 3  # never more workers than folds
    assert workers(1, 4) == 1


def test_multitask_with_infold_pretraining(manifest_path: Path, tmp_path: Path) -> None:
    raw = _raw(manifest_path,
               task={"label": ["phq9_band", "gad7_band"]},
               model={"name": "cnn_lstm",
                      "params": {"channels": 8, "n_res_blocks": 1, "lstm_hidden": 8,
                                 "segment_s": 1.0},
                      "training": TRAINING,
                      "pretrain": {"label": "emotion", "epochs": 1,
                                   "freeze_layers": ["cnn.*"]}})
    res = run_experiment(load_config(raw=raw), out=tmp_path / "mt")
    m = res.metrics
    assert set(m["tasks"]) == {"phq9_band", "gad7_band"}
    assert m["pretrained_on"] == "emotion"
    assert m["disclaimer"] == "Research measurement, not a diagnosis."
    # gad7 is missing on a third of the rows: those rows are never scored for it
    gad = pd.read_csv(res.run_dir / "predictions_gad7_band.csv")
    assert len(gad) == m["tasks"]["gad7_band"]["n_units"] == 24
    assert (res.run_dir / "predictions.csv").is_file()


def test_multitask_needs_a_deep_model(manifest_path: Path, tmp_path: Path) -> None:
    raw = _raw(manifest_path, task={"label": ["phq9_band", "gad7_band"]},
               model={"name": "logreg"})
    with pytest.raises(ConfigError, match="multi-task"):
        run_experiment(load_config(raw=raw), out=tmp_path / "x")


def test_a_speaker_normalised_deep_model_needs_the_speakers_at_assessment(
        manifest_path: Path, tmp_path: Path) -> None:
    """A deep family that standardises its inputs per speaker (cnn_lstm's speaker_norm) is
    marked so in its recipe and model card: assess refuses recordings of unknown speakers
    rather than normalising different people together, and scores a named speaker."""
    from vocalmind.assess import assess
    from vocalmind.errors import SpeakerError
    from vocalmind.recipe import Recipe, speaker_normalised
    from vocalmind.runs import model_dir_of, speaker_normalised_card

    raw = _raw(manifest_path, model={
        "name": "cnn_lstm", "params": {"channels": 4, "n_res_blocks": 1, "lstm_hidden": 4,
                                       "segment_s": 1.0, "speaker_norm": True},
        "training": {**TRAINING, "epochs": 1}})
    cfg = load_config(raw=raw)
    assert speaker_normalised(cfg)
    ssl = load_config(raw=_raw(manifest_path, model={
        "name": "ssl_attention", "params": {"encoder_path": "x", "speaker_norm": True}}))
    assert speaker_normalised(ssl)
    res = run_experiment(cfg, out=tmp_path / "run")
    assert res.metrics["speaker_normalization"] is True
    _, card = load_model(res.run_dir)
    assert speaker_normalised_card(card)
    assert Recipe.load(model_dir_of(res.run_dir)).speaker_normalization
    m = pd.read_csv(manifest_path)
    files = m.loc[m["subject"] == "S0", "file"].tolist()
    with pytest.raises(SpeakerError, match="will not pool"):
        assess(files, res.run_dir)
    out = assess(files, res.run_dir, speakers=["S0"] * len(files))
    assert all(r["prediction"] in ("high", "low") for r in out)
