"""The --executor/--address helper."""

from __future__ import annotations

import pytest
import typer

from vocalmind.cli.distributed import executor_from_options
from vocalmind.features.executor import LocalExecutor, available_executors


def test_local_and_bad_options() -> None:
    ex = executor_from_options("local", None, 2, progress=False)
    assert isinstance(ex, LocalExecutor) and ex.n_jobs == 2
    assert "ray" in available_executors()
    with pytest.raises(typer.BadParameter, match="--executor ray"):
        executor_from_options("local", "auto", 1)
    with pytest.raises(typer.BadParameter, match="use one of"):
        executor_from_options("dask", None, 1)
    with pytest.raises(typer.BadParameter, match="HOST:PORT"):
        executor_from_options("ray", "nohostport", 1)
