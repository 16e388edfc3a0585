"""Glottal source descriptors: GCIs, IAIF flow, NAQ, QOQ, PSP, H1-H2, MDQ, peakSlope, Rd.

Methods (all vectorised over GCIs or frames; no per-sample Python loop):

* GCIs by SEDREAMS (Drugman et al. 2012), as COVAREP ``gci_sedreams``: mean-based signal
  (Blackman of 1.7 mean periods, 30/50 Hz elliptic high-pass), GCI intervals from its
  minima, GCI = residual maximum in each interval. GCIs are kept where the SRH voicing,
  interpolated to every sample, is >= 0.5 (COVAREP's ``VUV_int``). The steps are split
  (:func:`sedreams_intervals`, :func:`sedreams_ratios`, :func:`sedreams_select`) so that a
  long recording can be processed in windows with the median ratio of the whole.
* Glottal flow by pitch-synchronous IAIF (Alku 1992), as COVAREP ``iaif_gci``: Hann frames
  of +- one period around every GCI, each high-passed by the 40/70 Hz linear-phase FIR,
  pre-frame ramp, p_vt = 20, p_gl = 8, leaky integration d = 0.99, overlap-add. Difference:
  the period is capped at 50 ms (COVAREP's first GCI after a pause gets a frame twice the
  pause long).
* NAQ (Alku 2002), QOQ (50 % quasi-open quotient) and PSP (Alku 1997) per glottal cycle,
  as COVAREP ``get_vq_params`` (drift-compensated pulse, the same iterative parabola fit for
  PSP, solved here with cumulative sums for all fit lengths at once), including its quirk
  at the first GCI (:func:`first_cycle_params`).
* H1-H2 and HRF (dB) per GCI as ``get_vq_params`` (:func:`vq_harmonics`): 3-period Hamming
  window of the flow derivative around the GCI, harmonic amplitudes from VOICEBOX
  ``findpeaks`` peaks (width F0 / 2) nearest to ``h F0``.
* All per-GCI values reach the 10 ms frames as in COVAREP: unmeasurable cycles count as 0,
  linear interpolation through every GCI (``descriptors._gci_to_frames``).
* MDQ (Kane & Gobl 2013) and peakSlope (Kane & Gobl 2011) with the d'Alessandro wavelet
  bands, as COVAREP ``mdq`` / ``peakslope``.
* Rd and Rd_conf: see :mod:`.rd` (COVAREP's MSP method on the sinusoidal frames).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from scipy import signal

from vocalmind.features.clinical.dsp import (
    FS,
    anchored_convolve,
    hann_matlab,
    length_groups,
    local_extrema,
    matlab_round,
    wavelet_bands,
)

P_VT = 2 * round(FS / 2000) + 4
P_GL = 2 * round(FS / 4000)
LEAK = 0.99
#: frames transformed together by IAIF's high-pass and H1-H2's DFTs (512 or 256 at a
#: time: ~10 % more CPU for either)
_FFT_ROWS = 64


# ----------------------------------------------------------------------------- GCIs
def sedreams_intervals(x: np.ndarray, f0_mean: float, *, sr: int = FS,
                       at_start: bool = True, at_end: bool = True, origin: int = 0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """SEDREAMS' mean-based signal minima and the distance to the next maximum.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)] speech (or a segment of it) with the usual polarity
    f0_mean : mean F0 of the speaker (Hz)
    sr : sample rate in Hz
    at_start, at_end : whether the segment begins / ends the recording (the mean-based
        signal is zeroed within half a window of the recording's ends)
    origin : position of ``x[0]`` in the recording (the mean's FFT blocks are anchored to
        the recording, :func:`~vocalmind.features.clinical.dsp.anchored_convolve`)

    Returns
    -------
    minis : np.ndarray [shape=(c,), int] minima (samples in ``x``), each followed by a
        maximum
    interv : np.ndarray [shape=(c,)] samples from each minimum to that maximum
    """
    t0 = round(sr / f0_mean)
    half_l = round(1.7 * t0 / 2)
    win = np.blackman(2 * half_l + 1)
    # blocks anchored to the recording: a window's mean-based signal is the whole
    # recording's bit for bit before the high-pass (whose edge transient the margins hold)
    mbs = anchored_convolve(np.asarray(x, dtype=np.float64), win / len(win), origin=origin)
    if at_start:
        mbs[:half_l] = 0.0
    if at_end:
        mbs[-half_l:] = 0.0
    mbs = signal.sosfiltfilt(_sedreams_hp(sr), mbs)
    # COVAREP scales the signal by its maximum: the extrema do not depend on it
    maxis, minis = local_extrema(mbs)
    e = np.zeros(0, dtype=np.int64)
    if len(maxis) < 2 or len(minis) < 2:
        return e, e.astype(float)
    maxis = maxis[maxis > minis[0]]
    minis = minis[minis < maxis[-1]] if len(maxis) else minis[:0]
    # pair each minimum with the first maximum after it (the two alternate)
    j = np.searchsorted(maxis, minis)
    ok = j < len(maxis)
    minis, maxis = minis[ok], maxis[j[ok]]
    return minis, (maxis - minis).astype(float)


def sedreams_ratios(res: np.ndarray, minis: np.ndarray, interv: np.ndarray,
                    threshold: float, interior: slice) -> np.ndarray:
    """Relative positions of the strong residual peaks between minima and maxima.

    For every residual sample above ``threshold`` (0.4 x the recording's largest |res|)
    inside ``interior``: its distance to the nearest minimum over that minimum's interval.
    Their median places the GCI search window (:func:`sedreams_select`).
    """
    if len(minis) == 0:
        return np.zeros(0)
    posis = np.flatnonzero(res[interior] > threshold) + (interior.start or 0)
    if len(posis) == 0:
        return np.zeros(0)
    k = np.searchsorted(minis, posis)
    k0 = np.clip(k - 1, 0, len(minis) - 1)
    k1 = np.clip(k, 0, len(minis) - 1)
    near = np.where(np.abs(minis[k0] - posis) <= np.abs(minis[k1] - posis), k0, k1)
    return (posis - minis[near]) / interv[near]


def sedreams_select(res: np.ndarray, minis: np.ndarray, interv: np.ndarray,
                    ratio: float) -> np.ndarray:
    """GCIs: the residual maximum in ``minis + (ratio -+ 0.35) interv`` (sorted, unique)."""
    if len(minis) == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.clip(minis + np.round((ratio - 0.35) * interv).astype(int), 0, len(res) - 1)
    stop = np.clip(minis + np.round((ratio + 0.35) * interv).astype(int), 0, len(res) - 1)
    width = int(np.max(stop - start)) + 1
    idx = start[:, None] + np.arange(width)[None, :]
    vals = np.where(idx <= stop[:, None], res[np.minimum(idx, len(res) - 1)], -np.inf)
    return np.unique(start + np.argmax(vals, axis=1))


def sedreams_gci(x: np.ndarray, res: np.ndarray, f0_mean: float, *, sr: int = FS
                 ) -> np.ndarray:
    """Glottal closure instants by SEDREAMS (whole recording).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)] speech with the usual polarity, 16 kHz
    res : np.ndarray [shape=(n,)] LP residual of ``x`` (order fs/1000 + 2); closures are
        its positive peaks (usual polarity)
    f0_mean : mean F0 of the speaker (Hz)
    sr : sample rate in Hz

    Returns
    -------
    np.ndarray [shape=(g,), int] GCI sample indices, increasing (also in unvoiced parts)
    """
    minis, interv = sedreams_intervals(x, f0_mean, sr=sr)
    r = sedreams_ratios(res, minis, interv, 0.4 * max(np.max(np.abs(res)), 1e-20),
                        slice(0, len(res)))
    ratio = float(np.median(r)) if len(r) else 0.0
    return sedreams_select(res, minis, interv, ratio)


@lru_cache(maxsize=4)
def _sedreams_hp(sr: int) -> np.ndarray:
    """SEDREAMS' elliptic high-pass (30 Hz stop, 50 Hz pass, 3 / 60 dB), second-order sections."""
    n_ord, wp = signal.ellipord(50 / (sr / 2), 30 / (sr / 2), 3, 60)
    return signal.ellip(n_ord, 3, 60, wp, "high", output="sos")


