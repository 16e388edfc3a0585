"""Vectorised DSP helpers shared by the clinical descriptors.

Everything here works on many frames at once (one frame per row) so that no Python loop
runs per sample or per frame; loops run only over LPC order or small fixed counts.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from vocalmind.errors import ParameterError

#: analysis sample rate of the whole pipeline (Hz)
FS = 16_000
#: descriptor frame step (s) and the time of the first frame centre (s), as COVAREP
HOP_S = 0.010
FIRST_S = 0.005


def frame_times(n_samples: int, *, sr: int = FS) -> np.ndarray:
    """Frame-centre times (s) of the 10 ms descriptor grid.

    Parameters
    ----------
    n_samples : signal length in samples
    sr : sample rate in Hz

    Returns
    -------
    np.ndarray [shape=(n_frames,)], ``0.005 + 0.01 k`` for every centre inside the signal
    """
    dur = n_samples / sr
    n = max(int(np.floor((dur - FIRST_S) / HOP_S)) + 1, 0)
    return FIRST_S + HOP_S * np.arange(n)


def length_groups(lengths: np.ndarray, *, max_rows: int = 512, ratio: float = 1.4,
                  by: np.ndarray | None = None) -> list[np.ndarray]:
    """Split items into groups of similar length, for padded batch processing.

    Items are sorted by length; a new group starts when the length exceeds ``ratio``
    times the group's shortest, or after ``max_rows`` items, so that padding every row of a
    group to its longest wastes at most ``ratio - 1`` of the work. With ``by``, items of
    different keys never share a group (e.g. a DFT length that must be each item's own,
    not its group's), keys in increasing order.

    Parameters
    ----------
    lengths : np.ndarray [shape=(m,)] positive lengths
    max_rows : largest group
    ratio : largest longest / shortest length ratio inside a group
    by : np.ndarray [shape=(m,)] optional key per item

    Returns
    -------
    list of np.ndarray [int], indices into ``lengths``, each sorted by length
    """
    if by is not None:
        by = np.asarray(by)
        return [cls[g] for key in np.unique(by) for cls in [np.flatnonzero(by == key)]
                for g in length_groups(np.asarray(lengths)[cls], max_rows=max_rows,
                                       ratio=ratio)]
    lengths = np.asarray(lengths, dtype=np.float64)
    order = np.argsort(lengths, kind="stable")
    srt = lengths[order]
    groups = []
    i = 0
    while i < len(order):
        j = int(np.searchsorted(srt, srt[i] * ratio, side="right"))
        j = min(max(j, i + 1), i + max_rows)
        groups.append(order[i:j])
        i = j
    return groups


def frames_at(x: np.ndarray, centres: np.ndarray, half: int) -> np.ndarray:
    """Cut frames of ``2 * half`` samples centred on integer sample positions.

    Zero-pads outside the signal.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
    centres : np.ndarray [shape=(m,), int] centre sample indices
    half : half frame length in samples

    Returns
    -------
    np.ndarray [shape=(m, 2 * half)]; row ``i`` holds ``x[c - half : c + half]``
    """
    centres = np.asarray(centres, dtype=np.int64)
    if len(centres) and centres.min() >= half and centres.max() + half <= len(x):
        # every frame inside the signal: no padded copy of the whole signal (callers cut
        # frames chunk by chunk)
        return np.lib.stride_tricks.sliding_window_view(x, 2 * half)[centres - half]
    xp = np.concatenate([np.zeros(half, x.dtype), x, np.zeros(half + 1, x.dtype)])
    view = np.lib.stride_tricks.sliding_window_view(xp, 2 * half)
    idx = np.clip(centres, 0, len(x))
    return view[idx]


def levinson(r: np.ndarray, order: int) -> np.ndarray:
    """Levinson-Durbin recursion for many autocorrelation sequences at once.

    Parameters
    ----------
    r : np.ndarray [shape=(m, >= order + 1)] autocorrelation, lag 0 first
    order : LPC order p

    Returns
    -------
    np.ndarray [shape=(m, p + 1)] inverse-filter coefficients ``A(z)``, ``a[:, 0] == 1``
    """
    r = np.asarray(r, dtype=np.float64)
    m = r.shape[0]
    a = np.zeros((m, order + 1))
    a[:, 0] = 1.0
    # a tiny white-noise floor keeps silent / zero-padded frames well conditioned
    err = r[:, 0] * (1.0 + 1e-9) + 1e-12
    for i in range(1, order + 1):
        acc = r[:, i] + np.einsum("ij,ij->i", a[:, 1:i], r[:, i - 1 : 0 : -1])
        k = -acc / err
        a[:, 1:i] = a[:, 1:i] + k[:, None] * a[:, i - 1 : 0 : -1]
        a[:, i] = k
        err = err * np.maximum(1.0 - k * k, 1e-12)
    return a


def autocorrelation(frames: np.ndarray, order: int) -> np.ndarray:
    """Autocorrelation lags 0..order of each row (float64).

    Parameters
    ----------
    frames : np.ndarray [shape=(m, L)]
    order : highest lag

    Returns
    -------
    np.ndarray [shape=(m, order + 1)]
    """
    # direct lags: for the small orders used here this beats FFT autocorrelation
    L = frames.shape[1]
    r = np.empty((frames.shape[0], order + 1))
    for k in range(order + 1):
        r[:, k] = np.einsum("ij,ij->i", frames[:, : L - k], frames[:, k:])
    return r


def lpc(frames: np.ndarray, order: int) -> np.ndarray:
    """Autocorrelation-method LPC of each row (rows are already windowed).

    Parameters
    ----------
    frames : np.ndarray [shape=(m, L)]
    order : LPC order p

    Returns
    -------
    np.ndarray [shape=(m, p + 1)], ``a[:, 0] == 1``
    """
    return levinson(autocorrelation(frames, order), order)


def _residual_ola(x: np.ndarray, x_lpc: np.ndarray | None, orders: tuple[int, ...],
                  win: int, hop: int) -> list[np.ndarray]:
    """Frame-wise LP inverse filtering and overlap-add (:func:`lpc_residuals`,
    :func:`lpc_residual_cross`): one compiled loop over the frames
    (:func:`vocalmind.features.clinical.kernels.lp_residual_ola`), each frame's
    autocorrelation shared by all orders, frames added in time order."""
    from vocalmind.features.clinical.kernels import lp_residual_ola  # numba: on first use

    if win % hop:
        raise ParameterError(f"LP residual frames: win ({win}) must be a multiple of hop ({hop})")
    n = len(x)
    n_fr = max(int(np.ceil((n - win) / hop)) + 1, 1)
    pad = n_fr * hop + win - n
    xp = np.concatenate([x, np.zeros(pad)])
    xl = xp if x_lpc is None else np.concatenate([x_lpc, np.zeros(pad)])
    out = np.empty((len(orders), len(xp)))
    lp_residual_ola(xp, xl, x_lpc is not None, np.asarray(orders, dtype=np.int64), n_fr, win,
                    hop, np.hanning(win + 2)[1:-1], out)
    # one array per order: a caller that keeps one residual must not keep them all
    return [out[q, :n].copy() for q in range(len(orders))]


def lpc_residuals(x: np.ndarray, *, orders: tuple[int, ...], win: int = 400, hop: int = 80
                  ) -> list[np.ndarray]:
    """LP residuals of several orders by frame-wise inverse filtering and overlap-add.

    As COVAREP ``lpcresidual``: each Hann-windowed frame is inverse filtered by its own
    LPC, rescaled to the frame's energy, and overlap-added. The frames and their
    autocorrelation are shared by all orders.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)], 16 kHz
    orders : LPC orders
    win, hop : frame length and shift in samples (25 ms / 5 ms at 16 kHz)

    Returns
    -------
    list of np.ndarray [shape=(n,)], one residual per order
    """
    return _residual_ola(np.asarray(x, dtype=np.float64), None, tuple(orders), win, hop)


def lpc_residual_cross(x: np.ndarray, x_lpc: np.ndarray, *, order: int, win: int = 400,
                       hop: int = 80) -> np.ndarray:
    """LP residual of ``x`` through inverse filters estimated on another signal ``x_lpc``.

    As COVAREP ``polarity_reskew``'s ``GetLPCresidual_WithTwoSignals``: each Hann-windowed
    frame of ``x`` is filtered by the LPC of the same frame of ``x_lpc``, rescaled to the
    energy of the ``x`` frame, and overlap-added.

    Parameters
    ----------
    x, x_lpc : np.ndarray [shape=(n,)], 16 kHz
    order : LPC order
    win, hop : frame length and shift in samples

    Returns
    -------
    np.ndarray [shape=(n,)] residual
    """
    return _residual_ola(np.asarray(x, dtype=np.float64),
                         np.asarray(x_lpc, dtype=np.float64), (order,), win, hop)[0]


def lpc_residual(x: np.ndarray, *, order: int, win: int = 400, hop: int = 80) -> np.ndarray:
    """LP residual of one order (see :func:`lpc_residuals`).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)], 16 kHz
    order : LPC order
    win, hop : frame length and shift in samples

    Returns
    -------
    np.ndarray [shape=(n,)] residual
    """
    return lpc_residuals(x, orders=(order,), win=win, hop=hop)[0]


def matlab_round(v: np.ndarray | float) -> np.ndarray:
    """MATLAB ``round``: halves away from zero (numpy and Python round them to even).

    >>> matlab_round([86.5, -0.5, 2.4]).tolist()
    [87.0, -1.0, 2.0]
    """
    v = np.asarray(v, dtype=np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def hann_matlab(lengths: np.ndarray, width: int) -> np.ndarray:
    """Rows of MATLAB ``hanning(L)`` windows (no zero end points), zero beyond ``L``.

    Parameters
    ----------
    lengths : np.ndarray [shape=(m,), int] window lengths
    width : row width (>= max(lengths))

    Returns
    -------
    np.ndarray [shape=(m, width)]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and lengths.max() <= _HANN_TABLE_MAX and width <= _HANN_TABLE_MAX:
        return _hann_table()[lengths, :width]  # the same values, looked up
    k = np.arange(1, width + 1)[None, :]
    L = lengths[:, None]
    w = 0.5 * (1.0 - np.cos(2.0 * np.pi * k / (L + 1)))
    w[k > L] = 0.0
    return w


