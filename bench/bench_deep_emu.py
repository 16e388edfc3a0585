"""EMU: CNN-LSTM single-task versus transfer versus multi-task (document 000's comparison)
on PHQ-9 and GAD-7 bands and on the binary screens (score >= 10).

Runs the shipped configs ``examples/emu-cnn_lstm-{single,transfer,multitask}.yaml`` with
label overrides, subject-grouped 5-fold CV on the free answers (47 labelled people, one
recording each), and prints a markdown table of accuracy and UAR with 95 % subject-
bootstrap intervals. Document 000 reports (on its own, larger data) that transfer from
depression lifted anxiety accuracy from 67 % to 72 % and that multi-task learning reached
71 % on both; with 47 people an interval of +-14 points is the expected width.

    .venv/bin/python bench/bench_deep_emu.py [--threads 2] [--out .cache/bench/deep-emu]
        [--only bands|binary] [--recipe shipped|recipe|recipe_speed|whisper]

``--recipe`` picks the training recipe laid over the three configs (the same overrides for
each, fixed before any EMU run): ``shipped`` the configs as they are; ``recipe`` the log-mel
training recipe of ``examples/emodb-cnn_lstm-recipe.yaml`` (SpecAugment-style masks, mixup,
cosine schedule, weight EMA, label smoothing, refit on every training subject);
``recipe_speed`` the same with four speed copies and one fixed 45-epoch fit on every
training subject (stop 22's EMO-DB recipe);
``whisper`` the same CNN-LSTM on frozen Whisper base block-3 frames with the settings of
``examples/emodb-cnn_lstm-whisper.yaml``. No recipe normalises per speaker: on EMU every
person has one recording and one label, so per-speaker statistics would erase the signal.
Each label's row carries the baselines scored like the model (same folds, subjects and
bootstrap): chance (1/K) and the majority class of each training side.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / OpenMP is loaded

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
from _report import DATA, ROOT, machine, require  # noqa: E402

from vocalmind.config import load_config  # noqa: E402
from vocalmind.evaluation.report import compute_baselines  # noqa: E402
from vocalmind.experiment import run_experiment  # noqa: E402
from vocalmind.training.data import cached_rows  # noqa: E402

#: (setting, config, overrides, labels reported)
RUNS = {
    "bands": [
        ("single-task", "single", ["task.label=phq9_band"], ["phq9_band"]),
        ("single-task", "single", ["task.label=gad7_band"], ["gad7_band"]),
        ("transfer PHQ-9 -> GAD-7", "transfer", [], ["gad7_band"]),
        ("multi-task", "multitask", [], ["phq9_band", "gad7_band"]),
    ],
    "binary": [
        ("single-task", "single", ["task.label=phq9_binary"], ["phq9_binary"]),
        ("single-task", "single", ["task.label=gad7_binary"], ["gad7_binary"]),
        ("transfer PHQ-9 -> GAD-7", "transfer",
         ["task.label=gad7_binary", "model.pretrain.label=phq9_binary"], ["gad7_binary"]),
        ("multi-task", "multitask", ["task.label=[phq9_binary, gad7_binary]"],
         ["phq9_binary", "gad7_binary"]),
    ],
}


#: overrides laid over every config of a run, per ``--recipe`` (see the module docstring)
#: the log-mel recipe's masks, mixup, schedule, weight average and smoothing
_LOGMEL = ["model.params.freq_masks=2", "model.params.time_masks=2",
           "model.training.mixup_alpha=0.2", "model.training.schedule=cosine",
           "model.training.ema_decay=0.99", "model.training.label_smoothing=0.1"]

RECIPES: dict[str, list[str]] = {
    "shipped": [],
    "recipe": [*_LOGMEL, "model.training.refit=true", "model.training.epochs=40",
               "model.training.patience=10"],
    # stop 22's log-mel recipe: the masks, mixup, schedule, EMA and smoothing of "recipe",
    # four speed copies (0.85-1.15) every epoch and one 45-epoch fit on all training
    # subjects (no early stopping or refit), as bench_deep_wall's cnn_lstm_fixed5_45.
    # Stopped at stop 22 after the first fit of each group: ~5.5 min per fit (45 epochs of
    # 5 versions of 47 long free answers) put the 10 runs at ~2.5 h on 2 cores.
    "recipe_speed": [*_LOGMEL, "model.params.speed_perturb=[0.85, 0.9, 1.1, 1.15]",
                     "model.training.val_fraction=0", "model.training.epochs=45"],
    "whisper": ["model.params.input=whisper", "model.params.whisper_model=base",
                "model.params.whisper_layer=3", "model.params.pool=2",
                "model.params.augment=false", "model.params.freq_masks=2",
                "model.params.freq_mask_width=32", "model.params.time_masks=2",
                "model.training.lr=0.001", "model.training.epochs=30",
                "model.training.patience=6", "model.training.refit=true",
                "model.training.ema_decay=0.99", "model.training.label_smoothing=0.1"],
}


def _baselines(metrics: dict, run_dir: Path, label: str, primary: str) -> dict:
    """Chance and majority-class scores of ``label``, scored like the model."""
    suffix = "" if label == primary else f"_{label}"
    preds = pd.read_csv(run_dir / f"predictions{suffix}.csv")
    return compute_baselines(metrics, preds)


def _ci(m: dict, key: str) -> str:
    lo, hi = m[f"{key}_ci"]
    return f"{m[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / ".cache" / "bench" / "deep-emu"))
    ap.add_argument("--only", choices=list(RUNS), default=None)
    ap.add_argument("--recipe", choices=list(RECIPES), default="shipped")
    args = ap.parse_args()
    root = require(DATA / "emu")
    out = Path(args.out)
    rows = []
    groups = [args.only] if args.only else list(RUNS)
    with cached_rows():  # every run reads the same recordings: decode them once
        for grp in groups:
            for i, (setting, name, over, labels) in enumerate(RUNS[grp]):
                cfg = load_config(ROOT / "examples" / f"emu-cnn_lstm-{name}.yaml", overrides=[
                    f"corpus.root={root}", f"model.training.n_threads={args.threads}",
                    *RECIPES[args.recipe], *over])
                t0 = time.perf_counter()
                res = run_experiment(cfg, out=out / f"{args.recipe}-{grp}-{i}-{name}", force=True)
                wall = time.perf_counter() - t0
                m = res.metrics
                for lab in labels:
                    lm = {**m, **m["tasks"][lab]} if "tasks" in m else m
                    base = _baselines(lm, Path(res.run_dir), lab, labels[0] if "tasks" in m
                                      else lab)
                    rows.append({"setting": setting, "label": lab, "accuracy": lm["accuracy"],
                                 "accuracy_ci": lm["accuracy_ci"], "uar": lm["uar"],
                                 "uar_ci": lm["uar_ci"], "n": lm["n_subjects"],
                                 "chance_uar": base["chance"]["uar"],
                                 "majority_accuracy": base["majority"]["accuracy"],
                                 "majority_class": base["majority"]["class"],
                                 "wall_s": wall, "run_dir": str(res.run_dir)})
                    print(f"{setting:24s} {lab:12s} acc {_ci(lm, 'accuracy')} "
                          f"UAR {_ci(lm, 'uar')} ({wall:.0f} s)", flush=True)
    print(f"\nEMU free answers, subject-grouped 5-fold CV, CNN-LSTM, recipe {args.recipe}; "
          f"machine: {machine()}; {args.threads} threads; load average at the end "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| setting | label | people | accuracy [95 % CI] | majority-class accuracy | "
          "UAR [95 % CI] | chance UAR | wall time |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['label']} | {r['n']} | {_ci(r, 'accuracy')} | "
              f"{r['majority_accuracy']:.3f} ({r['majority_class']}) | {_ci(r, 'uar')} | "
              f"{r['chance_uar']:.3f} | {r['wall_s'] / 60:.1f} min |")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"summary-{args.recipe}-{'-'.join(groups)}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
