"""Authentication and per-study authorisation, as FastAPI dependencies.

- Passwords are hashed with Argon2id (``argon2-cffi``, its default parameters). A login for
  an unknown username verifies against a dummy hash, so it costs the same time as a wrong
  password: response times do not tell which usernames exist.
- Failed logins are throttled per account and per client address (:class:`LoginThrottle`).
- Bearer tokens and login sessions are random 256-bit secrets; the database keeps only
  their SHA-256 (a fast hash suffices for secrets of that entropy), so a leaked database
  gives no usable token. A disabled user's tokens stop working at once.
- A request is authenticated by ``Authorization: Bearer <token>`` or by the login cookie.
  A *cookie*-authenticated request that changes something (any method but GET/HEAD/
  OPTIONS) must also come from the service's own origin (``Origin``, else ``Referer``) and
  carry the CSRF token (``X-CSRF-Token``: an HMAC of the session secret, given to the page
  at login). Bearer requests need neither: a browser never adds that header by itself.
- Access to anything inside a study needs a membership of that study; a study the user is
  not a member of answers 404 with the same text as a missing object, so nothing about
  other studies leaks. Destructive actions need the ``admin`` role.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from vocalmind.service.db import as_utc
from vocalmind.service.models import (
    AuditEvent,
    Membership,
    Participant,
    Recording,
    Study,
    Token,
    User,
    utcnow,
)
from vocalmind.service.models import Session as StudySession

__all__ = ["COOKIE", "CSRF_HEADER", "MIN_PASSWORD_LENGTH", "CurrentUser", "DB", "Access",
           "LoginThrottle", "audit", "check_same_origin", "csrf_token", "get_db",
           "hash_password", "hash_token", "issue_token", "require_superuser", "study_access",
           "participant_access", "session_access", "recording_access", "verify_login",
           "verify_password"]

COOKIE = "vocalmind_session"
CSRF_HEADER = "X-CSRF-Token"
#: shortest password accepted anywhere (new users, password changes, the bootstrap admin)
MIN_PASSWORD_LENGTH = 12
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_hasher = PasswordHasher()
_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/auth/tokens")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="set by POST /api/auth/login")
_dummy: list[str] = []
_dummy_lock = threading.Lock()


def hash_password(password: str) -> str:
    """Argon2id hash of ``password`` (with its own random salt)."""
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """True if ``password`` matches the stored Argon2 hash."""
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    with _dummy_lock:
        if not _dummy:
            _dummy.append(_hasher.hash(secrets.token_urlsafe(16)))
        return _dummy[0]


def verify_login(user: User | None, password: str) -> bool:
    """True if ``user`` exists, is not disabled and ``password`` matches.

    An unknown or disabled user still costs one Argon2 verification (against a dummy hash),
    so the time taken does not reveal whether a username exists.
    """
    if user is None or user.disabled_at is not None:
        verify_password(_dummy_hash(), password)
        return False
    return verify_password(user.password_hash, password)


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


def csrf_token(secret: str) -> str:
    """The CSRF token that belongs to a login-session secret (HMAC-SHA-256, hex).

    Derived, not stored: it changes with every login and dies with the session.
    """
    return hmac.new(secret.encode(), b"vocalmind-csrf", hashlib.sha256).hexdigest()


def _origin_of(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}"
    return None


def check_same_origin(request: Request, *, required: bool) -> None:
    """403 unless ``Origin`` (else ``Referer``) names this service.

    The service's origin is the request's own ``Host`` (plus any ``public_origins`` from
    the settings, for a reverse proxy). ``required=False`` lets a request without either
    header through (the login form's first request may lack them in old browsers).
    """
    origin = _origin_of(request)
    if origin is None:
        if required:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail="cross-site request refused: no Origin header")
        return
    allowed = set(request.app.state.settings.public_origins)
    host = request.headers.get("host", "")
    allowed |= {f"http://{host}", f"https://{host}"}
    if origin.rstrip("/") not in allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            detail="cross-site request refused: the Origin is not this service")


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A database session for one request; committed if the endpoint returns normally.

    GET/HEAD requests get read sessions (no lock on SQLite); other methods get write
    sessions (``BEGIN IMMEDIATE``), and do slow work (decoding, hashing) between
    transactions, never inside one.

    An *async* dependency on purpose: the end of its transaction (commit, or rollback on
    error, then returning the connection) runs in :data:`FINISHERS`, threads of its own.
    Not on the event loop: a PostgreSQL commit is a round trip (a disk flush for a write),
    and every other request would wait through it. Not in the endpoints' thread pool: a
    request holding SQLite's write lock could then wait for a free thread to commit while
    every thread waits for that lock. Finishing never waits for a lock, so these threads
    are always free again after a commit's own time.
    """
    factory = (request.app.state.sessions if request.method in SAFE_METHODS
               else request.app.state.write_sessions)
    db = factory()
    try:
        yield db
    except BaseException:
        await _finished(db, commit=False)
        raise
    await _finished(db, commit=True)


#: threads that end request transactions (see :func:`get_db`); shared by all apps of the
#: process, created lazily by the executor
FINISHERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="vocalmind-commit")


