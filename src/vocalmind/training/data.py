"""From manifest rows to the tensors each deep family reads.

Every row (``file``, ``start``, ``end``) of a manifest is loaded once at 16 kHz and turned
into one or more **units** -- the inputs the model sees. Predictions of the units of a row
are averaged (probabilities for classification, values for regression), so a row can be a
whole recording or a segment.

Units per input kind (rules for bad or unusual input)
-----------------------------------------------------
``logmel`` (melcnn)
    the whole clip, as a normalised 128-mel log spectrogram of any length. Clips longer
    than ``chunk_s`` are split into ``ceil(duration / chunk_s)`` equal chunks; clips
    shorter than ``min_s`` are zero-padded (silence) at the end to ``min_s``.
``logmel_segment`` (cnn_lstm) and ``waveform`` (wavelet)
    non-overlapping segments of exactly ``segment_s``. The tail is kept, zero-padded at
    the end, when it lasts at least half a segment (or is the only part); otherwise it
    is dropped. A clip shorter than one segment is therefore zero-padded to one segment.
``waveform_segments`` (ssl_attention)
    a sequence of ``segment_s`` segments (same tail rule) per row -- or per subject with
    ``sequence="subject"`` (all rows of a subject, in table order, give one sequence and
    every row gets the subject's prediction). Sequences longer than ``max_segments`` are
    split into equal parts and their predictions averaged.

A clip whose peak is below ``SILENCE_PEAK`` (-60 dBFS, the package's one silence rule,
:data:`vocalmind.audio.processing.SILENCE_DB`) raises
:class:`SilentAudioError` (an :class:`~vocalmind.errors.AudioError`); with
``on_error="skip"`` the row is skipped and the reason kept in :attr:`Units.skipped`.

Log-mel values are normalised as ``(dB + 40) / 40`` with dB relative to the clip maximum
and floored at -80 dB: silence is -1, the loudest bin 1.

Inputs of the log-mel families (``input``)
------------------------------------------
``input: logmel`` (default) computes the log-mel above. ``input: whisper`` feeds the frozen
Whisper encoder's hidden states instead (``whisper_model``: ``base``, ``tiny.en`` or a
weights folder/file, see :func:`vocalmind.encoders.whisper.load_whisper_encoder`;
``whisper_layer``: block index, default the middle block): one ``(dim, n_positions)`` map
per recording at 20 ms per position, computed on the whole row (so every frame sees its
context) and then chunked (melcnn: ``chunk_s``) or cut into ``segment_s`` segments
(cnn_lstm; same tail rule, padded with zeros). The model's ``n_mels`` becomes ``dim``.
The wavelet family always reads raw audio.

Row cache
---------
Each row's units are computed once per process and kept in memory (least recently used
first out, :data:`ROW_CACHE_MB` megabytes, env ``VOCALMIND_ROW_CACHE_MB``; 0 turns it
off), keyed on the file's path, size and modification time, ``start``/``end``, the input
kind, every data setting that changes the units (not the augmentation ones), the Whisper
weights' sha256 and the perturbation. So an experiment's outer folds, its final model, a
search's trials and inner folds and every epoch decode and transform a recording once.

Perturbation done once (``speed_perturb``, ``pitch_perturb``; training rows only)
-------------------------------------------------------------------------------
``speed_perturb: [0.9, 1.1]`` adds, for every training row, a copy played that much faster
(resampled: tempo and pitch change together, as Kaldi's speed perturbation);
``pitch_perturb: [-2, 2]`` adds copies shifted by that many semitones at the same tempo
(:func:`librosa.effects.pitch_shift`). The copies are built once, cached like any row,
carry their row's label and never reach validation or test rows. By default every copy is
trained on in every epoch (an epoch costs ``1 + len(copies)`` times as much);
``perturb_sample: true`` instead draws, per training recording and epoch, one version --
the original or one of its copies, each equally likely -- so an epoch costs what it costs
without perturbation while the network still sees every version over the epochs (the
on-the-fly speed perturbation of Kaldi/SpeechBrain recipes, from copies made once).

Per-speaker normalisation (``speaker_norm: true``, log-mel kinds only) is the deep analogue
of standardising features per speaker: every mel bin of a speaker's units is standardised
with the mean and standard deviation of that bin over all frames of that speaker's rows in
the table given (``X["subject"]``). It uses no label, so it is applied to test speakers too
(from their own audio, as the feature baseline does); a table of one row is normalised on
that row alone. Without a ``subject`` column each row is its own speaker.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vocalmind.audio.processing import SILENCE_DB
from vocalmind.errors import AudioError, ConfigError, ManifestError
from vocalmind.models import DATA_DEFAULTS
from vocalmind.progress import progress_bar

__all__ = [
    "SILENCE_PEAK", "SilentAudioError", "DATA_DEFAULTS", "split_params", "load_row",
    "logmel_db", "normalise_db", "segment_signal", "Units", "build_units", "UnitDataset",
    "collate_units", "augment_logmel", "input_kind", "inner_split", "speaker_normalise",
    "cached_rows", "clear_row_cache", "row_cache_stats", "spec_augment", "segment_frames",
    "perturb_signal", "perturbation_variants", "unit_lengths", "UNIT_INDEPENDENT",
]

SR = 16_000
SILENCE_PEAK = 10 ** (SILENCE_DB / 20)  # -60 dBFS: the package's one silence rule
PAD_VALUE = -1.0  # normalised log-mel of silence

#: data settings that change how units are used, not the units themselves (not in cache keys)
UNIT_INDEPENDENT = frozenset({"augment", "augment_p", "speaker_norm", "freq_masks",
                              "freq_mask_width", "time_masks", "time_mask_frac",
                              "speed_perturb", "pitch_perturb", "perturb_sample"})
WHISPER_HOP_S = 0.02  # one Whisper encoder position per 20 ms
_SHARED = {"n_mels"}


def input_kind(family: str) -> str:
    """The input kind of a deep family: the model-family registry's
    (:attr:`vocalmind.models.ModelFamily.input_kind`)."""
    from vocalmind.models import get_family

    return get_family(family).input_kind


class SilentAudioError(AudioError):
    """A clip holds only digital silence (peak below :data:`SILENCE_PEAK`)."""


def split_params(family: str, params: dict[str, Any] | None) -> tuple[dict, dict]:
    """Split ``params`` into (model constructor arguments, data settings).

    Examples
    --------
    >>> model, data = split_params("cnn_lstm", {"segment_s": 2.0, "channels": 8})
    >>> model, data["segment_s"], data["input"]
    ({'channels': 8, 'n_mels': 40}, 2.0, 'logmel')
    """
    if family not in DATA_DEFAULTS:
        raise ConfigError(f"no data pipeline for family {family!r}; "
                          f"choose one of {', '.join(DATA_DEFAULTS)}")
    params = dict(params or {})
    data = dict(DATA_DEFAULTS[family])
    model: dict[str, Any] = {}
    for k, v in params.items():
        if k in data:
            data[k] = v
        else:
            model[k] = v
    for k in _SHARED & set(data):
        model[k] = data[k]
    if data.get("sequence", "row") not in ("row", "subject"):
        raise ConfigError(f"sequence={data['sequence']!r}: use 'row' or 'subject'")
    for k in ("segment_s", "chunk_s", "min_s"):
        if k in data and not float(data[k]) > 0:
            raise ConfigError(f"{family}: {k}={data[k]} must be > 0 seconds")
    if data.get("input", "logmel") not in ("logmel", "whisper"):
        raise ConfigError(f"{family}: input={data['input']!r}: use 'logmel' or 'whisper'")
    for k in ("freq_masks", "time_masks", "freq_mask_width"):
        if k in data and int(data[k]) < 0:
            raise ConfigError(f"{family}: {k}={data[k]} must be >= 0")
    if "time_mask_frac" in data and not 0 <= float(data["time_mask_frac"]) < 1:
        raise ConfigError(f"{family}: time_mask_frac={data['time_mask_frac']} must be in [0, 1)")
    for k in ("speed_perturb", "pitch_perturb"):
        if k in data:
            v = data[k]
            vals = [v] if isinstance(v, int | float) else list(v or ())
            if k == "speed_perturb" and any(not 0.5 <= float(f) <= 2.0 for f in vals):
                raise ConfigError(f"{family}: speed_perturb={v}: factors must lie in [0.5, 2]")
            if k == "pitch_perturb" and any(not -12 <= float(f) <= 12 for f in vals):
                raise ConfigError(f"{family}: pitch_perturb={v}: semitones must lie in [-12, 12]")
            data[k] = tuple(float(f) for f in vals)
    if not isinstance(data.get("perturb_sample", False), bool):
        raise ConfigError(f"{family}: perturb_sample={data['perturb_sample']!r}: use true or false")
    if data.get("perturb_sample") and not perturbation_variants(data):
        raise ConfigError(f"{family}: perturb_sample=true draws one of each recording's "
                          "speed/pitch copies per epoch, but there are none: set "
                          "speed_perturb or pitch_perturb, or drop perturb_sample")
    return model, data


def perturbation_variants(data: dict[str, Any]) -> list[tuple[str, float]]:
    """The once-only perturbations of the training rows: ``[("speed", 0.9), ("pitch", 2.0) ...]``.

    Examples
    --------
    >>> perturbation_variants({"speed_perturb": (0.9, 1.1), "pitch_perturb": (1.0, 1.0)})
    [('speed', 0.9), ('speed', 1.1), ('pitch', 1.0)]
    """
    out: list[tuple[str, float]] = []
    for kind, key in (("speed", "speed_perturb"), ("pitch", "pitch_perturb")):
        for v in data.get(key) or ():
            if (kind, float(v)) not in out and not (kind == "speed" and float(v) == 1.0) \
                    and not (kind == "pitch" and float(v) == 0.0):
                out.append((kind, float(v)))
    return out


def perturb_signal(y: np.ndarray, variant: tuple[str, float], *, sr: int = SR) -> np.ndarray:
    """A speed- or pitch-perturbed copy of ``y``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float32 at ``sr``
    variant : ``("speed", factor)`` -- resampled so it plays ``factor`` times faster
        (``n / factor`` samples; pitch moves too) -- or ``("pitch", semitones)`` -- same
        length, pitch shifted by a phase vocoder (librosa)

    Returns
    -------
    np.ndarray [shape=(m,)], float32

    Examples
    --------
    >>> perturb_signal(np.zeros(16000, np.float32), ("speed", 1.25)).shape
    (12800,)
    """
    kind, v = variant
    if kind == "speed":
        import soxr

        return np.asarray(soxr.resample(y, sr * float(v), sr), dtype=np.float32)
    if kind == "pitch":
        import librosa

        return librosa.effects.pitch_shift(y, sr=sr, n_steps=float(v)).astype(np.float32)
    raise ConfigError(f"unknown perturbation {kind!r}: use 'speed' or 'pitch'")


def _load_audio(path: str, *, start: float | None, end: float | None) -> np.ndarray:
    try:
        from vocalmind.audio import load
    except ImportError:  # package __init__ not written yet: use the module directly
        from vocalmind.audio.io import load
    return load(path, sr=SR, start=start, end=end)


def load_row(row: pd.Series | dict[str, Any]) -> np.ndarray:
    """Load one manifest row at 16 kHz and check it is not silent.

    Returns
    -------
    np.ndarray [shape=(n,)], float32

    Raises
    ------
    AudioError
        Unreadable file (from :func:`vocalmind.audio.load`).
    SilentAudioError
        Peak below :data:`SILENCE_PEAK`.
    """
    def _t(v: Any) -> float | None:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    y = _load_audio(str(row["file"]), start=_t(row.get("start")), end=_t(row.get("end")))
    if y.size == 0:
        raise AudioError(row["file"], "no samples in the requested span")
    peak = float(np.max(np.abs(y)))
    if not np.isfinite(peak):
        raise AudioError(row["file"], "contains NaN or infinite samples")
    if peak < SILENCE_PEAK:
        raise SilentAudioError(row["file"], f"all silence (peak {peak:.2e} < {SILENCE_PEAK:g}); "
                               "remove the row or use on_error='skip'")
    return y.astype(np.float32, copy=False)


@functools.lru_cache(maxsize=16)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _hann(n_fft: int) -> np.ndarray:
    n = np.arange(n_fft)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)).astype(np.float32)  # periodic


def logmel_db(y: np.ndarray, *, sr: int = SR, n_mels: int, n_fft: int,
              hop_length: int) -> np.ndarray:
    """Log-mel spectrogram in dB relative to its maximum, floored at -80 dB.

    The same conventions as :func:`vocalmind.features.logmel.logmel` (librosa's centred,
    zero-padded, periodic-Hann STFT, power, Slaney mel filterbank) computed directly in
    float32 with one real FFT per frame and one matrix product: librosa's einsum path
    took ~70 % of the input-building time of a training run (cProfile, EMO-DB).
    Equal to the librosa result within 1e-3 dB (tested).

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + len(y) // hop_length)], float32
    """
    from numpy.lib.stride_tricks import sliding_window_view
    from scipy.fft import rfft

    y = np.asarray(y, dtype=np.float32)
    pad = n_fft // 2
    yp = np.pad(y, (pad, pad))
    n_frames = 1 + len(y) // hop_length
    frames = sliding_window_view(yp, n_fft)[::hop_length][:n_frames] * _hann(n_fft)
    spec = rfft(frames, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)  # (T, 1 + n_fft // 2)
    mel = _mel_basis(sr, n_fft, n_mels) @ power.T  # (n_mels, T)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db -= db.max()  # dB relative to the maximum
    return np.maximum(db, -80.0).astype(np.float32)


def normalise_db(s: np.ndarray) -> np.ndarray:
    """Map dB in [-80, 0] to [-1, 1]: ``(dB + 40) / 40``."""
    return ((s + 40.0) / 40.0).astype(np.float32)


def segment_frames(a: np.ndarray, n: int) -> np.ndarray:
    """Cut a feature map ``(dim, T)`` into segments of ``n`` frames along time, with
    :func:`segment_signal`'s tail rule (kept, zero-padded, when at least half a segment).

    Examples
    --------
    >>> segment_frames(np.ones((4, 25)), 10).shape
    (3, 4, 10)
    >>> segment_frames(np.ones((4, 3)), 10)[0, 0].tolist()
    [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    d, t = a.shape
    k_full, tail = divmod(t, n)
    k = k_full + (1 if tail and (tail * 2 >= n or k_full == 0) else 0)
    out = np.zeros((k, d, n), dtype=np.float32)
    for i in range(k):
        part = a[:, i * n:(i + 1) * n]
        out[i, :, :part.shape[1]] = part
    return out


def segment_signal(y: np.ndarray, n: int) -> np.ndarray:
    """Cut ``y`` into non-overlapping segments of ``n`` samples (tail rule in module doc).

    Examples
    --------
    >>> segment_signal(np.ones(25), 10).shape  # tail of 5 = half a segment: kept, padded
    (3, 10)
    >>> segment_signal(np.ones(24), 10).shape  # tail of 4: dropped
    (2, 10)
    >>> segment_signal(np.ones(3), 10).shape   # shorter than one segment: padded
    (1, 10)
    """
    k_full, tail = divmod(len(y), n)
    k = k_full + (1 if tail and (tail * 2 >= n or k_full == 0) else 0)
    out = np.zeros((k, n), dtype=np.float32)
    for i in range(k):
        part = y[i * n:(i + 1) * n]
        out[i, :len(part)] = part
    return out


@dataclass
class Units:
    """Model inputs built from manifest rows.

    Attributes
    ----------
    arrays : one array per unit (shape depends on the input kind)
    item : item index of each unit ``(n_units,)``
    item_rows : row positions (in the table given) of each item
    skipped : row position -> reason, for rows that gave no unit
    version : which version of its item each unit comes from ``(n_units,)``: 0 the
        recording itself, k > 0 its k-th perturbed copy; None: all 0
    """

    arrays: list[np.ndarray]
    item: np.ndarray
    item_rows: list[list[int]]
    skipped: dict[int, str] = field(default_factory=dict)
    version: np.ndarray | None = None

    def subset_items(self, items: Sequence[int]) -> Units:
        """The units of some items (item ids renumbered from 0)."""
        remap = {old: new for new, old in enumerate(items)}
        keep = [i for i, it in enumerate(self.item) if int(it) in remap]
        return Units([self.arrays[i] for i in keep],
                     np.array([remap[int(self.item[i])] for i in keep], dtype=int),
                     [self.item_rows[i] for i in items],
                     version=None if self.version is None else self.version[keep])


def _whisper_frames(y: np.ndarray, encoder: Any, layer: int) -> np.ndarray:
    """Hidden states of block ``layer``: ``(dim, n_positions)`` float32, 20 ms per position."""
    return np.ascontiguousarray(encoder.encode_signal(y, layers=[layer])[0].T, dtype=np.float32)


def _row_units(y: np.ndarray, kind: str, d: dict[str, Any],
               encoder: Any = None) -> list[np.ndarray]:
    if encoder is not None and kind in ("logmel", "logmel_segment"):
        layer = int(d["whisper_layer"]) if d.get("whisper_layer") is not None \
            else encoder.middle_layer
        if kind == "logmel":
            min_n = int(round(float(d["min_s"]) * SR))
            if len(y) < min_n:
                y = np.pad(y, (0, min_n - len(y)))
            h = _whisper_frames(y, encoder, layer)
            k = max(1, math.ceil(len(y) / (float(d["chunk_s"]) * SR)))
            return [c[None] for c in np.array_split(h, k, axis=1)]
        h = _whisper_frames(y, encoder, layer)
        frames = max(1, int(round(float(d["segment_s"]) / WHISPER_HOP_S)))
        return list(segment_frames(h, frames))
    if kind == "logmel":
        min_n = int(round(float(d["min_s"]) * SR))
        if len(y) < min_n:
            y = np.pad(y, (0, min_n - len(y)))
        k = max(1, math.ceil(len(y) / (float(d["chunk_s"]) * SR)))
        return [normalise_db(logmel_db(c, n_mels=d["n_mels"], n_fft=d["n_fft"],
                                       hop_length=d["hop_length"]))[None]
                for c in np.array_split(y, k)]
    n = int(round(float(d["segment_s"]) * SR))
    segs = segment_signal(y, n)
    if kind == "logmel_segment":
        frames = n // int(d["hop_length"])  # 500 for 5 s at a 10 ms hop
        return [normalise_db(logmel_db(s, n_mels=d["n_mels"], n_fft=d["n_fft"],
                                       hop_length=d["hop_length"]))[:, :frames] for s in segs]
    if kind == "waveform":
        return list(segs)
    return [segs]  # waveform_segments: the whole sequence, split later


#: megabytes of units kept in memory across fits (env ``VOCALMIND_ROW_CACHE_MB``; 0 = off)
ROW_CACHE_MB = float(os.environ.get("VOCALMIND_ROW_CACHE_MB", "1024"))


class _RowCache:
    """Least-recently-used store of row units, bounded in bytes."""

    def __init__(self) -> None:
        self.items: OrderedDict[tuple, list[np.ndarray]] = OrderedDict()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple, make: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
        if key in self.items:
            self.hits += 1
            self.items.move_to_end(key)
            return self.items[key]
        self.misses += 1
        units = make()  # shared across fits: nobody modifies a unit in place
        size = sum(a.nbytes for a in units)
        limit = ROW_CACHE_MB * 2**20
        if size <= limit:
            self.items[key] = units
            self.nbytes += size
            while self.nbytes > limit and self.items:
                _, old = self.items.popitem(last=False)
                self.nbytes -= sum(a.nbytes for a in old)
        return units

    def clear(self) -> None:
        self.items.clear()
        self.nbytes = self.hits = self.misses = 0


_ROW_CACHE = _RowCache()


def clear_row_cache() -> None:
    """Empty the process-wide row cache (and reset its counters)."""
    _ROW_CACHE.clear()


def row_cache_stats() -> dict[str, int]:
    """``{"entries", "bytes", "hits", "misses"}`` of the process-wide row cache."""
    c = _ROW_CACHE
    return {"entries": len(c.items), "bytes": c.nbytes, "hits": c.hits, "misses": c.misses}


@contextlib.contextmanager
def cached_rows() -> Iterator[None]:
    """Kept for callers written before the cache was process-wide: a no-op block.

    Every :func:`build_units` call now reads and fills the process-wide row cache (see
    the module docstring), whose keys hold each file's size and modification time, so an
    edited file is read again.
    """
    yield


def _row_key(row: dict[str, Any], kind: str, data: dict[str, Any], extra: tuple) -> tuple:
    path = str(row["file"])
    try:
        st = os.stat(path)
        stamp: tuple = (st.st_size, st.st_mtime_ns)
    except OSError:  # unreadable: load_row raises the proper error
        stamp = ()
    settings = repr(sorted((k, v) for k, v in data.items() if k not in UNIT_INDEPENDENT))
    return (path, stamp, repr(row.get("start")), repr(row.get("end")), kind, settings, extra)


def _cached_row_units(row: dict[str, Any], kind: str, data: dict[str, Any], *,
                      encoder: Any = None,
                      variant: tuple[str, float] | None = None) -> list[np.ndarray]:
    def make() -> list[np.ndarray]:
        y = load_row(row)
        if variant is not None:
            y = perturb_signal(y, variant)
        return _row_units(y, kind, data, encoder)

    if ROW_CACHE_MB <= 0:
        return make()
    extra = (getattr(encoder, "weights_sha256", None) if encoder is not None else None,
             variant)
    return _ROW_CACHE.get(_row_key(row, kind, data, extra), make)


def _encoder_for(kind: str, data: dict[str, Any]) -> Any:
    """The frozen Whisper encoder when the data settings ask for Whisper input, else None."""
    if data.get("input", "logmel") != "whisper" or kind not in ("logmel", "logmel_segment"):
        return None
    from vocalmind.encoders.whisper import load_whisper_encoder

    enc = load_whisper_encoder(data.get("whisper_model") or "base")
    layer = data.get("whisper_layer")
    if layer is not None and not 0 <= int(layer) <= enc.n_layers:
        raise ConfigError(f"whisper_layer={layer}: {enc.name} has blocks 0..{enc.n_layers}")
    return enc


def build_units(X: pd.DataFrame, family: str, data: dict[str, Any], *,
                on_error: str = "raise", progress: bool = False,
                variant: tuple[str, float] | None = None) -> Units:
    """Load every row of ``X`` and build the units of ``family``.

    Parameters
    ----------
    X : manifest rows (``file`` required; ``start``/``end`` optional, NaN = whole file;
        ``subject`` required for ``sequence="subject"``)
    family : deep family name
    data : data settings (from :func:`split_params`)
    on_error : ``"raise"`` or ``"skip"`` (skipped rows and reasons in ``Units.skipped``)
    progress : show a progress bar
    variant : a perturbation applied to every row first (see :func:`perturb_signal`)

    Raises
    ------
    AudioError
        With ``on_error="raise"``, the first unreadable or silent row.
    EncoderWeightsError
        ``input: whisper`` and the Whisper weights are missing.
    ManifestError
        ``file`` column missing, or ``subject`` missing for ``sequence="subject"``.
    """
    if "file" not in X.columns:
        raise ManifestError("manifest rows need a 'file' column (plus optional start/end)")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error={on_error!r}: use 'raise' or 'skip'")
    kind = input_kind(family)
    if variant is not None and kind == "waveform_segments":
        raise ConfigError("speed/pitch perturbation is not available for ssl_attention")
    encoder = _encoder_for(kind, data)
    per_row: list[list[np.ndarray] | None] = []
    skipped: dict[int, str] = {}

    records = X.to_dict("records")
    from threadpoolctl import threadpool_limits

    # One BLAS/FFT thread: per-row matrices are small, and on 2 shared cores the extra
    # OpenBLAS threads spun instead of working (log-mel of a 3 s clip: 8.3 -> 0.7 ms CPU).
    old_threads = torch.get_num_threads()
    if encoder is not None:  # the same holds for the encoder's small matrices (1 thread)
        torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1), \
                progress_bar(disable=not progress, transient=True) as bar:
            task = bar.add_task(f"loading audio ({family})", total=len(records))
            for i, row in enumerate(records):
                try:
                    per_row.append(_cached_row_units(row, kind, data, encoder=encoder,
                                                     variant=variant))
                except AudioError as exc:
                    if on_error == "raise":
                        raise
                    skipped[i] = exc.reason
                    per_row.append(None)
                bar.advance(task)
    finally:
        torch.set_num_threads(old_threads)
    if data.get("speaker_norm") and kind in ("logmel", "logmel_segment"):
        speakers = (X["subject"].astype(str).to_numpy() if "subject" in X.columns
                    else np.arange(len(X)).astype(str))
        per_row = speaker_normalise(per_row, speakers)
    arrays: list[np.ndarray] = []
    item: list[int] = []
    item_rows: list[list[int]] = []
    if kind == "waveform_segments":
        groups: list[list[int]]
        if data.get("sequence", "row") == "subject":
            if "subject" not in X.columns:
                raise ManifestError("sequence='subject' needs a 'subject' column")
            subj = X["subject"].astype(str).to_numpy()
            order: dict[str, list[int]] = {}
            for i, s in enumerate(subj):
                if per_row[i] is not None:
                    order.setdefault(s, []).append(i)
            groups = list(order.values())
        else:
            groups = [[i] for i, u in enumerate(per_row) if u is not None]
        for rows in groups:
            seq = np.concatenate([per_row[i][0] for i in rows], axis=0)  # type: ignore[index]
            k = max(1, math.ceil(len(seq) / int(data["max_segments"])))
            for part in np.array_split(seq, k):
                arrays.append(part)
                item.append(len(item_rows))
            item_rows.append(rows)
    else:
        for i, u in enumerate(per_row):
            if u is None:
                continue
            for a in u:
                arrays.append(a)
                item.append(len(item_rows))
            item_rows.append([i])
    return Units(arrays, np.asarray(item, dtype=int), item_rows, skipped)


