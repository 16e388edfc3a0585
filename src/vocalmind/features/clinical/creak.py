"""Creaky-voice detection: Kane-Drugman-Gobl creak features and our own trained network.

COVAREP's ``detect_creaky_voice`` (Kane, Drugman & Gobl, Computer Speech and Language
2013; Drugman, Kane & Gobl, CSL 2014) computes 12 acoustic features every 10 ms, appends
their first and second differences (36 inputs) and feeds them to a small trained network
whose output is a creak posterior; frames with posterior > 0.3 are creaky. This module
computes the same 12 features, written from the papers and COVAREP's definitions (no code
copied):

* ``H2H1``: H2-H1 (dB) of the autocorrelation spectrum of the LP residual passed through a
  resonator at the recording's median F0 (50 ms Hann frames), smoothed over 100 ms;
* ``res_p``: residual peak prominence (1 - the largest other positive peak of the
  resonator output within a window of two creak periods around its largest peak), zero
  where the frame is > 4 (log) below the loudest energy within 0.4 s, median filtered;
* ``ZCR``: zero crossings of the signal per ms (32 ms frames);
* ``IFP``, ``IPS``, ``PwP_fall``, ``PwP_rise``: Ishi et al.'s intra-frame periodicity
  of the 100-1500 Hz band, inter-pulse similarity and the fall / rise (dB) of the power
  peaks of its 4 ms power contour;
* ``F0`` (SRH), ``F0mean`` (median), ``enerN`` (log energy below the recording's largest),
  ``pow_std`` (local standard deviation of the 4 ms power contour), ``creakF0`` (the
  resonator-domain F0 estimate).

The network is NOT COVAREP's (its weights, ``system_net_creak.mat``, are GPL-3 and are
neither shipped nor needed): it is our own 36-32-1 tanh / logistic network
(``creak_net.npz`` beside this module, 12.5 kB, checked against :data:`NET_SHA256`),
trained by ``bench/train_creak_detector.py`` on labels made by running the real COVAREP
(HEAD 5a2be5d, in GNU Octave 7.3, ``detect_creaky_voice``) outside this package:
COVAREP's creak posterior of every 10 ms frame, used as soft targets (cross-entropy,
L-BFGS, L2 1e-5), with these 36 features computed by this module as inputs. Training
recordings: 87 recordings of 52 speakers, 128,746 frames, 10,852 with COVAREP posterior
> 0.3: the 47 EMU free-speech recordings other than ids 1367 and 2819 (8 kHz, converted by
``sox -R -r 16000 -b 16``; 117,168 frames, 10,585 creaky) and 40 EMO-DB utterances of
speakers 09, 11, 12, 14, 15 (``bench/train_creak_detector.py`` lists them; 11,578 frames,
267 creaky). Neither the 7 COVAREP parity recordings nor their speakers (EMO-DB 03, 08,
10, 13, 16; EMU 1367, 2819) were used. Hidden size (8, 16, 32) and L2 (1e-5, 1e-4) chosen
by speaker-grouped 5-fold cross-validation: frame kappa 0.945 at 0.3, r 0.992. On the 7
parity recordings, ``bench/bench_covarep_parity.py``: frame kappa 0.901 at 0.3, r 0.985
(the former fixed rule: 0.006, -0.006).

Long recordings are processed in windows (:mod:`descriptors`): :func:`pass1` collects the
energy and power contours of a window, :func:`pass2` the frame features that need the
median F0 and the whole recording's energy, and :func:`features`, :func:`posterior` and
:func:`to_descriptor_grid` combine them into the posterior on the 10 ms descriptor grid.

Known differences from COVAREP's front end: ``F0`` and ``F0mean`` come from the
descriptors' SRH (50-500 Hz first pass; COVAREP's creak detector runs its own SRH from
20 Hz, and its median is a whole number of Hz); Ishi's band pass is run as second-order
sections (its 14th-order polynomial form, as COVAREP runs it, is ill-conditioned: Octave
and SciPy give power contours up to several dB apart on quiet frames). On the parity
recordings, COVAREP's own network fed with these features instead of COVAREP's agrees
with COVAREP's output at r 0.999 (EMO-DB 13a01Lb) and 0.96 (EMU 2819).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import fft as sfft
from scipy.ndimage import median_filter
from scipy.signal import butter, buttord, lfilter, sosfiltfilt

from vocalmind.errors import FeatureError
from vocalmind.features.clinical.dsp import FS, hann_matlab, matlab_round

#: posterior above which a frame is called creaky (COVAREP's decision threshold)
THRESHOLD = 0.3
#: the trained network shipped beside this module, and its sha256
NET_FILE = Path(__file__).with_name("creak_net.npz")
NET_SHA256 = "2ad73fd97fddda77c893b076ceb5381826f3fcc5459d78cf259aac0a66acfbec"
#: names of the 12 static features, in network input order (then their deltas, then
#: the deltas of the deltas)
FEATURES = ("H2H1", "res_p", "ZCR", "IFP", "IPS", "PwP_fall", "PwP_rise", "F0", "F0mean",
            "enerN", "pow_std", "creakF0")

_ES_LEN, _ES_HOP = 512, 80  # energy / zero-crossing frames (32 ms, 5 ms)
_PW_LEN, _PW_HOP = 64, 32  # very-short power frames (4 ms, 2 ms)
_H_LEN, _HOP = 800, 160  # H2-H1 frames (50 ms, 10 ms)
_IFP_LEN, _IFP_LAG, _PEAK_TOL = 512, 240, 16  # IFP frames, largest lag, peak tolerance
_IPS_HALF, _IPS_TMAX = 120, 1600  # IPS half segment, longest inter-pulse interval
_PWP_REACH = 560  # a power peak describes the samples up to 35 ms before it
_STD_BLOCK = 16384  # power-deviation windows computed together (memory bound)
_NET_BLOCK = 8192  # frames through the network together (memory bound)
#: H2-H1 / IFP frames whose autocorrelations are computed together: their DFT buffers stay
#: in the processor's cache (512 at a time: ~20 % more CPU time)
_FRAME_BLOCK = 128


def _medfilt(v: np.ndarray, k: int) -> np.ndarray:
    """MATLAB ``medfilt1(v, k)`` for odd ``k``: zero padded at both ends."""
    return median_filter(np.asarray(v, dtype=np.float64), size=k, mode="constant", cval=0.0)


def _smooth(v: np.ndarray, span: int) -> np.ndarray:
    """MATLAB ``smooth(v, span)``: moving average, odd span shrinking at the ends."""
    if span % 2 == 0:
        span -= 1
    h = (span - 1) // 2
    n = len(v)
    c = np.concatenate([[0.0], np.cumsum(v)])
    i = np.arange(n)
    k = np.minimum(np.minimum(i, n - 1 - i), h)
    return (c[i + k + 1] - c[i - k]) / (2 * k + 1)


def _interp_nan(xq: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``interp1(xp, fp, xq)``: linear, NaN outside ``[xp[0], xp[-1]]``."""
    if len(xp) == 0:
        return np.full(len(xq), np.nan)
    if len(xp) == 1:
        return np.where(xq == xp[0], fp[0], np.nan)
    return np.interp(xq, xp, fp, left=np.nan, right=np.nan)


