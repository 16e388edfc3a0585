"""EMU, leave-one-subject-out: PHQ-9 and GAD-7 (scores, and the >= 10 screens) from frozen
Whisper base features, beside the same models on the 1,200 clinical statistics and beside
the floors (mean of the other subjects; majority class and chance for the screens).
Writes docs/benchmarks.md.

    .venv/bin/python bench/bench_emu_encoders.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _report import DATA, ROOT, machine, require, update_section

from vocalmind.config import load_config
from vocalmind.experiment import run_experiment

FEATURES = {"whisper": ["features.set=whisper", "features.params={model: base}"],
            "clinical": ["features.set=clinical", "features.params={}"]}


def _run(root: Path, cache: str, feats: str, score: str, rec: str, screen: bool,
         out: Path) -> dict:
    over = [f"corpus.root={root}", f"corpus.options.task={rec}", f"features.cache_dir={cache}",
            *FEATURES[feats]]
    if screen:
        over += [f"task.label={score}_binary", "model.name=logreg", "model.params={max_iter: 5000}",
                 "model.tune.grid={C: [0.0001, 0.001, 0.01, 0.1]}"]
    else:
        over += [f"task.label={score}"]
    cfg = load_config(ROOT / "examples" / "emu-whisper-phq9-ridge.yaml", overrides=over)
    t0 = time.perf_counter()
    res = run_experiment(cfg, out=out, force=True)
    m = dict(res.metrics)
    pred = pd.read_csv(res.run_dir / "predictions.csv")
    if screen:
        y = pred["y_true"].astype(str)
        m["majority_acc"] = float(y.value_counts(normalize=True).max())
        m["positives"] = int((y == "1").sum())
    else:
        y = pred["y_true"].to_numpy(float)
        m["floor_mae"] = float(np.abs(y - (y.sum() - y) / (len(y) - 1)).mean())
    m["wall_s"] = time.perf_counter() - t0
    return m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "features"))
    args = ap.parse_args()
    root = require(DATA / "emu")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for score in ("phq9", "gad7"):
            for rec in ("structured", "unstructured"):
                for feats in ("whisper", "clinical"):
                    for screen in (False, True):
                        name = f"{score}-{rec}-{feats}-{'screen' if screen else 'score'}"
                        m = _run(root, args.cache, feats, score, rec, screen, Path(tmp) / name)
                        rows.append((score, rec, feats, screen, m))
                        key = "uar" if screen else "mae"
                        print(name, round(m[key], 3), m[f"{key}_ci"], flush=True)
    (ROOT / ".cache").mkdir(exist_ok=True)
    (ROOT / ".cache" / "bench_emu_encoders.json").write_text(json.dumps(
        [(s, r, f, sc, {k: v for k, v in m.items() if not isinstance(v, dict | list) or k.endswith("_ci")})
         for s, r, f, sc, m in rows], default=str, indent=1))

    def ci(m: dict, k: str) -> str:
        v, c = m.get(k), m.get(f"{k}_ci")
        if v is None:
            return "undefined"
        return f"{v:.3f} [{c[0]:.3f}, {c[1]:.3f}]" if c and None not in c else f"{v:.3f}"

    lines = [
        "## EMU on Whisper features: PHQ-9 and GAD-7, scores and >= 10 screens",
        "",
        f"Command: `.venv/bin/python bench/bench_emu_encoders.py` — machine: {machine()}. "
        "Config: `examples/emu-whisper-phq9-ridge.yaml` with overrides (label, recordings, "
        "feature set). Leave-one-subject-out, one recording per person and task; scores: "
        "ridge, alpha tuned in-fold; screens (score >= 10): logistic regression, C tuned "
        "in-fold, balanced classes. The same models on the 1,200 clinical statistics beside "
        "them. 95 % subject-bootstrap intervals. EMU audio is 8 kHz, upsampled to 16 kHz for "
        "both sets (Whisper sees an empty band above 4 kHz). Research measurements, not "
        "diagnoses.",
        "",
        "| score | recordings | features | n | MAE [95 % CI] | floor: mean of the others | Pearson r [95 % CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for s, r, f, sc, m in rows:
        if not sc:
            lines.append(f"| {s} | {r} | {f} | {m['n_subjects']} | {ci(m, 'mae')} | "
                         f"{m['floor_mae']:.3f} | {ci(m, 'pearson_r')} |")
    lines += ["", "| screen | recordings | features | n (positive) | UAR [95 % CI] | "
              "accuracy [95 % CI] | majority-class accuracy | chance UAR |",
              "|---|---|---|---|---|---|---|---|"]
    for s, r, f, sc, m in rows:
        if sc:
            lines.append(f"| {s} >= 10 | {r} | {f} | {m['n_subjects']} ({m['positives']}) | "
                         f"{ci(m, 'uar')} | {ci(m, 'accuracy')} | {m['majority_acc']:.3f} | 0.500 |")
    lines += ["", "A model has learnt something only where its MAE is below the floor column, "
              "or its UAR's interval lies above 0.5; with 47-54 people the intervals are wide. "
              "A strongly negative r at a floor-level MAE is the leave-one-out artefact of "
              "near-mean predictions (each prediction moves against the held-out score), not "
              "an inverse relation."]
    update_section("emu-encoders", "\n".join(lines))


if __name__ == "__main__":
    main()
