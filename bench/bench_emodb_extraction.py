"""Feature-extraction speed on EMO-DB (535 utterances, 24.8 min): wall time and real-time factor.

For each feature set and number of worker processes, all of EMO-DB is extracted from
scratch (no cache); then one cached re-run is timed. Prints a table; writes nothing.

    .venv/bin/python bench/bench_emodb_extraction.py [--sets egemaps compare] [--jobs 1 2]

RTF = wall time / audio duration (lower is faster; 0.01 = 1 % of real time). Wall times
include starting the worker processes. "cpu s" is the CPU time of this process and its
joined workers together, which other load on the machine barely changes (workers are
started with "spawn" here so that they are this process's children and are counted);
"cpu RTF" is cpu s / audio duration, the cost per second of audio on one core.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import soundfile as sf
from _report import DATA, machine, require

from vocalmind.features.executor import LocalExecutor
from vocalmind.features.extract import extract_features


def _cpu_s() -> float:
    """User + system CPU seconds of this process and of its terminated children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["egemaps", "compare"])
    ap.add_argument("--jobs", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--limit", type=int, default=None, help="only the first N files (smoke runs)")
    args = ap.parse_args()

    wav = require(DATA / "emodb" / "wav")
    files = sorted(str(p) for p in wav.glob("*.wav"))[: args.limit]
    audio_s = sum(sf.info(f).duration for f in files)
    print(f"EMO-DB: {len(files)} files, {audio_s / 60:.1f} min of audio; {machine()}")
    print(f"{'set':<10}{'jobs':>5}{'cache':>7}{'wall s':>9}{'RTF':>9}{'cpu s':>9}{'cpu RTF':>9}"
          f"{'features':>10}{'failed':>8}")
    for name in args.sets:
        for jobs in args.jobs:
            with tempfile.TemporaryDirectory() as tmp:
                cache = Path(tmp) / "cache"
                t0, c0 = time.perf_counter(), _cpu_s()
                ex = LocalExecutor(jobs, start_method="spawn", progress=False)
                res = extract_features(files, name, executor=ex, cache_dir=cache, progress=False)
                wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
                print(f"{name:<10}{jobs:>5}{'cold':>7}{wall:>9.1f}{wall / audio_s:>9.4f}{cpu:>9.1f}"
                      f"{cpu / audio_s:>9.4f}{res.features.shape[1]:>10}{len(res.failures):>8}",
                      flush=True)
                if jobs == args.jobs[-1]:
                    t0, c0 = time.perf_counter(), _cpu_s()
                    again = extract_features(files, name, executor=ex, cache_dir=cache, progress=False)
                    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
                    assert again.n_cached == len(files)
                    print(f"{name:<10}{jobs:>5}{'hit':>7}{wall:>9.1f}{wall / audio_s:>9.4f}{cpu:>9.1f}"
                          f"{cpu / audio_s:>9.4f}{again.features.shape[1]:>10}{len(again.failures):>8}",
                          flush=True)


if __name__ == "__main__":
    main()
