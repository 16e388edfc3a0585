"""Sharded, resumable extraction (and batch assessment) on any executor, Ray included.

A manifest is cut into consecutive shards of rows. Each shard is one task of the executor
(:class:`~vocalmind.distributed.ray_executor.RayExecutor` on a cluster, or local processes):
it extracts its rows in its worker and writes ``<work_dir>/shard-<hash>.parquet`` under a
temporary name, renamed into place when complete (:func:`vocalmind.files.write_table`).
The driver merges the shards into the final table only once every shard is there.

Why this shape:

- a shard file is named by a hash of its rows (path, span, size and modification time of
  each recording) and of every setting (feature set, preprocessing, vocalmind version), so
  a re-run after an interruption finds the finished shards and skips them, and a changed
  recording or setting can never be served a stale shard;
- a task re-run after its worker died (Ray's ``max_retries``) rewrites the same file
  atomically, so the merged table holds every row exactly once; the merge checks this;
- rows keep the manifest's order, and each row is computed by the same function as
  :func:`vocalmind.features.extract.extract_features`, so the table equals the local one
  row for row.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.errors import (
    ConfigError,
    FeatureError,
    ManifestError,
    ModelError,
    TooManyFailuresError,
)
from vocalmind.features.base import FeatureSet, get_feature_set
from vocalmind.features.executor import Executor, LocalExecutor, get_executor
from vocalmind.features.extract import (
    KEY,
    ExtractionResult,
    PreprocessSettings,
    _failure_summary,
    _items_table,
    extract_features,
    keyed_feature_settings,
)
from vocalmind.files import read_table, write_table

__all__ = ["ShardSpec", "plan_shards", "extract_sharded", "assess_sharded", "default_shard_size"]

_ERROR, _REASON, _VALUES = "_error", "_reason", "_values"


@dataclass(frozen=True)
class ShardSpec:
    """One shard: its rows, where its Parquet goes, and how to compute it (picklable).

    Attributes
    ----------
    index : position of the shard in the manifest (0-based)
    digest : hash of the rows and settings; names the shard file
    path : the shard's Parquet file
    rows : ((file, start, end), ...) in manifest order; start/end in seconds, NaN = edge
    feature_set : the feature set
    preprocess : the preprocessing settings
    cache_dir : per-item cache folder (optional, shared storage on a cluster)
    screen_voiced : fail whole recordings without voiced speech (as
        :func:`~vocalmind.features.extract.extract_features`)
    base_dir : the driver's working directory: relative paths in ``rows`` are read
        relative to it on every worker (Ray workers run elsewhere), while the table keeps
        them as written
    """

    index: int
    digest: str
    path: str
    rows: tuple[tuple[str, float, float], ...]
    feature_set: FeatureSet
    preprocess: PreprocessSettings
    cache_dir: str | None = None
    screen_voiced: bool = True
    base_dir: str = "."


def default_shard_size(n_rows: int) -> int:
    """Rows per shard: about 64 shards, between 8 and 256 rows each.

    Small enough that the shards balance over a few dozen workers and an interruption
    loses little; large enough that per-task overhead (scheduling, a Parquet file) stays
    well under 1 % of a shard's work. Depends only on ``n_rows`` so re-runs find the
    same shards.
    """
    return int(min(256, max(8, math.ceil(n_rows / 64))))


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # unreadable here: the worker reports the real error
    return st.st_size, st.st_mtime_ns


def _shard_digest(rows: Sequence[tuple[str, float, float]], fs: FeatureSet,
                  pp: PreprocessSettings, screen_voiced: bool) -> str:
    from vocalmind import __version__

    def bound(x: float) -> float | None:
        return None if math.isnan(x) else round(float(x), 6) + 0.0

    payload = {
        "rows": [[f, bound(s), bound(e), _stat(f)] for f, s, e in rows],
        "features": keyed_feature_settings(fs, screen_voiced=screen_voiced),
        "n_features": len(fs.names()),
        "preprocess": pp.settings(),
        "vocalmind": __version__,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_shards(
    items: pd.DataFrame | Iterable[str | Path],
    feature_set: FeatureSet | str,
    *,
    work_dir: str | Path,
    preprocess: PreprocessSettings | Mapping[str, Any] | None = None,
    shard_size: int | None = None,
    cache_dir: str | Path | None = None,
    screen_voiced: bool = True,
) -> list[ShardSpec]:
    """Cut ``items`` into shards of consecutive rows, each named by its content hash.

    Parameters
    ----------
    items : manifest (``file`` [, ``start``, ``end``]) or list of audio paths
    feature_set : FeatureSet or registered name
    work_dir : folder of the shard files (shared storage on a cluster)
    preprocess : see :class:`~vocalmind.features.extract.PreprocessSettings`
    shard_size : rows per shard; None = :func:`default_shard_size`
    cache_dir : optional per-item cache used inside the shards
    screen_voiced : see :func:`~vocalmind.features.extract.extract_features`

    Returns
    -------
    list of ShardSpec, in manifest order

    Raises
    ------
    ConfigError
        ``shard_size`` < 1.
    ManifestError
        No ``file`` column, or a repeated (file, start, end).
    """
    fs = get_feature_set(feature_set) if isinstance(feature_set, str) else feature_set
    pp = PreprocessSettings.parse(preprocess)
    table = _items_table(items)
    n = len(table)
    size = default_shard_size(n) if shard_size is None else shard_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"shard_size must be an integer >= 1, got {shard_size!r}")
    rows = [(str(f), float(s), float(e)) for f, s, e in table[KEY].itertuples(index=False)]
    work = Path(work_dir).expanduser().resolve()
    specs = []
    for k, lo in enumerate(range(0, n, size)):
        chunk = tuple(rows[lo:lo + size])
        digest = _shard_digest(chunk, fs, pp, screen_voiced)
        specs.append(ShardSpec(
            index=k, digest=digest, path=str(work / f"shard-{digest[:24]}.parquet"), rows=chunk,
            feature_set=fs, preprocess=pp,
            cache_dir=None if cache_dir is None else str(Path(cache_dir).expanduser().resolve()),
            screen_voiced=screen_voiced, base_dir=os.getcwd(),
        ))  # fmt: skip
    return specs


def _run_shard(spec: ShardSpec) -> str:
    """Task body: extract one shard in this worker and write its Parquet atomically.

    Every row is present in the file: columns file, start, end, ``_error``, ``_reason``
    and ``_values`` (the feature vector as a list of float64, in ``feature_set.names()``
    order); failed rows have NaN values and their error type and reason.
    """
    items = pd.DataFrame(list(spec.rows), columns=KEY)
    # read relative paths from the driver's folder, report them as the manifest wrote them
    readable = items.assign(file=[os.path.join(spec.base_dir, f) for f in items["file"]])
    res = extract_features(
        readable, spec.feature_set, preprocess=spec.preprocess,
        executor=LocalExecutor(1, progress=False), cache_dir=spec.cache_dir,
        max_failure_fraction=1.0, progress=False, screen_voiced=spec.screen_voiced,
    )  # fmt: skip
    names = spec.feature_set.names()

    def key(f: Any, st: Any, en: Any) -> tuple[str, float | None, float | None]:
        return str(f), (None if pd.isna(st) else float(st)), (None if pd.isna(en) else float(en))

    # extract_features keeps input order and leaves failed items out: put them back by key
    failed = {key(r.file, r.start, r.end): (r.error, r.reason) for r in res.failures.itertuples()}
    matrix = np.full((len(items), len(names)), np.nan)
    errors: list[str | None] = [None] * len(items)
    reasons: list[str | None] = [None] * len(items)
    ok_rows = iter(res.features.to_numpy(dtype=np.float64))
    for i, r in enumerate(readable.itertuples(index=False)):
        k = key(r.file, r.start, r.end)
        if k in failed:
            errors[i], reasons[i] = failed[k]
        else:
            matrix[i] = next(ok_rows)
    table = items.copy()
    table[_ERROR] = pd.Series(errors, dtype=object)
    table[_REASON] = pd.Series(reasons, dtype=object)
    # one list column, not one column per feature: Parquet pays per column, and a
    # 6,373-column shard (ComParE) costs seconds to write and read, more than its features
    table[_VALUES] = list(matrix)
    write_table(table, spec.path)  # temporary name, then renamed: never half-written
    return spec.path


def _read_shard(spec: ShardSpec) -> pd.DataFrame | None:
    """A finished shard's table, or None if absent, unreadable or not matching its rows."""
    path = Path(spec.path)
    if not path.is_file():
        return None
    try:
        df = read_table(path)
    except Exception:  # noqa: BLE001 - a damaged shard is recomputed, not fatal
        return None
    n_features = len(spec.feature_set.names())
    if list(df.columns) != [*KEY, _ERROR, _REASON, _VALUES] or len(df) != len(spec.rows):
        return None
    if any(len(v) != n_features for v in df[_VALUES]):
        return None
    expect = pd.DataFrame(list(spec.rows), columns=KEY)
    same = (df["file"].astype(str).to_numpy() == expect["file"].to_numpy()).all() and all(
        np.array_equal(df[c].to_numpy(dtype=float), expect[c].to_numpy(dtype=float), equal_nan=True)
        for c in ("start", "end")
    )
    return df if same else None


