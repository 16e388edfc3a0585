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


def _package_functionals(fs: object, y: np.ndarray) -> np.ndarray:
    """The opensmile package's whole-signal functionals of ``y`` (16 kHz), clipped as vocalmind does."""
    from vocalmind.features import opensmile_sets as oss

    return oss._smile(fs._config).process_signal(  # type: ignore[attr-defined]
        np.clip(y, -1.0, 32767 / 32768), 16_000).to_numpy(dtype=np.float64).reshape(-1)


@pytest.mark.parametrize("name", ["egemaps", "compare", "is09"])
def test_long_recordings_are_streamed_with_identical_functionals(name: str) -> None:
    """Over STREAM_ABOVE_S seconds the signal is streamed and the functionals computed in two
    openSMILE passes; they equal those of the package's whole-signal path, bit for bit."""
    from vocalmind.features import opensmile_sets as oss

    sr = 16_000
    t = np.arange(int((oss.STREAM_ABOVE_S + 5.5) * sr)) / sr
    f0 = 130 + 40 * np.sin(2 * np.pi * 0.25 * t)
    y = (0.3 * np.sin(2 * np.pi * np.cumsum(f0) / sr) * (np.sin(2 * np.pi * 1.5 * t) > -0.2)
         + 0.01 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)
    fs = get_feature_set(name)
    assert oss._split(oss._smile(fs._config).config_path, "func") is not None  # the two-pass path
    streamed = fs.process_signal(y, sr)  # longer than the threshold
    whole = _package_functionals(fs, y)
    assert streamed.shape == whole.shape == (len(fs.names()),)
    assert np.array_equal(streamed, whole, equal_nan=True)


def test_two_passes_equal_the_package_on_silence_clipping_and_a_voiced_tone() -> None:
    """eGeMAPS on 63 s of digital silence, a clipped voiced tone (beyond full scale), noise
    and a quiet voiced tone: the two-pass functionals are the package's, bit for bit, and the
    caller's signal is not clipped in place."""
    from vocalmind.features import opensmile_sets as oss

    sr = 16_000
    t = np.arange(int((oss.STREAM_ABOVE_S + 3.0) * sr)) / sr
    f0 = 110 + 30 * np.sin(2 * np.pi * 0.2 * t)
    tone = np.sin(2 * np.pi * np.cumsum(f0) / sr)
    y = np.zeros(t.size, np.float32)  # silence where nothing else is set
    part = (t >= 5) & (t < 20)
    y[part] = 1.6 * tone[part]  # clipped
    part = (t >= 25) & (t < 35)
    y[part] = 0.05 * np.random.default_rng(3).standard_normal(part.sum())
    part = t >= 40
    y[part] = 0.2 * tone[part] * (np.sin(2 * np.pi * 0.7 * t[part]) > -0.3)
    assert y.max() > 1.0 and y.min() < -1.0 and (y == 0).sum() > 5 * sr
    fs = get_feature_set("egemaps")
    before = y.copy()
    streamed = fs.process_signal(y, sr)
    assert np.array_equal(y, before)
    assert np.array_equal(streamed, _package_functionals(fs, y), equal_nan=True)


def test_egemaps_is_cut_where_its_functionals_begin() -> None:
    """The first pass holds the low-level descriptors only, with a sink where each group of
    functionals read; it hands over the seven smoothed levels the 88 functionals read (two of
    them side by side, as one functional reads them); the row is the final concat's inputs;
    second-pass groups share no level but the handed-over ones."""
    from vocalmind.features import opensmile_sets as oss

    split = oss._split(oss._smile("eGeMAPSv02").config_path, "func")
    assert split is not None
    components = [c for c in split.first if isinstance(c, oss._Component)]
    assert not any("frameModeFunctionalsConf" in line for c in components for line in c.lines)
    assert sorted(c for c in split.first if isinstance(c, int)) == list(range(len(split.feeds)))
    assert {lv for feed in split.feeds for lv in feed} == {
        "gemapsv01b_lld_single_logF0_smo", "gemapsv01b_loudness_smo", "egemapsv02_energyRMS",
        "egemapsv02_lldSetNoF0AndLoudnessZ_smo", "egemapsv02_lldSetNoF0AndLoudnessNz_smo",
        "egemapsv02_lldSetSpectralNz_smo", "egemapsv02_lldSetSpectralZ_smo"}
    assert ("egemapsv02_lldSetNoF0AndLoudnessNz_smo", "egemapsv02_lldSetSpectralNz_smo") in split.feeds
    assert split.outputs[0] == "gemapsv01b_functionalsF0" and len(split.outputs) == 7
    fed = {lv for feed in split.feeds for lv in feed}
    touched = [{lv for c in g for lv in c.reads + c.writes} - fed for g in split.groups]
    for i, levels in enumerate(touched):
        assert not any(levels & other for j, other in enumerate(touched) if j != i)


