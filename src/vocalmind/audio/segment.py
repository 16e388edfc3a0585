"""Fixed-length segmentation of recordings and of manifests.

Rules of :func:`segment_times` (all times in seconds)
------------------------------------------------------
* Segments of ``length_s`` start at ``0, hop_s, 2*hop_s, ...`` as long as they fit.
  ``hop_s`` defaults to ``length_s`` (no overlap); ``hop_s < length_s`` overlaps.
* **Tail**: if the audio after the end of the last full segment is at least ``min_last_s``
  (default ``length_s / 2``), one more full-length segment is added, *aligned to the end*
  of the recording (``[duration - length_s, duration]``), so it overlaps its predecessor.
  Every segment therefore has exactly ``length_s``; a shorter remainder is dropped.
* **Short recording** (``duration_s < length_s``): with ``pad_short=True`` one segment
  ``(0, duration_s)`` covering everything -- the only case where a segment is shorter than
  ``length_s`` (that is the flag: the model or loader must pad it); with
  ``pad_short=False`` no segment at all.

:func:`segment_manifest` applies these rules to every row of a manifest and adds
``recording`` (id of the parent row), ``parent_start``/``parent_end`` (the parent row's own
``start``/``end``, NaN kept), ``segment`` (0-based index within the recording) and
``short_segment`` (True where the segment is shorter than ``length_s``), so predictions
per segment can be aggregated back to recordings with ``groupby("recording")`` and joined
to the original manifest on ``(file, parent_start, parent_end)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from vocalmind.audio.io import info
from vocalmind.errors import AudioError, ManifestError, ParameterError

__all__ = ["segment_times", "segment_manifest", "recording_id"]

_EPS = 1e-6  # seconds; absorbs float error in duration arithmetic

Spans = Sequence[tuple[float, float]]


def segment_times(
    duration_s: float,
    *,
    length_s: float = 7.0,
    hop_s: float | None = None,
    min_last_s: float | None = None,
    pad_short: bool = True,
) -> list[tuple[float, float]]:
    """Cut ``[0, duration_s]`` into fixed-length segments (rules in the module docstring).

    Parameters
    ----------
    duration_s : float
        Length of the recording (or span) in seconds, >= 0.
    length_s : float
        Segment length in seconds (> 0); 7 s as in document 003.
    hop_s : float or None
        Distance between segment starts (0 < hop_s); None = ``length_s``.
    min_last_s : float or None
        Smallest uncovered tail (seconds) that earns an end-aligned last segment;
        None = ``length_s / 2``. Must lie in [0, length_s].
    pad_short : bool
        For ``duration_s < length_s``: one short segment covering it all (True) or none.

    Returns
    -------
    list of (start_s, end_s)
        Sorted by start.

    Examples
    --------
    >>> segment_times(18.0, length_s=7.0)
    [(0.0, 7.0), (7.0, 14.0), (11.0, 18.0)]
    >>> segment_times(17.0, length_s=7.0)  # 3 s left over < min_last_s = 3.5 s: dropped
    [(0.0, 7.0), (7.0, 14.0)]
    >>> segment_times(3.0, length_s=7.0)
    [(0.0, 3.0)]
    >>> segment_times(3.0, length_s=7.0, pad_short=False)
    []
    """
    if not (isinstance(duration_s, int | float | np.floating) and math.isfinite(duration_s)):
        raise ParameterError(f"segment_times: duration_s={duration_s!r} must be a finite number of seconds")
    if duration_s < 0:
        raise ParameterError(f"segment_times: duration_s={duration_s} must be >= 0 seconds")
    if not length_s > 0:
        raise ParameterError(f"segment_times: length_s={length_s} must be > 0 seconds")
    hop = length_s if hop_s is None else float(hop_s)
    if not hop > 0:
        raise ParameterError(f"segment_times: hop_s={hop_s} must be > 0 seconds")
    min_last = length_s / 2 if min_last_s is None else float(min_last_s)
    if not 0 <= min_last <= length_s:
        raise ParameterError(f"segment_times: min_last_s={min_last_s} must lie in [0, length_s={length_s}]")

    if duration_s <= 0:
        return []
    if duration_s < length_s - _EPS:
        return [(0.0, float(duration_s))] if pad_short else []

    n_full = int(math.floor((duration_s - length_s + _EPS) / hop)) + 1
    segs = [(round(i * hop, 6), round(i * hop + length_s, 6)) for i in range(n_full)]
    uncovered = duration_s - segs[-1][1]
    if uncovered > _EPS and uncovered >= min_last - _EPS:
        segs.append((round(duration_s - length_s, 6), round(float(duration_s), 6)))
    return segs


def recording_id(file: str, start: float, end: float) -> str:
    """Id of a manifest row: the file, plus ``@start-end`` when the row is a span.

    Examples
    --------
    >>> recording_id("/d/a.wav", float("nan"), float("nan"))
    '/d/a.wav'
    >>> recording_id("/d/a.wav", 1.5, 9.0)
    '/d/a.wav@1.500-9.000'
    """
    if _isnan(start) and _isnan(end):
        return str(file)
    s = "" if _isnan(start) else f"{start:.3f}"
    e = "" if _isnan(end) else f"{end:.3f}"
    return f"{file}@{s}-{e}"


def _isnan(x: object) -> bool:
    return x is None or (isinstance(x, float | np.floating) and math.isnan(x))


def segment_manifest(
    manifest: pd.DataFrame,
    *,
    length_s: float = 7.0,
    hop_s: float | None = None,
    min_last_s: float | None = None,
    pad_short: bool = True,
    within: Mapping[str, Spans] | Callable[[str], Spans] | None = None,
    on_error: Literal["raise", "skip"] = "raise",
    progress: bool = True,
) -> pd.DataFrame:
    """Expand each manifest row into fixed-length segment rows.

    Parameters
    ----------
    manifest : pd.DataFrame
        Manifest (see :mod:`vocalmind.corpora.manifest`); needs ``file``, ``start``,
        ``end``. NaN ``start``/``end`` mean the beginning/end of the file, whose duration
        comes from :func:`vocalmind.audio.info` (header only, one call per file).
    length_s, hop_s, min_last_s, pad_short
        As in :func:`segment_times`.
    within : mapping or callable, optional
        Spans (absolute seconds in the file) that segments must lie inside, e.g. the
        participant's turns from :func:`vocalmind.audio.speaker_turns` or VAD output:
        ``{file: [(start, end), ...]}`` or ``file -> [(start, end), ...]``. Each span is
        intersected with the row's span and segmented on its own by the rules above (so
        a turn shorter than ``length_s`` becomes one short segment when ``pad_short``).
        A file missing from a mapping yields no segments.
    on_error : {"raise", "skip"}
        What to do when a file's duration cannot be read: raise its
        :class:`AudioError`, or drop its rows with a warning.
    progress : bool
        Show a rich progress bar when more than 200 files need their duration read.

    Returns
    -------
    pd.DataFrame
        One row per segment with every column of ``manifest`` (labels and metadata
        repeated), ``start``/``end`` set to the segment (absolute seconds in the file),
        and the added columns ``recording`` (str), ``parent_start``, ``parent_end``
        (float), ``segment`` (int) and ``short_segment`` (bool). Rows yielding no
        segment are dropped with a warning.

    Raises
    ------
    ManifestError
        Missing ``file``/``start``/``end`` columns, or already segmented.
    ParameterError
        Invalid ``length_s``/``hop_s``/``min_last_s``/``on_error``.
    AudioError
        A file cannot be read and ``on_error="raise"``.
    """
    missing = [c for c in ("file", "start", "end") if c not in manifest.columns]
    if missing:
        raise ManifestError(f"manifest lacks columns {missing}; build it with make_manifest()")
    if on_error not in ("raise", "skip"):
        raise ParameterError(f"segment_manifest: on_error={on_error!r}; choose 'raise' or 'skip'")
    clash = [
        c
        for c in ("recording", "parent_start", "parent_end", "segment", "short_segment")
        if c in manifest.columns
    ]
    if clash:
        raise ManifestError(f"manifest already has columns {clash}; is it segmented already?")
    segment_times(length_s, length_s=length_s, hop_s=hop_s, min_last_s=min_last_s)  # validate

    starts = pd.to_numeric(manifest["start"], errors="coerce").to_numpy(float)
    ends = pd.to_numeric(manifest["end"], errors="coerce").to_numpy(float)
    files = manifest["file"].astype(str).to_numpy()

    need = sorted({f for f, s, e in zip(files, starts, ends, strict=True) if math.isnan(e)})
    durations: dict[str, float] = {}
    failed: dict[str, str] = {}
    iterator = need
    if progress and len(need) > 200:
        from rich.progress import track

        iterator = track(need, description="reading durations", transient=True)
    for f in iterator:
        try:
            durations[f] = info(f).duration_s
        except AudioError as exc:
            if on_error == "raise":
                raise
            failed[f] = exc.reason

    positions: list[int] = []
    seg_rows: list[tuple[float, float, int, bool]] = []
    empty = 0
    for i, (f, s0, e0) in enumerate(zip(files, starts, ends, strict=True)):
        if f in failed:
            continue
        lo = 0.0 if math.isnan(s0) else float(s0)
        hi = durations[f] if math.isnan(e0) else float(e0)
        if within is None:
            pieces: Spans = [(lo, hi)]
        else:
            spans = within(f) if callable(within) else within.get(f, [])
            pieces = [(max(lo, a), min(hi, b)) for a, b in spans if min(hi, b) > max(lo, a)]
        k = 0
        for a, b in sorted(pieces):
            for ss, ee in segment_times(
                b - a, length_s=length_s, hop_s=hop_s, min_last_s=min_last_s, pad_short=pad_short
            ):
                positions.append(i)
                seg_rows.append((a + ss, a + ee, k, (ee - ss) < length_s - _EPS))
                k += 1
        empty += k == 0

    if failed:
        warnings.warn(
            f"segment_manifest skipped {len(failed)} unreadable files, e.g. "
            f"{next(iter(failed))}: {next(iter(failed.values()))}",
            stacklevel=2,
        )
    if empty:
        warnings.warn(
            f"segment_manifest: {empty} rows gave no segment (shorter than length_s="
            f"{length_s} s with pad_short=False, or no `within` span); they are dropped",
            stacklevel=2,
        )

    out = manifest.iloc[np.asarray(positions, dtype=int)].reset_index(drop=True).copy()
    par_s, par_e = starts[positions], ends[positions]
    out["recording"] = [
        recording_id(f, s, e) for f, s, e in zip(out["file"].astype(str), par_s, par_e, strict=True)
    ]
    out["parent_start"] = par_s
    out["parent_end"] = par_e
    seg = np.asarray(seg_rows, dtype=float).reshape(-1, 4)
    out["start"] = np.round(seg[:, 0], 6)
    out["end"] = np.round(seg[:, 1], 6)
    out["segment"] = seg[:, 2].astype(int)
    out["short_segment"] = seg[:, 3].astype(bool)
    return out