def _periods(gci: np.ndarray, *, sr: int) -> np.ndarray:
    """Local period (samples) at each GCI: previous interval, else next, within 2-20 ms."""
    d = np.diff(gci).astype(float)
    prev = np.concatenate([[np.nan], d])
    nxt = np.concatenate([d, [np.nan]])
    ok = lambda v: (v >= 0.002 * sr) & (v <= 0.02 * sr)  # noqa: E731
    return np.where(ok(prev), prev, np.where(ok(nxt), nxt, np.nan))


# ----------------------------------------------------------------------------- IAIF
#: longest IAIF frame half-length (s): COVAREP uses the distance to the previous GCI
#: whatever it is (up to a whole pause); frames are capped at a 20 Hz period here
IAIF_MAX_T0_S = 0.05


def iaif_gci(x: np.ndarray, gci: np.ndarray, *, sr: int = FS, at_start: bool = True
             ) -> tuple[np.ndarray, np.ndarray]:
    """Glottal flow and its derivative by GCI-synchronous IAIF with overlap-add.

    As COVAREP ``iaif_gci``: around each GCI a frame of +- T0 (the distance to the previous
    GCI; the first GCI: to the next), Hann-windowed, high-passed by the 40/70 Hz linear-phase
    FIR (delay compensated, output truncated to the frame), then IAIF (Alku 1992) with a
    pre-frame ramp of ``p_vt + 1`` samples, and overlap-add of the frames' flow and flow
    derivative. Difference: T0 is capped at ``IAIF_MAX_T0_S`` (COVAREP's first GCI after a
    pause gets a frame as long as twice the pause).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)] speech (usual polarity), 16 kHz
    gci : np.ndarray [shape=(g,), int] GCIs in voiced regions
    sr : sample rate in Hz
    at_start : whether ``x`` starts the recording (a segment's first GCI has its previous
        GCI before the segment, farther than the cap)

    Returns
    -------
    g, dg : np.ndarray [shape=(n,)] flow and flow derivative (zero away from GCIs)
    """
    from vocalmind.features.clinical.kernels import iaif_frames  # numba: on first use

    n = len(x)
    g_out = np.zeros(n)
    dg_out = np.zeros(n)
    if len(gci) == 0:
        return g_out, dg_out
    cap = int(round(IAIF_MAX_T0_S * sr))
    t0 = np.empty(len(gci), dtype=np.int64)
    t0[1:] = np.diff(gci)
    t0[0] = gci[1] - gci[0] if (at_start and len(gci) > 1) else cap
    t0 = np.minimum(t0, cap)
    start = np.maximum(gci - t0, 0)
    stop = np.minimum(gci + t0, n - 1)
    lens = stop - start + 1
    ok = lens > P_VT  # COVAREP skips frames not longer than the vocal-tract order
    start, stop, lens = start[ok], stop[ok], lens[ok]
    if len(lens) == 0:
        return g_out, dg_out
    B = _hp_fir(sr)
    delay = int(np.floor(len(B) / 2 + 0.5)) - 1  # MATLAB: y(round(length(B)/2):end)
    ramp = np.linspace(-1.0, 1.0, P_VT + 1)
    flats, gs, dgs = [], [], []
    # each frame's DFT length is its own (not its group's), so that its flow does not
    # depend on which other GCIs are analysed with it (a window of a long recording or the
    # whole: IAIF's LPC amplifies the rounding of a different DFT length); within a DFT
    # length, frames grouped by length, so padding stays small
    nfft_own = (2 ** np.ceil(np.log2(lens + len(B)))).astype(np.int64)
    for sel in length_groups(lens, max_rows=512, ratio=2.0, by=nfft_own):
        width = int(lens[sel].max())
        idx = start[sel, None] + np.arange(width)[None, :]
        inside = idx <= stop[sel, None]
        hw = hann_matlab(lens[sel], width)
        xw = np.where(inside, x[np.minimum(idx, n - 1)], 0.0) * hw
        # the high-pass of the windowed frame (COVAREP filters each frame)
        nfft = int(nfft_own[sel[0]])
        hp = _hp_fir_spectrum(sr, nfft)[None, :]
        xf = np.empty_like(xw)
        for r in range(0, len(xw), _FFT_ROWS):  # rows at a time: DFT buffers stay in cache
            rows = slice(r, r + _FFT_ROWS)
            xf[rows] = sfft.irfft(sfft.rfft(xw[rows], nfft, axis=1) * hp, nfft,
                                  axis=1)[:, delay : delay + width]
        xf = np.where(inside, xf, 0.0)
        # IAIF, Alku 1992: two rounds of glottal / vocal-tract modelling, each frame with a
        # pre-frame ramp from -x[0] to x[0] (filters run over it, outputs start after it)
        g, dg = np.zeros(xf.shape), np.zeros(xf.shape)
        iaif_frames(xf, hw, lens[sel], ramp, P_VT, P_GL, LEAK, g, dg)
        flats.append(idx[inside])
        gs.append(g[inside])
        dgs.append(dg[inside])
    # overlap-add of all frames at once
    flat = np.concatenate(flats)
    g_out = np.bincount(flat, weights=np.concatenate(gs), minlength=n)
    dg_out = np.bincount(flat, weights=np.concatenate(dgs), minlength=n)
    return g_out, dg_out


