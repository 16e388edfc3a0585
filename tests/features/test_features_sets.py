"""openSMILE and log-mel feature sets: counts, names, finiteness, pickling, edge cases."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from vocalmind.audio import load
from vocalmind.errors import ConfigError, FeatureError
from vocalmind.features.base import available_feature_sets, get_feature_set
from vocalmind.features.logmel import LogMelFunctionals, logmel


@pytest.fixture(scope="module")
def speech(speech_files: list[Path]) -> np.ndarray:
    return load(speech_files[0], sr=16_000)


def test_builtin_sets_are_registered() -> None:
    assert {"egemaps", "compare", "is09", "logmel", "opensmile"} <= set(available_feature_sets())


@pytest.mark.parametrize(("name", "n"), [("egemaps", 88), ("compare", 6373), ("is09", 384)])
def test_opensmile_set_gives_named_finite_features_on_speech(name: str, n: int, speech: np.ndarray) -> None:
    fs = get_feature_set(name)
    names = fs.names()
    assert len(names) == n and len(set(names)) == n
    out = fs.process_signal(speech, 16_000)
    assert out.shape == (n,) and out.dtype == np.float64
    assert np.isfinite(out).all()
    assert np.ptp(out) > 0  # not a constant fill


def test_egemaps_names_and_pitch_reflect_the_signal(speech_files: list[Path]) -> None:
    fs = get_feature_set("egemaps")
    names = fs.names()
    assert "F0semitoneFrom27.5Hz_sma3nz_amean" in names
    col = names.index("F0semitoneFrom27.5Hz_sma3nz_amean")
    # utt0 is spoken at espeak pitch 65, utt1 at 35: the mean F0 must be higher for utt0
    hi = fs.process_signal(load(speech_files[0]), 16_000)[col]
    lo = fs.process_signal(load(speech_files[1]), 16_000)[col]
    assert hi > lo + 1.0  # semitones


def test_is09_has_16_llds_with_deltas_times_12_functionals() -> None:
    names = get_feature_set("is09").names()
    llds = {n.rsplit("_", 1)[0] for n in names}
    functionals = {n.rsplit("_", 1)[1] for n in names}
    assert len(llds) == 32 and len(functionals) == 12  # (16 LLDs + 16 deltas) x 12
    assert sum("_de" in n for n in llds) == 16
    assert {"F0_sma", "pcm_zcr_sma", "voiceProb_sma", "pcm_RMSenergy_sma", "pcm_fftMag_mfcc_sma[12]"} <= llds
    assert {"max", "min", "range", "maxPos", "minPos", "amean", "linregc1", "linregc2",
            "linregerrQ", "stddev", "skewness", "kurtosis"} == functionals


def test_custom_config_path_runs(speech: np.ndarray) -> None:
    import opensmile

    conf = Path(opensmile.__file__).parent / "core" / "config" / "is09-13" / "IS09_emotion.conf"
    custom = get_feature_set("opensmile", config=str(conf))
    builtin = get_feature_set("is09")
    assert custom.names() == builtin.names()
    np.testing.assert_allclose(custom.process_signal(speech, 16_000), builtin.process_signal(speech, 16_000))
    assert "config_sha256" in custom.settings()


def test_unknown_config_is_rejected() -> None:
    with pytest.raises(ConfigError, match="neither a built-in set"):
        get_feature_set("opensmile", config="/no/such.conf")


def test_sets_pickle_without_the_smile_object(speech: np.ndarray) -> None:
    fs = get_feature_set("egemaps")
    fs.names()  # builds the per-process extractor
    clone = pickle.loads(pickle.dumps(fs))
    assert len(pickle.dumps(fs)) < 2_000
    np.testing.assert_array_equal(clone.process_signal(speech, 16_000), fs.process_signal(speech, 16_000))


def test_opensmile_rejects_wrong_rate_and_too_short_signals() -> None:
    fs = get_feature_set("egemaps")
    with pytest.raises(FeatureError, match="16000 Hz"):
        fs.process_signal(np.zeros(8000, np.float32), 8000)
    with pytest.raises(FeatureError):
        fs.process_signal(np.zeros(0, np.float32), 16_000)


def test_full_scale_samples_do_not_wrap() -> None:
    # +1.0 would become -32768 in openSMILE's int16 conversion without clipping
    fs = get_feature_set("egemaps")
    t = np.arange(16_000) / 16_000
    y = np.sign(np.sin(2 * np.pi * 200 * t)).astype(np.float32)  # square wave at +-1.0
    y_safe = np.clip(y, -1.0, 32767 / 32768).astype(np.float32)
    np.testing.assert_allclose(fs.process_signal(y, 16_000), fs.process_signal(y_safe, 16_000))


def test_logmel_shape_and_tone_band() -> None:
    import librosa

    t = np.arange(16_000) / 16_000
    y = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    S = logmel(y, n_mels=64)
    assert S.shape == (64, 101) and S.dtype == np.float32
    centres = librosa.mel_frequencies(n_mels=64 + 2, fmin=0, fmax=8000)[1:-1]
    assert abs(centres[int(np.argmax(S.mean(axis=1)))] - 1000) < 100
    assert S.min() >= -100.0 - 1e-4


def test_logmel_matches_a_direct_computation() -> None:
    import librosa

    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    spec = np.abs(librosa.stft(y, n_fft=400, hop_length=160, window="hann", center=True)) ** 2
    mel = librosa.filters.mel(sr=16_000, n_fft=400, n_mels=40) @ spec
    np.testing.assert_allclose(logmel(y, n_mels=40), 10 * np.log10(np.maximum(mel, 1e-10)), atol=1e-3)


def test_logmel_functionals_names_and_values() -> None:
    rng = np.random.default_rng(1)
    y = (0.1 * rng.standard_normal(16_000)).astype(np.float32)
    fs = LogMelFunctionals(n_mels=32, deltas=True)
    names = fs.names()
    out = fs.process_signal(y, 16_000)
    assert len(names) == out.shape[0] == 128
    S = logmel(y, n_mels=32).astype(np.float64)
    np.testing.assert_allclose(out[:32], S.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(out[32:64], S.std(axis=1), rtol=1e-5)
    assert names[0] == "logmel000_mean" and names[-1] == "logmel031_delta_std"
    assert LogMelFunctionals(n_mels=32).process_signal(y, 16_000).shape == (64,)


@pytest.mark.filterwarnings("ignore:n_fft=400 is too large")
def test_logmel_validates_parameters() -> None:
    with pytest.raises(FeatureError, match="fmax"):
        LogMelFunctionals(fmax=9000)
    with pytest.raises(FeatureError, match="too short for deltas"):
        LogMelFunctionals(deltas=True).process_signal(np.zeros(100, np.float32), 16_000)


@pytest.mark.parametrize("name", ["egemaps", "compare"])
def test_long_recordings_are_streamed_with_identical_functionals(name: str) -> None:
    """Over STREAM_ABOVE_S seconds the signal is streamed through a ring buffer; the
    functionals equal those of the package's whole-signal path, bit for bit."""
    from vocalmind.features import opensmile_sets as oss

    sr = 16_000
    t = np.arange(int((oss.STREAM_ABOVE_S + 5.5) * sr)) / sr
    f0 = 130 + 40 * np.sin(2 * np.pi * 0.25 * t)
    y = (0.3 * np.sin(2 * np.pi * np.cumsum(f0) / sr) * (np.sin(2 * np.pi * 1.5 * t) > -0.2)
         + 0.01 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)
    fs = get_feature_set(name)
    streamed = fs.process_signal(y, sr)  # the streamed path (longer than the threshold)
    whole = oss._smile(fs._config).process_signal(
        np.clip(y, -1.0, 32767 / 32768), sr).to_numpy(dtype=np.float64).reshape(-1)
    assert streamed.shape == whole.shape == (len(fs.names()),)
    assert np.array_equal(streamed, whole, equal_nan=True)


