"""Signal conditioning: down-mix, resample, normalise, diagnose, denoise.

All functions are pure: they take a float signal and return a new float32 array, never
modifying the input. Multi-channel signals are ``(channels, n)`` like librosa.
"""

from __future__ import annotations

import warnings

import numpy as np
import soxr

from vocalmind.errors import AudioError, InputError, ParameterError

__all__ = [
    "to_mono",
    "resample",
    "peak_normalize",
    "loudness",
    "loudness_normalize",
    "signal_problems",
    "check_signal",
    "denoise",
]

#: A signal whose peak stays below this level (dBFS) counts as silent.
SILENCE_DB = -60.0
#: Samples at or above this magnitude count as clipped (int16 full scale is 0.99997).
CLIP_LEVEL = 0.999
#: Fraction of clipped samples above which a signal is reported as clipped.
CLIP_FRACTION = 0.01
#: Mean offset above which a DC offset is reported (about -40 dBFS).
DC_OFFSET = 0.01


def _as_float(y: np.ndarray, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating):
        raise InputError(f"{name} must be a float array, got dtype {y.dtype}; convert with load()")
    if y.ndim not in (1, 2):
        raise InputError(f"{name} must have shape (n,) or (channels, n), got {y.shape}")
    return y


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average the channels.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Signal; 1-D input is returned unchanged (as float32).

    Returns
    -------
    np.ndarray [shape=(n,)], float32

    Examples
    --------
    >>> to_mono(np.array([[1.0, 0.0], [0.0, 1.0]])).tolist()
    [0.5, 0.5]
    """
    y = _as_float(y)
    if y.ndim == 1:
        return y.astype(np.float32, copy=True)
    return y.mean(axis=0, dtype=np.float64).astype(np.float32)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Change the sampling rate with soxr (high quality, linear phase).

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Signal at ``orig_sr`` Hz.
    orig_sr, target_sr : int
        Rates in Hz (> 0).

    Returns
    -------
    np.ndarray [shape=(m,) or (channels, m)], float32
        ``m = ceil(n * target_sr / orig_sr)`` (soxr's length rule).

    Examples
    --------
    >>> resample(np.zeros(48000, np.float32), orig_sr=48000, target_sr=16000).shape
    (16000,)
    """
    y = _as_float(y)
    if orig_sr <= 0 or target_sr <= 0:
        raise ParameterError(f"resample: sample rates must be > 0, got orig_sr={orig_sr}, target_sr={target_sr}")
    if orig_sr == target_sr:
        return y.astype(np.float32, copy=True)
    # soxr wants (frames, channels); vocalmind keeps (channels, frames).
    x = np.ascontiguousarray(y.T if y.ndim == 2 else y, dtype=np.float32)
    out = soxr.resample(x, orig_sr, target_sr, quality="HQ")
    out = out.T if y.ndim == 2 else out
    return np.ascontiguousarray(out, dtype=np.float32)


def peak_normalize(y: np.ndarray, *, peak_db: float = -1.0) -> np.ndarray:
    """Scale so the largest absolute sample sits at ``peak_db`` dBFS.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
    peak_db : float
        Target peak in dB relative to full scale (<= 0).

    Returns
    -------
    np.ndarray, float32, same shape. An all-zero signal is returned unchanged.

    Examples
    --------
    >>> float(np.abs(peak_normalize(np.array([0.1, -0.2]), peak_db=0.0)).max())
    1.0
    """
    y = _as_float(y)
    if peak_db > 0:
        raise ParameterError(f"peak_normalize: peak_db={peak_db} would clip; give a value <= 0 dBFS")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak == 0.0:
        return y.astype(np.float32, copy=True)
    return (y * (10 ** (peak_db / 20) / peak)).astype(np.float32)


def _meter(sr: int, n: int):  # noqa: ANN202 - pyloudnorm has no types
    import pyloudnorm  # local: only loudness needs it

    # BS.1770 uses 400 ms gating blocks; shorter signals are measured as one block
    # (not standard-conformant, but better than refusing a 300 ms utterance).
    return pyloudnorm.Meter(sr, block_size=min(0.4, n / sr))


def loudness(y: np.ndarray, *, sr: int) -> float:
    """Integrated loudness (ITU-R BS.1770-4, gated, K-weighted) in LUFS.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Signal at ``sr`` Hz.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    float
        LUFS; ``-inf`` for digital silence.
    """
    y = _as_float(y)
    n = y.shape[-1]
    if n == 0:
        raise InputError("loudness: cannot measure the loudness of an empty signal (0 samples)")
    data = y.T.astype(np.float64) if y.ndim == 2 else y.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm warns on possible clipping only
        return float(_meter(sr, n).integrated_loudness(data))


def loudness_normalize(y: np.ndarray, *, sr: int, target_lufs: float = -23.0) -> np.ndarray:
    """Gain the signal to an integrated loudness of ``target_lufs`` (EBU R128 default -23).

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Signal at ``sr`` Hz.
    sr : int
        Sampling rate in Hz.
    target_lufs : float
        Target integrated loudness in LUFS.

    Returns
    -------
    np.ndarray, float32, same shape.
        If the gain would push the peak past full scale, the result is scaled back to a
        -1 dBFS peak (so it stays in [-1, 1]) and a ``UserWarning`` says the target was not
        reached. Digital silence is returned unchanged with a warning.
    """
    y = _as_float(y)
    lufs = loudness(y, sr=sr)
    if not np.isfinite(lufs):
        warnings.warn("silent signal: loudness normalisation left it unchanged", stacklevel=2)
        return y.astype(np.float32, copy=True)
    out = y * (10 ** ((target_lufs - lufs) / 20))
    peak = float(np.max(np.abs(out)))
    if peak > 1.0:
        warnings.warn(
            f"reaching {target_lufs} LUFS would clip (peak {20 * np.log10(peak):+.1f} dBFS); "
            "limited to a -1 dBFS peak instead",
            stacklevel=2,
        )
        out = out * (10 ** (-1 / 20) / peak)
    return out.astype(np.float32)


