"""Correctness items of issue 12: statistics with partial data, speaker-normalised models,
session dates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from service_helpers import finished, make_settings, setup_study, tone_wav

from vocalmind.service import create_app
from vocalmind.service.trends import prepost_statistics


def _values(n_participants: int, extra_for: int) -> pd.DataFrame:
    """F0 for every participant x 2 sessions; p_high only for ``extra_for`` participants."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(n_participants):
        for s in (1, 2):
            r = {"participant_id": k + 1, "participant": f"P{k}", "session_index": s,
                 "session_label": f"session {s}", "session_date": f"2026-0{s}-01",
                 "F0_mean": 150 + 10 * k - 8 * s + rng.normal(0, 1),
                 "VUV_mean": 0.5 + 0.01 * k + 0.02 * s}
            if k < extra_for:
                r["p_high"] = 0.2 + 0.1 * s
            rows.append(r)
    return pd.DataFrame(rows)


def test_statistics_keep_the_table_and_explain_missing_data_in_words() -> None:
    st = prepost_statistics(_values(4, extra_for=1))
    assert st["note"] is None
    tested = {r["feature"] for r in st["paired_change"]}
    assert tested == {"F0_mean", "VUV_mean"}  # the table is kept
    f0 = next(r for r in st["paired_change"] if r["feature"] == "F0_mean")
    assert f0["n"] == 4 and f0["mean_diff"] < 0
    [why] = st["insufficient"]
    assert why["feature"] == "p_high" and why["n"] == 1
    assert why["reason"] == ("not enough data: 1 participant has this value in both their "
                             "first and last session; at least 3 are needed")
    assert {r["value"] for r in st["session_trend"]} == {"F0_mean", "VUV_mean"}
    assert [r["feature"] for r in st["trend_insufficient"]] == ["p_high"]
    text = str(st)
    for scipy_words in ("observations", "sample in", "`data`"):
        assert scipy_words not in text


def test_statistics_with_too_few_participants_say_so() -> None:
    st = prepost_statistics(_values(2, extra_for=2))
    assert st["paired_change"] is None
    assert st["note"] == ("pre/post statistics need at least 3 participants with 2 or more "
                          "assessed sessions; this study has 2")


@pytest.fixture(scope="module")
def speaker_norm_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vocalmind.config import load_config
    from vocalmind.experiment import run_experiment

    d = tmp_path_factory.mktemp("spk")
    raw = {"name": "spk", "jobs": 1, "corpus": {"manifest": str(tiny_run.parent / "manifest.csv")},
           "task": {"label": "emotion"},
           "features": {"set": "egemaps", "cache_dir": str(tiny_run.parent / "cache"),
                        "jobs": 1, "speaker_normalization": True},
           "model": {"name": "logreg"}, "protocol": {"name": "loso"},
           "evaluation": {"n_boot": 20}}
    return run_experiment(load_config(raw=raw), out=d / "run").run_dir


def test_speaker_normalised_model_uses_the_participants_own_recordings(
        tmp_path: Path, speaker_norm_run: Path) -> None:
    app = create_app(make_settings(tmp_path, models=[speaker_norm_run]))
    with TestClient(app) as client:
        _, pid = setup_study(client)
        assert client.get("/api/models").json()[0]["speaker_normalization"] is True
        results = []
        for k in range(3):
            wav = tone_wav(tmp_path / f"{k}.wav", 160 + 70 * k, seconds=1.2, seed=k)
            r = client.post("/api/recordings", files={"file": ("a.wav", wav.read_bytes())},
                            data={"participant_id": str(pid), "session_date": f"2026-03-0{k + 1}"})
            assert r.status_code == 202, r.text
            body = r.json()
            assert ("notice" in body) == (k < 2)
            results.append(finished(client, body["assessment"]["id"]))
        for a in results[:2]:
            assert a["status"] == "done", a["error"]
            res = a["result"]
            assert res["prediction"] is None
            assert "needs at least 3" in res["model_note"] and "--reference" not in res["model_note"]
            assert str(tmp_path) not in str(res) and str(speaker_norm_run) not in str(res)
            assert res["markers"]["F0_mean"]["value"] > 0  # markers are not hidden
        assert results[2]["result"]["prediction"] in ("low", "high")
        # one session per upload, each with its date: no empty session from a failure
        sessions = client.get(f"/api/participants/{pid}/sessions").json()
        assert [(s["index"], s["date"], len(s["recording_ids"])) for s in sessions] == [
            (1, "2026-03-01", 1), (2, "2026-03-02", 1), (3, "2026-03-03", 1)]
        # re-assessing the first recording now gives a prediction
        rid = results[0]["recording_id"]
        again = client.post(f"/api/recordings/{rid}/assessments",
                            json={"model_id": results[0]["model_version_id"]}).json()
        assert finished(client, again["id"])["result"]["prediction"] in ("low", "high")
        # a session's date can be changed afterwards
        r = client.patch(f"/api/sessions/{sessions[0]['id']}", json={"date": "2026-02-27"})
        assert r.json()["date"] == "2026-02-27"
        t = client.get(f"/api/participants/{pid}/trend").json()
        assert [s["session_date"] for s in t["sessions"]] == [
            "2026-02-27", "2026-03-02", "2026-03-03"]
        assert t["value_info"]["F0_mean"] == {"label": "mean pitch (F0)", "unit": "Hz",
                                              "probability": False}


