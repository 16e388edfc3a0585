"""Known-answer tests added for HMPD, MDQ, peakSlope, creak and bad input (synthetic audio)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import signal
from scipy.ndimage import gaussian_filter1d

from vocalmind.errors import FeatureError
from vocalmind.features.base import get_feature_set
from vocalmind.features.clinical import (
    clinical_descriptors,
    clinical_statistics,
    descriptor_names,
)
from vocalmind.features.clinical.hmpd import _log_slots
from vocalmind.features.clinical.statistics import MIN_VALID_FRAMES

from .conftest import SR, VOWEL_A, creaky, vowel

F0_H = 150.0
PDM = [f"HMPDM_{i}" for i in range(25)]
PDD = [f"HMPDD_{i}" for i in range(13)]


def harmonic_complex(*, alpha: float = 0.0, sigma: float = 0.0, dur: float = 1.5,
                     seed: int = 0) -> np.ndarray:
    """Equal-amplitude harmonics of 150 Hz up to Nyquist, phase ``alpha k^2 + sigma e_k(t)``.

    ``e_k`` is unit-variance Gaussian noise smoothed over ~5 ms, independent per harmonic:
    a controlled random phase perturbation of standard deviation ``sigma`` rad.
    """
    rng = np.random.default_rng(seed)
    n = int(dur * SR)
    t = np.arange(n) / SR
    y = np.zeros(n)
    for k in range(1, int((SR / 2 - 1) // F0_H) + 1):
        e = gaussian_filter1d(rng.standard_normal(n), 0.005 * SR / 2)
        y += np.cos(2 * np.pi * k * F0_H * t + alpha * k * k + sigma * e / e.std())
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


@pytest.fixture(scope="module")
def hmpd_runs() -> dict[tuple[float, float], pd.DataFrame]:
    runs = {(0.0, s): harmonic_complex(sigma=s) for s in (0.0, 0.1, 0.2, 0.4, 0.8)}
    runs[(0.03, 0.0)] = harmonic_complex(alpha=0.03)
    return {k: clinical_descriptors(y).query("VUV > 0") for k, y in runs.items()}


def test_hmpdd_rises_with_phase_jitter(hmpd_runs):
    # HMPDD is COVAREP's mel-cepstrum of the PD deviation: HMPDD_0 is the mean log PDD
    # over the mel scale. Independent phase noise of std s on each harmonic raises the
    # deviation, so HMPDD_0 grows with s; a periodic signal has PDD ~ 0 (floored at 0.001
    # rad by COVAREP) wherever harmonics exist.
    med = {s: float(np.nanmedian(df["HMPDD_0"].to_numpy()))
           for (a, s), df in hmpd_runs.items() if a == 0.0}
    sig = sorted(med)
    assert all(med[a] < med[b] - 0.2 for a, b in zip(sig[:-1], sig[1:], strict=True)), med
    assert med[0.0] < np.log(0.05)  # periodic: deviation below 0.05 rad on (log) average


def _expected_hmpdm(alpha: float, flip: bool) -> np.ndarray:
    """COVAREP's HMPDM slots for harmonics phi_k = alpha k^2 (+ pi if the sign is flipped).

    PD_k = phi_k - phi_(k-1) - phi_1 = 2 alpha (k - 1) (+ pi for k >= 2 when flipped) at
    k F0, 0 below F0, unwrapped along k and interpolated linearly onto the 1024-point DFT
    bins; a slot is the circular mean of its bins.
    """
    k = np.arange(1, 60)
    pd_k = np.unwrap(2 * alpha * (k - 1) + np.where(flip & (k >= 2), np.pi, 0.0))
    f = np.arange(512) * SR / 1024
    pd_bins = np.where(f < F0_H, 0.0, np.interp(f / F0_H, k, pd_k))
    slots = _log_slots(512, 25, 8)
    return np.array([np.angle(np.mean(np.exp(1j * pd_bins[slots == s])))
                     for s in range(1, 26)])


@pytest.mark.parametrize("alpha", [0.0, 0.03])
def test_hmpdm_of_known_harmonic_phases(hmpd_runs, alpha):
    # the polarity detector may flip the waveform, which adds pi to PD_k for k >= 2
    got = hmpd_runs[(alpha, 0.0)][PDM].median().to_numpy()
    errs = [np.abs(np.angle(np.exp(1j * (got - _expected_hmpdm(alpha, flip)))))[:15]
            for flip in (False, True)]
    assert min(e.max() for e in errs) < 0.1, errs  # rad, slots up to ~2 kHz


@pytest.fixture(scope="module")
def oq_vowels() -> dict[tuple[float, float], pd.DataFrame]:
    return {(f0, oq): clinical_descriptors(vowel(f0, oq=oq)).query("VUV > 0")
            for f0 in (100.0, 200.0) for oq in (0.4, 0.6, 0.8)}


def test_mdq_and_peak_slope_follow_laxness(oq_vowels):
    # Rosenberg pulses with a larger open quotient also close more slowly (closing = OQ / 3
    # of the period): a laxer, breathier source. Kane & Gobl 2013: MDQ (dispersion of the
    # wavelet maxima around the GCI) grows; Kane & Gobl 2011 / COVAREP peakslope (log10
    # band maxima regressed from 125 Hz to 8 kHz): a steeper spectral tilt gives a MORE
    # negative slope for the laxer voice.
    for f0 in (100.0, 200.0):
        mdq = [oq_vowels[(f0, oq)]["MDQ"].median() for oq in (0.4, 0.6, 0.8)]
        ps = [oq_vowels[(f0, oq)]["peakSlope"].median() for oq in (0.4, 0.6, 0.8)]
        assert mdq[0] + 0.01 < mdq[1] < mdq[2], (f0, mdq)
        assert ps[0] - 0.01 > ps[1] > ps[2], (f0, ps)
        assert -1.0 < ps[2] < ps[0] < 0.0


@pytest.mark.parametrize("f0", [70.0, 80.0, 90.0])
def test_low_modal_voice_is_not_creaky(f0):
    c = clinical_descriptors(vowel(f0, oq=0.6))["creak"]
    assert (c > 0.5).mean() < 0.05  # frames called creaky (threshold 0.5)


def test_creaky_voice_is_creaky():
    for seed in (0, 1):
        c = clinical_descriptors(creaky(seed=seed))["creak"]
        assert (c > 0.5).mean() > 0.5


def whisper(dur: float = 1.5, seed: int = 0) -> np.ndarray:
    """Noise-excited vowel: white noise through the same five formant resonators."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(int(dur * SR))
    for f, bw in VOWEL_A:
        r = np.exp(-np.pi * bw / SR)
        a = [1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r]
        y = signal.lfilter([sum(a)], a, y)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def test_whisper_noise_silence_short_raise_with_reason():
    rng = np.random.default_rng(1)
    with pytest.raises(FeatureError, match="voiced"):
        clinical_descriptors(whisper())
    with pytest.raises(FeatureError, match="voiced"):
        clinical_descriptors((0.1 * rng.standard_normal(2 * SR)).astype(np.float32))
    with pytest.raises(FeatureError, match="silent"):
        clinical_descriptors(np.zeros(SR, dtype=np.float32))
    for dur in (0.05, 0.25):  # a clean vowel, but shorter than 0.3 s
        with pytest.raises(FeatureError, match="too short"):
            clinical_descriptors(vowel(120.0, dur))
    # the feature set raises the same error
    with pytest.raises(FeatureError, match="too short"):
        get_feature_set("clinical").process_signal(vowel(120.0, 0.25), SR)


