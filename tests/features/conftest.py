"""Fixtures of the features tests: espeak-ng speech and numpy signals written to tmp folders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 16_000
SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "I would like a cup of tea and two slices of bread this morning.",
    "We went to the old town yesterday and walked along the harbour.",
]


def speak(text: str, path: Path, *, pitch: int = 50, speed: int = 160, voice: str = "en-us") -> Path:
    """Synthesise ``text`` with espeak-ng into a 22.05 kHz WAV at ``path``."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text],
        check=True, capture_output=True,
    )
    return path


@pytest.fixture(scope="session")
def speech_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four short English utterances from two synthetic 'speakers' (pitch 35 and 65)."""
    d = tmp_path_factory.mktemp("speech")
    return [
        speak(text, d / f"utt{i}.wav", pitch=35 if i % 2 else 65, speed=150 + 10 * i)
        for i, text in enumerate(SENTENCES)
    ]


def write_tone(path: Path, *, f0: float = 220.0, seconds: float = 1.0, amp: float = 0.3) -> Path:
    """A harmonic tone with a little noise, 16 kHz float WAV."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(int(f0))
    y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    y = amp * y / np.max(np.abs(y)) + 0.002 * rng.standard_normal(t.size)
    sf.write(path, y.astype(np.float32), SR, subtype="PCM_16")
    return path


@pytest.fixture
def tone_files(tmp_path: Path) -> list[Path]:
    """Five 1 s tones of different pitch (fresh per test: tests may edit them)."""
    return [write_tone(tmp_path / f"tone{i}.wav", f0=150.0 + 40 * i) for i in range(5)]


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    """A file with a .wav name that is not audio."""
    p = tmp_path / "broken.wav"
    p.write_bytes(b"this is not a RIFF file at all" * 10)
    return p
