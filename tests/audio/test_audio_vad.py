"""vocalmind.audio.vad: speech between silences, endpoints, speech-only signals."""

from __future__ import annotations

import numpy as np
import pytest
from _audio_synth import SR, sine, speech_bounds

from vocalmind.audio import keep_speech, resample, speech_segments, trim_endpoints

TOL = 0.15  # seconds


@pytest.fixture(scope="module")
def two_utterances(speech_16k):
    """1.5 s pause, speech, 2 s pause, speech, 1.5 s pause, in faint noise; plus the truth."""
    rng = np.random.default_rng(7)
    on, off = speech_bounds(speech_16k, SR)
    pause = np.zeros(int(1.5 * SR), np.float32)
    gap = np.zeros(2 * SR, np.float32)
    y = np.concatenate([pause, speech_16k, gap, speech_16k, pause])
    y = y + (0.002 * rng.standard_normal(y.size)).astype(np.float32)  # -54 dBFS hiss
    d = len(speech_16k) / SR
    truth = [(1.5 + on, 1.5 + off), (1.5 + d + 2 + on, 1.5 + d + 2 + off)]
    return y, truth


def _check(found, truth):
    """Outer edges of each utterance within TOL; nothing found in the pauses."""
    assert found, "no speech found"
    for t0, t1 in truth:
        inside = [(s, e) for s, e in found if e > t0 - TOL and s < t1 + TOL]
        assert inside, f"utterance {t0:.2f}-{t1:.2f} missed; found {found}"
        assert inside[0][0] == pytest.approx(t0, abs=TOL), found
        assert inside[-1][1] == pytest.approx(t1, abs=TOL), found
    for s, e in found:
        assert any(s >= t0 - TOL and e <= t1 + TOL for t0, t1 in truth), f"{s}-{e} in a pause"


@pytest.mark.parametrize("method", ["silero", "webrtc", "energy"])
def test_speech_found_between_silences(two_utterances, method):
    y, truth = two_utterances
    # pad_s=0: measure the detector itself (padding is a deliberate widening, tested below)
    found = speech_segments(y, sr=SR, method=method, pad_s=0.0)
    _check(found, truth)
    assert all(isinstance(t, float) for seg in found for t in seg)
    assert found == sorted(found)
    assert all(b[0] > a[1] for a, b in zip(found, found[1:], strict=False))  # no overlap


def test_silero_at_8k_and_webrtc_at_44k_resample_internally(two_utterances):
    y, truth = two_utterances
    y8 = resample(y, orig_sr=SR, target_sr=8000)
    _check(speech_segments(y8, sr=8000, pad_s=0.0), truth)
    y44 = resample(y, orig_sr=SR, target_sr=44100)
    _check(speech_segments(y44, sr=44100, method="webrtc", pad_s=0.0), truth)


@pytest.mark.parametrize("method", ["silero", "webrtc", "energy"])
def test_no_speech_in_silence_or_steady_noise(method):
    rng = np.random.default_rng(0)
    assert speech_segments(np.zeros(2 * SR, np.float32), sr=SR, method=method) == []
    hum = sine(50, 2.0, SR, amp=0.01) + (0.001 * rng.standard_normal(2 * SR)).astype(np.float32)
    assert speech_segments(hum, sr=SR, method=method) == []


def test_silero_leaves_torch_threads_alone(two_utterances):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    speech_segments(two_utterances[0][: 2 * SR], sr=SR, method="silero")
    assert torch.get_num_threads() == before


def test_cleanup_rules_on_energy_detector():
    # 0.1 s burst (dropped: < min_speech_s), then two 0.5 s tones 0.2 s apart (bridged).
    z = lambda s: np.zeros(int(s * SR), np.float32)  # noqa: E731
    t = lambda s: sine(300, s, SR, 0.3)  # noqa: E731
    y = np.concatenate([z(1), t(0.1), z(1), t(0.5), z(0.2), t(0.5), z(1)])
    found = speech_segments(y, sr=SR, method="energy", pad_s=0.0)
    assert len(found) == 1
    assert found[0][0] == pytest.approx(2.1, abs=0.03)
    assert found[0][1] == pytest.approx(3.3, abs=0.03)
    padded = speech_segments(y, sr=SR, method="energy", pad_s=0.2)
    assert padded[0][0] == pytest.approx(found[0][0] - 0.2, abs=1e-3)
    split = speech_segments(y, sr=SR, method="energy", pad_s=0.0, min_silence_s=0.1)
    assert len(split) == 2


def test_trim_endpoints_and_keep_speech(two_utterances):
    y, truth = two_utterances
    cut, s, e = trim_endpoints(y, sr=SR, method="webrtc", pad_s=0.0)
    assert s == pytest.approx(truth[0][0], abs=TOL) and e == pytest.approx(truth[1][1], abs=TOL)
    assert len(cut) == pytest.approx((e - s) * SR, abs=1)
    assert np.array_equal(cut, y[int(round(s * SR)) : int(round(s * SR)) + len(cut)])
    segs = speech_segments(y, sr=SR, method="webrtc", pad_s=0.0)
    only = keep_speech(y, sr=SR, method="webrtc", pad_s=0.0)
    assert len(only) == pytest.approx(sum(b - a for a, b in segs) * SR, abs=len(segs))
    assert len(only) < len(cut) - 1.5 * SR  # the 2 s gap is gone
    empty, s0, e0 = trim_endpoints(np.zeros(SR, np.float32), sr=SR, method="energy")
    assert empty.shape == (0,) and (s0, e0) == (0.0, 0.0)
    assert keep_speech(np.zeros(SR, np.float32), sr=SR, method="energy").shape == (0,)


def test_bad_arguments():
    y = np.zeros(SR, np.float32)
    with pytest.raises(ValueError, match="unknown"):
        speech_segments(y, sr=SR, method="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mono"):
        speech_segments(np.zeros((2, SR), np.float32), sr=SR, method="energy")
    with pytest.raises(ValueError, match="aggressiveness"):
        speech_segments(y, sr=SR, method="webrtc", threshold=0.5)
    with pytest.raises(ValueError, match="aggressiveness"):
        speech_segments(y, sr=SR, method="webrtc", aggressiveness=5)
    with pytest.raises(ValueError, match="probability"):
        speech_segments(y, sr=SR, method="silero", threshold=2.0)
    with pytest.raises(ValueError, match="min_speech_s"):
        speech_segments(y, sr=SR, method="energy", min_speech_s=-1)