@lru_cache(maxsize=8)
def _hp_fir_spectrum(sr: int, nfft: int) -> np.ndarray:
    h = sfft.rfft(_hp_fir(sr), nfft)
    h.flags.writeable = False
    return h


@lru_cache(maxsize=4)
def _hp_fir(sr: int) -> np.ndarray:
    """IAIF's linear-phase 40/70 Hz least-squares high-pass (order 300 at 16 kHz)."""
    nfir = round(300 / 16000 * sr)
    nfir += nfir % 2
    return signal.firls(nfir + 1, [0, 40, 70, sr / 2], [0, 0, 1, 1], fs=sr)


# ----------------------------------------------------------------------------- per cycle
def _psp_a(X: np.ndarray, ne_min: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Alku 1997 parabola coefficient ``a`` of each row of dB spectra, as COVAREP's
    ``psp_get_a``: the fit grows from 3 bins while its normalised error stays below
    ``ne_min``; ``a`` is that of the first fit at or above it.

    Parameters
    ----------
    X : np.ndarray [shape=(m, K)] dB spectra, bins 0..K-1
    ne_min : error threshold

    Returns
    -------
    a : np.ndarray [shape=(m,)] (the fit over all K bins where it never stops)
    open : np.ndarray [shape=(m,), bool] rows whose fit did not stop within the K bins
    """
    k2 = np.arange(X.shape[1], dtype=float) ** 2
    N = np.arange(1, X.shape[1] + 1, dtype=float)
    s_k2 = np.cumsum(k2)
    s_k4 = np.cumsum(k2 * k2)
    s_x = np.cumsum(X, axis=1)
    s_xk2 = np.cumsum(X * k2, axis=1)
    s_x2 = np.cumsum(X * X, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (N * s_xk2 - s_x * s_k2) / (N * s_k4 - s_k2**2)
        b = (s_x - a * s_k2) / N
        sse = s_x2 - 2 * a * s_xk2 - 2 * b * s_x + a * a * s_k4 + 2 * a * b * s_k2 + N * b * b
        ne = sse / s_x2
    ne[:, :2] = 0.0  # the fit starts with three points
    stop = ne >= ne_min
    stops = stop.any(axis=1)
    first = np.where(stops, np.argmax(stop, axis=1), X.shape[1] - 1)
    return a[np.arange(len(a)), first], ~stops


_PSP_NFFT = 2048
#: the bins up to Nyquist that COVAREP keeps (``linspace(1, fs, 2048) <= fs / 2``)
_PSP_HALF = 1024
#: bins computed directly for every cycle; the few fits that run past them (a sixth of
#: the cycles on EMO-DB) get the whole 2048-point spectrum
_PSP_BINS = 96


@lru_cache(maxsize=1024)
def _psp_a_max(t0: int) -> float:
    box = np.zeros(_PSP_NFFT)
    box[:t0] = 1.0 / t0
    X = 20 * np.log10(np.abs(sfft.fft(box))[:_PSP_HALF] + 1e-300)
    return float(_psp_a(X[None, :])[0][0])


@lru_cache(maxsize=4)
def _psp_dft_basis(width: int) -> tuple[np.ndarray, np.ndarray]:
    """cos / sin of the first ``_PSP_BINS`` bins of a 2048-point DFT, ``(width, bins)``."""
    ph = 2.0 * np.pi * np.outer(np.arange(width), np.arange(_PSP_BINS)) / _PSP_NFFT
    return np.cos(ph), np.sin(ph)


def _cycle_chunk(g: np.ndarray, dg: np.ndarray, start: np.ndarray, stop: np.ndarray,
                 *, sr: int, psp: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NAQ, QOQ, PSP of cycles ``start[i] .. stop[i]`` (all of similar length); PSP is NaN
    unless ``psp`` (its DFT basis grows with the longest cycle)."""
    n = len(g)
    t0 = (stop - start).astype(float)
    lens = stop - start + 1
    width = int(lens.max())
    col = np.arange(width)[None, :]
    idx = np.minimum(start[:, None] + col, n - 1)
    inside = col < lens[:, None]
    seg = g[idx]
    # drift compensation: subtract the line joining the cycle's end points
    frac = col / np.maximum(lens[:, None] - 1, 1)
    line = g[start][:, None] + frac * (g[stop] - g[start])[:, None]
    comp = np.where(inside, seg - line, -np.inf)
    imax = np.argmax(comp, axis=1)
    f_ac = comp[np.arange(len(imax)), imax]
    glot_shift = round(0.5e-3 * sr)
    stop2 = np.where(stop + glot_shift <= n - 1, stop + glot_shift, stop)
    width2 = int((stop2 - start).max()) + 1
    col2 = np.arange(width2)[None, :]
    idx2 = np.minimum(start[:, None] + col2, n - 1)
    d_peak = np.max(np.where(col2 <= (stop2 - start)[:, None], np.abs(dg[idx2]), 0.0), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        naq = (f_ac / d_peak) / t0
    # quasi-open phase: contiguous region around the maximum above 50 % of it
    below = ~(comp > 0.5 * f_ac[:, None])
    left = np.where(below & (col <= imax[:, None]) & (col >= 2), col, -1).max(axis=1)
    t1 = np.where(left < 0, 2, left)
    right_c = np.where(below & (col >= imax[:, None]) & (col <= (lens[:, None] - 3)), col,
                       width + 10)
    t2 = right_c.min(axis=1)
    t2 = np.where(t2 > width, lens - 3, t2)
    qoq = (t2 - t1) / t0
    if not psp:
        return naq, qoq, np.full(len(t0), np.nan)
    # PSP: normalised pulse, 2048-point spectrum, parabola fit against the box pulse; only
    # 96 bins are used, so they are computed directly (one matrix product, no FFT)
    lo = np.min(np.where(inside, seg, np.inf), axis=1, keepdims=True)
    pulse = np.where(inside, seg - lo, 0.0)
    pulse /= np.maximum(pulse.max(axis=1, keepdims=True), 1e-20)
    c, s = _psp_dft_basis(801)  # longest cycle: 20 Hz at 16 kHz
    if width > c.shape[0]:
        c, s = _psp_dft_basis(width)
    re, im = pulse @ c[:width], pulse @ s[:width]
    X = 20 * np.log10(np.sqrt(re * re + im * im) + 1e-300)
    a, more = _psp_a(X)
    if more.any():  # COVAREP's fit goes on, up to Nyquist
        X_all = 20 * np.log10(np.abs(sfft.rfft(pulse[more], _PSP_NFFT, axis=1)[:, :_PSP_HALF])
                              + 1e-300)
        a[more] = _psp_a(X_all)[0]
    # a_max depends only on the period: cached per integer period
    periods, inv = np.unique(t0.astype(int), return_inverse=True)
    a_max = np.array([_psp_a_max(int(p)) for p in periods])[inv]
    with np.errstate(divide="ignore", invalid="ignore"):
        psp = a / a_max
    return naq, qoq, psp


def cycle_params(g: np.ndarray, dg: np.ndarray, gci: np.ndarray, *, sr: int = FS
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NAQ, QOQ and PSP of each glottal cycle ending at a GCI.

    Parameters
    ----------
    g, dg : np.ndarray [shape=(n,)] IAIF flow and derivative
    gci : np.ndarray [shape=(c,), int] GCIs
    sr : sample rate in Hz

    Returns
    -------
    t : np.ndarray [shape=(c - 1,)] cycle-end times (s)
    naq, qoq, psp : np.ndarray [shape=(c - 1,)], NaN where the cycle is not 20-500 Hz
    """
    if len(gci) < 2:
        e = np.zeros(0)
        return e, e, e, e
    start, stop = gci[:-1], gci[1:]
    t0 = (stop - start).astype(float)
    valid = np.flatnonzero((sr / t0 > 20) & (sr / t0 < 500))
    t_out = gci[1:] / sr
    naq = np.full(len(gci) - 1, np.nan)
    qoq = naq.copy()
    psp = naq.copy()
    # cycles sorted by length and processed in chunks, so the padding to the longest
    # cycle (often a 20-50 ms jump over an unvoiced gap) stays small
    for grp in length_groups(t0[valid], ratio=2.0):
        sel = valid[grp]
        naq[sel], qoq[sel], psp[sel] = _cycle_chunk(g, dg, start[sel], stop[sel], sr=sr)
    return t_out, naq, qoq, psp


def vq_harmonics(dg: np.ndarray, gci: np.ndarray, *, sr: int = FS,
                 f_max: float = 5000.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H1-H2 and HRF at each GCI, as COVAREP ``get_vq_params``.

    At GCI ``n`` with local period ``T0`` (to the previous GCI; the first GCI uses the
    next one) and ``20 < fs / T0 < 500`` Hz: the flow derivative over ``GCI +- round(1.5
    T0)``, scaled by 2^15, MATLAB ``hamming`` window, spectrum in dB; the spectral peaks
    (VOICEBOX ``findpeaks`` with width ``F0 / 2``: of two peaks closer than that, the
    lower goes), and harmonic ``h``'s amplitude ``A_h`` is the peak nearest to ``h F0``;
    ``H1H2 = A_1 - A_2``, ``HRF = sum_{h=2..H} A_h / A_1`` with ``H = floor(5000 / F0)``
    (dB values, as COVAREP); 0 when the spectrum has fewer than 5 peaks. Difference:
    COVAREP takes an fs-point DFT (1 Hz bins); here a 2048-point DFT (4096 for windows
    longer than 2048) with each peak's position and value interpolated by a parabola
    through its bin and the two neighbours, peaks searched up to ``f_max + 2 F0``. The DFT
    length and that band are each frame's own, so that a value does not depend on which
    other GCIs are analysed with it.

    Parameters
    ----------
    dg : np.ndarray [shape=(n,)] IAIF flow derivative
    gci : np.ndarray [shape=(c,), int] GCIs (voiced regions)
    sr : sample rate in Hz
    f_max : highest harmonic frequency for HRF (Hz)

    Returns
    -------
    t : np.ndarray [shape=(c,)] GCI times (s)
    h1h2, hrf : np.ndarray [shape=(c,)], NaN where the period is outside 20-500 Hz
    """
    from vocalmind.features.clinical.kernels import vq_peaks  # numba: on first use

    c = len(gci)
    h1h2 = np.full(c, np.nan)
    hrf = np.full(c, np.nan)
    if c < 2:
        return gci / sr, h1h2, hrf
    t0 = np.diff(gci).astype(float)
    t0 = np.concatenate([t0[:1], t0])
    f0 = sr / t0
    valid = np.flatnonzero((f0 > 20) & (f0 < 500))
    n = len(dg)
    dg32 = dg.astype(np.float32) * np.float32(2.0**15)
    half = matlab_round(1.5 * t0).astype(np.int64)
    lens_all = np.minimum(gci + half, n - 1) - np.maximum(gci - half, 0) + 1
    # each frame's DFT length and peak band are its own (not its group's), so that a value
    # does not depend on which other GCIs are analysed with it (a window of a long
    # recording or the whole)
    long = lens_all[valid] > 2048
    for grp in length_groups(half[valid], max_rows=256, ratio=1.5, by=long):
        sel = valid[grp]
        lo = np.maximum(gci[sel] - half[sel], 0)
        hi = np.minimum(gci[sel] + half[sel], n - 1)
        lens = hi - lo + 1
        width = int(lens.max())
        nfft = 2048 if width <= 2048 else 4096
        col = np.arange(width)[None, :]
        inside = col < lens[:, None]
        frames = np.where(inside, dg32[np.minimum(lo[:, None] + col, n - 1)], 0.0)
        # MATLAB hamming(L) per row, computed once per distinct length
        uniq, which = np.unique(lens, return_inverse=True)
        L = uniq[:, None].astype(np.float32)
        win = np.where(col < L, 0.54 - 0.46 * np.cos(2 * np.pi * col / np.maximum(L - 1, 1)),
                       0.0)[which]
        df = sr / nfft
        ff = f0[sel]
        n_h = np.maximum(np.floor(f_max / ff).astype(np.int64), 2)
        # peaks up to a harmonic spacing beyond the highest harmonic used (per frame)
        nb_row = np.minimum(np.ceil((f_max + 2 * ff) / df).astype(np.int64) + 2,
                            nfft // 2 + 1)
        nb = int(nb_row.max())
        xw = frames * win
        mag = np.empty((len(sel), nb))
        for r in range(0, len(sel), _FFT_ROWS):  # rows at a time: DFT buffers stay in cache
            mag[r : r + _FFT_ROWS] = np.abs(sfft.rfft(xw[r : r + _FFT_ROWS], nfft, axis=1)[:, :nb])
        db = 20 * np.log10(np.maximum(mag, 1e-12)).astype(np.float64, copy=False)
        H = int(n_h.max())
        amp, counts = np.empty((len(sel), H)), np.empty(len(sel), dtype=np.int64)
        vq_peaks(db, nb_row, ff, df, H, amp, counts)
        # COVAREP needs 5 peaks over the whole fs-point spectrum (both halves)
        enough = 2 * counts >= 5
        used = np.arange(1, H + 1)[None, :] <= n_h[:, None]
        a1 = amp[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            h1h2[sel] = np.where(enough, a1 - amp[:, 1], 0.0)
            hrf[sel] = np.where(enough, np.sum(np.where(used, amp, 0.0)[:, 1:], axis=1) / a1,
                                0.0)
    return gci / sr, h1h2, hrf


def first_cycle_params(g: np.ndarray, dg: np.ndarray, gci: np.ndarray, *, sr: int = FS
                       ) -> tuple[float, float, float]:
    """NAQ, QOQ, PSP that COVAREP ``get_vq_params`` reports at the first GCI.

    COVAREP measures the first GCI's "cycle" from the first sample of the signal to that
    GCI, but normalises by the period to the next GCI, so its NAQ and QOQ can be far
    above their usual range (QOQ of 65 occurs); PSP is 0 there. The same quirk is kept
    so that the statistics follow COVAREP's.

    Parameters
    ----------
    g, dg : np.ndarray [shape=(n,)] IAIF flow and derivative
    gci : np.ndarray [shape=(c,), int] GCIs
    sr : sample rate in Hz

    Returns
    -------
    (naq, qoq, psp) : floats; 0 where COVAREP gives 0 (period outside 20-500 Hz)
    """
    if len(gci) < 2 or gci[0] < 2:
        return 0.0, 0.0, 0.0
    t0 = float(gci[1] - gci[0])
    if not 20 < sr / t0 < 500:
        return 0.0, 0.0, 0.0
    seg = float(gci[0])
    # from sample 0: a cycle that long has no PSP in COVAREP's report (0 above)
    naq, qoq, _ = _cycle_chunk(g, dg, np.array([0]), gci[:1], sr=sr, psp=False)
    return float(naq[0] * seg / t0), float(qoq[0] * seg / t0), 0.0


#: longest period (s) whose +-0.2 T0 MDQ searches: a GCI after a longer pause searches
#: +-0.2 of this (COVAREP: of the pause), so that the search and the wavelet-band blocks it
#: reads (<= 0.51 s) stay inside a window's margins (descriptors.MARGIN_S, 1.5 s)
MDQ_MAX_T0_S = 2.0


def mdq(res: np.ndarray, gci: np.ndarray, *, sr: int = FS, prev_gci: int | None = None,
        offset: int = 0, n_total: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Maxima Dispersion Quotient at each GCI (Kane & Gobl 2013), as COVAREP ``mdq``.

    The period at a GCI is the distance to the previous GCI (the first GCI: to the next),
    whatever its length; the wavelet-band maxima are searched within +-0.2 periods; GCIs
    closer than one period to the recording's ends get 0. Difference: the search is at most
    +-0.2 ``MDQ_MAX_T0_S`` (a GCI after a pause longer than that; COVAREP searches +-0.2 of
    the pause, seconds of silence), so that a window of a long recording gives the whole
    recording's value.

    Parameters
    ----------
    res : np.ndarray [shape=(n,)] LP residual (of the recording or of a segment of it)
    gci : np.ndarray [shape=(c,), int] GCIs in ``res``
    sr : sample rate in Hz
    prev_gci : the recording's GCI before ``gci[0]`` (in ``res``'s sample numbering, may be
        negative), when ``res`` is a segment
    offset : position of ``res``'s first sample in the recording
    n_total : the recording's length (default ``len(res)``)

    Returns
    -------
    t : np.ndarray [shape=(c,)] GCI times (s) in ``res``
    m : np.ndarray [shape=(c,)], NaN where the search window leaves ``res``
    """
    out = np.full(len(gci), np.nan)
    if len(gci) < 2 and prev_gci is None:
        return gci / sr, out
    prev = np.concatenate([[prev_gci if prev_gci is not None else -1], gci[:-1]])
    t0 = (gci - prev).astype(np.int64)
    if prev_gci is None:
        t0[0] = gci[1] - gci[0]
    n_tot = len(res) if n_total is None else n_total
    g_abs = gci + offset
    inside = (g_abs - t0 > 0) & (g_abs + t0 <= n_tot - 1)
    out[~inside] = 0.0
    search = np.round(0.2 * np.minimum(t0, round(MDQ_MAX_T0_S * sr))).astype(np.int64)
    ok = inside & (gci - search >= 0) & (gci + search < len(res))
    if not ok.any():
        return gci / sr, out
    # blocks anchored to the recording: a window's bands are the whole recording's
    bands = wavelet_bands(res, [2, 3, 4, 5, 6], sr=sr, origin=offset)
    sel_all = np.flatnonzero(ok)
    # windows grouped by length: a GCI after a long pause has a long search window
    for grp in length_groups(2 * search[sel_all] + 1, max_rows=1024, ratio=1.5):
        sel = sel_all[grp]
        g, srch = gci[sel], search[sel]
        width = 2 * int(srch.max()) + 1
        col = np.arange(width)[None, :]
        idx = np.clip(g[:, None] - srch[:, None] + col, 0, len(res) - 1)
        within = col <= 2 * srch[:, None]
        disp = np.zeros(len(g))
        for b in bands:
            v = np.where(within, b[idx], -np.inf)
            disp += np.abs(srch - np.argmax(v, axis=1))
        out[sel] = disp / len(bands) / t0[sel]
    return gci / sr, out


def peak_slope(x: np.ndarray, times: np.ndarray, *, sr: int = FS, origin: int = 0
               ) -> np.ndarray:
    """peakSlope (Kane & Gobl 2011): slope of log10 band maxima across 7 octave bands.

    40 ms frames centred on ``times``; bands 8 kHz ... 125 Hz ordered by frequency.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)] speech, 16 kHz
    times : np.ndarray [shape=(m,)] frame centres (s)
    sr : sample rate in Hz
    origin : position of ``x[0]`` in the recording, when ``x`` is a window of it

    Returns
    -------
    np.ndarray [shape=(m,)]
    """
    half = round(0.02 * sr)
    centres = np.round(times * sr).astype(np.int64)
    # running max via 10 ms block maxima, then the max over the blocks a frame covers;
    # one band at a time (no 7-band copies of a long signal)
    blk = round(0.005 * sr)
    n_blk = int(np.ceil((len(x) + 2 * half) / blk)) + 1
    padded = np.zeros(n_blk * blk)
    bmax = np.empty((7, n_blk))
    for i in range(7):
        band = wavelet_bands(x, [i], sr=sr, double=True, origin=origin)[0]
        np.abs(band, out=padded[half : half + len(x)])
        bmax[i] = padded.reshape(n_blk, blk).max(axis=1)
    first = centres // blk  # frame [c - half, c + half) covers blocks first..first+7
    nb = 2 * half // blk
    cols = np.clip(first[:, None] + np.arange(nb + 1)[None, :], 0, n_blk - 1)
    m = bmax[:, cols].max(axis=2)  # (7, frames)
    logm = np.log10(np.maximum(m[::-1], 1e-12))  # low -> high frequency
    t = np.arange(1, 8, dtype=float)
    tc = t - t.mean()
    return (tc @ (logm - logm.mean(axis=0))) / (tc @ tc)
