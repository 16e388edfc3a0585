"""Uploads: checked, stored content-addressed, and queued for assessment (202 at once).

Checks, in order, each refusal a 4xx JSON ``{"detail": reason}`` in words: the body size
(411 without Content-Length, 413 over the limit -- before the body is read, by the
middleware in ``main.py``, and again exactly while spooling), that it is audio (415: header
and a full decode with :mod:`vocalmind.audio`), its duration (422), and the quality gates
of :mod:`vocalmind.service.quality` (422: silent, clipped, no speech). A refused upload
leaves nothing behind: no session, no recording, no file.

Transactions stay short: the access checks run in one, then the transaction ends; the
spooling, decoding and quality gates run outside any (the decoding in a child process,
:func:`checker_pool`); the session, recording and queued
assessment are written in a second, short one. The upload's file name is never stored or
logged (it may hold a name); only the content hash is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from vocalmind.service.auth import DB, CurrentUser, participant_access, recording_access
from vocalmind.service.models import Assessment, ModelVersion, Participant, Recording
from vocalmind.service.models import Session as StudySession
from vocalmind.service.quality import check_upload, start_checker
from vocalmind.service.routers._common import MAX_ID, PathId, assessment_json, recording_json
from vocalmind.service.routers.sessions import add_session
from vocalmind.service.storage import CHUNK, TooLargeError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["recordings"])
FormId = Annotated[int, Form(ge=1, le=MAX_ID)]


class Reassess(BaseModel):
    """Assess a stored recording again, with another model."""

    model_id: int = Field(ge=1, le=MAX_ID)


def pick_model(db: Any, model_id: int | None) -> ModelVersion:
    """The requested active model version, or the only one if none is named."""
    if model_id is not None:
        mv = db.get(ModelVersion, model_id)
        if mv is None or not mv.active:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                detail="no such model (it may have been replaced by a newer "
                                       "version: reload the page)")
        return mv
    active = list(db.scalars(select(ModelVersion).where(ModelVersion.active)))
    if len(active) != 1:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail=f"{len(active)} models are registered; choose one with "
                                   "model_id (GET /api/models)")
    return active[0]


def _target(db: Any, user: Any, participant_id: int, session_id: int | None,
            model_id: int | None) -> tuple[int, int, dict[str, Any]]:
    """Access checks in one short transaction: (participant id, model id, model card)."""
    p, _ = participant_access(db, user, participant_id)
    mv = pick_model(db, model_id)
    if session_id is not None and not any(s.id == session_id for s in p.sessions):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such session")
    out = p.id, mv.id, {"info": dict(mv.info)}
    db.commit()  # no transaction (no lock) while the upload is spooled and decoded
    return out


def _spool(file: UploadFile, store: Any, settings: Any) -> Any:
    """Copy the upload into the spool folder, hashing and counting (no database)."""

    def chunks():  # type: ignore[no-untyped-def]
        file.file.seek(0)
        while block := file.file.read(CHUNK):
            yield block

    try:
        spooled = store.spool(chunks(), max_bytes=settings.max_upload_bytes)
    except TooLargeError as e:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=str(e)) from None
    if spooled.n_bytes == 0:
        store.discard(spooled)
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            detail="not a readable recording: empty upload")
    return spooled


def checker_pool(app: Any) -> ProcessPoolExecutor:
    """The app's pool of ``upload_slots`` processes that decode and check uploads.

    Separate processes, so that decoding a long recording never holds the server's
    interpreter lock (other requests would queue behind it). Started on first use with
    ``spawn`` (the server has threads; forking it would copy their locks); each exits by
    itself if the server dies, and runs at a lower priority than the server
    (:func:`~vocalmind.service.quality.start_checker`).
    """
    pool = getattr(app.state, "checker_pool", None)
    if pool is None:
        pool = ProcessPoolExecutor(max_workers=app.state.settings.upload_slots,
                                   mp_context=get_context("spawn"),
                                   initializer=start_checker)
        app.state.checker_pool = pool
    return pool


def _write(db: Any, store: Any, spooled: Any, meta: Any, pid: int, mv_id: int,
           session_id: int | None, session_date: dt.date | None,
           card: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
    """The short write transaction: session, recording, queued assessment, file in place.

    Returns the answer (built before the commit, so nothing is read after it), and the
    recording and assessment ids.
    """
    from vocalmind.service.assessing import speaker_reference_shortfall

    if db.get(Participant, pid) is None:  # deleted meanwhile
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such participant")
    if session_id is not None:
        sess = db.get(StudySession, session_id)
        if sess is None or sess.participant_id != pid:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such session")
        if session_date is not None:
            sess.date = session_date
    else:
        sess = add_session(db, pid, date=session_date)
    n_before = db.scalar(select(func.count()).select_from(Recording)
                         .join(StudySession, Recording.session_id == StudySession.id)
                         .where(StudySession.participant_id == pid)) or 0
    rec = Recording(session_id=sess.id, sha256=spooled.sha256,
                    path=store.relpath(spooled.sha256), n_bytes=spooled.n_bytes,
                    duration_s=meta.duration_s, sample_rate=meta.sample_rate,
                    channels=meta.channels, format=meta.format[:64])
    db.add(rec)
    db.flush()
    a = Assessment(recording_id=rec.id, model_version_id=mv_id, status="queued")
    db.add(a)
    db.flush()
    out = {"recording": recording_json(rec), "assessment": assessment_json(a)}
    notice = speaker_reference_shortfall(card, n_before + 1)
    if notice:
        out["notice"] = notice
    store.put(spooled)  # before commit: a committed row always has its file
    db.commit()
    return out, rec.id, a.id


@router.post("/recordings", status_code=202,
             summary="Upload a recording; returns at once with a queued assessment")
async def upload(
    request: Request,
    user: CurrentUser,
    db: DB,
    file: Annotated[UploadFile, File(description="the recording (WAV, FLAC, OGG, MP3, M4A, WebM ...)")],
    participant_id: FormId,
    session_id: Annotated[int | None, Form(ge=1, le=MAX_ID,
                                           description="default: a new session")] = None,
    model_id: Annotated[int | None, Form(ge=1, le=MAX_ID,
                                         description="default: the only registered model")] = None,
    session_date: Annotated[dt.date | None, Form(description="the session's date (YYYY-MM-DD); "
                                                 "default: today for a new session")] = None,
) -> dict[str, Any]:
    """Store the recording and queue its assessment; poll ``GET /api/assessments/{id}``.

    The answer may hold a ``notice`` in words (e.g. a speaker-normalised model that needs
    more recordings of the participant before it can score). At most ``upload_slots``
    uploads are decoded at once; the others wait on the event loop, holding no thread, so
    that other requests are answered meanwhile.
    """
    settings, store = request.app.state.settings, request.app.state.store
    pid, mv_id, card = await run_in_threadpool(_target, db, user, participant_id, session_id,
                                               model_id)
    async with request.app.state.upload_slots:
        spooled = await run_in_threadpool(_spool, file, store, settings)
        try:
            checked = await asyncio.get_running_loop().run_in_executor(
                checker_pool(request.app), partial(
                    check_upload, str(spooled.path), max_duration_s=settings.max_duration_s,
                    min_duration_s=settings.min_duration_s, min_speech_s=settings.min_speech_s,
                    max_clipped_fraction=settings.max_clipped_fraction))
        except BaseException:
            store.discard(spooled)
            raise
    if not checked["ok"]:
        store.discard(spooled)
        log.info("upload refused")
        raise HTTPException(checked["status"], detail=checked["detail"])
    meta = SimpleNamespace(**checked["info"])
    try:
        out, rec_id, aid = await run_in_threadpool(_write, db, store, spooled, meta, pid, mv_id,
                                                   session_id, session_date, card)
    finally:
        if spooled.lock_fd >= 0:  # not put in place: refused or failed
            store.discard(spooled)
    request.app.state.worker.notify()
    log.info("recording %d stored, assessment %d queued", rec_id, aid)
    return out


@router.get("/recordings/{recording_id}", summary="A recording's metadata and assessments")
def get_recording(recording_id: PathId, user: CurrentUser, db: DB) -> dict[str, Any]:
    """Metadata only; the audio is at ``/api/recordings/{id}/audio``."""
    r, _ = recording_access(db, user, recording_id)
    return {**recording_json(r), "assessments": [assessment_json(a) for a in r.assessments]}


@router.get("/recordings/{recording_id}/audio", summary="The stored audio")
def get_audio(recording_id: PathId, request: Request, user: CurrentUser, db: DB) -> FileResponse:
    """The recording's bytes as uploaded."""
    r, _ = recording_access(db, user, recording_id)
    return FileResponse(request.app.state.settings.data_dir / r.path,
                        media_type="application/octet-stream",
                        filename=f"recording-{r.id}")


@router.post("/recordings/{recording_id}/assessments", status_code=202,
             summary="Queue another assessment of a stored recording")
def reassess(recording_id: PathId, body: Reassess, request: Request, user: CurrentUser,
             db: DB) -> dict[str, Any]:
    """A new queued assessment with the given model."""
    r, _ = recording_access(db, user, recording_id)
    mv = pick_model(db, body.model_id)
    a = Assessment(recording_id=r.id, model_version_id=mv.id, status="queued")
    db.add(a)
    db.commit()
    request.app.state.worker.notify()
    return assessment_json(a)