def signal_problems(
    y: np.ndarray, *, sr: int, min_duration_s: float = 0.1, silence_db: float = SILENCE_DB
) -> list[str]:
    """List what is wrong with a signal (empty list = nothing found).

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Signal at ``sr`` Hz, nominally in [-1, 1].
    sr : int
        Sampling rate in Hz.
    min_duration_s : float
        Shorter signals are reported as ``"too short ..."``.
    silence_db : float
        A peak below this (dBFS) is reported as ``"silent ..."``.

    Returns
    -------
    list of str
        Each item starts with a keyword: ``"empty"``, ``"non-finite"``, ``"too short"``,
        ``"silent"``, ``"clipped"`` (> 1 % of samples at full scale), ``"dc offset"``
        (|mean| > 0.01).

    Examples
    --------
    >>> signal_problems(np.zeros(16000, np.float32), sr=16000)
    ['silent: peak -inf dBFS < -60 dBFS']
    """
    y = _as_float(y)
    n = y.shape[-1]
    if n == 0:
        return ["empty: no samples"]
    problems: list[str] = []
    finite = np.isfinite(y)
    if not finite.all():
        problems.append(f"non-finite: {int((~finite).sum())} NaN/inf samples")
        y = np.where(finite, y, 0.0)
    dur = n / sr
    if dur < min_duration_s:
        problems.append(f"too short: {dur:.3f} s < {min_duration_s:g} s")
    peak = float(np.max(np.abs(y)))
    peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_db < silence_db:
        problems.append(f"silent: peak {peak_db:.1f} dBFS < {silence_db:g} dBFS")
        return problems
    clipped = float(np.mean(np.abs(y) >= CLIP_LEVEL))
    if clipped > CLIP_FRACTION:
        problems.append(f"clipped: {100 * clipped:.1f} % of samples at full scale")
    dc = float(np.mean(y))
    if abs(dc) > DC_OFFSET:
        problems.append(f"dc offset: mean {dc:+.3f}; remove it with y - y.mean()")
    return problems


def check_signal(
    y: np.ndarray,
    *,
    sr: int,
    file: str = "<signal>",
    min_duration_s: float = 0.1,
    silence_db: float = SILENCE_DB,
) -> None:
    """Raise :class:`AudioError` when a signal is unusable for analysis.

    Unusable means empty, non-finite, shorter than ``min_duration_s`` or all silent.
    Clipping and DC offset are only reported by :func:`signal_problems`, not raised.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Signal at ``sr`` Hz.
    sr : int
        Sampling rate in Hz.
    file : str
        Named in the error.
    min_duration_s, silence_db : float
        As in :func:`signal_problems`.

    Raises
    ------
    AudioError
        With the problems joined by ``"; "``.
    """
    fatal = ("empty", "non-finite", "too short", "silent")
    problems = signal_problems(y, sr=sr, min_duration_s=min_duration_s, silence_db=silence_db)
    bad = [p for p in problems if p.startswith(fatal)]
    if bad:
        raise AudioError(file, "; ".join(bad))


def denoise(
    y: np.ndarray,
    *,
    sr: int,
    stationary: bool = False,
    prop_decrease: float = 1.0,
    y_noise: np.ndarray | None = None,
) -> np.ndarray:
    """Spectral-gating noise reduction (noisereduce).

    Spectral gating removes noise in pauses well (tens of dB) but also thins quiet
    speech; use it before features that suffer from noise floors, not as a restoration.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Signal at ``sr`` Hz.
    sr : int
        Sampling rate in Hz.
    stationary : bool
        ``True``: one noise threshold per frequency for the whole signal (steady hum/hiss),
        estimated from ``y_noise`` when given, else from ``y`` itself -- then steady
        tones and long vowels count as noise. ``False``: a threshold that follows slow
        changes of the noise floor.
    prop_decrease : float
        How much of the estimated noise to remove, 0 (none) to 1 (all).
    y_noise : np.ndarray [shape=(m,)], optional
        Noise-only recording (e.g. a pause before speech) at ``sr`` Hz; stationary only.

    Returns
    -------
    np.ndarray, float32, same shape.
    """
    y = _as_float(y)
    if not 0.0 <= prop_decrease <= 1.0:
        raise ParameterError(f"denoise: prop_decrease={prop_decrease} must lie in [0, 1]")
    if y_noise is not None and not stationary:
        raise ParameterError("denoise: y_noise is used by stationary gating only; set stationary=True")
    import noisereduce  # local: slow import, only needed here

    out = noisereduce.reduce_noise(
        y=y.astype(np.float32),
        sr=sr,
        stationary=stationary,
        prop_decrease=prop_decrease,
        y_noise=None if y_noise is None else _as_float(y_noise, "y_noise").astype(np.float32),
        n_jobs=1,
    )
    return np.asarray(out, dtype=np.float32)
