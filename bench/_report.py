"""Shared by the bench scripts: where the real data is, and writing one section of
docs/benchmarks.md (between markers) without touching the others."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VOCALMIND_DATA", ROOT.parent / "shared" / "data"))
DOC = ROOT / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Every figure below was measured on this repository's code by the command written beside it,
on the machine named in its section. Metrics are subject-independent unless marked
otherwise, with 95 % intervals from a subject-level bootstrap.
"""


def require(path: Path) -> Path:
    """Exit with a clear message when a corpus folder is absent."""
    if not path.exists():
        sys.exit(f"skipped: {path} not found (set VOCALMIND_DATA to the folder holding it)")
    return path


def machine() -> str:
    """The machine, with its 1-minute load average (timings from a busy machine are noisy)."""
    load = os.getloadavg()[0]
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load:.1f} when written")


def update_section(key: str, markdown: str) -> Path:
    """Replace (or append) the section marked ``key`` in docs/benchmarks.md, atomically."""
    from vocalmind.files import write_text

    text = DOC.read_text() if DOC.exists() else HEADER
    begin, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    return write_text(DOC, text)


def tree_cpu(cmd: list[str], every_s: float = 0.5, env: dict[str, str] | None = None) -> float:
    """Run ``cmd``; CPU seconds (user + sys) of it and every process it starts, read from
    /proc per process every ``every_s`` s (Linux). Worker pools are not waited for, so the
    rusage of the children misses them; a process living < ``every_s`` s may be missed."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(pid: int) -> tuple[int, float] | None:  # (parent pid, user + sys seconds)
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return int(f[1]), (int(f[11]) + int(f[12])) / tick

    seen: dict[int, float] = {}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
    while proc.poll() is None:
        table = {int(d): stat(int(d)) for d in os.listdir("/proc") if d.isdigit()}
        tree, grew = {proc.pid}, True
        while grew:  # the descendants of the command
            new = {pid for pid, st in table.items() if st and st[0] in tree} - tree
            tree |= new
            grew = bool(new)
        for pid in tree:
            if table.get(pid):
                seen[pid] = max(seen.get(pid, 0.0), table[pid][1])
        time.sleep(every_s)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return sum(seen.values())
