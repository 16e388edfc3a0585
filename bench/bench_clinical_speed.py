"""Real-time factor of the clinical descriptors on one core, over real recordings.

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python bench/bench_clinical_speed.py [--n 40]``.
Reads EMO-DB (16 kHz) and EMU ``audio_raw`` (8 kHz, resampled inside) from
``../shared/data`` (skips a corpus that is absent) and prints seconds of compute per second
of audio (RTF), per corpus and overall, plus how many recordings raised FeatureError.
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
from vocalmind.features.clinical import clinical_descriptors, clinical_statistics  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=40, help="recordings per corpus folder")
    args = ap.parse_args()
    folders = {"emodb": DATA / "emodb" / "wav",
               "emu_structured": DATA / "emu" / "audio_raw" / "WAVs_structured",
               "emu_unstructured": DATA / "emu" / "audio_raw" / "WAVs_unstructured"}
    clinical_descriptors(np.sin(2 * np.pi * 120 * np.arange(16000) / 16000).astype(np.float32))
    tot_audio = tot_cpu = 0.0
    for name, folder in folders.items():
        files = sorted(folder.glob("*.wav"))[: args.n] if folder.is_dir() else []
        if not files:
            print(f"{name}: absent, skipped")
            continue
        audio = cpu = 0.0
        fails = 0
        for f in files:
            y, sr = sf.read(f, dtype="float32", always_2d=True)
            y = y[:, 0]
            t = time.process_time()
            try:
                clinical_statistics(clinical_descriptors(y, sr=sr))
            except FeatureError:
                fails += 1
            cpu += time.process_time() - t
            audio += len(y) / sr
        print(f"{name}: {len(files)} files, {audio:.1f} s audio, {cpu:.2f} s CPU, "
              f"RTF {cpu / audio:.4f}, FeatureError {fails}")
        tot_audio += audio
        tot_cpu += cpu
    if tot_audio:
        print(f"overall: {tot_audio:.1f} s audio, RTF {tot_cpu / tot_audio:.4f} "
              f"(target <= 0.03)")


if __name__ == "__main__":
    main()
