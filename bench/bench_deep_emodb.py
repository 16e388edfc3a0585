"""EMO-DB, leave-one-speaker-out: the deep families melcnn, cnn_lstm and wavelet through the
shipped example configs (``examples/emodb-<family>.yaml``), and optionally a late fusion
with a ComParE + SVM run.

Prints a markdown table: family, UAR [95 % CI], accuracy [95 % CI], experiment wall time
(10 folds + the final model), parameter count and CPU threads. Run folders are kept under
``--out`` (metrics.json, predictions.csv, training curves).

    .venv/bin/python bench/bench_deep_emodb.py [--families melcnn cnn_lstm wavelet]
        [--threads 2] [--out .cache/bench/deep-emodb] [--fuse-with RUN_DIR] [--set key=value]
    .venv/bin/python bench/bench_deep_emodb.py --fuse-runs DEEP_RUN SVM_RUN

``--fuse-with`` names a finished run folder of ``examples/emodb-compare-svm.yaml`` (its
``predictions.csv`` holds calibrated class probabilities): the fusion averages the deep
and the SVM probabilities of each recording with equal weights fixed in advance (no
weight is tuned on the test speakers) and scores the arg-max.

Each clip's input (log-mel or waveform segments) is computed once for all 11 fits (the
process-wide row cache of :mod:`vocalmind.training.data`; ``cached_rows`` is now a no-op). ``OMP_WAIT_POLICY=PASSIVE`` is set before torch loads: on a 2-core machine shared with
other busy processes, OpenMP's spinning threads otherwise make 2-thread training several
times slower than 1 thread.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / OpenMP is loaded

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _report import DATA, ROOT, machine, require  # noqa: E402

from vocalmind.config import load_config  # noqa: E402
from vocalmind.experiment import load_model, run_experiment  # noqa: E402
from vocalmind.training.data import cached_rows  # noqa: E402

FAMILIES = ("melcnn", "cnn_lstm", "wavelet")


def _ci(m: dict, key: str) -> str:
    lo, hi = m[f"{key}_ci"]
    return f"{m[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def fuse(deep_run: Path, svm_run: Path, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Equal-weight late fusion of two runs' out-of-fold class probabilities per recording."""
    from vocalmind.evaluation import classification_metrics

    a = pd.read_csv(deep_run / "predictions.csv")
    b = pd.read_csv(svm_run / "predictions.csv")
    classes = sorted(c[6:] for c in a.columns if c.startswith("proba_"))
    cols = [f"proba_{c}" for c in classes]
    m = a[["file", "subject", "y_true", *cols]].merge(b[["file", *cols]], on="file",
                                                     suffixes=("_a", "_b"))
    if len(m) != len(a) or len(m) != len(b):
        raise SystemExit(f"runs do not cover the same recordings ({len(a)}, {len(b)}, {len(m)})")
    p = 0.5 * m[[f"{c}_a" for c in cols]].to_numpy() + 0.5 * m[[f"{c}_b" for c in cols]].to_numpy()
    pred = np.asarray(classes)[p.argmax(1)]
    return classification_metrics(m["y_true"].astype(str).to_numpy(), pred, proba=p,
                                  classes=classes, groups=m["subject"].astype(str).to_numpy(),
                                  n_boot=n_boot, ci=0.95, seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / ".cache" / "bench" / "deep-emodb"))
    ap.add_argument("--fuse-with", default=None, help="run folder of emodb-compare-svm")
    ap.add_argument("--set", action="append", default=[], help="extra config override")
    ap.add_argument("--fuse-runs", nargs=2, metavar=("DEEP_RUN", "SVM_RUN"), default=None,
                    help="only fuse two finished run folders and print the result")
    args = ap.parse_args()
    if args.fuse_runs:
        fm = fuse(Path(args.fuse_runs[0]), Path(args.fuse_runs[1]))
        print(f"| {Path(args.fuse_runs[0]).name} + {Path(args.fuse_runs[1]).name} "
              f"(equal-weight late fusion) | {_ci(fm, 'uar')} | {_ci(fm, 'accuracy')} |")
        return
    root = require(DATA / "emodb")
    out = Path(args.out)
    rows = []
    for fam in args.families:
        cfg = load_config(ROOT / "examples" / f"emodb-{fam}.yaml", overrides=[
            f"corpus.root={root}", f"model.training.n_threads={args.threads}", *args.set])
        t0 = time.perf_counter()
        with cached_rows():  # the 11 fits decode and transform each clip once, not 11 times
            res = run_experiment(cfg, out=out / fam, force=True)
        wall = time.perf_counter() - t0
        est, _ = load_model(res.run_dir)
        n_params = int(est.n_params_[0])
        m = res.metrics
        rows.append({"family": fam, "metrics": m, "wall_s": wall, "params": n_params,
                     "run_dir": str(res.run_dir)})
        print(f"{fam}: UAR {_ci(m, 'uar')} acc {_ci(m, 'accuracy')} wall {wall:.0f} s "
              f"params {n_params:,}", flush=True)
        if args.fuse_with:
            fm = fuse(res.run_dir, Path(args.fuse_with))
            rows.append({"family": f"{fam} + ComParE-SVM (equal-weight late fusion)",
                         "metrics": fm, "wall_s": float("nan"), "params": None,
                         "run_dir": ""})
            print(f"  fused with {args.fuse_with}: UAR {_ci(fm, 'uar')}", flush=True)
    load = os.getloadavg()[0]
    print(f"\nEMO-DB, leave-one-speaker-out (10 speakers, 535 recordings, 7 emotions); "
          f"machine: {machine()}; load average at the end {load:.1f}\n")
    print("| family | UAR [95 % CI] | accuracy [95 % CI] | wall time (10 folds + final) "
          "| parameters | threads |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        wall = "" if not np.isfinite(r["wall_s"]) else f"{r['wall_s'] / 60:.1f} min"
        par = "" if r["params"] is None else f"{r['params']:,}"
        print(f"| {r['family']} | {_ci(r['metrics'], 'uar')} | {_ci(r['metrics'], 'accuracy')} "
              f"| {wall} | {par} | {args.threads} |")
    out.mkdir(parents=True, exist_ok=True)
    summary = [{k: v for k, v in r.items() if k != "metrics"} | {
        "uar": r["metrics"]["uar"], "uar_ci": r["metrics"]["uar_ci"],
        "accuracy": r["metrics"]["accuracy"], "accuracy_ci": r["metrics"]["accuracy_ci"]}
        for r in rows]
    (out / f"summary-{'-'.join(args.families)}.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
