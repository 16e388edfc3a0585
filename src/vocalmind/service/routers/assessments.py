"""Assessments: poll status and read results."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from vocalmind.service.auth import DB, CurrentUser, recording_access
from vocalmind.service.models import Assessment
from vocalmind.service.routers._common import PathId, assessment_json

router = APIRouter(prefix="/api", tags=["assessments"])


@router.get("/assessments/{assessment_id}", summary="Status and result of an assessment")
def get_assessment(assessment_id: PathId, user: CurrentUser, db: DB) -> dict[str, Any]:
    """``status`` is queued, running, done or failed; ``result`` is set when done."""
    a = db.get(Assessment, assessment_id)
    if a is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such assessment")
    recording_access(db, user, a.recording_id, what="assessment")  # same 404 text either way
    return assessment_json(a)
