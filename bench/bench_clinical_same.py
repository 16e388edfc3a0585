"""Are two implementations of the clinical descriptors equal? A before/after check.

Usage (the code compared is the one on ``sys.path``: set ``PYTHONPATH`` to another
checkout's ``src`` for the other side)::

    PYTHONPATH=<old checkout>/src .venv/bin/python bench/bench_clinical_same.py --save old.npz
    .venv/bin/python bench/bench_clinical_same.py --compare old.npz

Computes the 120 descriptors and HRF (:func:`~vocalmind.features.clinical.descriptors.
descriptor_matrix`, ``hrf=True``) of three synthetic signals (vowels at several F0 with
pauses and creak, made with a fixed seed as in ``tests/features/clinical/conftest.py``) and,
when ``../shared/data`` is present, of one EMO-DB and one EMU (8 kHz) recording; with
``--compare`` prints, per signal, whether the NaN pattern is the same and the largest
difference relative to each column's largest value. Nothing from the recordings is stored
in the repository: the ``.npz`` goes where ``--save`` says.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.features.clinical.conftest import SR, voice_mix, vowel  # noqa: E402

from vocalmind.features.clinical.descriptors import (  # noqa: E402
    descriptor_matrix,
    descriptor_names,
)

DATA = Path(os.environ.get("VOCALMIND_DATA",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def signals() -> dict[str, tuple[np.ndarray, int]]:
    """The compared signals: name -> (samples, sample rate)."""
    out = {"synthetic mix": (voice_mix(6, creak_every=3), SR),
           "vowel 120 Hz": (vowel(120.0), SR),
           "vowel 220 Hz": (vowel(220.0, 2.0, oq=0.5, seed=3), SR)}
    for name, path in (("EMO-DB 03a01Fa", DATA / "emodb" / "wav" / "03a01Fa.wav"),
                       ("EMU unstructured 1107",
                        DATA / "emu" / "audio_raw" / "WAVs_unstructured" / "1107.wav")):
        if path.is_file():
            y, sr = sf.read(path, dtype="float32")
            out[name] = (y, sr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", type=Path, help="write the descriptor matrices here (.npz)")
    g.add_argument("--compare", type=Path, help="compare with matrices saved by --save")
    args = ap.parse_args()
    mats = {name: descriptor_matrix(y, sr=sr, hrf=True)[1] for name, (y, sr) in
            signals().items()}
    if args.save:
        np.savez(args.save, **mats)
        print(f"saved {len(mats)} matrices to {args.save}")
        return
    ref = np.load(args.compare)
    names = descriptor_names() + ["HRF"]
    worst = 0.0
    for name, m in mats.items():
        if name not in ref.files:
            print(f"{name}: not in {args.compare}")
            continue
        r = ref[name]
        same_nan = r.shape == m.shape and np.array_equal(np.isnan(r), np.isnan(m))
        ok = ~np.isnan(r) & ~np.isnan(m) if r.shape == m.shape else np.zeros(0, bool)
        d = np.where(ok, np.abs(r - m), 0.0) if r.shape == m.shape else np.full(1, np.inf)
        with warnings.catch_warnings():  # all-NaN columns (e.g. HRF of a short signal)
            warnings.simplefilter("ignore", RuntimeWarning)
            scale = np.nanmax(np.abs(r), axis=0) if r.shape == m.shape else np.ones(1)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        rel = (d / scale).max(axis=0)
        j = int(np.argmax(rel))
        worst = max(worst, float(rel.max()))
        where = f" ({names[j]})" if rel.max() > 0 else ""
        print(f"{name}: same shape and NaN pattern {same_nan}; largest difference "
              f"{float(rel.max()):.2e} of the column's largest value{where}")
    print(f"largest relative difference over all signals: {worst:.2e}")


if __name__ == "__main__":
    main()