def test_reads_do_not_wait_for_a_writer(tmp_path: Path, tiny_run: Path) -> None:
    """Another connection holds SQLite's write lock: pages and GETs still answer at once
    (they used to take BEGIN IMMEDIATE too, and waited out the 30 s busy timeout)."""
    import sqlite3
    import time

    from service_helpers import login

    app = create_app(make_settings(tmp_path, models=[tiny_run], worker_threads=0))
    with TestClient(app) as client:
        sid, pid = setup_study(client)
        login(client)
        con = sqlite3.connect(tmp_path / "data" / "vocalmind.db", isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        try:
            start = time.perf_counter()
            for path in ("/api/auth/me", "/api/studies", f"/api/participants/{pid}",
                         f"/api/participants/{pid}/trend", "/", f"/participants/{pid}"):
                assert client.get(path).status_code == 200, path
            assert time.perf_counter() - start < 5
        finally:
            con.execute("ROLLBACK")
            con.close()


def test_request_transactions_end_off_the_event_loop(tmp_path: Path, tiny_run: Path) -> None:
    """A request's commit runs in the finishing threads, never on the event loop (a
    PostgreSQL commit there stalled every other request), nor in the endpoint thread pool."""
    import threading

    from service_helpers import login
    from sqlalchemy import event

    app = create_app(make_settings(tmp_path, models=[tiny_run], worker_threads=0))
    seen: list[str] = []
    event.listen(app.state.engine, "commit",
                 lambda conn: seen.append(threading.current_thread().name))
    with TestClient(app) as client:
        sid, pid = setup_study(client)
        login(client)
        seen.clear()
        assert client.get(f"/api/participants/{pid}").status_code == 200
        assert client.post(f"/api/studies/{sid}/participants",
                           json={"code": "P002"}).status_code == 201
    assert seen and all(name.startswith(("vocalmind-commit", "AnyIO worker"))
                        for name in seen), seen
    assert any(name.startswith("vocalmind-commit") for name in seen), seen
    assert "MainThread" not in seen


def test_upload_gate_reads_only_a_few_uploads_at_once() -> None:
    """50 uploads sent together: at most ``n`` are inside the app (being read) at a time;
    other routes pass the gate untouched."""
    import asyncio

    from vocalmind.service.main import UploadGate

    inside, most = 0, 0

    async def app(scope: dict, receive: object, send: object) -> None:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.01)
        inside -= 1

    gate = UploadGate(app, n=4)

    async def main() -> None:
        await asyncio.gather(*(gate({"type": "http", "path": "/api/recordings"}, None, None)
                               for _ in range(50)))
        assert most == 4
        await asyncio.gather(*(gate({"type": "http", "path": "/api/auth/me"}, None, None)
                               for _ in range(10)))

    asyncio.run(main())
    assert most == 10  # reads are never gated


def test_upload_checkers_run_below_the_servers_priority(tmp_path: Path, tiny_run: Path) -> None:
    """The processes that decode and check uploads are niced (they used to take the cores
    from the event loop and the database while 50 uploads were checked)."""
    import os

    from vocalmind.service.quality import CHECKER_NICE

    app = create_app(make_settings(tmp_path, models=[tiny_run], worker_threads=0))
    with TestClient(app) as client:
        sid, pid = setup_study(client)
        r = client.post("/api/recordings", files={"file": ("a.wav", tone_wav(
            tmp_path / "a.wav", 200, seconds=1.5).read_bytes())},
            data={"participant_id": str(pid)})
        assert r.status_code == 202, r.text
        pids = list(app.state.checker_pool._processes)
        assert pids
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        for p in pids:
            assert os.getpriority(os.PRIO_PROCESS, p) == min(19, mine + CHECKER_NICE)


def test_domain_warnings_reach_the_assessment_result(tmp_path: Path, tiny_run: Path) -> None:
    """A recording unlike the model's training data (1.2 s tones at 16 kHz) is assessed
    with the same warnings ``vocalmind assess`` gives; a like one has none."""
    import soundfile as sf

    from _signals import voiced_tone
    from vocalmind.assess import assess

    app = create_app(make_settings(tmp_path, models=[tiny_run], markers=False))
    with TestClient(app) as client:
        sid, pid = setup_study(client)
        like = tone_wav(tmp_path / "like.wav", 200, seconds=1.2)
        long = tone_wav(tmp_path / "long.wav", 200, seconds=4.0)
        narrow = tmp_path / "narrow.wav"  # telephone-like: 8 kHz
        sf.write(narrow, voiced_tone(200, seconds=1.2, loud=0.3, sr=8000), 8000)
        got = {}
        for wav in (like, long, narrow):
            r = client.post("/api/recordings", files={"file": (wav.name, wav.read_bytes())},
                            data={"participant_id": str(pid)})
            assert r.status_code == 202, r.text
            a = finished(client, r.json()["assessment"]["id"])
            assert a["status"] == "done", a
            got[wav.stem] = a["result"]["warnings"]
        assert got["like"] == []
        assert any("much longer than the training recordings" in w for w in got["long"])
        assert any("sample rate 8000 Hz is below" in w for w in got["narrow"]), got
        for wav in (like, long, narrow):  # the same sentences as the command line's
            assert got[wav.stem] == assess([wav], tiny_run)[0]["warnings"]
        assert str(tmp_path) not in str(got)
