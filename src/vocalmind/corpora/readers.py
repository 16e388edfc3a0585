"""Corpus registry: ``read_corpus(name, root, **options)`` -> manifest.

Every reader takes the corpus folder exactly as its authors distribute it and returns a
manifest (see :mod:`vocalmind.corpora.manifest`). Files that cannot be used (unreadable,
empty, a name outside the corpus's scheme) are skipped and listed in
``df.attrs["failures"]`` as ``{"file", "reason"}`` dicts; a folder that is not the corpus at
all raises :class:`~vocalmind.errors.CorpusError` describing the expected layout.

Examples
--------
>>> "emodb" in available_corpora()
True
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from vocalmind.corpora import clinical, emotion  # noqa: F401  (register the readers)
from vocalmind.corpora._base import REGISTRY, CorpusSpec, Rows, register
from vocalmind.corpora.manifest import COLUMNS
from vocalmind.errors import ConfigError, CorpusError
from vocalmind.files import read_table

__all__ = ["read_corpus", "available_corpora", "corpus_spec", "read_csv_corpus"]


@register(
    "csv", language=None,
    layout="a CSV/Parquet table with a file column (paths absolute or relative to the table's folder) "
           "and any manifest columns (subject, emotion, phq8, ...)",
    description="Generic table of recordings (any corpus prepared by hand)",
)
def read_csv_corpus(
    root: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    corpus: str | None = None,
    check_audio: bool = True,
) -> pd.DataFrame:
    """Read a hand-made table of recordings into a manifest.

    Parameters
    ----------
    root : path of the CSV (or Parquet) table
    columns : renaming of the table's columns onto manifest names, e.g.
        ``{"path": "file", "speaker": "subject", "label": "emotion"}``
    corpus : value of the ``corpus`` column where the table has none (default: file stem)

    Relative ``file`` paths are resolved against the table's folder. Without a ``subject``
    column every row is its own subject (the file stem), which makes subject-wise splits
    equivalent to file-wise ones.
    """
    path = Path(root).expanduser()
    if not path.is_file():
        raise CorpusError(f"{path}: no such table; the csv corpus expects a CSV/Parquet file, not a folder")
    try:
        table = read_table(path)
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise CorpusError(f"{path}: cannot read table ({e})") from None
    if columns:
        unknown = [c for c in columns if c not in table.columns]
        if unknown:
            raise CorpusError(f"{path}: columns {unknown} to rename are not in the table {list(table.columns)}")
        table = table.rename(columns=dict(columns))
    if "file" not in table.columns:
        raise CorpusError(
            f"{path}: no 'file' column (found {list(table.columns)}); "
            "map yours with columns={'your_column': 'file'}"
        )
    base = path.parent.resolve()
    rows = Rows("csv", base, check_audio)
    name = corpus or path.stem
    known = set(COLUMNS)
    for rec in table.to_dict("records"):
        raw = rec.pop("file")
        if not isinstance(raw, str) or not raw.strip():
            rows.fail(path, f"row without a file path: {raw!r}")
            continue
        f = Path(raw.strip()).expanduser()
        f = f if f.is_absolute() else (base / f)
        # "Unnamed: 0" is a pandas index column written by to_csv; it is not data.
        values = {k: v for k, v in rec.items() if k in known or not str(k).startswith("Unnamed:")}
        subject = values.get("subject")
        if subject is None or (isinstance(subject, float) and pd.isna(subject)):
            values["subject"] = f.stem
        if "corpus" not in values or pd.isna(values.get("corpus")):
            values["corpus"] = name
        rows.add(f.resolve(), **values)
    return rows.manifest()


def available_corpora() -> list[str]:
    """Names accepted by :func:`read_corpus`, sorted."""
    return sorted(REGISTRY)


def corpus_spec(name: str) -> CorpusSpec:
    """The registry entry of ``name`` (reader, language, expected layout, description)."""
    try:
        return REGISTRY[name.lower()]
    except KeyError:
        raise CorpusError(f"unknown corpus {name!r}; known: {', '.join(available_corpora())}") from None


def read_corpus(name: str, root: str | Path, **options: Any) -> pd.DataFrame:
    """Read corpus ``name`` from ``root`` into a manifest.

    Parameters
    ----------
    name : one of :func:`available_corpora`
    root : the corpus folder as distributed (for ``csv``: the table file)
    **options : reader options (see each reader, e.g. ``participant_only=True`` for
        ``daicwoz``, ``task="structured"`` for ``emu``); every reader accepts
        ``check_audio`` (default True: open each file's header and skip unreadable ones)

    Returns
    -------
    pd.DataFrame
        The manifest; ``df.attrs["failures"]`` lists skipped files as ``{file, reason}``.

    Raises
    ------
    CorpusError
        Unknown corpus, or ``root`` does not have the corpus's layout.
    ConfigError
        An unknown option or an invalid option value (also a ``ValueError``).
    """
    spec = corpus_spec(name)
    params = inspect.signature(spec.reader).parameters
    unknown = sorted(set(options) - set(params) - {"root"})
    if unknown:
        allowed = [p for p in params if p != "root"]
        raise ConfigError(f"corpus {spec.name!r} has no option(s) {unknown}; options: {allowed}")
    return spec.reader(root, **options)

