"""MFCC deltas and delta-deltas 1-20 (20 ms frames, 10 ms shift), librosa-compatible.

Same computation as ``librosa.feature.mfcc`` (centred constant-padded STFT, Hann 20 ms,
Slaney mel filters, ``power_to_db`` with ``top_db = 80``, orthonormal DCT-II) followed by
``librosa.feature.delta`` (Savitzky-Golay, width 9, ``mode="interp"``), written with numpy
and scipy so that the first call does not wait for librosa's numba compilation. The paper
used librosa's defaults for everything but the frame; 128 mel bands on a 320-point DFT
leave empty bands, so 40 bands are used (``N_MELS``). The 10 ms librosa frames (centres at
0, 10, 20 ms ...) are linearly interpolated to the descriptor grid (5, 15, 25 ms ...).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from scipy.signal import savgol_filter

from vocalmind.features.clinical.dsp import FS

N_MFCC = 20
N_MELS = 40
N_FFT = 320
HOP = 160


@lru_cache(maxsize=4)
def _mel_basis(sr: int) -> np.ndarray:
    import librosa  # filters.mel is plain numpy (no numba compilation)

    return librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS)


def mel_db(y: np.ndarray, *, sr: int = FS) -> np.ndarray:
    """Mel power spectrogram in dB (before librosa's ``top_db`` floor), frames every 10 ms
    centred at 0, 10, 20 ms ... of ``y``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : sample rate in Hz

    Returns
    -------
    np.ndarray [shape=(40, 1 + n // 160)]
    """
    pad = N_FFT // 2
    yp = np.pad(y.astype(np.float64), pad, mode="constant")
    n_fr = 1 + (len(yp) - N_FFT) // HOP
    view = np.lib.stride_tricks.sliding_window_view(yp, N_FFT)[::HOP][:n_fr]
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    S = np.abs(sfft.rfft(view * win, axis=1)) ** 2
    mel = _mel_basis(sr) @ S.T
    return 10.0 * np.log10(np.maximum(mel, 1e-10))


def mfcc(y: np.ndarray, *, sr: int = FS, db_max: float | None = None) -> np.ndarray:
    """MFCCs 0..19 as ``librosa.feature.mfcc(n_fft=320, hop_length=160, n_mels=40)``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : sample rate in Hz

    Returns
    -------
    np.ndarray [shape=(20, 1 + n // 160)]
    """
    db = mel_db(y, sr=sr)
    db = np.maximum(db, (db.max() if db_max is None else db_max) - 80.0)
    return sfft.dct(db, type=2, axis=0, norm="ortho")[:N_MFCC]


def mfcc_deltas(y: np.ndarray, times: np.ndarray, *, sr: int = FS,
                db_max: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Deltas and delta-deltas of MFCC 1..20 at the descriptor frame times.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    times : np.ndarray [shape=(m,)] frame centres (s)
    sr : sample rate in Hz

    Returns
    -------
    d1, d2 : np.ndarray [shape=(m, 20)]
    """
    m = mfcc(y, sr=sr, db_max=db_max)
    if m.shape[1] < 9:  # Savitzky-Golay needs one full window
        nan = np.full((len(times), N_MFCC), np.nan)
        return nan, nan.copy()
    d1 = savgol_filter(m, 9, 1, deriv=1, axis=1, mode="interp")
    d2 = savgol_filter(m, 9, 2, deriv=2, axis=1, mode="interp")
    t_l = np.arange(m.shape[1]) * HOP / sr

    def on_grid(d: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(t_l, times) - 1, 0, len(t_l) - 2)
        fr = np.clip((times - t_l[i]) / (t_l[i + 1] - t_l[i]), 0.0, 1.0)
        return (d[:, i] * (1 - fr) + d[:, i + 1] * fr).T

    return on_grid(d1), on_grid(d2)
