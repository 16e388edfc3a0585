"""The HTML pages (data comes from the JSON API, called by ``static/app.js``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from vocalmind.experiment import DISCLAIMER
from vocalmind.service.auth import COOKIE, hash_token
from vocalmind.service.db import as_utc
from vocalmind.service.models import Token, utcnow

router = APIRouter(include_in_schema=False)


def _logged_in(request: Request) -> bool:
    secret = request.cookies.get(COOKIE)
    if not secret:
        return False
    with request.app.state.sessions() as db:
        tok = db.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
        return tok is not None and as_utc(tok.expires_at) > utcnow()


def _page(request: Request, name: str, **ctx: object) -> Response:
    if not _logged_in(request):
        return RedirectResponse("/login", status_code=303)
    return request.app.state.templates.TemplateResponse(
        request, name, {"disclaimer": DISCLAIMER, **ctx})


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    """Upload or record, choose participant and model, see the assessment."""
    return _page(request, "index.html")


@router.get("/participants/{participant_id}", response_class=HTMLResponse)
def participant_page(participant_id: int, request: Request) -> Response:
    """Trend over sessions and the pre/post statistics."""
    return _page(request, "participant.html", participant_id=participant_id)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The login form."""
    return request.app.state.templates.TemplateResponse(request, "login.html",
                                                        {"disclaimer": DISCLAIMER})
