"""How long a read from another study waits while 50 uploads run (service under load).

A server process (``vocalmind.service``, default settings: 1 worker thread, voice markers on)
gets 50 simultaneous uploads, 10 into each of 5 studies, while a member of a sixth study
reads in a loop (``GET /api/auth/me``, its participant, its study's participant list).
Reported per database: the reads' wait (median, 95th percentile, max) before the load, while
the uploads are answered, and while the worker drains the queue; every upload's answer
(errors, duplicates); and the server's CPU time (from /proc, user + system).

    .venv/bin/python bench/bench_service_load.py [--seconds 30] [--db sqlite postgresql]
        [--write-doc]

Synthetic recordings (harmonic tones with vibrato, distinct per upload, WAV 16 kHz) and a
tiny model trained on the spot: nothing is downloaded and no real data is used.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, update_section  # noqa: E402

SR = 16_000
PASSWORD = "bench-admin-password"
SERVE = ("import sys, uvicorn; from pathlib import Path; "
         "from vocalmind.service import Settings, create_app; "
         "app = create_app(Settings.from_env(data_dir=Path(sys.argv[1]), db_url=sys.argv[2], "
         "models=[Path(sys.argv[3])], max_duration_s=700)); "
         "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[4]), log_level='warning')")


def tone(f0: float, seconds: float, seed: int) -> np.ndarray:
    """A voiced 'vowel' with vibrato and a little noise, float32 at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f = f0 * (1 + 0.03 * np.sin(2 * np.pi * 4 * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    y = sum(np.sin(k * phase) / k for k in range(1, 10))
    y = 0.3 * y / np.max(np.abs(y)) + 0.003 * rng.standard_normal(len(t))
    return y.astype(np.float32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_model(root: Path) -> Path:
    """A logistic regression on eGeMAPS of tones ('low'/'high' pitch), 4 speakers."""
    from vocalmind.config import load_config
    from vocalmind.corpora import make_manifest, write_manifest
    from vocalmind.experiment import run_experiment

    rows = []
    for s in range(4):
        for cls, mult in (("low", 1.0), ("high", 2.0)):
            for r in range(2):
                p = root / f"s{s}_{cls}_{r}.wav"
                sf.write(p, tone((100 + 20 * s) * mult * (1 + 0.03 * r), 1.5, 10 * s + r), SR)
                rows.append({"file": str(p), "subject": f"S{s}", "emotion": cls})
    manifest = write_manifest(make_manifest(rows), root / "manifest.csv")
    raw = {"name": "bench", "jobs": 1, "corpus": {"manifest": str(manifest)},
           "task": {"label": "emotion"},
           "features": {"set": "egemaps", "cache_dir": str(root / "cache"), "jobs": 1},
           "model": {"name": "logreg"}, "protocol": {"name": "loso"},
           "evaluation": {"n_boot": 20}}
    return run_experiment(load_config(raw=raw), out=root / "run").run_dir


def start_postgres(root: Path) -> tuple[str, list[str]]:
    """A throwaway PostgreSQL cluster on loopback (Debian binaries); (URL, stop command)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")
    bin_ = found[-1].parent
    runas = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = root / "pg"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    subprocess.run([*runas, str(bin_ / "initdb"), "-D", str(data), "-U", "postgres", "-A",
                    "trust", "--no-sync"], check=True, capture_output=True)
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
            " -c max_connections=200")
    subprocess.run([*runas, str(bin_ / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                    str(root / "pg.log"), "-w", "start"], check=True, capture_output=True)
    subprocess.run([*runas, str(bin_ / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                    "postgres", "bench"], check=True, capture_output=True)
    return (f"postgresql+psycopg://postgres@127.0.0.1:{port}/bench",
            [*runas, str(bin_ / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time (seconds) of a process and all its live descendants (the
    server's upload checker processes), from /proc."""
    stats = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                f = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(d.name)] = (int(f[1]), int(f[11]) + int(f[12]))
    tree, grew = {pid}, True
    while grew:
        more = {p for p, (ppid, _) in stats.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(stats[p][1] for p in tree if p in stats) / os.sysconf("SC_CLK_TCK")


def summary(waits: list[float]) -> str:
    if not waits:
        return "no read finished"
    w = sorted(waits)
    p95 = w[min(len(w) - 1, int(0.95 * len(w)))]
    return (f"{statistics.median(w) * 1000:.0f} ms / {p95 * 1000:.0f} ms / "
            f"{w[-1] * 1000:.0f} ms (n={len(w)})")


def reader(base: str, token: str, pid: int, sid: int, phase: Any, stop: Any, out: Any) -> None:
    """Read in a loop as a member of another study; put {phase: [seconds]} on ``out``."""
    names = ("idle", "uploads", "drain")
    waits: dict[str, list[float]] = {n: [] for n in names}
    slow: list[tuple[float, str, float]] = []
    t0 = time.perf_counter()
    with httpx.Client(base_url=base, timeout=120,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        while not stop.is_set():
            for path in ("/api/auth/me", f"/api/participants/{pid}",
                         f"/api/studies/{sid}/participants"):
                now = names[phase.value]
                t = time.perf_counter()
                assert c.get(path).status_code == 200
                waits[now].append(time.perf_counter() - t)
                if now == "uploads" and waits[now][-1] > 0.5:
                    slow.append((round(t - t0, 1), path.split("/")[2], round(waits[now][-1], 2)))
            time.sleep(0.05)
    waits["slow"] = slow  # type: ignore[assignment]
    out.put(waits)


def run_once(db: str, work: Path, run_dir: Path, seconds: float, drain_s: float,
             profile: Path | None = None) -> dict:
    data = work / f"data-{db}"
    stop_pg: list[str] = []
    if db == "sqlite":
        url = f"sqlite:///{data / 'vocalmind.db'}"
    else:
        pg_root = Path(tempfile.mkdtemp(prefix="vm-bench-pg-"))
        url, stop_pg = start_postgres(pg_root)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VOCALMIND_ADMIN_PASSWORD": PASSWORD, "HF_HUB_OFFLINE": "1"}
    log = (work / f"server-{db}.log").open("wb")
    srv = subprocess.Popen([sys.executable, "-c", SERVE, str(data), url, str(run_dir), str(port)],
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        admin = httpx.Client(base_url=base, timeout=120)
        r = admin.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
        admin.headers.update({"Origin": base, "X-CSRF-Token": r.json()["csrf_token"]})
        targets = []
        for s in range(6):
            sid = admin.post("/api/studies", json={"code": f"B{s}"}).json()["id"]
            for k in range(2):
                pid = admin.post(f"/api/studies/{sid}/participants",
                                 json={"code": f"P{s}{k}"}).json()["id"]
                targets.append((s, sid, pid))
        reader_sid, reader_pid = next((sid, pid) for s, sid, pid in targets if s == 5)
        # the reader: a rater of study B5 only, with their own token
        admin.post("/api/users", json={"username": "reader", "password": PASSWORD})
        admin.post(f"/api/studies/{reader_sid}/members",
                   json={"username": "reader", "role": "rater"})
        rc = httpx.Client(base_url=base, timeout=120)
        r = rc.post("/api/auth/login", json={"username": "reader", "password": PASSWORD})
        rc.headers.update({"Origin": base, "X-CSRF-Token": r.json()["csrf_token"]})
        rtoken = rc.post("/api/auth/tokens", json={"days": 1}).json()["token"]
        token = admin.post("/api/auth/tokens", json={"days": 1}).json()["token"]
        up_pids = [pid for s, _, pid in targets if s < 5 for _ in range(5)]
        files = []
        for k in range(len(up_pids)):
            p = work / f"u{k}.wav"
            sf.write(p, tone(110 + 3 * k, seconds, k), SR)
            files.append(p.read_bytes())
        # the reader runs in its own process: the 50 uploading client threads here would
        # otherwise delay it through this process's interpreter lock
        ctx = mp.get_context("spawn")
        phase, stop, out = ctx.Value("i", 0), ctx.Event(), ctx.Queue()
        rt = ctx.Process(target=reader, args=(base, rtoken, reader_pid, reader_sid, phase,
                                              stop, out))
        answers: list = [None] * len(files)
        barrier = threading.Barrier(len(files) + 1)

        def upload(k: int) -> None:
            with httpx.Client(base_url=base, timeout=600,
                              headers={"Authorization": f"Bearer {token}"}) as c:
                barrier.wait()
                try:
                    answers[k] = c.post("/api/recordings", files={"file": ("x.wav", files[k])},
                                        data={"participant_id": str(up_pids[k])})
                except Exception as e:  # counted as an error below
                    answers[k] = e

        rt.start()
        time.sleep(6)
        cpu0 = cpu_seconds(srv.pid)
        phase.value = 1
        spy = None
        if profile is not None:  # sample the server's threads while the uploads run
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record",
                                    "--pid", str(srv.pid), "--threads", "--subprocesses",
                                    "--rate", "50", "--format", "raw", "--output",
                                    str(profile.with_suffix(f".{db}.txt"))],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        threads = [threading.Thread(target=upload, args=(k,)) for k in range(len(files))]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        barrier.wait()
        for t in threads:
            t.join()
        upload_wall = time.perf_counter() - t0
        cpu1 = cpu_seconds(srv.pid)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        phase.value = 2
        time.sleep(drain_s)
        stop.set()
        waits = out.get(timeout=120)
        rt.join(60)
        print(f"{db}: reads over 0.5 s during the uploads (s since reader start, route, wait):",
              waits["slow"], f"uploads ran from about 6 s to {6 + upload_wall:.0f} s")
        ok = [a for a in answers if isinstance(a, httpx.Response) and a.status_code == 202]
        aids = {a.json()["assessment"]["id"] for a in ok}
        done = sum(admin.get(f"/api/assessments/{i}").json()["status"] == "done" for i in aids)
        return {"db": db, "uploads": len(files), "accepted": len(ok),
                "errors": len(files) - len(ok), "unique": len(aids), "done_after_drain": done,
                "upload_wall_s": upload_wall, "server_cpu_s": cpu1 - cpu0,
                "idle": summary(waits["idle"]), "during": summary(waits["uploads"]),
                "drain": summary(waits["drain"]),
                "max_during_s": max(waits["uploads"]) if waits["uploads"] else float("nan")}
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(30)
        except subprocess.TimeoutExpired:
            srv.kill()
        if stop_pg:
            subprocess.run(stop_pg, capture_output=True, check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each upload (s)")
    ap.add_argument("--drain", type=float, default=20.0, help="seconds measured after uploads")
    ap.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--write-doc", action="store_true")
    ap.add_argument("--profile", type=Path, default=None,
                    help="py-spy the server during the uploads into PROFILE.<db>.txt "
                         "(collapsed stacks per thread)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vm-bench-load-"))
    try:
        run_dir = tiny_model(work)
        results = [run_once(db, work, run_dir, args.seconds, args.drain, args.profile)
                   for db in args.db]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mb = len(tone(100, args.seconds, 0)) * 2 / 1e6
    lines = ["| database | uploads accepted / errors / distinct | all 50 answered in | "
             "server CPU while uploading (with its checker processes) | read wait before load (median / p95 / max) | "
             "during the uploads | while the worker drains |", "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['db']} | {r['accepted']} / {r['errors']} / {r['unique']} | "
                     f"{r['upload_wall_s']:.1f} s | {r['server_cpu_s']:.1f} s | {r['idle']} | "
                     f"{r['during']} | {r['drain']} |")
    table = "\n".join(lines)
    print(table)
    if args.write_doc:
        update_section("service-load", f"""## Service under load

Goal: a read from another study waits **under 1 s** while 50 uploads run (issue 12; before
the fix every transaction took SQLite's write lock through upload decoding, and another
study's `GET /api/auth/me` waited 19 s). A server process with default settings (1 worker
thread, voice markers on, 4 uploads read and 2 decoded at a time, the decoding processes
at nice 10) gets 50 simultaneous uploads of
{args.seconds:g} s WAV ({mb:.1f} MB each, distinct), 10 into each of 5 studies, while a rater
of a sixth study reads in a loop (`GET /api/auth/me`, its participant, its study's
participant list; wall time per request, measured in a separate client process). "While the worker
drains" is the {args.drain:g} s after the last upload was answered.

{table}

{machine()}; the 2 cores are shared with other work, so the maxima are upper bounds.

```bash
.venv/bin/python bench/bench_service_load.py --seconds {args.seconds:g} --write-doc
```
""")


if __name__ == "__main__":
    main()
