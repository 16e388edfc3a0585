"""Shared ``--executor`` / ``--address`` handling for the commands that can run on Ray.

``features extract``, ``experiment run`` and batch ``assess`` declare the two options with
:func:`executor_option` and :func:`address_option` and turn them into an executor with
:func:`executor_from_options`; the work itself goes through the one
:class:`~vocalmind.features.executor.Executor` interface, so results do not depend on the
choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from vocalmind.errors import ConfigError

if TYPE_CHECKING:  # the executor module pulls in rich.progress: loaded when a command runs
    from vocalmind.features.executor import Executor

__all__ = ["address_option", "executor_from_options", "executor_option"]


def executor_option(*, jobs: bool = False) -> Any:
    """``--executor local|ray``, for ``Annotated[str, executor_option()] = "local"``.

    ``jobs``: the command has a ``--jobs`` option (only then does the help mention it).
    """
    local = "processes on this machine, see --jobs" if jobs else "this machine"
    return typer.Option(
        "--executor",
        help=f"Where the work runs: 'local' ({local}) or 'ray' (tasks on a Ray cluster, "
        "see --address).",
    )


def address_option() -> Any:
    """``--address auto|HOST:PORT``, for ``Annotated[str | None, address_option()] = None``."""
    return typer.Option(
        "--address",
        help="Ray cluster to join with --executor ray: 'auto' (this machine's cluster, started "
        "with `ray start`) or HOST:PORT of the head. Default: auto.",
    )


def executor_from_options(
    executor: str, address: str | None, jobs: int, *, progress: bool = True
) -> Executor:
    """Build the executor named on the command line.

    Parameters
    ----------
    executor : ``"local"`` or ``"ray"``
    address : Ray address (``"auto"`` or ``"HOST:PORT"``); only with ``"ray"``; None = auto
    jobs : worker processes for ``"local"`` (1 = in-process, -1 = all CPUs); ignored by Ray
        (the cluster's CPUs decide)
    progress : show a progress bar

    Returns
    -------
    Executor

    Raises
    ------
    typer.BadParameter
        Unknown executor, or ``--address`` given without ``--executor ray``, or an
        executor that cannot be built (e.g. the Ray cluster cannot be reached).

    Examples
    --------
    >>> type(executor_from_options("local", None, 2, progress=False)).__name__
    'LocalExecutor'
    """
    from vocalmind.features.executor import available_executors, get_executor

    name = executor.strip().lower()
    if name not in available_executors():
        raise typer.BadParameter(
            f"{executor!r}: use one of {', '.join(available_executors())}", param_hint="--executor"
        )
    if name == "local":
        if address is not None:
            raise typer.BadParameter("--address only applies with --executor ray", param_hint="--address")
        try:
            return get_executor("local", n_jobs=jobs, progress=progress)
        except ConfigError as e:
            raise typer.BadParameter(str(e), param_hint="--jobs") from None
    try:
        ex = get_executor(name, address=address or "auto", progress=progress)
        connect = getattr(ex, "connect", None)
        if callable(connect):
            connect()  # fail now, with the address in the message, not midway through a run
        return ex
    except ConfigError as e:
        raise typer.BadParameter(str(e), param_hint="--address") from None
