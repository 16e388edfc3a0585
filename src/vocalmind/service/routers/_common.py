"""Serialisation shared by the routers (one place decides what the API shows)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query

from vocalmind.service.db import as_utc
from vocalmind.service.models import Assessment, ModelVersion, Participant, Recording, Session

#: ids are 32-bit on both backends: anything else is a 422, never a database overflow
MAX_ID = 2**31 - 1
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

#: Pseudonymous participant codes: letters, digits, '-' and '_', with at least one digit
#: (``P017``, ``site2-014``), so that a name typed by mistake is refused.
CODE_RE = re.compile(r"^(?=.*\d)[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
#: Session labels: short, no free text (``week 3``, ``pre``, ``2026-03-01``).
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,39}$")


def iso(dt: datetime | None) -> str | None:
    """ISO-8601 in UTC (``Z``), or None."""
    dt = as_utc(dt)
    return None if dt is None else dt.isoformat().replace("+00:00", "Z")


def clean(x: Any) -> Any:
    """JSON-safe copy: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str | bytes):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def model_json(m: ModelVersion) -> dict[str, Any]:
    """A model version as the API shows it (paths stay server-side).

    ``synthetic`` marks the demo model (trained on synthetic espeak speech), which the page
    labels "synthetic demo - not for real speech".
    """
    from vocalmind.service.assessing import public_corpus

    return {"id": m.id, "label": m.label, "task": m.task, "model": m.model,
            "corpus": public_corpus(m.corpus), "synthetic": bool(m.info.get("synthetic")),
            "speaker_normalization": bool(m.info.get("speaker_normalization")),
            "model_sha256": m.model_sha256, "active": m.active,
            "classes": m.info.get("classes"), "features": m.info.get("features"),
            "metrics": m.info.get("metrics", {}), "registered_at": iso(m.registered_at)}


def participant_json(p: Participant) -> dict[str, Any]:
    """A participant (code only)."""
    return {"id": p.id, "study_id": p.study_id, "code": p.code,
            "n_sessions": len(p.sessions), "created_at": iso(p.created_at)}


def session_json(s: Session) -> dict[str, Any]:
    """A session with the ids of its recordings."""
    return {"id": s.id, "participant_id": s.participant_id, "index": s.index,
            "label": s.label, "date": s.date.isoformat() if s.date else None,
            "recording_ids": sorted(r.id for r in s.recordings),
            "created_at": iso(s.created_at)}


def recording_json(r: Recording) -> dict[str, Any]:
    """A recording's metadata (never its content)."""
    return {"id": r.id, "session_id": r.session_id,
            "participant_id": r.session.participant_id, "sha256": r.sha256,
            "n_bytes": r.n_bytes, "duration_s": round(r.duration_s, 3),
            "sample_rate": r.sample_rate, "channels": r.channels, "format": r.format,
            "created_at": iso(r.created_at)}


def assessment_json(a: Assessment) -> dict[str, Any]:
    """An assessment: status, and the result once done."""
    sess = a.recording.session
    return {"id": a.id, "status": a.status, "recording_id": a.recording_id,
            "session_id": sess.id, "session_label": sess.label, "session_index": sess.index,
            "session_date": sess.date.isoformat() if sess.date else None,
            "participant_id": sess.participant_id, "model_version_id": a.model_version_id,
            "result": a.result, "error": a.error, "attempts": a.attempts,
            "created_at": iso(a.created_at), "finished_at": iso(a.finished_at)}
