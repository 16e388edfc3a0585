"""The :class:`~vocalmind.features.executor.Executor` protocol on a Ray cluster.

``get_executor("ray", address=...)`` returns a :class:`RayExecutor`: every item becomes one
Ray task. Callers (feature extraction, the experiment runner, the search) do not change.

Two kinds of failure are kept apart, as the protocol asks:

- the function raised: the exception is caught *inside* the task and returned as a value,
  so it is yielded as ``(item, exception)`` and never retried (retrying a deterministic
  error only wastes the cluster);
- the worker process or its node died (killed for memory, node lost): Ray re-runs the task
  up to ``max_retries`` times on a live worker; only when retries are exhausted is Ray's
  error (``WorkerCrashedError``, ``NodeDiedError`` ...) yielded for that item.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from vocalmind.errors import ConfigError

__all__ = ["RayExecutor", "TaskFailed"]

T = TypeVar("T")
R = TypeVar("R")

#: environment every Ray worker gets: one BLAS/OpenMP thread per task (the tasks are the
#: parallelism) and no stalls on the model hub
_WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
}


class TaskFailed:
    """An exception raised by the mapped function, carried back as a task's return value."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    """Ray task body: ``fn(item)``, or the exception it raised wrapped in :class:`TaskFailed`."""
    try:
        return fn(item)
    except Exception as e:  # noqa: BLE001 - reported per item, by the Executor contract
        try:
            import pickle

            pickle.dumps(e)
        except Exception:  # noqa: BLE001 - an unpicklable exception must still come back
            e = RuntimeError(f"{type(e).__name__}: {e}")
        return TaskFailed(e)


class RayExecutor:
    """Run each item as a Ray task on a cluster (or on a Ray instance started here).

    Parameters
    ----------
    address : str or None
        ``"auto"`` joins the cluster this machine belongs to (started with ``ray start``);
        ``"HOST:PORT"`` joins the cluster whose head listens there (the GCS port, 6379 by
        default); None starts a private single-machine Ray instance for this process.
        Ignored if Ray is already initialised in this process.
    num_cpus : int or None
        CPUs of the private instance (``address=None`` only); None = all.
    max_retries : int
        How often a task whose worker or node died is re-run (>= 0).
    cpus_per_task : float
        CPUs reserved by each task (1 = one task per core).
    progress : bool
        Show a rich progress bar.
    runtime_env : dict or None
        Extra Ray runtime environment (merged with one-thread BLAS settings and
        ``HF_HUB_OFFLINE=1``); e.g. ``{"env_vars": {...}}``.

    Raises
    ------
    ConfigError
        On invalid options, or if the cluster cannot be reached (the message names the
        address and how to start or point to a cluster).

    Examples
    --------
    >>> ex = RayExecutor(address=None, num_cpus=2, progress=False)  # doctest: +SKIP
    >>> sorted(ex.map(abs, [-1, 2]))  # doctest: +SKIP
    [(-1, 1), (2, 2)]
    """

    def __init__(
        self,
        address: str | None = "auto",
        *,
        num_cpus: int | None = None,
        max_retries: int = 3,
        cpus_per_task: float = 1.0,
        progress: bool = True,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not address):
            raise ConfigError(f"address must be 'auto', 'HOST:PORT' or None, got {address!r}")
        if address not in (None, "auto") and ":" not in str(address) and "://" not in str(address):
            raise ConfigError(f"address {address!r}: expected 'auto' or 'HOST:PORT' (e.g. 10.0.0.5:6379)")
        if num_cpus is not None and (not isinstance(num_cpus, int) or num_cpus < 1):
            raise ConfigError(f"num_cpus must be a positive int or None, got {num_cpus!r}")
        if num_cpus is not None and address is not None:
            raise ConfigError("num_cpus only applies to a private instance (address=None); "
                              "a cluster's CPUs are set by `ray start --num-cpus`")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if not cpus_per_task > 0:
            raise ConfigError(f"cpus_per_task must be > 0, got {cpus_per_task!r}")
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.cpus_per_task = float(cpus_per_task)
        self.progress = progress
        env = dict(runtime_env or {})
        env["env_vars"] = {**_WORKER_ENV, **dict(env.get("env_vars", {}))}
        self.runtime_env = env

    # ------------------------------------------------------------------ connection
    def connect(self) -> Any:
        """Initialise Ray in this process (once) and return the ``ray`` module."""
        try:
            import ray
        except ImportError:  # pragma: no cover - depends on the environment
            raise ConfigError(
                "the ray executor needs Ray: pip install 'ray[default]>=2.40,<3'"
            ) from None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "address": self.address,
                "runtime_env": self.runtime_env,
                "log_to_driver": False,  # workers' logs stay in the cluster's log folder
                "configure_logging": False,
            }
            if self.address is None:
                kwargs["num_cpus"] = self.num_cpus
                kwargs["include_dashboard"] = False
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ConfigError(
                    f"cannot reach a Ray cluster at address={self.address!r}: {e}. Start one "
                    "with `ray start --head`, pass its HOST:PORT, or use --executor local"
                ) from None
        return ray

    def total_cpus(self) -> int:
        """CPUs the cluster offers now (>= 1)."""
        ray = self.connect()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    # ------------------------------------------------------------------ mapping
    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, description: str = ""
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Apply ``fn`` to every item as Ray tasks; see :meth:`Executor.map`.

        At most ``4 x cluster CPUs`` tasks are in flight, so a huge manifest never becomes
        millions of pending tasks and closing the iterator cancels the rest promptly.
        """
        items = list(items)
        if not items:
            return
        ray = self.connect()
        from ray.exceptions import RayError

        from vocalmind.features.executor import _progress

        remote = ray.remote(
            num_cpus=self.cpus_per_task, max_retries=self.max_retries, retry_exceptions=False
        )(_call)
        fn_ref = ray.put(fn)  # shipped once, not once per task
        window = 4 * max(1, int(self.total_cpus() / self.cpus_per_task))
        todo = iter(enumerate(items))
        running: dict[Any, int] = {}

        def submit_next() -> None:
            nxt = next(todo, None)
            if nxt is not None:
                running[remote.remote(fn_ref, nxt[1])] = nxt[0]

        try:
            with _progress(self.progress) as bar:
                task = bar.add_task(description or "ray tasks", total=len(items))
                for _ in range(window):
                    submit_next()
                while running:
                    done, _ = ray.wait(list(running), num_returns=1)
                    for ref in done:
                        idx = running.pop(ref)
                        try:
                            out = ray.get(ref)
                            result: Any = out.error if isinstance(out, TaskFailed) else out
                        except RayError as e:  # retries exhausted: worker or node lost
                            result = e
                        bar.advance(task)
                        submit_next()
                        yield items[idx], result
        finally:
            for ref in running:
                ray.cancel(ref, force=False)
