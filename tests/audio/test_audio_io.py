"""vocalmind.audio.io: info() and load() on every format and every bad input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _audio_synth import SR, peak_freq, sine

from vocalmind.audio import AudioInfo, TruncatedAudioWarning, info, load
from vocalmind.errors import AudioError

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def ffmpeg(src: Path, dst: Path, *args: str) -> Path:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *args, str(dst)], check=True
    )
    return dst


def test_wav_16k_loads_as_float32_mono(write_wav):
    y0 = sine(440, 1.0, SR)
    path = write_wav("a.wav", y0, SR, subtype="PCM_16")
    meta = info(path)
    assert meta == AudioInfo(str(path), 1.0, SR, 1, SR, "WAV")
    y = load(path)
    assert y.dtype == np.float32 and y.shape == (SR,)
    assert np.max(np.abs(y - y0)) < 1e-4  # 16-bit quantisation only


@pytest.mark.parametrize("native", [8000, 44100, 96000])
def test_resampled_sine_keeps_its_frequency_and_length(write_wav, native):
    path = write_wav(f"s{native}.wav", sine(1000, 2.0, native), native, subtype="FLOAT")
    y = load(path, sr=SR)
    assert y.dtype == np.float32
    assert abs(len(y) - 2 * SR) <= 1
    assert peak_freq(y, SR) == pytest.approx(1000, abs=1.0)
    # amplitude survives resampling (soxr passband is flat)
    assert np.max(np.abs(y[SR // 2 : -SR // 2])) == pytest.approx(0.5, abs=0.01)


def test_sr_none_keeps_native_rate(write_wav):
    path = write_wav("n.wav", sine(300, 0.5, 22050), 22050)
    assert load(path, sr=None).shape == (11025,)


def test_stereo_downmix_and_channels(write_wav):
    left, right = sine(500, 1.0, 44100, 0.8), np.zeros(44100, np.float32)
    path = write_wav("st.wav", np.stack([left, right]), 44100, subtype="FLOAT")
    assert info(path).channels == 2
    mono = load(path, sr=SR)
    both = load(path, sr=SR, mono=False)
    assert mono.shape == (SR,) and both.shape == (2, SR)
    assert np.max(np.abs(mono)) == pytest.approx(0.4, abs=0.01)  # (L + R) / 2
    assert np.max(np.abs(both[1])) < 1e-6
    assert np.allclose(mono, both.mean(axis=0), atol=1e-6)


def test_mono_false_on_mono_file_is_2d(write_wav):
    path = write_wav("m.wav", sine(500, 0.5, SR), SR)
    assert load(path, mono=False).shape == (1, SR // 2)


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix"),
    [("FLAC", "PCM_16", ".flac"), ("OGG", "VORBIS", ".ogg"), ("AIFF", "PCM_16", ".aiff")],
)
def test_soundfile_formats(write_wav, fmt, subtype, suffix):
    path = write_wav("x" + suffix, sine(1000, 1.0, 44100), 44100, format=fmt, subtype=subtype)
    assert info(path).format == fmt
    y = load(path)
    assert abs(len(y) - SR) <= 1
    assert peak_freq(y, SR) == pytest.approx(1000, abs=1.0)


def test_aiff_content_in_a_wav_name_is_sniffed(write_wav):
    path = write_wav("liar.wav", sine(700, 1.0, 22050), 22050, format="AIFF")
    assert info(path).format == "AIFF"
    y = load(path)
    assert y.shape == (SR,)
    assert peak_freq(y, SR) == pytest.approx(700, abs=1.0)


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mp3", ".m4a"])
def test_compressed_formats_via_ffmpeg(write_wav, tmp_path, suffix):
    src = write_wav("src.wav", np.stack([sine(1000, 2.0, 44100)] * 2), 44100)
    path = ffmpeg(src, tmp_path / f"c{suffix}")
    meta = info(path)
    assert meta.sample_rate == 44100 and meta.channels == 2
    assert meta.duration_s == pytest.approx(2.0, abs=0.06)
    y = load(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == pytest.approx(2 * SR, abs=0.06 * SR)
    assert peak_freq(y, SR) == pytest.approx(1000, abs=2.0)
    span = load(path, start=0.5, end=1.25)
    assert len(span) == pytest.approx(0.75 * SR, abs=2)


def test_span_reads_exactly_that_slice(write_wav):
    rng = np.random.default_rng(1)
    y0 = (0.1 * rng.standard_normal(3 * 22050)).astype(np.float32)
    path = write_wav("r.wav", y0, 22050, subtype="FLOAT")
    part = load(path, sr=None, start=0.5, end=1.5)
    assert np.array_equal(part, y0[11025:33075])
    # NaN means "whole file" as in manifests
    assert load(path, sr=None, start=float("nan"), end=float("nan")).shape == y0.shape
    # a small overshoot of end (manifest rounding) is clipped, not an error
    assert load(path, sr=None, start=2.5, end=3.02).shape == (11025,)


def test_truncated_wav_loads_what_is_there_with_a_warning(write_wav, tmp_path):
    path = write_wav("full.wav", sine(440, 1.0, SR), SR, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    data = path.read_bytes()
    cut.write_bytes(data[: 44 + SR])  # header promises 1 s, holds 0.5 s
    with pytest.warns(TruncatedAudioWarning, match="declares 1.000 s"):
        y = load(cut)
    assert y.shape == (SR // 2,)
    assert info(cut).duration_s == pytest.approx(0.5)


# ---------------------------------------------------------------- every bad input


def _zero(tmp: Path) -> Path:
    (p := tmp / "zero.wav").write_bytes(b"")
    return p


def _text(tmp: Path) -> Path:
    (p := tmp / "notes.wav").write_text("participant said hello\n" * 20)
    return p


def _jpeg(tmp: Path) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    p = tmp / "photo.jpg"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=1",
            "-frames:v",
            "1",
            str(p),
        ],
        check=True,
    )
    return p.rename(tmp / "photo.wav")


def _header_only(tmp: Path) -> Path:
    sf.write(p := tmp / "empty.wav", np.zeros(0, np.float32), SR)
    return p


def _broken_header(tmp: Path) -> Path:
    sf.write(p := tmp / "hdr.wav", sine(440, 1.0, SR), SR)
    p.write_bytes(p.read_bytes()[:30])
    return p


def _corrupt_flac(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    sf.write(p := tmp / "c.flac", 0.3 * rng.standard_normal(SR).astype(np.float32), SR)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda t: t / "missing.wav", "no such file"),
        (lambda t: t, "is a directory"),
        (_zero, "zero-length file"),
        (_text, "not an audio file (content looks like plain text)"),
        (_jpeg, "not an audio file (content looks like a JPEG image)"),
        (_header_only, "no audio frames"),
        (_broken_header, "corrupt audio file"),
        (_corrupt_flac, "corrupt or truncated"),
    ],
    ids=["missing", "directory", "zero", "text", "jpeg", "no-frames", "bad-header", "flac"],
)
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(AudioError) as err:
        load(path)
    assert err.value.file == str(path)
    assert reason in err.value.reason
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"max_duration_s": 1.0}, "longer than max_duration_s"),
        ({"start": 2.5}, "start=2.5 s outside the file"),
        ({"start": 0.5, "end": 2.5}, "end=2.5 s outside the file"),
        ({"start": -0.1}, "negative"),
        ({"start": 1.0, "end": 0.5}, "empty span"),
        ({"sr": 0}, "invalid target sample rate"),
    ],
)
def test_bad_requests_raise_audio_error(write_wav, kwargs, reason):
    path = write_wav("two.wav", sine(440, 2.0, SR), SR)
    with pytest.raises(AudioError, match="two.wav") as err:
        load(path, **kwargs)
    assert reason in err.value.reason


def test_max_duration_applies_to_the_span_not_the_file(write_wav):
    path = write_wav("long.wav", sine(440, 3.0, SR), SR)
    assert load(path, start=1.0, end=1.5, max_duration_s=1.0).shape == (SR // 2,)