def test_few_valid_frames_give_nan_statistics():
    # unit level: 9 valid frames -> all ten statistics NaN; 10 -> computed
    t = np.arange(50) * 0.01
    a = np.full(50, np.nan)
    a[:MIN_VALID_FRAMES - 1] = np.arange(MIN_VALID_FRAMES - 1)
    b = np.full(50, np.nan)
    b[:MIN_VALID_FRAMES] = np.arange(MIN_VALID_FRAMES)
    s = clinical_statistics(pd.DataFrame({"a": a, "b": b}, index=t))
    assert s.filter(like="a_").isna().all() and s.filter(like="b_").notna().all()
    # end to end: 60 ms of vowel in 2 s of faint noise, accepted with a low voicing gate
    # (voicing is dilated by one frame as COVAREP's, so 60 ms give fewer than 10 frames)
    rng = np.random.default_rng(2)
    y = (1e-3 * rng.standard_normal(2 * SR)).astype(np.float32)
    y[SR : SR + int(0.06 * SR)] += vowel(120.0, 0.06)
    fs = get_feature_set("clinical", min_voiced_frames=5)
    v = pd.Series(fs.process_signal(y, SR), index=fs.names())
    df = clinical_descriptors(y, min_voiced_frames=5)
    n_valid = df.notna().sum()
    for d in descriptor_names():
        stats = v[[f"{d}_{st}" for st in ("max", "min", "median", "mean", "slope")]]
        if n_valid[d] < MIN_VALID_FRAMES:
            assert stats.isna().all(), d
        else:
            assert stats.notna().all(), d
    # voiced-only descriptors exist on the few voiced frames: NaN statistics; those
    # defined on every frame (MCEP, VUV) keep theirs
    assert 5 <= n_valid["F0"] < MIN_VALID_FRAMES
    glottal = ["F0", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "Rd", "Rd_conf", "HMPDM_3", "F1"]
    assert v[[f"{d}_{st}" for d in glottal for st in ("mean", "var", "R2")]].isna().all()
    assert v[["MCEP_0_mean", "VUV_mean"]].notna().all()