def extract_sharded(
    items: pd.DataFrame | Iterable[str | Path],
    feature_set: FeatureSet | str,
    *,
    work_dir: str | Path,
    preprocess: PreprocessSettings | Mapping[str, Any] | None = None,
    executor: Executor | None = None,
    n_jobs: int = 1,
    shard_size: int | None = None,
    cache_dir: str | Path | None = None,
    max_failure_fraction: float = 0.0,
    output: str | Path | None = None,
    keep_shards: bool = False,
    progress: bool = True,
    screen_voiced: bool = True,
) -> ExtractionResult:
    """Extract a feature set shard by shard; resumable; same table as :func:`extract_features`.

    Parameters
    ----------
    items : manifest (``file`` [, ``start``, ``end``]) or list of audio paths
    feature_set : FeatureSet or registered name
    work_dir : folder for the shard files; on a cluster, storage every node can write
    preprocess : see :class:`~vocalmind.features.extract.PreprocessSettings`
    executor : where shards run, e.g. ``get_executor("ray", address="auto")``; None =
        local processes (``n_jobs``)
    n_jobs : local worker processes when ``executor`` is None
    shard_size : rows per shard; None = :func:`default_shard_size`
    cache_dir : optional per-item cache (shared storage on a cluster)
    max_failure_fraction : largest tolerated fraction of failed rows, checked after merging
    output : if given, the merged table (file, start, end, features...) is written there
        atomically (.csv or .parquet)
    keep_shards : keep the shard files after a successful merge (default: remove them)
    progress : show a progress bar (one step per shard)
    screen_voiced : fail whole recordings without voiced speech, as
        :func:`~vocalmind.features.extract.extract_features` (the recipe passes False: its
        own gates screened the recordings)

    Returns
    -------
    ExtractionResult
        ``features`` [shape=(n_ok, n_features)] indexed by (file, start, end) in manifest
        order; ``failures`` one row per failed item; ``n_cached`` = rows taken from shards
        finished by an earlier run.

    Raises
    ------
    FeatureError
        Some shards could not be finished (e.g. their worker died more often than the
        executor retries); the finished shards stay in ``work_dir`` and a re-run resumes.
    TooManyFailuresError
        More failed rows than ``max_failure_fraction`` allows (shards are kept).
    ConfigError, ManifestError
        Bad options or items.
    """
    if not 0.0 <= max_failure_fraction <= 1.0:
        raise ConfigError(f"max_failure_fraction={max_failure_fraction} must lie in [0, 1]")
    if output is not None and Path(output).suffix.lower() not in {".csv", ".parquet"}:
        raise ConfigError(f"output {output}: use a .csv or .parquet file")
    fs = get_feature_set(feature_set) if isinstance(feature_set, str) else feature_set
    pp = PreprocessSettings.parse(preprocess)
    specs = plan_shards(items, fs, work_dir=work_dir, preprocess=pp, shard_size=shard_size,
                        cache_dir=cache_dir, screen_voiced=screen_voiced)  # fmt: skip
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    tables: dict[int, pd.DataFrame] = {}
    for s in specs:
        t = _read_shard(s)
        if t is not None:
            tables[s.index] = t
    n_reused = sum(len(t) for t in tables.values())
    todo = [s for s in specs if s.index not in tables]
    lost: dict[int, str] = {}
    if todo:
        ex = executor if executor is not None else get_executor("local", n_jobs=n_jobs, progress=progress)
        for spec, result in ex.map(_run_shard, todo, description=f"{fs.name} shards"):
            if isinstance(result, BaseException):
                lost[spec.index] = f"{type(result).__name__}: {str(result).splitlines()[0] if str(result) else ''}"
                continue
            t = _read_shard(spec)
            if t is None:
                lost[spec.index] = f"{spec.path} missing or not matching its rows after the task ended"
            else:
                tables[spec.index] = t
    if lost:
        first = "; ".join(f"shard {k}: {why}" for k, why in sorted(lost.items())[:3])
        raise FeatureError(
            f"{len(lost)} of {len(specs)} shards did not finish ({first}). The "
            f"{len(specs) - len(lost)} finished shards are kept in {work_dir}; run again "
            "with the same settings to resume"
        )
    # Every shard is final now: a temporary file still here is the remains of a task whose
    # worker was killed mid-write (it was retried elsewhere), so it is garbage.
    for part in Path(work_dir).glob(".shard-*.part"):
        part.unlink(missing_ok=True)
    merged = pd.concat([tables[s.index] for s in specs], ignore_index=True) if specs else None
    result = _to_result(merged, fs, pp, n_reused)
    n_total = len(result.features) + len(result.failures)
    allowed = math.floor(max_failure_fraction * n_total + 1e-9)
    if len(result.failures) > allowed:
        err = TooManyFailuresError(_failure_summary(result.failures, n_total, max_failure_fraction))
        err.failures = result.failures  # type: ignore[attr-defined]
        raise err
    if output is not None:
        write_table(result.features.reset_index(), output)
    if not keep_shards:
        for s in specs:
            Path(s.path).unlink(missing_ok=True)
        try:
            Path(work_dir).rmdir()  # only if empty: never removes anything else
        except OSError:
            pass
    return result


