"""The HTML report: self-contained images, metric values, banners; figures on disk."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from vocalmind.errors import ConfigError
from vocalmind.evaluation import (
    NOT_A_DIAGNOSIS,
    classification_metrics,
    is_clinical,
    make_protocol,
    regression_metrics,
    save_figure,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def emotion_run():
    rng = np.random.default_rng(0)
    classes = ["anger", "neutral", "sadness"]
    n = 90
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet(np.ones(3), n)
    proba[np.arange(n), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    groups = np.repeat([f"spk{i}" for i in range(9)], 10)
    names = np.array(classes)
    preds = pd.DataFrame({"file": [f"{i}.wav" for i in range(n)], "subject": groups,
                          "y_true": names[y], "y_pred": names[pred]})
    for k, c in enumerate(classes):
        preds[f"proba_{c}"] = proba[:, k]
    metrics = classification_metrics(names[y], names[pred], proba=proba, classes=classes,
                                     groups=groups, n_boot=200)
    return metrics, preds


def images(text: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


def test_classification_report(tmp_path):
    metrics, preds = emotion_run()
    metrics["protocol"] = make_protocol("loso").to_dict()
    config = {"task": {"label": "emotion"}, "features": {"set": "egemaps"}}
    path = write_report(tmp_path / "run", metrics=metrics, predictions=preds, config=config,
                        title="EMO-DB <LOSO>")
    text = path.read_text()
    assert path == tmp_path / "run" / "report.html"
    imgs = images(text)
    assert len(imgs) == 4 and all(i.startswith(PNG_MAGIC) for i in imgs)
    saved = sorted(p.name for p in (tmp_path / "run" / "figures").iterdir())
    assert saved == ["bootstrap_intervals.png", "confusion_matrix.png", "per_class.png", "roc.png"]
    assert "EMO-DB &lt;LOSO&gt;" in text
    assert f"{metrics['uar']:.3f}" in text and f"{metrics['roc_auc']:.3f}" in text
    lo, hi = metrics["uar_ci"]
    assert f"[{lo:.3f}, {hi:.3f}]" in text
    assert "Leave-one-subject-out" in text
    assert 'class="banner independent"' in text and "SPEAKER-DEPENDENT" not in text
    assert NOT_A_DIAGNOSIS not in text
    assert re.search(r"<td>sadness</td><td>[0-9.]+ <span class=\"ci\">\[", text)
    assert "set: egemaps" in text  # config as YAML
    assert not list((tmp_path / "run").rglob("*.part"))


def test_speaker_dependent_banner(tmp_path):
    metrics, preds = emotion_run()
    metrics["protocol"] = make_protocol("stratified_kfold").to_dict()
    text = write_report(tmp_path, metrics=metrics, predictions=preds, config={},
                        title="t").read_text()
    assert 'class="banner dependent"' in text and "SPEAKER-DEPENDENT" in text
    assert "speaker-dependent" in text
    # the experiment runner's layout: a label string plus separate description/flag keys
    metrics["protocol"] = "stratified_kfold (speaker-dependent)"
    metrics["protocol_description"] = "10-fold CV over recordings, speaker-dependent."
    metrics["subject_independent"] = False
    text = write_report(tmp_path, metrics=metrics, predictions=None, config={},
                        title="t").read_text()
    assert 'class="banner dependent"' in text and "10-fold CV over recordings" in text
    for key in ("protocol", "protocol_description", "subject_independent"):
        del metrics[key]
    text = write_report(tmp_path, metrics=metrics, predictions=None, config={},
                        title="t").read_text()
    assert 'class="banner unknown"' in text


def test_regression_report_for_depression(tmp_path):
    rng = np.random.default_rng(1)
    t = rng.integers(0, 25, 40).astype(float)
    p = t + rng.normal(0, 3, 40)
    groups = np.arange(40)
    metrics = regression_metrics(t, p, groups=groups, n_boot=200)
    metrics["protocol"] = make_protocol("loo_subjects").to_dict()
    preds = pd.DataFrame({"subject": groups, "y_true": t, "y_pred": p})
    extra_file = save_figure(Figure(), tmp_path / "elsewhere" / "extra.png")
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    path = write_report(tmp_path / "run", metrics=metrics, predictions=preds,
                        config={"task": {"label": "phq8"}, "seed": np.int64(3)}, title="EMU",
                        extra_figures={"my plot": fig, "from file": extra_file})
    text = path.read_text()
    assert NOT_A_DIAGNOSIS in text
    assert f"{metrics['mae']:.3f}" in text and f"{metrics['ccc']:.3f}" in text
    assert len(images(text)) == 5
    saved = sorted(p.name for p in (tmp_path / "run" / "figures").iterdir())
    assert saved == ["bootstrap_intervals.png", "errors.png", "from_file.png", "my_plot.png",
                     "predicted_vs_actual.png"]
    assert "seed: 3" in text
    assert 'id="per-class"' not in text


@pytest.mark.parametrize("label", ["gad7_binary", "phq9_band", "hamd", "sds", "phq8"])
def test_clinical_labels_are_recognised(label):
    assert is_clinical({"task": {"label": label}})
    assert is_clinical({"model": {"x": 1}, "data": {"labels": ["emotion", label]}})
    assert not is_clinical({"task": {"label": "emotion"}, "note": label})


def test_bad_extra_figure_leaves_no_report(tmp_path):
    metrics, preds = emotion_run()
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(ConfigError, match="not an image"):
        write_report(tmp_path / "run", metrics=metrics, predictions=preds, config={},
                     title="t", extra_figures={"notes": notes})
    assert not (tmp_path / "run").exists()  # nothing drawn or written
