"""The `vocalmind` command line end to end: experiment run, assess, config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from vocalmind.cli import app
from vocalmind.corpora import write_manifest

runner = CliRunner()


def test_experiment_run_then_assess(tone_cohort: pd.DataFrame, tmp_path: Path) -> None:
    manifest = write_manifest(tone_cohort, tmp_path / "m.csv")
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "cli", "jobs": 1, "corpus": {"manifest": "PLACEHOLDER"},
        "task": {"label": "emotion"},
        "features": {"set": "egemaps", "cache_dir": None, "jobs": 1},
        "model": {"name": "logreg"}, "protocol": {"name": "loso"},
        "evaluation": {"n_boot": 100}}))
    out = tmp_path / "run"
    res = runner.invoke(app, ["experiment", "run", str(cfg), "--set",
                              f"corpus.manifest={manifest}", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"report: {out / 'report.html'}" in res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == "loso" and "uar_ci" in metrics

    res = runner.invoke(app, ["assess", tone_cohort["file"].iloc[0], "--model", str(out),
                              "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)  # progress bars go to stderr
    assert result["prediction"] in {"low", "high"} and result["trained_on"] == str(manifest)


def test_config_error_is_one_clear_message(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("corpus: {manifest: m.csv}\ntask: {label: emotion}\nmodel: {nam: svm}\n")
    res = runner.invoke(app, ["experiment", "run", str(cfg)])
    assert res.exit_code == 2
    assert "model.nam: unknown key (did you mean 'name'?)" in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_assess_rejects_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    clip = tmp_path / "x.wav"
    clip.write_bytes(b"")
    res = runner.invoke(app, ["assess", str(clip), "--model", str(tmp_path)])
    assert res.exit_code == 2 and "not a finished run folder" in " ".join(res.output.split())
