"""The compiled kernels' decorator: cached where numba can write, compiled anyway where
it cannot (each kernel's values are tested in test_speed_equivalence.py)."""

from __future__ import annotations

import numpy as np

from vocalmind.features.clinical import kernels


def test_kernels_compile_without_a_writable_cache(monkeypatch):
    calls = []
    real = kernels.njit

    def njit(**options):
        calls.append(options)
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file")
        return real(**options)

    monkeypatch.setattr(kernels, "njit", njit)

    @kernels._compiled
    def f(x):
        return x.sum() * 2

    assert f(np.arange(4.0)) == 12.0
    assert [o.get("cache", False) for o in calls] == [True, False]
    assert all(o["nogil"] for o in calls)


def test_kernels_are_cached_on_disk():
    # the shipped kernels asked for a disk cache (numba found a place for it here)
    assert type(kernels.hmpd_bin_chain._cache).__name__ != "NullCache"
