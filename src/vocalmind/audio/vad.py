"""Voice activity detection: where is the speech?

Three detectors behind one function, :func:`speech_segments`:

``"silero"``
    Silero VAD (neural, the wheel ships its weights; robust to noise and music). The model
    is loaded once per process and cached; inference runs on one torch thread. Needs
    16 kHz or 8 kHz input; other rates are resampled to 16 kHz first.
``"webrtc"``
    WebRTC's GMM detector (light, no torch): 30 ms frames, ``aggressiveness`` 0-3.
    Input is resampled to 16 kHz unless it is 8/16/32/48 kHz already.
``"energy"``
    Frame-energy threshold relative to the recording's own noise floor; a dependency-free
    fallback for clean recordings only.

Whatever the detector, its raw decisions go through the same clean-up, in this order:
gaps shorter than ``min_silence_s`` are bridged, bursts shorter than ``min_speech_s`` are
dropped, each segment is widened by ``pad_s`` on both sides (clipped to the signal) and
overlapping segments are merged. Times are seconds from the start of ``y``.
"""

from __future__ import annotations

import threading
import warnings
from typing import Literal

import numpy as np

from vocalmind.audio.processing import SILENCE_DB, resample
from vocalmind.errors import InputError, ParameterError

__all__ = ["speech_segments", "trim_endpoints", "keep_speech", "VadMethod"]

VadMethod = Literal["silero", "webrtc", "energy"]
_METHODS = ("silero", "webrtc", "energy")

_SILERO_LOCK = threading.Lock()
_SILERO_MODEL = None  # loaded on first use; the JIT model keeps state, hence the lock


def _silero():  # noqa: ANN202 - (torch.jit.ScriptModule, function)
    """Silero's model (loaded once per process) and ``get_speech_timestamps``.

    ``silero_vad`` calls ``torch.set_num_threads(1)`` when imported; the caller's thread
    count is restored so importing this room never slows other torch work.
    """
    global _SILERO_MODEL
    import torch

    n_threads = torch.get_num_threads()
    try:
        from silero_vad import get_speech_timestamps, load_silero_vad

        if _SILERO_MODEL is None:
            with warnings.catch_warnings():
                # importlib.resources.path / torch.jit.load deprecations inside silero_vad
                warnings.simplefilter("ignore", DeprecationWarning)
                _SILERO_MODEL = load_silero_vad(onnx=False)
    finally:
        torch.set_num_threads(n_threads)
    return _SILERO_MODEL, get_speech_timestamps


