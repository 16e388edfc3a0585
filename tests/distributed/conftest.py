"""A real two-node Ray cluster on loopback, shared by the module (Ray starts slowly).

Head: ``ray start --head --num-cpus=1``; worker node: ``ray start --address=... --num-cpus=1``,
both under a private temp folder so that teardown can stop exactly the processes started
here (by pid, never ``ray stop``, which would also stop other Ray users' clusters on this
machine).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

RAY_BIN = str(Path(sys.executable).with_name("ray"))
# fast failure detection: a killed node is declared dead in ~1.5 s instead of ~15 s
_ENV = {
    **os.environ,
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",  # a loopback test cluster; real clusters choose their own
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cmdlines() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, command line) of every process visible here."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{p}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out[int(p)] = (ppid, cmd)
    return out


def _with_descendants(roots: set[int], table: dict[int, tuple[int, str]]) -> set[int]:
    found = set(roots)
    grew = True
    while grew:
        kids = {pid for pid, (ppid, _) in table.items() if ppid in found and pid not in found}
        found |= kids
        grew = bool(kids)
    return found


def _ray_start(args: list[str]) -> None:
    proc = subprocess.run([RAY_BIN, "start", *args], env=_ENV, capture_output=True, text=True, timeout=120)
    if proc.returncode:
        raise RuntimeError(f"ray start {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


def _kill(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class Cluster:
    """The test cluster: the head's address and the worker node's raylet port."""

    address: str
    temp_dir: str
    worker_port: int
    ports: set[int] = field(default_factory=set)

    def worker_node_pids(self) -> set[int]:
        """The worker node's raylet and every process under it (its agents, its workers)."""
        table = _cmdlines()
        roots = {pid for pid, (_, cmd) in table.items()
                 if "raylet/raylet" in cmd and f"--node_manager_port={self.worker_port}" in cmd}
        return _with_descendants(roots, table)

    def kill_worker_node(self) -> int:
        """SIGKILL the worker node (its raylet and all its children); returns how many died."""
        pids = self.worker_node_pids()
        _kill(pids)
        return len(pids)

    def start_worker_node(self) -> None:
        self.worker_port = free_port()
        _ray_start([f"--address={self.address}", "--num-cpus=1", "--node-ip-address=127.0.0.1",
                    f"--node-manager-port={self.worker_port}", f"--object-manager-port={free_port()}",
                    "--disable-usage-stats"])  # fmt: skip

    def stop(self) -> None:
        """Kill every process this cluster started: those naming its temp folder or its
        ports, and their descendants."""
        table = _cmdlines()
        mine = {pid for pid, (_, cmd) in table.items()
                if self.temp_dir in cmd or f"--node_manager_port={self.worker_port}" in cmd
                or f":{self.address.rsplit(':', 1)[1]}" in cmd and "ray" in cmd}
        mine.discard(os.getpid())
        _kill(_with_descendants(mine, table) - {os.getpid()})


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Cluster]:
    """A head (1 CPU) and a worker node (1 CPU) on 127.0.0.1; the driver is connected."""
    tmp = tempfile.mkdtemp(prefix="vmr_", dir="/tmp")  # short: Ray's unix sockets live inside
    port = free_port()
    cluster = Cluster(address=f"127.0.0.1:{port}", temp_dir=tmp, worker_port=0)
    try:
        _ray_start(["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                    f"--temp-dir={tmp}", "--node-ip-address=127.0.0.1",
                    f"--ray-client-server-port={free_port()}", f"--dashboard-port={free_port()}",
                    f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
                    "--disable-usage-stats"])  # fmt: skip
        cluster.start_worker_node()
        import _dist_helpers
        from ray import cloudpickle

        # the workers need not import the test folder: ship the helpers by value
        cloudpickle.register_pickle_by_value(_dist_helpers)
        os.environ["RAY_AUTH_MODE"] = "disabled"
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        deadline = time.monotonic() + 60
        while ray.cluster_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        yield cluster
    finally:
        try:
            ray.shutdown()
        finally:
            cluster.stop()
