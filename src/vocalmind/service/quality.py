"""Quality gates applied at upload: a recording that fails them is refused with a reason.

A recording is refused (HTTP 422, before anything is stored or queued) when it is

- **silent**: its peak is below ``SILENCE_DB`` (-60 dBFS) -- a muted or unplugged microphone;
- **clipped**: more than ``max_clipped_fraction`` of its samples sit at full scale (the
  input level was too high; voice measures on a clipped waveform are wrong);
- **without speech**: less than ``min_speech_s`` seconds of *voiced* sound. A frame is
  voiced when its normalised autocorrelation has a clear peak at a pitch period between
  60 and 500 Hz after first dropping below 0.3 (so the slow decay of low-pass noise does not
  count). Noise, hiss, clicks and silence give (almost) no voiced frames; speech gives
  30-60 % of its duration.

These are deliberately simple, explainable checks, not a speech recogniser: a periodic
machine hum can pass as voiced, and whispered speech (unvoiced) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vocalmind.audio.processing import CLIP_LEVEL, SILENCE_DB, resample, to_mono

__all__ = ["UploadQuality", "check_upload", "exit_with_parent", "upload_quality",
           "voiced_seconds"]

VOICING_SR = 16_000
FRAME_S, HOP_S = 0.04, 0.02
F0_MIN, F0_MAX = 60.0, 500.0
VOICED_R = 0.5
#: frames this far below the loudest frame are not examined (background between words)
RELATIVE_FLOOR_DB = -35.0


@dataclass(frozen=True)
class UploadQuality:
    """What the gates measured, and the refusal reasons (empty: accepted)."""

    peak_dbfs: float
    clipped_fraction: float
    voiced_s: float
    problems: tuple[str, ...]


def voiced_seconds(y: np.ndarray, *, sr: int = VOICING_SR) -> float:
    """Seconds of voiced (periodic, pitch 60-500 Hz) sound in a mono signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float, at ``sr`` Hz

    Returns
    -------
    float, number of voiced 40 ms frames (20 ms hop) times the hop, in seconds.
    """
    frame, hop = int(FRAME_S * sr), int(HOP_S * sr)
    if len(y) < frame:
        return 0.0
    n = 1 + (len(y) - frame) // hop
    lo, hi = int(sr / F0_MAX), int(sr / F0_MIN)
    nfft = 1 << int(np.ceil(np.log2(2 * frame)))
    window = np.hanning(frame).astype(np.float32)
    energy = np.array([float(np.sum(y[i * hop:i * hop + frame] ** 2)) for i in range(n)])
    top = float(energy.max()) if n else 0.0
    if top <= 0:
        return 0.0
    keep = energy > top * 10 ** (RELATIVE_FLOOR_DB / 10)
    voiced = 0
    idx = np.flatnonzero(keep)
    for start in range(0, len(idx), 2048):  # bounded memory for 10-minute recordings
        rows = idx[start:start + 2048]
        frames = np.stack([y[i * hop:i * hop + frame] for i in rows]).astype(np.float32)
        frames = (frames - frames.mean(axis=1, keepdims=True)) * window
        spec = np.fft.rfft(frames, nfft, axis=1)
        ac = np.fft.irfft(np.abs(spec) ** 2, nfft, axis=1)[:, :hi + 1]
        ac = ac / np.maximum(ac[:, :1], 1e-12)
        lag = lo + np.argmax(ac[:, lo:hi + 1], axis=1)
        peak = ac[np.arange(len(rows)), lag]
        dip = np.array([ac[k, 1:lag[k]].min() if lag[k] > 1 else 1.0
                        for k in range(len(rows))])
        voiced += int(np.sum((peak > VOICED_R) & (dip < 0.3) & (lag > lo)))
    return voiced * HOP_S


def upload_quality(y: np.ndarray, *, sr: int, min_speech_s: float,
                   max_clipped_fraction: float) -> UploadQuality:
    """Run the gates on a decoded upload.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float in [-1, 1], at ``sr`` Hz (native)
    min_speech_s : least voiced sound (seconds)
    max_clipped_fraction : most samples at full scale (fraction, per channel)

    Returns
    -------
    UploadQuality, whose ``problems`` say in words what to do about each failure.
    """
    y = np.asarray(y, dtype=np.float32)
    y = np.where(np.isfinite(y), y, 0.0)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
    clipped = float(np.max(np.mean(np.abs(np.atleast_2d(y)) >= CLIP_LEVEL, axis=-1))) \
        if y.size else 0.0
    problems: list[str] = []
    if peak_db < SILENCE_DB:
        problems.append(f"the recording is silent (loudest sample {peak_db:.0f} dBFS); "
                        "check that the microphone is connected and not muted")
        return UploadQuality(peak_db, clipped, 0.0, tuple(problems))
    if clipped > max_clipped_fraction:
        problems.append(f"the recording is clipped ({100 * clipped:.1f} % of samples at full "
                        "scale); record again with the input level turned down")
    mono = to_mono(y) if y.ndim == 2 else y
    if sr != VOICING_SR:
        mono = resample(mono, orig_sr=sr, target_sr=VOICING_SR)
    voiced = voiced_seconds(mono, sr=VOICING_SR)
    if voiced < min_speech_s:
        problems.append(f"no speech found ({voiced:.1f} s of voiced sound; at least "
                        f"{min_speech_s:g} s is needed): it sounds like silence or noise only. "
                        "Check that the participant was recorded")
    return UploadQuality(peak_db, clipped, voiced, tuple(problems))


def check_upload(path: str, *, max_duration_s: float, min_duration_s: float,
                 min_speech_s: float, max_clipped_fraction: float) -> dict[str, Any]:
    """Header, full decode, duration and quality gates of a spooled upload.

    Runs in a child process of the server (see ``service/routers/recordings.py``), so the
    CPU-bound decoding never holds the server's interpreter lock; its answer is plain data.

    Returns
    -------
    dict
        ``{"ok": True, "info": {duration_s, sample_rate, channels, format}}``, or
        ``{"ok": False, "status": 415 | 422, "detail": reason in words}``.
    """
    import warnings

    from vocalmind.audio import info, load
    from vocalmind.errors import AudioError

    def refuse(status: int, detail: str) -> dict[str, Any]:
        return {"ok": False, "status": status, "detail": detail}

    try:
        meta = info(path)
    except AudioError as e:
        return refuse(415, f"not a readable recording: {e.reason}")
    if meta.duration_s > max_duration_s:
        return refuse(422, f"recording is {meta.duration_s:.1f} s long; the limit is "
                           f"{max_duration_s:g} s")
    if meta.duration_s < min_duration_s:
        return refuse(422, f"recording is {meta.duration_s:.2f} s long; at least "
                           f"{min_duration_s:g} s is needed")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a truncated file is refused, not half-assessed
            y = load(path, sr=None, mono=False, max_duration_s=max_duration_s + 1)
    except AudioError as e:
        return refuse(415, f"not a readable recording: {e.reason}")
    except Warning as w:
        return refuse(415, f"not a readable recording: {str(w).split(': ', 1)[-1]}")
    q = upload_quality(y, sr=meta.sample_rate, min_speech_s=min_speech_s,
                       max_clipped_fraction=max_clipped_fraction)
    if q.problems:
        return refuse(422, "; ".join(q.problems))
    return {"ok": True, "info": {"duration_s": float(meta.duration_s),
                                 "sample_rate": int(meta.sample_rate),
                                 "channels": int(meta.channels), "format": str(meta.format)}}


def exit_with_parent(poll_s: float = 1.0) -> None:
    """Initializer of a checker process: exit once the server that started it is gone.

    A server killed with ``kill -9`` cannot stop its pool; without this its checker
    processes would wait for work forever.
    """
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()
