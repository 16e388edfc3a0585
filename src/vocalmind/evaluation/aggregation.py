"""From segment predictions to recording- and subject-level predictions.

Models often score fixed-length segments (e.g. 7 s windows), while labels belong to a
recording (an emotion) or to a person (a questionnaire score). Scores are therefore pooled:
class probabilities are averaged and the arg-max taken (soft voting); without probabilities a
majority vote of the predicted labels is used; regression predictions are averaged.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from vocalmind.errors import ManifestError, ParameterError

PROBA_PREFIX = "proba_"


def proba_columns(pred: pd.DataFrame) -> list[str]:
    """The ``proba_<class>`` columns of a prediction table, in table order."""
    return [c for c in pred.columns if str(c).startswith(PROBA_PREFIX)]


def _check_consistent(pred: pd.DataFrame, keys: list[str], column: str, what: str) -> None:
    """Raise if a group holds more than one distinct non-missing ``column`` value."""
    n_distinct = pred.groupby(keys, sort=False, dropna=False)[column].nunique(dropna=True)
    bad = n_distinct[n_distinct > 1].index
    if len(bad):
        raise ManifestError(
            f"{len(bad)} {what}(s) have conflicting {column} values, e.g. {list(bad[:3])}; "
            f"every row of one {what} must carry the same {column}"
        )


def _majority(labels: pd.Series) -> object:
    """Most frequent label; ties go to the label that sorts first (deterministic)."""
    counts = labels.value_counts()
    top = counts[counts == counts.max()].index
    return sorted(top, key=str)[0]


def aggregate_predictions(
    pred: pd.DataFrame,
    *,
    level: Literal["recording", "subject"] = "recording",
    task: Literal["classification", "regression"] = "classification",
) -> pd.DataFrame:
    """Pool segment-level predictions per recording or per subject.

    Parameters
    ----------
    pred : pd.DataFrame
        One row per scored segment: ``file``, ``start``, ``end`` (seconds), ``subject``,
        ``y_true``, ``y_pred``, and for classification optionally ``proba_<class>`` columns.
        A ``recording`` column, if present, further distinguishes recordings within a file.
    level : ``"recording"`` (rows of the same file [and recording]) or ``"subject"`` (all rows
        of a subject)
    task : ``"classification"`` (mean probabilities -> arg-max, else majority vote; a group
        of one row keeps its own ``y_pred``) or
        ``"regression"`` (mean prediction)

    Returns
    -------
    pd.DataFrame
        One row per recording (``file`` [, ``recording``], ``subject``, ``start`` = first
        start, ``end`` = last end) or per subject (``subject``, ``n_recordings``), with
        ``y_true``, ``y_pred``, the mean ``proba_*`` columns and ``n_segments``. Groups keep
        their first-appearance order.

    Raises
    ------
    ManifestError
        Missing columns, a recording spread over several subjects, or one recording/subject
        with conflicting ``y_true`` values.
    ParameterError
        Unknown ``level`` or ``task``.

    Examples
    --------
    >>> seg = pd.DataFrame({"file": ["a.wav"] * 2, "start": [0.0, 7.0], "end": [7.0, 14.0],
    ...                     "subject": ["s1"] * 2, "y_true": ["sad"] * 2, "y_pred": ["sad", "neu"],
    ...                     "proba_neu": [0.4, 0.55], "proba_sad": [0.6, 0.45]})
    >>> aggregate_predictions(seg)[["file", "y_pred", "n_segments"]].to_dict("records")
    [{'file': 'a.wav', 'y_pred': 'sad', 'n_segments': 2}]
    """
    if level not in ("recording", "subject"):
        raise ParameterError(f"aggregate_predictions: level must be 'recording' or 'subject', got {level!r}")
    if task not in ("classification", "regression"):
        raise ParameterError(f"aggregate_predictions: task must be 'classification' or 'regression', got {task!r}")
    needed = ["subject", "y_true", "y_pred"] + (["file"] if level == "recording" else [])
    missing = [c for c in needed if c not in pred.columns]
    if missing:
        raise ManifestError(f"prediction table lacks columns {missing}; has {list(pred.columns)}")
    if pred.empty:
        raise ManifestError("prediction table is empty")

    if level == "recording":
        keys = ["file"] + (["recording"] if "recording" in pred.columns else [])
        subjects_per = pred.groupby(keys, sort=False, dropna=False)["subject"].nunique()
        if (subjects_per > 1).any():
            raise ManifestError(
                f"recordings {list(subjects_per[subjects_per > 1].index[:3])} are assigned to "
                "several subjects; fix the manifest"
            )
        what = "recording"
    else:
        keys = ["subject"]
        what = "subject"
    _check_consistent(pred, keys, "y_true", what)

    grouped = pred.groupby(keys, sort=False, dropna=False)
    out = grouped["y_true"].first().to_frame()
    if level == "recording":
        out.insert(0, "subject", grouped["subject"].first())
        for col, how in (("start", "min"), ("end", "max")):
            if col in pred.columns:
                out[col] = grouped[col].agg(how)
    else:
        out["n_recordings"] = grouped["file"].nunique() if "file" in pred.columns else np.nan

    probas = proba_columns(pred)
    if task == "regression":
        out["y_pred"] = grouped["y_pred"].mean()
    elif probas:
        mean_p = grouped[probas].mean()
        # map "proba_<name>" back to the label value as it appears in y_true/y_pred
        labels = {
            str(v): v for v in pd.concat([pred["y_true"], pred["y_pred"]]).dropna().unique()
        }
        names = [c[len(PROBA_PREFIX):] for c in probas]
        values = [labels.get(nm, nm) for nm in names]
        best = mean_p.to_numpy().argmax(axis=1)
        voted = [values[i] for i in best]
        # A lone row keeps the model's own decision: a classifier's label need not be the
        # arg-max of its (calibrated) probabilities, e.g. an SVM with Platt scaling.
        single = grouped.size().to_numpy() == 1
        own = grouped["y_pred"].first().to_numpy()
        out["y_pred"] = [o if s else v for o, s, v in zip(own, single, voted, strict=True)]
        out[probas] = mean_p
    else:
        out["y_pred"] = grouped["y_pred"].agg(_majority)
    out["n_segments"] = grouped.size()
    return out.reset_index()
