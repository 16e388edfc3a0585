"""Model versions: registered run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from vocalmind.errors import ModelError
from vocalmind.service.auth import DB, CurrentUser, require_superuser
from vocalmind.service.models import ModelVersion, User
from vocalmind.service.routers._common import model_json

router = APIRouter(prefix="/api/models", tags=["models"])


class NewModel(BaseModel):
    """A run folder on the server's disk."""

    path: str


def register_model(db: Session, run_dir: str | Path) -> ModelVersion:
    """Register a run folder as a model version (idempotent for an unchanged folder).

    A folder whose ``model.json`` changed gets a new version; older versions of the same
    folder are deactivated (their results keep pointing at them).

    Raises
    ------
    ModelError
        Not a finished run folder.
    """
    from vocalmind.service.assessing import model_card

    card = model_card(run_dir)
    same_path = list(db.scalars(select(ModelVersion).where(ModelVersion.path == card["path"])))
    row = next((m for m in same_path if m.model_sha256 == card["model_sha256"]), None)
    for m in same_path:
        m.active = m is row
    if row is None:
        row = ModelVersion(**card, active=True)
        db.add(row)
    db.flush()
    return row


@router.get("", summary="Registered model versions")
def list_models(user: CurrentUser, db: DB) -> list[dict[str, Any]]:
    """Active model versions, newest first."""
    rows = db.scalars(select(ModelVersion).where(ModelVersion.active)
                      .order_by(ModelVersion.id.desc()))
    return [model_json(m) for m in rows]


@router.post("", status_code=201, summary="Register a run folder (superusers)")
def add_model(body: NewModel, db: DB,
              _: Annotated[User, Depends(require_superuser)]) -> dict[str, Any]:
    """Like ``vocalmind serve --model DIR``."""
    try:
        return model_json(register_model(db, body.path))
    except ModelError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(e)) from None
