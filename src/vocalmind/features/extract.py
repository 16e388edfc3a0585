"""The extraction engine: files and segments -> one feature table, for every feature set.

:func:`extract_features` does once what every feature set would otherwise redo: reading and
resampling (:func:`vocalmind.audio.load`), optional preprocessing, dispatch to workers
(:mod:`vocalmind.features.executor`), the opt-in content-keyed cache
(:mod:`vocalmind.features.cache`) and failure accounting. A feature set supplies only
``process_signal`` and ``names`` (:class:`vocalmind.features.base.FeatureSet`).

Preprocessing runs in a fixed order: denoise -> speech detection (trim the ends, or keep
only speech) -> level normalisation, so that the VAD sees the cleaned signal and the level
is measured over speech rather than over silence.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from vocalmind.errors import ConfigError, FeatureError, ManifestError, TooManyFailuresError
from vocalmind.features.base import FeatureSet, get_feature_set
from vocalmind.features.cache import FeatureCache, cache_key, file_digest
from vocalmind.features.executor import Executor, get_executor

__all__ = ["PreprocessSettings", "ExtractionResult", "extract_features", "KEY"]

KEY = ["file", "start", "end"]


class PreprocessSettings(BaseModel):
    """What is done to each signal before its features are computed.

    Parameters
    ----------
    normalize : {"none", "peak", "loudness"}
        Level normalisation: to a sample peak of ``peak_db`` dBFS, or to an integrated
        loudness of ``target_lufs`` LUFS (ITU-R BS.1770).
    peak_db : float, target peak in dBFS for ``normalize="peak"`` (<= 0)
    target_lufs : float, target loudness for ``normalize="loudness"`` (< 0)
    denoise : bool, spectral-gating noise reduction first
    vad_trim : {"none", "silero", "webrtc", "energy"}
        Voice activity detector used to cut leading and trailing non-speech.
    keep_speech : bool
        Also drop the pauses inside the recording (concatenate speech segments). Uses the
        detector named by ``vad_trim``, which must therefore not be ``"none"``.

    Raises
    ------
    pydantic.ValidationError
        On an unknown key, a wrong value, or ``keep_speech`` without a detector. Use
        :meth:`parse` to get a :class:`~vocalmind.errors.ConfigError` instead.

    Examples
    --------
    >>> PreprocessSettings.parse({"normalize": "peak", "vad_trim": "webrtc"}).normalize
    'peak'
    >>> PreprocessSettings().is_identity()
    True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    normalize: Literal["none", "peak", "loudness"] = "none"
    peak_db: float = -1.0
    target_lufs: float = -23.0
    denoise: bool = False
    vad_trim: Literal["none", "silero", "webrtc", "energy"] = "none"
    keep_speech: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> PreprocessSettings:
        if self.keep_speech and self.vad_trim == "none":
            raise ConfigError("keep_speech=True needs a detector: set vad_trim to silero, webrtc or energy")
        if self.peak_db > 0:
            raise ConfigError(f"peak_db={self.peak_db} must be <= 0 dBFS")
        if self.target_lufs >= 0:
            raise ConfigError(f"target_lufs={self.target_lufs} must be < 0 LUFS")
        return self

    @classmethod
    def parse(cls, value: PreprocessSettings | Mapping[str, Any] | None) -> PreprocessSettings:
        """Validate a dict (or None = no preprocessing) into settings, raising ConfigError."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"preprocess must be a dict or PreprocessSettings, got {type(value).__name__}")
        try:
            return cls.model_validate(dict(value))
        except ValidationError as e:
            msgs = "; ".join(
                f"{'.'.join(map(str, err['loc'])) or 'preprocess'}: {err['msg']}" for err in e.errors()
            )
            raise ConfigError(f"invalid preprocess settings: {msgs}") from None

    def is_identity(self) -> bool:
        """True if nothing is done to the signal."""
        return self == PreprocessSettings()

    def settings(self) -> dict[str, Any]:
        """The settings that change the signal (keys the cache); unused targets left out."""
        out = self.model_dump()
        if self.normalize != "peak":
            out.pop("peak_db")
        if self.normalize != "loudness":
            out.pop("target_lufs")
        return out


@dataclass(frozen=True)
class ExtractionResult:
    """What :func:`extract_features` returns.

    Attributes
    ----------
    features : pd.DataFrame [shape=(n_ok, n_features)]
        Indexed by (file, start, end) in input order, one float64 column per feature name;
        items that failed are absent.
    failures : pd.DataFrame
        Columns ``file, start, end, error, reason``: one row per failed item, input order.
    feature_set : dict, the feature set's settings
    preprocess : dict, the preprocessing settings
    n_cached : int, how many items came from the cache
    """

    features: pd.DataFrame
    failures: pd.DataFrame
    feature_set: dict[str, Any]
    preprocess: dict[str, Any]
    n_cached: int = 0

    @property
    def failure_fraction(self) -> float:
        """Failed items over all items."""
        n = len(self.features) + len(self.failures)
        return len(self.failures) / n if n else 0.0


def _audio_fn(name: str) -> Any:
    # the audio room exports its public functions from vocalmind.audio; VAD helpers may
    # live only in vocalmind.audio.vad
    from vocalmind import audio

    fn = getattr(audio, name, None)
    if fn is None:
        from vocalmind.audio import vad

        fn = getattr(vad, name)
    return fn


def _nan_to_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def load_and_preprocess(
    file: str, *, start: float | None, end: float | None, sr: int, preprocess: PreprocessSettings
) -> np.ndarray:
    """Read one recording span at ``sr`` Hz and apply ``preprocess``.

    Parameters
    ----------
    file : path of the recording
    start, end : float or None, span in seconds (None/NaN = file edge)
    sr : int, target sample rate in Hz
    preprocess : PreprocessSettings

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32], mono, in [-1, 1]

    Raises
    ------
    AudioError
        If the file cannot be read, the signal is unusable (empty, silent, non-finite),
        or the detector finds no speech.
    """
    from vocalmind import audio
    from vocalmind.errors import AudioError

    y = _audio_fn("load")(file, sr=sr, mono=True, start=start, end=end)
    check = getattr(audio, "check_signal", None)
    if check is not None:
        # empty, silent or non-finite signals give meaningless features: fail them here
        check(y, sr=sr, file=file)
    if preprocess.denoise:
        y = _audio_fn("denoise")(y, sr=sr)
    if preprocess.vad_trim != "none":
        if preprocess.keep_speech:
            y = _audio_fn("keep_speech")(y, sr=sr, method=preprocess.vad_trim)
        else:
            y, _, _ = _audio_fn("trim_endpoints")(y, sr=sr, method=preprocess.vad_trim)
        if y.size == 0:
            raise AudioError(file, f"no speech found by the {preprocess.vad_trim!r} detector")
    if preprocess.normalize == "peak":
        y = _audio_fn("peak_normalize")(y, peak_db=preprocess.peak_db)
    elif preprocess.normalize == "loudness":
        y = _audio_fn("loudness_normalize")(y, sr=sr, target_lufs=preprocess.target_lufs)
    return np.asarray(y, dtype=np.float32)


def _compute_one(
    item: tuple[str, float | None, float | None],
    *,
    feature_set: FeatureSet,
    preprocess: PreprocessSettings,
    n_features: int,
    screen_voiced: bool = False,
) -> np.ndarray:
    """Worker task: features of one (file, start, end). Module-level so that it pickles.

    With ``screen_voiced``, a whole recording (no span) without any voiced speech fails
    with :class:`~vocalmind.errors.AudioError` instead of giving a row.
    """
    file, start, end = item
    y = load_and_preprocess(
        file, start=start, end=end, sr=feature_set.sample_rate, preprocess=preprocess
    )
    if screen_voiced and start is None and end is None:
        from vocalmind.audio.quality import SPEECH_PRESENT, check, measure
        from vocalmind.errors import AudioError

        problems = check(measure(y, sr=feature_set.sample_rate, file=file), SPEECH_PRESENT)
        if problems:
            raise AudioError(file, problems[0])
    out = np.asarray(feature_set.process_signal(y, feature_set.sample_rate), dtype=np.float64)
    if out.shape != (n_features,):
        raise FeatureError(
            f"feature set {feature_set.name!r} returned shape {out.shape}, expected ({n_features},)"
        )
    return out


def _items_table(items: pd.DataFrame | Iterable[str | Path]) -> pd.DataFrame:
    if isinstance(items, pd.DataFrame):
        if "file" not in items.columns:
            raise ManifestError(f"items table needs a 'file' column; it has {list(items.columns)}")
        df = pd.DataFrame({"file": items["file"].astype(str).to_numpy()})
        for col in ("start", "end"):
            df[col] = (
                pd.to_numeric(items[col], errors="coerce").astype(float).to_numpy()
                if col in items.columns
                else np.nan
            )
    else:
        if isinstance(items, str | Path):
            items = [items]
        df = pd.DataFrame({"file": [str(p) for p in items]})
        df["start"] = np.nan
        df["end"] = np.nan
    dup = df.duplicated(subset=KEY, keep=False)
    if dup.any():
        raise ManifestError(
            f"{int(dup.sum())} duplicate (file, start, end) items, e.g. "
            f"{df.loc[dup, 'file'].head(3).tolist()}; each segment must appear once"
        )
    return df


def _failure_summary(failures: pd.DataFrame, n_total: int, limit: float) -> str:
    top = failures["reason"].value_counts().head(5)
    reasons = "; ".join(f"{count} x {reason}" for reason, count in top.items())
    examples = ", ".join(Path(f).name for f in failures["file"].head(3))
    return (
        f"{len(failures)} of {n_total} items failed ({len(failures) / n_total:.1%}, allowed "
        f"{limit:.1%}); reasons: {reasons}; e.g. {examples}. Fix or drop these inputs, or raise "
        "max_failure_fraction"
    )


def _reason(exc: BaseException) -> str:
    # AudioError carries the reason apart from the file name: group by it in summaries
    reason = getattr(exc, "reason", None)
    return str(reason) if reason is not None else (str(exc).splitlines()[0] if str(exc) else "")


def keyed_feature_settings(fs: FeatureSet, *, screen_voiced: bool) -> dict[str, Any]:
    """What keys a stored feature row besides the audio and preprocessing: the set's
    settings, the digest of the code that computes it and, when on, the voiced-speech
    screen (a row stored without the screen may be one it now refuses). The per-item cache
    and the sharded extraction's shard names both use it."""
    out = {**fs.settings(), "code": fs.code_digest()}
    if screen_voiced:
        out["screen"] = "voiced"
    return out


