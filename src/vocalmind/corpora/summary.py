"""What a manifest holds: counts, durations, label balance, and three overview plots.

Durations come from the recordings' headers (:func:`vocalmind.audio.info`); segments with
``start``/``end`` count ``end - start``. Unreadable recordings are listed under
``failures`` and left out of the duration totals instead of stopping the summary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.corpora.manifest import SCORE_COLUMNS
from vocalmind.errors import InputError, ManifestError, VocalmindError

__all__ = ["row_durations", "summarize", "summary_plots"]

CATEGORICAL_LABELS = ["emotion", *[f"{s}_{k}" for s in SCORE_COLUMNS for k in ("band", "binary")]]


def _file_duration(path: str) -> float:
    from vocalmind.audio import info

    return float(info(path).duration_s)


def row_durations(manifest: pd.DataFrame) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Duration of every manifest row in seconds, and the files whose header could not be read.

    Parameters
    ----------
    manifest : table with ``file`` and optionally ``start``/``end`` (seconds, NaN = whole file)

    Returns
    -------
    durations : np.ndarray [shape=(n_rows,)], float64 seconds; NaN where unreadable
    failures : list of ``{"file", "reason"}``
    """
    n = len(manifest)
    start = manifest["start"].to_numpy(float) if "start" in manifest else np.full(n, np.nan)
    end = manifest["end"].to_numpy(float) if "end" in manifest else np.full(n, np.nan)
    whole: dict[str, float] = {}
    failures: list[dict[str, str]] = []
    need = manifest["file"].astype(str)[np.isnan(start) | np.isnan(end)].unique()
    for f in need:
        try:
            whole[f] = _file_duration(f)
        except (VocalmindError, OSError, ValueError, RuntimeError) as e:
            whole[f] = math.nan
            failures.append({"file": f, "reason": getattr(e, "reason", None) or str(e)})
    out = np.empty(n, dtype=np.float64)
    for i, f in enumerate(manifest["file"].astype(str)):
        s, e = start[i], end[i]
        full = whole.get(f, math.nan)
        if np.isnan(s) and np.isnan(e):
            out[i] = full
        else:
            s = 0.0 if np.isnan(s) else s
            e = full if np.isnan(e) else e
            out[i] = e - s
    return out, failures


def _counts(series: pd.Series) -> dict[str, int]:
    vc = series.dropna().astype(str).value_counts().sort_index()
    return {str(k): int(v) for k, v in vc.items()}


def summarize(
    manifest: pd.DataFrame, *, label_columns: Sequence[str] | None = None
) -> dict[str, Any]:
    """Summarise a manifest: files, subjects, total duration, label counts, failures.

    Parameters
    ----------
    manifest : a manifest (see :mod:`vocalmind.corpora.manifest`)
    label_columns : columns to count; default every categorical label column that has a
        value (``emotion``, ``<scale>_band``, ``<scale>_binary``)

    Returns
    -------
    dict
        ``rows``, ``files`` (distinct recordings), ``subjects``, ``duration_s`` (total
        seconds of readable rows), ``duration_stats`` (mean/min/max per row, seconds),
        ``labels`` ({column: {value: rows}}), ``scores`` ({scale: n/mean/min/max}),
        ``splits``, ``gender`` (subjects per gender), ``corpus``, ``failures`` (files skipped
        by the reader plus files whose header is unreadable, as ``{file, reason}``).
        Plain Python types only, ready for JSON.

    Raises
    ------
    ManifestError
        A requested label column is not in the manifest.
    """
    if label_columns is None:
        cols = [c for c in CATEGORICAL_LABELS if c in manifest and manifest[c].notna().any()]
    else:
        missing = [c for c in label_columns if c not in manifest]
        if missing:
            raise ManifestError(f"summarize: label columns {missing} are not in the manifest ({list(manifest.columns)})")
        cols = list(label_columns)
    durations, failures = row_durations(manifest)
    ok = durations[np.isfinite(durations)]
    scores = {}
    for s in SCORE_COLUMNS:
        if s in manifest and manifest[s].notna().any():
            v = manifest[s].dropna().astype(float)
            scores[s] = {"n": int(v.size), "mean": round(float(v.mean()), 3),
                         "min": float(v.min()), "max": float(v.max())}
    subjects = manifest.drop_duplicates("subject") if "subject" in manifest else manifest.iloc[:0]
    return {
        "corpus": sorted(manifest["corpus"].dropna().astype(str).unique().tolist())
        if "corpus" in manifest else [],
        "rows": int(len(manifest)),
        "files": int(manifest["file"].nunique()),
        "subjects": int(manifest["subject"].nunique()) if "subject" in manifest else 0,
        "duration_s": round(float(ok.sum()), 3),
        "duration_stats": {
            "mean_s": round(float(ok.mean()), 3) if ok.size else None,
            "min_s": round(float(ok.min()), 3) if ok.size else None,
            "max_s": round(float(ok.max()), 3) if ok.size else None,
        },
        "labels": {c: {k: counts[k] for k in label_order(c, list(counts))}
                   for c in cols for counts in [_counts(manifest[c])]},
        "scores": scores,
        "splits": _counts(manifest["split"]) if "split" in manifest else {},
        "gender": _counts(subjects["gender"]) if "gender" in subjects else {},
        "failures": [*manifest.attrs.get("failures", []), *failures],
    }


