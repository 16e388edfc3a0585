"""Progress for long work, all on standard error so standard output stays clean for
results (``--json``, tables) even while a bar is shown.

On a terminal this is a live :mod:`rich` bar. When standard error is not a terminal (a
log file, ``nohup``, a batch system) a live bar would only appear once, at the end, so a
plain line is logged per step instead: ``[12:04:31] compare features: 12/535 (2 %),
0:00:42 elapsed, ~0:29:06 left``. Steps faster than ``VOCALMIND_PROGRESS_INTERVAL``
seconds (default 1) are folded into the next line; the last step is always logged.
"""

from __future__ import annotations

import os
import time
from typing import Any

from rich.console import Console
from rich.progress import Progress, ProgressColumn, TaskID

_STDERR = Console(stderr=True)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class LineProgress(Progress):
    """A :class:`rich.progress.Progress` that draws nothing live and writes one plain line
    per step (at most one per ``interval`` seconds per task, and always the last)."""

    def __init__(self, *columns: str | ProgressColumn, interval: float = 1.0,
                 **kwargs: Any) -> None:
        kwargs["disable"] = True  # no live display; the lines below are the display
        super().__init__(*columns, **kwargs)
        self._out = kwargs.get("console") or _STDERR
        self._interval = float(interval)
        self._last: dict[TaskID, float] = {}

    def _line(self, task_id: TaskID) -> None:
        task = self._tasks.get(task_id)
        if task is None or not task.completed:
            return
        now = time.monotonic()
        done = task.total is not None and task.completed >= task.total
        if not done and now - self._last.get(task_id, -1e9) < self._interval:
            return
        self._last[task_id] = now
        elapsed = task.elapsed or 0.0
        text = f"[{time.strftime('%H:%M:%S')}] {task.description}: {task.completed:g}"
        if task.total:
            text += f"/{task.total:g} ({100 * task.completed / task.total:.0f} %)"
        text += f", {_clock(elapsed)} elapsed"
        if task.total and not done and task.completed:
            text += f", ~{_clock(elapsed * (task.total - task.completed) / task.completed)} left"
        self._out.file.write(text + "\n")
        self._out.file.flush()

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._line(task_id)

    def update(self, task_id: TaskID, *args: Any, **kwargs: Any) -> None:
        super().update(task_id, *args, **kwargs)
        if kwargs.get("advance") or kwargs.get("completed") is not None:
            self._line(task_id)


def progress_bar(*columns: str | ProgressColumn, **kwargs: Any) -> Progress:
    """A :class:`rich.progress.Progress` writing to standard error; same arguments.

    When that stream is not a terminal (and progress is not disabled), a
    :class:`LineProgress` logging a line per step instead.
    """
    kwargs.setdefault("console", _STDERR)
    console = kwargs["console"]
    if not kwargs.get("disable", False) and not console.is_terminal:
        interval = float(os.environ.get("VOCALMIND_PROGRESS_INTERVAL", "1"))
        kwargs.pop("transient", None)
        return LineProgress(*columns, interval=interval, **kwargs)
    return Progress(*columns, **kwargs)
