"""openSMILE functionals as vocalmind feature sets: ``egemaps``, ``compare``, ``is09``, ``opensmile``.

All four run the openSMILE library shipped inside the ``opensmile`` Python package
(audEERING) on the 16 kHz mono signal and return one row of utterance-level functionals.

- ``egemaps``: eGeMAPS v02, 88 functionals (Eyben et al., IEEE TAC 2016).
- ``compare``: ComParE 2016, 6,373 functionals (Schuller et al., Interspeech 2016).
- ``is09``: the INTERSPEECH 2009 Emotion Challenge set, 384 functionals (Schuller, Steidl &
  Batliner, Interspeech 2009): 16 low-level descriptors (RMS energy, zero-crossing rate,
  voicing probability, F0 and MFCC 1-12, each smoothed by a 3-frame moving average) and
  their first-order deltas, times 12 functionals (max, min, range, position of max and of
  min, arithmetic mean, linear-regression offset, slope and quadratic error, standard
  deviation, skewness, kurtosis). It is the baseline set of seed document 003.
  opensmile-python 2.6 ships this configuration (``opensmile.FeatureSet.IS09``, file
  ``is09-13/IS09_emotion.conf``, already adapted to the package's external source and
  sink), so vocalmind uses it as is rather than keeping a hand-written copy.
- ``opensmile``: any other openSMILE configuration, ``config=`` either a name of
  :class:`opensmile.FeatureSet` (e.g. ``"emobase"``, ``"IS10"``) or the path of a custom
  ``.conf`` file written to the template in :class:`opensmile.Smile`'s docstring (an
  ``\\{\\cm[source{?}...]}`` include for the input and ``\\{\\cm[sink{?}...]}`` for the
  output). A custom file's content is part of the set's settings, so editing it
  invalidates cached features.

The :class:`opensmile.Smile` object is built lazily, once per process and configuration
(:func:`_smile`), and is never pickled with the feature set, so sets travel cheaply to
worker processes.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vocalmind.errors import ConfigError, FeatureError
from vocalmind.features.base import FeatureSet, register

__all__ = ["OpenSmileSet", "EGeMAPS", "ComParE", "IS09"]


@functools.lru_cache(maxsize=8)
def _smile(config: str) -> Any:
    """The openSMILE extractor for ``config`` (a FeatureSet name or a .conf path), per process."""
    import opensmile

    if config in opensmile.FeatureSet.__members__:
        feature_set: Any = opensmile.FeatureSet[config]
    else:
        feature_set = config
    return opensmile.Smile(
        feature_set=feature_set,
        feature_level=opensmile.FeatureLevel.Functionals,
        # one worker per Smile object: parallelism is the executor's job, not openSMILE's
        num_workers=1,
        multiprocessing=False,
    )


def _opensmile_version() -> str:
    import opensmile

    return str(opensmile.__version__)


class OpenSmileSet(FeatureSet):
    """Functionals of one openSMILE configuration.

    Parameters
    ----------
    config : str
        A member name of :class:`opensmile.FeatureSet` (``"eGeMAPSv02"``, ``"IS09"`` ...) or
        the path of a custom openSMILE configuration file with external source and sink.

    Raises
    ------
    ConfigError
        If ``config`` is neither a known openSMILE set nor an existing ``.conf`` file.

    Examples
    --------
    >>> import numpy as np
    >>> fs = OpenSmileSet(config="eGeMAPSv02")
    >>> y = (0.1 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype("float32")
    >>> fs.process_signal(y, 16000).shape
    (88,)
    """

    def __init__(self, *, config: str) -> None:
        import opensmile

        config = str(config)
        if config not in opensmile.FeatureSet.__members__:
            path = Path(config).expanduser().resolve()
            if not path.is_file():
                known = ", ".join(opensmile.FeatureSet.__members__)
                raise ConfigError(
                    f"openSMILE config {config!r} is neither a built-in set ({known}) "
                    "nor an existing .conf file"
                )
            config = str(path)
        super().__init__(config=config)
        self._config = config

    def settings(self) -> dict[str, Any]:
        """Settings keying the cache: the config (and its content hash) and openSMILE's version."""
        out: dict[str, Any] = {**super().settings(), "opensmile": _opensmile_version()}
        path = Path(self._config)
        if path.is_file():
            # a custom config is keyed by content: editing it must invalidate cached features
            out["config_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out

    def names(self) -> list[str]:
        """Feature names as openSMILE reports them (e.g. ``F0semitoneFrom27.5Hz_sma3nz_amean``)."""
        return list(_smile(self._config).feature_names)

    def process_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Functionals of one signal.

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
            If ``y`` is not 1-D, ``sr`` is not 16 kHz, or the signal is too short for
            openSMILE to produce a frame.
        """
        y = np.asarray(y)
        if y.ndim != 1:
            raise FeatureError(f"{self.name}: expected a mono signal of shape (n,), got {y.shape}")
        if sr != self.sample_rate:
            raise FeatureError(f"{self.name}: expected {self.sample_rate} Hz, got {sr} Hz; resample first")
        if y.size == 0:
            raise FeatureError(f"{self.name}: empty signal")
        # opensmile scales by 32768 and casts to int16: a sample at +1.0 would wrap to -32768
        y = np.clip(y.astype(np.float32, copy=False), -1.0, 32767 / 32768)
        with warnings.catch_warnings():
            # "Segment too short, filling with NaN" is turned into a FeatureError below
            warnings.simplefilter("ignore", UserWarning)
            df = _smile(self._config).process_signal(y, sr)
        out = df.to_numpy(dtype=np.float64).reshape(-1)
        if np.isnan(out).all():
            raise FeatureError(
                f"{self.name}: signal of {y.size / sr:.3f} s is too short for openSMILE "
                f"(every feature undefined)"
            )
        return out


@register("opensmile")
class _GenericOpenSmile(OpenSmileSet):
    """Any openSMILE configuration by name or path (see :class:`OpenSmileSet`)."""


@register("egemaps")
class EGeMAPS(OpenSmileSet):
    """eGeMAPS v02: 88 functionals of pitch, loudness, voice quality, formants and spectrum."""

    def __init__(self) -> None:
        super().__init__(config="eGeMAPSv02")


@register("compare")
class ComParE(OpenSmileSet):
    """ComParE 2016: 6,373 brute-force functionals of 65 LLDs and their deltas."""

    def __init__(self) -> None:
        super().__init__(config="ComParE_2016")


@register("is09")
class IS09(OpenSmileSet):
    """INTERSPEECH 2009 Emotion Challenge: 16 LLDs + deltas x 12 functionals = 384."""

    def __init__(self) -> None:
        super().__init__(config="IS09")
