"""Values per participant and session, their trend, and the pre/post statistics.

A *session value* is the mean, over the session's recordings, of what their finished
assessments measured: the clinical voice markers (model-independent), and for one chosen
model its score (regression) or class probabilities (``p_<class>``). The pre/post
statistics compare each participant's first and last session with
:func:`vocalmind.analysis.longitudinal.paired_change` and fit the trend over all sessions
with :func:`vocalmind.analysis.longitudinal.session_trend` (mixed model, random intercept
per participant).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from vocalmind.service.models import Assessment, Participant, Recording
from vocalmind.service.models import Session as StudySession

__all__ = ["describe_values", "prepost_statistics", "session_values"]

ID_COLS = ["participant_id", "participant", "session_index", "session_label", "session_date"]


def session_values(db: Session, participant_ids: list[int],
                   model_id: int | None = None) -> pd.DataFrame:
    """One row per (participant, session) with at least one finished assessment.

    Returns
    -------
    DataFrame
        ``participant_id, participant`` (code), ``session_index, session_label,
        session_date`` (ISO day, "" if unset), then one column per marker and, if ``model_id`` is given, ``score`` or ``p_<class>``.
    """
    if not participant_ids:
        return pd.DataFrame(columns=ID_COLS)
    rows = db.execute(
        select(Participant.id, Participant.code, StudySession.index, StudySession.label,
               StudySession.date, Recording.id, Assessment.model_version_id, Assessment.result)
        .join(StudySession, StudySession.participant_id == Participant.id)
        .join(Recording, Recording.session_id == StudySession.id)
        .join(Assessment, Assessment.recording_id == Recording.id)
        .where(Participant.id.in_(participant_ids), Assessment.status == "done")
        .order_by(Participant.id, StudySession.index, Recording.id, Assessment.id)).all()
    per_rec: dict[int, dict[str, Any]] = {}
    for pid, code, index, label, date, rec_id, mv_id, result in rows:
        r = per_rec.setdefault(rec_id, {"participant_id": pid, "participant": code,
                                        "session_index": index, "session_label": label,
                                        "session_date": date.isoformat() if date else ""})
        for name, m in ((result or {}).get("markers") or {}).items():
            r.setdefault(name, m["value"])
        if model_id is not None and mv_id == model_id and result:
            if result.get("task") == "regression":
                r["score"] = float(result["prediction"])
            for c, p in (result.get("probabilities") or {}).items():
                r[f"p_{c}"] = float(p)
    if not per_rec:
        return pd.DataFrame(columns=ID_COLS)
    df = pd.DataFrame(list(per_rec.values()))
    return (df.groupby(ID_COLS, as_index=False, sort=True).mean(numeric_only=True)
            .sort_values(["participant_id", "session_index"]).reset_index(drop=True))


def _records(df: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    if df is None:
        return None
    from vocalmind.service.routers._common import clean

    return clean(df.to_dict(orient="records"))


#: least participants with a value in both their first and last session for a paired test
#: (and with the value in 2+ sessions for the trend model)
MIN_PARTICIPANTS = 3


def _paired_counts(first: pd.DataFrame, last: pd.DataFrame, cols: list[str]) -> dict[str, int]:
    both = first.merge(last, on="participant_id", suffixes=("__b", "__a"))
    return {c: int((pd.to_numeric(both[f"{c}__b"], errors="coerce").notna()
                    & pd.to_numeric(both[f"{c}__a"], errors="coerce").notna()).sum())
            for c in cols}


def _trend_counts(v: pd.DataFrame, cols: list[str]) -> dict[str, int]:
    out = {}
    for c in cols:
        have = v[pd.to_numeric(v[c], errors="coerce").notna()]
        per = have.groupby("participant_id")["session_index"].nunique()
        out[c] = int((per >= 2).sum())
    return out


def _too_few(c: str, k: int, what: str) -> dict[str, Any]:
    return {"feature": c, "n": k,
            "reason": f"not enough data: {k} participant{'s' if k != 1 else ''} "
                      f"{'has' if k == 1 else 'have'} this value {what}; at least "
                      f"{MIN_PARTICIPANTS} are needed"}


def prepost_statistics(values: pd.DataFrame) -> dict[str, Any]:
    """First-vs-last-session change and the trend over sessions, across participants.

    Each value (marker, score, class probability) is tested on its own participants: a value
    that too few participants have in both their first and last session is listed in
    ``insufficient`` with the reason in words, and the others are still tested together
    (one FDR correction over them). Statistical library messages are never shown.

    Returns
    -------
    dict
        ``n_participants`` (with >= 2 sessions), ``values``, ``paired_change`` and
        ``session_trend`` (lists of row dicts, or None), ``insufficient`` and
        ``trend_insufficient`` (``feature, n, reason``), and ``note`` (None, or a sentence
        when nothing could be tested).
    """
    value_cols = [c for c in values.columns if c not in ID_COLS]
    multi = values.groupby("participant_id")["session_index"].transform("nunique") >= 2
    v = values[multi] if len(values) else values
    n = int(v["participant_id"].nunique()) if len(v) else 0
    out: dict[str, Any] = {"n_participants": n, "values": value_cols, "paired_change": None,
                           "session_trend": None, "insufficient": [],
                           "trend_insufficient": [], "note": None}
    if n < MIN_PARTICIPANTS or not value_cols:
        out["note"] = (f"pre/post statistics need at least {MIN_PARTICIPANTS} participants "
                       f"with 2 or more assessed sessions; this study has {n}")
        return out
    from vocalmind.analysis.longitudinal import paired_change, session_trend

    ordered = v.sort_values("session_index")
    first = ordered.groupby("participant_id", as_index=False).first()
    last = ordered.groupby("participant_id", as_index=False).last()
    pairs = _paired_counts(first, last, value_cols)
    testable = [c for c in value_cols if pairs[c] >= MIN_PARTICIPANTS]
    out["insufficient"] = [_too_few(c, pairs[c], "in both their first and last session")
                           for c in value_cols if c not in testable]
    trend_n = _trend_counts(v, value_cols)
    trendable = [c for c in value_cols if trend_n[c] >= MIN_PARTICIPANTS]
    out["trend_insufficient"] = [_too_few(c, trend_n[c], "in 2 or more sessions")
                                 for c in value_cols if c not in trendable]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small samples: scipy/statsmodels warn; results say n
        if testable:
            cols = ["participant_id", *testable]
            try:
                out["paired_change"] = _records(paired_change(
                    first[cols], last[cols], subject_col="participant_id",
                    feature_cols=testable))
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                out["paired_change"], failed = _one_by_one(
                    lambda c: paired_change(first[["participant_id", c]],
                                            last[["participant_id", c]],
                                            subject_col="participant_id", feature_cols=[c]),
                    testable)
                out["insufficient"] += failed
        if trendable:
            try:
                out["session_trend"] = _records(session_trend(
                    v, subject_col="participant_id", session_col="session_index",
                    value_cols=trendable, method="mixedlm"))
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                out["session_trend"], failed = _one_by_one(
                    lambda c: session_trend(v, subject_col="participant_id",
                                            session_col="session_index", value_cols=[c],
                                            method="mixedlm"), trendable)
                out["trend_insufficient"] += failed
    if not testable and not trendable:
        out["note"] = ("no voice marker or model output has enough data yet for a test; "
                       "see the reasons per value")
    return out


def _one_by_one(run: Any, cols: list[str]) -> tuple[list[dict[str, Any]] | None,
                                                     list[dict[str, Any]]]:
    """Test each value alone (no joint FDR) after a joint run failed; failures in words."""
    rows: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for c in cols:
        try:
            rows += _records(run(c)) or []
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            failed.append({"feature": c, "n": None,
                           "reason": "not computed: the values are too few or too alike for "
                                     "the test"})
    return (rows or None), failed


def describe_values(columns: list[str], score_label: str | None = None) -> dict[str, dict[str, Any]]:
    """What each value column is, for axis titles: ``{col: {label, unit, probability}}``.

    ``probability`` values are drawn on a fixed 0-1 axis (an auto-scaled axis would make
    0.0013 -> 0.0021 look like a steep rise).
    """
    from vocalmind.service.assessing import MARKERS

    out: dict[str, dict[str, Any]] = {}
    for c in columns:
        if c in ID_COLS:
            continue
        if c in MARKERS:
            _, label, unit, _ = MARKERS[c]
            out[c] = {"label": label, "unit": unit, "probability": False}
        elif c.startswith("p_"):
            out[c] = {"label": f"model probability of '{c[2:]}'", "unit": "probability 0-1",
                      "probability": True}
        elif c == "score":
            out[c] = {"label": f"model score ({score_label or 'prediction'})",
                      "unit": "scale points", "probability": False}
        else:
            out[c] = {"label": c, "unit": "", "probability": False}
    return out
