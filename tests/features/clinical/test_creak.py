"""The creak detector: its MATLAB-semantics helpers, its inputs, its shipped network, and
windowed processing (synthetic audio only; agreement with COVAREP is in
test_covarep_parity.py)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from vocalmind.features.clinical import creak
from vocalmind.features.clinical.descriptors import descriptor_matrix, descriptor_names

from .conftest import SR, creaky, voice_mix, vowel

CREAK = descriptor_names().index("creak")


def test_smooth_is_matlab_moving_average():
    v = np.array([1.0, 2.0, 6.0, 4.0, 5.0, 9.0, 7.0])
    # span 5 (4 is reduced to 3): ends shrink to spans 1 and 3
    got = creak._smooth(v, 5)
    assert got[0] == 1.0 and got[-1] == 7.0
    assert got[1] == pytest.approx(3.0) and got[-2] == pytest.approx(7.0)
    assert got[3] == pytest.approx(np.mean(v[1:6]))
    assert np.allclose(creak._smooth(v, 4), creak._smooth(v, 3))


def test_medfilt_pads_with_zeros():
    assert np.allclose(creak._medfilt(np.array([5.0, 5.0, 5.0]), 3), [5.0, 5.0, 5.0])
    assert np.allclose(creak._medfilt(np.array([5.0, 1.0, 5.0, 5.0]), 5), [1.0, 5.0, 5.0, 1.0])


def test_local_maxima_centre_flat_tops():
    p = np.array([0.0, 1.0, 0.0, 2.0, 2.0, 2.0, 0.0, 3.0, 3.0, 1.0, 4.0])
    assert creak._local_maxima(p).tolist() == [1, 4, 7]  # no peak at the last sample


def test_inputs_shape_and_finite_on_a_vowel():
    x = vowel(120.0)
    f = creak.recording_inputs(x)
    assert f.shape == (len(x) // 160, 36)
    assert np.isfinite(f).mean() > 0.99
    assert np.all(f[0, 12:] == 0)  # no difference at the first frame
    assert np.allclose(f[:, 8], f[0, 8]) and 100 < f[0, 8] < 140  # median F0


def test_network_file_is_the_shipped_one():
    assert hashlib.sha256(creak.NET_FILE.read_bytes()).hexdigest() == creak.NET_SHA256
    w = creak._net()
    assert w["w1"].shape[0] == 36 and w["w2"].shape == (w["w1"].shape[1], 1)


def test_posterior_in_unit_interval_and_grid():
    f = creak.recording_inputs(creaky())
    p = creak.posterior(f)
    assert p.shape == (len(f),) and np.all((p >= 0) & (p <= 1))
    g = creak.to_descriptor_grid(p, 10)
    assert g[0] == 0.0  # before the first creak frame, as COVAREP
    assert g[1] == pytest.approx(0.5 * (p[0] + p[1]))


def test_creak_column_windowed_equals_whole():
    x = voice_mix(8, creak_every=3)
    _, whole = descriptor_matrix(x, sr=SR, window_s=None)
    _, win = descriptor_matrix(x, sr=SR, window_s=4.0)
    assert len(x) > 3 * (4.0 + 2 * 2.0) * SR / 2
    assert np.abs(whole[:, CREAK] - win[:, CREAK]).max() <= 1e-6
    assert whole[:, CREAK].max() > creak.THRESHOLD  # the comparison covers creaky frames
