"""F0 and voicing by Summation of Residual Harmonics (SRH; Drugman & Alwan 2011).

Follows COVAREP ``pitch_srh``: LP residual (order 3/4 fs/1000), 100 ms Blackman frames
every 10 ms, normalised amplitude spectrum E, and per candidate f in [f0min, f0max]

    SRH(f) = sum_{k=1..5} E(k f) - sum_{k=1..4} E((k + 1/2) f)

run twice (the second pass restricts the range to [0.5, 2] x the median F0 of confident
frames); voicing is ``SRH > 0.07`` (0.085 if the SRH values vary with std > 0.05).

As COVAREP, the spectrum is an fs-point DFT (1 Hz bins) read at MATLAB's 1-based indices
``k f`` and ``round((k + 1/2) f)``, i.e. at ``k f - 1`` and ``round((k + 1/2) f) - 1`` Hz,
and F0 is the best whole-Hz candidate (no refinement between candidates); where every
candidate's SRH is negative, COVAREP's zero-filled SRH matrix makes the value 0 and F0 1 Hz.
(Until stop 23 vocalmind read a 2048-point DFT by linear interpolation at ``k f`` and
refined the maximum by a parabola: cheaper, but F0 then differed from COVAREP's by 0.4 %
on EMO-DB and voicing flipped near the threshold, which moved every descriptor that
follows F0 and the voiced frames; see docs/benchmarks.md, "Clinical set vs COVAREP".)

As COVAREP: SRH frames start at sample 0 (centres 50 ms + 10 ms j, all inside the
signal), and F0 and voicing reach the descriptor frames (0.005 + 0.01 k s, half-way
between two SRH frames) by linear interpolation, so that a descriptor frame is voiced when
either neighbouring SRH frame is, and the first and last ~50 ms are unvoiced. Polarity by
RESKEW as ``polarity_reskew`` (:func:`polarity`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from scipy import signal

from vocalmind.features.clinical.dsp import (
    FS,
    frames_at,
    lpc_residual,
    lpc_residual_cross,
    matlab_round,
)

F0_MIN = 50.0
F0_MAX = 500.0
_N_HARM = 5
#: SRH frames whose spectra are computed together
_SRH_CHUNK = 64


def polarity_moments(x: np.ndarray, res: np.ndarray, interior: slice, *, sr: int = FS
                     ) -> np.ndarray:
    """Power sums of the two RESKEW residuals over ``interior`` (for :func:`polarity`).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)] speech (or a segment of it), 16 kHz
    res : np.ndarray [shape=(n,)] its LP residual (order fs/1000 + 2, 25 ms / 5 ms)
    interior : the samples to count (a segment's margins are computed, not counted)
    sr : sample rate in Hz

    Returns
    -------
    np.ndarray [shape=(2, 4)]: ``[count, sum r, sum r^2, sum r^3]`` of the residual and of
    the residual through the high-passed signal's inverse filters
    """
    x_h = signal.sosfiltfilt(_reskew_hp(sr), x)
    res_h = lpc_residual_cross(x, x_h, order=round(sr / 1000) + 2)
    out = np.zeros((2, 4))
    for i, r in enumerate((res[interior], res_h[interior])):
        r2 = r * r
        out[i] = (len(r), r.sum(), r2.sum(), (r2 * r).sum())
    return out


def _skew(m: np.ndarray) -> float:
    n, s1, s2, s3 = m
    if n < 2:
        return 0.0
    mu = s1 / n
    m2 = s2 / n - mu * mu
    m3 = s3 / n - 3 * mu * s2 / n + 2 * mu**3
    return float(m3 / m2**1.5) if m2 > 0 else 0.0


def polarity(moments: np.ndarray) -> int:
    """Speech polarity by residual excitation skewness (RESKEW), as COVAREP ``polarity_reskew``.

    Drugman 2013: the skewness of the ordinary LP residual is compared with that of a
    residual whose inverse filters come from the signal high-passed at 480/500 Hz
    (elliptic, 3 / 60 dB, zero phase); the polarity is ``sign(skew(res) - skew(res_hp))``.

    Parameters
    ----------
    moments : np.ndarray [shape=(2, 4)] :func:`polarity_moments`, summed over segments

    Returns
    -------
    +1 or -1; multiply the signal (and its residual) by it to get the usual polarity
    """
    d = _skew(moments[0]) - _skew(moments[1])
    return 1 if not np.isfinite(d) or d >= 0 else -1


@lru_cache(maxsize=4)
def _reskew_hp(sr: int) -> np.ndarray:
    """RESKEW's elliptic high-pass (pass 500 Hz, stop 480 Hz, 3 / 60 dB), as sections."""
    n_ord, wn = signal.ellipord(480 / (sr / 2), 500 / (sr / 2), 3, 60)
    return signal.ellip(n_ord, 3, 60, wn, "high", output="sos")


def srh_lpc_order(sr: int) -> int:
    """LPC order of SRH's residual, ``3/4 fs / 1000`` (12 at 16 kHz), as COVAREP."""
    return round(0.75 * sr / 1000)


@lru_cache(maxsize=8)
def _srh_bins(f_lo: int, f_hi: int) -> tuple[np.ndarray, np.ndarray]:
    """0-based 1-Hz bins that COVAREP's SRH reads for the candidates ``f_lo..f_hi``:
    ``k f - 1`` (k = 1..5, added) and ``round((k + 1/2) f) - 1`` (k = 1..4, subtracted),
    as ``(5, F)`` and ``(4, F)`` int arrays (MATLAB's 1-based ``specMat(k f)``; ``round``
    takes halves up)."""
    f = np.arange(f_lo, f_hi + 1, dtype=np.int64)[None, :]
    plus = np.arange(1, _N_HARM + 1)[:, None] * f - 1
    minus = matlab_round((np.arange(1, _N_HARM)[:, None] + 0.5) * f).astype(np.int64) - 1
    plus.flags.writeable = minus.flags.writeable = False
    return plus, minus


def srh_centres(n: int, *, sr: int = FS) -> np.ndarray:
    """0-based centres of COVAREP's SRH frames in a signal of ``n`` samples.

    Frames of 1598 samples (at 16 kHz) start at sample 0, 10 ms apart, all inside the
    signal; frame ``j`` is ``res[shift j : shift j + 1598]``, centred at ``799 + 160 j``.
    """
    half = round(0.1 * sr / 2) - 1
    shift = round(0.01 * sr)
    n_srh = (n - (2 * half + 1)) // shift + 1 if n >= 2 * half + 1 else 0
    return half + shift * np.arange(n_srh, dtype=np.int64)


def srh_spectra(res: np.ndarray, centres: np.ndarray, *, sr: int = FS,
                f0max: float = F0_MAX) -> np.ndarray:
    """SRH's normalised residual amplitude spectra of the frames at ``centres``.

    Each 100 ms frame is Blackman-windowed, mean-removed and transformed by an ``sr``-point
    DFT (1 Hz bins); its amplitudes are divided by their root sum of squares over bins
    0..sr/2 - 1 (by Parseval's theorem, from the frame's samples), as COVAREP.

    Parameters
    ----------
    res : np.ndarray [shape=(n,)] LP residual (order ``srh_lpc_order(sr)``, any sign)
    centres : np.ndarray [shape=(J,), int] frame centres in ``res`` (frames inside it)
    sr : sample rate in Hz (even)
    f0max : highest F0 searched (Hz)

    Returns
    -------
    np.ndarray [shape=(J, 5 floor(f0max)), float32] amplitudes at 0, 1, 2, ... Hz (the
    bins :func:`srh_search` reads)
    """
    half = round(0.1 * sr / 2) - 1
    n_bins = _N_HARM * int(np.floor(f0max))
    win = np.blackman(2 * half).astype(np.float32)
    alt = np.where(np.arange(2 * half) % 2, -1.0, 1.0)
    E = np.empty((len(centres), n_bins), dtype=np.float32)
    res32 = res.astype(np.float32)
    # _SRH_CHUNK frames at a time: their sr-point spectra stay in the processor's cache.
    # The frames are written into one zero-padded buffer: rfft(fr, sr) would allocate,
    # zero and fill a padded copy per chunk (same values, ~30 % of the step's time)
    buf = np.zeros((min(_SRH_CHUNK, len(centres)), sr), dtype=np.float32)
    for s in range(0, len(centres), _SRH_CHUNK):
        k = min(_SRH_CHUNK, len(centres) - s)
        fr = buf[:k, : 2 * half]
        np.multiply(frames_at(res32, centres[s : s + k], half), win, out=fr)
        fr -= fr.mean(axis=1, keepdims=True)
        E[s : s + k] = np.abs(sfft.rfft(buf[:k], axis=1)[:, :n_bins])
        # sum_{k < sr/2} |X_k|^2 = (sr sum x^2 + X_0^2 - X_{sr/2}^2) / 2 for a real frame
        x64 = fr.astype(np.float64)
        # einsum's own loops, not BLAS: a row's sums must not depend on the rows beside it
        x0, xn = x64.sum(axis=1), np.einsum("ij,j->i", x64, alt)
        energy = 0.5 * (sr * np.einsum("ij,ij->i", x64, x64) + x0**2 - xn**2)
        E[s : s + k] /= np.maximum(np.sqrt(energy), 1e-20)[:, None].astype(np.float32)
    return E


def srh_scores(E: np.ndarray, f_lo: float, f_hi: float) -> np.ndarray:
    """COVAREP's SRH criterion of every whole-Hz candidate ``ceil(f_lo)..floor(f_hi)``.

    Parameters
    ----------
    E : np.ndarray [shape=(J, >= 5 f_hi)] :func:`srh_spectra`
    f_lo, f_hi : candidate range in Hz

    Returns
    -------
    np.ndarray [shape=(J, F), float64] SRH of candidate ``ceil(f_lo) + j`` in column ``j``
    """
    from vocalmind.features.clinical.kernels import srh_sums  # numba: on first use

    lo, hi = int(np.ceil(f_lo)), int(np.floor(f_hi))
    plus, minus = _srh_bins(lo, hi)
    S = np.empty((len(E), hi - lo + 1))
    srh_sums(E, plus, minus, S)  # no (frames, harmonics, candidates) gathers
    return S


def srh_pick(S: np.ndarray, first_hz: float, f_lo: float, f_hi: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """F0 and SRH value over the candidates ``ceil(f_lo)..floor(f_hi)`` of scores ``S``.

    Parameters
    ----------
    S : np.ndarray [shape=(J, F)] :func:`srh_scores` of candidates from ``first_hz`` on
    first_hz : the candidate of ``S``'s first column (Hz)
    f_lo, f_hi : the sub-range searched (Hz, inside ``S``'s)

    Returns
    -------
    f0 : np.ndarray [shape=(J,)] whole Hz (the first best candidate; 1 where none is
        positive, as COVAREP's zero-filled SRH matrix gives)
    val : np.ndarray [shape=(J,)] SRH value, >= 0
    """
    first = int(np.ceil(first_hz))
    lo, hi = int(np.ceil(f_lo)), int(np.floor(f_hi))
    sub = S[:, lo - first : hi - first + 1]
    j = np.argmax(sub, axis=1)  # the first maximum, as MATLAB's max
    v = sub[np.arange(len(j)), j]
    return np.where(v > 0, lo + j, 1.0).astype(np.float64), np.maximum(v, 0.0)


def srh_search(E: np.ndarray, f_lo: float, f_hi: float) -> tuple[np.ndarray, np.ndarray]:
    """F0 and SRH value over the whole-Hz candidates ``ceil(f_lo)..floor(f_hi)``, as
    COVAREP's ``SRH`` (:func:`srh_scores`, then :func:`srh_pick`).

    Parameters
    ----------
    E : np.ndarray [shape=(J, >= 5 f_hi)] :func:`srh_spectra`
    f_lo, f_hi : candidate range in Hz

    Returns
    -------
    f0 : np.ndarray [shape=(J,)] whole Hz (1 where no candidate is positive)
    val : np.ndarray [shape=(J,)] SRH value, >= 0
    """
    return srh_pick(srh_scores(E, f_lo, f_hi), f_lo, f_lo, f_hi)


def srh_range(f0: np.ndarray, val: np.ndarray, *, f0min: float = F0_MIN,
              f0max: float = F0_MAX) -> tuple[float, float] | None:
    """COVAREP's second-pass range ``[0.5, 2] x`` the median F0 of frames with SRH > 0.1
    (within the first range, MATLAB's rounding: whole-Hz F0s often have a median whose
    half ends in .5), or None when no frame is confident."""
    if not len(val) or val.max() <= 0.1:
        return None
    med = np.median(f0[val > 0.1])
    return (max(f0min, float(matlab_round(0.5 * med))),
            min(f0max, float(matlab_round(2 * med))))


def srh_voicing(val: np.ndarray) -> np.ndarray:
    """Voicing: SRH > 0.07, or > 0.085 when the SRH values vary (std > 0.05)."""
    thresh = 0.085 if (len(val) > 1 and np.std(val, ddof=1) > 0.05) else 0.07
    return (val > thresh).astype(float)


def srh_frames(res: np.ndarray, *, sr: int = FS, f0min: float = F0_MIN,
               f0max: float = F0_MAX) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SRH F0 and voicing on COVAREP's own SRH frames (:func:`srh_centres`).

    Parameters
    ----------
    res : np.ndarray [shape=(n,)] LP residual of order ``srh_lpc_order(sr)`` (any sign)
    sr : sample rate in Hz
    f0min, f0max : search range in Hz

    Returns
    -------
    centres : np.ndarray [shape=(J,), int] 0-based centre samples (empty if n < 1599)
    f0 : np.ndarray [shape=(J,)] Hz on every frame
    srh : np.ndarray [shape=(J,)] SRH criterion value (>= 0)
    vuv : np.ndarray [shape=(J,), float] 1 voiced, 0 unvoiced
    """
    centres = srh_centres(len(res), sr=sr)
    if len(centres) == 0:  # shorter than one SRH frame (COVAREP refuses < 100 ms)
        e = np.zeros(0)
        return centres, e, e, e
    E = srh_spectra(res, centres, sr=sr, f0max=f0max)
    f0, val = srh_search(E, f0min, f0max)
    rng = srh_range(f0, val, f0min=f0min, f0max=f0max)
    if rng is not None:
        f0, val = srh_search(E, *rng)
    return centres, f0, val, srh_voicing(val)


def to_descriptor_frames(centres: np.ndarray, values: np.ndarray, times: np.ndarray, *,
                         sr: int = FS) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation from SRH frames to descriptor frames, as COVAREP ``interp1``.

    Parameters
    ----------
    centres : np.ndarray [shape=(J,)] 0-based SRH frame centres (samples)
    values : np.ndarray [shape=(J,)] or [shape=(J, d)]
    times : np.ndarray [shape=(m,)] descriptor frame centres (s, 0.005 + 0.01 k)
    sr : sample rate in Hz

    Returns
    -------
    vals : np.ndarray [shape=(m,) or (m, d)], nearest-frame value outside the SRH frames
    inside : np.ndarray [shape=(m,), bool], False where COVAREP's ``interp1`` gives NaN
    """
    # descriptor frame k is 1-based sample round(0.005 fs) + 160 k in COVAREP, i.e.
    # 0-based round(t fs) - 1; SRH frame j is 1-based sample 800 + 160 j (0-based centre)
    pos = np.round(times * sr) - 1.0
    if len(centres) == 0:
        shape = (len(times),) + np.shape(values)[1:]
        return np.full(shape, np.nan), np.zeros(len(times), bool)
    inside = (pos >= centres[0]) & (pos <= centres[-1])
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        return np.interp(pos, centres, v), inside
    return np.stack([np.interp(pos, centres, v[:, j]) for j in range(v.shape[1])],
                    axis=1), inside


def srh_pitch(x: np.ndarray, times: np.ndarray, *, sr: int = FS,
              f0min: float = F0_MIN, f0max: float = F0_MAX, res: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F0, voicing and SRH value at each descriptor frame, placed as COVAREP places them.

    SRH runs on COVAREP's frames (:func:`srh_frames`); F0 and voicing are interpolated
    linearly to the descriptor frames, which fall half-way between two SRH frames: F0 is
    the mean of the two neighbours, and a frame is voiced when either neighbour is
    (interpolated voicing 0.5 counts as voiced, as COVAREP's ``VUV >= .5``). Descriptor
    frames outside the first / last SRH frame (the first and last ~50 ms) are unvoiced.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)], 16 kHz, polarity irrelevant
    times : np.ndarray [shape=(m,)] descriptor frame centres in s (0.005 + 0.01 k)
    sr : sample rate in Hz
    f0min, f0max : search range in Hz
    res : np.ndarray [shape=(n,)], optional
        LP residual of ``x`` of order ``SRH_LPC_ORDER`` (any sign) when already computed

    Returns
    -------
    f0 : np.ndarray [shape=(m,)] Hz, given on every frame (nearest SRH frame's value at
        the ends; 100 Hz when the signal is shorter than one SRH frame)
    vuv : np.ndarray [shape=(m,), float] 1 voiced, 0 unvoiced
    srh : np.ndarray [shape=(m,)] SRH criterion value (interpolated as F0)
    """
    if res is None:
        res = lpc_residual(x, order=srh_lpc_order(sr))
    centres, f0, val, v_srh = srh_frames(res, sr=sr, f0min=f0min, f0max=f0max)
    if len(centres) == 0:
        z = np.zeros(len(times))
        return np.full(len(times), 100.0), z, z
    f0_t, inside = to_descriptor_frames(centres, f0, times, sr=sr)
    v_t, _ = to_descriptor_frames(centres, v_srh, times, sr=sr)
    vuv = np.where(inside & (v_t >= 0.5), 1.0, 0.0)
    return f0_t, vuv, to_descriptor_frames(centres, val, times, sr=sr)[0]
