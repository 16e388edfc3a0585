"""Fixtures for the corpus-reader tests: tiny wav files placed in look-alike corpus trees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def tiny_wav(path: Path, seconds: float = 0.1, sr: int = 8000, f0: float = 220.0) -> Path:
    """Write a short sine tone (16-bit PCM) at ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.2 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), sr, subtype="PCM_16")
    return path


@pytest.fixture
def wav() -> Callable[..., Path]:
    """The :func:`tiny_wav` writer."""
    return tiny_wav


@pytest.fixture
def broken() -> Callable[[Path], Path]:
    """Write a file that has a .wav name but is not audio."""

    def _write(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"this is not audio at all")
        return path

    return _write


def no_file_lost(df, root: Path) -> None:  # type: ignore[no-untyped-def]
    """Every audio file under the root is a manifest row or a listed failure with a reason."""
    audio = {p.resolve() for p in root.rglob("*.wav")}
    rows = {Path(f).resolve() for f in df["file"]}
    failed = {Path(f["file"]).resolve() for f in df.attrs["failures"]
              if str(f["file"]).lower().endswith(".wav")}
    assert all(f["reason"] for f in df.attrs["failures"])
    assert rows | failed == audio, sorted(map(str, audio - rows - failed))
    assert df["file"].nunique() == len(audio) - len(failed & audio)


@pytest.fixture
def assert_no_file_lost() -> Callable[..., None]:
    """The :func:`no_file_lost` check (a reader never loses a file silently)."""
    return no_file_lost
