"""Speed and memory of the 1,200 clinical features on one core, over real recordings.

Usage: ``.venv/bin/python bench/bench_clinical_speed.py [--n 30] [--long-minutes 60]``.
Reads EMO-DB (16 kHz) and EMU ``audio_raw`` (8 kHz) from ``../shared/data`` (a corpus that
is absent is skipped), resamples every recording to 16 kHz beforehand, and times the full
extraction of the clinical set (descriptors + statistics,
:class:`~vocalmind.features.clinical.ClinicalSet`) and, on the same signals in the same
process, of openSMILE ComParE_2016, after one warm-up call each. The RTF is process CPU
time per second of audio (the machine is shared, so wall time is noisy), with BLAS/OpenMP
limited to one thread; the clinical / ComParE ratio is the load-independent figure.
``--long-minutes`` builds a recording of that length from EMO-DB files in a child process
and reports its peak resident memory (the signal is held in single precision). Prints
markdown tables, and the creak check: the fraction of voiced frames whose creak score is
above its threshold on EMO-DB's male speakers' neutral recordings (modal speech).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from vocalmind.errors import FeatureError  # noqa: E402
from vocalmind.features.clinical import ClinicalSet, clinical_descriptors  # noqa: E402
from vocalmind.features.clinical.creak import THRESHOLD  # noqa: E402

DATA = Path(os.environ.get("VOCALMIND_DATA",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data"))
MALE_EMODB = ("03", "10", "11", "12", "15")


def speed_table(n: int) -> str:
    """Time clinical and ComParE on the same 16 kHz signals; a markdown table."""
    import soxr

    from vocalmind.features.base import get_feature_set

    folders = {"EMO-DB (16 kHz)": DATA / "emodb" / "wav",
               "EMU structured (8 kHz)": DATA / "emu" / "audio_raw" / "WAVs_structured",
               "EMU unstructured (8 kHz)": DATA / "emu" / "audio_raw" / "WAVs_unstructured"}
    sets = {"clinical": ClinicalSet(), "ComParE": get_feature_set("compare")}
    warm = np.sin(2 * np.pi * 120 * np.arange(16000) / 16000).astype(np.float32)
    for fs in sets.values():
        fs.process_signal(warm, 16000)  # filter designs, lookup tables, binaries loaded
    rows = ["| corpus | files | audio s | clinical CPU s | clinical RTF | ComParE RTF | "
            "ratio | FeatureError |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    tot = np.zeros(4)
    for name, folder in folders.items():
        files = sorted(folder.glob("*.wav"))[:n] if folder.is_dir() else []
        if not files:
            rows.append(f"| {name} | absent, skipped | | | | | | |")
            continue
        audio, cpu, fails = 0.0, np.zeros(2), 0
        for f in files:
            y, sr = sf.read(f, dtype="float32", always_2d=True)
            y = y[:, 0]
            if sr != 16000:
                y = soxr.resample(y, sr, 16000).astype(np.float32)
            for i, fs in enumerate(sets.values()):
                t_c = time.process_time()
                try:
                    fs.process_signal(y, 16000)
                except FeatureError:
                    fails += i == 0
                cpu[i] += time.process_time() - t_c
            audio += len(y) / 16000
        rows.append(f"| {name} | {len(files)} | {audio:.1f} | {cpu[0]:.2f} | "
                    f"{cpu[0] / audio:.4f} | {cpu[1] / audio:.4f} | {cpu[0] / cpu[1]:.2f} | "
                    f"{fails} |")
        tot += (len(files), audio, cpu[0], cpu[1])
    if tot[1]:
        rows.append(f"| **all** | {tot[0]:.0f} | {tot[1]:.1f} | {tot[2]:.2f} | "
                    f"**{tot[2] / tot[1]:.4f}** | {tot[3] / tot[1]:.4f} | "
                    f"{tot[2] / tot[3]:.2f} | |")
    return "\n".join(rows)


_LONG_CHILD = """
import os, resource, sys, time
os.environ["OMP_NUM_THREADS"] = "1"; os.environ["OPENBLAS_NUM_THREADS"] = "1"
import numpy as np, soundfile as sf
from pathlib import Path
from vocalmind.features.clinical import ClinicalSet
minutes, folder = float(sys.argv[1]), Path(sys.argv[2])
n = int(minutes * 60 * 16000)
y = np.zeros(n, dtype=np.float32)
pos = 0
files = sorted(folder.glob("*.wav"))
while pos < n:
    for f in files:
        z, _ = sf.read(f, dtype="float32")
        k = min(len(z), n - pos)
        y[pos:pos + k] = z[:k]
        pos += k
        if pos >= n:
            break
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.process_time()
v = ClinicalSet().process_signal(y, 16000)
cpu = time.process_time() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{minutes:g}|{before:.0f}|{peak:.0f}|{cpu:.1f}|{np.isfinite(v).mean():.3f}")
"""


def long_recording(minutes: float) -> str:
    """Peak RSS of the clinical set on one long recording (child process); a table row."""
    import subprocess
    import sys

    folder = DATA / "emodb" / "wav"
    if not folder.is_dir():
        return "long recording: EMO-DB absent, skipped"
    out = subprocess.run([sys.executable, "-c", _LONG_CHILD, str(minutes), str(folder)],
                         capture_output=True, text=True, check=True).stdout.strip()
    m, before, peak, cpu, fin = out.splitlines()[-1].split("|")
    return ("| minutes | RSS with the signal loaded (MB) | peak RSS (MB) | CPU s | RTF | "
            "finite features |\n|---:|---:|---:|---:|---:|---:|\n"
            f"| {m} | {before} | {peak} | {cpu} | {float(cpu) / (float(m) * 60):.4f} | "
            f"{fin} |")


def creak_check(n: int) -> str:
    """Creak-score frame fraction above threshold on EMO-DB male neutral recordings."""
    folder = DATA / "emodb" / "wav"
    files = [f for s in MALE_EMODB for f in sorted(folder.glob(f"{s}*N*.wav"))[:n]] \
        if folder.is_dir() else []
    if not files:
        return "creak check: EMO-DB absent, skipped"
    fr, sc = [], []
    for f in files:
        y, sr = sf.read(f, dtype="float32")
        df = clinical_descriptors(y, sr=sr)
        c = df.loc[df["VUV"] > 0, "creak"].to_numpy()
        fr.append(np.mean(c > THRESHOLD))
        sc.append(np.mean(c))
    return (f"creak on EMO-DB male neutral speech ({len(files)} files, voiced frames): "
            f"fraction above {THRESHOLD} = {np.mean(fr):.3f} mean, {np.max(fr):.3f} max "
            f"per file; mean score {np.mean(sc):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=30, help="recordings per corpus folder")
    ap.add_argument("--creak-n", type=int, default=3, help="neutral files per male speaker")
    ap.add_argument("--long-minutes", type=float, default=0.0,
                    help="also measure peak memory on one recording this long (minutes)")
    args = ap.parse_args()
    print("clinical feature set, 1,200 features, one thread; target RTF (CPU) <= 0.02\n")
    print(speed_table(args.n))
    print()
    if args.long_minutes > 0:
        print(long_recording(args.long_minutes))
        print()
    print(creak_check(args.creak_n))


if __name__ == "__main__":
    main()