_HANN_TABLE_MAX = 1024


@lru_cache(maxsize=1)
def _hann_table() -> np.ndarray:
    """``hann_matlab`` rows for every length 0..1024 (8 MB, built once)."""
    k = np.arange(1, _HANN_TABLE_MAX + 1)[None, :]
    L = np.arange(_HANN_TABLE_MAX + 1)[:, None]
    w = 0.5 * (1.0 - np.cos(2.0 * np.pi * k / (L + 1)))
    w[k > L] = 0.0
    return w


def centred_window(lengths: np.ndarray, half: int, kind: str = "blackman") -> np.ndarray:
    """Rows of symmetric windows of varying length centred in a ``2 * half`` row.

    Parameters
    ----------
    lengths : np.ndarray [shape=(m,)] window lengths in samples (float ok)
    half : half row width
    kind : ``"blackman"`` or ``"hamming"``

    Returns
    -------
    np.ndarray [shape=(m, 2 * half), float32], sample ``half`` is the window centre,
    ``w(t) = 0.42 + 0.5 cos(2 pi t) + 0.08 cos(4 pi t)`` (Blackman) or
    ``0.54 + 0.46 cos(2 pi t)`` (Hamming) for ``|t| = |n - half| / length <= 1/2``
    """
    if kind not in ("blackman", "hamming"):
        raise ParameterError(f"window table: unknown window kind {kind!r}; use 'blackman' or 'hamming'")
    L_all = np.asarray(lengths, dtype=np.float64)
    out = np.zeros((len(L_all), 2 * half), dtype=np.float32)
    if len(L_all) == 0:
        return out
    # a row depends on its length only: each distinct length computed once
    L, which = np.unique(L_all, return_inverse=True)
    # only the columns inside the longest window are computed; float32 keeps the window
    # within 2e-7 of the float64 formula at a fraction of the cost
    hw = int(min(half, np.ceil(L.max() / 2) + 1))
    n = np.arange(-hw, hw)
    c = np.cos(np.float32(2 * np.pi) * (n.astype(np.float32)[None, :]
                                        * (1.0 / L).astype(np.float32)[:, None]))
    if kind == "blackman":  # cos(4 pi t) = 2 cos^2(2 pi t) - 1
        w = np.float32(0.34) + c * (np.float32(0.5) + np.float32(0.16) * c)
    else:
        w = np.float32(0.54) + np.float32(0.46) * c
    w[np.abs(n)[None, :] > 0.5 * L[:, None]] = 0.0  # support decided in float64
    out[:, half - hw : half + hw] = w[which]
    return out


