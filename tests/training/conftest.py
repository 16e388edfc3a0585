"""Synthetic clips for the training tests: two classes of tones, a few subjects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _fresh_row_cache():
    """Each test starts with an empty process-wide row cache (counters at 0)."""
    from vocalmind.training.data import clear_row_cache

    clear_row_cache()
    yield
    clear_row_cache()


def tone(freq: float, seconds: float, *, seed: int = 0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    rng = np.random.default_rng(seed)
    return (amp * np.sin(2 * np.pi * freq * t)
            + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """12 rows, 6 subjects x 2 clips of 1.2 s; class 'lo' = 250 Hz, 'hi' = 1500 Hz."""
    d: Path = tmp_path_factory.mktemp("clips")
    rows = []
    for s in range(6):
        for k in range(2):
            lab = s % 2
            p = d / f"s{s}_{k}.wav"
            sf.write(p, tone(250 if lab == 0 else 1500, 1.2, seed=10 * s + k), 16000)
            rows.append({"file": str(p), "start": np.nan, "end": np.nan, "subject": f"s{s}",
                         "label": ["lo", "hi"][lab], "score": 5.0 + 10 * lab + k})
    return pd.DataFrame(rows)
