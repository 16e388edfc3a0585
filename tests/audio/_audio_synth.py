"""Signal helpers shared by the audio-room tests (unique module name: imported by path)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

SR = 16_000


def sine(freq: float, dur: float, sr: int, amp: float = 0.5) -> np.ndarray:
    """A float32 sine of ``dur`` seconds at ``sr`` Hz."""
    t = np.arange(int(round(dur * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_freq(y: np.ndarray, sr: int) -> float:
    """Frequency (Hz) of the largest FFT bin, refined by parabolic interpolation."""
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / len(y)


def espeak(text: str, path: Path, *, speed: int = 160) -> Path:
    """Synthesize ``text`` with espeak-ng into a 22.05 kHz WAV."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(path), text], check=True)
    return path


def speech_bounds(y: np.ndarray, sr: int, level: float = 0.02) -> tuple[float, float]:
    """First and last time (s) where |y| exceeds ``level``: the truth for VAD tests."""
    idx = np.flatnonzero(np.abs(y) > level)
    return idx[0] / sr, (idx[-1] + 1) / sr