def test_streamed_path_clips_full_scale_samples_block_by_block() -> None:
    """The streamed path clips each block itself (no whole-signal copy): samples at and
    beyond full scale give the functionals of the package path on the clipped signal."""
    from vocalmind.features import opensmile_sets as oss

    sr = 16_000
    t = np.arange(int((oss.STREAM_ABOVE_S + 2.25) * sr)) / sr
    y = (1.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float32)
    assert y.max() > 1.0 and y.min() < -1.0
    fs = get_feature_set("egemaps")
    before = y.copy()
    streamed = fs.process_signal(y, sr)
    assert np.array_equal(y, before)  # the caller's signal is not clipped in place
    whole = oss._smile(fs._config).process_signal(
        np.clip(y, -1.0, 32767 / 32768), sr).to_numpy(dtype=np.float64).reshape(-1)
    assert np.array_equal(streamed, whole, equal_nan=True)


def test_functionals_levels_are_sized_for_the_whole_recording() -> None:
    """The include handed to openSMILE as bufferModeConf holds every 10 ms frame of the
    recording (no doubling while it fills), in one-minute steps."""
    from vocalmind.features import opensmile_sets as oss

    sr = 16_000
    for seconds in (61.0, 600.0, 3600.0):
        text = Path(oss._full_levels(int(seconds * sr), sr)).read_text()
        conf = dict(line.split(" = ") for line in text.splitlines())
        n = int(conf["writer.levelconf.nT"])
        assert seconds * 100 < n <= seconds * 100 + 10 + oss._LEVEL_QUANTUM
        assert n % oss._LEVEL_QUANTUM == 0
        assert conf["writer.levelconf.isRb"] == "0" and conf["writer.levelconf.growDyn"] == "1"
    assert oss._full_levels(600 * sr, sr) == oss._full_levels(600 * sr - 5, sr)  # one file per size
