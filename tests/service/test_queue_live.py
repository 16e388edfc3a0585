"""The queue under a real HTTP server: 50 simultaneous uploads across 5 studies, and a server
killed and restarted.

Both run on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from service_helpers import ADMIN_PASSWORD, LiveServer, free_port, make_settings, tone_wav, wait_for
from sqlalchemy import func, select

from vocalmind.service import create_app
from vocalmind.service.db import make_engine
from vocalmind.service.models import Assessment, Execution, Recording
from vocalmind.service.models import Session as StudySession


def _admin(url: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=60)
    r = c.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    c.headers.update({"Origin": url, "X-CSRF-Token": r.json()["csrf_token"]})
    return c


def _counts(db_url: str) -> dict[str, object]:
    eng = make_engine(db_url)
    with eng.connect() as conn:
        out = {
            "recordings": conn.scalar(select(func.count()).select_from(Recording)),
            "executions": sorted(conn.scalars(select(Execution.assessment_id))),
            "status": dict(conn.execute(select(Assessment.status, func.count())
                                        .group_by(Assessment.status)).all()),
            "session_indexes": sorted(conn.scalars(select(StudySession.index))),
            "retried": conn.scalar(select(func.count()).select_from(Assessment)
                                   .where(Assessment.attempts > 1)),
        }
    eng.dispose()
    return out


def test_fifty_simultaneous_uploads_across_five_studies(
        db_url: str, tmp_path: Path, tiny_run: Path) -> None:
    """50 uploads at once (5 studies x 2 participants x 5), while a member of a sixth study
    reads: 0 errors, 0 lost, 0 duplicated, and the reader is not held up."""
    import time

    app = create_app(make_settings(tmp_path, db_url=db_url, models=[tiny_run], markers=False,
                                   worker_threads=2))
    n_studies, n_part, per_part = 5, 2, 5
    n = n_studies * n_part * per_part
    files = [tone_wav(tmp_path / f"u{k}.wav", 120 + 4 * k, seconds=0.6, seed=k).read_bytes()
             for k in range(n)]
    with LiveServer(app) as srv:
        admin = _admin(srv.url)
        pids = []
        for s in range(n_studies + 1):
            r = admin.post("/api/studies", json={"code": f"LOAD{s}"})
            assert r.status_code == 201, r.text
            sid = r.json()["id"]
            for k in range(n_part):
                pids.append((s, admin.post(f"/api/studies/{sid}/participants",
                                           json={"code": f"P{s}{k}"}).json()["id"]))
        token = admin.post("/api/auth/tokens", json={}).json()["token"]
        targets = [pid for s, pid in pids if s < n_studies for _ in range(per_part)]
        reader_pid = next(pid for s, pid in pids if s == n_studies)
        barrier = threading.Barrier(n + 1)
        answers: list[httpx.Response | BaseException] = [None] * n  # type: ignore[list-item]
        waits: list[float] = []
        done = threading.Event()

        def upload(k: int) -> None:
            with httpx.Client(base_url=srv.url, timeout=120,
                              headers={"Authorization": f"Bearer {token}"}) as c:
                barrier.wait()
                try:
                    answers[k] = c.post("/api/recordings", files={"file": ("x.wav", files[k])},
                                        data={"participant_id": str(targets[k])})
                except BaseException as e:
                    answers[k] = e

        def read() -> None:
            with httpx.Client(base_url=srv.url, timeout=120,
                              headers={"Authorization": f"Bearer {token}"}) as c:
                barrier.wait()
                while not done.is_set():
                    t = time.perf_counter()
                    assert c.get("/api/auth/me").status_code == 200
                    assert c.get(f"/api/participants/{reader_pid}").status_code == 200
                    waits.append(time.perf_counter() - t)

        threads = [threading.Thread(target=upload, args=(k,)) for k in range(n)]
        reader = threading.Thread(target=read)
        for t in [*threads, reader]:
            t.start()
        for t in threads:
            t.join(300)
        done.set()
        reader.join(60)
        errors = [getattr(a, "text", repr(a)) for a in answers
                  if not (isinstance(a, httpx.Response) and a.status_code == 202)]
        assert errors == []
        aids = [a.json()["assessment"]["id"] for a in answers]
        assert len(set(aids)) == n
        assert len({a.json()["recording"]["id"] for a in answers}) == n
        # every upload landed with the participant it was sent for
        assert [a.json()["recording"]["participant_id"] for a in answers] == targets

        def all_done() -> bool:
            return all(admin.get(f"/api/assessments/{i}").json()["status"] == "done"
                       for i in aids)

        wait_for(all_done, timeout=300, step=0.5)
        results = {i: admin.get(f"/api/assessments/{i}").json() for i in aids}
        per_participant = {pid: sorted(s["index"] for s in admin.get(
            f"/api/participants/{pid}/sessions").json()) for pid in set(targets)}
    c = _counts(db_url)
    assert c["recordings"] == n and c["status"] == {"done": n}
    assert c["executions"] == sorted(aids)  # each exactly once
    # concurrent new sessions of one participant: no index clash, no gap
    assert all(v == list(range(1, per_part + 1)) for v in per_participant.values())
    assert {r["recording_id"] for r in results.values()} == {
        a.json()["recording"]["id"] for a in answers}
    assert len(list((tmp_path / "data" / "audio").rglob("*/*"))) == n
    assert not list((tmp_path / "data" / "uploads").iterdir())
    # the reader of another study kept being answered (the benchmark measures it properly)
    assert waits and max(waits) < 10, max(waits)
    print(f"reader: {len(waits)} reads, median {sorted(waits)[len(waits) // 2]:.3f} s, "
          f"max {max(waits):.3f} s")


SERVE = ("import sys, uvicorn; from pathlib import Path; "
         "from vocalmind.service import Settings, create_app; "
         "app = create_app(Settings.from_env(data_dir=Path(sys.argv[1]), db_url=sys.argv[2], "
         "models=[Path(sys.argv[3])])); "
         "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[4]))")


def _start(db_url: str, data: Path, port: int, run: Path, log: Path) -> subprocess.Popen:
    """What ``vocalmind serve`` does, in a process that skips the CLI's imports."""
    env = {**os.environ, "VOCALMIND_ADMIN_PASSWORD": ADMIN_PASSWORD, "VOCALMIND_LEASE_S": "1.5",
           "VOCALMIND_POLL_S": "0.2", "VOCALMIND_MARKERS": "false", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-c", SERVE, str(data), db_url, str(run), str(port)],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_killed_server_restarted_finishes_every_assessment_exactly_once(
        db_url: str, tmp_path: Path, tiny_run: Path) -> None:
    """A server process SIGKILLed right after 6 uploads, then started again."""
    data, log = tmp_path / "data", tmp_path / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    files = [tone_wav(tmp_path / f"k{k}.wav", 140 + 15 * k, seconds=1.5, seed=k).read_bytes()
             for k in range(6)]
    first = _start(db_url, data, port, tiny_run, log)
    try:
        wait_for(lambda: _healthy(url) or first.poll() is not None, timeout=60, step=0.2)
        assert first.poll() is None, log.read_text()[-2000:]
        admin = _admin(url)
        sid = admin.post("/api/studies", json={"code": "KILL"}).json()["id"]
        pid = admin.post(f"/api/studies/{sid}/participants", json={"code": "P1"}).json()["id"]
        aids = [admin.post("/api/recordings", files={"file": ("x.wav", f)},
                           data={"participant_id": str(pid)}).json()["assessment"]["id"]
                for f in files]
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    before = _counts(db_url)
    unfinished = before["status"].get("queued", 0) + before["status"].get("running", 0)
    assert unfinished >= 1, f"the kill came too late to test anything: {before}"
    second = _start(db_url, data, port, tiny_run, log)
    try:
        wait_for(lambda: _healthy(url) or second.poll() is not None, timeout=60, step=0.2)
        admin = _admin(url)

        def all_done() -> bool:
            return all(admin.get(f"/api/assessments/{i}").json()["status"] == "done"
                       for i in aids)

        wait_for(all_done, timeout=90, step=0.3)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            second.kill()
    after = _counts(db_url)
    assert after["status"] == {"done": 6}
    assert after["executions"] == sorted(aids), after  # every one, exactly once
    # the job that was running when the server died was claimed again after its lease
    assert after["retried"] >= before["status"].get("running", 0)
    assert "Traceback" not in log.read_text()


def test_serve_function_registers_models_and_runs_uvicorn(
        tmp_path: Path, tiny_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    import uvicorn

    from vocalmind.cli.serve import serve
    from vocalmind.service.models import ModelVersion

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setenv("VOCALMIND_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("VOCALMIND_MAX_UPLOAD_BYTES", "12345")
    serve(db=None, data=tmp_path / "d", host="127.0.0.1", port=8123, model=[tiny_run])
    app = seen["app"]
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    assert app.state.settings.database_url == f"sqlite:///{(tmp_path / 'd' / 'vocalmind.db')}"
    assert app.state.settings.max_upload_bytes == 12345
    with app.state.sessions() as db:
        assert [m.path for m in db.scalars(select(ModelVersion))] == [str(tiny_run.resolve())]
    app.state.engine.dispose()
    with pytest.raises(typer.Exit):  # not a run folder: a clear error, exit code 2
        serve(db=None, data=tmp_path / "d", host="127.0.0.1", port=8123, model=[tmp_path])