def zero_phase_spectrum(frames: np.ndarray, nfft: int) -> np.ndarray:
    """Complex half spectrum of centred frames with their centre moved to time zero.

    Parameters
    ----------
    frames : np.ndarray [shape=(m, 2 * half)], centre at column ``half``
    nfft : DFT length (> 2 * half)

    Returns
    -------
    np.ndarray [shape=(m, nfft // 2 + 1), complex]
    """
    half = frames.shape[1] // 2
    buf = np.zeros((frames.shape[0], nfft), dtype=frames.dtype)
    buf[:, : half] = frames[:, half:]
    buf[:, nfft - half :] = frames[:, :half]
    return sfft.rfft(buf, axis=1)


@lru_cache(maxsize=32)
def daless_wavelet(scale_index: int, *, sr: int = FS) -> np.ndarray:
    """Cosine-modulated Gaussian wavelet of octave band ``scale_index`` (d'Alessandro).

    Band 0 is centred at ``sr / 2``, band ``i`` at ``sr / 2 ** (i + 1)``. The kernel is
    truncated where the Gaussian falls below 1e-7 (it is even, so filtering is zero-phase).

    Parameters
    ----------
    scale_index : octave index i >= 0
    sr : sample rate in Hz

    Returns
    -------
    np.ndarray [shape=(2 K + 1,)] kernel
    """
    s = 2.0**scale_index
    f_o = sr / 2.0
    tau = 1.0 / (2.0 * f_o)
    half = int(np.ceil(5.7 * s * tau * sr)) + 1
    t = np.arange(-half, half + 1) / sr
    k = -np.cos(2 * np.pi * f_o * t / s) * np.exp(-((t / s) ** 2) / (2 * tau**2))
    k.flags.writeable = False  # cached: shared by every call
    return k


