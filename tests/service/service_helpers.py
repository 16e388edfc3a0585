"""Helpers of the service tests (kept out of conftest.py so that tests can import them)."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import soundfile as sf
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _signals import SR, voiced_tone  # noqa: E402

ADMIN_PASSWORD = "correct horse battery"
ORIGIN = "http://testserver"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tone_wav(path: Path, f0: float = 200.0, *, seconds: float = 1.2, loud: float = 0.3,
             seed: int = 0) -> Path:
    """Write a 16 kHz voiced tone (the test 'speech')."""
    sf.write(path, voiced_tone(f0, seconds=seconds, loud=loud, seed=seed), SR)
    return path


def fresh_pg_database(pg_url: str) -> str:
    """A new, empty database on the session's cluster (one per test: no shared state)."""
    import uuid

    from sqlalchemy import create_engine, text

    name = "t_" + uuid.uuid4().hex[:12]
    eng = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return pg_url.rsplit("/", 1)[0] + "/" + name


def make_settings(tmp_path: Path, *, db_url: str | None = None, models: list[Path] = (),
                  **kw: object):  # type: ignore[no-untyped-def]
    from vocalmind.service import Settings

    kw.setdefault("admin_password", ADMIN_PASSWORD)
    return Settings(data_dir=tmp_path / "data", db_url=db_url, models=list(models), **kw)


def wait_for(predicate, timeout: float = 60.0, step: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy (or fail after ``timeout`` s)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = predicate()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


class LiveServer:
    """Serve an app with uvicorn in a thread on a free loopback port."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        import threading

        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


# --------------------------------------------------------------------------- API clients
# (``client`` is a fastapi.testclient.TestClient)


def login(client: TestClient, username: str = "admin", password: str = ADMIN_PASSWORD) -> dict:
    """Log in with the cookie, and send the CSRF token and Origin a page would send."""
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    body = r.json()
    client.headers.update({"X-CSRF-Token": body.pop("csrf_token"),
                           "Origin": ORIGIN})
    return body


def bearer(client: TestClient, username: str, password: str) -> dict[str, str]:
    """Headers with a fresh API token of ``username`` (via a separate login)."""
    with TestClient(client.app) as other:
        login(other, username, password)
        tok = other.post("/api/auth/tokens", json={"label": "t", "days": 1}).json()["token"]
    return {"Authorization": f"Bearer {tok}"}


def finished(client: TestClient, aid: int, headers: dict | None = None) -> dict:
    def done() -> dict | None:
        a = client.get(f"/api/assessments/{aid}", headers=headers or {}).json()
        return a if a["status"] in ("done", "failed") else None

    return wait_for(done, timeout=60)


def setup_study(client: TestClient, code: str = "S1") -> tuple[int, int]:
    login(client)
    sid = client.post("/api/studies", json={"code": code}).json()["id"]
    pid = client.post(f"/api/studies/{sid}/participants", json={"code": "P001"}).json()["id"]
    return sid, pid