async def _finished(db: Session, *, commit: bool) -> None:
    # shielded: a request cancelled meanwhile (client gone) still ends its transaction and
    # returns its connection
    await asyncio.shield(asyncio.wrap_future(FINISHERS.submit(_finish, db, commit)))


def _finish(db: Session, commit: bool) -> None:
    """Commit (or roll back) ``db`` and return its connection to the pool."""
    try:
        if commit:
            db.commit()
        else:
            db.rollback()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


#: ``scope="function"``: commit *before* the response is sent, so a client that got 201
#: can rely on the row being there in its next request
DB = Annotated[Session, Depends(get_db, scope="function")]


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail,
                         headers={"WWW-Authenticate": "Bearer"})


def current_user(
    request: Request,
    db: DB,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> User:
    """The authenticated user (bearer token first, then the login cookie); 401 otherwise.

    A cookie-authenticated write must also pass :func:`check_same_origin` and carry the
    session's CSRF token (403 otherwise). The token row's id is left in
    ``request.state.token_id`` (a password change keeps that one session).
    """
    secret = bearer.credentials if bearer else cookie
    if not secret:
        raise _unauthorised("authentication required: send 'Authorization: Bearer <token>' "
                            "or log in at POST /api/auth/login")
    tok = db.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
    if tok is None or as_utc(tok.expires_at) <= utcnow() or tok.user.disabled_at is not None:
        raise _unauthorised("invalid or expired token; log in again")
    if bearer is None and request.method not in SAFE_METHODS:
        check_same_origin(request, required=True)
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, csrf_token(secret)):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail="missing or wrong CSRF token; reload the page")
    request.state.token_id = tok.id
    user = tok.user
    db.commit()  # end the transaction here: the endpoint runs in another thread
    return user


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


def audit(db: Session, actor: User | None, action: str, *, study_id: int | None = None,
          target: str | None = None) -> None:
    """Add an audit record (usernames, ids and pseudonymous codes only)."""
    db.add(AuditEvent(actor=actor.username if actor else None, action=action,
                      study_id=study_id, target=None if target is None else target[:128]))


class LoginThrottle:
    """Failed logins counted per account and per client address, in a sliding window.

    After ``per_account`` failures for one username, or ``per_address`` failures from one
    address, within ``window_s`` seconds, further attempts are refused (429, with
    ``Retry-After``) -- even with the right password -- until the oldest failure leaves the
    window. Unknown usernames are counted like known ones, so the throttle reveals nothing.
    Kept in the server's memory: one server process counts its own attempts (run one
    process per database, or put a rate limit in the reverse proxy as well).
    """

    def __init__(self, *, per_account: int, per_address: int, window_s: float) -> None:
        self.per_account, self.per_address, self.window_s = per_account, per_address, window_s
        self._fails: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._fails.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._fails[key]
        return q

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until a login may be tried again (0: now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key, limit in ((("user", username.lower()), self.per_account),
                               (("addr", address), self.per_address)):
                q = self._recent(key, now)
                if len(q) >= limit:
                    wait = max(wait, q[-limit] + self.window_s - now)
        return wait

    def failed(self, username: str, address: str) -> None:
        """Count a failed attempt."""
        now = time.monotonic()
        with self._lock:
            for key in (("user", username.lower()), ("addr", address)):
                self._fails.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        """Forget the account's failures (the address keeps its count)."""
        with self._lock:
            self._fails.pop(("user", username.lower()), None)


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


def recording_access(db: Session, user: User, recording_id: int, *, admin: bool = False,
                     what: str = "recording") -> tuple[Recording, Access]:
    """A recording and the access to its study (404 ``no such <what>`` either way)."""
    r = db.get(Recording, recording_id)
    if r is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no such {what}")
    return r, _access(db, user, r.session.participant.study_id, what, admin)
