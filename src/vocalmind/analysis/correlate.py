"""Feature-score correlations, optionally partialled on covariates (Wang et al. 2023).

The study correlated each of 1,200 acoustic statistics with the HAMD score "controlling for
sex and age" (a partial Pearson correlation). The core here, :func:`partial_correlation`,
does that for many features at once by residualisation: the features, the score and
(for Spearman) the covariates are regressed on ``[1, covariates]`` by least squares, and the
Pearson correlation of the residuals is the partial correlation. Its p-value uses a
Student t with ``n - 2 - k`` degrees of freedom (``k`` = covariate columns), as
``pingouin.partial_corr`` does; the tests check both agree.

Results about depression or anxiety scores are research measurements, not diagnoses.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from vocalmind.errors import ConfigError, InputError

Method = Literal["pearson", "spearman"]
_METHODS = ("pearson", "spearman")


def covariate_design(covariates: pd.DataFrame | None) -> np.ndarray:
    """Turn a covariate table into a numeric design matrix (no intercept column).

    Categorical columns (object, string, category, bool; e.g. ``gender`` ``'f'``/``'m'``) are
    one-hot coded with the first level dropped; a missing value is its own level. Numeric
    columns (e.g. ``age`` in years) keep their values; missing values are imputed with the
    median of the rows given and flagged by an extra 0/1 indicator column, so rows are never
    dropped for a missing covariate. Constant columns (e.g. gender in an all-female fold)
    carry no information and are removed.

    Everything is computed from the rows passed in only, so inside a training fold nothing
    is learnt from the other rows.

    Parameters
    ----------
    covariates : DataFrame [shape=(n_samples, n_covariates)] or None

    Returns
    -------
    np.ndarray [shape=(n_samples, k)], float64
        ``k`` may be 0.
    """
    if covariates is None or covariates.shape[1] == 0:
        n = 0 if covariates is None else len(covariates)
        return np.zeros((n, 0))
    cols: list[np.ndarray] = []
    for name in covariates.columns:
        s = covariates[name]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            levels = s.astype("string").fillna("<missing>")
            dummies = pd.get_dummies(levels, drop_first=True, dtype=float)
            cols.extend(dummies.to_numpy().T)
        else:
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            miss = ~np.isfinite(v)
            if miss.all():
                continue  # nothing known about this covariate in these rows
            if miss.any():
                v = np.where(miss, np.nanmedian(v[~miss]), v)
                cols.append(miss.astype(float))
            cols.append(v)
    if not cols:
        return np.zeros((len(covariates), 0))
    design = np.column_stack(cols)
    keep = np.nanstd(design, axis=0) > 0
    return design[:, keep]


def _rank(a: np.ndarray) -> np.ndarray:
    return stats.rankdata(a, axis=0) if a.size else a


def _residualise(a: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Residuals of each column of ``a`` [n, m] after least squares on ``z`` [n, q]."""
    coef, *_ = np.linalg.lstsq(z, a, rcond=None)
    return a - z @ coef