def speaker_normalise(per_row: Sequence[list[np.ndarray] | None], speakers: np.ndarray,
                      *, eps: float = 1e-3) -> list[list[np.ndarray] | None]:
    """Standardise each mel bin per speaker over all frames of the speaker's rows.

    Parameters
    ----------
    per_row : per row, its log-mel units ``(1, n_mels, T)`` or ``(n_mels, T)`` (None = skipped)
    speakers : speaker of each row ``(n_rows,)``
    eps : floor of the standard deviation (a constant bin stays finite)

    Returns
    -------
    list
        Same structure; every speaker's frames have mean 0 and std 1 per mel bin.

    Examples
    --------
    >>> rows = [[np.full((2, 3), 1.0, np.float32)], [np.full((2, 3), 3.0, np.float32)], None]
    >>> out = speaker_normalise(rows, np.array(["a", "a", "b"]))
    >>> out[0][0][0].tolist(), out[1][0][0].tolist(), out[2]
    ([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], None)
    """
    out: list[list[np.ndarray] | None] = list(per_row)
    by_spk: dict[str, list[int]] = {}
    for i, u in enumerate(per_row):
        if u is not None:
            by_spk.setdefault(str(speakers[i]), []).append(i)
    for rows in by_spk.values():
        # frames of all units of the speaker, as (n_mels, total_T)
        frames = np.concatenate([a.reshape(a.shape[-2], a.shape[-1])
                                 for i in rows for a in per_row[i]], axis=1)  # type: ignore[union-attr]
        mu = frames.mean(axis=1, keepdims=True)
        sd = np.maximum(frames.std(axis=1, keepdims=True), eps)
        for i in rows:
            out[i] = [((a - mu) / sd).astype(np.float32) for a in per_row[i]]  # type: ignore[union-attr]
    return out


