"""Harmonic-model phase distortion (HMPDM_0..24, HMPDD_0..12) in COVAREP's encoding.

Degottex & Erro 2014, as COVAREP runs it in ``COVAREP_feature_extraction``
(``hmpd_analysis_features`` on the sinusoidal-analysis frames, one per SRH frame):

1. harmonic amplitudes and phases ``phi_h`` of each frame's zero-phase spectrum, ``h = 1 ..
   round((fs/2 - F0/2) / F0)``; the vocal-tract phase, the minimum phase of the log-linear
   interpolation of the harmonic amplitudes (``env_interp``), is removed from ``phi_h``;
2. phase distortion ``PD_h = wrap(phi_h - phi_{h-1} - phi_1)`` (``phase_rpspd``, DC phase 0,
   so ``PD_1 = 0``), placed at ``h F0`` with 0 at 0 and 0.95 F0, unwrapped along the
   harmonics and interpolated linearly onto the 513 bins of a 1024-point DFT
   (``harmscale2hertzscale``);
3. over time (frames 10 ms apart): PDM = circular mean over a rectangular window of 25 frames
   applied forward and backward (``filtfilt``); PDD = ``sqrt(-2 log R)`` of the same over 9
   frames after removing the trend (9-frame median filter, then a 9-point Hann
   ``filtfilt``);
4. compression: HMPDM = circular mean of the PDM bins on COVAREP's lin/log harmonic scale
   (``hlin2hlog``: bins 0..7 one by one, then a quadratic Bezier curve to 25 slots);
   HMPDD = mel-cepstrum (``hspec2fwcep``, order 12) of the PDD "spectrum";
5. interpolation to the descriptor frames (PDM on the unwrapped angle).

The harmonic amplitudes and phases are COVAREP's peak-picked ones
(:func:`vocalmind.features.clinical.sins.harmonics`, 4096-point DFT). Differences: the
amplitude envelope's nodes and the vocal-tract phase are placed at ``h F0`` (COVAREP: at
the peaks' frequencies; measured on the reference recordings, ``h F0`` agrees better with
COVAREP's output, HMPDM_8-14 r 0.985 vs 0.971). Where COVAREP has no harmonic (above the
last harmonic, and in the slots it then fills by ``rand``), it uses random phases; here a
fixed pseudo-random phase per (frame, harmonic), so that results are reproducible
(COVAREP's are not). Bins below F0 are 0, as in COVAREP.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from scipy import signal

from vocalmind.features.clinical.dsp import FS
from vocalmind.features.clinical.mcep import mcep_covarep
from vocalmind.features.clinical.sins import n_harmonics

PDM_ORDER = 24
PDD_ORDER = 12
#: frames of the PDM mean (6 periods x 4 analyses per period) and of the PDD (2 x 4)
PDM_FRAMES = 24
PDD_FRAMES = 8
#: bins (0..Nyquist) of the phase-distortion scale: a 1024-point DFT
N_BINS = 513
#: linear part of the lin/log harmonic scale (``pdm_log_hb``)
LOG_HB = 8
#: farthest frame (in frames) whose phase distortion reaches an output frame: the PDM's
#: forward-backward box of PDM_FRAMES + 1 taps; the PDD's median (4), trend filter (2 x 4)
#: and deviation filter (2 x 4) reach 20
REACH = PDM_FRAMES
#: DFT bins filtered together along time (kernels.hmpd_bin_chain): blocks of about
#: _BLOCK_ELEMS (bin, frame) values, at least _BIN_BLOCK bins, so that the PDM's unit
#: vectors never exist for a whole window at once
_BIN_BLOCK = 16
_BLOCK_ELEMS = 24576
#: frames whose phase distortion is computed together
_PD_CHUNK = 128


def _wrap(p: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return p - (2 * np.pi) * np.floor((p + np.pi) / (2 * np.pi))


def _pseudo_random_phase(frame: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """A fixed phase in (-pi, pi] per (frame index, slot): a splitmix64 hash."""
    z = (frame.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
         + slot.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(0x94D049BB133111EB))
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    u = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return _wrap(2 * np.pi * u)


@lru_cache(maxsize=4)
def _log_slots(n_bins: int, order: int, hb: int) -> np.ndarray:
    """COVAREP ``hlin2hlog`` rounded: slot (1-based) of each bin 0..n_bins-1."""
    hsl = np.arange(1, n_bins + 1, dtype=np.float64)
    t = np.linspace(0.0, 1.0, 101)
    p = np.array([[hb, hb], [order, order], [n_bins, order]], dtype=np.float64)
    bez = ((1 - t) ** 2)[:, None] * p[0] + (2 * t * (1 - t))[:, None] * p[1] \
        + (t**2)[:, None] * p[2]
    hsl[hb:] = np.interp(np.arange(hb + 1, n_bins + 1), bez[:, 0], bez[:, 1])
    return np.round(hsl).astype(np.int64)


@lru_cache(maxsize=4)
def _slot_average(n_bins: int, order: int, hb: int) -> np.ndarray:
    """Matrix averaging the bins of each lin/log slot (columns of empty slots are 0)."""
    slot = _log_slots(n_bins, order, hb)
    avg = np.zeros((n_bins, order), dtype=np.float32)
    for sl in range(1, order + 1):
        sel = slot == sl
        if sel.any():
            avg[sel, sl - 1] = 1.0 / sel.sum()
    avg.flags.writeable = False
    return avg


def phase_distortion_bins(harm: np.ndarray, f0: np.ndarray, frame_index: np.ndarray, *,
                          sr: int = FS, n_bins: int = N_BINS) -> np.ndarray:
    """Phase distortion of each frame on the DFT bins (steps 1-2 of the module docstring).

    Parameters
    ----------
    harm : np.ndarray [shape=(m, H), complex] harmonics 1..H of each frame
        (:func:`vocalmind.features.clinical.sins.harmonics`; H at least the largest
        harmonic count of the frames)
    f0 : np.ndarray [shape=(m,)] analysis F0 (Hz)
    frame_index : np.ndarray [shape=(m,), int] absolute frame numbers (seed the fill)
    sr : sample rate in Hz
    n_bins : bins of the output scale (0..Nyquist)

    Returns
    -------
    np.ndarray [shape=(m, n_bins)] PD (rad) per bin
    """
    from vocalmind.features.clinical.kernels import (  # numba: on first use
        harmonic_interp,
        phase_distortion_nodes,
    )

    m = harm.shape[0]
    n_fft = 2 * (n_bins - 1)
    if m == 0:
        return np.zeros((0, n_bins))
    bin_hz = sr / n_fft
    f0 = np.asarray(f0, dtype=np.float64)
    max_h = n_harmonics(f0, sr=sr)
    H = int(max_h.max())
    h = np.arange(1, H + 1)[None, :]
    own = h <= max_h[:, None]
    fh = h * f0[:, None]
    rows = np.arange(m)[:, None]
    s_h = harm[:, :H]
    log_a = np.log(np.maximum(np.abs(s_h), 1e-30))
    # amplitude envelope: log-linear through (0, A1), (h F0, A_h), held after the last one
    log_a = np.where(own, log_a, log_a[rows[:, 0], max_h - 1][:, None])
    # bins at u = b bin_hz / F0 harmonics, read between nodes i F0, i = 0..H + 1 (held
    # beyond H), in single precision (kernels.harmonic_interp)
    ratio = (bin_hz / f0).astype(np.float32)
    nodes = np.concatenate([log_a[:, :1], log_a, log_a[:, -1:]], axis=1).astype(np.float32)
    log_env = np.empty((m, n_bins), dtype=np.float32)
    harmonic_interp(nodes, ratio, 0, False, log_env)
    # its minimum phase: fold the real cepstrum (hspec2minphaseloghspec)
    cep = sfft.irfft(log_env, n_fft, axis=1)
    cep[:, 1 : n_fft // 2] *= 2.0
    cep[:, n_fft // 2 + 1 :] = 0.0
    min_phase = sfft.rfft(cep, axis=1).imag
    # phase distortion at the harmonics (kernels.phase_distortion_nodes): phases less the
    # vocal-tract phase read linearly at h F0, PD_h = phi_h - phi_{h-1} - phi_1 (DC phase
    # 0); beyond the last harmonic COVAREP has random phases: a fixed pseudo-random one
    # here; unwrapped along the harmonics
    rnd = _pseudo_random_phase(np.broadcast_to(frame_index[:, None], (m, H + 2)),
                               np.broadcast_to(np.arange(H + 2)[None, :], (m, H + 2)))
    pe = np.empty((m, H + 2))
    phase_distortion_nodes(np.ascontiguousarray(s_h), max_h, fh / bin_hz, min_phase, rnd, pe)
    # interpolation nodes: 0 at 0 and 0.95 F0, then pe[j] at (j + 1) F0 (u = j + 1)
    out = np.empty((m, n_bins), dtype=np.float32)
    harmonic_interp(pe.astype(np.float32), ratio, 1, True, out)
    return out


def hmpd_covarep(harm: np.ndarray, f0: np.ndarray, frame_index: np.ndarray, *,
                 sr: int = FS, n_bins: int = N_BINS) -> tuple[np.ndarray, np.ndarray]:
    """HMPDM and HMPDD of consecutive analysis frames (10 ms apart), COVAREP's encoding.

    Parameters
    ----------
    harm : np.ndarray [shape=(m, H), complex] harmonics 1..H of the frames
        (:func:`vocalmind.features.clinical.sins.harmonics`)
    f0 : np.ndarray [shape=(m,)] analysis F0 (Hz)
    frame_index : np.ndarray [shape=(m,), int] absolute frame numbers
    sr : sample rate in Hz
    n_bins : bins of the phase-distortion scale

    Returns
    -------
    pdm : np.ndarray [shape=(m, 25)] rad
    pdd : np.ndarray [shape=(m, 13)] mel-cepstrum of the PDD
    """
    from vocalmind.features.clinical.kernels import hmpd_bin_chain  # numba: on first use

    m = harm.shape[0]
    if m == 0:
        return np.zeros((0, PDM_ORDER + 1)), np.zeros((0, PDD_ORDER + 1))
    # the phase distortion in single precision (angles to ~1e-6 rad, far below COVAREP's
    # own noise), its filtering along time in double; time on the last axis: (bins, frames)
    # computed _PD_CHUNK frames at a time (each frame's phase distortion is its own: the
    # chunks' working arrays stay in the processor's cache)
    pe = np.empty((n_bins, m), dtype=np.float32)
    for c0 in range(0, m, _PD_CHUNK):
        c1 = min(c0 + _PD_CHUNK, m)
        pe[:, c0:c1] = phase_distortion_bins(harm[c0:c1], f0[c0:c1], frame_index[c0:c1],
                                             sr=sr, n_bins=n_bins).T
    box = np.full(PDM_FRAMES + 1, 1.0 / (PDM_FRAMES + 1))
    k = PDD_FRAMES + 1
    hann = signal.windows.hann(k)
    hann = hann / hann.sum()
    box9 = np.full(k, 1.0 / k)
    # compression: circular mean per lin/log slot (bins 0..n_bins - 2), mel-cepstrum of PDD
    avg = _slot_average(n_bins - 1, PDM_ORDER + 1, LOG_HB).T.astype(np.float64)
    acc_c = np.zeros((PDM_ORDER + 1, m))
    acc_s = np.zeros((PDM_ORDER + 1, m))
    pdd = np.empty((n_bins, m))
    # bin by bin along time in compiled loops (kernels.py), blocks of bins so that the
    # unit vectors of the PDM never exist for the whole recording at once
    step = max(_BIN_BLOCK, _BLOCK_ELEMS // m)
    uc = np.empty((min(step, n_bins), m))
    us = np.empty_like(uc)
    for b0 in range(0, n_bins, step):
        b1 = min(b0 + step, n_bins)
        hmpd_bin_chain(pe[b0:b1], box, hann, box9, uc[: b1 - b0], us[: b1 - b0],
                       pdd[b0:b1])
        a1 = min(b1, n_bins - 1)
        if a1 > b0:
            acc_c += avg[:, b0:a1] @ uc[: a1 - b0]
            acc_s += avg[:, b0:a1] @ us[: a1 - b0]
    acc = (acc_c + 1j * acc_s).T
    for sl in np.flatnonzero(avg.sum(axis=1) == 0):  # no bin: COVAREP fills it at random
        acc[:, sl] = np.exp(1j * _pseudo_random_phase(frame_index, np.full(m, sl + 1)))
    pdm_c = np.angle(acc)
    # the PDD's mel-cepstrum, _PD_CHUNK frames at a time (frame by frame the same values)
    pdd_c = np.empty((m, PDD_ORDER + 1))
    for c0 in range(0, m, _PD_CHUNK):
        c1 = min(c0 + _PD_CHUNK, m)
        x = pdd[:, c0:c1].T.copy()
        x[:, 0] = x[:, 1]
        x[x == 0] = 0.001
        pdd_c[c0:c1] = mcep_covarep(np.log(x), order=PDD_ORDER, sr=sr)
    return pdm_c, pdd_c