def extract_features(
    items: pd.DataFrame | Iterable[str | Path],
    feature_set: FeatureSet | str,
    *,
    preprocess: PreprocessSettings | Mapping[str, Any] | None = None,
    executor: Executor | None = None,
    n_jobs: int = 1,
    cache_dir: str | Path | None = None,
    max_failure_fraction: float = 0.0,
    progress: bool = True,
    screen_voiced: bool = True,
) -> ExtractionResult:
    """Compute one feature set over many recordings or segments.

    Parameters
    ----------
    items : pd.DataFrame or iterable of paths
        A manifest (columns ``file`` and optionally ``start``, ``end`` in seconds, NaN =
        whole file) or a list of audio paths.
    feature_set : FeatureSet or str
        A feature set, or a registered name (``"egemaps"``, ``"compare"``, ``"is09"``,
        ``"logmel"`` ...).
    preprocess : PreprocessSettings, dict or None
        See :class:`PreprocessSettings`; None = none.
    executor : Executor or None
        Where to run; None builds ``get_executor("local", n_jobs=n_jobs)``.
    n_jobs : int, worker processes when ``executor`` is None (1 = in-process)
    cache_dir : str, Path or None
        Opt-in cache folder; with it a re-run (e.g. after an interruption) recomputes only
        items not cached yet.
    max_failure_fraction : float in [0, 1]
        Largest tolerated fraction of failed items. As soon as more items have failed than
        this allows, the run stops (finished items stay cached).
    progress : bool, show progress bars
    screen_voiced : bool
        Fail whole recordings (items without a span) that hold no voiced speech
        (:data:`vocalmind.audio.quality.SPEECH_PRESENT`; white noise, hiss, whisper-only
        audio), with the reason ``"no voiced speech"``, instead of returning a row that looks
        valid. Spans (segments) are not screened: a pause inside a recording is data. The
        experiment recipe passes False, having screened recordings with its own gates.

    Returns
    -------
    ExtractionResult
        ``features`` indexed by (file, start, end) in input order; ``failures`` listing
        each failed item with its error type and reason.

    Raises
    ------
    TooManyFailuresError
        If the failed fraction exceeds ``max_failure_fraction``; the message summarises
        the reasons, and the exception's ``failures`` attribute holds the table so far.
    ConfigError
        On invalid preprocessing settings, ``n_jobs`` or ``max_failure_fraction``.
    ManifestError
        If ``items`` lacks a ``file`` column or repeats a (file, start, end) key.

    Examples
    --------
    >>> res = extract_features(["a.wav", "b.wav"], "egemaps", n_jobs=2)  # doctest: +SKIP
    >>> res.features.shape  # doctest: +SKIP
    (2, 88)
    """
    if not 0.0 <= max_failure_fraction <= 1.0:
        raise ConfigError(f"max_failure_fraction={max_failure_fraction} must lie in [0, 1]")
    fs = get_feature_set(feature_set) if isinstance(feature_set, str) else feature_set
    pp = PreprocessSettings.parse(preprocess)
    table = _items_table(items)
    n_total = len(table)
    names = fs.names()
    n_features = len(names)
    pp_settings = pp.settings()
    keyed_settings = keyed_feature_settings(fs, screen_voiced=screen_voiced)

    keys = [(f, _nan_to_none(s), _nan_to_none(e)) for f, s, e in table[KEY].itertuples(index=False)]
    position = {k: i for i, k in enumerate(keys)}
    values: list[np.ndarray | None] = [None] * n_total
    failures: dict[int, tuple[str, str]] = {}
    allowed = math.floor(max_failure_fraction * n_total + 1e-9)

    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    cache_keys: dict[int, str] = {}
    todo: list[tuple[str, float | None, float | None]] = []
    for i, k in enumerate(keys):
        if cache is not None:
            try:
                digest = file_digest(k[0])
            except OSError:
                todo.append(k)  # unreadable here: the worker reports the real AudioError
                continue
            ck = cache_key(digest, start=k[1], end=k[2], feature_settings=keyed_settings,
                           preprocess_settings=pp_settings)  # fmt: skip
            cache_keys[i] = ck
            hit = cache.get(ck, n_features=n_features)
            if hit is not None:
                values[i] = hit
                continue
        todo.append(k)
    n_cached = n_total - len(todo)

    def failures_frame() -> pd.DataFrame:
        rows = [
            {"file": keys[i][0], "start": keys[i][1], "end": keys[i][2], "error": err, "reason": why}
            for i, (err, why) in sorted(failures.items())
        ]
        df = pd.DataFrame(rows, columns=[*KEY, "error", "reason"])
        df[["start", "end"]] = df[["start", "end"]].astype(float)
        return df

    if todo:
        ex = executor if executor is not None else get_executor("local", n_jobs=n_jobs, progress=progress)
        fn = functools.partial(_compute_one, feature_set=fs, preprocess=pp,
                               n_features=n_features, screen_voiced=screen_voiced)
        results = ex.map(fn, todo, description=f"{fs.name} features")
        try:
            for item, result in results:
                i = position[item]
                if isinstance(result, BaseException):
                    failures[i] = (type(result).__name__, _reason(result))
                    if len(failures) > allowed:
                        err = TooManyFailuresError(_failure_summary(failures_frame(), n_total, max_failure_fraction))
                        err.failures = failures_frame()  # type: ignore[attr-defined]
                        raise err
                    continue
                values[i] = result
                if cache is not None and i in cache_keys:
                    cache.put(cache_keys[i], result)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # cancels work not started yet

    ok = [i for i in range(n_total) if values[i] is not None]
    index = pd.MultiIndex.from_arrays(
        [
            [keys[i][0] for i in ok],
            np.array([np.nan if keys[i][1] is None else keys[i][1] for i in ok], dtype=float),
            np.array([np.nan if keys[i][2] is None else keys[i][2] for i in ok], dtype=float),
        ],
        names=KEY,
    )
    matrix = np.vstack([values[i] for i in ok]) if ok else np.empty((0, n_features))
    features = pd.DataFrame(matrix, index=index, columns=names, dtype=np.float64)
    return ExtractionResult(
        features=features,
        failures=failures_frame(),
        feature_set=fs.settings(),
        preprocess=pp_settings,
        n_cached=n_cached,
    )


def feature_set_from_spec(name: str, params: Mapping[str, Any] | None = None) -> FeatureSet:
    """A registered feature set with parameters, turning bad parameters into ConfigError."""
    try:
        return get_feature_set(name, **dict(params or {}))
    except TypeError as e:
        raise ConfigError(f"feature set {name!r}: bad parameters {dict(params or {})}: {e}") from None
    except ValueError as e:
        raise ConfigError(str(e)) from None
