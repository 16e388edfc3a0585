"""Fixtures for the audio-room tests: numpy signals and espeak-ng speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _audio_synth import SR, espeak


@pytest.fixture(scope="session")
def speech_16k(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """About 3 s of espeak-ng speech, float32 mono at 16 kHz."""
    from vocalmind.audio import load

    path = espeak(
        "The weather was calm and the children walked slowly to the old school",
        tmp_path_factory.mktemp("speech") / "speech.wav",
    )
    return load(path, sr=SR)


@pytest.fixture
def write_wav(tmp_path: Path):
    """Write a signal (n,) or (channels, n) to ``tmp_path/name`` and return the path."""

    def _write(name: str, y: np.ndarray, sr: int, **kwargs: object) -> Path:
        path = tmp_path / name
        sf.write(path, np.asarray(y).T, sr, **kwargs)
        return path

    return _write