def _check_input(y: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputError(f"speech_segments: VAD needs a mono signal of shape (n,), got {y.shape}; use to_mono()")
    if not np.issubdtype(y.dtype, np.floating):
        raise InputError(f"speech_segments: y must be a float array, got dtype {y.dtype}")
    if sr <= 0:
        raise ParameterError(f"speech_segments: sr must be > 0 Hz, got {sr}")
    return y.astype(np.float32, copy=False)


def _frames_to_segments(active: np.ndarray, hop_s: float, frame_s: float) -> list[list[float]]:
    """Turn per-frame booleans into [start, end] runs in seconds."""
    segs: list[list[float]] = []
    if active.size == 0:
        return segs
    padded = np.concatenate([[False], active.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        segs.append([a * hop_s, (b - 1) * hop_s + frame_s])
    return segs


def _clean(
    segs: list[list[float]],
    *,
    duration: float,
    min_speech_s: float,
    min_silence_s: float,
    pad_s: float,
) -> list[tuple[float, float]]:
    """Bridge short gaps, drop short bursts, pad, merge overlaps, clip to [0, duration]."""
    merged: list[list[float]] = []
    for s, e in sorted(segs):
        if merged and s - merged[-1][1] < min_silence_s:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    kept = [[s, e] for s, e in merged if e - s >= min_speech_s]
    out: list[list[float]] = []
    for s, e in kept:
        s, e = max(0.0, s - pad_s), min(duration, e + pad_s)
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(round(float(s), 4), round(float(e), 4)) for s, e in out]


def _silero_raw(
    y: np.ndarray, sr: int, threshold: float, min_speech_s: float, min_silence_s: float
) -> list[list[float]]:
    import torch

    if sr not in (8000, 16000):
        y, sr = resample(y, orig_sr=sr, target_sr=16000), 16000
    model, get_speech_timestamps = _silero()
    with _SILERO_LOCK:
        n_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a 2 MB model: one thread is fastest and leaves cores free
        try:
            with torch.no_grad():
                stamps = get_speech_timestamps(
                    torch.from_numpy(np.ascontiguousarray(y)),
                    model,
                    threshold=threshold,
                    sampling_rate=sr,
                    min_speech_duration_ms=int(min_speech_s * 1000),
                    min_silence_duration_ms=int(min_silence_s * 1000),
                    speech_pad_ms=0,  # padding is applied uniformly in _clean
                )
        finally:
            torch.set_num_threads(n_threads)
    return [[d["start"] / sr, d["end"] / sr] for d in stamps]


def _webrtc_raw(y: np.ndarray, sr: int, aggressiveness: int) -> list[list[float]]:
    import webrtcvad

    if aggressiveness not in (0, 1, 2, 3):
        raise ParameterError(f"speech_segments: aggressiveness={aggressiveness} must be 0, 1, 2 or 3")
    if sr not in (8000, 16000, 32000, 48000):
        y, sr = resample(y, orig_sr=sr, target_sr=16000), 16000
    vad = webrtcvad.Vad(aggressiveness)
    frame = int(0.03 * sr)
    pcm = (np.clip(y, -1.0, 1.0) * 32767).astype("<i2")
    n_frames = len(pcm) // frame
    active = np.array(
        [vad.is_speech(pcm[i * frame : (i + 1) * frame].tobytes(), sr) for i in range(n_frames)],
        dtype=bool,
    )
    return _frames_to_segments(active, 0.03, 0.03)


def _energy_raw(y: np.ndarray, sr: int, threshold_db: float) -> list[list[float]]:
    frame, hop = int(0.025 * sr), int(0.010 * sr)
    if len(y) < frame:
        return []
    n = 1 + (len(y) - frame) // hop
    # Frame energies from a running sum: O(n) memory even for hour-long recordings.
    csum = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    starts = hop * np.arange(n)
    rms = np.sqrt(np.maximum(csum[starts + frame] - csum[starts], 0.0) / frame)
    db = 20 * np.log10(np.maximum(rms, 1e-10))
    floor, peak = np.percentile(db, 10), db.max()
    # Above the noise floor by threshold_db, but never demand more than 20 dB below the
    # loudest frame (continuous speech has no "floor" of silence) and never accept frames
    # within 6 dB of the floor (low-SNR noise) or below SILENCE_DB (-60 dBFS, the package's
    # one silence rule).
    level = max(floor + 6.0, min(floor + threshold_db, peak - 20.0), SILENCE_DB)
    return _frames_to_segments(db > level, hop / sr, frame / sr)


def speech_segments(
    y: np.ndarray,
    *,
    sr: int,
    method: VadMethod = "silero",
    threshold: float | None = None,
    min_speech_s: float = 0.25,
    min_silence_s: float = 0.3,
    pad_s: float = 0.05,
    aggressiveness: int = 2,
) -> list[tuple[float, float]]:
    """Find the spans of speech in a mono signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono float signal at ``sr`` Hz.
    sr : int
        Sampling rate in Hz.
    method : {"silero", "webrtc", "energy"}
        Detector (see the module docstring).
    threshold : float or None
        ``"silero"``: speech probability, default 0.5. ``"energy"``: dB above the noise
        floor, default 15. ``"webrtc"`` has no threshold (use ``aggressiveness``); giving
        one is an error.
    min_speech_s : float
        Speech bursts shorter than this (seconds) are dropped.
    min_silence_s : float
        Pauses shorter than this (seconds) do not split a segment.
    pad_s : float
        Seconds added on both sides of each segment (clipped to the signal).
    aggressiveness : int
        WebRTC only: 0 (keeps most) to 3 (keeps least).

    Returns
    -------
    list of (start_s, end_s)
        Sorted, non-overlapping, in seconds; empty when no speech is found.

    Examples
    --------
    >>> speech_segments(np.zeros(16000, np.float32), sr=16000, method="energy")
    []
    """
    y = _check_input(y, sr)
    if method not in _METHODS:
        raise ParameterError(f"speech_segments: method={method!r} unknown; choose one of {_METHODS}")
    for name, val in (
        ("min_speech_s", min_speech_s),
        ("min_silence_s", min_silence_s),
        ("pad_s", pad_s),
    ):
        if not val >= 0:
            raise ParameterError(f"speech_segments: {name}={val} must be >= 0 seconds")
    duration = len(y) / sr
    if len(y) == 0:
        return []
    if method == "silero":
        thr = 0.5 if threshold is None else float(threshold)
        if not 0.0 < thr < 1.0:
            raise ParameterError(f"speech_segments: silero threshold={thr} is a probability; give 0 < threshold < 1")
        raw = _silero_raw(y, sr, thr, min_speech_s, min_silence_s)
    elif method == "webrtc":
        if threshold is not None:
            raise ParameterError("speech_segments: method='webrtc' takes no threshold; set aggressiveness (0-3)")
        raw = _webrtc_raw(y, sr, aggressiveness)
    else:
        raw = _energy_raw(y, sr, 15.0 if threshold is None else float(threshold))
    return _clean(
        raw, duration=duration, min_speech_s=min_speech_s, min_silence_s=min_silence_s, pad_s=pad_s
    )


def trim_endpoints(
    y: np.ndarray, *, sr: int, method: VadMethod = "silero", **vad_kwargs: float
) -> tuple[np.ndarray, float, float]:
    """Cut leading and trailing non-speech (endpoint detection).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal at ``sr`` Hz.
    sr : int
        Sampling rate in Hz.
    method : {"silero", "webrtc", "energy"}
        Detector, see :func:`speech_segments`.
    **vad_kwargs
        Passed to :func:`speech_segments` (threshold, min_speech_s, pad_s ...).

    Returns
    -------
    y_trimmed : np.ndarray [shape=(m,)], float32
        ``y`` from the start of the first speech segment to the end of the last; pauses
        in between are kept. Empty (shape ``(0,)``) when no speech is found.
    start_s, end_s : float
        Where the cut lies in ``y`` (seconds); ``(0.0, 0.0)`` when no speech is found.
    """
    segs = speech_segments(y, sr=sr, method=method, **vad_kwargs)
    if not segs:
        return np.zeros(0, np.float32), 0.0, 0.0
    start_s, end_s = segs[0][0], segs[-1][1]
    a, b = int(round(start_s * sr)), int(round(end_s * sr))
    return np.asarray(y[a:b], dtype=np.float32).copy(), start_s, end_s


def keep_speech(
    y: np.ndarray, *, sr: int, method: VadMethod = "silero", **vad_kwargs: float
) -> np.ndarray:
    """Concatenate the speech segments of ``y``, dropping the pauses.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal at ``sr`` Hz.
    sr : int
        Sampling rate in Hz.
    method : {"silero", "webrtc", "energy"}
        Detector, see :func:`speech_segments`.
    **vad_kwargs
        Passed to :func:`speech_segments`.

    Returns
    -------
    np.ndarray [shape=(m,)], float32
        Speech only (each segment keeps its ``pad_s`` margins); empty when no speech.
    """
    segs = speech_segments(y, sr=sr, method=method, **vad_kwargs)
    parts = [y[int(round(s * sr)) : int(round(e * sr))] for s, e in segs]
    if not parts:
        return np.zeros(0, np.float32)
    return np.concatenate(parts).astype(np.float32)
