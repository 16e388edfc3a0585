"""Participants: pseudonymous codes only; deleting one deletes all their data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, select

from vocalmind.service.auth import DB, CurrentUser, audit, participant_access, study_access
from vocalmind.service.models import Assessment, Participant, Recording
from vocalmind.service.models import Session as StudySession
from vocalmind.service.routers._common import (
    CODE_RE,
    PathId,
    QueryId,
    assessment_json,
    clean,
    participant_json,
    session_json,
)
from vocalmind.service.trends import describe_values, prepost_statistics, session_values

router = APIRouter(prefix="/api", tags=["participants"])


class NewParticipant(BaseModel):
    """A pseudonymous code; there is deliberately no field for a name."""

    code: str = Field(min_length=1, max_length=32,
                      description="pseudonymous code with at least one digit, e.g. P017")

    @field_validator("code")
    @classmethod
    def _pseudonymous(cls, v: str) -> str:
        if not CODE_RE.match(v):
            raise ValueError("participant codes are pseudonyms: letters, digits, '-' or '_' "
                             "with at least one digit (e.g. P017); never a name")
        return v


@router.post("/studies/{study_id}/participants", status_code=201,
             summary="Add a participant (by pseudonymous code)")
def create_participant(study_id: PathId, body: NewParticipant, user: CurrentUser,
                       db: DB) -> dict[str, Any]:
    """A new participant of the study."""
    study_access(db, user, study_id)
    if db.scalar(select(Participant).where(Participant.study_id == study_id,
                                           Participant.code == body.code)):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"participant {body.code!r} exists in this study")
    p = Participant(study_id=study_id, code=body.code)
    db.add(p)
    db.flush()
    return participant_json(p)


@router.get("/studies/{study_id}/participants", summary="The study's participants")
def list_participants(study_id: PathId, user: CurrentUser, db: DB) -> list[dict[str, Any]]:
    """Codes and session counts."""
    acc = study_access(db, user, study_id)
    return [participant_json(p) for p in sorted(acc.study.participants, key=lambda p: p.id)]


@router.get("/participants/{participant_id}", summary="A participant with their sessions")
def get_participant(participant_id: PathId, user: CurrentUser, db: DB) -> dict[str, Any]:
    """The participant and their sessions in order."""
    p, _ = participant_access(db, user, participant_id)
    return {**participant_json(p), "sessions": [session_json(s) for s in p.sessions]}


@router.delete("/participants/{participant_id}",
               summary="Delete a participant with all recordings and results (admins)")
def delete_participant(participant_id: PathId, request: Request, user: CurrentUser,
                       db: DB) -> dict[str, Any]:
    """Deletes sessions, recordings, assessments and the audio files no one else uses."""
    p, _ = participant_access(db, user, participant_id, admin=True)
    recs = db.execute(select(Recording.id, Recording.sha256)
                      .join(StudySession, Recording.session_id == StudySession.id)
                      .where(StudySession.participant_id == p.id)).all()
    rec_ids = [r[0] for r in recs]
    n_assess = db.scalar(select(func.count()).select_from(Assessment)
                         .where(Assessment.recording_id.in_(rec_ids))) if rec_ids else 0
    counts = {"participants": 1, "sessions": len(p.sessions), "recordings": len(rec_ids),
              "assessments": int(n_assess or 0)}
    audit(db, user, "participant_deleted", study_id=p.study_id, target=p.code)
    db.delete(p)
    db.commit()  # rows first: a file is removed only once no row points to it
    store = request.app.state.store
    removed = 0
    for sha in sorted({r[1] for r in recs}):
        with store.lock:
            if db.scalar(select(func.count()).select_from(Recording)
                         .where(Recording.sha256 == sha)) == 0:
                removed += store.remove(sha)
    return {"deleted": {**counts, "audio_files": removed}}


@router.get("/participants/{participant_id}/assessments", summary="All assessments")
def participant_assessments(participant_id: PathId, user: CurrentUser,
                            db: DB) -> list[dict[str, Any]]:
    """Every assessment of the participant's recordings, oldest first."""
    p, _ = participant_access(db, user, participant_id)
    rows = db.scalars(select(Assessment).join(Recording).join(StudySession)
                      .where(StudySession.participant_id == p.id).order_by(Assessment.id))
    return [assessment_json(a) for a in rows]


@router.get("/participants/{participant_id}/trend",
            summary="Values per session, and the study's pre/post statistics")
def trend(participant_id: PathId, user: CurrentUser, db: DB,
          model_id: QueryId = None) -> dict[str, Any]:
    """Per session of this participant: markers and the model's output; plus, for context,
    the pre/post statistics of the participant's study."""
    from vocalmind.service.models import ModelVersion

    p, _ = participant_access(db, user, participant_id)
    own = session_values(db, [p.id], model_id)
    ids = list(db.scalars(select(Participant.id).where(Participant.study_id == p.study_id)))
    cols = [c for c in own.columns if c not in ("participant_id", "participant")]
    mv = db.get(ModelVersion, model_id) if model_id is not None else None
    return clean({"participant": {**participant_json(p),
                                  "sessions": [session_json(s) for s in p.sessions]},
                  "sessions": own[cols].to_dict(orient="records"),
                  "value_info": describe_values(list(own.columns), mv.label if mv else None),
                  "study_statistics": prepost_statistics(session_values(db, ids, model_id))})
