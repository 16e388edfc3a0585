"""What a researcher needs from a run report: baselines, folds, speakers, provenance,
per-class intervals, the screening view, captions in words, caveats; and the page in a real
headless Chromium (screenshots kept under build/test-artifacts/)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vocalmind.evaluation import (
    classification_metrics,
    make_protocol,
    regression_metrics,
    write_report,
)
from vocalmind.evaluation.metrics import majority_baseline, mean_baseline, screening_metrics
from vocalmind.evaluation.report import config_hash, corpus_fingerprint, figure_caption

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"


def emotion_run(tmp_path: Path, n_subjects: int = 6, per_subject: int = 14):
    """A LOSO-like classification run: files on disk, folds = subjects, 3 classes."""
    rng = np.random.default_rng(0)
    classes = np.array(["anger", "neutral", "sadness"])
    subjects = np.repeat([f"s{i:02d}" for i in range(n_subjects)], per_subject)
    n = subjects.size
    y = np.tile([0, 0, 0, 1, 1, 2, 2], n // 7 + 1)[:n]  # anger is the majority class
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, 3, n))
    files = []
    for i in range(n):
        f = tmp_path / "audio" / f"{i:03d}.wav"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(b"x" * (i + 1))
        files.append(str(f))
    folds = pd.factorize(subjects)[0]
    preds = pd.DataFrame({"file": files, "subject": subjects, "y_true": classes[y],
                          "y_pred": classes[pred], "fold": folds})
    m = classification_metrics(classes[y], classes[pred], classes=list(classes), groups=subjects,
                               n_boot=200)
    m.update({"protocol": "loso", "protocol_description": make_protocol("loso").describe(),
              "subject_independent": True, "label": "emotion", "model": "svm",
              "level": "recording", "speaker_normalization": True, "wall_time_s": 12.5,
              "corpus": "emodb", "n_subjects": n_subjects,
              "tuned_params_per_fold": [{"fold": k, "C": 0.01} for k in range(n_subjects)]})
    config = {"name": "emodb-like", "task": {"label": "emotion"},
              "features": {"set": "compare", "speaker_normalization": True},
              "model": {"name": "svm", "params": {"kernel": "linear"},
                        "tune": {"grid": {"C": [0.001, 0.01]}, "inner_splits": 3}},
              "protocol": {"name": "loso"}}
    return m, preds, config


def phq_run(n: int = 40):
    rng = np.random.default_rng(3)
    t = rng.integers(0, 27, n).astype(float)
    p = np.clip(t * 0.5 + 6 + rng.normal(0, 3, n), 0, 27)
    subjects = np.array([f"p{i:02d}" for i in range(n)])
    preds = pd.DataFrame({"file": [f"/nowhere/{s}.wav" for s in subjects], "subject": subjects,
                          "y_true": t, "y_pred": p, "fold": np.arange(n)})
    m = regression_metrics(t, p, groups=subjects, n_boot=300)
    m.update({"protocol": "loo_subjects",
              "protocol_description": make_protocol("loo_subjects").describe(),
              "subject_independent": True, "label": "phq9", "model": "mlp", "level": "subject",
              "n_subjects": n, "corpus": "emu"})
    config = {"task": {"label": "phq9"}, "selection": {"alpha": 0.01, "covariates": ["gender"]},
              "model": {"name": "mlp", "params": {"strategy": "random", "n_trials": 4, "cv": 3}}}
    return m, preds, config


# --------------------------------------------------------------------------- metrics


def test_majority_baseline_uses_training_side_only():
    # fold 0 holds every "b"; its training side has only "a", so it predicts "a" there
    y = np.array(["a", "a", "a", "b", "b", "b"])
    groups = np.array(["s1", "s2", "s3", "s4", "s5", "s6"])
    b = majority_baseline(y, groups=groups, folds=[1, 1, 1, 0, 0, 0], n_boot=0)
    assert b["majority"]["accuracy"] == 0.0  # each fold predicts the other class
    b = majority_baseline(["a", "a", "a", "b"], groups=["1", "2", "3", "4"], n_boot=50)
    assert b["majority"]["accuracy"] == 0.75 and b["chance"]["uar"] == 0.5


def test_mean_baseline_is_leave_one_subject_out_and_paired():
    y = np.array([0.0, 10.0, 20.0, 30.0])
    b = mean_baseline(y, groups=["a", "b", "c", "d"], n_boot=0)
    floor = np.array([(y.sum() - v) / 3 for v in y])
    assert b["mae"] == pytest.approx(np.abs(floor - y).mean())
    # two rows of one subject share its held-out mean
    b2 = mean_baseline([0.0, 0.0, 9.0], groups=["a", "a", "b"], n_boot=0)
    assert b2["mae"] == pytest.approx((9 + 9 + 9) / 3)
    perfect = mean_baseline(y, y, groups=["a", "b", "c", "d"], n_boot=200)
    assert perfect["mae_difference"] == pytest.approx(-b["mae"])
    lo, hi = perfect["mae_difference_ci"]
    assert lo <= perfect["mae_difference"] <= hi < 0


def test_screening_metrics_counts_and_intervals():
    t = np.array([1, 1, 1, 0, 0, 0, 0, 1], bool)
    p = np.array([1, 1, 0, 0, 0, 1, 0, 1], bool)
    s = screening_metrics(t, p, groups=np.arange(8), n_boot=300)
    assert (s["tp"], s["fp"], s["tn"], s["fn"]) == (3, 1, 3, 1)
    assert s["sensitivity"] == 0.75 and s["specificity"] == 0.75
    assert s["ppv"] == 0.75 and s["npv"] == 0.75 and s["prevalence"] == 0.5
    lo, hi = s["sensitivity_ci"]
    assert 0 <= lo < 0.75 < hi <= 1


def test_per_class_intervals_bracket_the_point():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    p = np.where(rng.random(120) < 0.7, y, rng.integers(0, 3, 120))
    m = classification_metrics(y, p, groups=np.repeat(np.arange(12), 10), n_boot=300)
    for v in m["per_class"].values():
        for key in ("precision", "recall", "f1"):
            lo, hi = v[f"{key}_ci"]
            assert lo <= v[key] <= hi


# --------------------------------------------------------------------------- report


def test_classification_report_has_baselines_folds_speakers_provenance(tmp_path):
    m, preds, config = emotion_run(tmp_path)
    run = tmp_path / "run"
    text = write_report(run, metrics=m, predictions=preds, config=config, title="t").read_text()
    base = json.loads((run / "baselines.json").read_text())
    assert base["majority"]["class"] == "anger"
    assert base["chance"]["uar"] == pytest.approx(1 / 3)
    assert 'id="baselines"' in text and "majority class of the training side (anger)" in text
    assert "<th>baseline</th>" in text
    # per fold: one row per subject-fold, with its own accuracy and tuned C
    folds = pd.read_csv(run / "per_fold.csv")
    assert len(folds) == 6 and set(folds["subjects"]) == {1}
    acc = (preds["y_true"] == preds["y_pred"]).groupby(preds["fold"]).mean()
    assert folds["accuracy"].to_numpy() == pytest.approx(acc.to_numpy())
    assert folds["tuned"].str.contains('"C": 0.01').all()
    assert 'id="per-fold"' in text and 'id="per-subject"' in text
    speakers = json.loads((run / "fold_subjects.json").read_text())["folds"]
    assert speakers[0]["test"] == ["s00"] and "s00" not in speakers[0]["train"]
    assert len(speakers[0]["train"]) == 5
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["versions"]["vocalmind"] and prov["versions"]["scikit-learn"]
    assert prov["config_sha256"] == config_hash(config) and prov["run_time_s"] == 12.5
    assert prov["corpus_fingerprint"]["n_files"] == len(preds)
    assert 'id="provenance"' in text and prov["config_sha256"] in text
    # protocol text says what happened inside the folds
    assert "nested tuning" in text and "per speaker" in text
    # per-class intervals are shown
    assert re.search(r"<td>anger</td><td>[0-9.]+ <span class=\"ci\">\[", text)
    assert 'id="screening"' not in text  # not a clinical label
    assert "Confusion matrix of the pooled out-of-fold predictions" in text


def test_fingerprint_ignores_folder_but_sees_content(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "x.wav").write_bytes(b"123")
    assert corpus_fingerprint([a / "x.wav"])["sha256"] == corpus_fingerprint([b / "x.wav"])["sha256"]
    (b / "x.wav").write_bytes(b"1234")
    assert corpus_fingerprint([a / "x.wav"])["sha256"] != corpus_fingerprint([b / "x.wav"])["sha256"]


def test_regression_report_has_floor_and_screening(tmp_path):
    m, preds, config = phq_run()
    run = tmp_path / "run"
    text = write_report(run, metrics=m, predictions=preds, config=config, title="EMU").read_text()
    floor = json.loads((run / "baselines.json").read_text())["mean_of_training_subjects"]
    y = preds["y_true"].to_numpy()
    assert floor["mae"] == pytest.approx(np.abs(y - (y.sum() - y) / (len(y) - 1)).mean())
    assert "mean of the training subjects" in text
    s = json.loads((run / "screening.json").read_text())
    pos_t, pos_p = y >= 10, preds["y_pred"].to_numpy() >= 10
    assert s["tp"] == int((pos_t & pos_p).sum()) and s["fn"] == int((pos_t & ~pos_p).sum())
    assert "Screening view: PHQ9 &gt;= 10" in text and 'id="screening"' in text
    assert "selected inside each training fold" in text and "architecture was searched" in text
    # one unit per fold: no per-fold scores
    assert "mae" not in pd.read_csv(run / "per_fold.csv").columns


def test_band_labels_screen_at_the_cutoff_band(tmp_path):
    bands = np.array(["none", "mild", "moderate", "moderately_severe", "severe"] * 4)
    pred = np.roll(bands, 1)
    preds = pd.DataFrame({"subject": np.arange(20).astype(str), "y_true": bands, "y_pred": pred})
    m = classification_metrics(bands, pred, groups=preds["subject"], n_boot=50)
    m["label"] = "phq9_band"
    write_report(tmp_path, metrics=m, predictions=preds, config={}, title="t")
    s = json.loads((tmp_path / "screening.json").read_text())
    assert s["prevalence"] == pytest.approx(0.6)  # moderate and above
    assert "band moderate or above" in s["rule"]


def test_caveats_for_two_speakers_and_constant_predictor(tmp_path):
    preds = pd.DataFrame({"subject": ["OAF"] * 5 + ["YAF"] * 5, "y_true": list("aabba") * 2,
                          "y_pred": ["a"] * 10, "fold": [0] * 5 + [1] * 5})
    m = classification_metrics(preds["y_true"], preds["y_pred"], groups=preds["subject"],
                               n_boot=50)
    m.update({"protocol": "loso", "subject_independent": True})
    text = write_report(tmp_path, metrics=m, predictions=preds, config={}, title="t").read_text()
    assert "Only 2 subjects" in text and "trains on ONE person" in text
    assert "constant predictor" in text


def test_importance_caption_names_its_model():
    cap = figure_caption("Random-forest importance, top 10", {"model": "mlp"})
    assert "not the evaluated mlp model" in cap
    assert "not the evaluated" not in figure_caption("Random-forest importance", {"model": "rf"})


def test_interval_plot_keeps_units_and_scores_apart():
    from vocalmind.evaluation.plots import bootstrap_interval_plot

    m, _, _ = phq_run()
    fig = bootstrap_interval_plot(m, baselines={"mae": 6.0})
    axes = fig.get_axes()
    assert len(axes) == 2
    labels = [[t.get_text() for t in ax.get_yticklabels()] for ax in axes]
    assert set(labels[0]) == {"mae", "rmse"}
    assert not {"mae", "rmse"} & set(labels[1])
    # classification: one bounded scale, one axis
    y = np.array([0, 1] * 20)
    assert len(bootstrap_interval_plot(classification_metrics(y, y[::-1], n_boot=0)).get_axes()) == 1


# --------------------------------------------------------------------------- browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian chromium not installed")
def test_reports_render_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    m, preds, config = emotion_run(tmp_path)
    emo = write_report(tmp_path / "emo", metrics=m, predictions=preds, config=config,
                       title="EMO-DB-like")
    m2, preds2, config2 = phq_run()
    emu = write_report(tmp_path / "emu", metrics=m2, predictions=preds2, config=config2,
                       title="EMU-like")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        for name, path, must in (
            ("emodb", emo, ["#baselines", "#per-fold", "#per-subject", "#provenance",
                            "#per-class .ci", "#fig-bootstrap_intervals figcaption"]),
            ("emu", emu, ["#baselines", "#screening", "#provenance", "#per-fold"]),
        ):
            page.goto(path.as_uri())
            for sel in must:
                assert page.locator(sel).first.is_visible(), (name, sel)
            # every picture loaded (non-zero natural size) and has a caption in words
            sizes = page.eval_on_selector_all("figure img", "els => els.map(e => e.naturalWidth)")
            assert sizes and min(sizes) > 0
            captions = page.eval_on_selector_all("figcaption", "els => els.map(e => e.textContent)")
            assert all(len(c.split()) >= 4 for c in captions), captions
            page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "report-emodb.png").stat().st_size > 10_000


def test_report_flags_features_above_the_nyquist_of_8khz_recordings(tmp_path):
    m, preds, config = emotion_run(tmp_path)
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "model.json").write_text(json.dumps(
        {"feature_names": ["hammarbergIndexV_sma3nz_amean", "loudness_sma3_amean"]}))
    pd.DataFrame({"file": preds["file"], "quality_native_sr": 8000}).to_csv(
        run / "quality.csv", index=False)
    text = write_report(run, metrics=m, predictions=preds, config=config, title="t").read_text()
    band = json.loads((run / "band_limits.json").read_text())
    assert band["features_above_nyquist"] == ["hammarbergIndexV_sma3nz_amean"]
    assert "sampled at 8000 Hz" in text and "hammarbergIndexV_sma3nz_amean" in text
    # 16 kHz recordings: nothing to say
    pd.DataFrame({"file": preds["file"], "quality_native_sr": 16000}).to_csv(
        run / "quality.csv", index=False)
    (run / "band_limits.json").unlink()
    text = write_report(run, metrics=m, predictions=preds, config=config, title="t").read_text()
    assert not (run / "band_limits.json").exists() and "sampled at" not in text


def test_baselines_of_a_single_held_out_fold_never_use_the_unit_itself():
    y = np.array([0.0, 10.0, 20.0, 30.0])
    one_fold = mean_baseline(y, groups=["a", "b", "c", "d"], folds=[0, 0, 0, 0], n_boot=0)
    loso = mean_baseline(y, groups=["a", "b", "c", "d"], n_boot=0)
    assert one_fold["mae"] == loso["mae"] > 0
    # each unit gets the majority of the other subjects: ties go to "a", so every unit is missed
    b = majority_baseline(["a", "b", "b"], groups=["1", "2", "3"], folds=[0, 0, 0], n_boot=0)
    assert b["majority"]["accuracy"] == 0.0
