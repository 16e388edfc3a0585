"""Assemble the 120 frame-level clinical descriptors (10 ms grid).

Order: the 74 COVAREP descriptors in COVAREP's order (``F0, VUV, NAQ, QOQ, H1H2, PSP, MDQ,
peakSlope, Rd, Rd_conf, creak, MCEP_0..24, HMPDM_0..24, HMPDD_0..12``), then
``MFCC_deltas_1..20``, ``MFCC_delta_deltas_1..20``, ``F1..F5``, ``Peak2RMS``.

Validity (NaN elsewhere): F0, NAQ, QOQ, H1H2, PSP, MDQ, Rd, Rd_conf, HMPDM, HMPDD and the
formants are defined on voiced frames only (and the glottal ones only where IAIF cycles
exist); VUV, peakSlope, creak, MCEP, MFCC deltas and Peak2RMS on every frame (COVAREP
analyses MCEP/peakSlope/creak everywhere). COVAREP replaces NaN by 0 and reports F0 on
unvoiced frames; here undefined values stay NaN so the statistics skip them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import soxr

from vocalmind.errors import FeatureError
from vocalmind.features.clinical import creak as _creak
from vocalmind.features.clinical import f0 as _f0
from vocalmind.features.clinical import formants as _formants
from vocalmind.features.clinical import glottal as _glottal
from vocalmind.features.clinical import hmpd as _hmpd
from vocalmind.features.clinical import mcep as _mcep
from vocalmind.features.clinical import mfcc as _mfcc
from vocalmind.features.clinical import rd as _rd
from vocalmind.features.clinical import sins as _sins
from vocalmind.features.clinical.dsp import FS, frame_times, lpc_residuals, matlab_round

#: fewest voiced 10 ms frames (0.3 s of voicing) for which descriptors are computed
MIN_VOICED_FRAMES = 30


def descriptor_names() -> list[str]:
    """The 120 descriptor names, in output order."""
    names = ["F0", "VUV", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "peakSlope", "Rd", "Rd_conf",
             "creak"]
    names += [f"MCEP_{i}" for i in range(25)]
    names += [f"HMPDM_{i}" for i in range(25)]
    names += [f"HMPDD_{i}" for i in range(13)]
    names += [f"MFCC_deltas_{i}" for i in range(1, 21)]
    names += [f"MFCC_delta_deltas_{i}" for i in range(1, 21)]
    names += [f"F{i}" for i in range(1, 6)]
    names += ["Peak2RMS"]
    return names


def _to_frames(t_src: np.ndarray, v_src: np.ndarray, times: np.ndarray, voiced: np.ndarray,
               max_gap: float = 0.025) -> np.ndarray:
    """Linear interpolation of irregular (e.g. per-GCI) values onto voiced frames."""
    ok = np.isfinite(v_src)
    t_src, v_src = t_src[ok], v_src[ok]
    out = np.full(len(times), np.nan)
    if len(t_src) == 0:
        return out
    o = np.argsort(t_src)
    t_src, v_src = t_src[o], v_src[o]
    vals = np.interp(times, t_src, v_src)
    i = np.searchsorted(t_src, times)
    left = t_src[np.clip(i - 1, 0, len(t_src) - 1)]
    right = t_src[np.clip(i, 0, len(t_src) - 1)]
    dist = np.minimum(np.abs(times - left), np.abs(times - right))
    keep = voiced & (dist <= max_gap)
    out[keep] = vals[keep]
    return out


def _gci_to_frames(t_src: np.ndarray, v_src: np.ndarray, times: np.ndarray,
                   voiced: np.ndarray) -> np.ndarray:
    """Per-GCI values onto voiced frames, as COVAREP's ``interp1`` of ``get_vq_params``.

    COVAREP sets a cycle it cannot measure (period outside 20-500 Hz, e.g. the jump over
    an unvoiced gap) to 0 and interpolates linearly through every GCI, so frames next to
    such a cycle are pulled towards 0; frames outside the first / last GCI are undefined.
    """
    out = np.full(len(times), np.nan)
    if len(t_src) == 0:
        return out
    o = np.argsort(t_src)
    t_src, v_src = t_src[o], np.nan_to_num(v_src[o], nan=0.0, posinf=0.0, neginf=0.0)
    keep = voiced & (times >= t_src[0]) & (times <= t_src[-1])
    out[keep] = np.interp(times[keep], t_src, v_src)
    return out


def _runs(need: np.ndarray, reach: int) -> list[tuple[int, int]]:
    """Index ranges ``[r0, r1)`` covering every True of ``need`` with ``reach`` entries of
    context on both sides (clipped to the array), overlapping ranges merged."""
    hit = np.flatnonzero(need)
    if len(hit) == 0:
        return []
    # a new range starts where the gap to the previous True exceeds twice the context
    brk = np.flatnonzero(np.diff(hit) > 2 * reach) + 1
    starts = hit[np.concatenate([[0], brk])]
    stops = hit[np.concatenate([brk - 1, [len(hit) - 1]])]
    return [(max(int(a) - reach, 0), min(int(b) + reach + 1, len(need)))
            for a, b in zip(starts, stops, strict=True)]


def clinical_descriptors(y: np.ndarray, *, sr: int = FS,
                         min_voiced_frames: int = MIN_VOICED_FRAMES) -> pd.DataFrame:
    """The 120 descriptors of one recording, every 10 ms.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] mono signal in [-1, 1]; resampled to 16 kHz if needed
    sr : sample rate of ``y`` in Hz
    min_voiced_frames : fewest voiced frames required

    Returns
    -------
    pd.DataFrame [shape=(n_frames, 120)], index ``time`` = frame centre in s
    (0.005, 0.015, ...), columns :func:`descriptor_names`

    Raises
    ------
    FeatureError
        See :func:`descriptor_matrix`.
    """
    times, mat = descriptor_matrix(y, sr=sr, min_voiced_frames=min_voiced_frames)
    return pd.DataFrame(mat, index=pd.Index(np.round(times, 6), name="time"),
                        columns=_names_index())


@lru_cache(maxsize=1)
def _names_index() -> pd.Index:
    return pd.Index(descriptor_names(), dtype=object)


_SCALAR_NAMES = ("F0", "VUV", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "peakSlope", "Rd",
                 "Rd_conf", "creak")


#: windowed processing of long recordings: interior and margin of each window (s). The
#: margin holds every step's reach: IAIF frames and MDQ searches around GCIs (both capped,
#: glottal.py), HMPD's runs, and the edge transients of the IIR high-passes (SEDREAMS' and
#: the polarity test's impulse responses fall below 2e-12 and 6e-11 of their peak within
#: 1.5 s, 2e-9 and 2e-8 within 1 s). On 111 s of EMU speech 1 s margins already give the
#: whole recording's values to 1e-11 and 0.5 s do not. Window + margins bound the memory.
WINDOW_S = 27.0
MARGIN_S = 1.5
#: SRH scores (451 candidates x 8 bytes per 10 ms frame) kept between passes 1 and 2
_SRH_KEEP_BYTES = 32 << 20
#: LP residuals of windows kept for passes 3 and 4 (about 3 MB per order and window)
_RES_KEEP_BYTES = 48 << 20


class _Kept:
    """Arrays kept between passes while they fit in a byte budget (a key whose arrays did
    not fit is recomputed by the caller: the same values either way)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._items: dict = {}

    def put(self, key, arrays: dict, *, always: bool = False) -> None:
        """Keep ``arrays`` (merged into those under ``key``) if they fit, or ``always``."""
        size = sum(v.nbytes for v in arrays.values())
        if always or self.used + size <= self.budget:
            self._items.setdefault(key, {}).update(arrays)
            self.used += size

    def get(self, key) -> dict:
        return self._items.get(key, {})

    def pop(self, key) -> dict:
        return self._items.pop(key, {})


