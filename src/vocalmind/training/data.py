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
from vocalmind.progress import progress_bar

__all__ = [
    "SILENCE_PEAK", "SilentAudioError", "DATA_DEFAULTS", "split_params", "load_row",
    "logmel_db", "normalise_db", "segment_signal", "Units", "build_units", "UnitDataset",
    "collate_units", "augment_logmel", "input_kind", "inner_split", "speaker_normalise",
    "cached_rows",
]

SR = 16_000
SILENCE_PEAK = 10 ** (SILENCE_DB / 20)  # -60 dBFS: the package's one silence rule
PAD_VALUE = -1.0  # normalised log-mel of silence

#: data settings per family (anything else in ``params`` goes to the model constructor)
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "melcnn": {"n_mels": 128, "n_fft": 1024, "hop_length": 256, "chunk_s": 30.0,
               "min_s": 0.5, "augment": True, "augment_p": 0.6, "speaker_norm": False},
    "cnn_lstm": {"n_mels": 40, "n_fft": 400, "hop_length": 160, "segment_s": 5.0,
                 "augment": False, "augment_p": 0.6, "speaker_norm": False},
    "wavelet": {"segment_s": 4.0},
    "ssl_attention": {"segment_s": 7.0, "max_segments": 32, "sequence": "row"},
}
_KIND = {"melcnn": "logmel", "cnn_lstm": "logmel_segment", "wavelet": "waveform",
         "ssl_attention": "waveform_segments"}
_SHARED = {"n_mels"}


def input_kind(family: str) -> str:
    """The input kind of a deep family (see :mod:`vocalmind.models`)."""
    return _KIND[family]  # keys both the data and the model need


class SilentAudioError(AudioError):
    """A clip holds only digital silence (peak below :data:`SILENCE_PEAK`)."""


def split_params(family: str, params: dict[str, Any] | None) -> tuple[dict, dict]:
    """Split ``params`` into (model constructor arguments, data settings).

    Examples
    --------
    >>> split_params("cnn_lstm", {"segment_s": 2.0, "channels": 8})
    ({'channels': 8, 'n_mels': 40}, {'n_mels': 40, 'n_fft': 400, 'hop_length': 160, 'segment_s': 2.0, 'augment': False, 'augment_p': 0.6, 'speaker_norm': False})
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
    return model, data


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


def logmel_db(y: np.ndarray, *, sr: int = SR, n_mels: int, n_fft: int,
              hop_length: int) -> np.ndarray:
    """Log-mel spectrogram in dB relative to its maximum, floored at -80 dB.

    Uses :func:`vocalmind.features.logmel.logmel` when that module exists, else librosa
    with the same conventions (power mel, ``power_to_db(ref=max, top_db=80)``).

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + len(y) // hop_length)], float32
    """
    try:
        from vocalmind.features.logmel import logmel
    except ImportError:
        logmel = None
    if logmel is not None:
        s = np.asarray(logmel(y, sr=sr, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length))
        s = s - s.max()  # dB relative to the maximum, whatever the reference used there
        return np.maximum(s, -80.0).astype(np.float32)
    import librosa

    m = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length,
                                       n_mels=n_mels, power=2.0)
    return librosa.power_to_db(m, ref=np.max, top_db=80.0).astype(np.float32)


def normalise_db(s: np.ndarray) -> np.ndarray:
    """Map dB in [-80, 0] to [-1, 1]: ``(dB + 40) / 40``."""
    return ((s + 40.0) / 40.0).astype(np.float32)


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
    """

    arrays: list[np.ndarray]
    item: np.ndarray
    item_rows: list[list[int]]
    skipped: dict[int, str] = field(default_factory=dict)

    def subset_items(self, items: Sequence[int]) -> Units:
        """The units of some items (item ids renumbered from 0)."""
        remap = {old: new for new, old in enumerate(items)}
        keep = [i for i, it in enumerate(self.item) if int(it) in remap]
        return Units([self.arrays[i] for i in keep],
                     np.array([remap[int(self.item[i])] for i in keep], dtype=int),
                     [self.item_rows[i] for i in items])


def _row_units(y: np.ndarray, kind: str, d: dict[str, Any]) -> list[np.ndarray]:
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


_ROW_CACHE: dict[tuple, list[np.ndarray]] | None = None


