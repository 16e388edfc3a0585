"""Pitch-adaptive spectra, true envelope and mel-cepstrum (MCEP_0..24), as COVAREP.

COVAREP (``COVAREP_feature_extraction``) analyses one frame per SRH frame (every 10 ms,
centres 50 ms + 10 ms j, every frame, voiced or not, with SRH's F0 of that frame): the
spectrum of a 3-period MATLAB ``blackman`` window divided by its sum (``sin_analysis``),
its *true envelope* (``env_te``, Roebel & Rodet; cepstral order ``round(0.5 fs / F0)``
times 1.2, smoothing window and acceleration, edge bins pre-smoothed) and the mel-cepstrum
of order 24 (``hspec2fwcep``: the amplitude envelope resampled linearly on VOICEBOX's
``frq2mel`` scale, then ``c = [c0, 2 c1 .. 2 c24]`` of its log). The M frames are then
placed at ``round(linspace(1, n, M))`` and interpolated to the descriptor frames
(:func:`mcep_frames_to_grid`). All of this is reproduced here, vectorised.

Differences, for speed: a 1024-point DFT (COVAREP 4096: the envelope's order is at most
192, so 513 bins sample it densely) and a fixed number of true-envelope iterations
(``TE_ITER`` = 6; COVAREP iterates until the envelope is within 2 dB of every peak, at
most 200 times); amplitudes are floored 100 dB below each frame's peak (``REL_FLOOR``).
Agreement with COVAREP on its reference recordings: frame-level r >= 0.9 for every
coefficient (docs/benchmarks.md, "Clinical set vs COVAREP").
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vocalmind.errors import ParameterError
from vocalmind.features.clinical.dsp import (
    FS,
    centred_window,
    frames_at,
    matlab_round,
    zero_phase_spectrum,
)

NFFT = 1024
MCEP_ORDER = 24
TE_ITER = 6
#: iterations of the half-order envelope that pre-smooths the edge bins
PRESMOOTH_ITER = 2
#: frames per true-envelope block (frames sorted by order): a block's ~10 working arrays
#: stay in the processor's cache (30 % less CPU than 512 frames, measured on the
#: pipeline's own inputs; the envelope changes by ~1e-13 with the blocking)
_TE_BLOCK = 64
#: amplitude floor of the envelope analysis, relative to each frame's peak (-100 dB)
REL_FLOOR = 1e-5


def window_lengths(f0: np.ndarray, *, sr: int = FS) -> np.ndarray:
    """COVAREP's 3-period analysis window length ``round(3 fs / F0 / 2) * 2 + 1`` (odd)."""
    return (matlab_round(3.0 * sr / np.asarray(f0, dtype=np.float64) / 2.0) * 2 + 1).astype(
        np.int64)


