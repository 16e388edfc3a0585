"""The FastAPI application: ``create_app(settings)``.

Start-up (in :func:`create_app`, before the first request): create the data folder, open
the database, run the Alembic migrations, create the first superuser if there is no user,
register the ``--model`` run folders, and remove upload spool files left by a killed
server; the worker threads start with the app's lifespan and stop after their current job
on shutdown.

Two ASGI middlewares wrap every route: :class:`BodyLimit` (a request body over the limit is
refused from its ``Content-Length`` before it is read) and :class:`SecurityHeaders` (CSP,
``frame-ancestors 'none'``, ``nosniff``, no referrer, ``no-store`` on API answers); a third,
:class:`UploadGate`, lets only a few uploads be read at once. The
OpenAPI description is served only to a logged-in user (``/api/openapi.json``); there is
no Swagger UI page, so no third-party script ever runs on the service's origin.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

import vocalmind
from vocalmind.errors import VocalmindError
from vocalmind.service.auth import LoginThrottle, current_user, hash_password
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
BODY_METHODS = (b"POST", b"PUT", b"PATCH", b"DELETE")

DESCRIPTION = """Assess recordings with trained vocalmind models and follow participants
over time. Every endpoint except `/health` needs `Authorization: Bearer <token>` (from
`POST /api/auth/tokens`) or the login cookie (`POST /api/auth/login`; cookie-authenticated
writes also need the `X-CSRF-Token` header and a same-origin `Origin`).

**Research measurement, not a diagnosis.**"""

#: the page loads only its own scripts, styles and images; nothing may frame it
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


async def _refuse(send: Any, code: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: refuse any request body over its route's limit before reading it.

    The upload route allows ``max_upload_bytes`` plus the multipart envelope (the router
    checks the exact file size again while spooling); every other route allows
    ``max_body_bytes``. The check uses ``Content-Length``; a body sent without one
    (chunked) is refused with 411. As a second line, the body stream is counted and cut
    off past the limit.
    """

    def __init__(self, app: Any, max_upload_bytes: int, max_body_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes, self.max_body_bytes = max_upload_bytes, max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"] in UPLOAD_PATHS
        limit = self.max_upload_bytes + FORM_OVERHEAD if upload else self.max_body_bytes
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > limit:
                what = (f"upload larger than the limit of {self.max_upload_bytes} bytes"
                        if upload else f"request body larger than {limit} bytes")
                await _refuse(send, 413, what)
                return
        elif b"transfer-encoding" in headers or (
                upload and scope["method"].encode() in BODY_METHODS):
            await _refuse(send, 411, "send the request body with a Content-Length header")
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise RuntimeError("request body longer than its Content-Length")
            return message

        await self.app(scope, counted, send)


class UploadGate:
    """ASGI middleware: at most ``n`` upload requests are read at once; the others wait.

    A waiting upload has not been read: its body stays in the client's and the kernel's
    buffers (TCP flow control), costing the server nothing. Without the gate, 50 uploads
    sent together are all parsed at once, and each turn of the event loop first serves a
    chunk of every one of them, so that a short read of another study waits behind them
    all. One gate per event loop (a test client runs each session on a new loop).
    """

    def __init__(self, app: Any, n: int) -> None:
        self.app, self.n = app, n
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in UPLOAD_PATHS:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.n)
        async with gate:
            await self.app(scope, receive, send)


class SecurityHeaders:
    """ASGI middleware: security headers on every answer, ``no-store`` on API answers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # everything but the vendored static files is personal or session-bound: no-store
        private = not scope["path"].startswith("/static/")

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                h = [(k, v) for k, v in message.get("headers", [])
                     if k.lower() != b"cache-control" or not private]
                h += [(b"content-security-policy", CSP.encode()),
                      (b"x-content-type-options", b"nosniff"),
                      (b"x-frame-options", b"DENY"),
                      (b"referrer-policy", b"same-origin"),
                      (b"cross-origin-opener-policy", b"same-origin"),
                      (b"permissions-policy", b"microphone=(self), camera=(), geolocation=()")]
                if private:
                    h.append((b"cache-control", b"no-store"))
                message = {**message, "headers": h}
            await send(message)

        await self.app(scope, receive, with_headers)


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
    write_factory = make_sessionmaker(engine, write=True)
    store = AudioStore(settings.audio_dir, spool_dir=settings.upload_dir)
    swept = store.sweep_orphans()
    if swept:
        log.info("removed %d upload spool files left by a stopped server", swept)
    with session_scope(write_factory) as db:
        _bootstrap_admin(db, settings)
        for run_dir in settings.models:
            models.register_model(db, run_dir)
    worker = Worker(engine, factory, settings.data_dir, threads=settings.worker_threads,
                    lease_s=settings.lease_s, poll_s=settings.poll_s,
                    markers=settings.markers, max_duration_s=settings.max_duration_s + 1,
                    housekeeping=store.sweep_orphans)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            worker.stop()
            pool = getattr(app.state, "checker_pool", None)
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            engine.dispose()

    app = FastAPI(title="vocalmind", version=vocalmind.__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = factory
    app.state.write_sessions = write_factory
    app.state.upload_slots = asyncio.Semaphore(settings.upload_slots)
    app.state.login_throttle = LoginThrottle(
        per_account=settings.login_max_failures,
        per_address=settings.login_max_failures_per_address, window_s=settings.login_window_s)
    app.state.store = store
    app.state.worker = worker
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    # an upload's next body arrives while the slots decode: two more than the slots
    app.add_middleware(UploadGate, n=settings.upload_slots + 2)
    app.add_middleware(BodyLimit, max_upload_bytes=settings.max_upload_bytes,
                       max_body_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the rejected input back; a refused participant code
        # may be a name, so only the location and the reason are returned
        return JSONResponse({"detail": [{"loc": list(e.get("loc", ())), "msg": e.get("msg"),
                                         "type": e.get("type")} for e in exc.errors()]},
                            status_code=422)

    @app.exception_handler(VocalmindError)
    async def _vocalmind_error(request: Request, exc: VocalmindError) -> JSONResponse:
        from vocalmind.service.assessing import scrub_paths

        return JSONResponse({"detail": scrub_paths(str(exc), {
            str(settings.data_dir.resolve()): "data", str(settings.data_dir): "data"})},
            status_code=400)

    @app.get("/api/openapi.json", include_in_schema=False,
             dependencies=[Depends(current_user)])
    def openapi_json() -> JSONResponse:
        """The OpenAPI description, for logged-in users only."""
        return JSONResponse(app.openapi())

    for r in (health, auth, studies, participants, sessions, recordings, assessments, models,
              pages):
        app.include_router(r.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
