"""Shared fixtures: small synthetic cohorts made from numpy signals (no corpus needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from _signals import voiced_tone

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def tone_cohort(tmp_path: Path) -> pd.DataFrame:
    """6 speakers x 2 classes x 3 recordings; class 'high' has twice the pitch and is louder.

    Also a ``phq9`` score that rises with pitch, for regression tests.
    """
    from vocalmind.corpora import make_manifest

    rows = []
    for s in range(6):
        base = 100 + 15 * s
        for cls, mult, loud in (("low", 1.0, 0.2), ("high", 2.0, 0.5)):
            for r in range(3):
                f0 = base * mult * (1 + 0.03 * r)
                path = tmp_path / f"spk{s}_{cls}_{r}.wav"
                sf.write(path, voiced_tone(f0, seed=100 * s + r, loud=loud), 16_000)
                rows.append({"file": str(path), "subject": f"S{s}", "emotion": cls,
                             "gender": "m" if s % 2 else "f",
                             "phq9": float(np.clip(round((f0 - 100) / 20), 0, 27))})
    return make_manifest(rows)