# ----------------------------------------------------------------------------- augmentation


@functools.lru_cache(maxsize=64)
def _pitch_map(n_mels: int, fmax: float, semitones: int) -> torch.Tensor:
    """Fractional source mel-bin index of each bin after a pitch shift of ``semitones``."""
    import librosa

    centres = librosa.mel_frequencies(n_mels + 2, fmin=0.0, fmax=fmax)[1:-1]
    src = centres / 2.0 ** (semitones / 12.0)  # content at f comes from f / 2^(s/12)
    idx = np.interp(librosa.hz_to_mel(src), librosa.hz_to_mel(centres), np.arange(n_mels))
    return torch.as_tensor(idx, dtype=torch.float32)


def augment_logmel(x: torch.Tensor, *, generator: torch.Generator, p: float = 0.6,
                   noise_std: float = 0.1, max_semitones: int = 4, max_freq_mask: int = 15,
                   max_time_mask_frac: float = 0.1, fmax: float = SR / 2) -> torch.Tensor:
    """Document 004's four augmentations on a normalised log-mel, each with probability ``p``.

    1. Gaussian noise, variance 0.01 (std ``noise_std``);
    2. pitch shift by a random integer in [-``max_semitones``, ``max_semitones``]
       semitones, **approximated on the mel axis**: each mel bin takes the (linearly
       interpolated) value of the bin at ``f / 2^(s/12)`` -- a warp, not a plain roll,
       because mel bins are not equally spaced in semitones; bins whose source lies below
       the lowest bin take the lowest bin's value. No waveform is re-synthesised;
    3. frequency masking: up to ``max_freq_mask`` consecutive mel bins set to silence;
    4. time masking: up to ``max_time_mask_frac`` of the frames set to silence.

    Parameters
    ----------
    x : Tensor [shape=(1, n_mels, T)] or (n_mels, T)
    generator : the training engine's generator (keeps runs reproducible and resumable)

    Returns
    -------
    Tensor, same shape as ``x``

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> augment_logmel(torch.zeros(1, 128, 50), generator=g).shape
    torch.Size([1, 128, 50])
    """
    def coin() -> bool:
        return bool(torch.rand((), generator=generator) < p)

    squeeze = x.ndim == 3
    s = x[0] if squeeze else x
    n_mels, t = s.shape
    s = s.clone()
    if coin():
        s = s + noise_std * torch.randn(s.shape, generator=generator)
    if coin():
        shift = int(torch.randint(-max_semitones, max_semitones + 1, (), generator=generator))
        if shift:
            idx = _pitch_map(n_mels, float(fmax), shift)
            lo = idx.floor().long().clamp(0, n_mels - 1)
            hi = (lo + 1).clamp(max=n_mels - 1)
            frac = (idx - lo.float()).unsqueeze(1)
            s = s[lo] * (1 - frac) + s[hi] * frac
    if coin():
        w = int(torch.randint(1, max_freq_mask + 1, (), generator=generator))
        f0 = int(torch.randint(0, max(1, n_mels - w), (), generator=generator))
        s[f0:f0 + w] = PAD_VALUE
    if coin():
        w = max(1, int(t * max_time_mask_frac * float(torch.rand((), generator=generator))))
        t0 = int(torch.randint(0, max(1, t - w), (), generator=generator))
        s[:, t0:t0 + w] = PAD_VALUE
    return s[None] if squeeze else s


