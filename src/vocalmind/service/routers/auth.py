"""Login, logout, API tokens, password changes, users (creation, disabling).

``POST /api/auth/login`` sets an HttpOnly, SameSite=Strict cookie holding a session token
(the browser page uses it) and returns the session's CSRF token; ``POST /api/auth/tokens``
issues a bearer token for scripts. Failed logins are throttled per account and per
address, and logged without the username (staff names are personal data too). Password
hashing runs outside any database transaction.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from vocalmind.service.auth import (
    COOKIE,
    CSRF_HEADER,
    DB,
    MIN_PASSWORD_LENGTH,
    CurrentUser,
    audit,
    check_same_origin,
    csrf_token,
    hash_password,
    hash_token,
    issue_token,
    require_superuser,
    verify_login,
    verify_password,
)
from vocalmind.service.models import Token, User, utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["auth"])
USERNAME = r"^[A-Za-z0-9_.@-]+$"


class Login(BaseModel):
    """Username and password."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class NewToken(BaseModel):
    """An API token request: a label for you, and its lifetime in days (the server's
    ``max_token_days`` bounds it, 90 by default)."""

    label: str = Field("api", max_length=64)
    days: int = Field(30, ge=1, le=365)


class NewUser(BaseModel):
    """A new staff account (superusers only)."""

    username: str = Field(min_length=2, max_length=64, pattern=USERNAME)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)
    superuser: bool = False


class NewPassword(BaseModel):
    """Change your own password."""

    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)


def user_json(u: User) -> dict[str, Any]:
    """A user and the studies they belong to, with their role."""
    return {"id": u.id, "username": u.username, "is_superuser": u.is_superuser,
            "studies": sorted(({"id": m.study_id, "code": m.study.code, "role": m.role}
                               for m in u.memberships), key=lambda s: s["id"])}


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/login", summary="Log in; sets the session cookie")
def login(body: Login, request: Request, response: Response, db: DB) -> dict[str, Any]:
    """Check the password and start a browser session (cookie); returns the user and the
    ``csrf_token`` to send as ``X-CSRF-Token`` with cookie-authenticated writes."""
    check_same_origin(request, required=False)
    throttle = request.app.state.login_throttle
    address = _address(request)
    wait = throttle.retry_after(body.username, address)
    if wait > 0:
        log.info("login refused: throttled")
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            detail=f"too many failed logins; try again in {int(wait) + 1} s",
                            headers={"Retry-After": str(int(wait) + 1)})
    user = db.scalar(select(User).where(User.username == body.username))
    db.commit()  # no transaction (and, on SQLite, no lock) while Argon2 runs
    if not verify_login(user, body.password):
        throttle.failed(body.username, address)
        log.info("login failed")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong username or password")
    throttle.succeeded(body.username)
    settings = request.app.state.settings
    secret, row = issue_token(db, user, kind="session",
                              lifetime=timedelta(hours=settings.session_hours))
    response.set_cookie(COOKIE, secret, httponly=True, samesite="strict",
                        secure=settings.secure_cookies,
                        max_age=int(settings.session_hours * 3600))
    return {**user_json(user), "csrf_token": csrf_token(secret)}


@router.post("/auth/logout", summary="End the browser session")
def logout(request: Request, response: Response, db: DB) -> dict[str, str]:
    """Forget the session token of the cookie (if any) and clear the cookie."""
    secret = request.cookies.get(COOKIE)
    if secret:
        check_same_origin(request, required=True)
        import hmac

        if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), csrf_token(secret)):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail="missing or wrong CSRF token; reload the page")
        db.execute(delete(Token).where(Token.token_hash == hash_token(secret)))
    response.delete_cookie(COOKIE)
    return {"status": "logged out"}


@router.get("/auth/me", summary="Who am I, and in which studies")
def me(user: CurrentUser) -> dict[str, Any]:
    """The current user and their study roles."""
    return user_json(user)


@router.post("/auth/tokens", status_code=201, summary="Issue a bearer token (shown once)")
def new_token(body: NewToken, request: Request, user: CurrentUser, db: DB) -> dict[str, Any]:
    """A new API token for the current user; only its hash is stored."""
    limit = request.app.state.settings.max_token_days
    if body.days > limit:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail=f"tokens live at most {limit} days on this server")
    secret, row = issue_token(db, user, kind="api", lifetime=timedelta(days=body.days),
                              label=body.label)
    return {"token": secret, "label": row.label, "expires_at": row.expires_at.isoformat()}


@router.post("/auth/password", summary="Change your password (ends your other sessions and "
                                        "API tokens)")
def change_password(body: NewPassword, request: Request, user: CurrentUser,
                    db: DB) -> dict[str, str]:
    """Set a new password; every other login session and API token of the user is revoked
    (the session or token making this request stays valid)."""
    stored, keep = user.password_hash, request.state.token_id
    db.commit()  # hashing runs outside the transaction
    if not verify_password(stored, body.old_password):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the old password is wrong")
    new_hash = hash_password(body.new_password)
    fresh = db.get(User, user.id)
    fresh.password_hash = new_hash
    n = db.execute(delete(Token).where(Token.user_id == user.id, Token.id != keep)).rowcount
    audit(db, fresh, "password_changed", target=fresh.username)
    return {"status": f"password changed; {n} other sessions and API tokens revoked"}


@router.post("/users", status_code=201, summary="Create a staff account (superusers)")
def create_user(body: NewUser, db: DB,
                admin: Annotated[User, Depends(require_superuser)]) -> dict[str, Any]:
    """A new user; give them a study role with ``POST /api/studies/{id}/members``."""
    if db.scalar(select(User).where(User.username == body.username)):
        raise HTTPException(status.HTTP_409_CONFLICT, detail="that username is taken")
    db.commit()
    u = User(username=body.username, password_hash=hash_password(body.password),
             is_superuser=body.superuser)
    db.add(u)
    db.flush()
    audit(db, admin, "user_created", target=u.username)
    return user_json(u)


@router.get("/users", summary="All staff accounts (superusers)")
def list_users(db: DB, _: Annotated[User, Depends(require_superuser)]) -> list[dict[str, Any]]:
    """Usernames, roles and whether the account is disabled."""
    return [{**user_json(u), "disabled": u.disabled_at is not None}
            for u in db.scalars(select(User).order_by(User.id))]


@router.post("/users/{username}/disable", summary="Disable an account (superusers)")
def disable_user(username: Annotated[str, Path(max_length=64, pattern=USERNAME)], db: DB,
                 admin: Annotated[User, Depends(require_superuser)]) -> dict[str, Any]:
    """The account can no longer log in; all its sessions and API tokens are revoked at
    once. Its study roles stay on record (audit) but give no access."""
    u = db.scalar(select(User).where(User.username == username))
    if u is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such user")
    if u.id == admin.id:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="you cannot disable yourself")
    if u.disabled_at is None:
        u.disabled_at = utcnow()
    n = db.execute(delete(Token).where(Token.user_id == u.id)).rowcount
    audit(db, admin, "user_disabled", target=u.username)
    return {"username": u.username, "disabled": True, "tokens_revoked": n}
