"""torch intra-op threads for training the deep families: CPU seconds per epoch with 1 and
2 threads, in one process, on a small synthetic set (random units of the shapes the
EMO-DB example configs give; no audio needed).

After a short warm-up, order 1, 2, 1 threads (the repeated 1-thread run shows the drift of a busy machine);
``time.process_time`` counts the CPU of every thread of this process, so spinning OpenMP
threads show up as cost. Set ``OMP_WAIT_POLICY=PASSIVE`` in the environment to measure
with non-spinning OpenMP threads.

    nice -n 10 .venv/bin/python bench/bench_deep_threads.py [--families cnn_lstm melcnn wavelet]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from vocalmind.models import build_model
from vocalmind.training.data import UnitDataset, Units
from vocalmind.training.engine import TrainConfig, train_model
from vocalmind.training.losses import TaskSpec

SHAPES = {  # unit shape, model params (examples/emodb-<family>.yaml)
    "cnn_lstm": ((40, 300), {"channels": 32, "n_res_blocks": 2, "lstm_hidden": 32, "pool": 4}),
    "melcnn": ((1, 128, 90), {"base_channels": 8, "embedding_dim": 64}),
    "wavelet": ((64000,), {}),
}


def run(family: str, threads: int, n: int, epochs: int) -> float:
    shape, params = SHAPES[family]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]
    units = Units(arrays, np.arange(n), [[i] for i in range(n)])
    ds = UnitDataset(units, np.array([[i % 7] for i in range(n)], np.float32))
    torch.manual_seed(0)
    model = build_model(family, heads={"y": 7}, **params)
    t0 = time.process_time()
    train_model(model, ds, None, tasks=[TaskSpec("y", "classification", 7)],
                config=TrainConfig(epochs=epochs, batch_size=16, n_threads=threads,
                                   patience=0, progress=False))
    return (time.process_time() - t0) / epochs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", nargs="+", default=["cnn_lstm", "melcnn"],
                    choices=sorted(SHAPES))
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    out = {"load_avg_start": [round(x, 1) for x in os.getloadavg()],
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)")}
    for fam in args.families:
        run(fam, 1, 16, 1)  # warm-up: first-call costs (allocator, kernels) not counted
        a = run(fam, 1, args.n, args.epochs)
        b = run(fam, 2, args.n, args.epochs)
        c = run(fam, 1, args.n, args.epochs)
        out[fam] = {"cpu_s_per_epoch_1_thread": [round(a, 3), round(c, 3)],
                    "cpu_s_per_epoch_2_threads": round(b, 3),
                    "ratio_2_over_1": round(b / ((a + c) / 2), 2)}
    out["load_avg_end"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