def spec_augment(x: torch.Tensor, *, generator: torch.Generator, freq_masks: int = 2,
                 freq_width: int = 8, time_masks: int = 2, time_frac: float = 0.05
                 ) -> torch.Tensor:
    """SpecAugment-style masking (Park et al. 2019, without time warping).

    ``freq_masks`` bands of ``0..freq_width`` consecutive bins and ``time_masks`` spans of
    ``0..time_frac * T`` frames are set to the unit's mean value (after per-speaker
    normalisation that is about 0; on the ``(dB + 40) / 40`` scale the clip's mean level),
    so a mask adds no new extreme value.

    Parameters
    ----------
    x : Tensor [shape=(1, n_bins, T)] or (n_bins, T) -- log-mel or Whisper frames
    generator : the engine's generator

    Returns
    -------
    Tensor, same shape as ``x`` (a new tensor; ``x`` is unchanged)

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.arange(40.0).repeat(8, 1)
    >>> y = spec_augment(x, generator=g, freq_masks=0, time_masks=1, time_frac=0.25)
    >>> y.shape, int((y != x).any(0).sum()) <= 10
    (torch.Size([8, 40]), True)
    """
    squeeze = x.ndim == 3
    s = (x[0] if squeeze else x).clone()
    n_bins, t = s.shape
    fill = float(s.mean())
    for _ in range(int(freq_masks)):
        w = int(torch.randint(0, int(freq_width) + 1, (), generator=generator))
        if w:
            f0 = int(torch.randint(0, max(1, n_bins - w + 1), (), generator=generator))
            s[f0:f0 + w] = fill
    max_t = int(t * float(time_frac))
    for _ in range(int(time_masks)):
        w = int(torch.randint(0, max_t + 1, (), generator=generator))
        if w:
            t0 = int(torch.randint(0, max(1, t - w + 1), (), generator=generator))
            s[:, t0:t0 + w] = fill
    return s[None] if squeeze else s


