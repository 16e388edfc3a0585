"""The speed rewrites of the clinical pipeline (issue 11) compute the same values.

Each rewritten function is compared with the plain implementation it replaced, kept here
only as the reference, on synthetic signals (tests/features/clinical/conftest.py); the
tolerances are a few orders of magnitude above double-precision rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from vocalmind.features.clinical import dsp, glottal, hmpd, mcep, sins

from .conftest import SR, creaky, vowel


def _env_te_reference(log_amp: np.ndarray, order: np.ndarray, *, n_iter: int = mcep.TE_ITER,
                      presmooth: bool = True) -> np.ndarray:
    """The true envelope with plain N/2 + 1-bin cosine products (before the folding)."""
    m, n_bins = log_amp.shape
    n = 2 * (n_bins - 1)
    o = np.minimum(np.round(1.2 * np.asarray(order, dtype=np.float64)), n // 2 - 1)
    o = o.astype(np.int64)
    A_all = log_amp.astype(np.float64)
    if presmooth:
        pE = _env_te_reference(A_all, dsp.matlab_round(o / 2.0).astype(np.int64),
                               n_iter=mcep.PRESMOOTH_ITER, presmooth=False)
        slim = np.round(0.25 * n / np.maximum(o, 1)).astype(np.int64)
        col = np.arange(n_bins)[None, :]
        edge = (col < slim[:, None]) | (col >= n_bins - slim[:, None] + 1)
        A_all = np.where(edge, pE, A_all)
    k = np.arange(n_bins)[:, None]
    qq = np.arange(n // 2)[None, :]
    cos = np.cos(2.0 * np.pi * k * qq / n)
    wk = np.full(n_bins, 2.0)
    wk[0] = wk[-1] = 1.0
    wq = np.full(n // 2, 2.0)
    wq[0] = 1.0
    fwd, inv = wk[:, None] * cos / n, (wq[None, :] * cos).T
    alt = wk * (-1.0) ** np.arange(n_bins) / n
    env = np.empty_like(A_all)
    for i in range(m):  # one frame at a time
        q = int(o[i]) + 1
        inside = np.ones(q)
        win = 0.54 + 0.46 * np.cos(np.pi * np.arange(q) / max(o[i], 1))
        A = A_all[i]
        cc = np.zeros(q)
        for _ in range(n_iter):
            cca = A @ fwd[:, :q]
            ccp = cca * inside
            ccp[1:] *= 2.0
            total = (A * A) @ wk / n
            inner = cca[0] ** 2 + 2.0 * np.sum(cca[1:] ** 2)
            e_out = 2.0 * np.sqrt(max(0.5 * (total - inner - (A @ alt) ** 2), 0.0))
            e_in = np.sqrt(np.sum(ccp * ccp))
            cc = cc + (e_in + e_out) / max(e_in, 1e-20) * win * (ccp - cc)
            half = cc.copy()
            half[1:] *= 0.5
            V = half @ inv[:q]
            A = np.maximum(A, V)
        env[i] = V
    return env


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """Vowels at several F0, a pause of faint noise and creak (about 4 s, 16 kHz)."""
    rng = np.random.default_rng(3)
    parts = [vowel(95.0, 1.0, seed=1), (0.003 * rng.standard_normal(SR // 4)),
             vowel(230.0, 1.0, oq=0.45, seed=2), creaky(0.8, seed=3), vowel(150.0, 1.0, seed=4)]
    return np.concatenate(parts).astype(np.float32)


def test_true_envelope_equals_plain_products(speech):
    rng = np.random.default_rng(0)
    centres = np.arange(600, len(speech) - 600, 160)
    f0 = rng.uniform(50.0, 500.0, len(centres))  # every order, blocks of mixed orders
    spec = mcep.pitch_adaptive_spectra(speech, centres, f0, sr=SR)
    log_amp = mcep.envelope_log_amplitude(spec)
    order = np.round(0.5 * SR / f0).astype(np.int64)
    got = mcep.env_te(log_amp, order)
    ref = _env_te_reference(log_amp, order)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-9 * np.abs(ref).max()
    # and the test can fail: one iteration less moves the envelope far beyond that
    assert np.abs(mcep.env_te(log_amp, order, n_iter=mcep.TE_ITER - 1) - ref).max() > 1e-3


def test_first_cycle_without_psp_keeps_naq_qoq():
    """COVAREP's first "cycle" (sample 0 to the first GCI) reports NAQ and QOQ only: its
    PSP, whose DFT basis grows with that cycle's length, is no longer computed."""
    rng = np.random.default_rng(1)
    n = 12000
    g = np.cumsum(rng.standard_normal(n)) * 1e-3
    dg = np.diff(g, prepend=0.0)
    start, stop = np.array([0]), np.array([5321])  # one long cycle
    naq, qoq, psp = glottal._cycle_chunk(g, dg, start, stop, sr=SR, psp=False)
    naq_f, qoq_f, psp_f = glottal._cycle_chunk(g, dg, start, stop, sr=SR)
    assert np.array_equal(naq, naq_f) and np.array_equal(qoq, qoq_f)
    assert np.isnan(psp).all() and np.isfinite(psp_f).all()
    gci = np.array([5321, 5321 + 133])
    got = glottal.first_cycle_params(g, dg, gci, sr=SR)
    t0 = 133.0
    assert got == (float(naq_f[0] * 5321 / t0), float(qoq_f[0] * 5321 / t0), 0.0)