def _to_result(merged: pd.DataFrame | None, fs: FeatureSet, pp: PreprocessSettings,
               n_reused: int) -> ExtractionResult:
    names = fs.names()
    if merged is None or merged.empty:
        empty = pd.MultiIndex.from_arrays([[], np.array([], float), np.array([], float)], names=KEY)
        feats = pd.DataFrame(np.empty((0, len(names))), index=empty, columns=names, dtype=np.float64)
        fails = pd.DataFrame(columns=[*KEY, "error", "reason"])
        return ExtractionResult(feats, fails, fs.settings(), pp.settings(), n_reused)
    keys = pd.MultiIndex.from_frame(merged[KEY])
    if keys.duplicated().any():  # cannot happen with distinct manifest keys; checked anyway
        raise FeatureError(f"merged shards repeat {int(keys.duplicated().sum())} rows; remove the shard folder and re-run")
    bad = merged[_ERROR].notna().to_numpy()
    ok = merged.loc[~bad]
    # built like extract_features builds it, so the two tables compare equal
    index = pd.MultiIndex.from_arrays(
        [ok["file"].astype(str).tolist(), ok["start"].to_numpy(dtype=float), ok["end"].to_numpy(dtype=float)],
        names=KEY,
    )
    matrix = np.vstack(ok[_VALUES].to_list()).astype(np.float64) if len(ok) else np.empty((0, len(names)))
    feats = pd.DataFrame(matrix, index=index, columns=names, dtype=np.float64)
    # rebuilt from plain records, as extract_features builds it (same dtypes)
    records = merged.loc[bad, [*KEY, _ERROR, _REASON]].rename(
        columns={_ERROR: "error", _REASON: "reason"}).to_dict("records")
    fails = pd.DataFrame(records, columns=[*KEY, "error", "reason"])
    fails[["start", "end"]] = fails[["start", "end"]].astype(float)
    return ExtractionResult(feats, fails, fs.settings(), pp.settings(), n_reused)


