"""The FastAPI application: ``create_app(settings)``.

Start-up (in :func:`create_app`, before the first request): create the data folder, open
the database, run the Alembic migrations, create the first superuser if there is no user,
register the ``--model`` run folders; the worker threads start with the app's lifespan and
stop after their current job on shutdown.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

import vocalmind
from vocalmind.errors import VocalmindError
from vocalmind.service.auth import hash_password
from vocalmind.service.db import make_engine, make_sessionmaker, run_migrations, session_scope
from vocalmind.service.models import User
from vocalmind.service.routers import (
    assessments,
    auth,
    health,
    models,
    pages,
    participants,
    recordings,
    sessions,
    studies,
)
from vocalmind.service.settings import Settings
from vocalmind.service.storage import AudioStore
from vocalmind.service.worker import Worker

__all__ = ["create_app"]

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
UPLOAD_PATHS = ("/api/recordings",)
#: allowance for the multipart envelope and form fields around the file
FORM_OVERHEAD = 64 * 1024

DESCRIPTION = """Assess recordings with trained vocalmind models and follow participants
over time. Every endpoint except `/health` needs `Authorization: Bearer <token>` (from
`POST /api/auth/tokens`) or the login cookie (`POST /api/auth/login`).

**Research measurement, not a diagnosis.**"""


class UploadLimit:
    """ASGI middleware: refuse an upload body over the limit before it is read.

    The check uses ``Content-Length`` (411 without it); the router checks the exact file
    size again while spooling.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and \
                scope["path"] in UPLOAD_PATHS:
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            detail, code = None, 0
            if length is None:
                detail, code = "send the upload with a Content-Length header", 411
            elif not length.isdigit() or int(length) > self.max_bytes + FORM_OVERHEAD:
                detail, code = f"upload larger than the limit of {self.max_bytes} bytes", 413
            if detail:
                await JSONResponse({"detail": detail}, status_code=code)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _bootstrap_admin(db: Any, settings: Settings) -> None:
    if db.scalar(select(func.count()).select_from(User)):
        return
    password = settings.initial_admin_password()
    if password is None:
        from rich.console import Console

        password = secrets.token_urlsafe(12)
        # printed once on the console, deliberately not logged
        Console(stderr=True).print(
            f"[bold]first start:[/bold] created superuser [bold]{settings.admin_username}"
            f"[/bold] with password [bold]{password}[/bold] -- change it "
            "(POST /api/auth/password)")
    db.add(User(username=settings.admin_username, password_hash=hash_password(password),
                is_superuser=True))


def create_app(settings: Settings) -> FastAPI:
    """Build the service for ``settings`` (migrates the database and registers models).

    Raises
    ------
    vocalmind.errors.ConfigError, vocalmind.errors.ModelError
        Bad database URL, or a ``--model`` folder that is not a finished run folder.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    run_migrations(engine)
    factory = make_sessionmaker(engine)
    store = AudioStore(settings.audio_dir, spool_dir=settings.upload_dir)
    with session_scope(factory) as db:
        _bootstrap_admin(db, settings)
        for run_dir in settings.models:
            models.register_model(db, run_dir)
    worker = Worker(engine, factory, settings.data_dir, threads=settings.worker_threads,
                    lease_s=settings.lease_s, poll_s=settings.poll_s,
                    markers=settings.markers, max_duration_s=settings.max_duration_s + 1)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            worker.stop()
            engine.dispose()

    app = FastAPI(title="vocalmind", version=vocalmind.__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = factory
    app.state.store = store
    app.state.worker = worker
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the rejected input back; a refused participant code
        # may be a name, so only the location and the reason are returned
        return JSONResponse({"detail": [{"loc": list(e.get("loc", ())), "msg": e.get("msg"),
                                         "type": e.get("type")} for e in exc.errors()]},
                            status_code=422)

    @app.exception_handler(VocalmindError)
    async def _vocalmind_error(request: Request, exc: VocalmindError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    for r in (health, auth, studies, participants, sessions, recordings, assessments, models,
              pages):
        app.include_router(r.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
