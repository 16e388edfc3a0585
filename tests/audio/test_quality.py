"""Quality records and gates on synthetic signals and files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _signals import SR, voiced_tone  # noqa: E402
from vocalmind.audio.quality import (  # noqa: E402
    QualityGates,
    QualityRecord,
    check,
    measure,
    measure_file,
)
from vocalmind.errors import ConfigError  # noqa: E402

RNG = np.random.default_rng(0)


def _whisper(seconds: float = 2.0) -> np.ndarray:
    """Noise shaped by three formant resonances (a whispered vowel: no voicing)."""
    from scipy.signal import iirpeak, lfilter

    n = int(seconds * SR)
    w = RNG.standard_normal(n)
    for f, bw in ((700, 130), (1200, 150), (2600, 250)):
        b, a = iirpeak(f, f / bw, fs=SR)
        w = w + 3 * lfilter(b, a, RNG.standard_normal(n))
    return (0.3 * w / np.abs(w).max()).astype(np.float32)


def test_clean_voiced_signal_passes() -> None:
    rec = measure(voiced_tone(180), sr=SR)
    assert rec.voiced_fraction > 0.9 and rec.speech_s > 1.0
    assert rec.snr_db > 15 and rec.bandwidth_hz > 7000
    assert check(rec) == []


@pytest.mark.parametrize(("signal", "reason"), [
    (lambda: (0.3 * RNG.standard_normal(2 * SR)).astype(np.float32), "no voiced speech"),
    (_whisper, "no voiced speech"),
    (lambda: np.clip(10 * voiced_tone(180), -1, 1), "clipped"),
    (lambda: voiced_tone(180) + np.float32(0.1), "dc offset: mean +0.100"),
    (lambda: np.zeros(SR, np.float32), "silent"),
    (lambda: voiced_tone(180)[: int(0.3 * SR)], "too short: 0.30 s"),
    (lambda: voiced_tone(180) + 0.1 * RNG.standard_normal(int(1.2 * SR)).astype(np.float32),
     "too noisy"),
])
def test_each_gate_names_its_reason(signal, reason: str) -> None:
    reasons = check(measure(signal(), sr=SR))
    assert any(r.startswith(reason) for r in reasons), reasons


def test_telephone_band_is_measured() -> None:
    import soxr

    y8 = soxr.resample(soxr.resample(voiced_tone(180), SR, 8000), 8000, SR).astype(np.float32)
    rec = measure(y8, sr=SR)
    assert 3000 < rec.bandwidth_hz < 4100
    assert check(rec) == []  # telephone band passes the gate; assess warns about domain
    assert check(rec, QualityGates(min_bandwidth_hz=6000))[0].startswith("narrow bandwidth")


def test_truncated_and_nan_files(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, voiced_tone(180, seconds=3.0), SR, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[: 44 + 2 * SR])  # header says 3 s, 1 s left
    rec, y = measure_file(cut)
    assert rec.truncated and rec.declared_s == pytest.approx(3.0)
    assert y is not None and len(y) == SR
    assert check(rec)[0] == "truncated file: header declares 3.00 s, file holds 1.00 s"
    nan = tmp_path / "nan.wav"
    y = voiced_tone(180, seconds=1.0)
    y[100:200] = np.nan
    sf.write(nan, y, SR, subtype="FLOAT")
    rec, _ = measure_file(nan)
    assert rec.n_nonfinite == 100 and check(rec)[0] == "non-finite: 100 NaN/infinite samples"


def test_long_file_is_not_decoded(tmp_path: Path) -> None:
    p = tmp_path / "long.wav"
    with sf.SoundFile(p, "w", samplerate=8000, channels=1, subtype="PCM_U8") as fh:
        block = np.zeros(8000 * 60, np.float32)
        for _ in range(61):
            fh.write(block)
    rec, y = measure_file(p, max_duration_s=1800)
    assert y is None and rec.duration_s == pytest.approx(3660) and rec.native_sr == 8000
    assert check(rec)[0].startswith("too long: 3660 s")


def test_gates_from_dict_and_record_round_trip() -> None:
    g = QualityGates.from_dict({"min_snr_db": None, "max_dc_offset": 0.2})
    assert g.min_snr_db is None and g.max_dc_offset == 0.2
    with pytest.raises(ConfigError, match="unknown quality gate"):
        QualityGates.from_dict({"min_snr": 3})
    with pytest.raises(ConfigError, match="expected a number"):
        QualityGates.from_dict({"min_snr_db": "x"})
    rec = measure(np.zeros(SR, np.float32), sr=SR)
    d = rec.as_dict("quality_")
    assert d["quality_peak_db"] is None
    assert QualityRecord.from_dict(d, "quality_").duration_s == 1.0
