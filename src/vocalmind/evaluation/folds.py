"""Fold files in EmoBox's layout: one JSON-lines file per fold and side.

EmoBox (Ma et al. 2024) publishes the folds of its benchmark as::

    <dir>/fold_1/<dataset>_train_fold_1.jsonl
    <dir>/fold_1/<dataset>_test_fold_1.jsonl
    <dir>/fold_2/...

each line one recording: ``{"key": "savee-JE-n23", "dataset": "savee", "wav":
"downloads/savee/JE_n23.wav", "emo": "n", "length": 3.37, "sample_rate": 44100, ...}``.
Reading such files lets a run report on exactly the folds a published benchmark used
(RAVDESS 6 x 4 actors, SAVEE leave-one-speaker-out ...); writing them publishes a run's own
folds in the same form (with a ``speaker`` field added, which EmoBox readers ignore).

Recordings are matched to manifest rows by the end of their path: the file name, then
``folder/name``, then EmoBox's flattened ``folder_name`` (``JE/n23.wav`` is ``JE_n23.wav``),
so the corpus may lie anywhere and under its authors' own folder layout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.errors import ConfigError
from vocalmind.files import write_text

__all__ = ["fold_indices", "read_fold_files", "write_fold_files"]

_NAME = re.compile(r"(?P<dataset>.+)_(?P<side>train|test)_fold_(?P<fold>\d+)\.jsonl", re.IGNORECASE)


def read_fold_files(path: str | Path) -> pd.DataFrame:
    """Read every ``*_{train,test}_fold_<k>.jsonl`` under ``path`` (any depth).

    Parameters
    ----------
    path : a folder in EmoBox's layout (``fold_<k>/`` sub-folders or the files directly)

    Returns
    -------
    DataFrame
        One row per (fold, side, recording): ``fold`` (int, as numbered in the file names),
        ``side`` (``train``/``test``), ``dataset``, ``wav`` and every other field of the line.

    Raises
    ------
    ConfigError
        No such folder, no fold file in it, a line that is not a JSON object with ``wav``,
        or a fold without a train or a test file.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"fold files: {root.resolve()} is not a folder")
    files = sorted(p for p in root.rglob("*.jsonl") if _NAME.fullmatch(p.name))
    if not files:
        raise ConfigError(
            f"fold files: no <dataset>_train_fold_<k>.jsonl / _test_fold_<k>.jsonl under "
            f"{root.resolve()}"
        )
    rows: list[dict[str, Any]] = []
    for f in files:
        m = _NAME.fullmatch(f.name)
        assert m is not None
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{f}:{n}: not JSON ({e.msg})") from None
            if not isinstance(item, dict) or "wav" not in item:
                raise ConfigError(f"{f}:{n}: a fold line must be an object with a 'wav' path")
            rows.append({**item, "fold": int(m["fold"]), "side": m["side"].lower(),
                         "dataset": item.get("dataset", m["dataset"])})
    table = pd.DataFrame(rows)
    sides = table.groupby("fold")["side"].agg(lambda s: set(s))
    incomplete = [int(k) for k, s in sides.items() if s != {"train", "test"}]
    if incomplete:
        raise ConfigError(f"fold files under {root}: folds {incomplete} lack a train or a test file")
    return table


def _suffixes(path: str) -> list[str]:
    """Ways a recording's path may be written, most specific first (lower case)."""
    parts = Path(str(path).replace("\\", "/")).parts
    out = []
    if len(parts) >= 2:
        out += ["/".join(parts[-2:]).lower(), f"{parts[-2]}_{parts[-1]}".lower()]
    out.append(parts[-1].lower())
    return out


def _match(files: Sequence[str], wavs: Iterable[str]) -> dict[str, np.ndarray]:
    """For each fold-file path, the manifest rows (indices) of that recording."""
    by_key: dict[str, list[int]] = {}
    for i, f in enumerate(files):
        for key in dict.fromkeys(_suffixes(f)):
            by_key.setdefault(key, []).append(i)
    out: dict[str, np.ndarray] = {}
    for wav in dict.fromkeys(wavs):
        for key in _suffixes(wav):
            rows = by_key.get(key)
            if rows is None:
                continue
            if len({files[i] for i in rows}) == 1:  # one recording (maybe several segments)
                out[wav] = np.asarray(rows, dtype=np.int64)
                break
    return out