def unit_lengths(units: Units) -> np.ndarray:
    """Length (last axis: frames or samples) of every unit ``(n_units,)``."""
    return np.array([a.shape[-1] for a in units.arrays], dtype=int)


# ----------------------------------------------------------------------------- torch data


class UnitDataset(Dataset):
    """Units with their targets ``(n_units, n_tasks)`` (NaN = missing label).

    Parameters
    ----------
    units : from :func:`build_units`
    item_targets : targets per item ``(n_items, n_tasks)``
    augment : callable ``(x, generator) -> x`` applied in training, or None
    generator : random generator used by ``augment``
    sample_versions : in training, each epoch uses one version of every item, drawn
        uniformly from the versions it has (``units.version``; ``perturb_sample``)
    """

    def __init__(self, units: Units, item_targets: np.ndarray | None = None, *,
                 augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                 generator: torch.Generator | None = None,
                 sample_versions: bool = False) -> None:
        self.units = units
        self.sample_versions = bool(sample_versions) and units.version is not None
        n_tasks = 1 if item_targets is None else item_targets.shape[1]
        self.targets = (np.full((len(units.arrays), n_tasks), np.nan, dtype=np.float32)
                        if item_targets is None
                        else item_targets[units.item].astype(np.float32))
        self.augment = augment
        self.generator = generator

    def __len__(self) -> int:
        return len(self.units.arrays)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(self.units.arrays[i])
        if self.augment is not None and self.generator is not None:
            x = self.augment(x, self.generator)
        return x, torch.from_numpy(self.targets[i])


