"""Shared by the bench scripts: where the real data is, and writing one section of
docs/benchmarks.md (between markers) without touching the others."""

from __future__ import annotations

import os
import platform
import re
import sys
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
