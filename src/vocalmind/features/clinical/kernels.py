"""Compiled loops of the clinical set (numba, one thread, cached on disk).

Only steps whose numpy form is a long chain of element-wise passes over small rows (HMPD's
filters along time, IAIF's four LPC rounds per GCI frame), a search row by row (peak
picking) or a gather of many small pieces (SRH's sums, the harmonics' phases) live here:
a loop per row keeps its values in cache or registers instead of writing dozens of
whole-array temporaries. Each kernel is tested against the numpy / scipy form it replaced
(tests/features/clinical/test_speed_equivalence.py), bit for bit unless its test says
otherwise. Indices known to be >= 0 are cast to unsigned (``_u``) in the innermost loops:
numba checks every signed index for wrap-around, which keeps a loop from vectorising.
numba is installed with librosa; the compiled code is cached next to this file (or in
numba's user cache when that folder is read-only; compiled per process when neither is
writable), so a process pays the compilation (~20 s on the 2-core development machine)
once per installation, not once per run (a process then takes ~1 s to import numba and
load them). Import this module only where a kernel is called.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit, uint64

#: an index numba need not check for wrap-around (``x[_u(i)]`` with ``i >= 0``)
_u = uint64


def _compiled(fn: Callable | None = None, **options) -> Callable:
    """``njit(cache=True, nogil=True)``; where numba finds no writable cache folder (a
    read-only installation and home), compiled once per process instead of failing."""
    def wrap(f: Callable) -> Callable:
        try:
            return njit(cache=True, nogil=True, **options)(f)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(nogil=True, **options)(f)

    return wrap if fn is None else wrap(fn)


@_compiled
def _causal_fir(x: np.ndarray, n: int, b: np.ndarray, q: int, steady: bool,
                out: np.ndarray) -> None:
    """``out[i] = sum_{j < q} b[j] x[i - j]`` for i < n; before the start ``x[i - j]`` is
    ``x[0]`` with ``steady`` (the steady state of a filter of unit DC gain), else 0. Each
    output is summed from its own taps, so it does not depend on where the row starts."""
    for i in range(n):
        out[i] = 0.0
    # tap by tap over the whole row (the same order of sums per output, in SIMD lanes;
    # unsigned indices: numba checks a signed index for wrap-around on every access, which
    # keeps the loop from vectorising, 2.5x slower)
    for j in range(q):
        bj = b[j]
        if steady:
            x0 = bj * x[0]
            for i in range(min(j, n)):
                out[i] += x0
        for i in range(j, n):
            out[_u(i)] += bj * x[_u(i - j)]


@_compiled
def _causal_box(x: np.ndarray, k: int, out: np.ndarray) -> None:
    """:func:`_causal_fir` of ``k`` taps of ``1 / k`` by a running sum (double precision:
    an output depends on where the row starts by ~1e-16 of its magnitude)."""
    acc = k * x[0]
    for i in range(len(x)):
        acc += x[_u(i)] - x[_u(max(i - k, 0))]
        out[_u(i)] = acc / k


@_compiled
def _fir(x: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """:func:`_causal_fir`, by :func:`_causal_box` for a long box."""
    k = len(b)
    if k > 9 and np.all(b == b[0]):  # a long box: a running sum
        _causal_box(x, k, out)
    else:
        _causal_fir(x, len(x), b, k, True, out)


@_compiled
def _filtfilt(x: np.ndarray, b: np.ndarray, work: np.ndarray, out: np.ndarray) -> None:
    """MATLAB ``filtfilt(b, 1, x)`` of one row (odd extension of ``3 (len(b) - 1)``
    samples, steady-state start, forward then backward) into ``out``.

    ``work`` holds at least ``2 (len(x) + 6 (len(b) - 1))`` values.
    """
    m = len(x)
    n = max(min(3 * (len(b) - 1), m - 1), 0)
    L = m + 2 * n
    ext = work[:L]
    fw = work[L : 2 * L]
    for i in range(n):  # 2 x0 - x[n - i] before x, 2 x[-1] - x[-2 - i] after it
        ext[i] = 2.0 * x[0] - x[n - i]
        ext[n + m + i] = 2.0 * x[m - 1] - x[m - 2 - i]
    for i in range(m):
        ext[_u(n + i)] = x[_u(i)]
    _fir(ext, b, fw)
    for i in range(L // 2):  # backward: filter the reversed forward pass
        t = fw[i]
        fw[i] = fw[L - 1 - i]
        fw[L - 1 - i] = t
    _fir(fw, b, ext)
    for i in range(m):
        out[_u(i)] = ext[_u(L - 1 - n - i)]


@_compiled(inline="always")
def _sort2(a: float, b: float) -> tuple[float, float]:
    return min(a, b), max(a, b)


@_compiled
def _median9(x: np.ndarray, work: np.ndarray, out: np.ndarray) -> None:
    """9-point running median, zero-padded (MATLAB ``medfilt1(x, 9)``): Paeth's
    19-exchange network, branch-free. ``work`` holds at least ``len(x) + 8`` values."""
    m = len(x)
    xp = work[: m + 8]
    xp[:4] = 0.0
    xp[m + 4 :] = 0.0
    xp[4 : m + 4] = x
    for i in range(m):
        u = _u(i)
        p0, p1, p2, p3, p4 = xp[u], xp[u + 1], xp[u + 2], xp[u + 3], xp[u + 4]
        p5, p6, p7, p8 = xp[u + 5], xp[u + 6], xp[u + 7], xp[u + 8]
        p1, p2 = _sort2(p1, p2)
        p4, p5 = _sort2(p4, p5)
        p7, p8 = _sort2(p7, p8)
        p0, p1 = _sort2(p0, p1)
        p3, p4 = _sort2(p3, p4)
        p6, p7 = _sort2(p6, p7)
        p1, p2 = _sort2(p1, p2)
        p4, p5 = _sort2(p4, p5)
        p7, p8 = _sort2(p7, p8)
        p3 = max(p0, p3)
        p5 = min(p5, p8)
        p4, p7 = _sort2(p4, p7)
        p6 = max(p3, p6)
        p4 = max(p1, p4)
        p2 = min(p2, p5)
        p4 = min(p4, p7)
        p4, p2 = _sort2(p4, p2)
        p4 = max(p6, p4)
        out[u] = min(p4, p2)


@_compiled
def hmpd_bin_chain(pe: np.ndarray, box: np.ndarray, hann: np.ndarray, box9: np.ndarray,
                   uc: np.ndarray, us: np.ndarray, pdd: np.ndarray) -> None:
    """Along time, bin by bin: the PDM's unit vector and the PDD (hmpd.py, step 3).

    Parameters
    ----------
    pe : np.ndarray [shape=(B, m)] phase distortion (rad) of B bins over m frames
    box, hann, box9 : FIR taps of the PDM mean, the PDD trend and the PDD deviation
    uc, us : np.ndarray [shape=(B, m), float64] out: cos and sin of the PDM,
        ``atan2(fs, fc)`` of the forward-backward box means of cos and sin (1, 0 where
        both means are 0, as ``atan2(0, 0) = 0``)
    pdd : np.ndarray [shape=(B, m), float64] out: ``sqrt(-2 log R)`` of the 9-frame
        circular mean of the phase distortion less its trend (median, then Hann), 0
        where ``R >= 1``
    """
    B, m = pe.shape
    c = np.empty(m)
    s = np.empty(m)
    fc = np.empty(m)
    fs = np.empty(m)
    tc = np.empty(m)
    ts = np.empty(m)
    med = np.empty(m)
    work = np.empty(2 * (m + 2 * 3 * (max(len(box), len(hann), len(box9)) - 1)))
    for r in range(B):
        for i in range(m):
            p = np.float64(pe[r, i])
            c[i] = np.cos(p)
            s[i] = np.sin(p)
        _filtfilt(c, box, work, fc)
        _filtfilt(s, box, work, fs)
        for i in range(m):
            a, b = fc[i], fs[i]
            h = np.sqrt(a * a + b * b)
            if h == 0.0:
                uc[r, i], us[r, i] = 1.0, 0.0
            else:
                uc[r, i], us[r, i] = a / h, b / h
        _median9(c, work, med)
        _filtfilt(med, hann, work, tc)
        _median9(s, work, med)
        _filtfilt(med, hann, work, ts)
        # rotate (cos pe, sin pe) by the normalised trend: cos and sin of pe - trend
        for i in range(m):
            tn = np.sqrt(tc[i] * tc[i] + ts[i] * ts[i])
            # atan2(0, 0) = 0: no rotation. A trend this small is 0 up to rounding (where
            # the zero-padded median reaches 0 at a run's last frame): its direction is
            # rounding noise
            if tn <= 1e-12:
                a, b = 1.0, 0.0
            else:
                a, b = tc[i] / tn, ts[i] / tn
            fc[i] = c[i] * a + s[i] * b
            fs[i] = s[i] * a - c[i] * b
        _filtfilt(fc, box9, work, tc)
        _filtfilt(fs, box9, work, ts)
        for i in range(m):
            z = np.sqrt(tc[i] * tc[i] + ts[i] * ts[i])
            pdd[r, i] = np.sqrt(-2.0 * np.log(max(z, 1e-30))) if z < 1.0 else 0.0


@_compiled
def srh_sums(E: np.ndarray, plus: np.ndarray, minus: np.ndarray, out: np.ndarray) -> None:
    """SRH's criterion per frame and candidate: ``sum_h E[plus[h, c]] - sum_h
    E[minus[h, c]]`` in double precision, each sum over the harmonics in order (as numpy
    sums the gathered ``(frames, harmonics, candidates)`` arrays over their middle axis).

    Parameters
    ----------
    E : np.ndarray [shape=(J, B), float32] normalised amplitude spectra
    plus, minus : np.ndarray [shape=(5, F)], [shape=(4, F)] int bins
    out : np.ndarray [shape=(J, F), float64] out
    """
    n_p, F = plus.shape
    n_m = minus.shape[0]
    for j in range(E.shape[0]):
        for c in range(F):
            a = np.float64(E[j, plus[0, c]])
            for h in range(1, n_p):
                a += np.float64(E[j, plus[h, c]])
            b = np.float64(E[j, minus[0, c]])
            for h in range(1, n_m):
                b += np.float64(E[j, minus[h, c]])
            out[j, c] = a - b


@_compiled
def harmonic_peaks(spec: np.ndarray, step: np.ndarray, n_harm: int, nfft: int,
                   freq: np.ndarray, amp: np.ndarray) -> None:
    """Each harmonic's spectral peak, as sins.py reads it (VOICEBOX ``findpeaks(log|S|,
    'q')`` and the nearest peak within half a harmonic spacing).

    Parameters
    ----------
    spec : np.ndarray [shape=(r, nfft // 2 + 1), complex64] spectra (their power is taken
        in single precision)
    step : np.ndarray [shape=(r,)] F0 in bins
    n_harm : harmonics per row, H
    nfft : DFT length (distances are taken between ``row 2 nfft + bin`` keys, as the
        vectorised form did)
    freq : np.ndarray [shape=(r, H)] out: the harmonic's peak position in fractional bins
        (the parabola's vertex), or ``h step`` where no strict maximum lies within
        ``step / 2`` (the lower peak on a tie)
    amp : np.ndarray [shape=(r, H)] out: the parabola's peak amplitude, or the amplitude
        of the bin nearest ``h step``
    """
    r, nb = spec.shape
    tiny = np.float32(1e-37)
    pos = np.empty(nb)
    val = np.empty(nb)
    power = np.empty(nb, dtype=np.float32)
    for i in range(r):
        for c in range(nb):
            re, im = spec[i, c].real, spec[i, c].imag
            power[c] = re * re + im * im
        n_pk = 0
        for c in range(1, nb - 1):  # strict maxima, quadratic fit of the log amplitude
            p = power[c]
            if p > power[c - 1] and p > power[c + 1]:
                x0 = 0.5 * np.log(np.float64(max(power[c - 1], tiny)))
                x1 = 0.5 * np.log(np.float64(max(p, tiny)))
                x2 = 0.5 * np.log(np.float64(max(power[c + 1], tiny)))
                b = 0.5 * (x2 - x0)
                a = x1 - b - x0
                if a > 0:
                    pos[n_pk] = c + 0.5 * b / a
                    val[n_pk] = x1 + 0.25 * b * b / a
                else:
                    pos[n_pk] = c
                    val[n_pk] = x1
                n_pk += 1
        base = i * float(2 * nfft)
        j = 0  # the first peak at or after the target (targets rise with h)
        for hh in range(n_harm):
            target = (hh + 1) * step[i]
            k = min(max(int(np.rint(target)), 0), nb - 1)
            freq[i, hh] = target
            amp[i, hh] = np.float64(np.sqrt(power[k]))
            if n_pk == 0:
                continue
            tk = base + target
            while j < n_pk and base + pos[j] < tk:
                j += 1
            dl = abs(tk - (base + pos[j - 1])) if j > 0 else np.inf
            dr = abs((base + pos[j]) - tk) if j < n_pk else np.inf
            best = j if dr < dl else j - 1
            if min(dl, dr) < step[i] / 2:
                freq[i, hh] = pos[best]
                amp[i, hh] = np.exp(val[best])


@_compiled
def harmonic_phases(spec: np.ndarray, freq: np.ndarray, amp: np.ndarray, max_h: np.ndarray,
                    hz_per_bin: float, harm: np.ndarray, freq_hz: np.ndarray) -> None:
    """Complex harmonics from :func:`harmonic_peaks`' positions and amplitudes, as sins.py
    reads them: the spectrum's unwrapped phase interpolated linearly at the (fractional)
    peak bin. Between two neighbouring bins the unwrapped phase steps by the wrapped
    difference, so only those two bins' phases (single precision, as ``np.angle`` of the
    complex64 spectrum) are needed.

    Parameters
    ----------
    spec : np.ndarray [shape=(r, nb), complex64] spectra
    freq, amp : np.ndarray [shape=(r, H)] :func:`harmonic_peaks`' outputs
    max_h : np.ndarray [shape=(r,), int] each row's own harmonic count
    hz_per_bin : sr / nfft
    harm : np.ndarray [shape=(r, H), complex128] out: ``amp e^(i phase)``, 0 beyond
        ``max_h``
    freq_hz : np.ndarray [shape=(r, H)] out: ``freq hz_per_bin``, 0 beyond ``max_h``
    """
    r, nb = spec.shape
    n_harm = freq.shape[1]
    for i in range(r):
        for hh in range(n_harm):
            if hh + 1 > max_h[i]:
                harm[i, hh] = 0.0
                freq_hz[i, hh] = 0.0
                continue
            f = freq[i, hh]
            f_c = min(max(f, 0.0), nb - 1.0)
            i0 = min(int(np.floor(f_c)), nb - 2)
            fr = f_c - i0
            s0 = spec[i, i0]
            s1 = spec[i, i0 + 1]
            p0 = np.float64(np.arctan2(s0.imag, s0.real))
            p1 = np.float64(np.arctan2(s1.imag, s1.real))
            phase = p0 + fr * _wrap_pi(p1 - p0)
            a = amp[i, hh]
            harm[i, hh] = complex(a * np.cos(phase), a * np.sin(phase))
            freq_hz[i, hh] = f * hz_per_bin


@_compiled
def vq_peaks(db: np.ndarray, nb_row: np.ndarray, f0: np.ndarray, df: float, n_harm: int,
             amp: np.ndarray, counts: np.ndarray) -> None:
    """The harmonic amplitudes of glottal.vq_harmonics: VOICEBOX ``findpeaks`` on each
    row of a dB spectrum (quadratic interpolation, width rule ``F0 / 2``) and the peak
    nearest each harmonic.

    Parameters
    ----------
    db : np.ndarray [shape=(r, nb)] dB spectra
    nb_row : np.ndarray [shape=(r,), int] bins of each row's own band
    f0 : np.ndarray [shape=(r,)] F0 in Hz
    df : bin spacing in Hz
    n_harm : harmonics per row, H
    amp : np.ndarray [shape=(r, H)] out: the dB value of the peak nearest ``h F0`` (COVAREP
        compares 1-based bin numbers, frequency + 1 Hz, with ``h F0``; the lower peak on
        a tie), NaN in a row without peaks
    counts : np.ndarray [shape=(r,), int] out: peaks kept per row
    """
    r, nb = db.shape
    pos = np.empty(nb)
    val = np.empty(nb)
    keep = np.empty(nb, dtype=np.bool_)
    drop = np.empty(nb, dtype=np.bool_)
    for i in range(r):
        n_pk = 0
        for k in range(min(nb - 2, nb_row[i] - 2)):  # a peak at bin k + 1, in the band
            x0, x1, x2 = db[i, k], db[i, k + 1], db[i, k + 2]
            if x1 > x0 and x1 >= x2:
                b = 0.5 * (x2 - x0)
                a = x1 - b - x0
                off = 0.5 * b / a if a > 0 else 0.0
                val[n_pk] = x1 + 0.25 * b * b / a if a > 0 else x1
                pos[n_pk] = (k + 1 + off) * df
                keep[n_pk] = True
                n_pk += 1
        # the width rule: while two neighbouring peaks lie <= F0 / 2 apart, the lower one
        # goes (the right one on equal values), all such pairs at once, then again
        w = f0[i] / 2
        while True:
            any_close = False
            for q in range(n_pk):
                drop[q] = False
            prev = -1
            for q in range(n_pk):
                if not keep[q]:
                    continue
                if prev >= 0 and pos[q] - pos[prev] <= w:
                    any_close = True
                    if val[prev] >= val[q]:
                        drop[q] = True
                    else:
                        drop[prev] = True
                prev = q
            if not any_close:
                break
            for q in range(n_pk):
                if drop[q]:
                    keep[q] = False
        m = 0
        for q in range(n_pk):  # compact the kept peaks
            if keep[q]:
                pos[m], val[m] = pos[q], val[q]
                m += 1
        counts[i] = m
        base = i * 1e6
        j = 0
        for hh in range(n_harm):
            if m == 0:
                amp[i, hh] = np.nan
                continue
            tk = base + (hh + 1) * f0[i]
            while j < m and (base + pos[j]) + 1.0 < tk:
                j += 1
            dl = abs(tk - ((base + pos[j - 1]) + 1.0)) if j > 0 else np.inf
            dr = abs(((base + pos[j]) + 1.0) - tk) if j < m else np.inf
            amp[i, hh] = val[j] if dr < dl else val[j - 1]


@_compiled
def _autocorr(x: np.ndarray, n: int, order: int, r: np.ndarray) -> None:
    """``r[k] = sum_t x[t] x[t + k]``, k = 0..order, over ``x[:n]`` (each lag its own
    accumulator, summed in time order; four lags per pass over the row, in registers)."""
    k = 0
    while k <= order:
        if k + 3 <= order:
            a0 = a1 = a2 = a3 = 0.0
            stop = max(n - k - 3, 0)  # lag k + 3 runs to t = n - 4 - k
            for t in range(stop):
                xt = x[_u(t)]
                v = _u(t + k)
                a0 += xt * x[v]
                a1 += xt * x[v + 1]
                a2 += xt * x[v + 2]
                a3 += xt * x[v + 3]
            for t in range(stop, n):  # the longer lags' last terms
                xt = x[_u(t)]
                if t + k < n:
                    a0 += xt * x[_u(t + k)]
                if t + k + 1 < n:
                    a1 += xt * x[_u(t + k + 1)]
                if t + k + 2 < n:
                    a2 += xt * x[_u(t + k + 2)]
            r[k], r[k + 1], r[k + 2], r[k + 3] = a0, a1, a2, a3
            k += 4
        else:
            a0 = 0.0
            for t in range(max(n - k, 0)):
                a0 += x[_u(t)] * x[_u(t + k)]
            r[k] = a0
            k += 1


@_compiled
def _levinson(r: np.ndarray, order: int, a: np.ndarray, tmp: np.ndarray) -> None:
    """dsp.levinson of one autocorrelation sequence into ``a[:order + 1]`` (the same
    white-noise floor and error floor)."""
    a[0] = 1.0
    for j in range(1, order + 1):
        a[j] = 0.0
    err = r[0] * (1.0 + 1e-9) + 1e-12
    for i in range(1, order + 1):
        acc = r[i]
        for j in range(1, i):
            acc += a[j] * r[i - j]
        k = -acc / err
        for j in range(1, i):
            tmp[j] = a[j] + k * a[i - j]
        for j in range(1, i):
            a[j] = tmp[j]
        a[i] = k
        err = err * max(1.0 - k * k, 1e-12)


@_compiled
def _leaky(x: np.ndarray, n: int, leak: float, out: np.ndarray) -> None:
    """``out[t] = x[t] + leak out[t - 1]`` (``lfilter([1], [1, -leak])``, zero state)."""
    acc = 0.0
    for t in range(n):
        acc = x[_u(t)] + leak * acc
        out[_u(t)] = acc


@_compiled
def iaif_frames(xf: np.ndarray, hw: np.ndarray, lens: np.ndarray, ramp: np.ndarray,
                p_vt: int, p_gl: int, leak: float, g: np.ndarray, dg: np.ndarray) -> None:
    """IAIF (Alku 1992) of each GCI-synchronous frame, as glottal.iaif_gci runs it.

    Per row: the signal is the frame after a pre-frame ramp ``ramp x[0]``; a 1st-order
    glottal LPC, the vocal tract (``p_vt``) from the signal inverse-filtered by it, the
    glottis (``p_gl``) from the leaky-integrated signal inverse-filtered by that, the vocal
    tract again; every LPC of the Hann-windowed frame, every filter over ramp and frame.

    Parameters
    ----------
    xf : np.ndarray [shape=(r, W)] high-passed frames (row i valid up to ``lens[i]``)
    hw : np.ndarray [shape=(r, W)] their Hann windows
    lens : np.ndarray [shape=(r,), int] frame lengths
    ramp : np.ndarray [shape=(p_vt + 1,)] the ramp's shape (-1 to 1)
    p_vt, p_gl : LPC orders of the vocal tract and the glottis
    leak : the integrator's pole
    g, dg : np.ndarray [shape=(r, W)] out: flow and flow derivative (up to ``lens[i]``)
    """
    r, width = xf.shape
    pre = len(ramp)
    p = max(p_vt, p_gl, 1)
    sig = np.empty(pre + width)
    f = np.empty(pre + width)
    lk = np.empty(pre + width)
    buf = np.empty(width)
    ac = np.empty(p + 1)
    a = np.empty(p + 1)
    tmp = np.empty(p + 1)
    for i in range(r):
        n = lens[i]
        total = pre + n
        for j in range(pre):
            sig[j] = ramp[j] * xf[i, 0]
        for t in range(n):
            sig[_u(pre + t)] = xf[i, _u(t)]
            buf[_u(t)] = xf[i, _u(t)] * hw[i, _u(t)]
        _autocorr(buf, n, 1, ac)  # glottal contribution, 1st order
        _levinson(ac, 1, a, tmp)
        _causal_fir(sig, total, a, 2, False, f)
        for t in range(n):
            buf[_u(t)] = f[_u(pre + t)] * hw[i, _u(t)]
        _autocorr(buf, n, p_vt, ac)  # vocal tract
        _levinson(ac, p_vt, a, tmp)
        _causal_fir(sig, total, a, p_vt + 1, False, f)
        _leaky(f, total, leak, lk)
        for t in range(n):
            buf[_u(t)] = lk[_u(pre + t)] * hw[i, _u(t)]
        _autocorr(buf, n, p_gl, ac)  # glottis
        _levinson(ac, p_gl, a, tmp)
        _causal_fir(sig, total, a, p_gl + 1, False, f)
        _leaky(f, total, leak, lk)
        for t in range(n):
            buf[_u(t)] = lk[_u(pre + t)] * hw[i, _u(t)]
        _autocorr(buf, n, p_vt, ac)  # vocal tract, second round
        _levinson(ac, p_vt, a, tmp)
        _causal_fir(sig, total, a, p_vt + 1, False, f)
        _leaky(f, total, leak, lk)
        for t in range(n):
            dg[i, _u(t)] = f[_u(pre + t)]
            g[i, _u(t)] = lk[_u(pre + t)]


@_compiled
def lp_residual_ola(x: np.ndarray, x_lpc: np.ndarray, cross: bool, orders: np.ndarray,
                    n_fr: int, win: int, hop: int, w: np.ndarray, out: np.ndarray) -> None:
    """Frame-wise LP inverse filtering and overlap-add, as dsp.lpc_residuals (and, with
    ``cross``, dsp.lpc_residual_cross) compute them.

    Parameters
    ----------
    x : np.ndarray [shape=(N,)] the signal, zero-padded to ``N >= (n_fr - 1) hop + win``
    x_lpc : np.ndarray [shape=(N,)] the signal whose frames give the LPC (``x`` itself
        unless ``cross``)
    cross : whether the LPC comes from ``x_lpc`` (then the residual is rescaled to the
        energy of the ``x`` frame, else to the autocorrelation's lag 0: the same value)
    orders : np.ndarray [shape=(k,), int] LPC orders
    n_fr : frames, starting at 0, hop, 2 hop, ...
    win, hop : frame length and shift (samples)
    w : np.ndarray [shape=(win,)] analysis window
    out : np.ndarray [shape=(k, N)] out (zeroed here): the residual of each order, frames
        added in time order
    """
    p = 0
    for o in orders:
        p = max(p, o)
    seg = np.empty(win)
    seg_l = np.empty(win)
    res = np.empty(win)
    ac = np.empty(p + 1)
    a = np.empty(p + 1)
    tmp = np.empty(p + 1)
    out[:, :] = 0.0
    for f in range(n_fr):
        o0 = f * hop
        for t in range(win):
            seg[_u(t)] = x[_u(o0 + t)] * w[_u(t)]
        if cross:
            for t in range(win):
                seg_l[_u(t)] = x_lpc[_u(o0 + t)] * w[_u(t)]
            _autocorr(seg_l, win, p, ac)
            e_seg = 0.0
            for t in range(win):
                e_seg += seg[_u(t)] * seg[_u(t)]
        else:
            _autocorr(seg, win, p, ac)
            e_seg = ac[0]
        for q in range(len(orders)):
            _levinson(ac, orders[q], a, tmp)
            _causal_fir(seg, win, a, orders[q] + 1, False, res)
            e_res = 0.0
            for t in range(win):
                e_res += res[_u(t)] * res[_u(t)]
            g = np.sqrt(e_seg / max(e_res, 1e-20))
            for t in range(win):
                out[q, _u(o0 + t)] += res[_u(t)] * g


@_compiled
def lag_dft_at(x: np.ndarray, f: np.ndarray, cos_t: np.ndarray, msin_t: np.ndarray,
               out: np.ndarray) -> None:
    """``|sum_{l=1}^{L-1} R_i[l] e^(-2 pi i (l - 1) f_i / N)|`` per row: the N-point DFT, at
    its own whole bin ``0 <= f_i``, of row i's autocorrelation ``R_i[l] = sum_t x[i, t]
    x[i, t + l]`` at lags 1..L-1 (as stored from lag 1 on), without forming it.

    ``sum_{l >= 1} R[l] e^(-i w l) = sum_t x_t e^(i w t) T_t`` with the suffix sums ``T_t =
    sum_{u > t} x_u e^(-i w u)``: one pass from the end of the row, ``O(L)`` per row
    instead of two DFTs of ``2 L`` points and an ``L``-term sum (the lag offset of 1 is a
    unit phase factor, which the magnitude drops). ``e^(-i w t)`` is read from the tables
    ``cos_t`` and ``msin_t`` (cos and -sin of ``2 pi k / N``, k = 0..N-1) at ``t f_i mod
    N``.

    Parameters
    ----------
    x : np.ndarray [shape=(m, L)] frames
    f : np.ndarray [shape=(m,), int] bins (>= 0)
    cos_t, msin_t : np.ndarray [shape=(N,)]
    out : np.ndarray [shape=(m,)] out
    """
    n_tab = len(cos_t)
    m, L = x.shape
    for i in range(m):
        fi = f[i] % n_tab
        k = (fi * (L - 1)) % n_tab
        t_re = 0.0
        t_im = 0.0
        s_re = 0.0
        s_im = 0.0
        for t in range(L - 1, -1, -1):
            c = cos_t[k]
            s = msin_t[k]
            xt = x[i, t]
            # S += x_t conj(e_t) T, e_t = c + i s
            s_re += xt * (c * t_re + s * t_im)
            s_im += xt * (c * t_im - s * t_re)
            t_re += xt * c
            t_im += xt * s
            k -= fi
            if k < 0:
                k += n_tab
        out[i] = np.hypot(s_re, s_im)


@_compiled
def _nan_max(a: float, b: float) -> float:
    """``np.maximum``: NaN wins."""
    return a if a != a or a >= b else b


@_compiled
def _nan_min(a: float, b: float) -> float:
    """``np.minimum``: NaN wins."""
    return a if a != a or a <= b else b


@_compiled
def ifp_min_peaks(acf: np.ndarray, tol: int, out: np.ndarray) -> None:
    """The creak detector's intra-frame periodicity from normalised autocorrelation rows.

    Per row: the maximum ``acf[j*]`` (the first, NaN counting as largest, as
    ``np.argmax``), then the least of it and of the maxima of ``acf`` within ``tol`` lags
    of each multiple ``k (j* + 1)`` (1-based, k = 2, 3, ... while below the row's length):
    COVAREP ``get_creak_ifp``'s harmonic check. NaN propagates (``np.minimum``); a NaN
    result becomes 0 and +-inf the largest finite magnitude (``np.nan_to_num``).

    Parameters
    ----------
    acf : np.ndarray [shape=(m, K)] autocorrelation at lags 0..K-1, normalised, lags below
        ``tol`` set to 0
    tol : peak tolerance (lags)
    out : np.ndarray [shape=(m,)] out
    """
    m, K = acf.shape
    big = np.finfo(np.float64).max
    for i in range(m):
        mx = 0
        best = acf[i, 0]
        if best == best:
            for j in range(1, K):
                v = acf[i, j]
                if v != v:
                    mx = j
                    best = v
                    break
                if v > best:
                    mx = j
                    best = v
        res = best
        m1 = mx + 1
        mult = 2
        while m1 * mult < K:
            c = m1 * mult
            b0 = max(c - tol, 1) - 1
            b1 = min(c + tol, K)
            w = -np.inf
            for j in range(b0, b1):
                w = _nan_max(acf[i, j], w)
            res = _nan_min(res, w)
            mult += 1
        if res != res:
            res = 0.0
        elif res == np.inf:
            res = big
        elif res == -np.inf:
            res = -big
        out[i] = res


@_compiled(inline="always")
def _wrap_pi(p: float) -> float:
    """An angle wrapped to [-pi, pi) (hmpd._wrap)."""
    return p - (2 * np.pi) * np.floor((p + np.pi) / (2 * np.pi))


@_compiled
def phase_distortion_nodes(harm: np.ndarray, max_h: np.ndarray, fh_bins: np.ndarray,
                           min_phase: np.ndarray, rnd: np.ndarray, out: np.ndarray) -> None:
    """HMPD's phase distortion at the harmonics, as hmpd.phase_distortion_bins computes
    it: per frame the harmonics' phases less the vocal-tract (minimum) phase read linearly
    at ``h F0``, ``PD_h = wrap(phi_h - phi_{h-1} - phi_1)``, the fixed pseudo-random phases
    beyond the frame's last harmonic (and in the two slots after the last column), ``PD_1
    = 0``, then ``np.unwrap`` along the harmonics (the same operations in the same order).

    Parameters
    ----------
    harm : np.ndarray [shape=(m, H), complex128] harmonics 1..H
    max_h : np.ndarray [shape=(m,), int] each frame's own harmonic count
    fh_bins : np.ndarray [shape=(m, H)] ``h F0`` in bins of the minimum-phase spectrum
    min_phase : np.ndarray [shape=(m, n_bins), float32] minimum phase per bin
    rnd : np.ndarray [shape=(m, H + 2)] the pseudo-random phases
    out : np.ndarray [shape=(m, H + 2)] out: the unwrapped nodes (node j at (j + 1) F0)
    """
    m, H = harm.shape
    n_bins = min_phase.shape[1]
    for i in range(m):
        phi1 = 0.0
        prev = 0.0
        for j in range(H + 2):
            if j < H:
                pos = min(fh_bins[i, j], n_bins - 1.0)
                p0 = min(int(np.floor(pos)), n_bins - 2)
                pf = pos - p0
                vtfp = min_phase[i, p0] * (1 - pf) + min_phase[i, p0 + 1] * pf
                z = harm[i, j]
                phi = _wrap_pi(np.arctan2(z.imag, z.real) - vtfp)
                if j == 0:
                    phi1 = phi
                pd = _wrap_pi(phi - prev - phi1)
                prev = phi
                v = rnd[i, j] if j + 1 > max_h[i] else pd
            else:
                v = rnd[i, j]
            out[i, j] = 0.0 if j == 0 else v
        # np.unwrap (period 2 pi): corrections where a step exceeds pi, summed in order
        acc = 0.0
        last = out[i, 0]
        for j in range(1, H + 2):
            cur = out[i, j]
            dd = cur - last
            # Python's float % (numba's too) is np.mod's: the sign of the divisor
            ddmod = (dd - -np.pi) % (2 * np.pi) + -np.pi
            if ddmod == -np.pi and dd > 0:
                ddmod = np.pi
            corr = ddmod - dd
            if abs(dd) < np.pi:
                corr = 0.0
            acc += corr
            last = cur
            out[i, j] = cur + acc


@_compiled
def harmonic_interp(nodes: np.ndarray, ratio: np.ndarray, shift: int, wrap: bool,
                    out: np.ndarray) -> None:
    """Linear interpolation of per-harmonic values onto DFT bins, in single precision as
    hmpd.phase_distortion_bins computed it.

    Bin ``b`` of frame ``i`` lies at ``u = b ratio_i`` harmonics (``ratio`` = bin width /
    F0); it reads ``nodes[i, j]`` and ``nodes[i, j + 1]`` with ``j = min(max(floor(u) -
    shift, 0), H)`` at the fraction ``u - floor(u)``. With ``wrap`` the result is wrapped to
    [-pi, pi) and bins below the first harmonic (``u < 1``) are 0.

    Parameters
    ----------
    nodes : np.ndarray [shape=(m, H + 2), float32]
    ratio : np.ndarray [shape=(m,), float32]
    shift : 0 (amplitude envelope: node j at j F0) or 1 (phase distortion: node j at
        (j + 1) F0)
    wrap : wrap, and zero below the first harmonic
    out : np.ndarray [shape=(m, n_bins), float32] out
    """
    m, n_bins = out.shape
    top = nodes.shape[1] - 2
    pi = np.float32(np.pi)
    two_pi = np.float32(2 * np.pi)
    for i in range(m):
        for b in range(n_bins):
            u = np.float32(b) * ratio[i]
            fl = np.floor(u)
            fr = u - fl
            k = int(fl)
            j = min(max(k - shift, 0), top)
            lo = nodes[i, j]
            v = lo + fr * (nodes[i, j + 1] - lo)
            if wrap:
                v = np.float32(0.0) if k < 1 else v - two_pi * np.floor((v + pi) / two_pi)
            out[i, b] = v


@_compiled
def te_fold(lo: np.ndarray, hi: np.ndarray, alt: np.ndarray, n: int, S: np.ndarray,
            D: np.ndarray, total: np.ndarray, c_half: np.ndarray) -> None:
    """The true envelope's folded spectrum (mcep.env_te), row by row: ``S = lo + hi``
    (``S[:, h] = lo[:, h]``), ``D = lo - hi`` (0 at bin h), the energy of the cepstrum
    below N/2 by Parseval's theorem (``total``) and the cepstrum at N/2 (``c_half = S @
    alt``).

    Parameters
    ----------
    lo, hi : np.ndarray [shape=(r, h + 1)] log spectrum on bins 0..h and N/2..h (bin h,
        in both, holds the same value)
    alt : np.ndarray [shape=(h + 1,)] the weights of the N/2 cepstrum on S
    n : N, the DFT length
    S, D : np.ndarray [shape=(r, h + 1)] out
    total, c_half : np.ndarray [shape=(r,)] out
    """
    r, w = lo.shape
    h = w - 1
    for i in range(r):
        # partial sums in a fixed order (a row's value does not depend on the rows beside
        # it), two bins per pass: not one chain of dependent additions
        e0 = e1 = e2 = e3 = 0.0
        c0 = c1 = 0.0
        k = 0
        while k + 1 < h:
            a0, b0 = lo[i, _u(k)], hi[i, _u(k)]
            a1, b1 = lo[i, _u(k + 1)], hi[i, _u(k + 1)]
            s0, s1 = a0 + b0, a1 + b1
            S[i, _u(k)], S[i, _u(k + 1)] = s0, s1
            D[i, _u(k)], D[i, _u(k + 1)] = a0 - b0, a1 - b1
            e0 += a0 * a0
            e1 += b0 * b0
            e2 += a1 * a1
            e3 += b1 * b1
            c0 += s0 * alt[_u(k)]
            c1 += s1 * alt[_u(k + 1)]
            k += 2
        if k < h:
            a0, b0 = lo[i, _u(k)], hi[i, _u(k)]
            S[i, _u(k)], D[i, _u(k)] = a0 + b0, a0 - b0
            e0 += a0 * a0
            e1 += b0 * b0
            c0 += (a0 + b0) * alt[_u(k)]
        a, b = lo[i, h], hi[i, h]
        S[i, h], D[i, h] = a, 0.0
        e0 += a * a
        e1 += b * b
        c0 += a * alt[h]
        total[i] = (2.0 * ((e0 + e2) + (e1 + e3) - a * a) - lo[i, 0] ** 2
                    - hi[i, 0] ** 2) / n
        c_half[i] = c0 + c1


@_compiled
def te_step(cc2: np.ndarray, order: np.ndarray, qe: int, win: np.ndarray,
            total: np.ndarray, c_half: np.ndarray, cc: np.ndarray) -> None:
    """One update of the true envelope's cepstrum (mcep.env_te), row by row: the
    quefrencies within the row's order, their energy inside and beyond it, and ``cc +=
    lambda w (c_A - cc)`` with ``lambda = (E_in + E_out) / E_in``.

    Parameters
    ----------
    cc2 : np.ndarray [shape=(r, q)] the cepstrum of the raised spectrum, quefrencies 0, 2,
        4, ... in columns ``0..qe-1``, then 1, 3, ... (doubled for q > 0)
    order : np.ndarray [shape=(r,), int] each row's cepstral order
    qe : the number of even quefrencies
    win : np.ndarray [shape=(r, q)] the smoothing window (0 beyond the order)
    total, c_half : np.ndarray [shape=(r,)] from :func:`te_fold`
    cc : np.ndarray [shape=(r, q)] in / out: the envelope's cepstrum
    """
    r, q = cc2.shape
    for i in range(r):
        o = order[i]
        ne = min(o // 2 + 1, qe)  # even quefrencies 0, 2, .. <= o
        no = min((o + 1) // 2, q - qe)  # odd ones 1, 3, .. <= o
        p0 = cc2[i, 0] * cc2[i, 0]
        a0 = a1 = 0.0
        j = 0
        while j + 1 < ne:
            a0 += cc2[i, _u(j)] * cc2[i, _u(j)]
            a1 += cc2[i, _u(j + 1)] * cc2[i, _u(j + 1)]
            j += 2
        if j < ne:
            a0 += cc2[i, _u(j)] * cc2[i, _u(j)]
        j = 0
        while j + 1 < no:
            a0 += cc2[i, _u(qe + j)] * cc2[i, _u(qe + j)]
            a1 += cc2[i, _u(qe + j + 1)] * cc2[i, _u(qe + j + 1)]
            j += 2
        if j < no:
            a0 += cc2[i, _u(qe + j)] * cc2[i, _u(qe + j)]
        e2 = a0 + a1
        inner = p0 + 0.5 * (e2 - p0)
        e_out = 2.0 * np.sqrt(max(0.5 * (total[i] - inner - c_half[i] ** 2), 0.0))
        e_in = np.sqrt(e2)
        lam = (e_in + e_out) / max(e_in, 1e-20)
        for j in range(ne):
            cc[i, _u(j)] += (cc2[i, _u(j)] - cc[i, _u(j)]) * win[i, _u(j)] * lam
        for j in range(no):
            cc[i, _u(qe + j)] += ((cc2[i, _u(qe + j)] - cc[i, _u(qe + j)])
                                  * win[i, _u(qe + j)] * lam)


@_compiled
def te_raise(V_e: np.ndarray, V_o: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """Raise the folded log spectrum to the envelope (mcep.env_te): ``lo = max(lo, V_e +
    V_o)``, ``hi = max(hi, V_e - V_o)`` (bin h: ``V_e + V_o`` on both).

    Parameters
    ----------
    V_e, V_o : np.ndarray [shape=(r, h + 1)] the envelope's even / odd quefrency parts
    lo, hi : np.ndarray [shape=(r, h + 1)] in / out
    """
    r, w = lo.shape
    h = w - 1
    for i in range(r):
        for k in range(h):
            e, o = V_e[i, _u(k)], V_o[i, _u(k)]
            lo[i, _u(k)] = max(lo[i, _u(k)], e + o)
            hi[i, _u(k)] = max(hi[i, _u(k)], e - o)
        v = V_e[i, h] + V_o[i, h]
        lo[i, h] = max(lo[i, h], v)
        hi[i, h] = max(hi[i, h], v)
