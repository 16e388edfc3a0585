"""Real-time factor of the 1,200 clinical features on one core, over real recordings.

Usage: ``.venv/bin/python bench/bench_clinical_speed.py [--n 30]``.
Reads EMO-DB (16 kHz) and EMU ``audio_raw`` (8 kHz, resampled inside) from
``../shared/data`` (a corpus that is absent is skipped) and times the full extraction
(descriptors + statistics, :class:`~vocalmind.features.clinical.ClinicalSet`) of the first
``--n`` recordings of each folder, after one warm-up call. The RTF is process CPU time per
second of audio (the machine is shared, so wall time is noisy; it is printed too), with
BLAS/OpenMP limited to one thread. Prints a markdown table, and the creak check: the
fraction of voiced frames whose creak score is above its threshold on EMO-DB's male
speakers' neutral recordings (modal speech; should be small).
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
    """Time the extraction per corpus folder; a markdown table."""
    folders = {"EMO-DB (16 kHz)": DATA / "emodb" / "wav",
               "EMU structured (8 kHz)": DATA / "emu" / "audio_raw" / "WAVs_structured",
               "EMU unstructured (8 kHz)": DATA / "emu" / "audio_raw" / "WAVs_unstructured"}
    fs = ClinicalSet()
    fs.process_signal(np.sin(2 * np.pi * 120 * np.arange(16000) / 16000).astype(np.float32),
                      16000)  # warm-up: filter designs and lookup tables are cached
    rows = ["| corpus | files | audio s | CPU s | RTF (CPU) | wall s | RTF (wall) | "
            "FeatureError |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    tot = np.zeros(4)
    for name, folder in folders.items():
        files = sorted(folder.glob("*.wav"))[:n] if folder.is_dir() else []
        if not files:
            rows.append(f"| {name} | absent, skipped | | | | | | |")
            continue
        audio = cpu = wall = 0.0
        fails = 0
        for f in files:
            y, sr = sf.read(f, dtype="float32", always_2d=True)
            t_c, t_w = time.process_time(), time.perf_counter()
            try:
                fs.process_signal(y[:, 0], sr)
            except FeatureError:
                fails += 1
            cpu += time.process_time() - t_c
            wall += time.perf_counter() - t_w
            audio += len(y) / sr
        rows.append(f"| {name} | {len(files)} | {audio:.1f} | {cpu:.2f} | {cpu / audio:.4f} | "
                    f"{wall:.2f} | {wall / audio:.4f} | {fails} |")
        tot += (len(files), audio, cpu, wall)
    if tot[1]:
        rows.append(f"| **all** | {tot[0]:.0f} | {tot[1]:.1f} | {tot[2]:.2f} | "
                    f"**{tot[2] / tot[1]:.4f}** | {tot[3]:.2f} | {tot[3] / tot[1]:.4f} | |")
    return "\n".join(rows)


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
    args = ap.parse_args()
    print("clinical feature set, 1,200 features, one thread; target RTF (CPU) <= 0.03\n")
    print(speed_table(args.n))
    print()
    print(creak_check(args.creak_n))


if __name__ == "__main__":
    main()
