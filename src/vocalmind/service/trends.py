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

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from vocalmind.service.models import Assessment, Participant, Recording
from vocalmind.service.models import Session as StudySession

__all__ = ["prepost_statistics", "session_values"]

ID_COLS = ["participant_id", "participant", "session_index", "session_label"]


def session_values(db: Session, participant_ids: list[int],
                   model_id: int | None = None) -> pd.DataFrame:
    """One row per (participant, session) with at least one finished assessment.

    Returns
    -------
    DataFrame
        ``participant_id, participant`` (code), ``session_index, session_label``, then one
        column per marker and, if ``model_id`` is given, ``score`` or ``p_<class>``.
    """
    if not participant_ids:
        return pd.DataFrame(columns=ID_COLS)
    rows = db.execute(
        select(Participant.id, Participant.code, StudySession.index, StudySession.label,
               Recording.id, Assessment.model_version_id, Assessment.result)
        .join(StudySession, StudySession.participant_id == Participant.id)
        .join(Recording, Recording.session_id == StudySession.id)
        .join(Assessment, Assessment.recording_id == Recording.id)
        .where(Participant.id.in_(participant_ids), Assessment.status == "done")
        .order_by(Participant.id, StudySession.index, Recording.id, Assessment.id)).all()
    per_rec: dict[int, dict[str, Any]] = {}
    for pid, code, index, label, rec_id, mv_id, result in rows:
        r = per_rec.setdefault(rec_id, {"participant_id": pid, "participant": code,
                                        "session_index": index, "session_label": label})
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


def prepost_statistics(values: pd.DataFrame) -> dict[str, Any]:
    """First-vs-last-session change and the trend over sessions, across participants.

    Returns
    -------
    dict
        ``n_participants`` (with >= 2 sessions), ``paired_change`` and ``session_trend``
        (lists of row dicts, or None with ``note`` saying why).
    """
    value_cols = [c for c in values.columns if c not in ID_COLS]
    multi = values.groupby("participant_id")["session_index"].transform("nunique") >= 2
    v = values[multi] if len(values) else values
    n = int(v["participant_id"].nunique()) if len(v) else 0
    out: dict[str, Any] = {"n_participants": n, "values": value_cols, "paired_change": None,
                           "session_trend": None, "note": None}
    if n < 3 or not value_cols:
        out["note"] = (f"pre/post statistics need at least 3 participants with 2 or more "
                       f"assessed sessions; this study has {n}")
        return out
    from vocalmind.analysis.longitudinal import paired_change, session_trend

    first = v.sort_values("session_index").groupby("participant_id", as_index=False).first()
    last = v.sort_values("session_index").groupby("participant_id", as_index=False).last()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small samples: scipy/statsmodels warn; results say n
        try:
            out["paired_change"] = _records(paired_change(
                first[["participant_id", *value_cols]], last[["participant_id", *value_cols]],
                subject_col="participant_id", feature_cols=value_cols))
        except (ValueError, ArithmeticError) as e:
            out["note"] = f"paired change not computed: {e}"
        try:
            out["session_trend"] = _records(session_trend(
                v, subject_col="participant_id", session_col="session_index",
                value_cols=value_cols, method="mixedlm"))
        except (ValueError, ArithmeticError) as e:
            out["note"] = f"session trend not computed: {e}"
    return out
