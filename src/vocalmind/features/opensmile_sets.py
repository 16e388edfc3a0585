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

Long recordings (over :data:`STREAM_ABOVE_S`) are streamed into openSMILE one second at a
time through a ring-buffered input level while openSMILE runs in a thread
(:func:`_streamed_functionals`), instead of being handed over whole: the package's own
path keeps the float copy, an int16 copy, a bytes copy and openSMILE's growing input
level of the entire signal at once (eGeMAPS on 60 minutes peaked at ~2.6 GB). The
functionals are identical (same configuration, same samples, same order; tested).

What still grows with the length is openSMILE's own frame-level data, linearly (eGeMAPS:
about 15 MB per minute of audio, against 35 MB on the package path). The functionals are
computed over the whole recording (``frameMode = full``: percentiles, ranges and slopes
need every frame), so the levels they read (``bufferModeConf`` in the shipped
configurations; for eGeMAPS ten smoothed low-level-descriptor levels, 56 values a frame)
keep every 10 ms frame, each with a 64-byte time record per level; at the end of input
the functionals read those levels whole, which added about as much again (10 minutes
of a synthetic tone: RSS +88 MB when the last block was written, +148 MB at the peak).
Every other level (wave, frames, spectra) is a ring buffer of a few frames. The
streamed path sizes those levels for the whole recording at the start
(:func:`_full_levels`) instead of letting openSMILE reallocate them, doubling, as they
fill, and clips the signal one block at a time instead of copying it whole. Bounding it
further would mean computing the functionals outside openSMILE (not bit-identical) or
editing the shipped configurations. Measured in docs/benchmarks.md (section
``egemaps-memory``).
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
import threading
import time
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


#: recordings longer than this (seconds) are streamed into openSMILE (see the module docstring)
STREAM_ABOVE_S = 60.0
#: input ring buffer and write block of the streamed path (seconds of audio)
_RING_S, _BLOCK_S = 10.0, 1.0
_RING_SOURCE = """[componentInstances:cComponentManager]
instance[extsource].type=cExternalAudioSource

[extsource:cExternalAudioSource]
writer.dmLevel=wave
writer.levelconf.growDyn=0
writer.levelconf.isRb=1
writer.levelconf.nT={n}
sampleRate=\\cm[sampleRate{{16000}}:sample rate]
nBits=\\cm[nBits{{16}}:sample bits]
channels=\\cm[channels{{1}}:channel size]
"""


_FULL_LEVELS = """writer.levelconf.growDyn = 1
writer.levelconf.isRb = 0
writer.levelconf.nT = {n}
"""
#: frame period of the levels the functionals read, in the shipped configurations (seconds)
_LLD_STEP_S = 0.010
#: :func:`_full_levels` sizes come in steps of this many frames (one minute at 10 ms)
_LEVEL_QUANTUM = 6000


@functools.cache
def _include_file(name: str, text: str) -> str:
    """Path of a temporary openSMILE include holding ``text`` (written once per process)."""
    folder = Path(tempfile.mkdtemp(prefix="vocalmind-opensmile-"))
    path = folder / name
    path.write_text(text, encoding="ascii")
    return str(path)


def _full_levels(n_samples: int, sr: int) -> str:
    """An include for ``bufferModeConf`` (the levels whole-recording functionals read):
    non-ring levels allocated at the start for every 10 ms frame of an ``n_samples``-long
    signal at ``sr`` Hz, rounded up to :data:`_LEVEL_QUANTUM` frames. ``growDyn`` stays on,
    so a configuration with a shorter frame step still runs (its levels then grow as
    before). The stored frames, and so the functionals, are the same; only the allocation
    pattern differs."""
    frames = int(np.ceil(n_samples / sr / _LLD_STEP_S)) + 10
    n = -(-frames // _LEVEL_QUANTUM) * _LEVEL_QUANTUM
    return _include_file(f"full_levels_{n}.conf.inc", _FULL_LEVELS.format(n=n))


def _ring_source(sr: int) -> str:
    """An openSMILE input include like the package's external wave input, but with a ring
    buffer of :data:`_RING_S` seconds instead of a level that grows with the recording."""
    return _include_file(f"ring_wave_input_{sr}.conf.inc", _RING_SOURCE.format(n=int(_RING_S * sr)))


def _streamed_functionals(smile: Any, y: np.ndarray, sr: int) -> np.ndarray | None:
    """Functionals of ``y [shape=(n,), float32]`` with openSMILE reading it as a stream:
    ``smile.run()`` in a thread, the signal written one block at a time as the ring buffer
    frees space, each block clipped to [-1, 32767/32768] (so no whole-signal copy). Returns
    None when openSMILE produced no row (signal too short). Mirrors
    :meth:`opensmile.Smile._extract` (same options, int16 input, sink callback), plus the
    ring-buffered source and the pre-sized functionals input levels (:func:`_full_levels`;
    an option a configuration does not reference is ignored by openSMILE)."""
    from opensmile.core.config import config as smile_config

    rows: list[np.ndarray] = []
    options = smile._options()
    options.update(source=_ring_source(sr), sampleRate=sr, nBits=16)
    options.setdefault("bufferModeConf", _full_levels(y.size, sr))
    engine = smile._smile(options=options)
    engine.external_sink_set_callback_ex(smile_config.EXTERNAL_OUTPUT_COMPONENT,
                                         smile._sink_callback(rows, [], []))
    failed: list[BaseException] = []

    def run() -> None:
        try:
            engine.run()
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            failed.append(e)

    worker = threading.Thread(target=run, name="opensmile-stream", daemon=True)
    worker.start()
    try:
        step = int(_BLOCK_S * sr)
        source = smile_config.EXTERNAL_SOURCE_COMPONENT
        for start in range(0, y.size, step):
            # as the package does: scale by 32768 and truncate to int16
            block = np.clip(y[start:start + step], np.float32(-1.0), np.float32(32767 / 32768))
            block = (block * np.float32(32768)).astype(np.int16).tobytes()
            while not engine.external_audio_source_write_data(source, block):
                if failed or not worker.is_alive():
                    break
                time.sleep(0.0005)  # the ring is full until openSMILE has read on
            if failed:
                break
        engine.external_audio_source_set_eoi(source)
        worker.join()
    finally:
        if worker.is_alive():
            engine.abort()
            worker.join()
        engine.free()
    if failed:
        raise FeatureError(f"openSMILE failed on a streamed recording: {failed[0]}")
    return np.vstack(rows).reshape(-1).astype(np.float64) if rows else None


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
        # (the streamed path clips block by block: no whole-signal copy)
        y = y.astype(np.float32, copy=False)
        if y.size > STREAM_ABOVE_S * sr:  # bounded copies of a long recording
            streamed = _streamed_functionals(_smile(self._config), y, sr)
            out = (np.full(len(self.names()), np.nan) if streamed is None else streamed)
        else:
            y = np.clip(y, -1.0, 32767 / 32768)
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
