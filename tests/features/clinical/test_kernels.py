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


def _autocorr_in_time_order(x: np.ndarray, n: int, order: int) -> np.ndarray:
    r = np.zeros(order + 1)
    for k in range(order + 1):
        for t in range(n - k):
            r[k] += x[t] * x[t + k]
    return r


def _fir_in_tap_order(x: np.ndarray, n: int, b: np.ndarray, steady: bool) -> np.ndarray:
    out = np.zeros(n)
    for i in range(n):
        for j in range(len(b)):
            if i - j >= 0:
                out[i] += b[j] * x[i - j]
            elif steady:
                out[i] += b[j] * x[0]
    return out


def test_autocorrelation_and_fir_sum_in_the_documented_order():
    # the loops are blocked / unsigned-indexed for speed; each output must still be the
    # plain sum in time (tap) order, bit for bit, whatever the length against the order
    rng = np.random.default_rng(4)
    for n, order in ((400, 18), (37, 20), (5, 18), (4, 3), (1, 0), (0, 2)):
        x = rng.standard_normal(max(n, 1))
        r = np.full(order + 1, np.nan)
        kernels._autocorr(x, n, order, r)
        assert np.array_equal(r, _autocorr_in_time_order(x, n, order)), (n, order)
        for q, steady in ((order + 1, False), (9, True), (2, False)):
            b = rng.standard_normal(q)
            out = np.full(n, np.nan)
            kernels._causal_fir(x, n, b, q, steady, out)
            assert np.array_equal(out, _fir_in_tap_order(x, n, b, steady)), (n, q, steady)