def _stretch(count: int, n: int) -> np.ndarray:
    """``linspace(1, n, count)``: where COVAREP places ``count`` frame values (1-based)."""
    return np.linspace(1.0, float(n), count)


def _n_frames(n: int, length: int, hop: int, *, strict: bool = False) -> int:
    """Frames ``[hop i, hop i + length)`` inside ``n`` samples (end < n if ``strict``)."""
    last = n - length - (1 if strict else 0)
    return last // hop + 1 if last >= 0 else 0


def _owned(n: int, length: int, hop: int, lo: int, hi: int, *, strict: bool = False
           ) -> np.ndarray:
    """Indices of the frames whose start lies in ``[lo, hi)``."""
    m = _n_frames(n, length, hop, strict=strict)
    return np.arange(-(-lo // hop), min(-(-hi // hop), m), dtype=np.int64)


def _rows(x: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Rows ``x[s : s + length]`` (all inside ``x``)."""
    if len(starts) == 0:
        return np.zeros((0, length))
    return np.lib.stride_tricks.sliding_window_view(x, length)[starts]


@lru_cache(maxsize=4)
def _band(sr: int) -> np.ndarray:
    """Ishi's 100-1500 Hz Butterworth band pass (3 dB ripple, 40 dB stop at 50 / 3000 Hz),
    as second-order sections (the 14th-order polynomial form is ill-conditioned)."""
    nyq = sr / 2
    order, wn = buttord([100 / nyq, 1500 / nyq], [50 / nyq, 3000 / nyq], 3, 40)
    return butter(order, wn, btype="band", output="sos")


def band_pass(x: np.ndarray, *, sr: int = FS) -> np.ndarray:
    """Zero-phase band pass, reflecting 3 x (filter order) samples at each end."""
    sos = _band(sr)
    return sosfiltfilt(sos, x, padlen=min(3 * 2 * len(sos), len(x) - 1))


def _resonator(res: np.ndarray, f0_mean: float, rho: float, sr: int) -> np.ndarray:
    """The residual through a two-pole resonator at ``f0_mean`` with pole radius ``rho``."""
    phi = 2 * np.pi * f0_mean / sr
    return lfilter([1.0], [1.0, -2 * rho * np.cos(phi), rho * rho], res)


def _power_db(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """20 log10 of the mean square of 4 ms frames starting at ``starts``."""
    fr = _rows(x, starts, _PW_LEN)
    with np.errstate(divide="ignore"):
        return 20 * np.log10(np.einsum("ij,ij->i", fr, fr) / _PW_LEN)


@dataclass
class Contours:
    """Whole-recording contours gathered window by window (:func:`pass1`)."""

    es: list[np.ndarray] = field(default_factory=list)  # log energy, 32 ms / 5 ms
    zcr: list[np.ndarray] = field(default_factory=list)  # zero crossings per ms
    pow_db: list[np.ndarray] = field(default_factory=list)  # 4 ms power (dB), signal
    band_db: list[np.ndarray] = field(default_factory=list)  # 4 ms power (dB), 100-1500 Hz


def pass1(xs: np.ndarray, a: int, lo: int, hi: int, n: int, acc: Contours, *,
          sr: int = FS) -> np.ndarray:
    """Contours of the frames that start in the window's interior ``[lo, hi)``.

    Parameters
    ----------
    xs : np.ndarray [shape=(b - a,)] the window's samples ``x[a:b]`` (16 kHz)
    a : first sample of the window in the recording
    lo, hi : the window's interior
    n : length of the recording
    acc : the contours so far (appended to)

    Returns
    -------
    np.ndarray [shape=(b - a,)] the window's 100-1500 Hz band (for :func:`pass2`)
    """
    ie = _owned(n, _ES_LEN, _ES_HOP, lo, hi, strict=True)
    fr = _rows(xs, _ES_HOP * ie - a, _ES_LEN) * hann_matlab(np.array([_ES_LEN]), _ES_LEN)[0]
    with np.errstate(divide="ignore"):
        acc.es.append(np.log(np.einsum("ij,ij->i", fr, fr) / _ES_LEN))
    iz = _owned(n, _ES_LEN, _ES_HOP, lo, hi)
    sgn = (xs >= 0).astype(np.int64)
    cs = np.concatenate([[0], np.cumsum(np.abs(np.diff(sgn)))])
    s0 = _ES_HOP * iz - a
    acc.zcr.append((cs[s0 + _ES_LEN - 1] - cs[s0]) / _ES_LEN * (sr / 1000))
    ip = _owned(n, _PW_LEN, _PW_HOP, lo, hi)
    acc.pow_db.append(_power_db(xs, _PW_HOP * ip - a))
    xf = band_pass(xs, sr=sr)
    acc.band_db.append(_power_db(xf, _PW_HOP * ip - a))
    return xf


def energy_contour(contours: Contours, n: int) -> np.ndarray:
    """The recording's log-energy contour (32 ms frames every 5 ms).

    COVAREP sizes the contour as ``floor((n - 511) / 80) + 1`` frames but fills only the
    frames that end before the last sample: a frame it leaves empty is ``log(0)``.
    """
    es = np.concatenate(contours.es) if contours.es else np.zeros(0)
    size = (n - _ES_LEN + 1) // _ES_HOP + 1 if n >= _ES_LEN - 1 else 0
    if size > len(es):
        es = np.concatenate([es, np.full(size - len(es), -np.inf)])
    return es


@dataclass
class Peaks:
    """Ishi's power peaks of the whole recording (:func:`power_peaks`)."""

    sample: np.ndarray  # 0-based sample of each peak
    rise: np.ndarray  # dB
    fall: np.ndarray  # dB


def _local_maxima(p: np.ndarray) -> np.ndarray:
    """Peaks of ``p`` (a flat top counts once, at its centre, rounded down)."""
    with np.errstate(invalid="ignore"):  # -inf - -inf in digital silence: NaN, no peak
        d = np.diff(p)
    d = np.nan_to_num(d, nan=0.0)
    nz = np.flatnonzero(d != 0)
    if len(nz) < 2:
        return np.zeros(0, dtype=np.int64)
    up = d[nz] > 0
    # a rise followed (after a possible flat run) by a fall
    k = np.flatnonzero(up[:-1] & ~up[1:])
    first = nz[k] + 1  # first sample of the top
    last = nz[k + 1]  # last sample of the top
    return first + (last - first) // 2


def power_peaks(band_db: np.ndarray) -> Peaks:
    """Power peaks of the 4 ms band power contour (whole recording).

    A peak is kept when it stands 2 dB above the contour 3 frames (6 ms) before and after
    it and lies within 30 dB of the largest kept peak; its rise and fall are its height
    above the lowest contour value in the 5 frames before / after it.
    """
    p = band_db
    k = _local_maxima(p)
    m = len(p)
    lo3, hi3 = np.maximum(k - 3, 0), np.minimum(k + 3, m - 1)
    k = k[(p[k] - 2 >= p[lo3]) & (p[k] - 2 >= p[hi3])]
    if len(k):
        k = k[p[k] >= p[k].max() - 30]
    k = k[(k > 0) & (k < m - 1)]
    rise = np.zeros(len(k))
    fall = np.zeros(len(k))
    if len(k):
        win = np.lib.stride_tricks.sliding_window_view(
            np.concatenate([np.full(5, np.inf), p, np.full(5, np.inf)]), 11)[k]
        rise = p[k] - win[:, :5].min(axis=1)
        fall = p[k] - win[:, 6:].min(axis=1)
    return Peaks(sample=_PW_HOP * k + 32, rise=rise, fall=fall)


@dataclass
class Frames:
    """Frame features gathered window by window (:func:`pass2`)."""

    h2h1: list[np.ndarray] = field(default_factory=list)  # per 10 ms H2-H1 frame
    f0r: list[np.ndarray] = field(default_factory=list)  # resonator-domain F0 (Hz)
    prom: list[np.ndarray] = field(default_factory=list)  # peak prominence, 20 ms hop
    ifp: list[np.ndarray] = field(default_factory=list)  # IFP, 10 ms hop
    ips: list[np.ndarray] = field(default_factory=list)  # IPS per power peak


def max_creak_f0(f0_mean: float) -> float:
    """Highest creak F0 assumed by the prominence window, from the median F0."""
    if f0_mean > 100:
        return 90.0
    if 85 <= f0_mean < 100:
        return 65.0
    if f0_mean < 85:
        return 55.0
    return 80.0


@lru_cache(maxsize=2)
def _unit_circle(sr: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and -sin of ``2 pi k / sr``, k = 0..sr-1: the sr-point DFT's kernel, as two
    real tables (read-only)."""
    w = 2 * np.pi * np.arange(sr) / sr
    c, s = np.cos(w), -np.sin(w)
    c.flags.writeable = s.flags.writeable = False
    return c, s


def _lag_dft_at(x: np.ndarray, f_hz: np.ndarray, sr: int) -> np.ndarray:
    """``|DFT_sr(r)[f_i]|`` per row, ``r`` the row's autocorrelation at lags 1..L-1 (as
    ``irfft(|rfft(x, 2L)|^2)[1:L]``, stored from lag 1 on): the sr-point DFT at the row's own
    whole-Hz frequency ``f_i`` (``(m, L)``, ``(m,)`` -> ``(m,)``), in one compiled pass
    over the row (:func:`vocalmind.features.clinical.kernels.lag_dft_at`).
    """
    from vocalmind.features.clinical.kernels import lag_dft_at  # numba: on first use

    c, s = _unit_circle(sr)
    out = np.empty(x.shape[0])
    lag_dft_at(np.ascontiguousarray(x, dtype=np.float64), np.asarray(f_hz, dtype=np.int64),
               c, s, out)
    return out


def _h2h1_frames(res: np.ndarray, rep2: np.ndarray, idx: np.ndarray, a: int, f0_mean: float,
                 sr: int) -> tuple[np.ndarray, np.ndarray]:
    """H2-H1 and the F0 estimate of the H2-H1 frames ``idx``; ``rep2`` is ``res`` through
    the resonator of pole radius 0.8 (shared with :func:`_prominence_frames`)."""
    rep = _resonator(res, f0_mean, 0.97, sr)
    win = hann_matlab(np.array([_H_LEN]), _H_LEN)[0]
    nfft = 2 * _H_LEN  # >= 2 x 800 - 1: no circular wrap of the lags
    lags = np.arange(1, _H_LEN)
    unbias = (_H_LEN - 1) / (_H_LEN - lags)
    h2h1 = np.zeros(len(idx))
    f0 = np.zeros(len(idx))
    for s in range(0, len(idx), _FRAME_BLOCK):
        st = _HOP * idx[s : s + _FRAME_BLOCK] - a
        f2 = _rows(rep2, st, _H_LEN) * win
        r2 = sfft.irfft(np.abs(sfft.rfft(f2, nfft)) ** 2, nfft)[:, 1:_H_LEN] * unbias
        # skip the lags before the autocorrelation first drops to <= 0
        pos = r2 > 0
        first_neg = np.where(pos.all(axis=1), r2.shape[1] - 1, np.argmin(pos, axis=1))
        first_neg = np.minimum(first_neg, r2.shape[1] - 1)
        r2[np.arange(r2.shape[1])[None, :] < first_neg[:, None]] = 0.0
        posi = np.maximum(np.argmax(r2, axis=1) + 1, 5)
        f0_s = matlab_round(sr / posi)
        f1 = _rows(rep, st, _H_LEN) * win * win
        # |DFT| (sr points) of f1's autocorrelation (lags 1..799) at f0 - 1 and 2 f0 - 1 Hz
        # (COVAREP's 1-based bins)
        f_hz = f0_s.astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):  # silent frames: NaN
            h2h1[s : s + _FRAME_BLOCK] = (20 * np.log10(_lag_dft_at(f1, 2 * f_hz - 1, sr))
                                          - 20 * np.log10(_lag_dft_at(f1, f_hz - 1, sr)))
        f0[s : s + _FRAME_BLOCK] = f0_s
    return h2h1, f0


def _es_interp_at(es: np.ndarray, n: int, q: np.ndarray) -> np.ndarray:
    """COVAREP's energy contour, stretched over the recording, at 1-based samples ``q``."""
    return np.interp(q, _stretch(len(es), n), es)


def _prominence_frames(rep: np.ndarray, idx: np.ndarray, a: int, n: int, f0_mean: float,
                       es: np.ndarray, sr: int) -> np.ndarray:
    """Residual peak prominence of the frames ``idx``; ``rep`` is the residual through the
    resonator of pole radius 0.8."""
    win_len = int(matlab_round(sr / max_creak_f0(f0_mean))) * 2
    half = int(matlab_round(win_len / 2))
    rem = win_len * 0.2
    out = np.zeros(len(idx))
    if len(idx) == 0:
        return out
    start = 2 * _HOP * idx + 1  # 1-based, as COVAREP
    fr = _rows(np.abs(rep), start - 1 - a, win_len)
    m1 = np.argmax(fr, axis=1) + 1
    ok = (m1 + start - half >= 1) & (start + m1 + half <= n)
    st2 = m1 + start - half  # 1-based start of the re-centred frame
    z = np.zeros((len(idx), 2 * half + 1))
    z[ok] = _rows(rep, st2[ok] - 1 - a, 2 * half + 1)
    m2 = np.argmax(np.abs(z), axis=1)
    sgn = np.where(z[np.arange(len(z)), m2] < 0, -1.0, 1.0)
    z = z * sgn[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = z / z.max(axis=1, keepdims=True)
    j0, j1 = int(matlab_round(half - rem)), int(matlab_round(half + rem))
    z[:, j0 - 1 : j1] = 0.0
    z[z < 0] = 0.0
    out = np.where(ok, 1.0 - z.max(axis=1), 0.0)
    # energy check at COVAREP's sample (the second maximum's index from the first frame)
    e_at = start + m2 + 1
    tol = round(0.4 * sr)
    s_e = np.maximum(e_at - tol, 1)
    t_e = np.minimum(e_at + tol, n)
    pos = _stretch(len(es), n)
    emax = np.maximum(_es_interp_at(es, n, s_e), _es_interp_at(es, n, t_e))
    lo_i = np.searchsorted(pos, s_e, side="left")
    hi_i = np.searchsorted(pos, t_e, side="right")
    # the interpolated contour is read at whole samples: its largest value in a range
    # lies at an end or at a sample next to a contour point inside the range
    at_nodes = np.maximum(_es_interp_at(es, n, np.floor(pos)),
                          _es_interp_at(es, n, np.ceil(pos)))
    run = _running_max(at_nodes)
    for i in np.flatnonzero(ok):
        if hi_i[i] > lo_i[i]:
            emax[i] = max(emax[i], run(lo_i[i], hi_i[i]))
    quiet = _es_interp_at(es, n, e_at) < emax - 4
    return np.where(ok & ~quiet, out, 0.0)


def _running_max(v: np.ndarray):
    """Range maximum ``v[i:j]`` by a sparse table (O(1) per query)."""
    table = [v]
    k = 1
    while 2 * k <= len(v):
        prev = table[-1]
        table.append(np.maximum(prev[:-k], prev[k:]))
        k *= 2

    def query(i: int, j: int) -> float:
        lev = int(j - i).bit_length() - 1
        t = table[lev]
        return float(max(t[i], t[j - (1 << lev)]))

    return query


def _ifp_frames(xf: np.ndarray, idx: np.ndarray, a: int) -> np.ndarray:
    """Intra-frame periodicity of the frames ``idx`` of the 100-1500 Hz band ``xf``."""
    from vocalmind.features.clinical.kernels import ifp_min_peaks  # numba: on first use

    out = np.zeros(len(idx))
    lags = np.arange(_IFP_LAG + 1)
    norm = _IFP_LEN / (_IFP_LEN - (lags + 1))
    for s in range(0, len(idx), _FRAME_BLOCK):
        fr = _rows(xf, _HOP * idx[s : s + _FRAME_BLOCK] - a, _IFP_LEN)
        r = sfft.irfft(np.abs(sfft.rfft(fr, 800)) ** 2, 800)[:, : _IFP_LAG + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            acf = r / r[:, :1]
        acf[:, :_PEAK_TOL] = 0.0
        acf *= norm
        ifp_min_peaks(acf, _PEAK_TOL, out[s : s + _FRAME_BLOCK])
    return out


def _ips(xf: np.ndarray, peaks: np.ndarray, prev: np.ndarray, a: int, n: int) -> np.ndarray:
    """Inter-pulse similarity of each peak with the previous one (1-based samples)."""
    out = np.zeros(len(peaks))
    ok = ((peaks - prev) <= _IPS_TMAX) & (prev - _IPS_HALF >= 1) & (peaks + _IPS_HALF <= n)
    ok &= prev > 0
    i = np.flatnonzero(ok)
    if len(i) == 0:
        return out
    seg = 2 * _IPS_HALF + 1
    cur = _rows(xf, peaks[i] - _IPS_HALF - 1 - a, seg)
    pre = _rows(xf, prev[i] - _IPS_HALF - 1 - a, seg)
    nfft = 1024
    cc = sfft.irfft(sfft.rfft(cur, nfft) * np.conj(sfft.rfft(pre, nfft)), nfft)
    with np.errstate(divide="ignore", invalid="ignore"):
        den = np.sqrt(np.einsum("ij,ij->i", cur, cur) * np.einsum("ij,ij->i", pre, pre))
        out[i] = np.nan_to_num(cc.max(axis=1) / den)
    return out


def pass2(xs: np.ndarray, res: np.ndarray, xf: np.ndarray, a: int, lo: int, hi: int,
          n: int, f0_mean: float, es: np.ndarray, peaks: Peaks, acc: Frames, *,
          sr: int = FS) -> None:
    """Frame features of the frames / power peaks that start in ``[lo, hi)``.

    Parameters
    ----------
    xs, res, xf : np.ndarray [shape=(b - a,)] the window's samples, LP residual (order
        ``sr / 1000 + 2``) and 100-1500 Hz band (:func:`pass1`)
    a, lo, hi, n : window start, interior, recording length (samples)
    f0_mean : median F0 of the recording's voiced frames (Hz)
    es : the recording's energy contour (``Contours.es``, concatenated)
    peaks : :func:`power_peaks` of the recording
    acc : the frame features so far (appended to)
    """
    ih = _owned(n, _H_LEN, _HOP, lo, hi, strict=True)
    rep_80 = _resonator(res, f0_mean, 0.8, sr)  # read by H2-H1 and the prominence
    h, f = _h2h1_frames(res, rep_80, ih, a, f0_mean, sr)
    acc.h2h1.append(h)
    acc.f0r.append(f)
    win_len = int(matlab_round(sr / max_creak_f0(f0_mean))) * 2
    iprom = _owned(n, win_len, 2 * _HOP, lo, hi)
    acc.prom.append(_prominence_frames(rep_80, iprom, a, n, f0_mean, es, sr))
    acc.ifp.append(_ifp_frames(xf, _owned(n, _IFP_LEN, _HOP, lo, hi), a))
    pk = peaks.sample + 1  # 1-based, as COVAREP
    own = np.flatnonzero((peaks.sample >= lo) & (peaks.sample < hi))
    prev = np.where(own > 0, pk[np.maximum(own - 1, 0)], 0)
    acc.ips.append(_ips(xf, pk[own], prev, a, n))


def features(n: int, contours: Contours, frames: Frames, peaks: Peaks, f0_srh: np.ndarray,
             f0_mean: float, *, sr: int = FS) -> np.ndarray:
    """The 36 network inputs of each 10 ms creak frame (ends at ``160 k``, k = 1..K).

    Parameters
    ----------
    n : recording length in samples
    contours, frames, peaks : gathered by :func:`pass1`, :func:`power_peaks`, :func:`pass2`
    f0_srh : np.ndarray [shape=(j,)] SRH F0 of each SRH frame (Hz)
    f0_mean : median F0 of voiced frames (Hz)

    Returns
    -------
    np.ndarray [shape=(K, 36)]: the 12 :data:`FEATURES`, their differences from the
    previous frame (0 at the first), and the differences of those
    """
    k_n = n // _HOP
    t = _HOP * np.arange(1, k_n + 1, dtype=np.float64)  # 1-based sample of frame k
    t_is = matlab_round(_stretch(k_n, n))  # where the Ishi features are read
    # H2-H1 and resonator F0
    h = np.concatenate(frames.h2h1)
    f = np.concatenate(frames.f0r)
    span = round(0.1 * sr / _HOP)
    if len(h):
        h = _interp_nan(t, _stretch(len(h), n), _smooth(h, span))
        f = _interp_nan(t, _stretch(len(f), n), _smooth(_medfilt(f, 7), span))
    else:
        h, f = np.zeros(k_n), np.zeros(k_n)
    # residual peak prominence
    prom = np.concatenate(frames.prom)
    if len(prom) > 1:
        win_len = int(matlab_round(sr / max_creak_f0(f0_mean))) * 2
        pt = matlab_round(2 * _HOP * np.arange(len(prom)) + (win_len + 1) / 2)
        res_p = np.nan_to_num(_interp_nan(t, pt, _medfilt(prom, 5)))
    else:
        res_p = np.zeros(k_n)
    # zero-crossing rate (COVAREP places frame j at the centre of frame j + 1)
    zcr = np.concatenate(contours.zcr)
    zc = np.nan_to_num(_interp_nan(t, _ES_HOP * np.arange(1, len(zcr) + 1) + 256.5, zcr))
    # IFP: zero unless the next two frames are periodic, clipped to [0, 1]
    ifp = np.concatenate(frames.ifp)
    if len(ifp) >= 3:
        low = ifp < 0.5
        kill = np.zeros(len(ifp), dtype=bool)
        kill[: len(ifp) - 3] = low[1 : len(ifp) - 2] | low[2 : len(ifp) - 1]
        ifp = np.clip(np.where(kill, 0.0, ifp), 0.0, 1.0)
        ifp_t = np.nan_to_num(_interp_nan(t_is, _HOP * np.arange(len(ifp)) + 257.0, ifp))
    else:
        ifp_t = np.zeros(k_n)
    # power peaks: each sample takes the next peak's values when it lies < 35 ms ahead
    ips = np.concatenate(frames.ips) if frames.ips else np.zeros(0)
    rise_t, fall_t, ips_t = np.zeros(k_n), np.zeros(k_n), np.zeros(k_n)
    pk = peaks.sample + 1.0
    if len(pk) > 2:
        j = np.searchsorted(pk, t_is, side="left")
        jj = np.minimum(j, len(pk) - 1)
        d = np.where(j < len(pk), pk[jj] - t_is, np.inf)
        # before 35 ms, an earlier peak sits at distance t (COVAREP's zeroed entries)
        early = (pk[0] < t_is) & (t_is <= d)
        use = np.where(early, 0, jj)
        dist = np.where(early, t_is, d)
        near = dist < _PWP_REACH
        rise_t = np.where(near, peaks.rise[use], 0.0)
        fall_t = np.where(near, peaks.fall[use], 0.0)
        ips_t = np.where(near, ips[use], 0.0)
    # energy below the loudest frame, power deviation
    es = energy_contour(contours, n)
    ener = _interp_nan(t, _stretch(len(es), n), es - es.max()) if len(es) else np.zeros(k_n)
    pw = np.concatenate(contours.pow_db)
    fin = np.isfinite(pw)
    if fin.any() and not fin.all():
        pw = np.where(fin, pw, pw[fin].min())
    sd = np.zeros(len(pw))
    if len(pw) > 32:
        win = np.lib.stride_tricks.sliding_window_view(pw, 33)
        # in blocks of windows: std's temporaries of the whole view are 33 values per 2 ms
        # of audio (~0.5 GB for an hour), the same values in bounded memory
        for b0 in range(0, len(pw) - 32, _STD_BLOCK):
            b1 = min(b0 + _STD_BLOCK, len(pw) - 32)
            sd[16 + b0 : 16 + b1] = win[b0:b1].std(axis=1, ddof=1)
        sd[len(pw) - 16 :] = 0.0
    sd = _medfilt(sd, 13)
    pow_std = _interp_nan(t, _stretch(len(sd), n), sd) if len(sd) else np.zeros(k_n)
    # SRH F0 stretched over the creak frames
    f0 = (np.interp(np.arange(1, k_n + 1), _stretch(len(f0_srh), k_n), f0_srh)
          if len(f0_srh) > 1 else np.full(k_n, f0_mean))
    # one (K, 36) array filled in place: an hour holds 360,000 frames (104 MB)
    out = np.zeros((k_n, 36))
    stat, d1, d2 = out[:, :12], out[:, 12:24], out[:, 24:]
    for j, col in enumerate((h, res_p, zc, ifp_t, ips_t, fall_t, rise_t, f0, f0_mean, ener,
                             pow_std, f)):
        stat[:, j] = col
    with np.errstate(invalid="ignore"):  # inf - inf (silent frames): NaN, filled later
        np.subtract(stat[1:], stat[:-1], out=d1[1:])
        np.subtract(d1[1:], d1[:-1], out=d2[1:])
    return out


@lru_cache(maxsize=1)
def _net() -> dict[str, np.ndarray]:
    data = NET_FILE.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != NET_SHA256:
        raise FeatureError(f"creak network {NET_FILE} has sha256 {got}, expected "
                           f"{NET_SHA256}; reinstall vocalmind or re-run "
                           "bench/train_creak_detector.py")
    with np.load(NET_FILE) as z:
        return {k: z[k].astype(np.float64) for k in z.files}


def posterior(feats: np.ndarray) -> np.ndarray:
    """Creak posterior of each creak frame from its 36 inputs (:func:`features`).

    Parameters
    ----------
    feats : np.ndarray [shape=(K, 36)]

    Returns
    -------
    np.ndarray [shape=(K,)] in [0, 1]
    """
    w = _net()
    post = np.empty(len(feats))
    for b0 in range(0, len(feats), _NET_BLOCK):  # the temporaries of a block, not an hour
        fb = feats[b0:b0 + _NET_BLOCK]
        z = np.where(np.isfinite(fb), fb, w["fill"])
        z = np.clip((z - w["mean"]) / w["scale"], -w["clip"], w["clip"])
        hid = np.tanh(z @ w["w1"] + w["b1"])
        out = hid @ w["w2"] + w["b2"]
        post[b0:b0 + _NET_BLOCK] = 1.0 / (1.0 + np.exp(-np.clip(out[:, 0], -60, 60)))
    return post


def to_descriptor_grid(post: np.ndarray, n_times: int) -> np.ndarray:
    """Posterior of creak frame k (sample 160 k) at the descriptor frames (80 + 160 j).

    As COVAREP: linear interpolation, 0 where a descriptor frame lies before the first or
    after the last creak frame.

    Returns
    -------
    np.ndarray [shape=(n_times,)]
    """
    q = 80.0 + _HOP * np.arange(n_times)
    t = _HOP * np.arange(1, len(post) + 1, dtype=np.float64)
    return np.nan_to_num(_interp_nan(q, t, post))


def recording_inputs(y: np.ndarray, *, sr: int = FS) -> np.ndarray:
    """The 36 network inputs of one recording in one window (for training the network).

    The same computation as :func:`vocalmind.features.clinical.descriptors.descriptor_matrix`
    with one window: SRH F0 in COVAREP's two passes, the median F0 of voiced SRH frames,
    then :func:`pass1`, :func:`power_peaks`, :func:`pass2` and :func:`features`. (Creak
    features do not depend on the glottal polarity.)

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] mono signal; resampled to 16 kHz as the descriptors do

    Returns
    -------
    np.ndarray [shape=(n // 160, 36)] (at 16 kHz)
    """
    from vocalmind.features.clinical import f0 as _f0
    from vocalmind.features.clinical.dsp import lpc_residuals

    if sr != FS:
        import soxr

        y = soxr.resample(np.asarray(y, dtype=np.float64), sr, FS).astype(np.float32)
    x = np.asarray(y, dtype=np.float64)
    n = len(x)
    res_srh, res = lpc_residuals(x, orders=(_f0.srh_lpc_order(FS), round(FS / 1000) + 2))
    _, f0_srh, _, v = _f0.srh_frames(res_srh, sr=FS)
    ok = (v > 0.5) & (f0_srh > _f0.F0_MIN) & (f0_srh < _f0.F0_MAX)
    f0_mean = float(np.median(f0_srh[ok])) if ok.any() else float(np.median(f0_srh))
    contours = Contours()
    band = pass1(x, 0, 0, n, n, contours, sr=FS)
    peaks = power_peaks(np.concatenate(contours.band_db))
    frames = Frames()
    pass2(x, res, band, 0, 0, n, n, f0_mean, energy_contour(contours, n), peaks, frames,
          sr=FS)
    return features(n, contours, frames, peaks, f0_srh, f0_mean, sr=FS)
