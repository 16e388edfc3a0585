"""Harmonic-model phase distortion mean and deviation (HMPDM_0..24, HMPDD_0..12).

Degottex & Erro 2014: with harmonic phases ``phi_k`` (vocal-tract minimum phase removed),
the phase distortion ``PD_k = phi_{k+1} - phi_k - phi_1`` is independent of the time
position and of the linear phase; its mean over time (PDM, 6 periods x 4 analyses per period
in COVAREP = 24 frames) describes the glottal pulse shape, its circular standard deviation
after removing the trend (PDD, 2 x 4 = 8 frames) the noisiness of the source.

Here: harmonic phases are read at the nearest DFT bin of the zero-phase pitch-adaptive
spectrum (nearly flat across the main lobe of a centred symmetric window); the vocal-tract
phase is the minimum phase of a true envelope of the spectrum held flat below F0
(:func:`vocal_tract_phase`; the sub-F0 dip would otherwise bias PD by up to ~1 rad); PD is mapped onto fixed
frequencies; the temporal statistics use the voiced frames of the windows. Compression:
PDM is sampled at 25 and PDD at 13 mel-spaced frequencies 0..fs/2 (COVAREP: a lin/log
harmonic scale for PDM and a mel-like scale for PDD, via cepstral-like encoding); values are
NaN on unvoiced frames (COVAREP analyses them with F0 = 100 Hz).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import uniform_filter1d

from vocalmind.features.clinical.dsp import FS

PDM_ORDER = 24
PDD_ORDER = 12
PDM_FRAMES = 24
PDD_FRAMES = 8


def _mel_freqs(n: int, sr: int) -> np.ndarray:
    m = np.linspace(0.0, 2595.0 * np.log10(1.0 + (sr / 2) / 700.0), n)
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


def minimum_phase(cep: np.ndarray, n_bins: int) -> np.ndarray:
    """Minimum phase (rad) of envelopes given by their real cepstra.

    Parameters
    ----------
    cep : np.ndarray [shape=(m, Q)] real cepstra (natural-log amplitude) at quefrencies
        ``0..Q - 1`` of an ``N = 2 (n_bins - 1)``-point DFT, zero from ``Q`` to ``N / 2``
        (as returned by :func:`vocalmind.features.clinical.mcep.true_envelope`)
    n_bins : number of frequency bins 0..Nyquist

    Returns
    -------
    np.ndarray [shape=(m, n_bins)], float32
    """
    n = 2 * (n_bins - 1)
    q = cep.shape[1]
    if q > n // 2:
        raise ValueError(f"cepstrum has {q} quefrencies; at most {n // 2} for {n_bins} bins")
    fold = 2.0 * cep.astype(np.float32)
    fold[:, 0] = cep[:, 0]
    # phase = Im rfft(folded cepstrum) = -sum_q fold_q sin(2 pi k q / N)
    return fold @ _neg_sine(n, q)


@lru_cache(maxsize=8)
def _neg_sine(n: int, q: int) -> np.ndarray:
    k = np.arange(n // 2 + 1)[None, :]
    return (-np.sin(2.0 * np.pi * np.arange(q)[:, None] * k / n)).astype(np.float32)


def vocal_tract_phase(spec: np.ndarray, f0: np.ndarray, *, sr: int = FS,
                      n_iter: int = 2) -> np.ndarray:
    """Minimum phase of the amplitude envelopes, with the spectrum held flat below F0.

    Below the first harmonic the amplitude spectrum falls towards DC (no harmonic there);
    cepstral smoothing turns that cliff into a ripple across the whole band (the lifter is
    rectangular), and the minimum phase of a rippled envelope is far from zero (~1 rad at
    F0) even for a flat, zero-phase source. The log amplitude is therefore held at its F0
    value from DC to F0 before a true envelope (``n_iter`` iterations, order
    ``round(0.5 fs / F0)``) is taken, whose minimum phase is returned.

    Parameters
    ----------
    spec : np.ndarray [shape=(m, n_bins), complex] pitch-adaptive spectra, 0..Nyquist
    f0 : np.ndarray [shape=(m,)] Hz (the analysis F0, 50..500)
    sr : sample rate in Hz
    n_iter : true-envelope iterations after the first smoothing

    Returns
    -------
    np.ndarray [shape=(m, n_bins)] minimum phase (rad), float32
    """
    from vocalmind.features.clinical.mcep import envelope_log_amplitude, true_envelope

    m, n_bins = spec.shape
    n_fft = 2 * (n_bins - 1)
    f0c = np.clip(f0, 50.0, 500.0)
    log_amp = envelope_log_amplitude(spec)
    k0 = np.minimum(np.round(f0c * n_fft / sr).astype(np.int64), n_bins - 1)  # F0 bin
    # hold at the largest value around F0 (the harmonic peak may sit one bin off)
    rows = np.arange(m)
    peak = np.maximum.reduce([log_amp[rows, np.clip(k0 + d, 0, n_bins - 1)] for d in (-1, 0, 1)])
    col = np.arange(n_bins)[None, :]
    log_amp = np.where(col < k0[:, None], peak[:, None], log_amp)
    order = np.minimum(np.round(0.5 * sr / f0c).astype(np.int64), n_fft // 2 - 1)
    _, cep = true_envelope(log_amp, order, n_iter=n_iter)
    return minimum_phase(cep, n_bins)


def phase_distortion(spec: np.ndarray, vt_phase: np.ndarray, f0: np.ndarray, voiced: np.ndarray,
                     *, sr: int = FS) -> tuple[np.ndarray, np.ndarray]:
    """HMPD mean and deviation on the mel grids.

    Parameters
    ----------
    spec : np.ndarray [shape=(m, B), complex] zero-phase pitch-adaptive spectra
    vt_phase : np.ndarray [shape=(m, B)] vocal-tract (minimum) phase
    f0 : np.ndarray [shape=(m,)] Hz
    voiced : np.ndarray [shape=(m,), bool]
    sr : sample rate in Hz

    Returns
    -------
    pdm : np.ndarray [shape=(m, 25)] rad in (-pi, pi], NaN on unvoiced frames
    pdd : np.ndarray [shape=(m, 13)] circular std (rad), NaN on unvoiced frames
    """
    m, n_bins = spec.shape
    bin_hz = sr / (2 * (n_bins - 1))
    f0c = np.clip(f0, 50.0, 500.0)
    k_max = int(np.floor(sr / 2 / 50.0))
    k = np.arange(1, k_max + 1)[None, :]
    bins = np.round(k * f0c[:, None] / bin_hz).astype(int)
    in_band = bins < n_bins - 1
    bins = np.minimum(bins, n_bins - 1)
    rows = np.arange(m)[:, None]
    phi = np.angle(spec[rows, bins]) - vt_phase[rows, bins]
    pd = phi[:, 1:] - phi[:, :-1] - phi[:, :1]  # PD_k for k = 1..K-1
    z = np.exp(1j * pd)
    n_pd = np.maximum(in_band.sum(axis=1) - 1, 1)  # usable PD values per frame

    def on_grid(freqs: np.ndarray) -> np.ndarray:
        pos = np.clip(freqs[None, :] / f0c[:, None] - 1.0, 0.0, None)  # PD index (0-based)
        pos = np.minimum(pos, (n_pd - 1)[:, None].astype(float))
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, (n_pd - 1)[:, None])
        fr = pos - i0
        zz = (1 - fr) * z[rows, i0] + fr * z[rows, i1]
        return zz / np.maximum(np.abs(zz), 1e-12)

    w = voiced.astype(float)[:, None]

    def tmean(zz: np.ndarray, n: int) -> np.ndarray:
        num = uniform_filter1d(zz.real * w, n, axis=0) + 1j * uniform_filter1d(zz.imag * w, n,
                                                                                axis=0)
        den = uniform_filter1d(np.broadcast_to(w, zz.shape).astype(float), n, axis=0)
        return num / np.maximum(den, 1e-12)

    z_m = on_grid(_mel_freqs(PDM_ORDER + 1, sr))
    pdm = np.angle(tmean(z_m, PDM_FRAMES))
    z_d = on_grid(_mel_freqs(PDD_ORDER + 1, sr))
    trend = tmean(z_d, PDD_FRAMES)
    zc = z_d * np.exp(-1j * np.angle(trend))
    r = np.clip(np.abs(tmean(zc, PDD_FRAMES)), 1e-6, 1.0)
    pdd = np.sqrt(-2.0 * np.log(r))
    pdm[~voiced] = np.nan
    pdd[~voiced] = np.nan
    return pdm, pdd