def fold_indices(
    files: Sequence[str], table: pd.DataFrame
) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Turn a fold table into ``(train_idx, test_idx)`` pairs over manifest rows.

    Parameters
    ----------
    files : the ``file`` of every manifest row [shape=(n_rows,)]
    table : from :func:`read_fold_files`

    Returns
    -------
    folds : list of (train_idx, test_idx), ordered by fold number
    report : ``{"folds": [...numbers], "unmatched": n, "unmatched_examples": [...],
        "rows_in_no_fold": n}``. Recordings of the fold file missing from the manifest are
        left out of their fold and counted; manifest rows no fold mentions are never used.

    Raises
    ------
    ConfigError
        No recording of the fold file is in the manifest, or a fold loses its whole test
        or training side.
    """
    files = [str(f) for f in files]
    matched = _match(files, table["wav"].astype(str))
    unmatched = sorted(set(table["wav"].astype(str)) - set(matched))
    if not matched:
        raise ConfigError(
            f"none of the {table['wav'].nunique()} recordings of the fold file is in the manifest "
            f"(e.g. {unmatched[:2]}); is it the fold file of this corpus?"
        )
    folds = []
    used = np.zeros(len(files), dtype=bool)
    for k in sorted(table["fold"].unique()):
        part = table[table["fold"] == k]
        sides = {}
        for side in ("train", "test"):
            idx = [matched[w] for w in part.loc[part["side"] == side, "wav"].astype(str) if w in matched]
            sides[side] = np.unique(np.concatenate(idx)) if idx else np.zeros(0, dtype=np.int64)
            if sides[side].size == 0:
                raise ConfigError(f"fold {k}: none of its {side} recordings is in the manifest")
        used[sides["train"]] = used[sides["test"]] = True
        folds.append((sides["train"], sides["test"]))
    report = {"folds": [int(k) for k in sorted(table["fold"].unique())],
              "unmatched": len(unmatched), "unmatched_examples": unmatched[:5],
              "rows_in_no_fold": int((~used).sum())}
    return folds, report


def write_fold_files(
    out_dir: str | Path,
    manifest: pd.DataFrame,
    folds: Sequence[tuple[Sequence[int], Sequence[int]]],
    *,
    dataset: str,
    label: str = "emotion",
    label_map: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write folds over ``manifest`` rows as EmoBox-style JSON-lines files.

    Parameters
    ----------
    out_dir : folder; ``fold_<k>/<dataset>_{train,test}_fold_<k>.jsonl`` are written, k from 1
    manifest : rows with ``file``, ``subject`` and the ``label`` column
    folds : ``(train_idx, test_idx)`` positional indices, e.g. from ``Protocol.split``
    dataset : dataset name used in keys and file names (``savee``)
    label : manifest column written as ``emo``
    label_map : optional renaming of label values (e.g. ``{"anger": "ang"}``)

    Returns
    -------
    list of Path
        The files written (atomically).
    """
    if label not in manifest:
        raise ConfigError(f"write_fold_files: the manifest has no {label!r} column")
    out = Path(out_dir)
    written = []
    rows = manifest.reset_index(drop=True)
    for k, (train, test) in enumerate(folds, start=1):
        for side, idx in (("train", train), ("test", test)):
            lines = []
            for _, r in rows.iloc[list(idx)].iterrows():
                value = r[label]
                emo = None if pd.isna(value) else str(label_map.get(str(value), value)
                                                      if label_map else value)
                item: dict[str, Any] = {
                    "key": f"{dataset}-{Path(str(r['file'])).stem}", "dataset": dataset,
                    "wav": str(r["file"]), "type": "raw", "task": "category", "emo": emo,
                    "channel": 1, "speaker": str(r["subject"]),
                }
                for col in ("start", "end"):
                    if col in r and pd.notna(r[col]):
                        item[col] = float(r[col])
                lines.append(json.dumps(item, ensure_ascii=False))
            path = out / f"fold_{k}" / f"{dataset}_{side}_fold_{k}.jsonl"
            written.append(write_text(path, "\n".join(lines) + ("\n" if lines else "")))
    return written
