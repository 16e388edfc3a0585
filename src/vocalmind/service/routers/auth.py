"""Login, logout, API tokens, users.

``POST /api/auth/login`` sets an HttpOnly, SameSite=Strict cookie holding a session token
(the browser page uses it); ``POST /api/auth/tokens`` issues a bearer token for scripts.
Failed logins are logged without the username (staff names are personal data too).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from vocalmind.service.auth import (
    COOKIE,
    DB,
    CurrentUser,
    hash_password,
    hash_token,
    issue_token,
    require_superuser,
    verify_password,
)
from vocalmind.service.models import Token, User

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["auth"])


class Login(BaseModel):
    """Username and password."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class NewToken(BaseModel):
    """An API token request: a label for you, and its lifetime in days."""

    label: str = Field("api", max_length=64)
    days: int = Field(90, ge=1, le=365)


class NewUser(BaseModel):
    """A new staff account (superusers only)."""

    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=10, max_length=256)
    superuser: bool = False


class NewPassword(BaseModel):
    """Change your own password."""

    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=10, max_length=256)


def user_json(u: User) -> dict[str, Any]:
    """A user and the studies they belong to, with their role."""
    return {"id": u.id, "username": u.username, "is_superuser": u.is_superuser,
            "studies": sorted(({"id": m.study_id, "code": m.study.code, "role": m.role}
                               for m in u.memberships), key=lambda s: s["id"])}


@router.post("/auth/login", summary="Log in; sets the session cookie")
def login(body: Login, request: Request, response: Response, db: DB) -> dict[str, Any]:
    """Check the password and start a browser session (cookie)."""
    user = db.scalar(select(User).where(User.username == body.username))
    if user is None or not verify_password(user.password_hash, body.password):
        log.info("login failed")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong username or password")
    settings = request.app.state.settings
    secret, row = issue_token(db, user, kind="session",
                              lifetime=timedelta(hours=settings.session_hours))
    response.set_cookie(COOKIE, secret, httponly=True, samesite="strict",
                        secure=settings.secure_cookies,
                        max_age=int(settings.session_hours * 3600))
    return user_json(user)


@router.post("/auth/logout", summary="End the browser session")
def logout(request: Request, response: Response, db: DB) -> dict[str, str]:
    """Forget the session token of the cookie (if any) and clear the cookie."""
    secret = request.cookies.get(COOKIE)
    if secret:
        db.execute(delete(Token).where(Token.token_hash == hash_token(secret)))
    response.delete_cookie(COOKIE)
    return {"status": "logged out"}


@router.get("/auth/me", summary="Who am I, and in which studies")
def me(user: CurrentUser) -> dict[str, Any]:
    """The current user and their study roles."""
    return user_json(user)


@router.post("/auth/tokens", status_code=201, summary="Issue a bearer token (shown once)")
def new_token(body: NewToken, user: CurrentUser, db: DB) -> dict[str, Any]:
    """A new API token for the current user; only its hash is stored."""
    secret, row = issue_token(db, user, kind="api", lifetime=timedelta(days=body.days),
                              label=body.label)
    return {"token": secret, "label": row.label, "expires_at": row.expires_at.isoformat()}


@router.post("/auth/password", summary="Change your password (ends other sessions)")
def change_password(body: NewPassword, user: CurrentUser, db: DB) -> dict[str, str]:
    """Set a new password; every other token of the user is revoked."""
    if not verify_password(user.password_hash, body.old_password):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the old password is wrong")
    user.password_hash = hash_password(body.new_password)
    db.execute(delete(Token).where(Token.user_id == user.id, Token.kind == "api"))
    return {"status": "password changed; API tokens revoked"}


@router.post("/users", status_code=201, summary="Create a staff account (superusers)")
def create_user(body: NewUser, db: DB,
                _: Annotated[User, Depends(require_superuser)]) -> dict[str, Any]:
    """A new user; give them a study role with ``POST /api/studies/{id}/members``."""
    if db.scalar(select(User).where(User.username == body.username)):
        raise HTTPException(status.HTTP_409_CONFLICT, detail="that username is taken")
    u = User(username=body.username, password_hash=hash_password(body.password),
             is_superuser=body.superuser)
    db.add(u)
    db.flush()
    return user_json(u)
