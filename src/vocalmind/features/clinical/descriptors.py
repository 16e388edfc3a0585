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
from vocalmind.features.clinical.dsp import FS, frame_times, lpc_residuals

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


def descriptor_matrix(y: np.ndarray, *, sr: int = FS,
                      min_voiced_frames: int = MIN_VOICED_FRAMES, hrf: bool = False
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The 120 descriptors of one recording as a plain matrix (no pandas overhead).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] mono signal in [-1, 1]; resampled to 16 kHz if needed
    sr : sample rate of ``y`` in Hz
    min_voiced_frames : fewest voiced frames required
    hrf : also return COVAREP's harmonic richness factor (``get_vq_params``' HRF, which
        COVAREP computes but does not export) as a 121st column; it is not one of the 120
        descriptors of the 1,200-statistic set

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
    x = y.astype(np.float64)
    if sr != FS:
        x = soxr.resample(x, sr, FS)
    sr = FS
    if len(x) < min_voiced_frames * 0.01 * sr:
        raise FeatureError(f"recording too short: it lasts {len(x) / sr:.3f} s, clinical "
                           f"descriptors need at least {min_voiced_frames / 100:.2f} s of "
                           "voiced speech")
    if not np.any(x):
        raise FeatureError("recording is digitally silent (all samples zero)")
    if np.ptp(x) == 0:
        raise FeatureError(f"recording is constant (every sample {x[0]:g}): no speech")
    times = frame_times(len(x), sr=sr)
    # both residuals share one framing and autocorrelation
    res_srh, res = lpc_residuals(x, orders=(_f0.srh_lpc_order(sr), round(sr / 1000) + 2))
    pol = _f0.polarity(x, res, sr=sr)
    x, res = x * pol, res * pol  # the residual is linear in the signal
    # SRH ignores the sign; it runs on COVAREP's SRH frames, interpolated to ours
    c_srh, f0_srh, _, v_srh = _f0.srh_frames(res_srh, sr=sr)
    f0, inside = _f0.to_descriptor_frames(c_srh, f0_srh, times, sr=sr)
    v_t, _ = _f0.to_descriptor_frames(c_srh, v_srh, times, sr=sr)
    vuv = np.where(inside & (v_t >= 0.5), 1.0, 0.0)
    voiced = vuv > 0.5
    n_v = int(voiced.sum())
    if n_v < min_voiced_frames:
        raise FeatureError(
            f"only {n_v} voiced 10 ms frames (need >= {min_voiced_frames}): the recording "
            "looks unvoiced, whispered, silent or too short for glottal descriptors")
    cols: dict[str, np.ndarray] = {}
    cols["F0"] = np.where(voiced, f0, np.nan)
    cols["VUV"] = vuv

    # SEDREAMS with the median F0 of voiced SRH frames; GCIs kept where the SRH voicing,
    # interpolated to every sample, is >= 0.5 (COVAREP's VUV_int; 0 beyond the SRH frames)
    v_med = (v_srh > 0.5) & (f0_srh > _f0.F0_MIN) & (f0_srh < _f0.F0_MAX)
    f0_med = float(np.median(f0_srh[v_med])) if v_med.any() else float(np.median(f0[voiced]))
    gci = _glottal.sedreams_gci(x, res, f0_med, sr=sr)
    if len(gci):
        v_int = np.interp(gci, c_srh + 1, v_srh, left=0.0, right=0.0)
        gci = gci[v_int >= 0.5]
    g, dg = _glottal.iaif_gci(x, gci, sr=sr)
    _, naq, qoq, psp = _glottal.cycle_params(g, dg, gci, sr=sr)
    t_m, mdq = _glottal.mdq(res, gci, sr=sr)
    f0_v = np.where(voiced, f0, 100.0)
    harm = np.full((len(times), 10), np.nan)
    if voiced.any():
        harm[voiced] = _glottal.harmonic_amplitudes(dg, times[voiced], f0[voiced], 10, sr=sr)
    harm[harm < -300] = np.nan  # no IAIF flow there (no GCIs)
    rd, rd_conf = _glottal.rd_fit(harm, f0_v)

    # COVAREP reports a value at every GCI (the first has no previous cycle: 0 here)
    t_g = gci / sr
    first = _glottal.first_cycle_params(g, dg, gci, sr=sr)
    cyc = [np.concatenate([[f], v]) if len(gci) else v
           for f, v in zip(first, (naq, qoq, psp), strict=True)]
    _, h1h2, hrf_g = _glottal.vq_harmonics(dg, gci, sr=sr)
    cols["NAQ"] = _gci_to_frames(t_g, cyc[0], times, voiced)
    cols["QOQ"] = _gci_to_frames(t_g, cyc[1], times, voiced)
    cols["H1H2"] = _gci_to_frames(t_g, h1h2, times, voiced)
    cols["PSP"] = _gci_to_frames(t_g, cyc[2], times, voiced)
    cols["MDQ"] = _to_frames(t_m, mdq, times, voiced)
    cols["peakSlope"] = _glottal.peak_slope(x, times, sr=sr)
    cols["Rd"] = np.where(voiced, rd, np.nan)
    cols["Rd_conf"] = np.where(voiced, rd_conf, np.nan)
    cols["creak"] = _creak.creak_score(x, res, times, sr=sr)
    blocks = [np.column_stack([cols[k] for k in _SCALAR_NAMES])]

    # COVAREP's sinusoidal-analysis frames: one per SRH frame (window inside the signal),
    # analysed with the SRH F0 of that frame, voiced or not
    n = len(x)
    half_w = _mcep.window_lengths(np.clip(f0_srh, 50.0, 500.0), sr=sr) // 2
    c_sin = c_srh + 1  # sin_analysis centres frame j on 1-based sample round(t fs) + 1
    keep = (c_sin - half_w >= 0) & (c_sin + half_w <= n - 1)
    c_sin, f0_sin = c_sin[keep], np.clip(f0_srh[keep], 50.0, 500.0)
    spec = _mcep.pitch_adaptive_spectra(x, c_sin, f0_sin, sr=sr)
    blocks.append(_mcep.mcep_frames_to_grid(
        _mcep.mcep_covarep(_mcep.env_te(_mcep.envelope_log_amplitude(spec),
                                        np.round(0.5 * sr / f0_sin).astype(np.int64)),
                           sr=sr), n, times, sr=sr))
    # HMPD in COVAREP's encoding on the same frames, interpolated at the frames' times
    pdm, pdd = _hmpd.hmpd_covarep(spec, f0_sin, np.flatnonzero(keep), sr=sr)
    pdm_t, ok = _f0.to_descriptor_frames(c_sin, np.unwrap(pdm, axis=0), times, sr=sr)
    pdd_t, _ = _f0.to_descriptor_frames(c_sin, pdd, times, sr=sr)
    for b in (np.angle(np.exp(1j * pdm_t)), pdd_t):
        b[~(voiced & ok)] = np.nan
        blocks.append(b)
    blocks.extend(_mfcc.mfcc_deltas(x, times, sr=sr))
    blocks.append(_formants.formants(x, times, voiced, sr=sr))
    blocks.append(_formants.peak_to_rms(x, times, sr=sr)[:, None])
    if hrf:
        blocks.append(_gci_to_frames(t_g, hrf_g, times, voiced)[:, None])
    return times, np.concatenate([np.asarray(b, dtype=np.float64) for b in blocks], axis=1)