def pitch_adaptive_spectra(x: np.ndarray, centres: np.ndarray, f0: np.ndarray, *,
                           sr: int = FS, nfft: int | None = None) -> np.ndarray:
    """Zero-phase spectra of 3-period Blackman windows, as COVAREP ``sin_analysis``.

    The window is MATLAB's ``blackman(L)`` (zero end points), ``L`` from
    :func:`window_lengths`, divided by its sum (COVAREP's ``normstr = 'sum(win)'``), and
    centred on sample ``centres[i]``; the spectrum is taken with the centre at time zero.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)] speech, 16 kHz
    centres : np.ndarray [shape=(m,), int] 0-based centre samples
    f0 : np.ndarray [shape=(m,)] Hz, 50..500
    sr : sample rate in Hz
    nfft : DFT length (default ``NFFT``)

    Returns
    -------
    np.ndarray [shape=(m, nfft // 2 + 1), complex64]
    """
    nfft = NFFT if nfft is None else nfft
    f0 = np.clip(np.asarray(f0, dtype=np.float64), 50.0, 500.0)
    L = window_lengths(f0, sr=sr)
    # one row width for every call (the longest window, at 50 Hz): the window sums, hence
    # the spectra, are then the same whichever frames are analysed together
    half = int(window_lengths(np.array([50.0]), sr=sr)[0] // 2) + 1
    centres = np.asarray(centres, dtype=np.int64)
    xs = x.astype(np.float32, copy=False)
    out = np.empty((len(centres), nfft // 2 + 1), dtype=np.complex64)
    # chunks of 256 frames: a chunk's frames and DFT buffer stay in the processor's cache
    for s in range(0, len(centres), 256):
        sl = slice(s, s + 256)
        # a window of L samples has its zero end points at +-(L - 1) / 2
        w = centred_window(L[sl] - 1, half)
        w /= w.sum(axis=1, keepdims=True)
        out[sl] = zero_phase_spectrum(frames_at(xs, centres[sl], half) * w, nfft)
    return out


@lru_cache(maxsize=4)
def _folded_cosines(n_fft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The real-even DFT pair between a half log spectrum (bins 0..N/2) and its cepstrum
    (quefrencies 0..N/2 - 1), split by the parity of the quefrency.

    ``cos(2 pi (N/2 - k) q / N) = (-1)^q cos(2 pi k q / N)``: bins ``k`` and ``N/2 - k``
    enter even quefrencies through their sum and odd ones through their difference, so
    each product runs over the lower N/4 + 1 bins only (half the multiply-adds of the
    plain N/2 + 1-bin products, the same values up to rounding).

    Returns
    -------
    fwd_even, fwd_odd : [shape=(N/4 + 1, N/4)] ``S @ fwd_even`` = ``irfft(A)[0::2]`` and
        ``D @ fwd_odd`` = ``irfft(A)[1::2]`` (quefrencies below N/2), with ``S_k = A_k +
        A_{N/2-k}`` (``S_{N/4} = A_{N/4}``) and ``D_k = A_k - A_{N/2-k}`` (``D_{N/4} = 0``)
    inv_even, inv_odd : [shape=(N/4, N/4 + 1)] for an even cepstrum ``c`` (0 at N/2):
        ``E = c[0::2] @ inv_even``, ``O = c[1::2] @ inv_odd``; ``rfft(c).real`` is ``E + O``
        on bins 0..N/4 and ``E - O`` mirrored on bins N/2 - k
    """
    if n_fft % 4:
        raise ParameterError(f"true envelope: DFT length {n_fft} is not a multiple of 4")
    n_low = n_fft // 4 + 1
    k = np.arange(n_low)[:, None]
    q = np.arange(n_fft // 2)[None, :]
    cos = np.cos(2.0 * np.pi * k * q / n_fft)
    wk = np.full((n_low, 1), 2.0)
    wk[0] = 1.0
    fwd = wk * cos / n_fft  # the middle bin N/4 pairs with itself: weight 2, once
    wq = np.full((1, n_fft // 2), 2.0)
    wq[0, 0] = 1.0
    inv = (wq * cos).T
    out = (fwd[:, 0::2], fwd[:, 1::2], inv[0::2], inv[1::2])
    return tuple(np.ascontiguousarray(a) for a in out)


def _te_transforms(n_fft: int, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_folded_cosines` cut to quefrencies ``0..q-1`` for :func:`env_te`. Not cached:
    an hour of speech meets ~170 orders, ~4 q kB each (tens of MB for ~1 % of the time).

    The cepstrum's doubling (q > 0) and the envelope's halving are powers of two, exact
    when folded into the transforms: the forward pair gives ``[c0, 2 c1, ...]`` directly.
    """
    fe, fo, be, bo = _folded_cosines(n_fft)
    qe = (q + 1) // 2
    f_e, f_o = fe[:, :qe] * 2.0, fo[:, : q - qe] * 2.0
    f_e[:, 0] *= 0.5
    b_e, b_o = be[:qe] * 0.5, bo[: q - qe] * 0.5
    b_e[0] *= 2.0
    return f_e, f_o, b_e, b_o


def env_te(log_amp: np.ndarray, order: np.ndarray, *, n_iter: int = TE_ITER,
           presmooth: bool = True) -> np.ndarray:
    """True envelope as COVAREP ``env_te`` (mode 1 + 512): smoothing window, acceleration.

    Per frame: the cepstral order becomes ``o = round(1.2 order)``, the cepstrum update is
    ``cc += lambda w (c_A - cc)`` with ``w`` the right half of ``hamming(2 o + 1)`` and
    ``lambda = (E_in + E_out) / E_in`` (cepstral energy inside / beyond the order; Roebel,
    Villavicencio & Rodet 2007), and the log spectrum is raised to the envelope, ``A =
    max(A, V)``. With ``presmooth`` (mode 512) the lowest ``round(0.25 N / o)`` bins and the
    top ones are first replaced by a true envelope of half the order. Differences: a fixed
    number of iterations (COVAREP stops each frame when the envelope is within 2 dB of every
    spectral peak, at most 200 iterations), and the transforms are products with the first
    ``o + 1`` cosine basis vectors (the energy beyond the order by Parseval's theorem),
    folded on the bin pairs ``k``, ``N/2 - k`` (:func:`_folded_cosines`; the spectrum is
    held as its two halves, the upper one reversed, so that every pass is contiguous).

    Parameters
    ----------
    log_amp : np.ndarray [shape=(m, N // 2 + 1)] natural-log amplitude spectra
    order : np.ndarray [shape=(m,), int] cepstral order per frame (before the 1.2 factor)
    n_iter : iterations
    presmooth : replace the edge bins by a half-order envelope first (COVAREP mode 512)

    Returns
    -------
    np.ndarray [shape=(m, N // 2 + 1), float64] log-amplitude envelope (double precision:
    single-precision products round differently with the number of frames analysed
    together, and a long recording's windows must agree with the whole)
    """
    from vocalmind.features.clinical.kernels import te_fold, te_raise, te_step  # numba

    m, n_bins = log_amp.shape
    n = 2 * (n_bins - 1)
    o = np.minimum(np.round(1.2 * np.asarray(order, dtype=np.float64)), n // 2 - 1)
    o = o.astype(np.int64)
    if m == 0:
        return log_amp.astype(np.float64)
    h = n // 4  # bins 0..h pair with n/2..h
    # (-1)^k / N with the weights of the full N-point spectrum, folded: the cepstrum at N/2
    alt = np.where(np.arange(h + 1) % 2, -2.0, 2.0) / n
    alt[0] = 1.0 / n
    env = np.empty((m, n_bins))
    col = np.arange(n_bins)[None, :]
    idx = np.argsort(o, kind="stable")
    for s in range(0, m, _TE_BLOCK):
        sel = idx[s : s + _TE_BLOCK]
        oo = o[sel]
        r = len(sel)
        q = int(oo.max()) + 1
        qe = (q + 1) // 2
        # quefrencies in the order 0, 2, 4, ..., 1, 3, ...: the even and odd halves are
        # contiguous column blocks (strided operands would leave BLAS)
        qf = np.concatenate([np.arange(0, q, 2), np.arange(1, q, 2)])[None, :]
        inside = (qf <= oo[:, None]).astype(np.float64)
        # right half of hamming(2 o + 1): 0.54 + 0.46 cos(pi j / o), j = 0..o
        jj = qf / np.maximum(oo[:, None], 1)
        win = (0.54 + 0.46 * np.cos(np.pi * jj)) * inside
        # the spectrum as two contiguous halves: bins 0..h and bins n/2..h (reversed);
        # bin h is in both
        A = log_amp[sel].astype(np.float64)
        if presmooth:  # block by block: the block's arrays stay in cache
            pE = env_te(A, matlab_round(oo / 2.0).astype(np.int64), n_iter=PRESMOOTH_ITER,
                        presmooth=False)
            slim = np.round(0.25 * n / np.maximum(oo, 1)).astype(np.int64)
            edge = (col < slim[:, None]) | (col >= n_bins - slim[:, None] + 1)
            A = np.where(edge, pE, A)
        lo = np.ascontiguousarray(A[:, : h + 1])
        hi = np.ascontiguousarray(A[:, n_bins - 1 : h - 1 : -1])
        f_e, f_o, b_e, b_o = _te_transforms(n, q)
        cc = np.zeros((r, q))
        cc2 = np.empty((r, q))
        S, D = np.empty((r, h + 1)), np.empty((r, h + 1))
        V_e, V_o = np.empty((r, h + 1)), np.empty((r, h + 1))
        total, c_half = np.empty(r), np.empty(r)
        for it in range(n_iter):
            # real cepstrum (x2 for q > 0), quefrencies 0..q-1 (even, then odd), from the
            # folded spectrum; its energy below N/2 and its value at N/2
            te_fold(lo, hi, alt, n, S, D, total, c_half)
            np.matmul(S, f_e, out=cc2[:, :qe])
            np.matmul(D, f_o, out=cc2[:, qe:])
            te_step(cc2, oo, qe, win, total, c_half, cc)  # cc += lambda w (c_A - cc)
            # V = sum_q cc_q cos(2 pi k q / N), cc holding 2 c_q for q > 0: V_e + V_o on
            # bins 0..h, V_e - V_o on bins N/2..h
            np.matmul(cc[:, :qe], b_e, out=V_e)
            np.matmul(cc[:, qe:], b_o, out=V_o)
            if it + 1 < n_iter:
                te_raise(V_e, V_o, lo, hi)  # A = max(A, V)
        env[sel, : h + 1] = V_e + V_o
        env[sel, h + 1 :] = (V_e - V_o)[:, h - 1 :: -1]
    return env


def _warp_positions(n_bins: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Interpolation indices and weights that resample a linear-frequency spectrum on
    VOICEBOX ``frq2mel``'s scale (normalised so that fs / 2 maps to fs / 2)."""
    f_lin = np.linspace(0.0, sr / 2, n_bins)
    k = np.log1p((sr / 2) / 700.0)
    # linear frequency whose mel position equals each uniform output frequency
    f_src = 700.0 * np.expm1(f_lin / (sr / 2) * k)
    pos = f_src / (sr / 2) * (n_bins - 1)
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, n_bins - 2)
    return i0, (pos - i0).astype(np.float32)


def mcep_covarep(env_log: np.ndarray, *, order: int = MCEP_ORDER, sr: int = FS) -> np.ndarray:
    """Mel-cepstrum of envelopes as COVAREP ``hspec2fwcep`` (warping ``frq2mel``).

    The amplitude envelope is resampled linearly on the mel scale, and the real cepstrum of
    its log gives ``[c0, 2 c1, ..., 2 c_order]``.

    Parameters
    ----------
    env_log : np.ndarray [shape=(m, n_bins)] natural-log amplitude, 0..Nyquist
    order : cepstral order
    sr : sample rate in Hz

    Returns
    -------
    np.ndarray [shape=(m, order + 1)]
    """
    n_bins = env_log.shape[1]
    i0, fr = _warp_positions(n_bins, sr)
    amp = np.exp(env_log.astype(np.float32))
    warped = np.log(np.maximum(amp[:, i0] * (1 - fr) + amp[:, i0 + 1] * fr, 1e-30))
    return warped.astype(np.float64) @ _cep_matrix(n_bins, order)


@lru_cache(maxsize=4)
def _cep_matrix(n_bins: int, order: int) -> np.ndarray:
    """Half log spectrum -> ``[c0, 2 c1, ..., 2 c_order]`` of the even N-point cepstrum."""
    n = 2 * (n_bins - 1)
    k = np.arange(n_bins)[:, None]
    c = np.arange(order + 1)[None, :]
    wk = np.full((n_bins, 1), 2.0)
    wk[0] = wk[-1] = 1.0
    m = wk * np.cos(2 * np.pi * k * c / n) / n
    m[:, 1:] *= 2.0
    return m


def mcep_frames_to_grid(c: np.ndarray, n_samples: int, times: np.ndarray, *,
                        sr: int = FS) -> np.ndarray:
    """Place MCEP frames on the descriptor grid as COVAREP does.

    COVAREP interpolates its M MCEP frames as if they were spread evenly over the whole
    signal, at 1-based samples ``round(linspace(1, n, M))`` (not at their analysis times;
    up to +-50 ms off at the ends), to its descriptor samples ``round(t fs)`` (1-based).

    Parameters
    ----------
    c : np.ndarray [shape=(M, d)] per-analysis-frame values
    n_samples : signal length in samples
    times : np.ndarray [shape=(m,)] descriptor frame centres (s)
    sr : sample rate in Hz

    Returns
    -------
    np.ndarray [shape=(m, d)], NaN everywhere if ``M == 0``
    """
    if len(c) == 0:
        return np.full((len(times), c.shape[1]), np.nan)
    if len(c) == 1:
        return np.repeat(c, len(times), axis=0)
    pos = np.round(np.linspace(1, n_samples, len(c)))
    q = np.round(times * sr)
    return np.stack([np.interp(q, pos, c[:, j]) for j in range(c.shape[1])], axis=1)


def mcep_to_log_envelope(c: np.ndarray, n_bins: int, *, sr: int = FS) -> np.ndarray:
    """Inverse of :func:`mcep_covarep` up to cepstral truncation (log amplitude, linear Hz).

    Parameters
    ----------
    c : np.ndarray [shape=(m, order + 1)] ``[c0, 2 c1, ...]``
    n_bins : number of output bins over 0..Nyquist
    sr : sample rate in Hz

    Returns
    -------
    np.ndarray [shape=(m, n_bins)]
    """
    f = np.linspace(0.0, sr / 2, n_bins)
    theta = np.pi * np.log1p(f / 700.0) / np.log1p((sr / 2) / 700.0)  # mel, 0..pi
    n = np.arange(c.shape[1])[:, None]
    return c @ np.cos(n * theta[None, :])


def envelope_log_amplitude(spec: np.ndarray) -> np.ndarray:
    """Natural-log amplitude of spectra, floored ``REL_FLOOR`` below each frame's peak.

    Bins further down hold only rounding noise (e.g. above 4 kHz in 8 kHz recordings
    resampled to 16 kHz), which would otherwise steer the cepstral smoothing and make the
    envelope depend on floating-point round-off.

    Parameters
    ----------
    spec : np.ndarray [shape=(m, n_bins), complex]

    Returns
    -------
    np.ndarray [shape=(m, n_bins), float32]
    """
    mag = np.abs(spec).astype(np.float32)
    floor = np.float32(REL_FLOOR) * mag.max(axis=1, keepdims=True) + np.float32(1e-9)
    return np.log(mag + floor)
