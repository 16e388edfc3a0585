"""End-to-end inference cost of a trained deep model, inputs included, as a real-time factor
in CPU terms: seconds of audio per CPU second of this process (``time.process_time``).

Unlike ``bench_deep_inference.py`` (model forward only, wall time), this counts decoding,
the log-mel or the Whisper encoder frames, and the model, for recordings the row cache has
not seen (it is cleared first). One torch thread (the training default).

    nice -n 10 .venv/bin/python bench/bench_deep_input_rtf.py RUN_DIR [--n 60]

RUN_DIR is a finished ``vocalmind experiment run`` folder of a deep family on EMO-DB.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / OpenMP is loaded

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import soundfile as sf  # noqa: E402
from _report import DATA, require  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--n", type=int, default=60, help="recordings (every k-th of EMO-DB)")
    args = ap.parse_args()

    import torch

    from vocalmind.corpora import read_corpus
    from vocalmind.experiment import load_model
    from vocalmind.training.data import clear_row_cache

    torch.set_num_threads(1)
    man = read_corpus("emodb", require(DATA / "emodb")).reset_index(drop=True)
    rows = man.iloc[:: max(1, len(man) // args.n)].head(args.n).reset_index(drop=True)
    audio_s = float(sum(sf.info(str(f)).duration for f in rows["file"]))
    est, _ = load_model(Path(args.run_dir))
    est.set_params(n_threads=1, progress=False)
    est.predict_proba(rows.head(2))  # warm-up: imports, encoder load, first-call costs
    clear_row_cache()
    load0 = os.getloadavg()[0]
    t0 = time.process_time()
    est.predict_proba(rows)
    cpu = time.process_time() - t0
    print(json.dumps({"run_dir": args.run_dir, "family": est.family,
                      "input": (est.data_params_ or {}).get("input", "audio"),
                      "recordings": len(rows), "audio_s": round(audio_s, 1),
                      "cpu_s": round(cpu, 2), "rtf_cpu": round(audio_s / cpu, 1),
                      "load_avg": [round(load0, 1), round(os.getloadavg()[0], 1)]}))


if __name__ == "__main__":
    main()
