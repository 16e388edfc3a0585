"""Scale-out throughput: local processes versus Ray, on 1 and 2 cores, over EMO-DB.

For each feature set (default: clinical and compare) and core count, all selected EMO-DB
files are extracted from scratch (no cache) by

- ``local``: :func:`extract_features` in this process (1 core) or a local process pool
  (``--jobs N``): the default path,
- ``ray``: :func:`extract_sharded` on a private Ray instance with N CPUs (the path of
  ``--executor ray``: shards, one Parquet per shard, merge).

An untimed warm-up (4 files, in a separate process: numba's compilation cache; and one
read of every file: page cache) precedes each set. Each run is pinned to N cores (CPU
affinity, inherited by workers and Ray's daemons), with one BLAS/OpenMP thread per process.
Ray is started before the clock starts (on a cluster it is already running); the local
pool's start is timed (it is part of every local run). Prints a markdown table and the
per-core figures of the cost model in docs/ray.md; writes nothing else.

    .venv/bin/python bench/bench_scaleout.py [--sets clinical compare] [--cores 1 2]
        [--executors local ray] [--repeat 3] [--limit N]

Targets (issue 6): speed-up >= 1.8x on 2 cores for both sets, Ray's overhead on 1 core
< 10 %. Run it on a quiet machine: other load changes wall times directly.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# one BLAS/OpenMP thread per process for every executor, as Ray workers and the local pool
# workers get; set before numpy loads. Without it an in-process run (--jobs 1) spins extra
# BLAS threads on its pinned core and is up to 4x slower (measured on clinical).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import soundfile as sf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import DATA, machine, require  # noqa: E402

from vocalmind.distributed import extract_sharded  # noqa: E402
from vocalmind.features.executor import LocalExecutor  # noqa: E402
from vocalmind.features.extract import extract_features  # noqa: E402


def _warm_set(name: str, file: str) -> int:
    """Extract ``name`` from one file in this worker; return its pid."""
    extract_features([file], name, progress=False)
    return os.getpid()


def _pin(cores: int) -> None:
    """Run this process and everything it starts (pool workers, Ray) on ``cores`` cores.

    "1 core" then means one core for both executors, Ray's own daemons included, whatever
    the machine has; without it an in-process run could use idle cores through BLAS threads.
    """
    avail = sorted(os.sched_getaffinity(0)) if not hasattr(_pin, "all") else _pin.all  # type: ignore[attr-defined]
    _pin.all = avail  # type: ignore[attr-defined]
    if cores > len(avail):
        sys.exit(f"asked for {cores} cores; this machine offers {len(avail)}")
    os.sched_setaffinity(0, avail[:cores])


def _run_local(files: list[str], name: str, cores: int) -> tuple[float, int]:
    _pin(cores)
    t0 = time.perf_counter()
    ex = LocalExecutor(cores, start_method="spawn", progress=False)
    res = extract_features(files, name, executor=ex, progress=False, max_failure_fraction=1.0)
    return time.perf_counter() - t0, len(res.features)


def _run_ray(files: list[str], name: str, cores: int, shard_size: int | None) -> tuple[float, int]:
    import ray

    from vocalmind.distributed.ray_executor import RayExecutor

    ray.shutdown()
    _pin(cores)
    ex = RayExecutor(address=None, num_cpus=cores, progress=False)
    try:
        ex.connect()
        # Warm each worker as a running cluster's would be: one task of this feature set
        # (imports, openSMILE set-up). The local 1-core run is in-process, where all of that
        # was done by earlier runs, so a cold Ray worker would be charged ~2 s that local
        # processing is not.
        warm = ray.remote(num_cpus=1)(_warm_set)
        ray.get([warm.remote(name, files[0]) for _ in range(cores)])
        time.sleep(2.0)  # let Ray's daemons finish starting: a cluster's are long settled
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = extract_sharded(files, name, work_dir=Path(tmp) / "shards", executor=ex,
                                  shard_size=shard_size, max_failure_fraction=1.0, progress=False)
            wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    return wall, len(res.features)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["clinical", "compare"])
    ap.add_argument("--cores", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--executors", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    ap.add_argument("--limit", type=int, default=None, help="only the first N files (smoke runs)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the fastest is kept")
    ap.add_argument("--shard-size", type=int, default=None, help="rows per Ray shard (default: auto)")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private instance on this machine

    wav = require(DATA / "emodb" / "wav")
    files = sorted(str(p) for p in wav.glob("*.wav"))[: args.limit]
    audio_s = sum(sf.info(f).duration for f in files)
    print(f"EMO-DB: {len(files)} files, {audio_s / 60:.1f} min of audio; {machine()}\n")
    rows: dict[tuple[str, str, int], float] = {}
    print("| set | executor | cores | wall s | x real time | audio h / core-h | speed-up vs 1 core | Ray overhead vs local |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in args.sets:
        # untimed warm-up in a separate process: first calls compile numba kernels (cached
        # on disk for later processes) and the audio enters the page cache; done here, it
        # would also leave built extractors in this process and favour the in-process run
        subprocess.run(
            [sys.executable, "-c", "import sys; from vocalmind.features.extract import extract_features; "
             "extract_features(sys.argv[2:], sys.argv[1], progress=False, max_failure_fraction=1.0)",
             name, *files[:4]], check=True)  # fmt: skip
        for f in files:
            Path(f).read_bytes()  # page cache: no run pays the first read from disk
        for cores in args.cores:
            for exe in args.executors:
                runs = [
                    _run_local(files, name, cores) if exe == "local"
                    else _run_ray(files, name, cores, args.shard_size)
                    for _ in range(max(1, args.repeat))
                ]
                wall, n_ok = min(runs)  # the least disturbed run
                rows[(name, exe, cores)] = wall
                speed = audio_s / wall
                base = rows.get((name, exe, min(args.cores)))
                speedup = f"{base / wall:.2f}x" if base and cores != min(args.cores) else "-"
                local = rows.get((name, "local", cores))
                overhead = f"{100 * (wall / local - 1):+.1f} %" if exe == "ray" and local else "-"
                print(f"| {name} | {exe} | {cores} | {wall:.1f} | {speed:.1f} | {speed / cores:.1f} | "
                      f"{speedup} | {overhead} |", flush=True)
                if n_ok != len(files):
                    print(f"  ({len(files) - n_ok} files failed)")
    print("\nCost model inputs (docs/ray.md): t = x real time on 1 core, e = speed-up / cores")
    lo, hi = min(args.cores), max(args.cores)
    for name in args.sets:
        for exe in args.executors:
            one, many = rows.get((name, exe, lo)), rows.get((name, exe, hi))
            if one is None:
                continue
            t = audio_s / one / lo
            e = f", e = {one / many / (hi / lo):.2f} on {hi} cores" if many and hi != lo else ""
            print(f"- {name} / {exe}: t = {t:.1f} audio h per core-hour{e}")

if __name__ == "__main__":
    main()
