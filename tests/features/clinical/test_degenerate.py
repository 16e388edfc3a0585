"""Degenerate input: a clear FeatureError or NaN statistics by rule, never another error.

COVAREP itself crashes on very short files (0.39 s); vocalmind's rule (descriptors module):
fewer than ``min_voiced_frames`` voiced 10 ms frames (default 30), a recording shorter than
that, silence, a constant or non-finite signal raise FeatureError; a descriptor with fewer
than 10 valid frames gets NaN statistics.
"""

from __future__ import annotations

import numpy as np
import pytest

from vocalmind.errors import FeatureError
from vocalmind.features.base import get_feature_set
from vocalmind.features.clinical.statistics import MIN_VALID_FRAMES

from .conftest import SR, vowel


def _cases() -> dict[str, np.ndarray]:
    n = np.arange(SR)
    out = {f"vowel_{d}s": vowel(120.0, d) for d in (0.05, 0.1, 0.15, 0.3, 0.39, 0.45)}
    out |= {
        "empty": np.zeros(0, np.float32),
        "one_sample": np.ones(1, np.float32) * 0.1,
        "99_ms_sine": (0.1 * np.sin(2 * np.pi * 150 * n[: int(0.099 * SR)] / SR)),
        "constant": np.full(SR, 0.3),
        "impulse": np.eye(1, SR, SR // 2)[0],
        "square_100Hz": np.sign(np.sin(2 * np.pi * 100 * n / SR)),
        "nyquist": np.tile([1.0, -1.0], SR // 2),
        "clipped": np.clip(20 * vowel(120.0, 1.0), -1, 1),
        "tiny": 1e-9 * vowel(120.0, 1.0),
        "vowel_in_6s_silence": np.concatenate([np.zeros(3 * SR), vowel(120.0, 0.4),
                                               np.zeros(3 * SR)]),
    }
    return out


@pytest.mark.parametrize("name", sorted(_cases()))
def test_degenerate_input_is_an_error_or_nan_by_rule(name):
    y = np.asarray(_cases()[name], dtype=np.float32)
    fs = get_feature_set("clinical")
    try:
        v = fs.process_signal(y, SR)
    except FeatureError as e:
        assert str(e)  # a message naming the reason
        return
    assert v.shape == (1200,) and v.dtype == np.float64
    # NaN only by rule: whole descriptors (all ten statistics at once) or undefined ones
    m = v.reshape(120, 10)
    part = np.isnan(m).any(axis=1) & ~np.isnan(m).all(axis=1)
    # kurt / skew / R2 of a constant descriptor are undefined on their own
    undefined_alone = np.isnan(m[:, [5, 6, 9]]).any(axis=1)
    assert not np.any(part & ~undefined_alone), name


def test_short_files_raise_a_clear_error():
    for d in (0.05, 0.15, 0.39):  # 0.39 s: COVAREP crashes on such files
        with pytest.raises(FeatureError, match="too short|voiced"):
            get_feature_set("clinical").process_signal(vowel(120.0, d), SR)
    # below the default, a lower voicing gate gives statistics, NaN where < 10 frames
    v = get_feature_set("clinical", min_voiced_frames=5).process_signal(vowel(120.0, 0.15),
                                                                        SR)
    assert np.isnan(v).any() and np.isfinite(v).any()
    assert MIN_VALID_FRAMES == 10


def test_constant_signal_is_rejected():
    with pytest.raises(FeatureError, match="constant"):
        get_feature_set("clinical").process_signal(np.full(SR, 0.3, np.float32), SR)
