"""The JSON API through FastAPI's TestClient (worker threads running in the app)."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import bearer, finished, login, make_settings, setup_study, tone_wav

from vocalmind.service import create_app

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def stamp(x: Any) -> Any:
    """Replace ISO timestamps by '<ts>' so whole responses can be compared."""
    if isinstance(x, dict):
        return {k: stamp(v) for k, v in x.items()}
    if isinstance(x, list):
        return [stamp(v) for v in x]
    if isinstance(x, str) and re.match(r"^\d{4}-\d\d-\d\d$", x):
        return "<date>"
    return "<ts>" if isinstance(x, str) and TS.match(x) else x


@pytest.fixture
def client(tmp_path: Path, tiny_run: Path) -> TestClient:
    app = create_app(make_settings(tmp_path, models=[tiny_run], max_upload_bytes=400_000,
                                   max_duration_s=8.0))
    with TestClient(app) as c:
        yield c


def test_health_openapi_and_authentication_required(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "version": "0.1.0",
                                            "database": "sqlite"}
    # no Swagger UI (it would load a CDN script); the OpenAPI description needs a login
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/openapi.json").status_code == 401
    for method, path in (("get", "/api/studies"), ("get", "/api/models"),
                         ("get", "/api/assessments/1"), ("delete", "/api/participants/1"),
                         ("post", "/api/studies/1/participants")):
        r = getattr(client, method)(path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
    r = client.get("/api/studies", headers={"Authorization": "Bearer not-a-token"})
    assert r.json() == {"detail": "invalid or expired token; log in again"}
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert client.post("/api/auth/login", json={"username": "admin", "password": "x"}
                       ).json() == {"detail": "wrong username or password"}
    login(client)
    spec = client.get("/api/openapi.json").json()
    assert {"/health", "/api/recordings", "/api/assessments/{assessment_id}",
            "/api/participants/{participant_id}"} <= set(spec["paths"])


def test_login_study_participant_and_models(client: TestClient, tiny_run: Path) -> None:
    assert login(client) == {"id": 1, "username": "admin", "is_superuser": True, "studies": []}
    assert client.post("/api/studies", json={"code": "ICBT-1"}).json() == {
        "id": 1, "code": "ICBT-1", "role": "admin", "n_participants": 0}
    assert stamp(client.post("/api/studies/1/participants", json={"code": "P017"}).json()) == {
        "id": 1, "study_id": 1, "code": "P017", "n_sessions": 0, "created_at": "<ts>"}
    # names are refused, and not echoed back
    r = client.post("/api/studies/1/participants", json={"code": "Jane Doe"})
    assert r.status_code == 422 and "Jane" not in r.text and "pseudonyms" in r.text
    assert client.post("/api/studies/1/participants",
                       json={"code": "P018", "name": "Jane"}).status_code == 201  # ignored
    assert "Jane" not in client.get("/api/studies/1/participants").text
    models = client.get("/api/models").json()
    from vocalmind.service.assessing import fingerprint, model_files

    files = model_files(tiny_run)
    assert "model/model.json" in files and "model/model.joblib" in files
    assert stamp(models) == [{
        "id": 1, "label": "emotion", "task": "classification", "model": "logreg",
        "corpus": "manifest.csv", "synthetic": False, "speaker_normalization": False,
        "model_sha256": fingerprint(files), "active": True,
        "classes": ["high", "low"], "features": "egemaps", "metrics": models[0]["metrics"],
        "registered_at": "<ts>"}]
    assert str(tiny_run) not in client.get("/api/models").text  # no server path
    assert models[0]["metrics"]["protocol"] == "loso"


def test_upload_returns_at_once_and_assessment_completes(client: TestClient,
                                                         tmp_path: Path) -> None:
    sid, pid = setup_study(client)
    wav = tone_wav(tmp_path / "x.wav", 420, loud=0.5, seconds=2.0)
    data = wav.read_bytes()
    r = client.post("/api/recordings", files={"file": ("clip.wav", data, "audio/wav")},
                    data={"participant_id": str(pid)})
    assert r.status_code == 202
    sha = hashlib.sha256(data).hexdigest()
    assert stamp(r.json()) == {
        "recording": {"id": 1, "session_id": 1, "participant_id": pid, "sha256": sha,
                      "n_bytes": len(data), "duration_s": 2.0, "sample_rate": 16000,
                      "channels": 1, "format": "WAV", "created_at": "<ts>"},
        "assessment": {"id": 1, "status": "queued", "recording_id": 1, "session_id": 1,
                       "session_label": "session 1", "session_index": 1,
                       "session_date": "<date>", "participant_id": pid, "model_version_id": 1, "result": None,
                       "error": None, "attempts": 0, "created_at": "<ts>",
                       "finished_at": None}}
    a = finished(client, 1)
    assert a["status"] == "done", a["error"]
    res = a["result"]
    assert res["prediction"] == "high" and res["label"] == "emotion"
    assert res["trained_on"] == "manifest.csv" and res["synthetic"] is False
    assert abs(sum(res["probabilities"].values()) - 1) < 1e-9
    assert res["clinical"] is None  # an emotion model gives no depression band
    assert res["disclaimer"] == "Research measurement, not a diagnosis."
    assert res["markers"]["F0_mean"]["value"] == pytest.approx(420, rel=0.05)
    assert res["markers"]["F0_mean"]["baseline"] is None  # no earlier session
    stored = tmp_path / "data" / "audio" / sha[:2] / sha
    assert stored.read_bytes() == data
    assert client.get("/api/recordings/1/audio").content == data
    # the page shows the same statement
    assert "Research measurement, not a diagnosis." in client.get("/").text


@pytest.mark.parametrize("case", ["not_audio", "empty", "too_long", "too_short", "too_big",
                                  "truncated"])
def test_bad_uploads_are_refused_with_a_reason(client: TestClient, tmp_path: Path,
                                               case: str) -> None:
    _, pid = setup_study(client)
    if case == "not_audio":
        data, code, reason = b"%PDF-1.4 not a recording" * 10, 415, "not a readable recording"
    elif case == "empty":
        data, code, reason = b"", 415, "empty upload"
    elif case == "too_long":
        data, code, reason = tone_wav(tmp_path / "l.wav", 200, seconds=9).read_bytes(), 422, \
            "the limit is 8 s"
    elif case == "too_short":
        data, code, reason = tone_wav(tmp_path / "s.wav", 200, seconds=0.2).read_bytes(), 422, \
            "at least 0.5 s"
    elif case == "too_big":
        data, code, reason = b"\0" * 500_000, 413, "limit of 400000 bytes"
    else:
        full = tone_wav(tmp_path / "t.wav", 200, seconds=2).read_bytes()
        data, code, reason = full[: len(full) // 2], 415, "not a readable recording"
    r = client.post("/api/recordings", files={"file": ("a.wav", data)},
                    data={"participant_id": str(pid)})
    assert r.status_code == code and reason in r.json()["detail"], r.text
    assert not list((tmp_path / "data" / "audio").rglob("*")), "nothing stored"
    assert not list((tmp_path / "data" / "uploads").iterdir()), "nothing left spooled"


def test_roles_and_no_cross_study_access(client: TestClient, tmp_path: Path) -> None:
    sid_a, pid_a = setup_study(client, "SA")
    sid_b = client.post("/api/studies", json={"code": "SB"}).json()["id"]
    pid_b = client.post(f"/api/studies/{sid_b}/participants", json={"code": "P900"}).json()["id"]
    wav = tone_wav(tmp_path / "b.wav", 300).read_bytes()
    up = client.post("/api/recordings", files={"file": ("b.wav", wav)},
                     data={"participant_id": str(pid_b)}).json()
    assert client.post("/api/users", json={"username": "rater1",
                                           "password": "rater-password-1"}).status_code == 201
    assert client.post(f"/api/studies/{sid_a}/members",
                       json={"username": "rater1", "role": "rater"}).json() == {
        "username": "rater1", "role": "rater"}
    h = bearer(client, "rater1", "rater-password-1")
    me = client.get("/api/auth/me", headers=h).json()
    assert me == {"id": 2, "username": "rater1", "is_superuser": False,
                  "studies": [{"id": sid_a, "code": "SA", "role": "rater"}]}
    assert [s["code"] for s in client.get("/api/studies", headers=h).json()] == ["SA"]
    nothing = {"detail": "no such study"}
    assert client.get(f"/api/studies/{sid_b}", headers=h).json() == nothing
    assert client.get(f"/api/studies/{sid_b + 99}", headers=h).json() == nothing  # same answer
    for path in (f"/api/participants/{pid_b}", f"/api/participants/{pid_b}/trend",
                 f"/api/recordings/{up['recording']['id']}",
                 f"/api/recordings/{up['recording']['id']}/audio",
                 f"/api/assessments/{up['assessment']['id']}",
                 f"/api/studies/{sid_b}/participants", f"/api/studies/{sid_b}/statistics"):
        assert client.get(path, headers=h).status_code == 404, path
    r = client.post("/api/recordings", headers=h, files={"file": ("b.wav", wav)},
                    data={"participant_id": str(pid_b)})
    assert r.status_code == 404
    # a rater works in their study but cannot delete or manage it
    assert client.post(f"/api/studies/{sid_a}/participants", headers=h,
                       json={"code": "P002"}).status_code == 201
    assert client.delete(f"/api/participants/{pid_a}", headers=h).json() == {
        "detail": "the admin role in study 'SA' is needed for this"}
    assert client.post("/api/studies", headers=h, json={"code": "SC"}).status_code == 403
    assert client.post("/api/users", headers=h,
                       json={"username": "x1", "password": "0123456789a"}).status_code == 403
    # tokens are stored hashed
    from sqlalchemy import select

    from vocalmind.service.models import Token

    with client.app.state.sessions() as db:
        hashes = list(db.scalars(select(Token.token_hash)))
    secret = h["Authorization"].split()[1]
    assert secret not in hashes and hashlib.sha256(secret.encode()).hexdigest() in hashes


def test_deleting_a_participant_deletes_recordings_files_and_results(
        client: TestClient, tmp_path: Path) -> None:
    sid, p1 = setup_study(client)
    p2 = client.post(f"/api/studies/{sid}/participants", json={"code": "P002"}).json()["id"]
    own = tone_wav(tmp_path / "own.wav", 250).read_bytes()
    shared = tone_wav(tmp_path / "shared.wav", 350).read_bytes()
    ids = []
    for pid, data in ((p1, own), (p1, shared), (p2, shared)):
        r = client.post("/api/recordings", files={"file": ("x.wav", data)},
                        data={"participant_id": str(pid)}).json()
        ids.append((r["recording"]["id"], r["assessment"]["id"]))
    for _, aid in ids:
        finished(client, aid)
    audio = tmp_path / "data" / "audio"
    assert len(list(audio.rglob("*/*"))) == 2  # shared content stored once
    r = client.delete(f"/api/participants/{p1}")
    assert r.json() == {"deleted": {"participants": 1, "sessions": 2, "recordings": 2,
                                    "assessments": 2, "audio_files": 1}}
    sha_own, sha_shared = (hashlib.sha256(d).hexdigest() for d in (own, shared))
    assert not (audio / sha_own[:2] / sha_own).exists()
    assert (audio / sha_shared[:2] / sha_shared).exists()  # still used by P002
    for rid, aid in ids[:2]:
        assert client.get(f"/api/recordings/{rid}").status_code == 404
        assert client.get(f"/api/assessments/{aid}").status_code == 404
    assert client.get(f"/api/participants/{p1}").status_code == 404
    assert client.get(f"/api/assessments/{ids[2][1]}").json()["status"] == "done"
    from sqlalchemy import func, select

    from vocalmind.service.models import Assessment, Execution, Recording

    with client.app.state.sessions() as db:
        assert [db.scalar(select(func.count()).select_from(t))
                for t in (Recording, Assessment, Execution)] == [1, 1, 1]


def test_no_names_audio_or_filenames_in_logs(client: TestClient, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sid, pid = setup_study(client)
    client.post("/api/auth/login", json={"username": "Margaret.Thatcher", "password": "nope"})
    client.post(f"/api/studies/{sid}/participants", json={"code": "Jane Doe"})
    data = tone_wav(tmp_path / "x.wav", 300).read_bytes()
    r = client.post("/api/recordings", files={"file": ("Jane_Doe_session1.wav", data)},
                    data={"participant_id": str(pid)})
    client.post("/api/recordings", files={"file": ("Jane_Doe.txt", b"Jane Doe's diary")},
                data={"participant_id": str(pid)})
    finished(client, r.json()["assessment"]["id"])
    text = caplog.text
    assert "queued" in text  # the service does log, just not personal data
    for needle in ("Jane", "Doe", "Margaret", "Thatcher", "RIFF", "diary"):
        assert needle not in text, needle
    assert "Jane" not in str(client.get(f"/api/participants/{pid}").json())


def test_clinical_band_uncertainty_baseline_and_prepost(tmp_path: Path, tiny_run: Path,
                                                        tiny_regression_run: Path) -> None:
    app = create_app(make_settings(tmp_path, models=[tiny_run, tiny_regression_run]))
    with TestClient(app) as client:
        sid, _ = setup_study(client)
        reg = next(m for m in client.get("/api/models").json() if m["label"] == "phq9")
        # 3 participants x 2 sessions; pitch falls from the first to the second session
        aids = []
        pids = [client.post(f"/api/studies/{sid}/participants",
                            json={"code": f"Q{k}"}).json()["id"] for k in range(3)]
        for session, drop in ((1, 1.0), (2, 0.8)):
            for k, pid in enumerate(pids):
                f = tone_wav(tmp_path / f"{k}_{session}.wav", (150 + 30 * k) * drop, seconds=1.5,
                             seed=k + 10 * session)
                r = client.post("/api/recordings", files={"file": ("a.wav", f.read_bytes())},
                                data={"participant_id": str(pid), "model_id": str(reg["id"])})
                aids.append(r.json()["assessment"]["id"])
                finished(client, aids[-1])
        a = finished(client, aids[-1])
        c = a["result"]["clinical"]
        assert c["scale"] == "phq9" and 0 <= c["score"] <= 27
        lo, hi = c["interval"]
        assert lo <= c["score"] <= hi and c["interval_level"] == 0.8
        from vocalmind.scales import PHQ9

        assert c["band"] == PHQ9.band(c["score"])
        assert c["interval_bands"] == [PHQ9.band(lo), PHQ9.band(hi)]
        base = a["result"]["markers"]["F0_mean"]["baseline"]
        assert base["n_sessions"] == 1 and base["mean"] == pytest.approx(210, rel=0.05)
        t = client.get(f"/api/participants/{pids[2]}/trend?model_id={reg['id']}").json()
        assert [s["session_index"] for s in t["sessions"]] == [1, 2]
        assert t["sessions"][1]["F0_mean"] < t["sessions"][0]["F0_mean"]
        assert "score" in t["sessions"][0]
        st = t["study_statistics"]
        assert st["n_participants"] == 3 and st["note"] is None
        f0 = next(r for r in st["paired_change"] if r["feature"] == "F0_mean")
        assert f0["n"] == 3 and f0["mean_diff"] < 0
        assert {r["value"] for r in st["session_trend"]} >= {"F0_mean", "score"}
        assert client.get(f"/participants/{pids[2]}").status_code == 200
