"""The service against an attacker (loopback only): each test failed before its fix.

Body limits on every route, login throttling and timing, session revocation, member
removal and user disabling, CSRF and Origin checks, security headers, the OpenAPI page,
orphaned upload files, swapped model weights, id validation, other studies' ids, server
paths in answers, the bootstrap password rule and bounded token lifetimes.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from service_helpers import (
    ADMIN_PASSWORD,
    LiveServer,
    bearer,
    finished,
    login,
    make_settings,
    setup_study,
    tone_wav,
)
from sqlalchemy import select

from vocalmind.errors import ConfigError
from vocalmind.service import create_app
from vocalmind.service.models import AuditEvent


@pytest.fixture
def app(tmp_path: Path, tiny_run: Path):  # type: ignore[no-untyped-def]
    return create_app(make_settings(tmp_path, models=[tiny_run], max_upload_bytes=400_000,
                                    max_duration_s=8.0, markers=False))


@pytest.fixture
def client(app) -> TestClient:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c


def _new_user(client: TestClient, name: str, sid: int, role: str = "rater") -> str:
    pw = f"{name}-password-123"
    assert client.post("/api/users", json={"username": name, "password": pw}).status_code == 201
    assert client.post(f"/api/studies/{sid}/members",
                       json={"username": name, "role": role}).status_code == 201
    return pw


# --------------------------------------------------------------------------- body size


def test_oversized_login_body_is_refused_before_it_is_read(app) -> None:  # type: ignore[no-untyped-def]
    """A 200 MB Content-Length on /api/auth/login gets 413 without the body being sent."""
    with LiveServer(app) as srv, socket.create_connection(("127.0.0.1", srv.port), 10) as s:
        s.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n{")
        s.settimeout(10)
        start = time.monotonic()
        answer = s.recv(4096)  # the server answers without waiting for 200 MB
        while b'"}' not in answer and (more := s.recv(4096)):
            answer += more
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert time.monotonic() - start < 5
        assert b"request body larger than 65536 bytes" in answer


def test_body_limit_on_every_route(client: TestClient) -> None:
    big = {"username": "a" * 100_000, "password": "x"}
    assert client.post("/api/auth/login", json=big).status_code == 413
    login(client)
    assert client.post("/api/studies", json={"code": "x" * 80_000}).status_code == 413
    assert client.post("/api/studies/1/participants",
                       content=b"{" + b" " * 70_000 + b"}",
                       headers={"Content-Type": "application/json"}).status_code == 413
    # a chunked body (no Content-Length) is refused too
    r = client.post("/api/auth/login", content=iter([b'{"username":', b'"a"}']),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 411


# --------------------------------------------------------------------------- login


def test_login_is_throttled_per_account_and_per_address(tmp_path: Path, tiny_run: Path) -> None:
    app = create_app(make_settings(tmp_path, models=[tiny_run], login_max_failures=5,
                                   login_max_failures_per_address=12, worker_threads=0))
    with TestClient(app) as client:
        for _ in range(5):
            r = client.post("/api/auth/login", json={"username": "admin", "password": "nope"})
            assert r.status_code == 401
        r = client.post("/api/auth/login", json={"username": "admin",
                                                 "password": ADMIN_PASSWORD})
        assert r.status_code == 429, "the right password must not get through a lockout"
        assert int(r.headers["retry-after"]) > 0 and "too many failed logins" in r.text
        # unknown names are counted like known ones (throttling reveals nothing)
        for k in range(7):
            client.post("/api/auth/login", json={"username": f"ghost{k}", "password": "x"})
        r = client.post("/api/auth/login", json={"username": "someone", "password": "x"})
        assert r.status_code == 429  # 12 failures from this address
    # the window passes: the right password works again
    app.state.login_throttle.window_s = 0.01
    time.sleep(0.05)
    with TestClient(app) as client:
        assert login(client)["username"] == "admin"


def test_unknown_usernames_cost_an_argon2_verification(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import vocalmind.service.auth as auth

    calls: list[str] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password",
                        lambda stored, pw: calls.append(stored[:9]) or real(stored, pw))
    client.post("/api/auth/login", json={"username": "nobody-here", "password": "guess"})
    assert calls == ["$argon2id"]

    def timed(user: str) -> float:
        t = time.perf_counter()
        client.post("/api/auth/login", json={"username": user, "password": "wrong-guess"})
        return time.perf_counter() - t

    known = sorted(timed("admin") for _ in range(3))[1]
    unknown = sorted(timed("nobody-here") for _ in range(3))[1]
    assert unknown > 0.5 * known, (unknown, known)  # was 12 ms vs 691 ms


# --------------------------------------------------------------------------- revocation


def test_password_change_revokes_other_sessions_and_tokens(client: TestClient) -> None:
    login(client)
    api = bearer(client, "admin", ADMIN_PASSWORD)
    with TestClient(client.app) as old:
        login(old)
        assert old.get("/api/auth/me").status_code == 200
        r = client.post("/api/auth/password", json={"old_password": ADMIN_PASSWORD,
                                                    "new_password": "a-new-long-password"})
        assert r.status_code == 200, r.text
        assert old.get("/api/auth/me").status_code == 401  # the other browser is logged out
    assert client.get("/api/auth/me", headers=api).status_code == 401  # API token revoked
    assert client.get("/api/auth/me").status_code == 200  # this session continues
    assert client.post("/api/auth/password", json={
        "old_password": "a-new-long-password", "new_password": "short"}).status_code == 422


def test_removed_member_and_disabled_user_are_refused_with_an_audit_record(
        client: TestClient) -> None:
    sid, pid = setup_study(client)
    pw = _new_user(client, "rater1", sid)
    pw2 = _new_user(client, "rater2", sid)
    h1, h2 = bearer(client, "rater1", pw), bearer(client, "rater2", pw2)
    assert client.get(f"/api/participants/{pid}", headers=h1).status_code == 200
    r = client.delete(f"/api/studies/{sid}/members/rater1")
    assert r.json() == {"username": "rater1", "removed": True, "tokens_revoked": 2}  # login + API
    assert client.get(f"/api/participants/{pid}", headers=h1).status_code == 401
    with TestClient(client.app) as c1:
        login(c1, "rater1", pw)  # can log in, but sees nothing of the study any more
        assert c1.get(f"/api/participants/{pid}").status_code == 404
        assert c1.get("/api/studies").json() == []
    # a study keeps an admin
    assert client.delete(f"/api/studies/{sid}/members/admin").status_code == 409
    # disabling: tokens stop working, login fails like a wrong password
    assert client.post("/api/users/rater2/disable").json() == {
        "username": "rater2", "disabled": True, "tokens_revoked": 2}
    assert client.get("/api/auth/me", headers=h2).status_code == 401
    r = client.post("/api/auth/login", json={"username": "rater2", "password": pw2})
    assert r.status_code == 401
    audit = client.get(f"/api/studies/{sid}/audit").json()
    assert [(e["actor"], e["action"], e["target"]) for e in audit][:1] == [
        ("admin", "member_removed", "rater1")]
    with client.app.state.sessions() as db:
        actions = [(e.action, e.target) for e in db.scalars(select(AuditEvent))]
    assert ("user_disabled", "rater2") in actions and ("user_created", "rater1") in actions


# --------------------------------------------------------------------------- CSRF, headers


def test_cross_origin_and_tokenless_cookie_writes_are_refused(client: TestClient,
                                                             tmp_path: Path) -> None:
    sid, pid = setup_study(client)
    wav = tone_wav(tmp_path / "a.wav", 300).read_bytes()
    token = client.headers["X-CSRF-Token"]
    cases = {
        "foreign origin": {"Origin": "http://evil.example", "X-CSRF-Token": token},
        "no origin": {"X-CSRF-Token": token},
        "no token": {"Origin": "http://testserver"},
        "wrong token": {"Origin": "http://testserver", "X-CSRF-Token": "0" * 64},
    }
    for name, headers in cases.items():
        client.headers.pop("Origin", None)
        client.headers.pop("X-CSRF-Token", None)
        client.headers.update(headers)
        r = client.post("/api/recordings", files={"file": ("a.wav", wav)},
                        data={"participant_id": str(pid)})
        assert r.status_code == 403, name
        assert client.post(f"/api/studies/{sid}/participants",
                           json={"code": "P777"}).status_code == 403, name
        assert client.delete(f"/api/participants/{pid}").status_code == 403, name
    # a script with a bearer token needs neither
    client.headers.pop("Origin", None)
    client.headers.pop("X-CSRF-Token", None)
    h = bearer(client, "admin", ADMIN_PASSWORD)
    assert client.post(f"/api/studies/{sid}/participants", headers=h,
                       json={"code": "P778"}).status_code == 201
    # reads need no token
    assert client.get(f"/api/participants/{pid}").status_code == 200
    # a login posted from another site is refused as well
    assert client.post("/api/auth/login", headers={"Origin": "http://evil.example"},
                       json={"username": "admin", "password": ADMIN_PASSWORD}
                       ).status_code == 403


def test_security_headers_on_pages_api_and_static(client: TestClient) -> None:
    login(client)
    for path in ("/", "/login", "/api/auth/me", "/static/app.js", "/health"):
        r = client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
    assert client.get("/api/auth/me").headers["cache-control"] == "no-store"
    assert client.get("/").headers["cache-control"] == "no-store"
    # the pages have no inline script (the CSP would block it) and load nothing foreign
    page = client.get("/").text
    assert "<script>" not in page and "http" not in page.replace("http-equiv", "")


# --------------------------------------------------------------------------- files, models


def test_orphaned_upload_parts_are_swept_at_start(tmp_path: Path, tiny_run: Path) -> None:
    import fcntl
    import os

    spool = tmp_path / "data" / "uploads"
    spool.mkdir(parents=True)
    orphan = spool / "upload-killed.part"
    orphan.write_bytes(b"RIFF raw audio of a killed upload")
    live = spool / "upload-live.part"
    live.write_bytes(b"RIFF an upload in progress")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process still writing it
    try:
        app = create_app(make_settings(tmp_path, models=[tiny_run], worker_threads=0))
        assert not orphan.exists()
        assert live.exists()
    finally:
        os.close(fd)
    assert app.state.store.sweep_orphans() == 1 and not live.exists()
    app.state.engine.dispose()


def test_swapped_model_weights_are_refused(tmp_path: Path, tiny_run: Path,
                                          tiny_regression_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    app = create_app(make_settings(tmp_path, models=[run], markers=False))
    with TestClient(app) as client:
        sid, pid = setup_study(client)
        # same model.json, other weights: what an attacker with write access would do
        shutil.copy(tiny_regression_run / "model" / "model.joblib",
                    run / "model" / "model.joblib")
        wav = tone_wav(tmp_path / "a.wav", 300).read_bytes()
        r = client.post("/api/recordings", files={"file": ("a.wav", wav)},
                        data={"participant_id": str(pid)})
        a = finished(client, r.json()["assessment"]["id"])
        assert a["status"] == "failed" and a["result"] is None
        assert "model file model/model.joblib changed" in a["error"]
        assert str(tmp_path) not in a["error"]


# --------------------------------------------------------------------------- ids, leaks


def test_huge_and_negative_ids_are_422_not_500(client: TestClient) -> None:
    login(client)
    for bad in (2**63, 2**63 + 5, 2**31, 0, -1):
        for path in (f"/api/participants/{bad}", f"/api/assessments/{bad}",
                     f"/api/recordings/{bad}", f"/api/sessions/{bad}",
                     f"/api/studies/{bad}", f"/api/participants/1/trend?model_id={bad}"):
            assert client.get(path).status_code == 422, path
        r = client.post("/api/recordings", files={"file": ("a.wav", b"RIFF")},
                        data={"participant_id": str(bad)})
        assert r.status_code == 422


def test_other_studies_ids_answer_like_missing_ones(client: TestClient, tmp_path: Path) -> None:
    sid_a, pid_a = setup_study(client, "SA")
    sid_b = client.post("/api/studies", json={"code": "SB"}).json()["id"]
    pid_b = client.post(f"/api/studies/{sid_b}/participants", json={"code": "P9"}).json()["id"]
    up = client.post("/api/recordings", files={"file": ("b.wav", tone_wav(
        tmp_path / "b.wav", 300).read_bytes())}, data={"participant_id": str(pid_b)}).json()
    pw = _new_user(client, "rater1", sid_a)
    h = bearer(client, "rater1", pw)
    other = {"participant": pid_b, "recording": up["recording"]["id"],
             "assessment": up["assessment"]["id"], "session": up["recording"]["session_id"],
             "study": sid_b}
    paths = {"participant": "/api/participants/{}", "recording": "/api/recordings/{}",
             "assessment": "/api/assessments/{}", "session": "/api/sessions/{}",
             "study": "/api/studies/{}"}
    for what, path in paths.items():
        a = client.get(path.format(other[what]), headers=h)
        b = client.get(path.format(other[what] + 1000), headers=h)
        assert (a.status_code, a.json()) == (b.status_code, b.json()) == (
            404, {"detail": f"no such {what}"}), what


def test_bootstrap_password_rule_and_bounded_token_lifetime(tmp_path: Path,
                                                            tiny_run: Path) -> None:
    with pytest.raises(ConfigError, match="at least 12") as e:
        create_app(make_settings(tmp_path / "x", admin_password="short1"))
    assert "short1" not in str(e.value)
    app = create_app(make_settings(tmp_path, worker_threads=0, max_token_days=30))
    with TestClient(app) as client:
        login(client)
        assert client.post("/api/auth/tokens", json={"days": 31}).status_code == 422
        assert client.post("/api/auth/tokens", json={"days": 366}).status_code == 422
        assert client.post("/api/auth/tokens", json={"days": 30}).status_code == 201
        assert client.post("/api/users", json={"username": "u1", "password": "elevenchars"}
                           ).status_code == 422


# --------------------------------------------------------------------------- quality gates


def _write(path: Path, y: np.ndarray) -> bytes:
    sf.write(path, y.astype(np.float32), 16000)
    return path.read_bytes()


@pytest.mark.parametrize("case", ["silence", "noise", "clipped"])
def test_unusable_recordings_are_refused_at_upload(client: TestClient, tmp_path: Path,
                                                   case: str) -> None:
    sid, pid = setup_study(client)
    rng = np.random.default_rng(3)
    if case == "silence":
        y, reason = np.zeros(32000), "the recording is silent"
    elif case == "noise":
        y, reason = 0.3 * rng.standard_normal(32000), "no speech found"
    else:
        from _signals import voiced_tone

        y, reason = np.clip(4 * voiced_tone(180, seconds=2.0, loud=0.9), -1, 1), "clipped"
    r = client.post("/api/recordings", files={"file": ("a.wav", _write(tmp_path / "a.wav", y))},
                    data={"participant_id": str(pid)})
    assert r.status_code == 422 and reason in r.json()["detail"], r.text
    assert client.get(f"/api/participants/{pid}").json()["sessions"] == []  # no session
    assert not list((tmp_path / "data" / "audio").rglob("*/*"))