def wavelet_bands(x: np.ndarray, scales: list[int], *, sr: int = FS,
                  double: bool = False, origin: int = 0) -> np.ndarray:
    """Zero-phase filter ``x`` by d'Alessandro wavelets at several octave scales.

    Computed in single precision unless ``double`` (relative error < 1e-6 of the largest
    band value; 3x faster than double): enough where the bands feed argmaxima only. The
    convolution is an overlap-add of FFT blocks that start at fixed multiples of a step
    counted from the recording's first sample (``origin`` is ``x[0]``'s position in it), so
    a band computed on a window of a recording equals the whole recording's bit for bit
    wherever that window holds the blocks (:func:`anchored_convolve`).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
    scales : octave indices
    sr : sample rate in Hz
    double : compute in double precision (values of quiet stretches, e.g. peakSlope's
        band maxima, keep their relative precision)
    origin : position of ``x[0]`` in the recording (samples, >= 0)

    Returns
    -------
    np.ndarray [shape=(len(scales), n), float32 or float64]
    """
    dtype = np.float64 if double else np.float32
    xt = np.asarray(x, dtype=dtype)
    return np.stack([anchored_convolve(xt, daless_wavelet(i, sr=sr), origin=origin)
                     for i in scales])


@lru_cache(maxsize=64)
def _kernel_spectrum(kernel: bytes, dtype: str, nfft: int) -> np.ndarray:
    h = sfft.rfft(np.frombuffer(kernel, dtype=np.float64).astype(dtype), nfft)
    h.flags.writeable = False
    return h


