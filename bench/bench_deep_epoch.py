"""Cheap training-cost probe: one deep family on EMO-DB, a reduced protocol.

NOT the issue's benchmark (that is 10-fold leave-one-speaker-out + a final model, see
``bench/bench_deep_emodb.py``). This trains once: on all EMO-DB speakers but ``--held-out``
(default: the first two speaker ids), for ``--epochs`` epochs without early stopping, and
reports **CPU seconds** (``time.process_time`` of this process, so other processes on a
busy machine count less than in wall time):

- ``units_cpu_s``: decoding the audio and computing the inputs (cold: first fit);
- ``epoch_cpu_s``: mean CPU seconds per training epoch (train pass + validation pass);
- ``refit_units_cpu_s``: the inputs again for a second fit in the same process (what every
  later fold of an experiment pays; near zero when rows are cached across fits);
- the UAR on the held-out speakers (few epochs: informative only, not a result).

    nice -n 10 .venv/bin/python bench/bench_deep_epoch.py --family cnn_lstm --epochs 3 \
        [--threads 1] [--set batch_by_length=false] [--json out.json]

Runs with any version of the package that has ``DeepEstimator.fit(callbacks=...)``
(PYTHONPATH=<old tree>/src measures an older commit the same way).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / OpenMP is loaded

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from _report import DATA, require  # noqa: E402

PARAMS = {  # examples/emodb-cnn_lstm.yaml / emodb-melcnn.yaml / emodb-wavelet.yaml
    "cnn_lstm": {"channels": 32, "n_res_blocks": 2, "lstm_hidden": 32, "pool": 4,
                 "segment_s": 3.0, "speaker_norm": True, "augment": True},
    "melcnn": {"speaker_norm": True},
    "wavelet": {},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default="cnn_lstm", choices=sorted(PARAMS))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--held-out", type=int, default=2)
    ap.add_argument("--set", action="append", default=[],
                    help="KEY=VALUE: a family param or (if a DeepEstimator setting) training")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from vocalmind.corpora import read_corpus
    from vocalmind.training.estimator import DeepEstimator

    man = read_corpus("emodb", require(DATA / "emodb")).reset_index(drop=True)
    speakers = sorted(man["subject"].astype(str).unique())
    test_spk = set(speakers[: args.held_out])
    te = man["subject"].astype(str).isin(test_spk).to_numpy()
    params = dict(PARAMS[args.family])
    training: dict = {}
    import inspect

    settings = set(inspect.signature(DeepEstimator.__init__).parameters)
    for kv in args.set:
        k, v = kv.split("=", 1)
        (training if k in settings else params)[k] = yaml.safe_load(v)
    marks: list[float] = []

    def fit_once() -> tuple[DeepEstimator, float, list[float]]:
        est = DeepEstimator(args.family, params=params, epochs=args.epochs, patience=0,
                            batch_size=16, lr=0.002, weight_decay=1e-4, seed=0,
                            n_threads=args.threads, progress=False, **training)
        marks.clear()
        t0 = time.process_time()
        est.fit(man[~te], man.loc[~te, "emotion"],
                callbacks=[lambda e, r: marks.append(time.process_time())])
        # units are built before the first epoch: first epoch end - t0 - epoch ~ units
        epochs = np.diff([t0, *marks])
        return est, t0, list(epochs)

    load0 = os.getloadavg()
    est, _, ep = fit_once()
    epoch_cpu = float(np.mean(ep[1:])) if len(ep) > 1 else float(ep[0])
    units_cpu = float(ep[0] - epoch_cpu)  # the first interval also holds the data build
    _, _, ep2 = fit_once()
    refit_units = float(ep2[0] - np.mean(ep2[1:])) if len(ep2) > 1 else float("nan")
    from sklearn.metrics import balanced_accuracy_score

    pred = est.predict(man[te])
    uar = float(balanced_accuracy_score(man.loc[te, "emotion"].astype(str), pred.astype(str)))
    out = {"family": args.family, "epochs": args.epochs, "threads": args.threads,
           "held_out": sorted(test_spk), "n_train_rows": int((~te).sum()),
           "units_cpu_s": round(units_cpu, 2), "epoch_cpu_s": round(epoch_cpu, 2),
           "epoch_cpu_s_all": [round(x, 2) for x in ep],
           "refit_units_cpu_s": round(refit_units, 2), "uar_held_out": round(uar, 3),
           "params": params, "training": training,
           "load_avg_start": [round(x, 1) for x in load0],
           "load_avg_end": [round(x, 1) for x in os.getloadavg()]}
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
