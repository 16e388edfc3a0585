"""Known-answer tests of the clinical descriptors and statistics (synthetic audio only)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import signal, stats

from vocalmind.errors import FeatureError
from vocalmind.features.base import get_feature_set
from vocalmind.features.clinical import (
    clinical_descriptors,
    clinical_statistics,
    descriptor_names,
    mcep,
    mfcc,
    rd,
    sins,
)
from vocalmind.features.clinical import f0 as srh
from vocalmind.features.clinical.dsp import frames_at, matlab_round

from .conftest import SR, VOWEL_A, creaky, vowel


@pytest.fixture(scope="module")
def vowels() -> dict[tuple[float, float], pd.DataFrame]:
    return {(f0, oq): clinical_descriptors(vowel(f0, oq=oq))
            for f0 in (100.0, 220.0) for oq in (0.4, 0.8)}


def test_names_and_registry():
    names = descriptor_names()
    assert len(names) == 120 and len(set(names)) == 120
    assert names[:11] == ["F0", "VUV", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "peakSlope", "Rd",
                          "Rd_conf", "creak"]
    assert names[11] == "MCEP_0" and names[73] == "HMPDD_12" and names[-1] == "Peak2RMS"
    fs = get_feature_set("clinical")
    assert len(fs.names()) == 1200 and len(set(fs.names())) == 1200
    assert {"MCEP_0_skew", "HMPDD_8_R2", "F0_mean", "creak_var"} <= set(fs.names())


def test_statistics_hand_computed():
    t = np.arange(6) * 0.01
    a = np.array([1.0, np.nan, 3.0, 2.0, np.nan, 10.0])
    line = 2.0 * t + 1.0  # exact line: slope 2 /s, intercept 1, R2 1
    df = pd.DataFrame({"a": a, "b": line, "c": np.full(6, np.nan)}, index=t)
    s = clinical_statistics(df, min_valid=1)
    v = a[np.isfinite(a)]
    assert s["a_max"] == 10 and s["a_min"] == 1 and s["a_median"] == 2.5 and s["a_mean"] == 4
    assert s["a_var"] == pytest.approx(np.var(v, ddof=1), rel=1e-12)
    assert s["a_skew"] == pytest.approx(stats.skew(v), rel=1e-9)
    assert s["a_kurt"] == pytest.approx(stats.kurtosis(v), rel=1e-9)
    fit = stats.linregress(t[np.isfinite(a)], v)
    assert s["a_slope"] == pytest.approx(fit.slope, rel=1e-9)
    assert s["a_intercept"] == pytest.approx(fit.intercept, rel=1e-9)
    assert s["a_R2"] == pytest.approx(fit.rvalue**2, rel=1e-9)
    assert s["b_slope"] == pytest.approx(2.0) and s["b_intercept"] == pytest.approx(1.0)
    assert s["b_R2"] == pytest.approx(1.0)
    assert s.filter(like="c_").isna().all()  # no valid frame -> every statistic NaN
    assert len(s) == 30


@pytest.mark.parametrize("f0", [100.0, 220.0])
def test_f0_within_2_percent(vowels, f0):
    df = vowels[(f0, 0.4)]
    assert df["VUV"].mean() > 0.9
    assert abs(df["F0"].median() / f0 - 1) < 0.02  # tolerance: 2 %


def _srh_by_the_formula(res: np.ndarray, centres: np.ndarray, f_lo: int, f_hi: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """COVAREP pitch_srh's SRH written out: full fs-point spectra, MATLAB's 1-based
    indices, a zero-filled matrix whose first maximum gives F0."""
    half = 799
    fr = frames_at(res, centres, half) * np.blackman(2 * half)
    fr -= fr.mean(axis=1, keepdims=True)
    spec = np.abs(np.fft.fft(fr, SR, axis=1))[:, : SR // 2]
    spec /= np.sqrt((spec**2).sum(axis=1, keepdims=True))
    mat = np.zeros((len(centres), f_hi))  # SRHmat(1:f0max, :)
    for f in range(f_lo, f_hi + 1):
        plus = sum(spec[:, k * f - 1] for k in range(1, 6))
        minus = sum(spec[:, int(matlab_round((k + 0.5) * f)) - 1] for k in range(1, 5))
        mat[:, f - 1] = plus - minus
    return np.argmax(mat, axis=1) + 1.0, mat.max(axis=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_srh_is_covarep_formula(seed):
    # residual-like pulses at 136.75 Hz plus faint noise, and loud noise (where every
    # candidate can be negative: F0 1 Hz, value 0)
    rng = np.random.default_rng(seed)
    n = SR
    pulses = np.zeros(n)
    pulses[:: round(SR / 137)] = 1.0
    res = pulses + (0.02 if seed == 0 else 30.0) * rng.standard_normal(n)
    centres = srh.srh_centres(n)
    E = srh.srh_spectra(res, centres)
    for lo, hi in ((50, 500), (68, 274)):
        f0, val = srh.srh_search(E, lo, hi)
        f_ref, v_ref = _srh_by_the_formula(res, centres, lo, hi)
        assert np.all(f0 == np.round(f0))  # whole Hz, as COVAREP
        close = np.abs(v_ref - val) < 1e-5
        assert close.all(), (v_ref - val)[~close]
        # the same candidate except where two are tied to float32 rounding
        assert np.mean(f0 == f_ref) > 0.95, (f0, f_ref)
    if seed == 0:
        assert 136 <= np.median(srh.srh_search(E, 50, 500)[0]) <= 139  # 16000 / 117 Hz


def test_srh_without_a_positive_candidate_is_1_hz_and_0():
    # COVAREP's SRH matrix is zero below f0min: when no candidate is positive its first
    # row (1 Hz) is the maximum, with value 0 (then unvoiced)
    E = np.zeros((3, 2500), dtype=np.float32)
    E[1, 300:] = 1.0  # subtracted bins outweigh the added ones for low candidates only
    f0, val = srh.srh_search(E, 50, 500)
    assert f0[0] == 1.0 and val[0] == 0.0 and f0[2] == 1.0
    f_ref = np.argmax(np.stack([_srh_row(E[1], f) for f in range(50, 501)])) + 50
    assert f0[1] == f_ref and val[1] > 0


def _srh_row(e: np.ndarray, f: int) -> float:
    return (sum(e[k * f - 1] for k in range(1, 6))
            - sum(e[int(matlab_round((k + 0.5) * f)) - 1] for k in range(1, 5)))


def test_srh_range_rounds_as_matlab():
    # a median of 173 Hz: half is 86.5, which MATLAB rounds up (Python to even)
    assert srh.srh_range(np.full(9, 173.0), np.full(9, 0.5)) == (87.0, 346.0)


def test_matlab_round_halves_away_from_zero():
    assert matlab_round(np.array([0.5, 1.5, 2.5, -0.5])).tolist() == [1.0, 2.0, 3.0, -1.0]


def test_naq_qoq_match_rosenberg_analytics(vowels):
    # Rosenberg pulse, opening:closing = 2:1, Tn = OQ T0 / 3:
    # NAQ = 2 Tn / (pi T0), QOQ = (Tp / 2 + 2 Tn / 3) / T0
    for (f0, oq), df in vowels.items():
        tn = oq / 3
        naq, qoq = 2 * tn / np.pi, oq / 3 + 2 * tn / 3
        assert df["NAQ"].median() == pytest.approx(naq, rel=0.15), (f0, oq)  # 15 %
        assert df["QOQ"].median() == pytest.approx(qoq, abs=0.08), (f0, oq)  # 0.08 abs


def test_h1h2_rd_psp_grow_with_open_quotient(vowels):
    for f0 in (100.0, 220.0):
        lo, hi = vowels[(f0, 0.4)].median(), vowels[(f0, 0.8)].median()
        assert hi["H1H2"] > lo["H1H2"] + 5  # dB: a longer open phase boosts H1
        assert hi["Rd"] > lo["Rd"] and hi["PSP"] > lo["PSP"]


def test_formants_within_10_percent(vowels):
    df = vowels[(100.0, 0.4)]
    for i, (f, _) in enumerate(VOWEL_A[:3]):
        assert df[f"F{i + 1}"].median() == pytest.approx(f, rel=0.10)


def test_creak_detected_on_creaky_not_on_modal(vowels):
    assert clinical_descriptors(creaky())["creak"].mean() > 0.5
    assert vowels[(100.0, 0.4)]["creak"].mean() < 0.1
    assert vowels[(220.0, 0.8)]["creak"].mean() < 0.1


def test_rd_msp_recovers_lf_rd():
    # harmonics of an LF pulse of known Rd (analytic spectrum) through a minimum-phase
    # resonance: the mean-squared-phase search finds that Rd with high confidence. The
    # pulse is time-reversed (conjugate spectrum): COVAREP's rd_msp conjugates the
    # frame's spectrum (see rd.py), so that is the shape its MSP criterion matches
    sr, f0 = SR, 125.0
    t = np.arange(int(0.5 * sr)) / sr
    c = np.arange(2000, 6000, 160)
    for rd_true in (0.5, 1.0, 1.5, 2.2):
        k = np.arange(1, int(sr / 2 / f0))
        g = rd.lf_spectrum(k, *rd.rd_to_tetpta(rd_true))
        y = sum(np.abs(gk) * np.cos(2 * np.pi * kk * f0 * t - np.angle(gk))
                for kk, gk in zip(k, g, strict=True))
        y = signal.lfilter([1.0], [1.0, -1.3, 0.8], y)
        harm, freq = sins.harmonics(y, c, np.full(len(c), f0), sr=sr)
        # the peak picking finds every harmonic at its frequency
        assert np.abs(freq[:, :20] - f0 * np.arange(1, 21)).max() < 1.0
        est, conf = rd.rd_msp(harm, np.full(len(c), f0), sr=sr)
        assert np.all(np.abs(est - rd_true) < 0.02), (rd_true, est)  # fminbnd TolX 0.01
        assert np.all(conf > 0.95)


def test_mcep_reconstructs_envelope():
    # smooth all-pole envelope: the warped cepstrum must give it back within 1 dB RMS
    w, h = signal.freqz([1.0], np.poly([0.95 * np.exp(1j * 0.3), 0.95 * np.exp(-1j * 0.3),
                                       0.9 * np.exp(1j * 1.5), 0.9 * np.exp(-1j * 1.5)]),
                        worN=513)
    log_env = np.log(np.abs(h))[None, :]
    c = mcep.mcep_covarep(log_env)
    assert c.shape == (1, 25)
    rec = mcep.mcep_to_log_envelope(c, 513)
    err_db = 20 / np.log(10) * (rec - log_env)
    assert np.sqrt(np.mean(err_db**2)) < 1.0


def test_mfcc_matches_librosa():
    librosa = pytest.importorskip("librosa")
    y = vowel(150.0, 0.5)
    ref = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20, n_fft=320, hop_length=160, n_mels=40)
    assert np.allclose(mfcc.mfcc(y), ref, atol=1e-3)


def test_unvoiced_noise_and_short_signals_raise():
    rng = np.random.default_rng(0)
    with pytest.raises(FeatureError, match="voiced"):
        clinical_descriptors((0.1 * rng.standard_normal(2 * SR)).astype(np.float32))
    with pytest.raises(FeatureError):
        clinical_descriptors(vowel(120.0, 0.05))
    with pytest.raises(FeatureError):
        clinical_descriptors(np.zeros((2, 100), dtype=np.float32))


def test_process_signal_and_resampling(vowels):
    y = vowel(150.0, 1.0)
    fs = get_feature_set("clinical")
    v = fs.process_signal(y, SR)
    assert v.shape == (1200,) and v.dtype == np.float64
    assert np.isfinite(v).mean() > 0.95
    y8 = signal.resample_poly(y, 1, 2).astype(np.float32)
    df8 = clinical_descriptors(y8, sr=8000)
    assert abs(df8["F0"].median() / 150 - 1) < 0.02
    assert list(df8.columns) == descriptor_names()
    assert np.allclose(np.diff(df8.index), 0.01)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_f0_and_formants_agree_with_praat(tmp_path):
    parselmouth = pytest.importorskip("parselmouth")
    import soundfile as sf

    wav = tmp_path / "a.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-p", "50", "-s", "90", "-w", str(wav),
                    "aaaah"], check=True, capture_output=True)
    y, sr = sf.read(wav, dtype="float32")
    df = clinical_descriptors(y, sr=sr)
    snd = parselmouth.Sound(y.astype(np.float64), sampling_frequency=sr)
    pitch = snd.to_pitch(time_step=0.01, pitch_floor=50.0, pitch_ceiling=500.0)
    praat_f0 = np.array([pitch.get_value_at_time(t) for t in df.index])
    both = np.isfinite(praat_f0) & np.isfinite(df["F0"].to_numpy())
    assert both.sum() > 20
    rel = np.abs(df["F0"].to_numpy()[both] / praat_f0[both] - 1)
    assert np.median(rel) < 0.02  # frame-wise agreement: median error below 2 %
    fm = snd.to_formant_burg(time_step=0.01, max_number_of_formants=5, maximum_formant=5500)
    ts = df.index[df["VUV"] > 0]
    for i in (1, 2):
        praat = np.nanmedian([fm.get_value_at_time(i, t) for t in ts])
        assert df[f"F{i}"].median() == pytest.approx(praat, rel=0.15)  # 15 %