def collate_units(batch: list[tuple[torch.Tensor, torch.Tensor]], *, sequences: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Stack units into ``(x, mask, y)``.

    Equal shapes are stacked. Log-mels of different length are padded at the end of the
    time axis with the silence level (mask None). Sequences of segments
    ``(n_segments, samples)`` (``sequences=True``) are zero-padded along the segment axis
    and a mask ``(batch, max_segments)`` marks the real ones.
    """
    xs, ys = zip(*batch, strict=True)
    y = torch.stack(ys)
    if sequences:  # waveform segment sequences (ssl_attention)
        m = max(x.shape[0] for x in xs)
        mask = torch.zeros(len(xs), m, dtype=torch.bool)
        out = xs[0].new_zeros(len(xs), m, xs[0].shape[1])
        for i, x in enumerate(xs):
            out[i, :x.shape[0]] = x
            mask[i, :x.shape[0]] = True
        return out, mask, y
    if all(x.shape == xs[0].shape for x in xs):
        return torch.stack(xs), None, y
    t = max(x.shape[-1] for x in xs)
    return torch.stack([F.pad(x, (0, t - x.shape[-1]), value=PAD_VALUE) for x in xs]), None, y


def inner_split(groups: np.ndarray, *, y: np.ndarray | None = None, val_fraction: float = 0.2,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split item positions into (train, validation), no subject on both sides.

    The hold-out mode of :class:`~vocalmind.evaluation.protocols.InnerGroupSplit`:
    stratified by ``y`` (class indices, NaN = missing, kept as a class of its own) when every
    class has enough subjects, else a seeded group shuffle split.

    Parameters
    ----------
    groups : subject of each item ``(n,)``
    y : class index of each item (classification) or None
    val_fraction : share of subjects held out (0 = no validation set)

    Returns
    -------
    train, val : np.ndarray of positions, sorted (``val`` empty when there are < 2 subjects
        or ``val_fraction`` is 0)

    Examples
    --------
    >>> g = np.repeat(np.arange(10), 3)
    >>> tr, va = inner_split(g, val_fraction=0.2)
    >>> set(g[tr]) & set(g[va])
    set()
    """
    from vocalmind.evaluation.protocols import InnerGroupSplit

    groups = np.asarray(groups).astype(str)
    idx = np.arange(len(groups))
    if val_fraction <= 0 or len(np.unique(groups)) < 2:
        return idx, idx[:0]
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction={val_fraction} must be in [0, 1)")
    lab = None if y is None else np.where(np.isnan(y), -1, y).astype(int)
    splitter = InnerGroupSplit(val_fraction=val_fraction, stratify=lab is not None, seed=seed)
    tr, va = next(splitter.split(idx, lab, groups))  # leakage-checked by Protocol.split
    return np.sort(tr), np.sort(va)