def label_order(column: str, values: Sequence[str]) -> list[str]:
    """Values of a label column in a meaningful order: bands by severity, binaries 0 then 1,
    anything else alphabetically.

    Examples
    --------
    >>> label_order("phq9_band", ["severe", "none", "mild"])
    ['none', 'mild', 'severe']
    """
    from vocalmind.scales import SCALES

    present = sorted({str(v) for v in values})
    scale = SCALES.get(column.rsplit("_", 1)[0]) if column.endswith("_band") else None
    if scale is not None:
        rank = {b: i for i, b in enumerate(scale.bands)}
        return sorted(present, key=lambda v: (rank.get(v, len(rank)), v))
    if column.endswith("_binary"):
        return sorted(present, key=lambda v: (_as_float(v), v))
    return present


def _as_float(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        return math.inf


def _prefix(manifest: pd.DataFrame) -> str:
    """File-name prefix that keeps plots of different corpora apart in one folder."""
    names = []
    if "corpus" in manifest:
        names = sorted(manifest["corpus"].dropna().astype(str).unique().tolist())
    if not names and manifest.attrs.get("corpus"):
        names = [str(manifest.attrs["corpus"])]
    text = "+".join(names) or "manifest"
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text)[:60]


def summary_plots(
    manifest: pd.DataFrame, durations: Sequence[float] | np.ndarray, out_dir: str | Path
) -> list[Path]:
    """Write PNG overviews of a manifest into ``out_dir`` (atomically).

    Parameters
    ----------
    manifest : the manifest
    durations : np.ndarray [shape=(n_rows,)], seconds per row (NaN = unreadable), e.g. from
        :func:`row_durations`
    out_dir : folder to write into (created)

    Returns
    -------
    list of Path
        Every name starts with the corpus name(s), so overviews of several corpora can share
        a folder: ``<corpus>-durations.png`` (histogram of row durations),
        ``<corpus>-labels-<column>.png`` for *every* categorical label column (bands in
        order of severity), ``<corpus>-scores-<scale>.png`` (histogram of each questionnaire
        score with its screening cut-off) and ``<corpus>-subjects.png`` (rows per subject,
        integer axis).
    """
    from vocalmind.figures import (
        plot_duration_histogram,
        plot_label_balance,
        plot_rows_per_subject,
        plot_score_histogram,
        save_figure,
    )
    from vocalmind.scales import SCALES

    d = np.asarray(durations, dtype=float)
    if d.shape != (len(manifest),):
        raise InputError(f"summary_plots: durations has shape {d.shape}; expected ({len(manifest)},), one per manifest row")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prefix = _prefix(manifest)
    written = [save_figure(plot_duration_histogram(d), out / f"{prefix}-durations.png")]

    for label in (c for c in CATEGORICAL_LABELS if c in manifest and manifest[c].notna().any()):
        values = manifest[label].dropna()
        if label.endswith("_binary"):
            values = values.map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
        counts = values.astype(str).value_counts()
        order = label_order(label, counts.index.tolist())
        fig = plot_label_balance({o: int(counts[o]) for o in order}, label=label)
        written.append(save_figure(fig, out / f"{prefix}-labels-{label}.png"))

    for score in SCORE_COLUMNS:
        if score not in manifest or not manifest[score].notna().any():
            continue
        v = pd.to_numeric(manifest[score], errors="coerce").dropna()
        by_subject = v.groupby(manifest.loc[v.index, "subject"].astype(str)).mean() \
            if "subject" in manifest else v
        scale = SCALES.get(score)
        fig = plot_score_histogram(by_subject.to_numpy(), score=score,
                                   cutoff=None if scale is None else scale.positive_at)
        written.append(save_figure(fig, out / f"{prefix}-scores-{score}.png"))

    per = manifest["subject"].astype(str).value_counts().sort_values(ascending=False)
    written.append(save_figure(plot_rows_per_subject(per), out / f"{prefix}-subjects.png"))
    return written
