"""Harmonic amplitudes and phases by peak picking, as COVAREP ``sin_analysis`` runs it for
its feature extraction (``fharmonic``, ``use_ls = false``, ``dftlen = 4096``).

COVAREP's Rd (``rd_msp``) and HMPD (``hmpd_analysis_features``) read the harmonics of its
sinusoidal-analysis frames (``spec_getsins_f0``): on the zero-phase spectrum of a 3-period
Blackman window (the window of :func:`~vocalmind.features.clinical.mcep.pitch_adaptive_spectra`)
in a 4096-point DFT, harmonic ``h = 1 .. round((fs/2 - F0/2) / F0)`` is the spectral peak
of the log amplitude nearest to ``h F0`` (VOICEBOX ``findpeaks`` with quadratic
interpolation: position and value of the parabola through the peak bin and its two
neighbours) when one lies within half a harmonic spacing, else the bin nearest ``h F0``;
its phase is the unwrapped phase of the spectrum interpolated linearly at that frequency.
Reading the bin nearest ``h F0`` instead (the earlier approach) drifts off the harmonic
peaks as ``h`` grows, by ``h`` times the F0 error, which matters above ~1.5 kHz.
"""

from __future__ import annotations

import numpy as np

from vocalmind.features.clinical.dsp import FS, matlab_round
from vocalmind.features.clinical.mcep import pitch_adaptive_spectra

#: COVAREP's DFT length for the sinusoidal analysis of its feature extraction
NFFT_SINS = 4096
#: frames per block: a block's 4096-point spectra take ~1 MB and stay in the processor's
#: cache through the peak picking (10 % less CPU than 256 frames, measured; the values do
#: not depend on the blocking)
_BLOCK = 64


def n_harmonics(f0: np.ndarray, *, sr: int = FS) -> np.ndarray:
    """COVAREP's harmonic count ``round((fs/2 - F0/2) / F0)`` per frame (at least 1)."""
    f0 = np.asarray(f0, dtype=np.float64)
    return np.maximum(matlab_round((sr / 2 - f0 / 2) / f0).astype(np.int64), 1)


def harmonics(x: np.ndarray, centres: np.ndarray, f0: np.ndarray, *, sr: int = FS,
              nfft: int = NFFT_SINS) -> tuple[np.ndarray, np.ndarray]:
    """Complex harmonic amplitudes (amplitude and phase) of sinusoidal-analysis frames.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)] speech, 16 kHz
    centres : np.ndarray [shape=(m,), int] 0-based frame centres (samples)
    f0 : np.ndarray [shape=(m,)] analysis F0 in Hz (50..500)
    sr : sample rate in Hz
    nfft : DFT length

    Returns
    -------
    harm : np.ndarray [shape=(m, H), complex128], ``H`` the largest :func:`n_harmonics`;
        column ``h - 1`` holds harmonic ``h`` (0 beyond a frame's own count)
    freq : np.ndarray [shape=(m, H)] the harmonics' frequencies in Hz (``h F0`` where no
        peak was found; 0 beyond a frame's own count)
    """
    from vocalmind.features.clinical.kernels import (  # numba: on first use
        harmonic_peaks,
        harmonic_phases,
    )

    f0 = np.clip(np.asarray(f0, dtype=np.float64), 50.0, 500.0)
    centres = np.asarray(centres, dtype=np.int64)
    m = len(centres)
    max_h = n_harmonics(f0, sr=sr)
    H = int(max_h.max()) if m else 1
    out = np.zeros((m, H), dtype=np.complex128)
    out_f = np.zeros((m, H))
    x32 = np.asarray(x).astype(np.float32, copy=False)  # converted once, not per block
    for s in range(0, m, _BLOCK):
        sl = slice(s, min(s + _BLOCK, m))
        spec = pitch_adaptive_spectra(x32, centres[sl], f0[sl], sr=sr, nfft=nfft)
        r = sl.stop - sl.start
        freq, amp = np.empty((r, H)), np.empty((r, H))
        harmonic_peaks(spec, nfft * f0[sl] / sr, H, nfft, freq, amp)
        harmonic_phases(spec, freq, amp, max_h[sl], sr / nfft, out[sl], out_f[sl])
    return out, out_f