def _partial_block(
    x: np.ndarray, y: np.ndarray, c: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """r, p for complete rows: x [n, m], y [n], c [n, k]."""
    n = len(y)
    if method == "spearman":
        x, y, c = _rank(x), _rank(y), _rank(c)
    z = np.column_stack([np.ones(n), c])
    k = int(np.linalg.matrix_rank(z)) - 1
    rx = _residualise(x, z)
    ry = _residualise(y[:, None], z)[:, 0]
    rx = rx - rx.mean(axis=0)
    ry = ry - ry.mean()
    denom = np.sqrt((rx**2).sum(axis=0) * (ry**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (rx * ry[:, None]).sum(axis=0) / denom
        # residuals of a constant column are ~1e-16 noise, not a signal
        r[np.sqrt((rx**2).sum(axis=0)) <= 1e-10 * (1 + np.abs(x).max(axis=0))] = np.nan
        r = np.clip(r, -1.0, 1.0)
        dof = n - 2 - k
        if dof < 1:
            return r, np.full_like(r, np.nan)
        t = r * np.sqrt(dof / (1.0 - r**2))
        p = 2.0 * stats.t.sf(np.abs(t), dof)
    return r, p


def partial_correlation(
    x: np.ndarray,
    y: np.ndarray,
    *,
    covariates: np.ndarray | None = None,
    method: Method = "pearson",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlation of every column of ``x`` with ``y``, partialled on ``covariates``.

    Parameters
    ----------
    x : np.ndarray [shape=(n_samples, n_features)]
        Features; NaN/inf entries are left out pairwise (per feature).
    y : np.ndarray [shape=(n_samples,)]
        The score (e.g. HAMD total); rows with NaN are left out.
    covariates : np.ndarray [shape=(n_samples, k)] or None
        Numeric design from :func:`covariate_design` (no intercept); must be finite.
    method : ``"pearson"`` or ``"spearman"`` (ranks of x, y and covariates, as pingouin does)

    Returns
    -------
    r, p, n : np.ndarray [shape=(n_features,)] each
        Partial correlation, two-sided p-value and number of rows used. Constant features
        and features with fewer than ``k + 3`` rows get NaN.
    """
    if method not in _METHODS:
        raise ConfigError(f"method={method!r} is not one of {_METHODS}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise InputError(f"partial_correlation: x must be (n, m) and y (n,); got {x.shape} and {y.shape}")
    c = np.zeros((len(y), 0)) if covariates is None else np.asarray(covariates, dtype=float)
    if c.ndim != 2 or len(c) != len(y):
        raise InputError(f"partial_correlation: covariates must be (n, k) with n={len(y)}; got {c.shape}")
    if not np.isfinite(c).all():
        raise InputError("partial_correlation: covariates must be finite; build them with covariate_design()")
    m = x.shape[1]
    r = np.full(m, np.nan)
    p = np.full(m, np.nan)
    rows = np.isfinite(y)
    finite = np.isfinite(x) & rows[:, None]
    n = finite.sum(axis=0)
    full = n == rows.sum()  # finite wherever the score is: one vectorised block
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if full.any() and rows.sum() > c.shape[1] + 2:
            r[full], p[full] = _partial_block(x[rows][:, full], y[rows], c[rows], method)
        for j in np.flatnonzero(~full):
            ok = finite[:, j]
            if ok.sum() > c.shape[1] + 2:
                rj, pj = _partial_block(x[ok, j : j + 1], y[ok], c[ok], method)
                r[j], p[j] = rj[0], pj[0]
    return r, p, n


def bh_fdr(p: np.ndarray | Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values; NaN stays NaN and is not counted as a test."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def correlate_features(
    features: pd.DataFrame,
    scores: pd.DataFrame | pd.Series,
    *,
    covariates: pd.DataFrame | None = None,
    method: Method = "pearson",
    fdr: bool = True,
) -> pd.DataFrame:
    """Correlate every feature with every score, optionally controlling for covariates.

    Parameters
    ----------
    features : DataFrame [shape=(n_units, n_features)]
        Numeric features, one row per unit (subject, session or segment).
    scores : DataFrame [shape=(n_units, n_scores)] or Series
        Scores such as ``phq9``, ``hamd``; aligned with ``features`` on the index.
    covariates : DataFrame [shape=(n_units, k)] or None
        E.g. ``gender`` and ``age``; coded by :func:`covariate_design` (one-hot, median
        imputation with a missing indicator). Aligned on the index.
    method : ``"pearson"`` or ``"spearman"``
    fdr : adjust p-values by Benjamini-Hochberg within each score (one family per score);
        with ``fdr=False`` the ``p_fdr`` column is NaN.

    Returns
    -------
    DataFrame
        Columns ``feature, score, r, p, p_fdr, n``; one row per (feature, score), sorted by
        score then p.

    Raises
    ------
    InputError
        If the tables share fewer than 3 index labels or a feature is not numeric.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    >>> s = pd.Series(2 * f["a"] + rng.normal(size=40), name="hamd")
    >>> t = correlate_features(f, s)
    >>> t.iloc[0]["feature"], bool(t.iloc[0]["p"] < 0.01)
    ('a', True)
    """
    if method not in _METHODS:
        raise ConfigError(f"method={method!r} is not one of {_METHODS}")
    if isinstance(scores, pd.Series):
        scores = scores.to_frame(name=scores.name if scores.name is not None else "score")
    common = features.index.intersection(scores.index)
    if covariates is not None:
        common = common.intersection(covariates.index)
    if len(common) < 3:
        raise InputError(
            f"correlate_features: features and scores share only {len(common)} index labels; align them on the "
            "same index (e.g. subject) before correlating"
        )
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise InputError(f"correlate_features: non-numeric feature columns {bad[:5]}; drop them before correlating")
    feats = features.loc[common]
    x = feats.to_numpy(dtype=float)
    c = covariate_design(covariates.loc[common]) if covariates is not None else None
    parts = []
    for score in scores.columns:
        y = pd.to_numeric(scores.loc[common, score], errors="coerce").to_numpy(dtype=float)
        r, p, n = partial_correlation(x, y, covariates=c, method=method)
        parts.append(
            pd.DataFrame(
                {
                    "feature": feats.columns.astype(str),
                    "score": str(score),
                    "r": r,
                    "p": p,
                    "p_fdr": bh_fdr(p) if fdr else np.nan,
                    "n": n.astype(int),
                }
            ).sort_values("p", na_position="last", kind="stable")
        )
    return pd.concat(parts, ignore_index=True)
