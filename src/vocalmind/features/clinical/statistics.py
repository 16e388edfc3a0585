"""Ten statistics of each descriptor over its valid (finite) frames.

``max, min, median, mean, var`` (sample variance, ddof = 1), ``kurt`` (excess kurtosis,
Fisher, biased moment estimator as ``scipy.stats.kurtosis``), ``skew`` (biased, as
``scipy.stats.skew``), and ``slope, intercept, R2`` of the least-squares line of the
descriptor against frame time in seconds. NaN frames are ignored; a statistic is NaN when
undefined (no valid frame; variance with < 2 frames; skew/kurt/R2 of a constant; slope
with < 2 frames).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STATS = ("max", "min", "median", "mean", "var", "kurt", "skew", "slope", "intercept", "R2")


def statistic_names(descriptors: list[str]) -> list[str]:
    """``<descriptor>_<stat>`` for every descriptor (outer) and statistic (inner)."""
    return [f"{d}_{s}" for d in descriptors for s in STATS]


def clinical_statistics(descriptors_df: pd.DataFrame) -> pd.Series:
    """The 10 statistics of every column of a descriptor table.

    Parameters
    ----------
    descriptors_df : pd.DataFrame [shape=(n_frames, n_descriptors)], index = time (s),
        NaN where a descriptor is undefined

    Returns
    -------
    pd.Series [shape=(10 n_descriptors,)], float64, named ``<descriptor>_<stat>``

    Examples
    --------
    >>> df = pd.DataFrame({"a": [1.0, np.nan, 3.0]}, index=[0.0, 0.01, 0.02])
    >>> clinical_statistics(df)[["a_mean", "a_slope"]].round(3).tolist()
    [2.0, 100.0]
    """
    Y = descriptors_df.to_numpy(dtype=np.float64)
    t = np.asarray(descriptors_df.index, dtype=np.float64)[:, None]
    valid = np.isfinite(Y)
    n = valid.sum(axis=0).astype(float)
    Yz = np.where(valid, Y, 0.0)
    out = np.full((len(STATS), Y.shape[1]), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        has = n > 0
        Yn = np.where(valid, Y, np.nan)
        if has.any():
            out[0, has] = np.nanmax(Yn[:, has], axis=0)
            out[1, has] = np.nanmin(Yn[:, has], axis=0)
            out[2, has] = np.nanmedian(Yn[:, has], axis=0)
        mean = Yz.sum(axis=0) / n
        dev = np.where(valid, Y - mean, 0.0)
        m2 = (dev**2).sum(axis=0) / n
        m3 = (dev**3).sum(axis=0) / n
        m4 = (dev**4).sum(axis=0) / n
        out[3] = mean
        out[4] = np.where(n >= 2, m2 * n / (n - 1), np.nan)
        const = ~(m2 > 1e-300)
        out[5] = np.where(const, np.nan, m4 / m2**2 - 3.0)
        out[6] = np.where(const, np.nan, m3 / m2**1.5)
        tm = (np.where(valid, t, 0.0)).sum(axis=0) / n
        dt = np.where(valid, t - tm, 0.0)
        sxx = (dt**2).sum(axis=0)
        sxy = (dt * dev).sum(axis=0)
        syy = (dev**2).sum(axis=0)
        ok = (n >= 2) & (sxx > 0)
        slope = np.where(ok, sxy / sxx, np.nan)
        out[7] = slope
        out[8] = np.where(ok, mean - slope * tm, np.nan)
        out[9] = np.where(ok & ~const, sxy**2 / (sxx * syy), np.nan)
    names = statistic_names(list(map(str, descriptors_df.columns)))
    return pd.Series(out.T.ravel(), index=names, dtype=np.float64)
