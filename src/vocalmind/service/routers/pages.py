"""The HTML pages (data comes from the JSON API, called by ``static/app.js``).

Pages carry no inline script (the Content-Security-Policy allows only ``/static`` files):
``<body data-page=... data-id=...>`` tells ``app.js`` what to do, and a ``<meta>`` holds
the session's CSRF token for the page's writes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from vocalmind.scales import NOT_A_DIAGNOSIS as DISCLAIMER
from vocalmind.service.auth import COOKIE, csrf_token, hash_token
from vocalmind.service.db import as_utc
from vocalmind.service.models import Token, utcnow
from vocalmind.service.routers._common import PathId

router = APIRouter(include_in_schema=False)


def _session_secret(request: Request) -> str | None:
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    with request.app.state.sessions() as db:
        tok = db.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
        ok = (tok is not None and as_utc(tok.expires_at) > utcnow()
              and tok.user.disabled_at is None)
    return secret if ok else None


def _page(request: Request, name: str, page: str, object_id: int | None = None) -> Response:
    secret = _session_secret(request)
    if secret is None:
        return RedirectResponse("/login", status_code=303)
    return request.app.state.templates.TemplateResponse(
        request, name, {"disclaimer": DISCLAIMER, "page": page, "object_id": object_id or "",
                        "csrf": csrf_token(secret)})


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    """Upload or record, choose participant, session and model, see the assessment."""
    return _page(request, "index.html", "index")


@router.get("/studies", response_class=HTMLResponse)
def studies_page(request: Request) -> Response:
    """The user's studies; superusers create studies here."""
    return _page(request, "studies.html", "studies")


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(study_id: PathId, request: Request) -> Response:
    """A study's participants (and, for its admins, members)."""
    return _page(request, "study.html", "study", study_id)


@router.get("/participants/{participant_id}", response_class=HTMLResponse)
def participant_page(participant_id: PathId, request: Request) -> Response:
    """Trend over sessions and the pre/post statistics."""
    return _page(request, "participant.html", "participant", participant_id)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request) -> Response:
    """Change your password."""
    return _page(request, "account.html", "account")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The login form."""
    return request.app.state.templates.TemplateResponse(
        request, "login.html", {"disclaimer": DISCLAIMER, "page": "login", "object_id": "",
                                "csrf": ""})