# --------------------------------------------------------------------------- batch assessment


def _assess_shard(paths: tuple[str, ...], *, run_dir: str,
                  speakers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    # the run folder's recipe builds the inputs, exactly as in one local assess() call
    from vocalmind.assess import assess

    return assess(list(paths), run_dir, speakers=speakers)


def assess_sharded(
    paths: Sequence[str | Path],
    run_dir: str | Path,
    *,
    executor: Executor | None = None,
    shard_size: int = 64,
    speakers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Score many recordings with a run folder's model, one executor task per shard.

    Parameters
    ----------
    paths : recordings to score (readable from every worker: shared storage)
    run_dir : finished run folder (readable from every worker)
    executor : e.g. ``get_executor("ray", address="auto")``; None = in this process
    shard_size : recordings per task (each task loads the model once)
    speakers : path -> speaker name, reported with each result (optional)

    Returns
    -------
    list of dict, one per recording in the order of ``paths``, as
    :func:`vocalmind.assess.assess` returns them; recordings that fail a quality gate are
    abstentions with their ``reason``, never predictions

    Raises
    ------
    ModelError
        The model normalises features per speaker and the speaker of a recording is not
        given (each speaker's recordings go to one task together).
    AudioError, FeatureError
        A recording failed (the first failure, in path order, is raised).
    """
    from vocalmind.runs import load_model, speaker_normalised_card

    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ConfigError(f"shard_size must be an integer >= 1, got {shard_size!r}")
    _, info = load_model(run_dir)
    files = [str(Path(p).resolve()) for p in paths]
    if not files:
        return []
    who = {str(Path(k).resolve()): v for k, v in (speakers or {}).items()}
    if speaker_normalised_card(info):
        # each speaker's recordings are normalised together: one task per speaker
        unknown = [f for f in files if f not in who]
        if unknown:
            raise ModelError(
                f"{run_dir}: this model normalises features per speaker; give the speaker "
                f"of every recording (a speaker table: file, speaker) so that each speaker's "
                f"recordings are assessed together in one task; unknown: {unknown[:3]}")
        by_speaker: dict[str, list[str]] = {}
        for f in files:
            by_speaker.setdefault(who[f], []).append(f)
        chunks = [tuple(dict.fromkeys(v)) for v in by_speaker.values()]
    else:
        chunks = [tuple(files[i:i + shard_size]) for i in range(0, len(files), shard_size)]
    ex = executor if executor is not None else LocalExecutor(1, progress=False)
    who = {str(Path(k).resolve()): v for k, v in (speakers or {}).items()}
    fn = functools.partial(_assess_shard, run_dir=str(Path(run_dir).resolve()),
                           speakers=who or None)
    done: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    errors: dict[tuple[str, ...], BaseException] = {}
    for chunk, res in ex.map(fn, chunks, description="assess shards"):
        if isinstance(res, BaseException):
            errors[chunk] = res
        else:
            done[chunk] = res
    for chunk in chunks:
        if chunk in errors:
            raise errors[chunk]
    if any(len(done[c]) != len(c) for c in chunks):
        raise ManifestError("a shard returned a different number of results than recordings")
    by_file = {r["file"]: r for c in chunks for r in done[c]}
    return [by_file[f] for f in files]
