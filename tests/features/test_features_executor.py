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