@contextlib.contextmanager
def cached_rows() -> Iterator[None]:
    """While active, :func:`build_units` computes each row's units once per data settings.

    A search trains many models on the same rows (every trial, every inner fold); this
    keeps it from decoding and transforming the same audio again each time. The cache
    lives only inside the ``with`` block (keys: file, start, end, input kind and every
    data setting), so no stale entry outlives a search. Cached arrays are never modified
    in place (augmentation and normalisation return new arrays).
    """
    global _ROW_CACHE
    outer = _ROW_CACHE
    _ROW_CACHE = {} if outer is None else outer
    try:
        yield
    finally:
        _ROW_CACHE = outer


def _cached_row_units(row: dict[str, Any], kind: str, data: dict[str, Any]) -> list[np.ndarray]:
    if _ROW_CACHE is None:
        return _row_units(load_row(row), kind, data)
    key = (str(row["file"]), repr(row.get("start")), repr(row.get("end")), kind,
           repr(sorted((k, v) for k, v in data.items() if k not in ("augment", "augment_p",
                                                                     "speaker_norm"))))
    if key not in _ROW_CACHE:
        _ROW_CACHE[key] = _row_units(load_row(row), kind, data)
    return _ROW_CACHE[key]


def build_units(X: pd.DataFrame, family: str, data: dict[str, Any], *,
                on_error: str = "raise", progress: bool = False) -> Units:
    """Load every row of ``X`` and build the units of ``family``.

    Parameters
    ----------
    X : manifest rows (``file`` required; ``start``/``end`` optional, NaN = whole file;
        ``subject`` required for ``sequence="subject"``)
    family : deep family name
    data : data settings (from :func:`split_params`)
    on_error : ``"raise"`` or ``"skip"`` (skipped rows and reasons in ``Units.skipped``)
    progress : show a progress bar

    Raises
    ------
    AudioError
        With ``on_error="raise"``, the first unreadable or silent row.
    ManifestError
        ``file`` column missing, or ``subject`` missing for ``sequence="subject"``.
    """
    if "file" not in X.columns:
        raise ManifestError("manifest rows need a 'file' column (plus optional start/end)")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error={on_error!r}: use 'raise' or 'skip'")
    kind = _KIND[family]
    per_row: list[list[np.ndarray] | None] = []
    skipped: dict[int, str] = {}

    records = X.to_dict("records")
    with progress_bar(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"loading audio ({family})", total=len(records))
        for i, row in enumerate(records):
            try:
                per_row.append(_cached_row_units(row, kind, data))
            except AudioError as exc:
                if on_error == "raise":
                    raise
                skipped[i] = exc.reason
                per_row.append(None)
            bar.advance(task)
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


# ----------------------------------------------------------------------------- torch data


class UnitDataset(Dataset):
    """Units with their targets ``(n_units, n_tasks)`` (NaN = missing label).

    Parameters
    ----------
    units : from :func:`build_units`
    item_targets : targets per item ``(n_items, n_tasks)``
    augment : callable ``(x, generator) -> x`` applied in training, or None
    generator : random generator used by ``augment``
    """

    def __init__(self, units: Units, item_targets: np.ndarray | None = None, *,
                 augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                 generator: torch.Generator | None = None) -> None:
        self.units = units
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

    Stratified by ``y`` (class indices, NaN allowed) with ``StratifiedGroupKFold`` when
    every class has enough subjects, else ``GroupShuffleSplit``.

    Parameters
    ----------
    groups : subject of each item ``(n,)``
    y : class index of each item (classification) or None
    val_fraction : share of subjects held out (0 = no validation set)

    Returns
    -------
    train, val : np.ndarray of positions (``val`` empty when there are < 2 subjects or
        ``val_fraction`` is 0)

    Examples
    --------
    >>> g = np.repeat(np.arange(10), 3)
    >>> tr, va = inner_split(g, val_fraction=0.2)
    >>> set(g[tr]) & set(g[va])
    set()
    """
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    from vocalmind.errors import LeakageError

    groups = np.asarray(groups).astype(str)
    idx = np.arange(len(groups))
    n_groups = len(np.unique(groups))
    if val_fraction <= 0 or n_groups < 2:
        return idx, idx[:0]
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction={val_fraction} must be in [0, 1)")
    tr = va = None
    n_splits = max(2, round(1 / val_fraction))
    if y is not None:
        lab = np.where(np.isnan(y), -1, y).astype(int)
        per_class = pd.Series(groups).groupby(lab).nunique()
        if per_class.min() >= n_splits:
            sgk = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            tr, va = next(sgk.split(idx, lab, groups))
    if tr is None:
        gss = GroupShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
        tr, va = next(gss.split(idx, groups=groups))
    if set(groups[tr]) & set(groups[va]):
        raise LeakageError("inner validation split put a subject on both sides")
    return np.sort(tr), np.sort(va)
