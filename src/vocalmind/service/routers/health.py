"""``GET /health``: liveness and database reachability, without authentication."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

import vocalmind

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and database check (no authentication)")
def health(request: Request) -> JSONResponse:
    """``{"status": "ok", ...}`` (200), or 503 if the database does not answer."""
    engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "database": engine.dialect.name},
                            status_code=503)
    return JSONResponse({"status": "ok", "version": vocalmind.__version__,
                         "database": engine.dialect.name})
