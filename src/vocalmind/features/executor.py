"""Mapping a picklable function over many items, locally or (later) on a cluster.

Callers depend only on the :class:`Executor` protocol and :func:`get_executor`; a Ray or
Dask executor can be added behind ``get_executor("ray", ...)`` without touching them.

Every executor yields ``(item, result)`` or ``(item, exception)`` for each item, in
completion order, and never stops on one item's failure; what counts as too many failures
is the caller's decision. Closing the iterator early (``break``, an exception in the
caller) cancels the work not yet started.

SIGTERM and SIGINT (Ctrl-C) while a process pool runs stop the worker processes at once
and then the pool, so no worker (and hence no multiprocessing resource tracker, kept alive
by the workers) outlives the command; the signal then ends the program as usual
(``KeyboardInterrupt`` for SIGINT, exit status 143 for SIGTERM). Workers ignore SIGINT
themselves: a Ctrl-C reaches the whole process group, and only the parent decides.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar, runtime_checkable

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vocalmind.errors import ConfigError
from vocalmind.progress import progress_bar

__all__ = ["Executor", "LocalExecutor", "get_executor", "available_executors"]

T = TypeVar("T")
R = TypeVar("R")

#: environment variables that cap the thread pools of BLAS/OpenMP libraries and torch
_THREAD_VARS = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


@runtime_checkable
class Executor(Protocol):
    """Maps a function over items, yielding each item's result or exception."""

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, description: str = ""
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Apply ``fn`` to every item.

        Parameters
        ----------
        fn : picklable callable of one item (a module-level function or a
            :func:`functools.partial` of one)
        items : the inputs (picklable)
        description : label of the progress bar

        Yields
        ------
        (item, result) or (item, exception) for every item, in completion order
        """
        ...


def _progress(enabled: bool) -> Progress:
    return progress_bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )


@contextlib.contextmanager
def _main_not_rerun(fn: Callable[..., Any]) -> Iterator[None]:
    """While worker processes start, hide the main script from multiprocessing.

    forkserver and spawn workers re-run the main script (as ``__mp_main__``) so that
    functions defined there can be unpickled; a script without an
    ``if __name__ == "__main__":`` guard would then start its work again in every worker.
    vocalmind's worker functions live in vocalmind modules, so the main script is not
    needed and is hidden (only while a task is submitted). A function defined in the
    script itself still needs the script (and its guard), as with multiprocessing.
    """
    main = sys.modules.get("__main__")
    inner = fn
    while isinstance(inner, functools.partial):
        inner = inner.func
    if main is None or getattr(inner, "__module__", None) == "__main__" or \
            not hasattr(main, "__file__"):
        yield
        return
    saved = main.__dict__.pop("__file__")
    spec = main.__dict__.get("__spec__")
    main.__spec__ = None
    try:
        yield
    finally:
        main.__file__ = saved
        main.__spec__ = spec


def _limit_threads() -> None:
    """Worker initialiser: one thread per worker process for BLAS, OpenMP and torch; SIGINT
    ignored (the parent stops the workers; see the module docstring).

    n_jobs processes each running a BLAS pool of n_cores threads oversubscribe the CPU
    many times over; the executor's processes are the parallelism.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in _THREAD_VARS:
        os.environ[var] = "1"  # for libraries imported later in this worker (torch reads it)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # for BLAS/OpenMP libraries already loaded
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _default_context() -> str:
    # fork is unsafe with threads (torch, BLAS, rich's refresh thread); forkserver is the safe,
    # cheap choice on Linux, spawn elsewhere (macOS, Windows)
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


#: process pools now running (stopped by the SIGTERM/SIGINT handler)
_LIVE_POOLS: set[ProcessPoolExecutor] = set()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's worker processes now (their running items are abandoned)."""
    procs = dict(getattr(pool, "_processes", None) or {})  # pid -> Process
    for p in procs.values():
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs.values():
        with contextlib.suppress(Exception):
            p.join(timeout=5)
            if p.is_alive():
                p.kill()


def _on_signal(signum: int, frame: Any) -> None:
    """Stop every running pool's workers, then end as the signal would."""
    for pool in list(_LIVE_POOLS):
        _stop_workers(pool)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _stopping_on_signals(pool: ProcessPoolExecutor) -> Iterator[None]:
    """While the block runs, SIGTERM/SIGINT stop ``pool``'s workers (main thread only:
    Python delivers signals there, and other threads may not install handlers)."""
    _LIVE_POOLS.add(pool)
    installed: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, OSError):
                installed[sig] = signal.signal(sig, _on_signal)
    try:
        yield
    finally:
        for sig, old in installed.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, old)
        _LIVE_POOLS.discard(pool)


