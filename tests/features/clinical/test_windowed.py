"""Long recordings are processed in windows; the descriptors equal the whole-recording ones.

Memory is measured in bench/bench_clinical_speed.py (``--long-minutes``), not here.
"""

from __future__ import annotations

import numpy as np
import pytest

from vocalmind.features.clinical import descriptors
from vocalmind.features.clinical.descriptors import descriptor_matrix

from .conftest import SR, voice_mix


@pytest.fixture(scope="module")
def long_signal() -> np.ndarray:
    """~20 s of vowels at varying F0 and open quotient, pauses of faint noise, creak."""
    return voice_mix(10, creak_every=4)


def test_windows_tile_the_recording():
    seg = descriptors._Segments(40 * SR + 123, 6.0, sr=SR)
    bounds = seg.bounds
    assert bounds[0][0] == 0 and bounds[-1][1] == 40 * SR + 123
    assert all(b[1] == c[0] for b, c in zip(bounds[:-1], bounds[1:], strict=True))
    assert all(lo % 160 == 0 for lo, _ in bounds) and seg.margin % 160 == 0
    assert seg.margin >= descriptors.MARGIN_S * SR
    short = int((6.0 + 2 * descriptors.MARGIN_S) * SR)  # fits one window with its margins
    assert descriptors._Segments(short, 6.0, sr=SR).single
    assert not descriptors._Segments(short + 1, 6.0, sr=SR).single
    assert descriptors._Segments(10 * SR, None, sr=SR).single


def test_windowed_equals_whole(long_signal):
    assert len(long_signal) > 3 * (6.0 + 2 * descriptors.MARGIN_S) * SR / 2
    t1, whole = descriptor_matrix(long_signal, sr=SR, window_s=None, hrf=True)
    t2, win = descriptor_matrix(long_signal, sr=SR, window_s=6.0, hrf=True)
    assert np.array_equal(t1, t2)
    assert np.array_equal(np.isnan(whole), np.isnan(win))
    # the tolerance, 1e-6, relative to values above 1 (F0 in Hz: float rounding
    # of a 216 Hz value differs by ~1e-6 Hz between window lengths); the HMPD angles are
    # computed in single precision (hmpd.py), so their circular slot means differ between
    # window lengths by float32 rounding, measured up to 1.5e-6 rad: 5e-6 rad for those
    hmpd = np.array([n.startswith(("HMPDM", "HMPDD")) for n in descriptors.descriptor_names()]
                    + [False] * (whole.shape[1] - len(descriptors.descriptor_names())))
    tol = np.where(hmpd, 5e-6, 1e-6 * np.maximum(1.0, np.abs(whole)))
    ok = ~np.isnan(whole)
    assert (np.abs(whole - win)[ok] <= tol[ok]).all()
    assert np.isfinite(whole).mean() > 0.5  # and the comparison covers real values