class _Segments:
    """Windows of a recording: interiors tile it, each computed with margins around it.

    Interiors start at multiples of 10 ms (160 samples), so that every frame grid of the
    pipeline (5 ms LPC frames, 10 ms SRH / descriptor / MFCC frames) is the same in a
    segment as in the whole recording; margins (``MARGIN_S``) hold every filter's reach,
    so that values inside an interior equal the whole-recording values. What the passes
    reuse is kept per window within a budget: LP residuals (``_RES_KEEP_BYTES``) and
    first-pass SRH scores (``_SRH_KEEP_BYTES``).
    """

    def __init__(self, n: int, window_s: float | None, *, sr: int = FS) -> None:
        hop = round(0.01 * sr)
        if window_s is None or n <= round(window_s * sr) + 2 * round(MARGIN_S * sr):
            self.bounds = [(0, n)]
            self.margin = 0
        else:
            w = max(int(round(window_s * sr)) // hop, 1) * hop
            self.bounds = [(lo, min(lo + w, n)) for lo in range(0, n, w)]
            self.margin = (round(MARGIN_S * sr) // hop + 1) * hop
        self.n = n
        self._res = _Kept(_RES_KEEP_BYTES)
        #: each window's SRH scores of every candidate, for pass 2's narrowed search
        self.scores = _Kept(_SRH_KEEP_BYTES)

    @property
    def single(self) -> bool:
        return len(self.bounds) == 1

    def __iter__(self):  # (lo, hi, a, b): interior [lo, hi), segment [a, b)
        for lo, hi in self.bounds:
            yield lo, hi, max(lo - self.margin, 0), min(hi + self.margin, self.n)

    def signal(self, x: np.ndarray, a: int, b: int) -> np.ndarray:
        return np.asarray(x[a:b], dtype=np.float64)

    def residuals(self, x: np.ndarray, a: int, b: int, orders: tuple[int, ...], *,
                  keep: tuple[int, ...] | None = None) -> list[np.ndarray]:
        """LP residuals of the segment, kept between passes: all of them when there is one
        segment, else those of the orders ``keep`` (default: all asked) while they fit in
        ``_RES_KEEP_BYTES`` (the same values either way)."""
        got = self._res.get((a, b))
        if all(o in got for o in orders):
            return [got[o] for o in orders]
        all_orders = (_f0.srh_lpc_order(FS), round(FS / 1000) + 2) if self.single else orders
        res = lpc_residuals(self.signal(x, a, b), orders=all_orders)
        new = dict(zip(all_orders, res, strict=True))
        store = new if self.single else {o: new[o] for o in (orders if keep is None else keep)}
        self._res.put((a, b), store, always=self.single)
        return [new[o] for o in orders]


def descriptor_matrix(y: np.ndarray, *, sr: int = FS,
                      min_voiced_frames: int = MIN_VOICED_FRAMES, hrf: bool = False,
                      window_s: float | None = WINDOW_S
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The 120 descriptors of one recording as a plain matrix (no pandas overhead).

    Long recordings are processed in windows of ``window_s`` seconds (each with
    ``MARGIN_S`` of context on both sides) in four passes: (1) residual skewness sums for
    the polarity, first-pass SRH, the largest residual, creak contours and mel levels;
    (2) second-pass SRH, hence F0 and voicing; (3) SEDREAMS' mean-based-signal intervals
    and the median GCI position in them; (4) everything else. Global quantities (polarity,
    SRH range and voicing threshold, median F0, SEDREAMS' ratio, the creak contours,
    the MFCC dB ceiling, COVAREP's MCEP frame placement, the statistics) are computed over
    the whole recording, so that the descriptors equal those of one window up to rounding
    (tested: 1e-6, relative above 1; the single-precision HMPD angles to 5e-6 rad), with
    memory bounded by the window.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] mono signal in [-1, 1]; resampled to 16 kHz if needed
    sr : sample rate of ``y`` in Hz
    min_voiced_frames : fewest voiced frames required
    hrf : also return COVAREP's harmonic richness factor (``get_vq_params``' HRF, which
        COVAREP computes but does not export) as a 121st column; it is not one of the 120
        descriptors of the 1,200-statistic set
    window_s : window length in s (None: the whole recording at once)

    Returns
    -------
    times : np.ndarray [shape=(n_frames,)] frame centres in s (0.005, 0.015, ...)
    descriptors : np.ndarray [shape=(n_frames, 120), float64], columns in
        :func:`descriptor_names` order (then HRF if ``hrf``), NaN where undefined

    Raises
    ------
    FeatureError
        If the signal is not 1-D and finite, or has fewer than ``min_voiced_frames``
        voiced frames (whisper, noise, silence, too short).
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise FeatureError(f"expected a mono 1-D signal, got shape {y.shape}; mix down first")
    if not np.all(np.isfinite(y)):
        raise FeatureError("signal contains NaN or infinite samples; clean it first")
    if sr != FS:
        # resampled in double precision, kept in single (the samples of a 16-bit file are
        # exact in either): a long recording's signal is the largest array held
        y = soxr.resample(y.astype(np.float64), sr, FS).astype(np.float32)
    x = y  # never copied: each window is converted to double precision on its own
    sr = FS
    n = len(x)
    if n < min_voiced_frames * 0.01 * sr:
        raise FeatureError(f"recording too short: it lasts {n / sr:.3f} s, clinical "
                           f"descriptors need at least {min_voiced_frames / 100:.2f} s of "
                           "voiced speech")
    if not np.any(x):
        raise FeatureError("recording is digitally silent (all samples zero)")
    if np.ptp(x) == 0:
        raise FeatureError(f"recording is constant (every sample {x[0]:g}): no speech")
    times = frame_times(n, sr=sr)
    m = len(times)
    seg = _Segments(n, window_s, sr=sr)
    o_srh, o_res = _f0.srh_lpc_order(sr), round(sr / 1000) + 2
    c_srh = _f0.srh_centres(n, sr=sr)
    hop = round(0.01 * sr)

    def frames_in(lo: int, hi: int) -> slice:
        """Descriptor frames whose centre (80 + 160 k) lies in [lo, hi)."""
        return slice(int(np.searchsorted(times * sr, lo - 0.5)),
                     int(np.searchsorted(times * sr, hi - 0.5)))

    def srh_in(lo: int, hi: int) -> slice:
        return slice(int(np.searchsorted(c_srh, lo)), int(np.searchsorted(c_srh, hi)))

    # ---- pass 1: polarity sums, first-pass SRH, largest |residual|, creak contours, mel
    moments = np.zeros((2, 4))
    f0_1, val_1 = np.zeros(len(c_srh)), np.zeros(len(c_srh))
    res_max, db_max = 0.0, -np.inf
    contours = _creak.Contours()
    band_single = None
    for lo, hi, a, b in seg:
        xs = seg.signal(x, a, b)
        # the SRH residual is not needed again when the window's SRH scores are kept
        res_srh, res = seg.residuals(x, a, b, (o_srh, o_res), keep=(o_res,))
        inner = slice(lo - a, hi - a)
        moments += _f0.polarity_moments(xs, res, inner, sr=sr)
        res_max = max(res_max, float(np.max(np.abs(res[inner]), initial=0.0)))
        js = srh_in(lo, hi)
        S = _f0.srh_scores(_f0.srh_spectra(res_srh, c_srh[js] - a, sr=sr), _f0.F0_MIN,
                           _f0.F0_MAX)
        f0_1[js], val_1[js] = _f0.srh_pick(S, _f0.F0_MIN, _f0.F0_MIN, _f0.F0_MAX)
        # kept while they fit (recordings up to ~90 s), pass 2's narrowed search needs
        # neither the residual nor the spectra again
        seg.scores.put((lo, hi), {"S": S})
        del S
        band = _creak.pass1(xs, a, lo, hi, n, contours, sr=sr)
        if seg.single:
            band_single = band
        db = _mfcc.mel_db(xs, sr=sr)
        f_pos = a + hop * np.arange(db.shape[1])
        sel = (f_pos >= lo) & (f_pos < hi)
        if sel.any():
            db_max = max(db_max, float(db[:, sel].max()))
    pol = _f0.polarity(moments)

    # ---- pass 2: SRH in the narrowed range, voicing
    rng = _f0.srh_range(f0_1, val_1)
    f0_srh, val = f0_1, val_1
    if rng is not None:
        f0_srh, val = np.zeros(len(c_srh)), np.zeros(len(c_srh))
        for lo, hi, a, b in seg:
            js = srh_in(lo, hi)
            S, first_hz = seg.scores.pop((lo, hi)).get("S"), _f0.F0_MIN
            if S is None:
                (res_srh,) = seg.residuals(x, a, b, (o_srh,), keep=())
                S = _f0.srh_scores(_f0.srh_spectra(res_srh, c_srh[js] - a, sr=sr), *rng)
                first_hz = rng[0]
            f0_srh[js], val[js] = _f0.srh_pick(S, first_hz, *rng)
    v_srh = _f0.srh_voicing(val)
    f0, inside = _f0.to_descriptor_frames(c_srh, f0_srh, times, sr=sr)
    v_t, _ = _f0.to_descriptor_frames(c_srh, v_srh, times, sr=sr)
    vuv = np.where(inside & (v_t >= 0.5), 1.0, 0.0)
    voiced = vuv > 0.5
    n_v = int(voiced.sum())
    if n_v < min_voiced_frames:
        raise FeatureError(
            f"only {n_v} voiced 10 ms frames (need >= {min_voiced_frames}): the recording "
            "looks unvoiced, whispered, silent or too short for glottal descriptors")
    # SEDREAMS with the median F0 of voiced SRH frames
    v_med = (v_srh > 0.5) & (f0_srh > _f0.F0_MIN) & (f0_srh < _f0.F0_MAX)
    f0_med = float(np.median(f0_srh[v_med])) if v_med.any() else float(np.median(f0[voiced]))

    # ---- pass 3: SEDREAMS intervals and the median peak position in them
    minis_all, interv_all, ratios = [], [], []
    for lo, hi, a, b in seg:
        xs = seg.signal(x, a, b) * pol
        (res,) = seg.residuals(x, a, b, (o_res,))
        res = res * pol
        mi, iv = _glottal.sedreams_intervals(xs, f0_med, sr=sr, at_start=a == 0,
                                             at_end=b == n, origin=a)
        ratios.append(_glottal.sedreams_ratios(res, mi, iv, 0.4 * max(res_max, 1e-20),
                                               slice(lo - a, hi - a)))
        own = (mi + a >= lo) & (mi + a < hi)
        minis_all.append(mi[own] + a)
        interv_all.append(iv[own])
    minis = np.concatenate(minis_all)
    interv = np.concatenate(interv_all)
    r_all = np.concatenate(ratios)
    ratio = float(np.median(r_all)) if len(r_all) else 0.0
    creak_es = _creak.energy_contour(contours, n)
    creak_peaks = _creak.power_peaks(np.concatenate(contours.band_db))
    creak_frames = _creak.Frames()

    # COVAREP's sinusoidal-analysis frames: one per SRH frame (window inside the signal),
    # analysed with the SRH F0 of that frame, voiced or not
    half_w = _mcep.window_lengths(np.clip(f0_srh, 50.0, 500.0), sr=sr) // 2
    c_sin_all = c_srh + 1  # sin_analysis centres frame j on 1-based sample round(t fs) + 1
    keep = (c_sin_all - half_w >= 0) & (c_sin_all + half_w <= n - 1)
    j_sin = np.flatnonzero(keep)
    c_sin = c_sin_all[keep]
    f0_sin = np.clip(f0_srh[keep], 50.0, 500.0)

    # sinusoidal frames that a voiced descriptor frame interpolates from (its two
    # neighbours): Rd and HMPD are NaN elsewhere, so they are analysed only there
    need_sin = np.zeros(len(c_sin), dtype=bool)
    if len(c_sin):
        pos_v = np.round(times[voiced] * sr) - 1.0
        right = np.searchsorted(c_sin, pos_v)
        need_sin[np.clip(right, 0, len(c_sin) - 1)] = True
        need_sin[np.clip(right - 1, 0, len(c_sin) - 1)] = True

    # ---- pass 4: everything else
    out = np.full((m, 120 + int(hrf)), np.nan)
    g_t, g_vals, m_t, m_vals = [], [], [], []
    # per analysis frame, single precision (an hour holds 360,000 frames)
    mcep_rows = np.zeros((len(c_sin), 25), dtype=np.float32)
    hmpd_rows = np.zeros((len(c_sin), 38), dtype=np.float32)
    rd_rows = np.zeros((len(c_sin), 2), dtype=np.float32)
    first_gci = True
    prev_own_gci: int | None = None
    for lo, hi, a, b in seg:
        xs = seg.signal(x, a, b) * pol
        (res,) = seg.residuals(x, a, b, (o_res,))
        res = res * pol
        ks = frames_in(lo, hi)
        t_loc = times[ks] - a / sr
        v_loc = voiced[ks]
        # GCIs of the segment, kept where the SRH voicing interpolated to every sample is
        # >= 0.5 (COVAREP's VUV_int; 0 beyond the SRH frames)
        sel = (minis >= a) & (minis < b)
        gci = _glottal.sedreams_select(res, minis[sel] - a, interv[sel], ratio)
        if len(gci):
            v_int = np.interp(gci + a, c_srh + 1, v_srh, left=0.0, right=0.0)
            gci = gci[v_int >= 0.5]
        g, dg = _glottal.iaif_gci(xs, gci, sr=sr, at_start=a == 0)
        _, naq, qoq, psp = _glottal.cycle_params(g, dg, gci, sr=sr)
        _, h1h2, hrf_g = _glottal.vq_harmonics(dg, gci, sr=sr)
        if a > 0 and len(gci):
            # a segment's first GCI: its period to the previous GCI (before the margin) is
            # longer than the margin, so COVAREP's measurement is undefined
            h1h2[0] = hrf_g[0] = np.nan
        # the recording's GCI before the segment's first one (the previous window's last)
        prev_g = (prev_own_gci - a if prev_own_gci is not None and len(gci)
                  and prev_own_gci < gci[0] + a else None)
        _, mdq = _glottal.mdq(res, gci, sr=sr, prev_gci=prev_g, offset=a, n_total=n)
        # COVAREP reports a value at every GCI; the first one's "cycle" starts at sample 0
        if len(gci):
            first = (_glottal.first_cycle_params(g, dg, gci, sr=sr) if first_gci and a == 0
                     else (np.nan, np.nan, np.nan))
            cyc = [np.concatenate([[f], v]) for f, v in zip(first, (naq, qoq, psp),
                                                           strict=True)]
            own = (gci + a >= lo) & (gci + a < hi)
            if first_gci and a == 0:
                first_gci = False
            g_t.append((gci[own] + a) / sr)
            g_vals.append(np.column_stack([cyc[0], cyc[1], cyc[2], h1h2, hrf_g])[own])
            m_t.append((gci[own] + a) / sr)
            m_vals.append(mdq[own])
            if own.any():
                prev_own_gci = int(gci[own][-1] + a)
        out[ks, 7] = _glottal.peak_slope(xs, t_loc, sr=sr, origin=a)
        band = band_single if band_single is not None else _creak.band_pass(xs, sr=sr)
        _creak.pass2(xs, res, band, a, lo, hi, n, f0_med, creak_es, creak_peaks,
                     creak_frames, sr=sr)
        # sinusoidal frames of the segment (margins included for HMPD's smoothing)
        s_seg = (c_sin >= a + 1000) | (a == 0)
        s_seg &= (c_sin < b - 1000) | (b == n)
        idx = np.flatnonzero(s_seg)
        if len(idx):
            spec = _mcep.pitch_adaptive_spectra(xs, c_sin[idx] - a, f0_sin[idx], sr=sr)
            own = (c_sin[idx] >= lo) & (c_sin[idx] < hi)
            env = _mcep.env_te(_mcep.envelope_log_amplitude(spec[own]),
                               matlab_round(0.5 * sr / f0_sin[idx][own]).astype(np.int64))
            mcep_rows[idx[own]] = _mcep.mcep_covarep(env, sr=sr)
            # Rd and HMPD are kept on voiced frames only: analyse the frames that voiced
            # descriptor frames interpolate from, and for HMPD's smoothing over time the
            # runs of frames around them (the values there are those of the whole run)
            need = own & need_sin[idx]
            for r0, r1 in _runs(need, _hmpd.REACH + 2):
                # COVAREP's peak-picked harmonics (4096-point DFT) of the run's frames
                harm, _ = _sins.harmonics(xs, c_sin[idx][r0:r1] - a, f0_sin[idx][r0:r1],
                                          sr=sr)
                keep_r = need[r0:r1]
                rd_rows[idx[r0:r1][keep_r]] = np.column_stack(
                    _rd.rd_msp(harm[keep_r], f0_sin[idx][r0:r1][keep_r], sr=sr))
                pdm, pdd = _hmpd.hmpd_covarep(harm, f0_sin[idx][r0:r1],
                                              j_sin[idx][r0:r1], sr=sr)
                hmpd_rows[idx[r0:r1][keep_r]] = np.concatenate([pdm, pdd], axis=1)[keep_r]
        d1, d2 = _mfcc.mfcc_deltas(xs, t_loc, sr=sr, db_max=db_max)
        out[ks, 74:94], out[ks, 94:114] = d1, d2
        out[ks, 114:119] = _formants.formants(xs, t_loc, v_loc, sr=sr)
        out[ks, 119] = _formants.peak_to_rms(xs, t_loc, sr=sr)

    creak_in = _creak.features(n, contours, creak_frames, creak_peaks, f0_srh, f0_med, sr=sr)
    out[:, 10] = _creak.to_descriptor_grid(_creak.posterior(creak_in), m)
    out[:, 0] = np.where(voiced, f0, np.nan)
    out[:, 1] = vuv
    t_g = np.concatenate(g_t) if g_t else np.zeros(0)
    gv = np.concatenate(g_vals) if g_vals else np.zeros((0, 5))
    for col, j in ((2, 0), (3, 1), (4, 3), (5, 2)):  # NAQ, QOQ, H1H2, PSP
        out[:, col] = _gci_to_frames(t_g, gv[:, j], times, voiced)
    out[:, 6] = _gci_to_frames(t_g, np.concatenate(m_vals) if m_vals else np.zeros(0), times,
                               voiced)
    # one column at a time: the temporaries of an hour stay small
    for j in range(25):
        out[:, 11 + j] = _mcep.mcep_frames_to_grid(mcep_rows[:, j : j + 1].astype(np.float64),
                                                   n, times, sr=sr)[:, 0]
    # HMPD and Rd frames lie at their true times (COVAREP); PDM interpolated on the
    # unwrapped angle
    _, ok = _f0.to_descriptor_frames(c_sin, rd_rows[:, 0], times, sr=sr)
    both = voiced & ok
    for j in range(38):
        col = hmpd_rows[:, j].astype(np.float64)
        if j < 25:
            col = np.unwrap(col)
        v, _ = _f0.to_descriptor_frames(c_sin, col, times, sr=sr)
        if j < 25:
            v = v - 2 * np.pi * np.floor((v + np.pi) / (2 * np.pi))
        out[:, 36 + j] = np.where(both, v, np.nan)
    for j in range(2):  # Rd, Rd_conf
        v, _ = _f0.to_descriptor_frames(c_sin, rd_rows[:, j].astype(np.float64), times, sr=sr)
        out[:, 8 + j] = np.where(both, v, np.nan)
    if hrf:
        out[:, 120] = _gci_to_frames(t_g, gv[:, 4], times, voiced)
    return times, out
