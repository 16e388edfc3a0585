"""Sessions of a participant (ordered by ``index``), each with a settable date."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from vocalmind.service.auth import DB, CurrentUser, participant_access, session_access
from vocalmind.service.models import Session as StudySession
from vocalmind.service.routers._common import LABEL_RE, PathId, assessment_json, session_json

router = APIRouter(prefix="/api", tags=["sessions"])


class NewSession(BaseModel):
    """A short label (``week 3``, ``pre``; default ``session <n>``) and the session's date
    (default: today, UTC)."""

    label: str | None = Field(None, max_length=40, pattern=LABEL_RE.pattern)
    date: dt.date | None = None


class SessionChange(BaseModel):
    """Change a session's label or date."""

    label: str | None = Field(None, max_length=40, pattern=LABEL_RE.pattern)
    date: dt.date | None = None


def add_session(db: Any, participant_id: int, label: str | None = None,
                date: dt.date | None = None) -> StudySession:
    """Append a session after the participant's last one."""
    from vocalmind.service.models import Participant

    # lock the participant row (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises)
    # so that two concurrent uploads cannot both take the same next index
    db.execute(select(Participant.id).where(Participant.id == participant_id).with_for_update())
    last = db.scalar(select(func.max(StudySession.index))
                     .where(StudySession.participant_id == participant_id))
    index = 1 if last is None else last + 1
    s = StudySession(participant_id=participant_id, index=index, label=label or f"session {index}",
                     date=date or dt.datetime.now(dt.UTC).date())
    db.add(s)
    db.flush()
    return s


@router.post("/participants/{participant_id}/sessions", status_code=201,
             summary="Start a new session")
def create_session(participant_id: PathId, body: NewSession, user: CurrentUser,
                   db: DB) -> dict[str, Any]:
    """A session after the participant's last one."""
    p, _ = participant_access(db, user, participant_id)
    if body.label and any(s.label == body.label for s in p.sessions):
        raise HTTPException(status.HTTP_409_CONFLICT, detail="a session has that label")
    return session_json(add_session(db, p.id, body.label, body.date))


@router.get("/participants/{participant_id}/sessions", summary="A participant's sessions")
def list_sessions(participant_id: PathId, user: CurrentUser, db: DB) -> list[dict[str, Any]]:
    """In order."""
    p, _ = participant_access(db, user, participant_id)
    return [session_json(s) for s in p.sessions]


@router.get("/sessions/{session_id}", summary="A session with its assessments")
def get_session(session_id: PathId, user: CurrentUser, db: DB) -> dict[str, Any]:
    """The session, and every assessment of its recordings."""
    s, _ = session_access(db, user, session_id)
    return {**session_json(s),
            "assessments": [assessment_json(a) for r in s.recordings for a in r.assessments]}


@router.patch("/sessions/{session_id}", summary="Change a session's label or date")
def change_session(session_id: PathId, body: SessionChange, user: CurrentUser,
                   db: DB) -> dict[str, Any]:
    """Set the date the session took place (the trend's x axis) or its label."""
    s, _ = session_access(db, user, session_id)
    if body.label and body.label != s.label:
        if any(o.label == body.label for o in s.participant.sessions):
            raise HTTPException(status.HTTP_409_CONFLICT, detail="a session has that label")
        s.label = body.label
    if body.date is not None:
        s.date = body.date
    db.flush()
    return session_json(s)
