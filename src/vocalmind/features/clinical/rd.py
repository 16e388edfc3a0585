"""Rd and its confidence by the mean squared phase (MSP), as COVAREP ``rd_msp``.

Degottex, Roebel & Rodet 2011: on each sinusoidal-analysis frame (one per SRH frame, the
frames of MCEP and HMPD), the harmonic spectrum ``M_k`` (k = 0..H, H = round((fs/2 -
F0/2) / F0); DC and the last harmonic replaced by their neighbours' magnitudes) is divided
by the spectrum ``G_k(Rd)`` of an LF glottal pulse of shape Rd (Fant 1995's R-parameter
regression, ``Rd2tetpta``; analytic spectrum ``gfm_spec_lf``); what is left should be a
minimum-phase vocal-tract filter. The error is the mean squared phase distortion of
harmonics 2..8 of ``N / minphase(|N|)`` (``N = M / G``, minimum phase by the folded real
cepstrum over the 2H-point harmonic spectrum); Rd minimises it over [0.3, 2.5] and
``Rd_conf = 1 - sqrt(err) / pi``.

COVAREP's quirk, reproduced: its harmonic spectra pass twice through ``hspec2spec`` as
column vectors, whose ``'`` (conjugate transpose) conjugates them; the net effect is that
the phase of ``N`` is ``angle(M) + angle(G)``, i.e. the frame is matched against the
time-reversed LF pulse (``conj(G)``). Dividing by ``G`` itself (the paper's method) agrees
with COVAREP's output at r 0.60 on the reference recordings; with the conjugate, 0.92.

Computation: the minimum phase is linear in the log magnitudes, so the phases of harmonics
0..8 split into a part of the frame (computed once) and a part of (H, Rd) (a cached
table); the error of every frame is then a table lookup per candidate Rd. The harmonic
amplitudes and phases are COVAREP's peak-picked ones (:mod:`~vocalmind.features.clinical.sins`,
4096-point DFT), and the minimum is searched as COVAREP's ``fminbnd`` (Brent's
golden-section and parabolic steps, TolX 0.01) on LF spectra tabulated every 0.001 of Rd
(the one difference: Rd on that grid, not continuous).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import optimize

from vocalmind.features.clinical.dsp import FS
from vocalmind.features.clinical.sins import n_harmonics

RD_LO, RD_HI, RD_STEP = 0.3, 2.5, 0.001
N_PD = 8  # harmonics whose phase distortion enters the error


def rd_to_tetpta(rd: float) -> tuple[float, float, float]:
    """LF timing (te, tp, ta as fractions of T0) from Rd (Fant 1995; COVAREP ``Rd2tetpta``)."""
    rap = (-1.0 + 4.8 * rd) / 100.0
    rkp = (22.4 + 11.8 * rd) / 100.0
    rgp = 1.0 / (4.0 * ((0.11 * rd / (0.5 + 1.2 * rkp)) - rap) / rkp)
    tp = 1.0 / (2.0 * rgp)
    return tp * (rkp + 1.0), tp, rap


def lf_spectrum(k: np.ndarray, te: float, tp: float, ta: float) -> np.ndarray:
    """Analytic spectrum of one LF flow-derivative period (T0 = 1, Ee = 1) at frequencies
    ``k`` (cycles per period), as COVAREP ``gfm_spec_lf``."""
    wg = np.pi / tp
    c = 1.0 - te

    def fb(e: float) -> float:
        return 1.0 - np.exp(-e * c) - e * ta

    e = optimize.brentq(fb, 1e-9 / ta, 10.0 / ta) if fb(10.0 / ta) < 0 else 1.0 / ta
    big_a = (1 - np.exp(-e * c)) / (e * e * ta) - c * np.exp(-e * c) / (e * ta)
    s_te, c_te = np.sin(wg * te), np.cos(wg * te)

    def fa(a: float) -> float:
        return (a * a + wg * wg) * s_te * big_a + wg * np.exp(-a * te) + a * s_te - wg * c_te

    grid = np.array([0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6])
    with np.errstate(over="ignore", invalid="ignore"):
        vals = np.array([fa(v) for v in grid])
    i = int(np.flatnonzero(np.diff(np.sign(vals)) != 0)[0])
    a = optimize.brentq(fa, grid[i], grid[i + 1])
    e0 = -1.0 / (np.exp(a * te) * s_te)
    jw = 2j * np.pi * np.asarray(k, dtype=np.float64)
    s = a - jw
    p1 = e0 / (s * s + wg * wg)
    p2 = wg + np.exp(s * te) * (s * s_te - wg * c_te)
    p3 = np.exp(-jw * te) / ((e * ta * jw) * (e + jw))
    p4 = e * (1 - e * ta) * (1 - np.exp(-jw * c)) - e * ta * jw
    return p1 * p2 + p3 * p4


@lru_cache(maxsize=1)
def _lf_table() -> tuple[np.ndarray, np.ndarray]:
    """Rd grid and the LF spectra at harmonics 1..160 (log magnitude, phase)."""
    grid = np.round(np.arange(RD_LO, RD_HI + RD_STEP / 2, RD_STEP), 6)
    k = np.arange(1, 161)
    g = np.array([lf_spectrum(k, *rd_to_tetpta(float(r))) for r in grid])
    return grid, g


@lru_cache(maxsize=256)
def _minphase_weights(h: int) -> np.ndarray:
    """W [shape=(h + 1, N_PD + 1)]: minimum phase at harmonics 0..8 = log|N_0..h| @ W.

    The 2h-point real cepstrum of the even log spectrum, folded (``[c0, 2 c1 .. 2 c_(h-1),
    c_h]``); DC and the last harmonic take their neighbours' magnitudes (folded in W).
    """
    n = 2 * h
    k = np.arange(h + 1)[:, None]
    q = np.arange(h + 1)[None, :]
    wk = np.full((h + 1, 1), 2.0)
    wk[0] = wk[-1] = 1.0
    cep = wk * np.cos(2 * np.pi * k * q / n) / n  # log|N_k| -> c_q, q = 0..h
    fold = np.full(h + 1, 2.0)
    fold[0] = fold[-1] = 1.0
    j = np.arange(N_PD + 1)[None, :]
    sine = -np.sin(2 * np.pi * np.arange(h + 1)[:, None] * j / n)  # q -> phase_j
    w = (cep * fold[None, :]) @ sine
    w[1] += w[0]
    w[h - 1] += w[h]
    w[0] = 0.0
    w[h] = 0.0
    return w


@lru_cache(maxsize=1)
def _lf_log_table() -> tuple[np.ndarray, np.ndarray]:
    """:func:`_lf_table`'s log magnitudes ``[shape=(grid, 161)]``, harmonic 1's repeated
    for DC in column 0, and ``-angle`` at harmonics 0..8 (0 at DC), computed once for
    every harmonic count (read-only)."""
    _, g = _lf_table()
    logg = np.log(np.abs(g))
    logg = np.concatenate([logg[:, :1], logg], axis=1)  # DC takes harmonic 1's magnitude
    neg_ang = -np.concatenate([np.zeros((len(g), 1)), np.angle(g[:, :N_PD])], axis=1)
    logg.flags.writeable = neg_ang.flags.writeable = False
    return logg, neg_ang


@lru_cache(maxsize=256)
def _lf_terms(h: int) -> np.ndarray:
    """Per Rd: the LF part of the phases of ``N / minphase(|N|)``, k = 0..8, for harmonic
    count h: ``-angle(G_k)`` (COVAREP's conjugate, see the module docstring) and the
    minimum phase of ``-log|G|``."""
    logg_all, neg_ang = _lf_log_table()
    logg = logg_all[:, : h + 1].copy()
    logg[:, h] = logg[:, h - 1]
    return neg_ang - logg @ _minphase_weights(h)


def _wrap(p: np.ndarray) -> np.ndarray:
    return p - 2 * np.pi * np.floor((p + np.pi) / (2 * np.pi))


def _fminbnd(f, m: int, lo: float = RD_LO, hi: float = RD_HI, tolx: float = 0.01,
             maxiter: int = 32) -> np.ndarray:
    """MATLAB ``fminbnd`` (Brent: golden section and parabolic steps) on ``m`` functions at
    once; ``f`` maps an array of ``m`` abscissae to their ``m`` values."""
    c = 0.5 * (3.0 - np.sqrt(5.0))
    eps = np.finfo(float).eps
    a, b = np.full(m, lo), np.full(m, hi)
    v = a + c * (b - a)
    w, xf = v.copy(), v.copy()
    d, e = np.zeros(m), np.zeros(m)
    fx = f(xf)
    fv, fw = fx.copy(), fx.copy()
    for _ in range(maxiter):
        xm = 0.5 * (a + b)
        tol1 = eps * np.abs(xf) + tolx / 3.0
        tol2 = 2.0 * tol1
        active = np.abs(xf - xm) > (tol2 - 0.5 * (b - a))
        if not active.any():
            break
        # a parabolic step where the previous steps allow it, else a golden-section step
        r = (xf - w) * (fx - fv)
        q = (xf - v) * (fx - fw)
        p = (xf - v) * q - (xf - w) * r
        q = 2.0 * (q - r)
        p = np.where(q > 0, -p, p)
        q = np.abs(q)
        try_par = np.abs(e) > tol1
        para = (try_par & (np.abs(p) < np.abs(0.5 * q * e)) & (p > q * (a - xf))
                & (p < q * (b - xf)))
        with np.errstate(divide="ignore", invalid="ignore"):
            d_par = np.where(para, p / np.where(para, q, 1.0), 0.0)
        x_par = xf + d_par
        near = para & (((x_par - a) < tol2) | ((b - x_par) < tol2))
        si = np.sign(xm - xf) + ((xm - xf) == 0)
        d_par = np.where(near, tol1 * si, d_par)
        e_gold = np.where(xf >= xm, a - xf, b - xf)
        d_new = np.where(para, d_par, c * e_gold)
        e_new = np.where(para, np.where(try_par, d, e), e_gold)
        si = np.sign(d_new) + (d_new == 0)
        x = xf + si * np.maximum(np.abs(d_new), tol1)
        fu = f(np.clip(x, lo, hi))
        better = fu <= fx
        a_n = np.where(better, np.where(x >= xf, xf, a), np.where(x < xf, x, a))
        b_n = np.where(better, np.where(x >= xf, b, xf), np.where(x < xf, b, x))
        to_w = ~better & ((fu <= fw) | (w == xf))
        to_v = ~better & ~to_w & ((fu <= fv) | (v == xf) | (v == w))
        v_n = np.where(better | to_w, w, np.where(to_v, x, v))
        fv_n = np.where(better | to_w, fw, np.where(to_v, fu, fv))
        w_n = np.where(better, xf, np.where(to_w, x, w))
        fw_n = np.where(better, fx, np.where(to_w, fu, fw))
        act = active
        a, b = np.where(act, a_n, a), np.where(act, b_n, b)
        v, fv = np.where(act, v_n, v), np.where(act, fv_n, fv)
        w, fw = np.where(act, w_n, w), np.where(act, fw_n, fw)
        xf, fx = np.where(act & better, x, xf), np.where(act & better, fu, fx)
        d, e = np.where(act, d_new, d), np.where(act, e_new, e)
    return np.clip(xf, lo, hi)


def rd_msp(harm: np.ndarray, f0: np.ndarray, *, sr: int = FS
           ) -> tuple[np.ndarray, np.ndarray]:
    """Rd and Rd_conf of each sinusoidal-analysis frame.

    Parameters
    ----------
    harm : np.ndarray [shape=(m, H), complex] harmonics 1..H of each frame
        (:func:`vocalmind.features.clinical.sins.harmonics`)
    f0 : np.ndarray [shape=(m,)] analysis F0 (Hz)
    sr : sample rate in Hz

    Returns
    -------
    rd, conf : np.ndarray [shape=(m,)]; NaN where the frame has fewer than 9 harmonics
    """
    m = harm.shape[0]
    rd = np.full(m, np.nan)
    conf = np.full(m, np.nan)
    if m == 0:
        return rd, conf
    grid, _ = _lf_table()
    f0 = np.asarray(f0, dtype=np.float64)
    n_h = n_harmonics(f0, sr=sr)
    # the frame's part of the phases (per harmonic count), and each row's LF table
    hs = [int(h) for h in np.unique(n_h) if N_PD + 1 <= h <= min(160, harm.shape[1])]
    if not hs:
        return rd, conf
    rows_all, parts, tab_id = [], [], []
    for t, h in enumerate(hs):
        rows = np.flatnonzero(n_h == h)
        s_h = harm[rows, :h]
        logm = np.log(np.maximum(np.abs(s_h), 1e-30)).astype(np.float64)
        logm = np.concatenate([logm[:, :1], logm], axis=1)
        logm[:, h] = logm[:, h - 1]
        ang = np.concatenate([np.zeros((len(rows), 1)), np.angle(s_h[:, :N_PD])], axis=1)
        rows_all.append(rows)
        # einsum's own loops, not BLAS: a row's products must not depend on how many rows
        # are analysed with it (a window of a long recording or the whole; Brent's search
        # turns a last-bit difference into another step, Rd by up to its tolerance)
        parts.append(ang - np.einsum("ij,jk->ik", logm, _minphase_weights(h)))  # (r, 9)
        tab_id.append(np.full(len(rows), t))
    rows = np.concatenate(rows_all)
    frame_part = np.concatenate(parts)
    tid = np.concatenate(tab_id)
    lf = np.stack([_lf_terms(h) for h in hs])  # (tables, grid, 9)

    def err(idx: np.ndarray) -> np.ndarray:
        p = frame_part - lf[tid, idx]  # phases of N / minphase(N), harmonics 0..8
        pd = _wrap(np.diff(p, axis=1) - p[:, 1:2])
        return np.mean(pd[:, 1:N_PD] ** 2, axis=1)

    best = _fminbnd(lambda x: err(np.round((x - RD_LO) / RD_STEP).astype(np.int64)),
                    len(rows))
    idx = np.round((best - RD_LO) / RD_STEP).astype(np.int64)
    rd[rows] = grid[idx]
    conf[rows] = 1.0 - np.sqrt(err(idx)) / np.pi
    return rd, conf
