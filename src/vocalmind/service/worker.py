"""The durable assessment queue: rows of ``assessments``, claimed with a lease.

Exactly once, even when a server is killed
------------------------------------------
1. An upload inserts an assessment with ``status='queued'`` in the same transaction as its
   recording; the request returns at once with the id.
2. A worker *claims* the oldest claimable row -- queued, or running with an expired lease
   (its worker died) -- setting ``status='running'``, ``lease_owner`` and ``lease_until``.
   PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` then ``UPDATE`` (concurrent workers
   skip each other's rows instead of waiting); SQLite: one atomic
   ``UPDATE ... WHERE id = (SELECT ...) AND status = ... RETURNING id`` inside
   ``BEGIN IMMEDIATE``.
3. While it computes, the worker renews the lease (heartbeat every ``lease_s / 3``).
4. It finishes by one transaction that updates the row *only if it still holds the lease*
   and inserts the row's ``executions`` record (unique per assessment). A worker that lost
   its lease (it stalled past ``lease_s``) commits nothing, so a result is committed once.

A job whose worker died ``MAX_ATTEMPTS`` times is marked failed rather than retried forever.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from vocalmind.errors import VocalmindError
from vocalmind.service.db import is_postgres, session_scope, writer
from vocalmind.service.models import Assessment, Execution, ModelVersion, Recording, utcnow
from vocalmind.service.models import Session as StudySession

__all__ = ["MAX_ATTEMPTS", "Worker", "claim", "complete", "heartbeat", "worker_id"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


def worker_id() -> str:
    """A name unique to this worker: host, process and a random suffix."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claimable(now: Any) -> Any:
    return or_(Assessment.status == "queued",
               and_(Assessment.status == "running", Assessment.lease_until < now,
                    Assessment.attempts < MAX_ATTEMPTS))


def claim(engine: Engine, owner: str, *, lease_s: float) -> int | None:
    """Claim the oldest claimable assessment for ``owner``; its id, or None if none is left."""
    now = utcnow()
    values = {"status": "running", "lease_owner": owner,
              "lease_until": now + timedelta(seconds=lease_s),
              "attempts": Assessment.attempts + 1, "started_at": now}
    with writer(engine).begin() as conn:
        # jobs whose worker died too often: failed, not retried
        conn.execute(update(Assessment).where(
            Assessment.status == "running", Assessment.lease_until < now,
            Assessment.attempts >= MAX_ATTEMPTS).values(
            status="failed", error=f"the worker stopped {MAX_ATTEMPTS} times on this job",
            lease_owner=None, finished_at=now))
        if is_postgres(engine):
            job = conn.scalar(select(Assessment.id).where(_claimable(now))
                              .order_by(Assessment.id).limit(1)
                              .with_for_update(skip_locked=True))
            if job is None:
                return None
            conn.execute(update(Assessment).where(Assessment.id == job).values(**values))
            return int(job)
        sub = (select(Assessment.id).where(_claimable(now)).order_by(Assessment.id).limit(1)
               .scalar_subquery())
        job = conn.scalar(update(Assessment).where(Assessment.id == sub, _claimable(now))
                          .values(**values).returning(Assessment.id))
        return None if job is None else int(job)


def heartbeat(engine: Engine, job: int, owner: str, *, lease_s: float) -> bool:
    """Extend ``owner``'s lease on ``job``; False if the lease was lost."""
    with writer(engine).begin() as conn:
        res = conn.execute(update(Assessment).where(
            Assessment.id == job, Assessment.lease_owner == owner,
            Assessment.status == "running").values(
            lease_until=utcnow() + timedelta(seconds=lease_s)))
        return res.rowcount == 1


def complete(engine: Engine, job: int, owner: str, *, result: dict[str, Any] | None = None,
             error: str | None = None) -> bool:
    """Commit the outcome of ``job`` (done with ``result``, or failed with ``error``).

    Returns False, committing nothing, if ``owner`` no longer holds the lease.
    """
    now = utcnow()
    with writer(engine).connect() as conn:
        res = conn.execute(update(Assessment).where(
            Assessment.id == job, Assessment.lease_owner == owner,
            Assessment.status == "running").values(
            status="failed" if error is not None else "done", result=result,
            error=None if error is None else error[:1000], lease_owner=None,
            lease_until=None, finished_at=now))
        if res.rowcount != 1:
            conn.rollback()
            return False
        attempt = conn.scalar(select(Assessment.attempts).where(Assessment.id == job))
        # unique(assessment_id): a second commit of the same job would fail here
        conn.execute(insert(Execution).values(assessment_id=job, worker=owner,
                                              attempt=attempt, finished_at=now))
        conn.commit()
    return True


def _job_inputs(db: Session, job: int, data_dir: Path) -> dict[str, Any]:
    """Everything the computation needs, read in one short transaction."""
    a = db.get(Assessment, job)
    if a is None:
        raise LookupError(job)
    rec: Recording = a.recording
    sess: StudySession = rec.session
    mv: ModelVersion = a.model_version
    card = {"path": mv.path, "model_sha256": mv.model_sha256, "task": mv.task,
            "label": mv.label, "model": mv.model, "corpus": mv.corpus, "info": mv.info}
    # the participant's other recordings, all sessions: their speaker (for
    # speaker-normalised models), nearest sessions first; and the marker values of earlier
    # sessions (baseline), one dict of means per session
    rows = db.execute(
        select(StudySession.index, Recording.id, Recording.path, Assessment.result)
        .join(Recording, Recording.session_id == StudySession.id)
        .outerjoin(Assessment, and_(Assessment.recording_id == Recording.id,
                                    Assessment.status == "done"))
        .where(StudySession.participant_id == sess.participant_id)
        .order_by(StudySession.index, Recording.id)).all()
    own = str(data_dir / rec.path)
    others: dict[str, int] = {}
    per_session: dict[int, dict[int, dict[str, float]]] = {}
    for index, rec_id, path, result in rows:
        p = str(data_dir / path)
        if p != own:
            others.setdefault(p, abs(index - sess.index))
        markers = (result or {}).get("markers") or {}
        if markers and index < sess.index:
            per_session.setdefault(index, {})[rec_id] = {k: v["value"]
                                                        for k, v in markers.items()}
    reference = sorted(others, key=lambda p: others[p])[:20]
    baseline = []
    for recs in per_session.values():
        names = {k for m in recs.values() for k in m}
        baseline.append({k: sum(m[k] for m in recs.values() if k in m)
                         / sum(1 for m in recs.values() if k in m) for k in names})
    return {"audio": own, "card": card, "reference": reference, "baseline": baseline}


