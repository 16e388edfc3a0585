"""Test signals shared by the top-level tests (made with numpy; no corpus needed)."""

from __future__ import annotations

import numpy as np

SR = 16_000


def voiced_tone(f0: float, *, seconds: float = 1.2, sr: int = SR, seed: int = 0,
                loud: float = 0.3) -> np.ndarray:
    """A harmonic-rich 'vowel' at ``f0`` Hz with slight vibrato and noise, float32 (n,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = np.minimum(1, np.minimum(t, t[-1] - t) / 0.05)
    y = loud * env * y / np.max(np.abs(y)) + 0.003 * rng.standard_normal(len(t))
    return y.astype(np.float32)
