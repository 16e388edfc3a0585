"""Studies, their members (roles, removal with an audit record), and pre/post statistics."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from vocalmind.service.auth import DB, CurrentUser, audit, require_superuser, study_access
from vocalmind.service.models import AuditEvent, Membership, Participant, Study, Token, User
from vocalmind.service.routers._common import PathId, QueryId, clean, iso
from vocalmind.service.trends import prepost_statistics, session_values

router = APIRouter(prefix="/api/studies", tags=["studies"])


class NewStudy(BaseModel):
    """A study code (no personal data), e.g. ``ICBT-2026``."""

    code: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class NewMember(BaseModel):
    """Give an existing user a role in the study."""

    username: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "rater"]


def study_json(s: Study, role: str) -> dict[str, Any]:
    """A study as its member sees it."""
    return {"id": s.id, "code": s.code, "role": role, "n_participants": len(s.participants)}


@router.post("", status_code=201, summary="Create a study (superusers); you become its admin")
def create_study(body: NewStudy, db: DB,
                 user: Annotated[User, Depends(require_superuser)]) -> dict[str, Any]:
    """A new study with the creator as admin."""
    if db.scalar(select(Study).where(Study.code == body.code)):
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"study {body.code!r} exists")
    s = Study(code=body.code)
    db.add(s)
    db.flush()
    db.add(Membership(user_id=user.id, study_id=s.id, role="admin"))
    audit(db, user, "study_created", study_id=s.id, target=s.code)
    db.flush()
    return study_json(s, "admin")


@router.get("", summary="The studies you are a member of")
def list_studies(user: CurrentUser) -> list[dict[str, Any]]:
    """Only studies with a membership of the current user."""
    return [study_json(m.study, m.role) for m in sorted(user.memberships,
                                                       key=lambda m: m.study_id)]


@router.get("/{study_id}", summary="One study")
def get_study(study_id: PathId, user: CurrentUser, db: DB) -> dict[str, Any]:
    """404 unless you are a member."""
    acc = study_access(db, user, study_id)
    return study_json(acc.study, acc.role)


@router.get("/{study_id}/members", summary="Members and roles (study admins)")
def list_members(study_id: PathId, user: CurrentUser, db: DB) -> list[dict[str, Any]]:
    """Usernames and roles."""
    acc = study_access(db, user, study_id, admin=True)
    return [{"username": m.user.username, "role": m.role}
            for m in sorted(acc.study.memberships, key=lambda m: m.id)]


@router.post("/{study_id}/members", status_code=201, summary="Add or change a member (admins)")
def add_member(study_id: PathId, body: NewMember, user: CurrentUser, db: DB) -> dict[str, Any]:
    """Give ``username`` the role ``admin`` or ``rater`` in this study."""
    study_access(db, user, study_id, admin=True)
    other = db.scalar(select(User).where(User.username == body.username))
    if other is None or other.disabled_at is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such user")
    m = db.scalar(select(Membership).where(Membership.user_id == other.id,
                                           Membership.study_id == study_id))
    if m is None:
        db.add(Membership(user_id=other.id, study_id=study_id, role=body.role))
    else:
        m.role = body.role
    audit(db, user, f"member_{body.role}", study_id=study_id, target=other.username)
    return {"username": other.username, "role": body.role}


@router.delete("/{study_id}/members/{username}", summary="Remove a member (admins)")
def remove_member(study_id: PathId, username: Annotated[str, Path(max_length=64)],
                  user: CurrentUser, db: DB) -> dict[str, Any]:
    """Remove ``username`` from the study. Their access ends at once, and their login
    sessions and API tokens are revoked (they log in again for their other studies).
    The last admin of a study cannot be removed."""
    acc = study_access(db, user, study_id, admin=True)
    other = db.scalar(select(User).where(User.username == username))
    m = None if other is None else db.scalar(
        select(Membership).where(Membership.user_id == other.id,
                                 Membership.study_id == study_id))
    if m is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such member")
    admins = [x for x in acc.study.memberships if x.role == "admin"]
    if m.role == "admin" and len(admins) == 1:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail="a study needs an admin; make someone else admin first")
    db.delete(m)
    n = db.execute(delete(Token).where(Token.user_id == other.id)).rowcount
    audit(db, user, "member_removed", study_id=study_id, target=other.username)
    return {"username": other.username, "removed": True, "tokens_revoked": n}


@router.get("/{study_id}/audit", summary="The study's audit record (admins)")
def audit_log(study_id: PathId, user: CurrentUser, db: DB) -> list[dict[str, Any]]:
    """Who added or removed members, created the study or deleted participants, newest
    first (at most 500)."""
    study_access(db, user, study_id, admin=True)
    rows = db.scalars(select(AuditEvent).where(AuditEvent.study_id == study_id)
                      .order_by(AuditEvent.id.desc()).limit(500))
    return [{"at": iso(e.at), "actor": e.actor, "action": e.action, "target": e.target}
            for e in rows]


@router.get("/{study_id}/statistics", summary="Pre/post statistics across the study")
def statistics(study_id: PathId, user: CurrentUser, db: DB,
               model_id: QueryId = None) -> dict[str, Any]:
    """First vs last session per participant (paired test) and the trend over sessions."""
    study_access(db, user, study_id)
    ids = list(db.scalars(select(Participant.id).where(Participant.study_id == study_id)))
    return clean(prepost_statistics(session_values(db, ids, model_id)))
