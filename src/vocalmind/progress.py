"""Progress bars for long work, all on standard error so standard output stays clean for
results (``--json``, tables) even while a bar is shown."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import Progress, ProgressColumn

_STDERR = Console(stderr=True)


def progress_bar(*columns: str | ProgressColumn, **kwargs: Any) -> Progress:
    """A :class:`rich.progress.Progress` writing to standard error; same arguments."""
    kwargs.setdefault("console", _STDERR)
    return Progress(*columns, **kwargs)
