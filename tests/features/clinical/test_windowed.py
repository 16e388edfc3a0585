"""Long recordings are processed in windows; the descriptors equal the whole-recording ones.

Memory is measured in bench/bench_clinical_speed.py (``--long-minutes``), not here.
"""

from __future__ import annotations

import numpy as np
import pytest

from vocalmind.features.clinical import descriptors
from vocalmind.features.clinical.descriptors import descriptor_matrix

from .conftest import SR, voice_mix


@pytest.fixture(scope="module")
def long_signal() -> np.ndarray:
    """~20 s of vowels at varying F0 and open quotient, pauses of faint noise, creak."""
    return voice_mix(10, creak_every=4)


def test_windows_tile_the_recording():
    seg = descriptors._Segments(40 * SR + 123, 6.0, sr=SR)
    bounds = seg.bounds
    assert bounds[0][0] == 0 and bounds[-1][1] == 40 * SR + 123
    assert all(b[1] == c[0] for b, c in zip(bounds[:-1], bounds[1:], strict=True))
    assert all(lo % 160 == 0 for lo, _ in bounds) and seg.margin % 160 == 0
    assert seg.margin >= descriptors.MARGIN_S * SR
    assert descriptors._Segments(10 * SR, 6.0, sr=SR).single  # short: one window
    assert descriptors._Segments(10 * SR, None, sr=SR).single


def test_windowed_equals_whole(long_signal):
    assert len(long_signal) > 3 * (6.0 + 2 * descriptors.MARGIN_S) * SR / 2
    t1, whole = descriptor_matrix(long_signal, sr=SR, window_s=None, hrf=True)
    t2, win = descriptor_matrix(long_signal, sr=SR, window_s=6.0, hrf=True)
    assert np.array_equal(t1, t2)
    assert np.array_equal(np.isnan(whole), np.isnan(win))
    # the tolerance, 1e-6, relative to values above 1 (F0 in Hz: float rounding
    # of a 216 Hz value differs by ~1e-6 Hz between window lengths); the HMPD angles are
    # computed in single precision (hmpd.py), so their circular slot means differ between
    # window lengths by float32 rounding, measured up to 1.5e-6 rad: 5e-6 rad for those
    hmpd = np.array([n.startswith(("HMPDM", "HMPDD")) for n in descriptors.descriptor_names()]
                    + [False] * (whole.shape[1] - len(descriptors.descriptor_names())))
    tol = np.where(hmpd, 5e-6, 1e-6 * np.maximum(1.0, np.abs(whole)))
    ok = ~np.isnan(whole)
    assert (np.abs(whole - win)[ok] <= tol[ok]).all()
    assert np.isfinite(whole).mean() > 0.5  # and the comparison covers real values


@pytest.mark.parametrize("budget", ["_SRH_KEEP_BYTES", "_RES_KEEP_BYTES"])
def test_what_passes_keep_changes_nothing(long_signal, monkeypatch, budget):
    # pass 2 picks its narrowed SRH search from the scores pass 1 kept, passes 3 and 4
    # reuse the LP residuals pass 1 kept; a window whose arrays did not fit recomputes
    # them: the same values
    _, kept = descriptor_matrix(long_signal, sr=SR, window_s=6.0)
    monkeypatch.setattr(descriptors, budget, 0)
    calls = []
    real = descriptors.lpc_residuals
    monkeypatch.setattr(descriptors, "lpc_residuals",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    _, recomputed = descriptor_matrix(long_signal, sr=SR, window_s=6.0)
    np.testing.assert_array_equal(kept, recomputed)
    n_win = len(descriptors._Segments(len(long_signal), 6.0, sr=SR).bounds)
    # without kept scores pass 2 recomputes every window's SRH residual; without kept
    # residuals passes 3 and 4 recompute theirs
    assert len(calls) == (2 if budget == "_SRH_KEEP_BYTES" else 3) * n_win, len(calls)
