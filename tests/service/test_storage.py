"""Audio store, migrations and the durable queue, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from vocalmind.service.db import make_engine, make_sessionmaker, run_migrations, session_scope
from vocalmind.service.models import (
    Assessment,
    Base,
    Execution,
    ModelVersion,
    Participant,
    Recording,
    Session,
    Study,
)
from vocalmind.service.storage import AudioStore, TooLargeError
from vocalmind.service.worker import MAX_ATTEMPTS, claim, complete, heartbeat

# --------------------------------------------------------------------------- storage


def test_store_is_content_addressed_and_deduplicates(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "audio")
    data = b"RIFF" + bytes(range(256)) * 50
    sha = hashlib.sha256(data).hexdigest()
    a = store.spool(iter([data[:100], data[100:]]), max_bytes=len(data))
    assert (a.sha256, a.n_bytes) == (sha, len(data))
    target = store.put(a)
    assert target == tmp_path / "audio" / sha[:2] / sha and target.read_bytes() == data
    assert store.relpath(sha) == f"audio/{sha[:2]}/{sha}"
    b = store.spool(iter([data]), max_bytes=len(data))
    assert store.put(b) == target and not b.path.exists()  # second copy dropped
    assert list((tmp_path / "uploads").iterdir()) == []
    assert store.remove(sha) and not target.exists() and not store.remove(sha)


def test_store_refuses_oversize_and_leaves_nothing(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "audio")
    with pytest.raises(TooLargeError, match="limit of 10 bytes"):
        store.spool(iter([b"12345", b"678901"]), max_bytes=10)
    assert list((tmp_path / "uploads").iterdir()) == []
    with pytest.raises(ValueError, match="SHA-256"):
        store.path("../../etc/passwd")


def test_store_put_is_atomic_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while moving leaves no partial file under the content's name."""
    import os

    store = AudioStore(tmp_path / "audio")
    s = store.spool(iter([b"abc"]), max_bytes=10)
    calls = []

    def boom(src: str, dst: str) -> None:
        calls.append(dst)
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        store.put(s)
    assert calls and not store.path(s.sha256).exists()


# --------------------------------------------------------------------------- schema


def test_migrations_create_the_model_schema(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(db_url)
    run_migrations(engine)
    run_migrations(engine)  # idempotent: a restart migrates nothing
    names = set(inspect(engine).get_table_names())
    assert {"studies", "participants", "sessions", "recordings", "assessments",
            "model_versions", "users", "tokens", "memberships", "executions",
            "alembic_version"} <= names
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    cols = {c["name"] for c in inspect(engine).get_columns("participants")}
    assert cols == {"id", "study_id", "code", "created_at"}  # no name, ever
    engine.dispose()


# --------------------------------------------------------------------------- queue


def _queue(db_url: str, n: int) -> tuple[object, list[int]]:
    engine = make_engine(db_url)
    run_migrations(engine)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as db:
        mv = ModelVersion(path="/x", model_sha256="0" * 64, task="classification",
                          label="emotion", model="logreg", info={})
        st = Study(code="Q")
        db.add_all([mv, st])
        db.flush()
        p = Participant(study_id=st.id, code="P1")
        db.add(p)
        db.flush()
        s = Session(participant_id=p.id, index=1, label="s1")
        db.add(s)
        db.flush()
        r = Recording(session_id=s.id, sha256="a" * 64, path="audio/aa/x", n_bytes=1,
                      duration_s=1.0, sample_rate=16000, channels=1, format="WAV")
        db.add(r)
        db.flush()
        jobs = [Assessment(recording_id=r.id, model_version_id=mv.id) for _ in range(n)]
        db.add_all(jobs)
        db.flush()
        ids = [j.id for j in jobs]
    return engine, ids


def test_concurrent_workers_claim_each_job_once(db_url: str) -> None:
    engine, ids = _queue(db_url, 40)
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            while (job := claim(engine, f"w{k}", lease_s=60)) is not None:
                assert complete(engine, job, f"w{k}", result={"k": k})
                with lock:
                    claimed.append(job)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(claimed) == ids  # none lost, none twice
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Execution)) == 40
        assert set(conn.scalars(select(Assessment.status))) == {"done"}
        assert conn.scalar(select(func.max(Assessment.attempts))) == 1
    engine.dispose()


def test_expired_lease_is_reclaimed_and_the_stale_worker_commits_nothing(db_url: str) -> None:
    engine, [job] = _queue(db_url, 1)
    assert claim(engine, "dead", lease_s=0.05) == job
    assert claim(engine, "other", lease_s=60) is None  # still leased
    time.sleep(0.2)
    assert claim(engine, "alive", lease_s=60) == job  # lease expired: reclaimed
    assert not heartbeat(engine, job, "dead", lease_s=60)
    assert not complete(engine, job, "dead", result={"who": "dead"})
    assert complete(engine, job, "alive", result={"who": "alive"})
    assert not complete(engine, job, "alive", result={"who": "again"})
    with engine.connect() as conn:
        row = conn.execute(select(Assessment.status, Assessment.result, Assessment.attempts)).one()
        assert tuple(row) == ("done", {"who": "alive"}, 2)
        ex = conn.execute(select(Execution.assessment_id, Execution.worker)).all()
        assert [tuple(e) for e in ex] == [(job, "alive")]
        with pytest.raises(IntegrityError):  # the database itself forbids a second execution
            conn.execute(insert(Execution).values(assessment_id=job, worker="x", attempt=9))
    engine.dispose()


def test_a_job_that_kills_its_worker_is_failed_after_max_attempts(db_url: str) -> None:
    engine, [job] = _queue(db_url, 1)
    for k in range(MAX_ATTEMPTS):
        assert claim(engine, f"w{k}", lease_s=0.01) == job
        time.sleep(0.05)
    assert claim(engine, "last", lease_s=60) is None
    with engine.connect() as conn:
        status, error = conn.execute(select(Assessment.status, Assessment.error)).one()
    assert status == "failed" and f"stopped {MAX_ATTEMPTS} times" in error
    engine.dispose()
