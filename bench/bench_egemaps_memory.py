"""Peak memory of eGeMAPS on one long recording: the opensmile package's whole-signal path
(the reference) against vocalmind's path for long recordings (signal streamed, functionals
in two openSMILE passes; identical values), at several lengths to show how the growth
scales. Each measurement runs in its own child process (peak RSS is per process). Writes
its section of docs/benchmarks.md.

    nice -n 10 .venv/bin/python bench/bench_egemaps_memory.py [--minutes 10 30 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _report import DATA, machine, update_section

CHILD = r"""
import resource, sys, time
import numpy as np
minutes, path, root = float(sys.argv[1]), sys.argv[2], sys.argv[3]
sr = 16000
n = int(minutes * 60 * sr)
y = np.empty(n, np.float32)
from pathlib import Path
files = sorted(Path(root).rglob("*.wav")) if Path(root).is_dir() else []
if files:  # real speech: EMO-DB recordings one after another, repeated
    from vocalmind.audio import load
    pos, i = 0, 0
    while pos < n:
        a = load(str(files[i % len(files)]), sr=sr).astype(np.float32)
        k = min(a.size, n - pos); y[pos:pos + k] = a[:k]; pos += k; i += 1
else:  # a gliding voiced tone with pauses
    rng = np.random.default_rng(0); phase = 0.0
    for a in range(0, n, sr * 10):
        t = np.arange(a, min(n, a + sr * 10)) / sr
        ph = phase + 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.3 * t)) / sr
        phase = ph[-1]
        y[a:a + t.size] = 0.2 * np.sin(ph) * (np.sin(2 * np.pi * 2 * t) > -0.3)
from vocalmind.features import opensmile_sets as oss
fs = oss.EGeMAPS(); fs.names()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
c = time.process_time()
if path == "package":
    v = oss._smile(fs._config).process_signal(np.clip(y, -1, 32767 / 32768), sr).to_numpy(
        dtype=np.float64).reshape(-1)
else:
    v = fs.process_signal(y, sr)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
import hashlib  # exact comparison of the two paths: a digest of the float64 values
print(f"{before:.0f}|{peak:.0f}|{time.process_time() - c:.1f}|"
      f"{hashlib.sha256(np.asarray(v, np.float64).tobytes()).hexdigest()[:16]}")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[10, 30, 60])
    args = ap.parse_args()
    root = DATA / "emodb"
    rows = {}
    for minutes in args.minutes:
        for path in ("package", "vocalmind"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(minutes), path, str(root)],
                                 check=True, capture_output=True, text=True).stdout
            rows[minutes, path] = out.strip().splitlines()[-1].split("|")
            print(minutes, path, rows[minutes, path], flush=True)
    same = all(rows[m, "package"][3] == rows[m, "vocalmind"][3] for m in args.minutes)
    src = "EMO-DB recordings concatenated" if root.is_dir() else "a synthetic voiced tone"
    lengths = " ".join(f"{m:g}" for m in args.minutes)
    lines = [
        "## eGeMAPS on one long recording: peak memory, package whole-signal vs vocalmind two-pass",
        "",
        f"Command: `nice -n 10 .venv/bin/python bench/bench_egemaps_memory.py --minutes "
        f"{lengths}` — machine: {machine()}. One signal per length ({src}, held as "
        "float32), each path in its own child process; RSS with the signal loaded, then "
        "the peak during extraction.",
        "",
        "| minutes | path | RSS with the signal loaded (MB) | peak RSS (MB) | growth (MB) "
        "| growth per minute of audio (MB) | CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for (minutes, path), (before, peak, cpu, _) in rows.items():
        name = ("opensmile package (`Smile.process_signal`, whole signal)" if path == "package"
                else "vocalmind (`EGeMAPS.process_signal`, streamed, two passes)")
        growth = int(peak) - int(before)
        lines.append(f"| {minutes:g} | {name} | {before} | {peak} | {growth} | "
                     f"{growth / minutes:.1f} | {cpu} |")
    lines += [
        "",
        f"Functionals identical at every length: {'yes' if same else 'NO'} (SHA-256 of the "
        "88 float64 values equal between the two child processes; "
        "`tests/features/test_features_sets.py` checks equality bit for bit on 63-66 s "
        "signals for eGeMAPS, ComParE and IS09, and on short signals sent down the two-pass "
        "path).",
        "",
        "vocalmind streams the signal one second at a time through a 10 s ring-buffered "
        "input and computes the functionals in two openSMILE passes: the first runs the "
        "low-level descriptors on ring-buffered levels and keeps the frames the functionals "
        "read as float32 blocks (36 values a frame); the second runs eGeMAPS's own "
        "functionals components on them from external sources (levels without time "
        "records), one group of components at a time. What grows with the length is those "
        "frames and, in each second-pass run, its input level plus openSMILE's copy of what "
        "each functional reads (with a 64-byte time record a frame). The package path keeps "
        "the signal several times over, and ten smoothed levels with a time record per frame "
        "and level, then copies them at the end of input.",
        "",
        "Before the two-pass path, the same benchmark measured vocalmind's one-pass streamed "
        "path (ring-buffered input, functionals levels kept whole) at 1,292 MB peak for 60 "
        "minutes (growth 926 MB, 15.4 MB per minute of audio; 157 MB for 10 minutes, 467 MB "
        "for 30).",
    ]
    update_section("egemaps-memory", "\n".join(lines))


if __name__ == "__main__":
    main()
