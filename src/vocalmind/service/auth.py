"""Authentication and per-study authorisation, as FastAPI dependencies.

- Passwords are hashed with Argon2id (``argon2-cffi``, its default parameters).
- Bearer tokens and login sessions are random 256-bit secrets; the database keeps only
  their SHA-256 (a fast hash suffices for secrets of that entropy), so a leaked database
  gives no usable token.
- A request is authenticated by ``Authorization: Bearer <token>`` or by the login cookie.
- Access to anything inside a study needs a membership of that study; a study the user is
  not a member of answers 404, exactly like one that does not exist, so nothing about other
  studies leaks. Destructive actions need the ``admin`` role.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from vocalmind.service.db import as_utc
from vocalmind.service.models import (
    Membership,
    Participant,
    Recording,
    Study,
    Token,
    User,
    utcnow,
)
from vocalmind.service.models import Session as StudySession

__all__ = ["COOKIE", "CurrentUser", "DB", "Access", "get_db", "hash_password", "hash_token",
           "issue_token", "require_superuser", "study_access", "participant_access",
           "session_access", "recording_access", "verify_password"]

COOKIE = "vocalmind_session"
_hasher = PasswordHasher()
_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/auth/tokens")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="set by POST /api/auth/login")


def hash_password(password: str) -> str:
    """Argon2id hash of ``password`` (with its own random salt)."""
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """True if ``password`` matches the stored Argon2 hash."""
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(secret: str) -> str:
    """SHA-256 (hex) of a token secret: what the ``tokens`` table stores."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(db: Session, user: User, *, kind: str, lifetime: timedelta,
                label: str | None = None) -> tuple[str, Token]:
    """Create a token for ``user``; returns the secret (shown once) and the stored row."""
    secret = secrets.token_urlsafe(32)
    row = Token(user_id=user.id, token_hash=hash_token(secret), kind=kind, label=label,
                expires_at=utcnow() + lifetime)
    db.add(row)
    db.flush()
    return secret, row


def get_db(request: Request) -> Iterator[Session]:
    """A database session for one request; committed if the endpoint returns normally."""
    with request.app.state.sessions() as db:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise


#: ``scope="function"``: commit *before* the response is sent, so a client that got 201
#: can rely on the row being there in its next request
DB = Annotated[Session, Depends(get_db, scope="function")]


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail,
                         headers={"WWW-Authenticate": "Bearer"})


def current_user(
    db: DB,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> User:
    """The authenticated user (bearer token first, then the login cookie); 401 otherwise."""
    secret = bearer.credentials if bearer else cookie
    if not secret:
        raise _unauthorised("authentication required: send 'Authorization: Bearer <token>' "
                            "or log in at POST /api/auth/login")
    tok = db.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
    if tok is None or as_utc(tok.expires_at) <= utcnow():
        raise _unauthorised("invalid or expired token; log in again")
    return tok.user


CurrentUser = Annotated[User, Depends(current_user)]


def require_superuser(user: CurrentUser) -> User:
    """The current user if they are a superuser (may create users and studies); 403 else."""
    if not user.is_superuser:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only a superuser may do this")
    return user


@dataclass(frozen=True)
class Access:
    """What a request may touch: the user, the study and the user's role in it."""

    user: User
    study: Study
    role: str

    @property
    def is_admin(self) -> bool:
        """True for the study's admins."""
        return self.role == "admin"


def _access(db: Session, user: User, study_id: int, what: str, need_admin: bool) -> Access:
    m = db.scalar(select(Membership).where(Membership.user_id == user.id,
                                           Membership.study_id == study_id))
    if m is None:  # indistinguishable from a missing object: no cross-study probing
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no such {what}")
    if need_admin and m.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            detail=f"the admin role in study {m.study.code!r} is needed for this")
    return Access(user, m.study, m.role)


def study_access(db: Session, user: User, study_id: int, *, admin: bool = False) -> Access:
    """Access to a study (404 if not a member, 403 if ``admin`` is needed and missing)."""
    return _access(db, user, study_id, "study", admin)


def participant_access(db: Session, user: User, participant_id: int, *,
                       admin: bool = False) -> tuple[Participant, Access]:
    """A participant and the access to its study (404 if missing or in another study)."""
    p = db.get(Participant, participant_id)
    if p is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such participant")
    return p, _access(db, user, p.study_id, "participant", admin)


def session_access(db: Session, user: User, session_id: int, *,
                   admin: bool = False) -> tuple[StudySession, Access]:
    """A session and the access to its study."""
    s = db.get(StudySession, session_id)
    if s is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such session")
    return s, _access(db, user, s.participant.study_id, "session", admin)


def recording_access(db: Session, user: User, recording_id: int, *,
                     admin: bool = False) -> tuple[Recording, Access]:
    """A recording and the access to its study."""
    r = db.get(Recording, recording_id)
    if r is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such recording")
    return r, _access(db, user, r.session.participant.study_id, "recording", admin)
