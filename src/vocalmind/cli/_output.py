"""Terminal output shared by the commands: consoles whose tables are never cut short.

rich sizes a table to the terminal, and to 80 columns when the output is a file or a pipe,
where it then truncates cells with an ellipsis. Here a pipe gets a wide console (no width to
respect) and every table column folds its text instead of truncating it, so what a user
greps or copies is complete.
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: Width used when stdout is not a terminal (a file, a pipe, a test runner).
PIPE_WIDTH = 200


def _width(stream: Any) -> int | None:
    if hasattr(stream, "isatty") and stream.isatty():
        return None  # rich measures the terminal
    try:
        return max(PIPE_WIDTH, int(os.environ.get("COLUMNS", "0")))
    except ValueError:
        return PIPE_WIDTH


def stdout_console() -> Any:
    """A rich Console on stdout: the terminal's width, or :data:`PIPE_WIDTH` for a pipe."""
    from rich.console import Console

    return Console(width=_width(sys.stdout), soft_wrap=False)


def stderr_console() -> Any:
    """A rich Console on stderr for messages; long paths stay on one line."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def table(*columns: str, title: str | None = None) -> Any:
    """A rich Table whose columns fold long text rather than cut it."""
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c, overflow="fold")
    return t