def warm_up() -> None:
    """Import what computing an assessment needs, once, when the worker starts.

    Importing holds the interpreter lock for seconds (scikit-learn, openSMILE, pandas,
    scipy). Done by the first job instead, it would stall the server's event loop right
    when the first uploads arrive.
    """
    try:
        import vocalmind.assess  # noqa: F401
        import vocalmind.audio  # noqa: F401
        import vocalmind.features.clinical  # noqa: F401
        import vocalmind.service.assessing  # noqa: F401
        from vocalmind.features.base import get_feature_set

        get_feature_set("egemaps")
    except Exception:  # the first job will meet (and report) the same problem
        log.exception("warming up the assessment worker failed")


class Worker:
    """Runs queued assessments in background threads of the server process.

    Parameters
    ----------
    engine, sessions : database engine and session factory
    data_dir : the data folder (recording paths are relative to it)
    threads : number of worker threads
    lease_s, poll_s : lease length and idle polling interval (seconds)
    markers : compute the clinical voice markers
    max_duration_s : decoding guard passed to the audio loader
    housekeeping : called by the first thread every ``housekeeping_s`` seconds when idle
        (the service sweeps orphaned upload files with it)
    """

    def __init__(self, engine: Engine, sessions: sessionmaker[Session], data_dir: Path, *,
                 threads: int = 1, lease_s: float = 120.0, poll_s: float = 0.5,
                 markers: bool = True, max_duration_s: float | None = None,
                 housekeeping: Any = None, housekeeping_s: float = 3600.0) -> None:
        self.engine, self.sessions, self.data_dir = engine, sessions, data_dir
        self.housekeeping, self.housekeeping_s = housekeeping, housekeeping_s
        self.n_threads, self.lease_s, self.poll_s = threads, lease_s, poll_s
        self.markers, self.max_duration_s = markers, max_duration_s
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the worker threads (daemons: a killed process simply leaves leases to expire)."""
        for i in range(self.n_threads):
            t = threading.Thread(target=self._loop, name=f"vocalmind-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the threads to stop after their current job and wait for them."""
        self.stopping.set()
        self.wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def notify(self) -> None:
        """Wake an idle worker (called after an upload)."""
        self.wake.set()

    def _loop(self) -> None:
        import time

        owner = worker_id()
        first = threading.current_thread().name.endswith("-0")
        if first:
            warm_up()
        next_chores = time.monotonic() + self.housekeeping_s
        while not self.stopping.is_set():
            if first and self.housekeeping is not None and time.monotonic() >= next_chores:
                next_chores = time.monotonic() + self.housekeeping_s
                try:
                    self.housekeeping()
                except Exception:
                    log.exception("housekeeping failed; retrying later")
            try:
                job = claim(self.engine, owner, lease_s=self.lease_s)
            except Exception:  # database away for a moment: keep the thread alive
                log.exception("claiming an assessment failed; retrying")
                job = None
            if job is None:
                self.wake.wait(self.poll_s)
                self.wake.clear()
                continue
            self.run_one(job, owner)

    def run_one(self, job: int, owner: str) -> bool:
        """Compute a claimed job and commit its outcome; True if this worker committed it."""
        from vocalmind.service.assessing import compute_assessment, scrub_paths

        stop_beat = threading.Event()

        def beat() -> None:
            while not stop_beat.wait(self.lease_s / 3):
                if not heartbeat(self.engine, job, owner, lease_s=self.lease_s):
                    return

        beater = threading.Thread(target=beat, daemon=True, name=f"lease-{job}")
        beater.start()
        result, error = None, None
        inputs: dict[str, Any] | None = None
        try:
            with session_scope(self.sessions) as db:
                inputs = _job_inputs(db, job, self.data_dir)
            result = compute_assessment(inputs["audio"], inputs["card"],
                                        reference=inputs["reference"],
                                        baseline=inputs["baseline"], markers=self.markers,
                                        max_duration_s=self.max_duration_s)
        except LookupError:  # deleted (with its participant) while queued
            stop_beat.set()
            return False
        except VocalmindError as e:
            # told to the study team in words; server paths never leave the server
            paths = {str(self.data_dir.resolve()): "data", str(self.data_dir): "data"}
            if inputs:
                paths.update({inputs["audio"]: "the recording",
                              inputs["card"]["path"]: "the model"})
                paths.update(dict.fromkeys(inputs["reference"], "an earlier recording"))
            error = scrub_paths(str(e), paths)
        except Exception as e:  # a bug: record it on the job, keep the worker alive
            log.exception("assessment %d failed unexpectedly", job)
            error = f"internal error ({type(e).__name__})"
        finally:
            stop_beat.set()
        ok = complete(self.engine, job, owner, result=result, error=error)
        log.info("assessment %d %s", job, ("failed" if error else "done") if ok
                 else "lost its lease; result discarded")
        return ok