#: blocks transformed together by :func:`anchored_convolve` (their buffers stay in cache)
_OLA_ROWS = 16


def anchored_convolve(x: np.ndarray, h: np.ndarray, *, origin: int = 0) -> np.ndarray:
    """``np.convolve(x, h, "same")`` for an odd kernel, by FFT blocks anchored to the
    recording.

    Input blocks of ``L = nfft - len(h) + 1`` samples start at the recording's samples 0,
    L, 2L, ...; ``nfft`` depends on the kernel only. A sample's value is the sum of the
    (at most two) blocks that reach it, so a window of the recording (``x``, starting at
    sample ``origin``) gives the whole recording's values bit for bit wherever the blocks
    reaching a sample lie inside the window (``L + len(h)`` samples from its ends), and the
    result does not depend on the window's length (unlike ``scipy.signal.oaconvolve``,
    whose block size follows the input's).

    Parameters
    ----------
    x : np.ndarray [shape=(n,), float32 or float64] (the result has its precision)
    h : np.ndarray [shape=(K,)] kernel, K odd
    origin : position of ``x[0]`` in the recording (samples, >= 0)

    Returns
    -------
    np.ndarray [shape=(n,)]
    """
    k = len(h)
    if k % 2 == 0:
        raise ParameterError(f"anchored_convolve: kernel length must be odd, got {k}")
    if origin < 0:
        raise ParameterError(f"anchored_convolve: origin must be >= 0, got {origin}")
    dtype = x.dtype
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=dtype)
    nfft = 1 << max(10, int(np.ceil(np.log2(8 * k))))  # ~8 kernel lengths, >= 1024
    step = nfft - k + 1
    j0, j1 = origin // step, (origin + n - 1) // step
    nb = j1 - j0 + 1
    front = origin - j0 * step  # samples of the first block before x[0] (zeros here)
    xp = np.zeros(nb * step, dtype=dtype)
    xp[front : front + n] = x
    blocks = xp.reshape(nb, step)
    hf = _kernel_spectrum(np.asarray(h, dtype=np.float64).tobytes(), dtype.name, nfft)
    # full convolution of the blocks laid end to end: block j's head at [j L, (j + 1) L),
    # its tail (k - 1 < L samples) added onto block j + 1's head
    full = np.zeros((nb + 1) * step, dtype=dtype)
    heads = full[: nb * step].reshape(nb, step)
    tails = np.zeros((nb, k - 1), dtype=dtype)
    for r in range(0, nb, _OLA_ROWS):
        rows = slice(r, r + _OLA_ROWS)
        y = sfft.irfft(sfft.rfft(blocks[rows], nfft, axis=1) * hf, nfft, axis=1)
        heads[rows] = y[:, :step]
        tails[rows] = y[:, step:]
    full[step : (nb + 1) * step].reshape(nb, step)[:, : k - 1] += tails
    half = k // 2
    return full[front + half : front + half + n].copy()


def local_extrema(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of strict local maxima and minima (plateaus count once, at their start).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]

    Returns
    -------
    (maxima, minima) : two int arrays of indices
    """
    d = np.diff(y)
    nz = np.flatnonzero(d != 0)
    s = np.sign(d[nz])
    turn = np.flatnonzero(s[:-1] != s[1:])
    pos = nz[turn] + 1  # index after the last rise/fall
    maxima = pos[s[turn] > 0]
    minima = pos[s[turn] < 0]
    return maxima, minima
