"""Harmonic-model phase distortion mean and deviation (HMPDM_0..24, HMPDD_0..12).

Degottex & Erro 2014: with harmonic phases ``phi_k`` (vocal-tract minimum phase removed),
the phase distortion ``PD_k = phi_{k+1} - phi_k - phi_1`` is independent of the time
position and of the linear phase; its mean over time (PDM, 6 periods x 4 analyses per period
in COVAREP = 24 frames) describes the glottal pulse shape, its circular standard deviation
after removing the trend (PDD, 2 x 4 = 8 frames) the noisiness of the source.

Here: harmonic phases are read at the nearest DFT bin of the zero-phase pitch-adaptive
spectrum (nearly flat across the main lobe of a centred symmetric window); the vocal-tract
phase is the minimum phase of the true envelope (from its cepstrum); PD is mapped onto fixed
frequencies; the temporal statistics use the voiced frames of the windows. Compression:
PDM is sampled at 25 and PDD at 13 mel-spaced frequencies 0..fs/2 (COVAREP: a lin/log
harmonic scale for PDM and a mel-like scale for PDD, via cepstral-like encoding); values are
NaN on unvoiced frames (COVAREP analyses them with F0 = 100 Hz).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft
from scipy.ndimage import uniform_filter1d

from vocalmind.features.clinical.dsp import FS

PDM_ORDER = 24
PDD_ORDER = 12
PDM_FRAMES = 24
PDD_FRAMES = 8


def _mel_freqs(n: int, sr: int) -> np.ndarray:
    m = np.linspace(0.0, 2595.0 * np.log10(1.0 + (sr / 2) / 700.0), n)
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


def minimum_phase(cep: np.ndarray) -> np.ndarray:
    """Minimum phase (rad) of envelopes given by their real cepstra.

    Parameters
    ----------
    cep : np.ndarray [shape=(m, N)] real cepstra (natural-log amplitude)

    Returns
    -------
    np.ndarray [shape=(m, N // 2 + 1)]
    """
    n = cep.shape[1]
    fold = np.zeros_like(cep)
    fold[:, 0] = cep[:, 0]
    fold[:, 1 : n // 2] = 2 * cep[:, 1 : n // 2]
    fold[:, n // 2] = cep[:, n // 2]
    return sfft.rfft(fold, axis=1).imag


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
