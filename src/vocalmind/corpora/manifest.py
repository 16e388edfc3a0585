"""The manifest table: vocalmind's one data contract.

A manifest has one row per recording or segment. Columns:

- ``file``: absolute path of the recording (str)
- ``start``, ``end``: seconds from the file start; NaN means the whole file
- ``subject``: speaker / participant id (str, required; the unit of every split)
- ``session``: session id (str, optional; longitudinal studies)
- ``language``: ISO 639-1 code, ``gender``: ``"f"``/``"m"``/NaN, ``age``: years or NaN
- labels: ``emotion`` (str), scores ``phq8, phq9, gad7, hamd, sds`` (float, NaN = missing)
- derived from the scores by :mod:`vocalmind.scales`: ``<scale>_band`` and ``<scale>_binary``
- ``split``: the corpus's predefined partition (``train``/``dev``/``test``) or NaN
- ``corpus``: the corpus name

Extra columns (e.g. ``sentence``, ``text``) are kept, except personal data: columns that
identify a person (names, dates of birth, contact details, record numbers; see
:data:`IDENTIFYING`) and the PHQ-9 suicidal-ideation item (``phq9_item9`` and its
spellings) are dropped with a note on standard error, never written. Every reader builds
its manifest with :func:`make_manifest`, so this holds for every reader and for
:func:`read_manifest`. ``make_manifest(rows, extra_columns=[...])`` keeps only the declared
extra label/covariate columns. Feature tables share the (file, start, end) key.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.errors import ManifestError
from vocalmind.files import read_table, write_table
from vocalmind.scales import SCALES

KEY = ["file", "start", "end"]
META_COLUMNS = ["subject", "session", "language", "gender", "age", "split", "corpus"]
SCORE_COLUMNS = list(SCALES)  # phq8, phq9, gad7, hamd, sds
DERIVED_COLUMNS = [f"{s}_{kind}" for s in SCORE_COLUMNS for kind in ("band", "binary")]
LABEL_COLUMNS = ["emotion", *SCORE_COLUMNS, *DERIVED_COLUMNS]
COLUMNS = [*KEY, *META_COLUMNS, *LABEL_COLUMNS]
#: columns segmentation adds (vocalmind.audio.segment_manifest)
SEGMENT_COLUMNS = ["recording", "parent_start", "parent_end", "segment", "short_segment"]

#: column names (case-insensitive, punctuation-insensitive) that identify a person
IDENTIFYING = re.compile(
    r"^(?:(?:first|last|given|family|full|middle|maiden|participant|patient|subject|user)?"
    r"_?(?:name|surname|forename|initials)|name|dob|birth_?date|date_?of_?birth|birthday|"
    r"e_?mail(?:_?address)?|phone(?:_?number)?|telephone|mobile|cell|fax|address|"
    r"street|city|post_?code|zip(?:_?code)?|ssn|social_?security(?:_?number)?|"
    r"nhs_?(?:number|no)?|mrn|medical_?record(?:_?number)?|passport(?:_?number)?|"
    r"contact(?:_?\w+)?|ip_?address|national_?id)$")
#: the PHQ-9 suicidal-ideation item, however it is spelled
SUICIDE_ITEM = re.compile(r"^(?:phq_?9_?(?:item_?|q_?)?|item_?|q_?)0?9$")


def _canonical(col: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(col).strip().lower()).strip("_")


def personal_columns(columns: Iterable[Any]) -> list[Any]:
    """The columns that must never enter a manifest (identifying data, PHQ-9 item 9).

    Examples
    --------
    >>> personal_columns(["file", "Name", "DOB", "phq9_item9", "PHQ9 Q9", "emotion", "e-mail"])
    ['Name', 'DOB', 'phq9_item9', 'PHQ9 Q9', 'e-mail']
    """
    out = []
    for c in columns:
        k = _canonical(c)
        if k in COLUMNS:
            continue
        if IDENTIFYING.match(k) or SUICIDE_ITEM.match(k):
            out.append(c)
    return out


def make_manifest(rows: Iterable[Mapping[str, Any]] | pd.DataFrame, *,
                  extra_columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Build a manifest from rows, filling missing columns and deriving bands from scores.

    Personal data (see :func:`personal_columns`) is dropped with a note on standard error.

    Parameters
    ----------
    rows : iterable of mappings or DataFrame
        At least ``file`` and ``subject`` per row.
    extra_columns : the label/covariate columns beyond the contract to keep; None keeps
        every extra column that is not personal data

    Returns
    -------
    pd.DataFrame
        Columns :data:`COLUMNS` first (in that order), then any extra columns.

    Raises
    ------
    ManifestError
        If ``file`` or ``subject`` is missing, or a score is outside its scale.
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    personal = personal_columns(df.columns)
    if extra_columns is not None:
        declared = set(extra_columns)
        bad = [c for c in declared if c in personal]
        if bad:
            raise ManifestError(f"columns {bad} are personal data and cannot be declared "
                                "as manifest columns")
        undeclared = [c for c in df.columns if c not in COLUMNS and c not in SEGMENT_COLUMNS
                      and c not in declared and c not in personal]
        df = df.drop(columns=undeclared)
    if personal:
        df = df.drop(columns=personal)
        print(f"note: dropped personal-data column(s) {personal} from the manifest "
              "(identifying data and the PHQ-9 suicide item are never written)",
              file=sys.stderr)
    for col in ("file", "subject"):
        if col not in df.columns or df[col].isna().any():
            raise ManifestError(f"manifest rows need a {col!r} value on every row")
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
    df["file"] = df["file"].astype(str)
    df["subject"] = df["subject"].astype(str)
    for col in ("start", "end", "age", *SCORE_COLUMNS):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for name, scale in SCALES.items():
        try:
            df[f"{name}_band"] = [scale.band(v) for v in df[name]]
            df[f"{name}_binary"] = pd.array(
                [scale.binary(v) for v in df[name]], dtype="Int64"
            )
        except ValueError as e:
            raise ManifestError(f"manifest column {name!r}: {e}") from None
    extra = [c for c in df.columns if c not in COLUMNS]
    return df[COLUMNS + extra].reset_index(drop=True)


def validate_manifest(
    df: pd.DataFrame, *, check_files: bool = True, label: str | None = None
) -> pd.DataFrame:
    """Check a manifest against the contract; return it unchanged if it holds.

    Parameters
    ----------
    df : manifest table
    check_files : also check that every ``file`` exists
    label : if given, the label column a task needs; subjects with no value are reported

    Raises
    ------
    ManifestError
        Missing columns, missing files, duplicate (file, start, end) rows, ``end <= start``,
        or (with ``label``) an unknown label column or rows without that label. The message
        names the first offending files.
    """
    missing_cols = [c for c in ("file", "subject", "start", "end") if c not in df.columns]
    if missing_cols:
        raise ManifestError(f"manifest lacks columns {missing_cols}")
    dup = df.duplicated(subset=KEY, keep=False)
    if dup.any():
        files = df.loc[dup, "file"].head(3).tolist()
        raise ManifestError(f"manifest has {int(dup.sum())} duplicate (file, start, end) rows, e.g. {files}")
    bad = df["start"].notna() & df["end"].notna() & (df["end"] <= df["start"])
    if bad.any():
        raise ManifestError(f"segments with end <= start, e.g. {df.loc[bad, 'file'].head(3).tolist()}")
    if check_files:
        missing = [f for f in df["file"].unique() if not Path(f).is_file()]
        if missing:
            raise ManifestError(f"{len(missing)} manifest files do not exist, e.g. {missing[:3]}")
    if label is not None:
        if label not in df.columns:
            raise ManifestError(f"unknown label column {label!r}; manifest has {list(df.columns)}")
        unlabelled = df[label].isna()
        if unlabelled.any():
            subj = sorted(df.loc[unlabelled, "subject"].unique().tolist())[:5]
            raise ManifestError(
                f"{int(unlabelled.sum())} rows have no {label!r} label (subjects {subj}); "
                "drop them or set the task's `drop_unlabelled: true`"
            )
    return df


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV/Parquet and restore its column types (see :func:`make_manifest`)."""
    df = read_table(path)
    try:
        return make_manifest(df)
    except ManifestError as e:
        raise ManifestError(f"{path}: {e}") from None


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a manifest atomically (CSV or Parquet by suffix)."""
    return write_table(df, path)
