"""Fixtures of the service tests: a tiny trained model, a throwaway PostgreSQL, apps, clients.

- ``tiny_run``: a run folder trained once per session with vocalmind's own experiment
  runner (eGeMAPS + logistic regression on numpy tones: 'low' vs 'high' pitch).
- ``pg_url``: a real PostgreSQL 15 cluster made with Debian's ``initdb`` in a temporary
  folder owned by the ``postgres`` user, listening on a free loopback port (unix sockets
  in the same folder); stopped and removed at the end. Skips only if the binaries are absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import free_port, fresh_pg_database, tone_wav  # noqa: E402


def _pg_bin() -> Path:
    """Debian's server binaries, whatever the installed major version."""
    if os.environ.get("VOCALMIND_PG_BIN"):
        return Path(os.environ["VOCALMIND_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run folder: emotion 'low'/'high' from 4 tone speakers, eGeMAPS + logreg."""
    from vocalmind.config import load_config
    from vocalmind.corpora import make_manifest, write_manifest
    from vocalmind.experiment import run_experiment

    d = tmp_path_factory.mktemp("tiny_run")
    rows = []
    for s in range(4):
        for cls, mult, loud in (("low", 1.0, 0.2), ("high", 2.0, 0.5)):
            for r in range(2):
                f0 = (100 + 20 * s) * mult * (1 + 0.03 * r)
                p = tone_wav(d / f"s{s}_{cls}_{r}.wav", f0, loud=loud, seed=10 * s + r)
                rows.append({"file": str(p), "subject": f"S{s}", "emotion": cls,
                             "phq9": float(np.clip(round((f0 - 100) / 15), 0, 27))})
    manifest = write_manifest(make_manifest(rows), d / "manifest.csv")
    raw = {"name": "tiny", "jobs": 1, "corpus": {"manifest": str(manifest)},
           "task": {"label": "emotion"},
           "features": {"set": "egemaps", "cache_dir": str(d / "cache"), "jobs": 1},
           "model": {"name": "logreg"}, "protocol": {"name": "loso"},
           "evaluation": {"n_boot": 50}}
    return run_experiment(load_config(raw=raw), out=d / "run").run_dir


@pytest.fixture(scope="session")
def tiny_regression_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PHQ-9 score model (ridge) on the same tones: a clinical scale with an interval."""
    from vocalmind.config import load_config
    from vocalmind.experiment import run_experiment

    d = tmp_path_factory.mktemp("tiny_reg")
    manifest = tiny_run.parent / "manifest.csv"
    raw = {"name": "tinyreg", "jobs": 1, "corpus": {"manifest": str(manifest)},
           "task": {"label": "phq9"},
           "features": {"set": "egemaps", "cache_dir": str(tiny_run.parent / "cache"),
                        "jobs": 1},
           "model": {"name": "ridge"}, "protocol": {"name": "loso"},
           "evaluation": {"n_boot": 50}}
    return run_experiment(load_config(raw=raw), out=d / "run").run_dir


def _pg(cmd: list[str], **kw: object) -> subprocess.CompletedProcess:
    runas = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    return subprocess.run(runas + cmd, check=True, capture_output=True, text=True,
                          timeout=120, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a database on a throwaway PostgreSQL cluster (session scope)."""
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} "
                    "(Debian: apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="vm-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    _pg([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
         "-E", "UTF8", "--no-sync"])
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
            " -c fsync=off -c max_connections=200")
    try:
        _pg([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
             "-w", "-t", "60", "start"])
        _pg([str(PG_BIN.parent / "bin" / "createdb"), "-h", "127.0.0.1", "-p", str(port),
             "-U", "postgres", "vocalmind"])
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/vocalmind"
    finally:
        subprocess.run((["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
                       + [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                          "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vocalmind.db'}"
    return fresh_pg_database(request.getfixturevalue("pg_url"))