class LocalExecutor:
    """Run on this machine: in-process (``n_jobs=1``) or in a process pool.

    Parameters
    ----------
    n_jobs : int
        1 runs in the calling process (easy to debug, no pickling); N > 1 uses N worker
        processes; -1 uses every CPU.
    start_method : {"forkserver", "spawn"} or None
        How worker processes start; None picks forkserver where available, else spawn.
        ``fork`` is refused (unsafe with threaded libraries such as torch).
    progress : bool
        Show a rich progress bar.

    Examples
    --------
    >>> ex = LocalExecutor(1, progress=False)
    >>> sorted((i, r) for i, r in ex.map(abs, [-1, 2]))
    [(-1, 1), (2, 2)]
    """

    def __init__(
        self, n_jobs: int = 1, *, start_method: str | None = None, progress: bool = True
    ) -> None:
        if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
            raise ConfigError(f"n_jobs must be a positive int or -1 (all CPUs), got {n_jobs!r}")
        if start_method not in (None, "forkserver", "spawn"):
            raise ConfigError(
                f"start_method must be 'forkserver', 'spawn' or None, got {start_method!r}"
            )
        self.n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
        self.start_method = start_method or _default_context()
        self.progress = progress

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, description: str = ""
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Apply ``fn`` to every item; see :meth:`Executor.map`."""
        items = list(items)
        if not items:
            return
        if self.n_jobs == 1 or len(items) == 1:
            yield from self._map_serial(fn, items, description)
        else:
            yield from self._map_pool(fn, items, description)

    def _map_serial(
        self, fn: Callable[[T], R], items: list[T], description: str
    ) -> Iterator[tuple[T, R | BaseException]]:
        with _progress(self.progress) as bar:
            task = bar.add_task(description or "working", total=len(items))
            for item in items:
                try:
                    result: R | BaseException = fn(item)
                except Exception as e:  # noqa: BLE001 - reported per item, by contract
                    result = e
                bar.advance(task)
                yield item, result

    def _map_pool(
        self, fn: Callable[[T], R], items: list[T], description: str
    ) -> Iterator[tuple[T, R | BaseException]]:
        ctx = multiprocessing.get_context(self.start_method)
        n_workers = min(self.n_jobs, len(items))
        pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_limit_threads)
        interrupted = False
        try:
            with _stopping_on_signals(pool), _progress(self.progress) as bar:
                task = bar.add_task(description or "working", total=len(items))
                # keep a bounded window of tasks in flight so a cancelled run stops quickly
                # and millions of items do not become millions of futures at once
                window = 4 * n_workers
                todo = iter(enumerate(items))
                running: dict[Future[R], int] = {}
                unsubmitted: list[tuple[int, BaseException]] = []

                def submit_next() -> None:
                    nxt = next(todo, None)
                    if nxt is None:
                        return
                    try:
                        with _main_not_rerun(fn):  # scripts need no __main__ guard
                            running[pool.submit(fn, nxt[1])] = nxt[0]
                    except BrokenExecutor as e:  # a worker died (e.g. killed for memory)
                        unsubmitted.append((nxt[0], e))

                for _ in range(window):
                    submit_next()
                while running or unsubmitted:
                    while unsubmitted:
                        idx, err = unsubmitted.pop()
                        bar.advance(task)
                        submit_next()
                        yield items[idx], err
                    if not running:
                        continue
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        idx = running.pop(fut)
                        try:
                            result: R | BaseException = fut.result()
                        except Exception as e:  # noqa: BLE001 - includes a dead worker
                            result = e
                        bar.advance(task)
                        submit_next()
                        yield items[idx], result
        except (KeyboardInterrupt, SystemExit):
            interrupted = True
            raise
        finally:
            if interrupted:
                _stop_workers(pool)  # running items are abandoned, not awaited
            pool.shutdown(wait=True, cancel_futures=True)


#: name -> factory, or "module:attribute" resolved on first use, so that optional back-ends
#: (Ray: slow to import, optional) are registered by name and never imported here
_EXECUTORS: dict[str, Callable[..., Executor] | str] = {
    "local": LocalExecutor,
    "ray": "vocalmind.distributed.ray_executor:RayExecutor",
}


def register_executor(name: str, factory: Callable[..., Executor] | str) -> None:
    """Make an executor available to :func:`get_executor` under ``name``.

    ``factory`` is a callable returning an :class:`Executor`, or ``"module:attribute"``
    naming one (imported only when that executor is built).
    """
    _EXECUTORS[name] = factory


def available_executors() -> list[str]:
    """Names accepted by :func:`get_executor`."""
    return sorted(_EXECUTORS)


def get_executor(name: str = "local", **kwargs: Any) -> Executor:
    """Build an executor by name.

    Parameters
    ----------
    name : str, one of :func:`available_executors` (``"local"``, ``"ray"``)
    **kwargs : passed to the executor (for ``"local"``: ``n_jobs``, ``start_method``,
        ``progress``; for ``"ray"``: ``address``, ``max_retries``, ``progress``, see
        :class:`vocalmind.distributed.ray_executor.RayExecutor`)

    Raises
    ------
    ConfigError
        If ``name`` is unknown.
    """
    try:
        factory = _EXECUTORS[name]
    except KeyError:
        raise ConfigError(
            f"unknown executor {name!r}; available: {', '.join(available_executors())}"
        ) from None
    if isinstance(factory, str):
        import importlib

        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(**kwargs)