@pytest.mark.parametrize("budget", ["_SRH_KEEP_BYTES", "_RES_KEEP_BYTES"])
def test_what_passes_keep_changes_nothing(long_signal, monkeypatch, budget):
    # pass 2 picks its narrowed SRH search from the scores pass 1 kept, passes 3 and 4
    # reuse the LP residuals pass 1 kept; a window whose arrays did not fit recomputes
    # them: the same values
    _, kept = descriptor_matrix(long_signal, sr=SR, window_s=6.0)
    monkeypatch.setattr(descriptors, budget, 0)
    calls = []
    real = descriptors.lpc_residuals
    monkeypatch.setattr(descriptors, "lpc_residuals",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    _, recomputed = descriptor_matrix(long_signal, sr=SR, window_s=6.0)
    np.testing.assert_array_equal(kept, recomputed)
    n_win = len(descriptors._Segments(len(long_signal), 6.0, sr=SR).bounds)
    # without kept scores pass 2 recomputes every window's SRH residual; without kept
    # residuals passes 3 and 4 recompute theirs
    assert len(calls) == (2 if budget == "_SRH_KEEP_BYTES" else 3) * n_win, len(calls)


@pytest.mark.realdata
@pytest.mark.parametrize("corpus", ["emu", "emodb"])
def test_windowed_equals_whole_on_real_speech(corpus):
    # real speech has near-ties that synthetic vowels lack: MDQ's wavelet-band argmaxima,
    # IAIF's ill-conditioned LPC (8 kHz EMU speech resampled to 16 kHz) and the ties of
    # Rd's search on its grid turned the rounding of a window-dependent FFT block size,
    # DFT length or BLAS row count into different values (up to 50 % of NAQ / MDQ at a
    # few GCIs, Rd by 1e-3); the blocks, lengths and products are now the frames' and the
    # recording's own
    import soundfile as sf
    import soxr
    from tests.conftest import SHARED_DATA

    if corpus == "emu":  # two free-speech recordings, ~45 s
        folder = SHARED_DATA / "emu" / "audio_raw" / "WAVs_unstructured"
        files = sorted(folder.glob("*.wav"))[20:22] if folder.is_dir() else []
    else:  # 12 utterances of several speakers, ~33 s
        folder = SHARED_DATA / "emodb" / "wav"
        files = sorted(folder.glob("*.wav"))[::15][:12] if folder.is_dir() else []
    if len(files) < 2:
        pytest.skip(f"{corpus} recordings not found under {folder}")
    parts = []
    for f in files:
        y, sr = sf.read(f, dtype="float32")
        parts.append(y if sr == SR else soxr.resample(y, sr, SR))
    x = np.concatenate(parts).astype(np.float32)
    window = 7.3
    assert len(x) > 4 * (window + 2 * descriptors.MARGIN_S) * SR / 2
    _, whole = descriptor_matrix(x, sr=SR, window_s=None, hrf=True)
    _, win = descriptor_matrix(x, sr=SR, window_s=window, hrf=True)
    assert np.array_equal(np.isnan(whole), np.isnan(win))
    ok = ~np.isnan(whole)
    rel = np.abs(whole - win)[ok] / np.maximum(1.0, np.abs(whole[ok]))
    assert rel.max() <= 1e-6, rel.max()
    assert ok.mean() > 0.3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_anchored_convolution_is_the_recordings_in_every_window(dtype):
    from vocalmind.errors import ParameterError
    from vocalmind.features.clinical import dsp

    rng = np.random.default_rng(3)
    x = rng.standard_normal(50_000).astype(dtype)
    h = dsp.daless_wavelet(5, sr=SR)  # 369 taps: FFT blocks of 4096
    whole = dsp.anchored_convolve(x, h)
    ref = np.convolve(x.astype(np.float64), h, mode="same")
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert whole.dtype == dtype
    assert np.abs(whole - ref).max() <= tol * np.abs(ref).max()
    # windows starting anywhere (not only at block boundaries), of any length: the same
    # bits wherever the blocks that reach a sample lie inside the window
    reach = 8192 + len(h)
    for a, b in ((160, 30_000), (4_321, 50_000), (12_000, 27_777)):
        win = dsp.anchored_convolve(x[a:b], h, origin=a)
        inner = slice(reach if a else 0, b - a - (reach if b < len(x) else 0))
        assert np.array_equal(win[inner], whole[a:b][inner])
    with pytest.raises(ParameterError, match="odd"):
        dsp.anchored_convolve(x, np.ones(4))
    with pytest.raises(ParameterError, match="origin"):
        dsp.anchored_convolve(x, h, origin=-160)


def test_length_groups_keep_keys_apart():
    # IAIF groups its frames by their own DFT length, H1-H2 by its 2048 / 4096 class:
    # a group never mixes keys, and every item lands in exactly one group
    from vocalmind.features.clinical import dsp

    rng = np.random.default_rng(4)
    lengths = rng.integers(50, 900, 400)
    key = (lengths > 300).astype(int) + (lengths > 600)
    groups = dsp.length_groups(lengths, max_rows=64, ratio=1.5, by=key)
    assert sorted(np.concatenate(groups).tolist()) == list(range(400))
    assert all(len(np.unique(key[g])) == 1 for g in groups)
    assert all(len(g) <= 64 and lengths[g].max() <= 1.5 * lengths[g].min() for g in groups)
    assert [key[g[0]] for g in groups] == sorted(key[g[0]] for g in groups)


def test_a_gci_after_a_long_pause_at_a_window_edge():
    # MDQ searches its wavelet bands within +-0.2 T0 of a GCI, T0 the distance to the
    # previous GCI: after a 9 s pause that reached 1.8 s, beyond the 1.5 s margin, so the
    # window left the GCI undefined where the whole recording gave a value. The search is
    # capped (glottal.MDQ_MAX_T0_S), the same in both
    from .conftest import vowel

    assert 0.2 * 9.0 > descriptors.MARGIN_S  # uncapped, the search would leave the window
    rng = np.random.default_rng(5)
    pause = 1e-4 * rng.standard_normal(9 * SR)
    x = np.concatenate([vowel(110.0, 3.0), pause, vowel(130.0, 10.0)]).astype(np.float32)
    # the second vowel starts at 12.0 s; the first window's interior ends at 12.1 s
    _, whole = descriptor_matrix(x, sr=SR, window_s=None)
    _, win = descriptor_matrix(x, sr=SR, window_s=12.1)
    mdq = descriptors.descriptor_names().index("MDQ")
    assert np.isfinite(whole[1200:1215, mdq]).any()  # GCIs right after the pause
    assert np.array_equal(np.isnan(whole), np.isnan(win))
    ok = ~np.isnan(whole)
    assert (np.abs(whole - win)[ok] <= 1e-6 * np.maximum(1.0, np.abs(whole[ok]))).all()
