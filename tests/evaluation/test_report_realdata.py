"""Real EMO-DB and EMU runs end to end, their reports opened in headless Chromium.

Screenshots are kept under build/test-artifacts/ (report-real-emodb.png, report-real-emu.png).
Skipped when ../shared/data or Debian's chromium is absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vocalmind.config import load_config
from vocalmind.experiment import run_experiment

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.realdata


def _run(raw: dict, out: Path) -> Path:
    return run_experiment(load_config(raw=raw), out=out).run_dir


def _screenshot(report: Path, name: str, must: list[str]) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian chromium not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(report.as_uri())
        for sel in must:
            assert page.locator(sel).first.is_visible(), sel
        sizes = page.eval_on_selector_all("figure img", "els => els.map(e => e.naturalWidth)")
        assert sizes and min(sizes) > 0
        page.screenshot(path=str(ARTIFACTS / f"report-real-{name}.png"), full_page=True)
        browser.close()


def test_real_emodb_report(tmp_path: Path) -> None:
    root = DATA / "emodb"
    if not root.is_dir():
        pytest.skip(f"real EMO-DB not found at {root}")
    run = _run({"name": "emodb-egemaps-logreg", "jobs": 1,
                "corpus": {"name": "emodb", "root": str(root)}, "task": {"label": "emotion"},
                "features": {"set": "egemaps", "speaker_normalization": True, "jobs": 2,
                             "cache_dir": str(tmp_path / "cache")},
                "model": {"name": "logreg", "tune": {"grid": {"C": [0.01, 1.0]}, "inner_splits": 2}},
                "protocol": {"name": "loso"}, "evaluation": {"n_boot": 300}}, tmp_path / "run")
    base = json.loads((run / "baselines.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert base["majority"]["class"] == "anger" and metrics["uar"] > base["chance"]["uar"] + 0.3
    assert len(json.loads((run / "fold_subjects.json").read_text())["folds"]) == 10
    assert json.loads((run / "provenance.json").read_text())["corpus_fingerprint"]["n_files"] == 535
    _screenshot(run / "report.html", "emodb",
                ["#baselines", "#per-fold", "#per-subject", "#provenance", "#per-class .ci"])


def test_real_emu_report_has_screening_and_floor(tmp_path: Path) -> None:
    root = DATA / "emu"
    if not root.is_dir():
        pytest.skip(f"real EMU not found at {root}")
    run = _run({"name": "emu-egemaps-ridge", "jobs": 1,
                "corpus": {"name": "emu", "root": str(root), "options": {"task": "structured"}},
                "task": {"label": "phq9"},
                "features": {"set": "egemaps", "jobs": 2, "cache_dir": str(tmp_path / "cache"),
                             "max_failure_fraction": 0.1},
                "model": {"name": "ridge", "params": {"alpha": 100.0}},
                "protocol": {"name": "loo_subjects"},
                "evaluation": {"n_boot": 300, "level": "subject"}}, tmp_path / "run")
    floor = json.loads((run / "baselines.json").read_text())["mean_of_training_subjects"]
    screen = json.loads((run / "screening.json").read_text())
    assert floor["mae"] > 3 and floor["mae_difference_ci"] is not None
    assert screen["rule"] == "PHQ9 >= 10" and screen["tp"] + screen["fn"] > 10
    _screenshot(run / "report.html", "emu", ["#baselines", "#screening", "#provenance"])
