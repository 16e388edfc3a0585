"""vocalmind.audio.processing: mono, resample, normalise, diagnose, denoise."""

from __future__ import annotations

import numpy as np
import pytest
from _audio_synth import SR, peak_freq, sine

from vocalmind.audio import (
    check_signal,
    denoise,
    loudness,
    loudness_normalize,
    peak_normalize,
    resample,
    signal_problems,
    to_mono,
)
from vocalmind.errors import AudioError


def test_to_mono_averages_channels_and_passes_1d():
    y = np.stack([np.ones(10), np.zeros(10)]).astype(np.float32)
    assert to_mono(y).tolist() == [0.5] * 10
    one = np.arange(5, dtype=np.float64)
    out = to_mono(one)
    assert out.dtype == np.float32 and out.tolist() == one.tolist()


def test_resample_keeps_frequency_and_shape():
    y = sine(1000, 1.0, 48000)
    out = resample(y, orig_sr=48000, target_sr=SR)
    assert out.shape == (SR,) and out.dtype == np.float32
    assert peak_freq(out, SR) == pytest.approx(1000, abs=0.5)
    stereo = resample(np.stack([y, 0.5 * y]), orig_sr=48000, target_sr=SR)
    assert stereo.shape == (2, SR)
    assert np.allclose(stereo[1], 0.5 * stereo[0], atol=1e-6)
    with pytest.raises(ValueError):
        resample(y, orig_sr=0, target_sr=SR)


def test_peak_normalize():
    y = np.array([0.1, -0.25, 0.2], np.float32)
    out = peak_normalize(y, peak_db=-6.0)
    assert float(np.max(np.abs(out))) == pytest.approx(10 ** (-6 / 20), rel=1e-6)
    assert out[1] < 0  # sign kept
    assert np.array_equal(peak_normalize(np.zeros(4, np.float32)), np.zeros(4))
    with pytest.raises(ValueError, match="clip"):
        peak_normalize(y, peak_db=3.0)


def test_loudness_matches_bs1770_reference_sine():
    # BS.1770: a full-scale 997 Hz sine in one channel reads -3.01 LKFS.
    assert loudness(sine(997, 3.0, 48000, amp=1.0), sr=48000) == pytest.approx(-3.01, abs=0.05)
    assert loudness(sine(997, 3.0, 48000, amp=0.1), sr=48000) == pytest.approx(-23.01, abs=0.05)
    assert loudness(np.zeros(SR, np.float32), sr=SR) == -np.inf


def test_loudness_normalize_reaches_target():
    rng = np.random.default_rng(0)
    y = (0.01 * rng.standard_normal(2 * SR)).astype(np.float32)
    out = loudness_normalize(y, sr=SR, target_lufs=-23.0)
    assert out.dtype == np.float32
    assert loudness(out, sr=SR) == pytest.approx(-23.0, abs=0.05)
    # a 997 Hz sine normalised to -23 LUFS has amplitude 0.1 (from the reference above)
    s = loudness_normalize(sine(997, 2.0, 48000, amp=0.7), sr=48000, target_lufs=-23.0)
    assert np.max(np.abs(s)) == pytest.approx(0.1, rel=0.01)


def test_loudness_normalize_limits_instead_of_clipping():
    y = sine(997, 1.0, SR, amp=0.5)
    with pytest.warns(UserWarning, match="would clip"):
        out = loudness_normalize(y, sr=SR, target_lufs=0.0)
    assert np.max(np.abs(out)) == pytest.approx(10 ** (-1 / 20), rel=1e-4)


def test_signal_problems_names_each_problem():
    assert signal_problems(sine(440, 1.0, SR), sr=SR) == []
    assert signal_problems(np.zeros(0, np.float32), sr=SR)[0].startswith("empty")
    assert signal_problems(np.zeros(SR, np.float32), sr=SR)[0].startswith("silent")
    assert signal_problems(sine(440, 0.05, SR), sr=SR) == ["too short: 0.050 s < 0.1 s"]
    clipped = np.clip(sine(440, 1.0, SR, amp=2.0), -1, 1)
    assert any(p.startswith("clipped") for p in signal_problems(clipped, sr=SR))
    assert any(p.startswith("dc offset") for p in signal_problems(sine(440, 1.0, SR) + 0.1, sr=SR))
    nan = sine(440, 1.0, SR)
    nan[5] = np.nan
    assert signal_problems(nan, sr=SR)[0].startswith("non-finite: 1")


@pytest.mark.parametrize(
    ("y", "reason"),
    [
        (np.zeros(0, np.float32), "empty"),
        (np.zeros(SR, np.float32), "silent"),
        (sine(440, 0.05, SR), "too short"),
    ],
)
def test_check_signal_raises_for_unusable_signals(y, reason):
    with pytest.raises(AudioError, match=reason) as err:
        check_signal(y, sr=SR, file="rec01.wav")
    assert err.value.file == "rec01.wav"


def test_check_signal_accepts_clipped_but_usable_signal():
    check_signal(np.clip(sine(440, 1.0, SR, amp=2.0), -1, 1), sr=SR, file="x.wav")


@pytest.mark.parametrize("stationary", [True, False])
def test_denoise_cuts_noise_in_pauses_and_keeps_speech(speech_16k, stationary):
    rng = np.random.default_rng(3)
    clean = np.concatenate([np.zeros(SR // 2, np.float32), speech_16k])
    noisy = clean + (0.02 * rng.standard_normal(clean.size)).astype(np.float32)
    noise = (0.02 * rng.standard_normal(SR)).astype(np.float32)
    out = denoise(noisy, sr=SR, stationary=stationary, y_noise=noise if stationary else None)
    assert out.shape == noisy.shape and out.dtype == np.float32
    pause = np.abs(clean) < 1e-4
    speech = np.abs(clean) > 0.05
    # noise in the pauses is cut by more than 10 dB ...
    assert 20 * np.log10(np.std(noisy[pause]) / np.std(out[pause])) > 10
    # ... while the speech stays (gating thins it; the correlation shows it is still there)
    assert np.corrcoef(out[speech], clean[speech])[0, 1] > 0.9


def test_denoise_rejects_contradictory_settings():
    y = sine(440, 0.5, SR)
    with pytest.raises(ValueError, match="prop_decrease"):
        denoise(y, sr=SR, prop_decrease=1.5)
    with pytest.raises(ValueError, match="stationary=True"):
        denoise(y, sr=SR, stationary=False, y_noise=y)
