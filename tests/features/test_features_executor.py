"""Executors: every item answers (result or exception), in-process and in a process pool."""

from __future__ import annotations

import math

import pytest

from vocalmind.errors import ConfigError
from vocalmind.features.executor import Executor, LocalExecutor, available_executors, get_executor


def test_serial_map_reports_failures_without_stopping() -> None:
    ex = LocalExecutor(1, progress=False)
    out = dict(ex.map(math.sqrt, [4.0, -1.0, 9.0], description="sqrt"))
    assert out[4.0] == 2.0 and out[9.0] == 3.0
    assert isinstance(out[-1.0], ValueError)


def test_pool_map_equals_serial_and_reports_failures() -> None:
    items = [float(i) for i in range(-2, 10)]
    serial = dict(LocalExecutor(1, progress=False).map(math.sqrt, items))
    pooled = dict(LocalExecutor(2, start_method="spawn", progress=False).map(math.sqrt, items))
    assert set(pooled) == set(items)
    for k in items:
        if k < 0:
            assert isinstance(pooled[k], ValueError) and isinstance(serial[k], ValueError)
        else:
            assert pooled[k] == serial[k]


def test_closing_the_iterator_early_stops_the_pool() -> None:
    ex = LocalExecutor(2, progress=False)
    it = ex.map(math.sqrt, [float(i) for i in range(200)])
    first = next(it)
    it.close()  # must return (pool shut down, pending work cancelled), not hang
    assert first[1] == math.sqrt(first[0])


def test_get_executor_and_validation() -> None:
    assert isinstance(get_executor("local", n_jobs=1), Executor)
    assert "local" in available_executors()
    with pytest.raises(ConfigError, match="unknown executor 'spark'"):
        get_executor("spark")
    with pytest.raises(ConfigError, match="n_jobs"):
        LocalExecutor(0)
    with pytest.raises(ConfigError, match="start_method"):
        LocalExecutor(2, start_method="fork")
    assert list(LocalExecutor(1).map(abs, [])) == []


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren ...), from /proc."""
    import os

    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out.update(kids)
        todo.extend(kids)
    return out


def _alive(pid: int) -> bool:

    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not __import__("os").path.isdir("/proc"), reason="reads /proc")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_stops_workers_and_resource_tracker(sig: str, tmp_path) -> None:  # noqa: ANN001
    """A pool of 2 busy workers (each item sleeps 60 s): the signal ends the program within
    seconds and leaves no worker, forkserver or resource-tracker process behind."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "run.py"
    script.write_text(
        "import time\n"
        "from vocalmind.features.executor import LocalExecutor\n"
        "for _ in LocalExecutor(2, progress=False).map(time.sleep, [60, 60, 60, 60]):\n"
        "    pass\n")
    proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        # forkserver + resource tracker + 2 workers
        while len(_descendants(proc.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        kids = _descendants(proc.pid)
        assert len(kids) >= 4, kids
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(getattr(signal, sig))
        rc = proc.wait(timeout=30)
        assert time.monotonic() - t0 < 15  # not after the 60 s items
        # SIGTERM: exit status 143; SIGINT: Python ends on an uncaught KeyboardInterrupt by
        # re-raising the signal (status -2 to subprocess)
        assert rc == (143 if sig == "SIGTERM" else -signal.SIGINT), proc.stderr.read().decode()
        deadline = time.monotonic() + 10
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [k for k in kids if _alive(k)]
    finally:
        if proc.poll() is None:
            proc.kill()
