"""Formants F1-F5 by LPC root solving, and the peak-to-RMS ratio.

Formants (Schafer & Rabiner 1970 style, Praat-like settings): the signal is resampled to
11 kHz (five formants below 5.5 kHz), pre-emphasised from 50 Hz, cut into 20 ms Hamming
frames every 10 ms, and modelled by order-10 autocorrelation LPC; the roots of each
predictor (eigenvalues of the companion matrices, batched) with 90 Hz < F < 5.45 kHz and
bandwidth < 1 kHz give F1..F5 in increasing order, NaN where fewer exist. Computed on
voiced frames only (NaN elsewhere).

Peak-to-RMS: ``max |x| / rms(x)`` (linear crest factor) in 20 ms frames every 10 ms.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from vocalmind.features.clinical.dsp import FS, frames_at, lpc

FORMANT_SR = 11_000
N_FORMANTS = 5
LPC_ORDER = 10


def formants(x: np.ndarray, times: np.ndarray, voiced: np.ndarray, *, sr: int = FS
             ) -> np.ndarray:
    """F1..F5 (Hz) at each frame.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)] speech
    times : np.ndarray [shape=(m,)] frame centres (s)
    voiced : np.ndarray [shape=(m,), bool] frames to analyse
    sr : sample rate of ``x`` in Hz

    Returns
    -------
    np.ndarray [shape=(m, 5)], NaN on unvoiced frames or missing formants
    """
    out = np.full((len(times), N_FORMANTS), np.nan)
    if not voiced.any():
        return out
    # a polyphase FIR (each output a fixed dot product): a window of the recording gives
    # the same samples as the whole recording, which soxr's block processing does not
    g = np.gcd(int(sr), FORMANT_SR)
    y = signal.resample_poly(x.astype(np.float64), FORMANT_SR // g, int(sr) // g)
    y = np.concatenate([y[:1], y[1:] - np.exp(-2 * np.pi * 50 / FORMANT_SR) * y[:-1]])
    half = round(0.01 * FORMANT_SR)
    centres = np.round(times[voiced] * FORMANT_SR).astype(np.int64)
    fr = frames_at(y, centres, half) * np.hamming(2 * half)
    a = lpc(fr, LPC_ORDER)
    p = LPC_ORDER
    comp = np.zeros((len(a), p, p))
    comp[:, 0, :] = -a[:, 1:]
    comp[:, np.arange(1, p), np.arange(p - 1)] = 1.0
    roots = np.linalg.eigvals(comp)
    freq = np.angle(roots) * FORMANT_SR / (2 * np.pi)
    bw = -np.log(np.maximum(np.abs(roots), 1e-12)) * FORMANT_SR / np.pi
    ok = (roots.imag > 0) & (freq > 90) & (freq < FORMANT_SR / 2 - 50) & (bw < 1000)
    freq = np.where(ok, freq, np.inf)
    freq.sort(axis=1)
    f = freq[:, :N_FORMANTS]
    f[~np.isfinite(f)] = np.nan
    out[voiced] = f
    return out


def peak_to_rms(x: np.ndarray, times: np.ndarray, *, sr: int = FS) -> np.ndarray:
    """Peak-to-RMS ratio of 20 ms frames.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
    times : np.ndarray [shape=(m,)] frame centres (s)
    sr : sample rate in Hz

    Returns
    -------
    np.ndarray [shape=(m,)], NaN on digitally silent frames
    """
    half = round(0.01 * sr)
    fr = frames_at(x.astype(np.float64), np.round(times * sr).astype(np.int64), half)
    rms = np.sqrt(np.mean(fr * fr, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.max(np.abs(fr), axis=1) / rms
    r[rms <= 1e-10] = np.nan
    return r