def test_sink_blocks_leave_the_last_block_half_full() -> None:
    """The first pass's sinks read blocks of 2,000-4,000 frames chosen so that the frames
    left at the end of input (10 ms frames) fill about half a block."""
    from vocalmind.features import opensmile_sets as oss

    sr = 16_000
    for seconds in (61.0, 600.0, 3600.0, 3600.5, 7200.0):
        frames = int(np.ceil(seconds * 100))
        block = oss._sink_block(int(seconds * sr), sr)
        assert oss._SINK_BLOCK_MIN <= block < 2 * oss._SINK_BLOCK_MIN
        assert abs(frames % block - block / 2) <= 50
    assert oss._sink_block(int(3.0 * sr), sr) == 2 * 300 + oss._SINK_BLOCK_MIN  # all in one read


@pytest.mark.parametrize("name", ["egemaps", "is09"])
def test_two_passes_read_what_the_functionals_read_at_the_end_of_input(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """openSMILE's whole-recording functionals read the frames there are when first ticked
    at the end of input (frames flushed later are left out): on short signals, where the
    end-of-input flush is much of the data, and on lengths around 1 and 2 s, the two-pass
    values are still the package's, bit for bit; too short a signal raises FeatureError."""
    from vocalmind.features import opensmile_sets as oss

    monkeypatch.setattr(oss, "STREAM_ABOVE_S", 0.0)  # every signal takes the two-pass path
    fs = get_feature_set(name)
    with pytest.raises(FeatureError, match="too short"):
        fs.process_signal(np.zeros(300, np.float32), 16_000)
    rng = np.random.default_rng(5)
    for n in (1200, 1600, 2000, 16_160, 16_268, 32_576, 33_080):
        y = (0.1 * np.sin(2 * np.pi * 200 * np.arange(n) / 16_000)
             + 0.01 * rng.standard_normal(n)).astype(np.float32)
        assert np.array_equal(fs.process_signal(y, 16_000), _package_functionals(fs, y),
                              equal_nan=True), n


def test_config_without_the_functionals_include_streams_in_one_pass(tmp_path: Path) -> None:
    """A custom configuration whose functionals set their frame mode inline does not cut in
    two; it is streamed whole, with the package's values."""
    import opensmile

    from vocalmind.features import opensmile_sets as oss

    lld = Path(opensmile.__file__).parent / "core" / "config" / "is09-13" / "IS09_emotion_core.lld.conf.inc"
    conf = tmp_path / "means.conf"
    conf.write_text(
        "[componentInstances:cComponentManager]\ninstance[dataMemory].type=cDataMemory\n"
        "\\{\\cm[source{?}:include external source]}\n"
        f"\\{{{lld}}}\n"
        "[componentInstances:cComponentManager]\ninstance[means].type=cFunctionals\n"
        "[means:cFunctionals]\nreader.dmLevel = is09_lld\nwriter.dmLevel = func\n"
        "copyInputName = 1\nframeMode = full\nframeSize = 0\nframeStep = 0\n"
        "functionalsEnabled = Means\nMeans.amean = 1\n"
        "\\{\\cm[sink{?}:include external sink]}\n")
    fs = get_feature_set("opensmile", config=str(conf))
    assert oss._split(oss._smile(fs._config).config_path, "func") is None
    sr = 16_000
    t = np.arange(int((oss.STREAM_ABOVE_S + 1.5) * sr)) / sr
    y = (0.2 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float32)
    out = fs.process_signal(y, sr)
    assert out.shape == (len(fs.names()),) and np.isfinite(out).all()
    assert np.array_equal(out, _package_functionals(fs, y), equal_nan=True)
