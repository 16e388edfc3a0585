"""Quality gates applied at upload: a recording that fails them is refused with a reason.

The measures and gates are the package's own (:mod:`vocalmind.audio.quality`, the same
rules that make ``vocalmind assess`` abstain): a recording is refused (HTTP 422, before
anything is stored or queued) when it is **silent** (peak below -60 dBFS), has **no or too
little voiced speech** (less than ``min_speech_s``; noise, hiss and clicks have none),
is **clipped** (more than ``max_clipped_fraction`` of samples at full scale), has a large
DC offset, is **too noisy** (SNR estimate below 5 dB), or has a **narrow bandwidth**
(below 2500 Hz). Each reason is told in words with what to do about it.

These are simple, explainable checks, not a speech recogniser: a periodic machine hum can
pass as voiced, and whispered speech (unvoiced) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ADVICE", "UploadQuality", "check_upload", "exit_with_parent", "upload_quality"]

#: what to do, by the reason's first word (:func:`vocalmind.audio.quality.check`)
ADVICE = {
    "silent": "the recording is silent; check that the microphone is connected and not muted",
    "no voiced speech": "no speech found: it sounds like silence or noise only; check that "
                        "the participant was recorded",
    "too little voiced speech": "too little speech; record the participant speaking for "
                                "longer",
    "clipped": "the recording is clipped; record again with the input level turned down",
    "dc offset": "the recording has a DC offset (a faulty microphone or sound card); record "
                 "again with another one",
    "too noisy": "the recording is too noisy; record in a quieter room, closer to the "
                 "microphone",
    "narrow bandwidth": "the sound is muffled (narrow bandwidth); record with a better "
                        "microphone, not over a telephone line",
    "non-finite": "the file holds invalid samples; export it again",
    "truncated": "the file is truncated; upload the complete file",
}


@dataclass(frozen=True)
class UploadQuality:
    """The package's quality record of an upload (as a dict) and the refusal reasons."""

    record: dict[str, Any]
    problems: tuple[str, ...]


def _advice(reason: str) -> str:
    for key in sorted(ADVICE, key=len, reverse=True):
        if reason.startswith(key):
            detail = reason[len(key):].lstrip(": ").strip()
            if detail.startswith("(") and detail.endswith(")"):
                detail = detail[1:-1]
            return f"{ADVICE[key]} ({detail})" if detail else ADVICE[key]
    return reason


def upload_quality(y: np.ndarray, *, sr: int, min_speech_s: float,
                   max_clipped_fraction: float) -> UploadQuality:
    """Run the package's quality gates on a decoded upload.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float in [-1, 1], at ``sr`` Hz (native)
    min_speech_s : least voiced speech (seconds)
    max_clipped_fraction : most samples at full scale (fraction)

    Returns
    -------
    UploadQuality, whose ``problems`` say in words what failed and what to do. Durations
    are checked by the caller (the service's own limits), not here.
    """
    from vocalmind import SAMPLE_RATE
    from vocalmind.audio.processing import resample, to_mono
    from vocalmind.audio.quality import QualityGates, check, measure

    y = np.asarray(y, dtype=np.float32)
    mono = to_mono(y) if y.ndim == 2 else y
    if sr != SAMPLE_RATE:
        mono = resample(np.where(np.isfinite(mono), mono, 0.0), orig_sr=sr,
                        target_sr=SAMPLE_RATE)
    rec = measure(mono, sr=SAMPLE_RATE, file="upload", native_sr=sr)
    gates = QualityGates(min_duration_s=None, max_duration_s=None, min_speech_s=min_speech_s,
                         max_clipping_fraction=max_clipped_fraction)
    return UploadQuality(rec.as_dict(), tuple(_advice(r) for r in check(rec, gates)))


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


#: scheduling priority of the checker processes (Linux nice value): decoding an upload may
#: wait; answering another request of the server may not
CHECKER_NICE = 10


def start_checker() -> None:
    """Initializer of a checker process: lower priority, and exit with the server.

    On a busy machine the checkers (decoding and the quality measures, about 0.9 s of CPU
    per 120 s recording) would otherwise take the cores from the server's event loop and the
    database, and every read of every study would wait behind them.
    """
    import os

    try:
        os.nice(CHECKER_NICE)
    except OSError:  # not permitted here: run at the server's priority
        pass
    exit_with_parent()
