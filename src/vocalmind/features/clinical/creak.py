"""Creaky-voice detection (simplified, rule-based Kane-Drugman creak detector).

COVAREP's ``detect_creaky_voice`` (Kane, Drugman & Gobl 2013) feeds H2-H1 of a resonator
output, residual peak prominence and Ishi's power-peak / periodicity features to a trained
neural network and outputs a creak posterior every 10 ms. That network's weights exist in
COVAREP (``system_net_creak.mat`` and its ``maxis`` / ``minis`` normalisation files, 36
inputs: the KD and Ishi features with deltas) but under GPL-3 (COVAREP's GLOAT licence), so
they cannot be shipped in this MIT package, and its 36-feature front end is not
re-implemented. This module keeps the same acoustic cues and combines them by fixed rules
into a creak score in [0, 1] every 10 ms:

* strong, isolated LP-residual peaks (peaks above 35 % of the largest residual peak within
  +-25 ms, at least 2.5 ms apart) and their *prominence* (largest residual peak over
  residual RMS in a 60 ms window; creak pulses are sparse and sharp);
* the inter-pulse interval in that window: creak has very long periods (> ``VERY_LONG_MS``
  = 18 ms, F0 below ~55 Hz), or long (> ``LONG_MS`` = 12 ms, F0 below ~83 Hz) and
  irregular ones (mean absolute difference of consecutive intervals > ``IRREGULAR`` = 20 %
  of their mean);
* an energy gate (frame RMS within 40 dB of the loud frames).

``creak = gate * P(prominent) * max(P(very long), P(long) * P(irregular))``; a frame is
called creaky when ``creak > THRESHOLD`` (0.5). Tuned on synthetic voices (tests): modal
70, 80 and 90 Hz Rosenberg voices with 0.5 % jitter score < 0.5 on >= 98 % of frames, creaky
40-70 Hz irregular damped pulse trains > 0.5 on ~65 % of frames. A regular creak above
55 Hz (no irregularity) is missed, which the trained detector would catch.

Agreement with COVAREP's detector (7 reference recordings, ``bench/bench_covarep_parity.py``)
is nil: frame-level r -0.006, kappa 0.006 (creak > 0.3). This is the one descriptor of the
COVAREP block that does not follow COVAREP; its values must not be reported as COVAREP's
creak. The energy-gate level (95th percentile of the frame RMS) is a property of the whole
recording (:func:`loudness_reference`), so that windows of a long recording share it.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d

from vocalmind.features.clinical.dsp import FS, frames_at

#: period (ms) above which pulses count as long (F0 below ~83 Hz)
LONG_MS = 12.0
#: period (ms) above which pulses alone suggest creak (F0 below ~55 Hz)
VERY_LONG_MS = 18.0
#: relative mean absolute difference of consecutive periods that counts as irregular
IRREGULAR = 0.2
#: score above which a frame is called creaky
THRESHOLD = 0.5


def _sig(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(v, -60, 60)))


def frame_rms(x: np.ndarray, times: np.ndarray, *, sr: int = FS) -> np.ndarray:
    """RMS of ``x`` over +-30 ms around each frame time (zero outside the signal).

    Summed frame by frame (not by differences of one cumulative sum, whose rounding grows
    with the recording's length).
    """
    half = round(0.03 * sr)
    c = np.round(times * sr).astype(np.int64)
    out = np.empty(len(c))
    x64 = np.asarray(x, dtype=np.float64)
    for s in range(0, len(c), 4096):
        fr = frames_at(x64, c[s : s + 4096], half)
        lo = np.clip(c[s : s + 4096] - half, 0, len(x))
        hi = np.clip(c[s : s + 4096] + half, 0, len(x))
        out[s : s + 4096] = np.sqrt(np.einsum("ij,ij->i", fr, fr) / np.maximum(hi - lo, 1))
    return out


def loudness_reference(rms: np.ndarray) -> float:
    """The 95th percentile of the frame RMS values: the creak gate's reference level."""
    return float(np.percentile(rms, 95)) if len(rms) else 0.0


def creak_score(x: np.ndarray, res: np.ndarray, times: np.ndarray, *, sr: int = FS,
                loud: float | None = None) -> np.ndarray:
    """Creak score per frame.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)] speech
    res : np.ndarray [shape=(n,)] LP residual of ``x``
    times : np.ndarray [shape=(m,)] frame centres (s)
    sr : sample rate in Hz
    loud : reference level of the energy gate (:func:`loudness_reference` of the whole
        recording's :func:`frame_rms`); computed from ``x`` when None

    Returns
    -------
    np.ndarray [shape=(m,)] in [0, 1]
    """
    n = len(x)
    a = np.abs(res)
    near = maximum_filter1d(a, size=2 * round(0.00125 * sr) + 1, mode="constant")
    wide = maximum_filter1d(a, size=2 * round(0.025 * sr) + 1, mode="constant")
    peaks = np.flatnonzero((a == near) & (a > 0.35 * wide) & (a > 0))
    # keep one sample per flat top and enforce a 2.5 ms refractory distance
    if len(peaks):
        keep = np.concatenate([[True], np.diff(peaks) > round(0.0025 * sr)])
        peaks = peaks[keep]
    half = round(0.03 * sr)
    c = np.round(times * sr).astype(np.int64)
    lo = np.searchsorted(peaks, c - half)
    hi = np.searchsorted(peaks, c + half)
    cnt = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        last = peaks[np.clip(hi - 1, 0, max(len(peaks) - 1, 0))] if len(peaks) else c
        first = peaks[np.clip(lo, 0, max(len(peaks) - 1, 0))] if len(peaks) else c
        mean_iv = np.where(cnt >= 2, (last - first) / np.maximum(cnt - 1, 1), np.nan) / sr
        d = np.diff(peaks).astype(float)
        dd = np.abs(np.diff(d))
        cs = np.concatenate([[0.0], np.cumsum(dd)])
        # |D[j+1] - D[j]| for pairs of intervals inside the window: j = lo .. hi - 3
        n_dd = np.maximum(cnt - 2, 0)
        j0 = np.clip(lo, 0, len(cs) - 1)
        j1 = np.clip(lo + n_dd, 0, len(cs) - 1)
        jit = np.where(n_dd >= 1, (cs[j1] - cs[j0]) / np.maximum(n_dd, 1), np.nan)
        jit_rel = jit / (mean_iv * sr)
    # prominence: largest residual peak over residual RMS in the window
    rms_r = frame_rms(res, times, sr=sr)
    wmax = maximum_filter1d(a, size=2 * half + 1, mode="constant")[np.clip(c, 0, n - 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        prom = wmax / rms_r
    rms_x = frame_rms(x, times, sr=sr)
    if loud is None:
        loud = loudness_reference(rms_x)
    gate = (rms_x > 0.01 * loud) & (rms_x > 1e-5)
    p_prom = _sig((np.nan_to_num(prom, nan=0.0, posinf=100.0) - 3.0) / 0.4)
    iv_ms = np.nan_to_num(mean_iv * 1000.0)
    p_long = _sig((iv_ms - LONG_MS) / 0.6)  # F0 below ~83 Hz
    p_very_long = _sig((iv_ms - VERY_LONG_MS) / 0.8)  # F0 below ~55 Hz
    p_irr = _sig((np.nan_to_num(jit_rel) - IRREGULAR) / 0.03)
    # creak = prominent pulses that are either very sparse, or long AND irregular: a
    # regular low modal voice (70-90 Hz, jitter ~1 %) is long but neither very long nor
    # irregular, so it scores low
    score = gate * p_prom * np.maximum(p_very_long, p_long * p_irr)
    return np.where(cnt >= 2, score, 0.0)