def test_hmpd_blocks_of_any_size_agree(speech, monkeypatch):
    """HMPD filters each DFT bin along time in blocks of bins sized by the run's length;
    the values do not depend on the blocking (16-bin blocks were the former fixed size)."""
    centres = np.arange(800, len(speech) - 800, 160)
    f0 = np.clip(np.interp(centres, [0, len(speech)], [90.0, 240.0]), 50.0, 500.0)
    harm, _ = sins.harmonics(speech, centres, f0, sr=SR)
    frames = np.arange(len(centres))
    pdm, pdd = hmpd.hmpd_covarep(harm, f0, frames, sr=SR)
    assert max(hmpd._BIN_BLOCK, hmpd._BLOCK_ELEMS // len(centres)) > 16  # blocks changed
    monkeypatch.setattr(hmpd, "_BLOCK_ELEMS", 1)  # every block 16 bins
    pdm16, pdd16 = hmpd.hmpd_covarep(harm, f0, frames, sr=SR)
    assert np.abs(np.angle(np.exp(1j * (pdm - pdm16)))).max() <= 1e-12
    assert np.abs(pdd - pdd16).max() <= 1e-12 * np.abs(pdd).max()
    assert np.isfinite(pdd).all() and np.ptp(pdm) > 0.1  # real values compared
    # the phase distortion is computed in chunks of frames: each frame's own values
    assert len(centres) > hmpd._PD_CHUNK
    monkeypatch.setattr(hmpd, "_PD_CHUNK", 7)
    pdm7, pdd7 = hmpd.hmpd_covarep(harm, f0, frames, sr=SR)
    # (the PDD's cepstrum is a matrix product over each chunk: equal up to rounding)
    assert np.array_equal(pdm7, pdm16)
    assert np.abs(pdd7 - pdd16).max() <= 1e-12 * np.abs(pdd16).max()


def test_harmonics_blocks_of_any_size_agree(speech, monkeypatch):
    """The harmonics are picked block by block (64 frames, was 256): the same values."""
    centres = np.arange(800, len(speech) - 800, 160)
    f0 = np.clip(np.interp(centres, [0, len(speech)], [230.0, 80.0]), 50.0, 500.0)
    assert len(centres) > 256
    got = sins.harmonics(speech, centres, f0, sr=SR)
    monkeypatch.setattr(sins, "_BLOCK", 256)
    ref = sins.harmonics(speech, centres, f0, sr=SR)
    assert all(np.array_equal(a, b) for a, b in zip(got, ref, strict=True))
    assert np.abs(got[0]).max() > 0


def _frames_padded(x: np.ndarray, centres: np.ndarray, half: int) -> np.ndarray:
    """Frames cut from the zero-padded signal (the former frames_at, every call)."""
    xp = np.concatenate([np.zeros(half, x.dtype), x, np.zeros(half + 1, x.dtype)])
    view = np.lib.stride_tricks.sliding_window_view(xp, 2 * half)
    return view[np.clip(centres, 0, len(x))]


def test_frames_inside_the_signal_are_cut_without_padding(speech):
    half = 200
    inside = np.arange(half, len(speech) - half + 1, 97)
    edges = np.array([0, 5, half - 1, len(speech) - half + 1, len(speech) + 3])
    for centres in (inside, np.concatenate([inside, edges])):
        assert np.array_equal(dsp.frames_at(speech, centres, half),
                              _frames_padded(speech, centres, half))


def test_spectra_in_chunks_equal_frame_by_frame(speech):
    """Pitch-adaptive spectra are computed 256 frames at a time (was 2048): each frame's
    spectrum is the one it has alone."""
    centres = np.arange(500, len(speech) - 500, 11)  # > 256 frames, 3 chunks
    f0 = np.linspace(60.0, 400.0, len(centres))
    assert len(centres) > 512
    for nfft in (1024, 4096):
        spec = mcep.pitch_adaptive_spectra(speech, centres, f0, sr=SR, nfft=nfft)
        for i in (0, 255, 256, 300, len(centres) - 1):
            one = mcep.pitch_adaptive_spectra(speech, centres[i : i + 1], f0[i : i + 1],
                                              sr=SR, nfft=nfft)
            assert np.array_equal(spec[i], one[0])


def _peak_slope_reference(x: np.ndarray, times: np.ndarray) -> np.ndarray:
    """peakSlope from the seven bands held together (before: one band at a time)."""
    bands = np.abs(dsp.wavelet_bands(x, list(range(7)), sr=SR, double=True))
    half, blk = round(0.02 * SR), round(0.005 * SR)
    centres = np.round(times * SR).astype(np.int64)
    n_blk = int(np.ceil((len(x) + 2 * half) / blk)) + 1
    padded = np.zeros((7, n_blk * blk))
    padded[:, half : half + len(x)] = bands
    bmax = padded.reshape(7, n_blk, blk).max(axis=2)
    cols = np.clip(centres // blk, 0, None)[:, None] + np.arange(2 * half // blk + 1)[None, :]
    m = bmax[:, np.clip(cols, 0, n_blk - 1)].max(axis=2)
    logm = np.log10(np.maximum(m[::-1], 1e-12))
    tc = np.arange(1, 8, dtype=float) - 4.0
    return (tc @ (logm - logm.mean(axis=0))) / (tc @ tc)


def test_peak_slope_one_band_at_a_time(speech):
    times = 0.005 + 0.01 * np.arange(len(speech) // 160)
    got = glottal.peak_slope(speech.astype(np.float64), times, sr=SR)
    assert np.array_equal(got, _peak_slope_reference(speech.astype(np.float64), times))
    assert np.ptp(got) > 0.1


def test_creak_lag_dft_equals_the_dft_of_the_fft_autocorrelation():
    # H2-H1 reads the sr-point DFT of each frame's autocorrelation (lags 1..L-1) at its own
    # whole-Hz frequency in one pass over the frame; the former form built the
    # autocorrelation by two 2L-point DFTs and summed gathered e^(-2 pi i l f / sr)
    from scipy import fft as sfft

    from vocalmind.features.clinical.creak import _lag_dft_at

    rng = np.random.default_rng(5)
    x = rng.standard_normal((37, 800))
    x[3] = 0.0  # a silent frame: 0, whose log gives the NaN of a silent H2-H1 frame
    f = np.concatenate([[0, 1, 19, 20, 3199, 6399, 15999], rng.integers(1, SR, 30)])
    r = sfft.irfft(np.abs(sfft.rfft(x, 1600)) ** 2, 1600)[:, 1:800]
    lag = np.arange(r.shape[1])[None, :]
    want = np.abs(np.sum(r * np.exp(-2j * np.pi * ((lag * f[:, None]) % SR) / SR), axis=1))
    got = _lag_dft_at(x, f, SR)
    assert got[3] == 0.0
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-9)


def _ifp_reference(acf: np.ndarray, tol: int) -> np.ndarray:
    """The creak IFP's harmonic check as numpy ran it, all rows at once (before
    kernels.ifp_min_peaks)."""
    k = acf.shape[1]
    rows = np.arange(len(acf))
    mx = np.argmax(acf, axis=1)
    res = acf[rows, mx].copy()
    m1 = mx + 1
    for mult in range(2, k + 1):
        c = m1 * mult
        act = c < k
        if not act.any():
            break
        b0 = np.maximum(c - tol, 1) - 1
        b1 = np.minimum(c + tol, k)
        cols = np.arange(2 * tol + 1)[None, :] + b0[:, None]
        vals = np.where(cols < b1[:, None], acf[rows[:, None], np.minimum(cols, k - 1)],
                        -np.inf)
        res = np.where(act, np.minimum(res, vals.max(axis=1)), res)
    return np.nan_to_num(res, nan=0.0)


def test_creak_ifp_kernel_is_the_vectorised_check():
    from vocalmind.features.clinical.kernels import ifp_min_peaks

    rng = np.random.default_rng(8)
    lag = np.arange(241)
    # periodic autocorrelations (periods 20-200 lags), noise, a silent frame (NaN), a row
    # with an isolated NaN and one with +inf
    acf = np.cos(2 * np.pi * lag[None, :] / rng.uniform(20, 200, (60, 1)))
    acf = acf * np.exp(-lag / rng.uniform(50, 400, (60, 1))) + 0.2 * rng.standard_normal(
        (60, 241))
    acf[5] = np.nan
    acf[7, 130] = np.nan
    acf[9, 60] = np.inf
    acf[:, :16] = 0.0
    got = np.empty(len(acf))
    ifp_min_peaks(acf, 16, got)
    want = _ifp_reference(acf, 16)
    assert np.array_equal(got, want)
    assert got[5] == 0.0 and np.ptp(got) > 0.1


def _psp_get_a_loop(X: np.ndarray, ne_min: float = 0.01) -> float:
    """COVAREP ``psp_get_a`` written out: the parabola fit grows from 3 bins while its
    normalised error stays below ``ne_min`` (here also stopping at the last bin)."""
    k2 = np.arange(len(X), dtype=float) ** 2
    for n in range(3, len(X) + 1):
        x, k = X[:n], k2[:n]
        a = (n * np.sum(x * k) - np.sum(x) * np.sum(k)) / (n * np.sum(k * k) - np.sum(k) ** 2)
        b = np.mean(x - a * k)
        if np.sum((x - a * k - b) ** 2) / np.sum(x * x) >= ne_min:
            return float(a)
    return float(a)


def test_psp_fit_runs_to_nyquist_when_it_does_not_stop(monkeypatch):
    # cycles get 96 bins directly; a fit still running there continues on the whole
    # 2048-point spectrum, as COVAREP's: forced here by computing only 4 bins directly
    import scipy.fft as sfft

    rng = np.random.default_rng(4)
    n = 4000
    g = np.cumsum(rng.standard_normal(n)) * 0.01 + np.sin(2 * np.pi * np.arange(n) / 140)
    start = np.arange(100, 3000, 140)
    stop = start + 140 + rng.integers(-5, 6, len(start))
    monkeypatch.setattr(glottal, "_PSP_BINS", 4)
    glottal._psp_dft_basis.cache_clear()
    try:
        _, _, psp = glottal._cycle_chunk(g, np.gradient(g), start, stop, sr=SR)
    finally:
        monkeypatch.undo()
        glottal._psp_dft_basis.cache_clear()
    _, _, psp96 = glottal._cycle_chunk(g, np.gradient(g), start, stop, sr=SR)
    for i, (s0, s1) in enumerate(zip(start, stop, strict=True)):
        seg = g[s0 : s1 + 1] - g[s0 : s1 + 1].min()
        seg /= seg.max()
        X = 20 * np.log10(np.abs(sfft.fft(seg, 2048))[:1024] + 1e-300)
        box = np.zeros(2048)
        box[: s1 - s0] = 1.0 / (s1 - s0)
        Xb = 20 * np.log10(np.abs(sfft.fft(box))[:1024] + 1e-300)
        want = _psp_get_a_loop(X) / _psp_get_a_loop(Xb)
        assert psp[i] == pytest.approx(want, rel=1e-9)
        assert psp96[i] == pytest.approx(want, rel=1e-9)


def _bin_chain_reference(pe: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HMPD's step 3 along time written with scipy: MATLAB's ``filtfilt`` (scipy's, with
    MATLAB's pad length ``3 (len(b) - 1)``), ``medfilt1`` (scipy's zero-padded
    ``medfilt``), ``atan2``, ``exp(1j ...)``."""
    from scipy import signal

    def filtfilt(b, x):
        return signal.filtfilt(b, [1.0], x, padlen=min(3 * (len(b) - 1), len(x) - 1))

    box = np.full(hmpd.PDM_FRAMES + 1, 1.0 / (hmpd.PDM_FRAMES + 1))
    hann = signal.windows.hann(hmpd.PDD_FRAMES + 1)
    hann /= hann.sum()
    box9 = np.full(hmpd.PDD_FRAMES + 1, 1.0 / (hmpd.PDD_FRAMES + 1))
    uc, us, pdd = (np.empty(pe.shape) for _ in range(3))
    for r, row in enumerate(pe.astype(np.float64)):
        c, s = np.cos(row), np.sin(row)
        pdm = np.arctan2(filtfilt(box, s), filtfilt(box, c))
        uc[r], us[r] = np.cos(pdm), np.sin(pdm)
        tc, ts = filtfilt(hann, signal.medfilt(c, 9)), filtfilt(hann, signal.medfilt(s, 9))
        # a trend that is 0 up to rounding (often so at a run's ends, where the
        # zero-padded median is 0) has no direction: no rotation, as atan2(0, 0)
        trend = np.where(np.hypot(tc, ts) <= 1e-12, 0.0, np.arctan2(ts, tc))
        z = np.abs(filtfilt(box9, np.exp(1j * (row - trend))))
        pdd[r] = np.where(z < 1, np.sqrt(-2 * np.log(np.clip(z, 1e-30, 1.0))), 0.0)
    return uc, us, pdd


@pytest.mark.filterwarnings("ignore:kernel_size exceeds volume extent")  # short rows
@pytest.mark.parametrize("m", [1, 2, 7, 30, 400])
def test_hmpd_bin_chain_is_filtfilt_and_medfilt(m):
    """The compiled per-bin chain (kernels.hmpd_bin_chain) computes COVAREP's step 3 as
    scipy's filtfilt / medfilt / atan2 do, on rows of any length (shorter than the
    filters' padding included), rows of constant phase (R = 1: PDD 0) and rows of random
    phase."""
    from scipy import signal

    from vocalmind.features.clinical.kernels import hmpd_bin_chain

    rng = np.random.default_rng(m)
    t = np.arange(m)
    pe = np.stack([rng.uniform(-np.pi, np.pi, m), np.zeros(m), np.full(m, 0.7),
                   np.sin(0.05 * t) + 0.1 * rng.normal(size=m),
                   np.where(t % 11 < 5, 0.3, -2.0)]).astype(np.float32)
    box = np.full(hmpd.PDM_FRAMES + 1, 1.0 / (hmpd.PDM_FRAMES + 1))
    hann = signal.windows.hann(hmpd.PDD_FRAMES + 1)
    hann /= hann.sum()
    box9 = np.full(hmpd.PDD_FRAMES + 1, 1.0 / (hmpd.PDD_FRAMES + 1))
    uc, us, pdd = (np.full(pe.shape, np.nan) for _ in range(3))
    hmpd_bin_chain(pe, box, hann, box9, uc, us, pdd)
    ruc, rus, rpdd = _bin_chain_reference(pe)
    np.testing.assert_allclose(uc, ruc, atol=1e-12)
    np.testing.assert_allclose(us, rus, atol=1e-12)
    # the PDD: sqrt(-2 log R) magnifies R's rounding where R is near 1 (1e-16 in R is
    # 1.5e-8 rad), so compared where the deviation exceeds that
    big = rpdd > 1e-6
    np.testing.assert_allclose(pdd[big], rpdd[big], rtol=1e-9)
    assert (pdd[~big] < 1e-6).all()
    assert (pdd[1:3] < 1e-6).all()  # constant phase: no deviation
    if m >= 30:
        assert big[0].mean() > 0.9  # random phase: a real deviation compared


def _harmonic_peaks_reference(power: np.ndarray, step: np.ndarray, n_harm: int, nfft: int
                              ) -> tuple[np.ndarray, np.ndarray]:
    """sins.harmonics' peak picking as it was vectorised before the compiled loop: every
    row's strict maxima with their parabolas, then the nearest peak of each target by one
    searchsorted over all rows' ``row 2 nfft + bin`` keys."""
    c = power[:, 1:-1]
    row, col = np.nonzero((c > power[:, :-2]) & (c > power[:, 2:]))
    col = col + 1
    tiny = np.float32(1e-37)
    x0 = 0.5 * np.log(np.maximum(power[row, col - 1], tiny).astype(np.float64))
    x1 = 0.5 * np.log(np.maximum(power[row, col], tiny).astype(np.float64))
    x2 = 0.5 * np.log(np.maximum(power[row, col + 1], tiny).astype(np.float64))
    b = 0.5 * (x2 - x0)
    a = x1 - b - x0
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = col + np.where(a > 0, 0.5 * b / np.where(a > 0, a, 1.0), 0.0)
        val = np.where(a > 0, x1 + 0.25 * b * b / np.where(a > 0, a, 1.0), x1)
    r = len(power)
    rr = np.arange(r)[:, None]
    target = np.arange(1, n_harm + 1)[None, :] * step[:, None]
    freq = target.copy()
    amp = np.sqrt(power[rr, np.clip(np.round(target).astype(np.int64), 0, power.shape[1] - 1)]
                  ).astype(np.float64)
    if len(row):
        key = row * float(2 * nfft) + pos
        tk = (rr * float(2 * nfft) + target).ravel()
        j = np.searchsorted(key, tk)
        jl, jr = np.clip(j - 1, 0, len(key) - 1), np.clip(j, 0, len(key) - 1)
        rows_t = np.repeat(np.arange(r), n_harm)
        dl = np.where(row[jl] == rows_t, np.abs(tk - key[jl]), np.inf)
        dr = np.where(row[jr] == rows_t, np.abs(key[jr] - tk), np.inf)
        best = np.where(dr < dl, jr, jl)
        hit = np.minimum(dl, dr).reshape(r, n_harm) < step[:, None] / 2
        freq = np.where(hit, pos[best].reshape(r, n_harm), freq)
        amp = np.where(hit, np.exp(val[best].reshape(r, n_harm)), amp)
    return freq, amp


def test_harmonic_peaks_are_the_vectorised_ones(speech):
    """The compiled peak picking of sins.harmonics gives the vectorised form's values bit
    for bit: on speech spectra, a row without a strict maximum (flat), a row whose
    targets sit halfway between two peaks (a tie: the lower one) and a silent row."""
    from vocalmind.features.clinical.kernels import harmonic_peaks

    nfft = sins.NFFT_SINS
    centres = np.arange(800, len(speech) - 800, 160)
    f0 = np.clip(np.interp(centres, [0, len(speech)], [90.0, 240.0]), 50.0, 500.0)
    spec = mcep.pitch_adaptive_spectra(speech.astype(np.float32), centres, f0, sr=SR,
                                       nfft=nfft)
    n_bins = nfft // 2 + 1
    flat = np.ones(n_bins, dtype=np.complex64)
    tie = np.ones(n_bins, dtype=np.complex64)
    tie[[17, 23]] = 3.0  # two peaks 3 bins either side of the first target (20)
    silent = np.zeros(n_bins, dtype=np.complex64)
    spec = np.concatenate([spec, np.stack([flat, tie, silent])])
    step = np.concatenate([nfft * f0 / SR, [37.3, 20.0, 50.0]])
    H = int(sins.n_harmonics(f0.min(), sr=SR))
    freq, amp = np.empty((len(spec), H)), np.empty((len(spec), H))
    harmonic_peaks(spec, step, H, nfft, freq, amp)
    power = spec.real * spec.real + spec.imag * spec.imag
    ref_f, ref_a = _harmonic_peaks_reference(power, step, H, nfft)
    # to the last bits, not bit for bit: numpy's own SIMD log (AVX-512 builds dispatch
    # it) and the compiled loop's libm log can differ by an ulp
    np.testing.assert_allclose(freq, ref_f, rtol=1e-12, atol=0)
    np.testing.assert_allclose(amp, ref_a, rtol=1e-12, atol=0)
    assert (freq[:-3] != np.arange(1, H + 1) * step[:-3, None]).mean() > 0.3  # peaks found
    assert freq[-2, 0] == 17.0  # the tie: the lower peak

    # the complex harmonics from the peaks, against the vectorised form they replaced
    from vocalmind.features.clinical.kernels import harmonic_phases

    max_h = np.concatenate([sins.n_harmonics(f0, sr=SR), [H, H - 3, 1]])
    harm, freq_hz = np.full(freq.shape, np.nan, complex), np.full(freq.shape, np.nan)
    harmonic_phases(spec, freq, amp, max_h, SR / nfft, harm, freq_hz)
    rr = np.arange(len(spec))[:, None]
    f_c = np.clip(freq, 0.0, n_bins - 1.0)
    i0 = np.minimum(np.floor(f_c).astype(np.int64), n_bins - 2)
    p0 = np.angle(spec[rr, i0]).astype(np.float64)
    p1 = np.angle(spec[rr, i0 + 1]).astype(np.float64)
    d = p1 - p0
    phase = p0 + (f_c - i0) * (d - 2 * np.pi * np.floor((d + np.pi) / (2 * np.pi)))
    own = np.arange(1, H + 1)[None, :] <= max_h[:, None]
    # the bins' phases are single-precision angles: numpy's SIMD arctan2 and libm's can
    # differ by an ulp of float32 (~2.4e-7 rad)
    np.testing.assert_allclose(harm, np.where(own, amp * np.exp(1j * phase), 0.0),
                               rtol=1e-6, atol=0)
    np.testing.assert_array_equal(freq_hz, np.where(own, freq * (SR / nfft), 0.0))
    assert (~own).any() and np.ptp(np.angle(harm[own])) > 6.0


def _vq_peaks_reference(db: np.ndarray, nb_row: np.ndarray, ff: np.ndarray, df: float,
                        H: int) -> tuple[np.ndarray, np.ndarray]:
    """glottal.vq_harmonics' peak picking as it was vectorised before the compiled loop
    (all rows' peaks at once; the width rule pair by pair over all rows, repeated; one
    searchsorted over ``row 1e6 + Hz + 1`` keys)."""
    nb = db.shape[1]
    ctr, lft, rgt = db[:, 1:-1], db[:, :-2], db[:, 2:]
    own = np.arange(nb - 2)[None, :] < nb_row[:, None] - 2
    row, k = np.nonzero((ctr > lft) & (ctr >= rgt) & own)
    x0, x1, x2 = lft[row, k], ctr[row, k], rgt[row, k]
    b = 0.5 * (x2 - x0)
    a = x1 - b - x0
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(a > 0, 0.5 * b / a, 0.0)
        val = np.where(a > 0, x1 + 0.25 * b * b / a, x1)
    pos = (k + 1 + off) * df
    keep = np.ones(len(pos), bool)
    idx = np.arange(len(pos))
    while True:
        i = idx[keep]
        if len(i) < 2:
            break
        close = (row[i[1:]] == row[i[:-1]]) & (pos[i[1:]] - pos[i[:-1]] <= ff[row[i[:-1]]] / 2)
        j = np.flatnonzero(close)
        if len(j) == 0:
            break
        keep[i[np.where(val[i[j]] >= val[i[j + 1]], j + 1, j)]] = False
    row, pos, val = row[keep], pos[keep], val[keep]
    r = len(db)
    counts = np.bincount(row, minlength=r)
    tgt = np.arange(1, H + 1)[None, :] * ff[:, None]
    key = row * 1e6 + pos + 1.0
    tk = (np.arange(r)[:, None] * 1e6 + tgt).ravel()
    j = np.searchsorted(key, tk)
    jl, jr = np.clip(j - 1, 0, len(key) - 1), np.clip(j, 0, len(key) - 1)
    rt = np.repeat(np.arange(r), H)
    dl = np.where(row[jl] == rt, np.abs(tk - key[jl]), np.inf)
    dr = np.where(row[jr] == rt, np.abs(key[jr] - tk), np.inf)
    amp = val[np.where(dr < dl, jr, jl)].reshape(r, H)
    return np.where(np.isfinite(np.minimum(dl, dr)).reshape(r, H), amp, np.nan), counts


def test_vq_peaks_are_the_vectorised_ones():
    """The compiled peak picking of glottal.vq_harmonics gives the vectorised form's
    values bit for bit: random dB spectra with close peaks (the width rule, equal values
    included), bands of their own length per row, and a row without peaks."""
    from vocalmind.features.clinical.kernels import vq_peaks

    rng = np.random.default_rng(7)
    r, nb, df = 40, 700, 16000 / 2048
    db = np.round(rng.normal(size=(r, nb)).cumsum(axis=1) * 2) / 2  # ties on a 0.5 dB grid
    db[5] = 1.0  # flat: no peak
    ff = rng.uniform(60.0, 400.0, r)
    nb_row = rng.integers(50, nb + 1, r)
    H = 30
    amp, counts = np.empty((r, H)), np.empty(r, dtype=np.int64)
    vq_peaks(db, nb_row, ff, df, H, amp, counts)
    ref_amp, ref_counts = _vq_peaks_reference(db, nb_row, ff, df, H)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(amp, ref_amp)
    assert counts[5] == 0 and np.isnan(amp[5]).all() and (counts > 5).mean() > 0.5


def _fir_rows(frames: np.ndarray, coefs: np.ndarray) -> np.ndarray:
    """Each row through its own FIR (zero initial state), truncated to the row: the
    vectorised form IAIF and the LP residuals used (``out[i, n] = sum_j coefs[i, j]
    frames[i, n - j]``, one einsum over a strided view of the lagged samples)."""
    q = coefs.shape[1]
    fp = np.concatenate([np.zeros((frames.shape[0], q - 1), frames.dtype), frames], axis=1)
    lagged = np.lib.stride_tricks.sliding_window_view(fp, q, axis=1)
    return np.einsum("ilk,ik->il", lagged, coefs[:, ::-1])


def _iaif_reference(xf: np.ndarray, hw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """glottal.iaif_gci's IAIF rounds as they were vectorised before the compiled loop
    (dsp.lpc, _fir_rows and scipy's lfilter on all rows at once)."""
    from scipy import signal

    def leaky(y):
        return signal.lfilter([1.0], [1.0, -glottal.LEAK], y, axis=1)

    pre = glottal.P_VT + 1
    sig = np.concatenate([np.linspace(-1.0, 1.0, pre)[None, :] * xf[:, :1], xf], axis=1)
    y = _fir_rows(sig, dsp.lpc(xf * hw, 1))[:, pre:]
    g1 = leaky(_fir_rows(sig, dsp.lpc(y * hw, glottal.P_VT)))[:, pre:]
    y = leaky(_fir_rows(sig, dsp.lpc(g1 * hw, glottal.P_GL)))[:, pre:]
    dg_full = _fir_rows(sig, dsp.lpc(y * hw, glottal.P_VT))
    return leaky(dg_full)[:, pre:], dg_full[:, pre:]


def test_iaif_frames_are_the_vectorised_ones(speech):
    """The compiled IAIF of glottal.iaif_gci equals the vectorised rounds up to rounding
    (its sums run in another order), on speech frames of many lengths in one padded block
    (each row's values only up to its own length)."""
    from vocalmind.features.clinical.kernels import iaif_frames

    rng = np.random.default_rng(3)
    lens = rng.integers(glottal.P_VT + 1, 400, 30)
    width = int(lens.max())
    starts = rng.integers(0, len(speech) - width, 30)
    inside = np.arange(width)[None, :] < lens[:, None]
    hw = dsp.hann_matlab(lens, width)
    xf = np.where(inside, speech[starts[:, None] + np.arange(width)[None, :]], 0.0)
    g, dg = np.zeros(xf.shape), np.zeros(xf.shape)
    iaif_frames(xf, hw, lens, np.linspace(-1.0, 1.0, glottal.P_VT + 1), glottal.P_VT,
                glottal.P_GL, glottal.LEAK, g, dg)
    ref_g, ref_dg = _iaif_reference(xf, hw)
    for got, ref in ((g, ref_g), (dg, ref_dg)):
        scale = np.abs(np.where(inside, ref, 0.0)).max(axis=1, keepdims=True)
        err = np.abs(np.where(inside, got - ref, 0.0)) / scale
        assert err.max() < 1e-9, err.max()
    assert (scale > 0).all()


def _residual_ola_reference(x: np.ndarray, x_lpc: np.ndarray | None, orders: tuple[int, ...],
                            win: int = 400, hop: int = 80) -> list[np.ndarray]:
    """dsp's LP residuals as they were vectorised before the compiled loop: all frames'
    autocorrelations, Levinson recursions and inverse filters at once, overlap-added."""
    n = len(x)
    n_fr = max(int(np.ceil((n - win) / hop)) + 1, 1)
    pad = n_fr * hop + win - n
    w = np.hanning(win + 2)[1:-1]
    frames = np.lib.stride_tricks.sliding_window_view(np.concatenate([x, np.zeros(pad)]),
                                                      win)[::hop][:n_fr] * w
    if x_lpc is None:
        r = dsp.autocorrelation(frames, max(orders))
        e_seg = r[:, 0]
    else:
        lf = np.lib.stride_tricks.sliding_window_view(
            np.concatenate([x_lpc, np.zeros(pad)]), win)[::hop][:n_fr] * w
        r = dsp.autocorrelation(lf, max(orders))
        e_seg = np.einsum("ij,ij->i", frames, frames)
    outs = []
    for order in orders:
        res = _fir_rows(frames, dsp.levinson(r, order))
        res *= np.sqrt(e_seg / np.maximum(np.einsum("ij,ij->i", res, res), 1e-20))[:, None]
        out = np.zeros(n_fr * hop + win)
        for f in range(n_fr):
            out[f * hop : f * hop + win] += res[f]
        outs.append(out[:n])
    return outs


def test_lp_residuals_are_the_vectorised_ones(speech):
    """The compiled LP residuals (several orders from one autocorrelation, and the cross
    residual of the polarity test) equal the vectorised form up to rounding, over the
    whole signal including its zero-padded end (order-18 LPC of harmonic vowels is ill
    conditioned: a different order of sums moves the residual by ~4e-9 of its peak)."""
    x = speech.astype(np.float64)[: 3 * SR + 123]
    got = dsp.lpc_residuals(x, orders=(12, 18))
    for g, ref in zip(got, _residual_ola_reference(x, None, (12, 18)), strict=True):
        assert np.abs(g - ref).max() <= 1e-7 * np.abs(ref).max()
    x_h = np.diff(x, prepend=0.0)  # another signal's inverse filters
    got = dsp.lpc_residual_cross(x, x_h, order=18)
    ref = _residual_ola_reference(x, x_h, (18,))[0]
    assert np.abs(got - ref).max() <= 1e-7 * np.abs(ref).max()
    assert np.abs(got - dsp.lpc_residuals(x, orders=(18,))[0]).max() > 1e-3 * np.abs(ref).max()


def test_harmonic_interp_is_the_vectorised_one():
    """HMPD's two interpolations from harmonics onto DFT bins (compiled) give the
    vectorised single-precision form's values bit for bit: the amplitude envelope (nodes
    at j F0) and the wrapped phase distortion (nodes at (j + 1) F0, 0 below F0)."""
    from vocalmind.features.clinical.kernels import harmonic_interp

    def wrap(p):
        return p - (2 * np.pi) * np.floor((p + np.pi) / (2 * np.pi))

    rng = np.random.default_rng(11)
    m, n_bins, sr, n_fft = 50, hmpd.N_BINS, SR, 2 * (hmpd.N_BINS - 1)
    f0 = rng.uniform(50.0, 500.0, m)
    H = int(sins.n_harmonics(f0, sr=SR).max())
    nodes = (4 * rng.standard_normal((m, H + 2))).astype(np.float32)
    ratio = (sr / n_fft / f0).astype(np.float32)
    u = np.arange(n_bins, dtype=np.float32)[None, :] * ratio[:, None]
    fl = np.floor(u)
    fr = u - fl
    fl = fl.astype(np.int32)
    lo = np.take_along_axis(nodes, np.minimum(fl, H), axis=1)
    env = lo + fr * (np.take_along_axis(nodes, np.minimum(fl, H) + 1, axis=1) - lo)
    j0 = np.clip(fl - 1, 0, H)
    lo = np.take_along_axis(nodes, j0, axis=1)
    pd = np.where(fl < 1, np.float32(0.0),
                  wrap(lo + fr * (np.take_along_axis(nodes, j0 + 1, axis=1) - lo)))
    got = np.empty((m, n_bins), dtype=np.float32)
    harmonic_interp(nodes, ratio, 0, False, got)
    np.testing.assert_array_equal(got, env)
    harmonic_interp(nodes, ratio, 1, True, got)
    np.testing.assert_array_equal(got, pd)
    assert np.abs(pd).max() > 3.0 and (pd == 0).any()  # wrapped values and bins below F0


def _pd_nodes_reference(harm, max_h, fh_bins, min_phase, rnd):
    """hmpd.phase_distortion_bins' nodes as numpy computed them (before
    kernels.phase_distortion_nodes)."""
    m, H = harm.shape
    n_bins = min_phase.shape[1]
    rows = np.arange(m)[:, None]
    own = np.arange(1, H + 1)[None, :] <= max_h[:, None]
    pos = np.minimum(fh_bins, n_bins - 1.0)
    p0 = np.minimum(np.floor(pos).astype(np.int64), n_bins - 2)
    pf = pos - p0
    vtfp = min_phase[rows, p0] * (1 - pf) + min_phase[rows, p0 + 1] * pf
    phi = hmpd._wrap(np.angle(harm) - vtfp)
    prev = np.concatenate([np.zeros((m, 1)), phi[:, :-1]], axis=1)
    pd = hmpd._wrap(phi - prev - phi[:, :1])
    pe = np.concatenate([pd, np.zeros((m, 2))], axis=1)
    beyond = np.concatenate([~own, np.ones((m, 2), bool)], axis=1)
    pe = np.where(beyond, rnd, pe)
    pe[:, 0] = 0.0
    return np.unwrap(pe, axis=1)


def test_phase_distortion_nodes_are_the_vectorised_ones():
    from vocalmind.features.clinical.kernels import phase_distortion_nodes

    rng = np.random.default_rng(11)
    m, H, n_bins = 40, 60, 513
    harm = rng.standard_normal((m, H)) + 1j * rng.standard_normal((m, H))
    max_h = rng.integers(1, H + 1, m)
    max_h[0] = H
    harm[np.arange(1, H + 1)[None, :] > max_h[:, None]] = 0.0
    f0_bins = rng.uniform(3.0, 30.0, m)
    fh_bins = np.arange(1, H + 1)[None, :] * f0_bins[:, None]  # some beyond the last bin
    min_phase = rng.uniform(-3.0, 3.0, (m, n_bins)).astype(np.float32)
    rnd = rng.uniform(-np.pi, np.pi, (m, H + 2))
    rnd[1, 5:] = np.pi * (np.arange(H - 3) % 2)  # steps of exactly pi (np.unwrap's boundary)
    max_h[1] = 4
    got = np.full((m, H + 2), np.nan)
    phase_distortion_nodes(harm, max_h, fh_bins, min_phase, rnd, got)
    # to the last bits: numpy's SIMD arctan2 (np.angle; AVX-512 builds dispatch it) and
    # the compiled loop's libm atan2 can differ by an ulp
    np.testing.assert_allclose(got, _pd_nodes_reference(harm, max_h, fh_bins, min_phase,
                                                         rnd), rtol=0, atol=1e-12)
    assert np.ptp(got) > 4 * np.pi  # unwrapped


def test_srh_scores_are_the_gathered_sums():
    # kernels.srh_sums replaced numpy's (frames, harmonics, candidates) gathers summed over
    # the harmonics; the same double-precision sums in the same order
    from vocalmind.features.clinical import f0 as f0_mod

    rng = np.random.default_rng(2)
    E = rng.random((70, 2500)).astype(np.float32)
    for lo, hi in ((50.0, 500.0), (97.3, 212.8)):
        plus, minus = f0_mod._srh_bins(int(np.ceil(lo)), int(np.floor(hi)))
        want = (E[:, plus].sum(axis=1, dtype=np.float64)
                - E[:, minus].sum(axis=1, dtype=np.float64))
        np.testing.assert_array_equal(f0_mod.srh_scores(E, lo, hi), want)
