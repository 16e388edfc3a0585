"""Synthetic voice signals with known source and filter parameters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

SR = 16_000
VOWEL_A = ((700.0, 80.0), (1220.0, 90.0), (2600.0, 120.0), (3300.0, 200.0), (4200.0, 250.0))


def rosenberg_flow(f0: float, dur: float, *, oq: float = 0.6, sr: int = SR,
                   jitter: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rosenberg glottal flow (opening : closing = 2 : 1) and its GCI sample indices."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(dur * sr))
    gcis = []
    t = 0.0
    while True:
        T0 = (1.0 / f0) * (1.0 + jitter * rng.uniform(-1, 1))
        n0 = int(round(t * sr))
        n = int(round(T0 * sr))
        if n0 + n >= len(out):
            break
        tp, tn = 2 / 3 * oq * n, 1 / 3 * oq * n
        k = np.arange(n, dtype=float)
        g = np.zeros(n)
        op = k < tp
        g[op] = 0.5 * (1 - np.cos(np.pi * k[op] / tp))
        cl = (k >= tp) & (k < tp + tn)
        g[cl] = np.cos(np.pi * (k[cl] - tp) / (2 * tn))
        out[n0 : n0 + n] = g
        gcis.append(n0 + int(round(tp + tn)))
        t += T0
    return out, np.array(gcis)


def vocal_tract(flow: np.ndarray, formants=VOWEL_A, *, sr: int = SR) -> np.ndarray:
    """Speech = lip radiation (first difference) of the flow through formant resonators."""
    y = np.diff(flow, prepend=0.0)
    for f, bw in formants:
        r = np.exp(-np.pi * bw / sr)
        a = [1.0, -2 * r * np.cos(2 * np.pi * f / sr), r * r]
        y = signal.lfilter([sum(a)], a, y)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def vowel(f0: float = 120.0, dur: float = 1.5, *, oq: float = 0.6, formants=VOWEL_A,
          jitter: float = 0.005, seed: int = 0) -> np.ndarray:
    flow, _ = rosenberg_flow(f0, dur, oq=oq, jitter=jitter, seed=seed)
    y = vocal_tract(flow, formants)
    rng = np.random.default_rng(seed + 1)
    return y + (1e-4 * rng.standard_normal(len(y))).astype(np.float32)


def creaky(dur: float = 1.5, *, seed: int = 0) -> np.ndarray:
    """Low (40-70 Hz), irregular, strongly damped pulses through the same vowel filter."""
    rng = np.random.default_rng(seed)
    exc = np.zeros(int(dur * SR))
    t = 0.01
    while t < dur - 0.03:
        exc[int(t * SR)] = -1.0 * rng.uniform(0.6, 1.0)
        t += 1.0 / rng.uniform(40.0, 70.0)
    y = exc
    for f, bw in VOWEL_A:
        r = np.exp(-np.pi * (bw * 1.5) / SR)
        a = [1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r]
        y = signal.lfilter([sum(a)], a, y)
    y = 0.5 * y / np.max(np.abs(y))
    return (y + 1e-4 * rng.standard_normal(len(y))).astype(np.float32)


def voice_mix(n_vowels: int, *, creak_every: int, seed: int = 0) -> np.ndarray:
    """Vowels at random F0 (90-260 Hz) and open quotient, each followed by a pause of faint
    noise, with a creaky stretch after every ``creak_every``-th vowel; float32 at ``SR``."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n_vowels):
        parts.append(vowel(float(rng.uniform(90, 260)), float(rng.uniform(0.8, 2.0)),
                           oq=float(rng.uniform(0.4, 0.8)), jitter=0.01, seed=i))
        parts.append((0.003 * rng.standard_normal(int(rng.uniform(0.1, 0.6) * SR))
                      ).astype(np.float32))
        if i % creak_every == 0:
            parts.append(creaky(0.8, seed=i))
    return np.concatenate(parts).astype(np.float32)


@pytest.fixture(scope="session")
def modal_vowel() -> np.ndarray:
    return vowel(120.0)
