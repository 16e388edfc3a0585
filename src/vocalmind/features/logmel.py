"""Log-mel spectrograms: a plain function for deep models and a functionals set for classical ones.

:func:`logmel` is computed with :func:`librosa.feature.melspectrogram` (power spectrogram of
a centred, Hann-windowed STFT through librosa's Slaney mel filterbank) and converted to dB
with :func:`librosa.power_to_db` against a fixed reference of 1.0 (full scale). librosa is the
reference implementation the log-mel papers (seeds 000 and 004) use; it needs only numpy in
worker processes (no torch import per worker). Models that want the spectrogram on a GPU can
rebuild it with ``torch.stft`` and the same ``librosa.filters.mel`` matrix (equal to ~1e-6).

The dB reference is fixed rather than the per-utterance maximum so that level differences
between recordings survive; normalise the level beforehand (preprocessing) if that is wanted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vocalmind.errors import FeatureError
from vocalmind.features.base import FeatureSet, register

__all__ = ["logmel", "LogMelFunctionals"]

#: floor of the power spectrogram before taking dB (-100 dB re full scale)
AMIN = 1e-10


def logmel(
    y: np.ndarray,
    *,
    sr: int = 16_000,
    n_mels: int = 128,
    n_fft: int = 400,
    hop_length: int = 160,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """Log-mel power spectrogram in dB re full scale.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], mono signal in [-1, 1]
    sr : int, sample rate in Hz
    n_mels : int, number of mel bands
    n_fft : int, FFT and window length in samples (400 = 25 ms at 16 kHz)
    hop_length : int, frame step in samples (160 = 10 ms at 16 kHz)
    fmin, fmax : float, band edges in Hz; ``fmax=None`` means ``sr / 2``

    Returns
    -------
    np.ndarray [shape=(n_mels, n_frames), dtype=float32]
        ``n_frames = 1 + n // hop_length`` (centred frames), values >= -100 dB.

    Raises
    ------
    FeatureError
        If ``y`` is not 1-D or is empty, or a parameter is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.zeros(16000, dtype="float32")
    >>> logmel(y).shape
    (128, 101)
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise FeatureError(f"logmel: expected a non-empty mono signal of shape (n,), got {y.shape}")
    _check_params(sr=sr, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length, fmin=fmin, fmax=fmax)
    power = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax,
        power=2.0,
    )
    return librosa.power_to_db(power, ref=1.0, amin=AMIN, top_db=None).astype(np.float32)


def _check_params(
    *, sr: int, n_mels: int, n_fft: int, hop_length: int, fmin: float, fmax: float | None
) -> None:
    nyquist = sr / 2
    top = nyquist if fmax is None else fmax
    problems = []
    if sr <= 0:
        problems.append(f"sr={sr} must be > 0")
    if n_mels < 1:
        problems.append(f"n_mels={n_mels} must be >= 1")
    if n_fft < 16:
        problems.append(f"n_fft={n_fft} must be >= 16")
    if hop_length < 1:
        problems.append(f"hop_length={hop_length} must be >= 1")
    if not 0 <= fmin < top <= nyquist:
        problems.append(f"need 0 <= fmin ({fmin}) < fmax ({top}) <= sr/2 ({nyquist})")
    if problems:
        raise FeatureError("logmel: " + "; ".join(problems))


@register("logmel")
class LogMelFunctionals(FeatureSet):
    """Mean and standard deviation of each log-mel band (and optionally of its delta).

    Parameters
    ----------
    n_mels, n_fft, hop_length, fmin, fmax : see :func:`logmel`
    deltas : bool
        Also give mean and standard deviation of the first-order delta of each band
        (:func:`librosa.feature.delta`, 9-frame window, shorter for short signals).

    Notes
    -----
    Names are ``logmel{i:03d}_mean``, ``logmel{i:03d}_std`` for every band, then (with deltas)
    ``logmel{i:03d}_delta_mean``, ``logmel{i:03d}_delta_std``; ``2 * n_mels`` features, or
    ``4 * n_mels`` with deltas. Values are dB re full scale.

    Examples
    --------
    >>> import numpy as np
    >>> fs = LogMelFunctionals(n_mels=40, deltas=True)
    >>> fs.process_signal(np.zeros(16000, dtype="float32"), 16000).shape
    (160,)
    """

    def __init__(
        self,
        *,
        n_mels: int = 128,
        n_fft: int = 400,
        hop_length: int = 160,
        fmin: float = 0.0,
        fmax: float | None = None,
        deltas: bool = False,
    ) -> None:
        _check_params(
            sr=self.sample_rate, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length,
            fmin=fmin, fmax=fmax,
        )
        super().__init__(
            n_mels=int(n_mels), n_fft=int(n_fft), hop_length=int(hop_length),
            fmin=float(fmin), fmax=None if fmax is None else float(fmax), deltas=bool(deltas),
        )

    def names(self) -> list[str]:
        """Feature names in output order."""
        bands = [f"logmel{i:03d}" for i in range(self.params["n_mels"])]
        out = [f"{b}_{s}" for s in ("mean", "std") for b in bands]
        if self.params["deltas"]:
            out += [f"{b}_delta_{s}" for s in ("mean", "std") for b in bands]
        return out

    def process_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Band-wise statistics of the log-mel spectrogram of ``y``.

        Parameters
        ----------
        y : np.ndarray [shape=(n,), dtype=float32], mono signal in [-1, 1]
        sr : int, sample rate in Hz; must be 16000

        Returns
        -------
        np.ndarray [shape=(n_features,), dtype=float64]

        Raises
        ------
        FeatureError
            If ``sr`` is not 16 kHz, or deltas are asked for on fewer than 3 frames.
        """
        import librosa

        if sr != self.sample_rate:
            raise FeatureError(f"logmel: expected {self.sample_rate} Hz, got {sr} Hz; resample first")
        p: dict[str, Any] = {k: v for k, v in self.params.items() if k != "deltas"}
        spec = logmel(y, sr=sr, **p).astype(np.float64)
        parts = [spec.mean(axis=1), spec.std(axis=1)]
        if self.params["deltas"]:
            n_frames = spec.shape[1]
            if n_frames < 3:
                raise FeatureError(
                    f"logmel: {n_frames} frames is too short for deltas (need >= 3); "
                    "use longer segments or deltas=False"
                )
            # librosa's interp mode needs width <= n_frames; width must be odd and >= 3
            width = min(9, n_frames if n_frames % 2 else n_frames - 1)
            d = librosa.feature.delta(spec, width=width, axis=1)
            parts += [d.mean(axis=1), d.std(axis=1)]
        return np.concatenate(parts)
