"""Ten statistics of each descriptor over its valid (finite) frames.

``max, min, median, mean, var`` (sample variance, ddof = 1), ``kurt`` (excess kurtosis,
Fisher, biased moment estimator as ``scipy.stats.kurtosis``), ``skew`` (biased, as
``scipy.stats.skew``), and ``slope, intercept, R2`` of the least-squares line of the
descriptor against frame time in seconds. NaN frames are ignored; a statistic is NaN when
undefined (no valid frame; variance with < 2 frames; skew/kurt/R2 of a constant; slope
with < 2 frames).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

STATS = ("max", "min", "median", "mean", "var", "kurt", "skew", "slope", "intercept", "R2")


def statistic_names(descriptors: list[str]) -> list[str]:
    """``<descriptor>_<stat>`` for every descriptor (outer) and statistic (inner)."""
    return [f"{d}_{s}" for d in descriptors for s in STATS]


#: fewest valid frames (0.1 s) for a descriptor's statistics; fewer give NaN for all ten
MIN_VALID_FRAMES = 10


def clinical_statistics(descriptors_df: pd.DataFrame, *,
                        min_valid: int = MIN_VALID_FRAMES) -> pd.Series:
    """The 10 statistics of every column of a descriptor table.

    Parameters
    ----------
    descriptors_df : pd.DataFrame [shape=(n_frames, n_descriptors)], index = time (s),
        NaN where a descriptor is undefined
    min_valid : fewest valid frames of a descriptor for its statistics; a descriptor with
        fewer (e.g. the glottal ones on a recording with few voiced frames) gets NaN for
        all ten, rather than numbers that look real

    Returns
    -------
    pd.Series [shape=(10 n_descriptors,)], float64, named ``<descriptor>_<stat>``

    Examples
    --------
    >>> df = pd.DataFrame({"a": [1.0, np.nan, 3.0]}, index=[0.0, 0.01, 0.02])
    >>> clinical_statistics(df, min_valid=1)[["a_mean", "a_slope"]].round(3).tolist()
    [2.0, 100.0]
    """
    Y = descriptors_df.to_numpy(dtype=np.float64)
    t = np.asarray(descriptors_df.index, dtype=np.float64)[:, None]
    out = statistics_matrix(Y, t, min_valid=min_valid)
    return pd.Series(out.T.ravel(), index=_names_index(tuple(map(str, descriptors_df.columns))),
                     dtype=np.float64)


@lru_cache(maxsize=8)
def _names_index(columns: tuple[str, ...]) -> pd.Index:
    return pd.Index(statistic_names(list(columns)), dtype=object)


def statistics_matrix(Y: np.ndarray, t: np.ndarray, *, min_valid: int = MIN_VALID_FRAMES
                      ) -> np.ndarray:
    """The statistics of :func:`clinical_statistics` as a matrix.

    Parameters
    ----------
    Y : np.ndarray [shape=(n_frames, n_descriptors)], NaN where undefined
    t : np.ndarray [shape=(n_frames, 1)] frame times (s)
    min_valid : fewest valid frames per descriptor (fewer: all ten statistics NaN)

    Returns
    -------
    np.ndarray [shape=(10, n_descriptors)], rows in ``STATS`` order
    """
    # a few descriptors at a time: the temporaries of an hour-long recording (360,000
    # frames) stay small, and each column's statistics do not depend on the others
    step = 8
    if Y.shape[1] > step:
        return np.concatenate([statistics_matrix(Y[:, j : j + step], t, min_valid=min_valid)
                               for j in range(0, Y.shape[1], step)], axis=1)
    valid = np.isfinite(Y)
    n = valid.sum(axis=0)
    nf = n.astype(float)
    out = np.full((len(STATS), Y.shape[1]), np.nan)
    cols = np.flatnonzero(n > 0)
    if len(cols):
        # one sort gives max, min and median: NaN (and -inf/inf mapped to NaN) sort last
        srt = np.sort(np.where(valid[:, cols], Y[:, cols], np.nan), axis=0)
        nv = n[cols]
        out[0, cols] = srt[nv - 1, np.arange(len(cols))]
        out[1, cols] = srt[0]
        out[2, cols] = 0.5 * (srt[(nv - 1) // 2, np.arange(len(cols))]
                              + srt[nv // 2, np.arange(len(cols))])
    with np.errstate(divide="ignore", invalid="ignore"):
        Yz = np.where(valid, Y, 0.0)
        mean = Yz.sum(axis=0) / nf
        dev = np.where(valid, Y - mean, 0.0)
        dev2 = dev * dev
        m2 = dev2.sum(axis=0) / nf
        m3 = (dev2 * dev).sum(axis=0) / nf
        m4 = (dev2 * dev2).sum(axis=0) / nf
        out[3] = mean
        out[4] = np.where(n >= 2, m2 * nf / (nf - 1), np.nan)
        const = ~(m2 > 1e-300)
        out[5] = np.where(const, np.nan, m4 / m2**2 - 3.0)
        out[6] = np.where(const, np.nan, m3 / m2**1.5)
        tm = (np.where(valid, t, 0.0)).sum(axis=0) / nf
        dt = np.where(valid, t - tm, 0.0)
        sxx = (dt * dt).sum(axis=0)
        sxy = (dt * dev).sum(axis=0)
        syy = m2 * nf
        ok = (n >= 2) & (sxx > 0)
        slope = np.where(ok, sxy / sxx, np.nan)
        out[7] = slope
        out[8] = np.where(ok, mean - slope * tm, np.nan)
        out[9] = np.where(ok & ~const, sxy**2 / (sxx * syy), np.nan)
    out[:, n < min_valid] = np.nan
    return out
