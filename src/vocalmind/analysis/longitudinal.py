"""Change in voice features across therapy: pre/post, group and many-session statistics.

Wang et al. (2023) recorded 18 people before and after 12 sessions of internet-based CBT,
checked normality (Shapiro-Wilk) and equal variances (Levene), and compared pre and post
with a Mann-Whitney U test. The same people were measured twice, so the samples are paired;
:func:`paired_change` therefore tests the within-person differences: a paired t-test when
the differences look normal (Shapiro-Wilk p > alpha), otherwise the Wilcoxon signed-rank
test, with an effect size and Benjamini-Hochberg FDR across features. The study's unpaired
test remains available as :func:`group_difference` (meant for two independent groups).

Differences are always ``after - before``: a negative effect means the feature went down.
Results are research measurements about groups, not diagnoses of anyone.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from vocalmind.analysis.correlate import bh_fdr
from vocalmind.errors import ConfigError, InputError

_Z95 = 1.959963984540054


def _numeric_columns(df: pd.DataFrame, exclude: Sequence[str]) -> list[str]:
    return [c for c in df.columns if c not in exclude and pd.api.types.is_numeric_dtype(df[c])]


def _shapiro(v: np.ndarray) -> float:
    if len(v) < 3 or np.ptp(v) == 0:
        return np.nan
    return float(stats.shapiro(v).pvalue)


def _levene(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or len(b) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return np.nan
    return float(stats.levene(a, b).pvalue)


def _matched_rank_biserial(d: np.ndarray) -> tuple[float, float]:
    """Rank-biserial correlation of paired differences and its (null) standard error.

    r = (R+ - R-) / (R+ + R-) over the ranks of |d| of the non-zero differences (Kerby 2014).
    """
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return 0.0, np.nan
    ranks = stats.rankdata(np.abs(d))
    total = n * (n + 1) / 2
    r = float((ranks[d > 0].sum() - ranks[d < 0].sum()) / total)
    se = float(np.sqrt(n * (n + 1) * (2 * n + 1) / 6) / total)
    return r, se


def _finish(rows: list[dict], alpha: float, fdr: bool) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_fdr"] = bh_fdr(table["p"].to_numpy()) if fdr else np.nan
    p_used = table["p_fdr"] if fdr else table["p"]
    table["significant"] = p_used.fillna(1.0) < alpha
    return table.sort_values("p", na_position="last", kind="stable").reset_index(drop=True)


def paired_change(
    before: pd.DataFrame,
    after: pd.DataFrame,
    *,
    subject_col: str,
    alpha: float = 0.05,
    feature_cols: Sequence[str] | None = None,
    test: Literal["auto", "paired_t", "wilcoxon"] = "auto",
    fdr: bool = True,
) -> pd.DataFrame:
    """Per-feature within-subject change from ``before`` to ``after``.

    Parameters
    ----------
    before, after : DataFrame
        One row per subject (aggregate segments or recordings first), a ``subject_col`` and
        numeric feature columns. Subjects present in only one table are left out.
    subject_col : column pairing the rows
    alpha : level for the normality decision and for ``significant``
    feature_cols : features to test; default every numeric column the two tables share
    test : ``"auto"`` (paired t if the differences pass Shapiro-Wilk at ``alpha``, else
        Wilcoxon signed-rank), or force one
    fdr : mark ``significant`` by BH-adjusted p (``p_fdr``) rather than raw p

    Returns
    -------
    DataFrame
        One row per feature, sorted by p: ``feature, n, mean_before, mean_after,
        median_before, median_after, mean_diff, median_diff, shapiro_p, normal, levene_p,
        test, statistic, p, effect_size, effect_type, ci_low, ci_high, p_fdr, significant``.
        ``effect_type`` is ``cohen_dz`` (mean difference / SD of differences; approximate
        95 % CI) for the t-test and ``rank_biserial`` (matched pairs; CI from the null SE,
        approximate) for Wilcoxon. ``attrs["n_unpaired"]`` counts subjects dropped.

    Raises
    ------
    InputError
        Missing ``subject_col``, a subject listed twice in one table, or no shared subject.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> pre = pd.DataFrame({"subject": range(20), "f0_mean": rng.normal(200, 10, 20)})
    >>> post = pre.assign(f0_mean=pre["f0_mean"] - 15 + rng.normal(0, 3, 20))
    >>> t = paired_change(pre, post, subject_col="subject")
    >>> t.loc[0, "test"], bool(t.loc[0, "significant"]), bool(t.loc[0, "effect_size"] < 0)
    ('paired_t', True, True)
    """
    if test not in ("auto", "paired_t", "wilcoxon"):
        raise ConfigError(f"test={test!r} must be 'auto', 'paired_t' or 'wilcoxon'")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha!r} must lie in (0, 1)")
    for name, df in (("before", before), ("after", after)):
        if subject_col not in df.columns:
            raise InputError(f"paired_change: {name} table has no {subject_col!r} column")
        dup = df[subject_col].duplicated()
        if dup.any():
            raise InputError(
                f"paired_change: {name} table lists {int(dup.sum())} subjects more than once; aggregate to one "
                f"row per subject first (e.g. df.groupby({subject_col!r}).mean())"
            )
    if feature_cols is None:
        feature_cols = [c for c in _numeric_columns(before, [subject_col]) if c in after.columns]
    merged = before.merge(after, on=subject_col, suffixes=("__b", "__a"))
    if merged.empty:
        raise InputError("paired_change: before and after share no subject; check the subject ids")
    n_all = len(set(before[subject_col]) | set(after[subject_col]))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for feat in feature_cols:
            b = pd.to_numeric(merged[f"{feat}__b"], errors="coerce").to_numpy(float)
            a = pd.to_numeric(merged[f"{feat}__a"], errors="coerce").to_numpy(float)
            ok = np.isfinite(a) & np.isfinite(b)
            a, b = a[ok], b[ok]
            d = a - b
            n = len(d)
            row: dict = {
                "feature": str(feat),
                "n": n,
                "mean_before": b.mean() if n else np.nan,
                "mean_after": a.mean() if n else np.nan,
                "median_before": np.median(b) if n else np.nan,
                "median_after": np.median(a) if n else np.nan,
                "mean_diff": d.mean() if n else np.nan,
                "median_diff": np.median(d) if n else np.nan,
                "shapiro_p": _shapiro(d),
                "levene_p": _levene(b, a),
            }
            row["normal"] = bool(row["shapiro_p"] > alpha)  # NaN -> False
            kind = test if test != "auto" else ("paired_t" if row["normal"] else "wilcoxon")
            stat = p = es = lo = hi = np.nan
            if n >= 2 and np.all(d == 0):
                stat, p, es = 0.0, 1.0, 0.0
            elif kind == "paired_t" and n >= 2:
                res = stats.ttest_rel(a, b)
                stat, p = float(res.statistic), float(res.pvalue)
                sd = d.std(ddof=1)
                es = d.mean() / sd if sd > 0 else np.nan
                se = np.sqrt(1 / n + es**2 / (2 * n))
                lo, hi = es - _Z95 * se, es + _Z95 * se
            elif kind == "wilcoxon" and n >= 1:
                res = stats.wilcoxon(a, b)
                stat, p = float(res.statistic), float(res.pvalue)
                es, se = _matched_rank_biserial(d)
                lo, hi = max(-1.0, es - _Z95 * se), min(1.0, es + _Z95 * se)
            row.update(
                test=kind,
                statistic=stat,
                p=p,
                effect_size=es,
                effect_type="cohen_dz" if kind == "paired_t" else "rank_biserial",
                ci_low=lo,
                ci_high=hi,
            )
            rows.append(row)
    table = _finish(rows, alpha, fdr)
    table.attrs["n_unpaired"] = n_all - len(merged)
    return table


def group_difference(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    alpha: float = 0.05,
    feature_cols: Sequence[str] | None = None,
    fdr: bool = True,
) -> pd.DataFrame:
    """Per-feature difference between two independent groups (``a`` minus ``b``).

    Mann-Whitney U is always computed; when both groups pass Shapiro-Wilk at ``alpha`` the
    Welch t-test is also computed and becomes the reported test (``test``, ``p``).

    Parameters
    ----------
    a, b : DataFrame [shape=(n_a, ...)], [shape=(n_b, ...)]
        One row per independent unit (subject).
    alpha, feature_cols, fdr : as in :func:`paired_change`

    Returns
    -------
    DataFrame
        ``feature, n_a, n_b, mean_a, mean_b, median_a, median_b, shapiro_p_a, shapiro_p_b,
        normal, levene_p, mwu_u, mwu_p, rank_biserial, welch_t, welch_p, hedges_g, test, p,
        p_fdr, significant``; ``rank_biserial`` = 2U/(n_a n_b) - 1 (> 0: a tends larger),
        ``hedges_g`` = bias-corrected standardised mean difference with pooled SD.
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha!r} must lie in (0, 1)")
    if feature_cols is None:
        feature_cols = [c for c in _numeric_columns(a, []) if c in b.columns]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for feat in feature_cols:
            va = pd.to_numeric(a[feat], errors="coerce").dropna().to_numpy(float)
            vb = pd.to_numeric(b[feat], errors="coerce").dropna().to_numpy(float)
            na, nb = len(va), len(vb)
            row: dict = {"feature": str(feat), "n_a": na, "n_b": nb}
            row.update(
                mean_a=va.mean() if na else np.nan,
                mean_b=vb.mean() if nb else np.nan,
                median_a=np.median(va) if na else np.nan,
                median_b=np.median(vb) if nb else np.nan,
                shapiro_p_a=_shapiro(va),
                shapiro_p_b=_shapiro(vb),
                levene_p=_levene(va, vb),
            )
            row["normal"] = bool(row["shapiro_p_a"] > alpha and row["shapiro_p_b"] > alpha)
            u = pu = rbc = t = pt = g = np.nan
            if na and nb:
                res = stats.mannwhitneyu(va, vb, alternative="two-sided")
                u, pu = float(res.statistic), float(res.pvalue)
                rbc = 2 * u / (na * nb) - 1
            if na >= 2 and nb >= 2:
                pooled = np.sqrt(((na - 1) * va.var(ddof=1) + (nb - 1) * vb.var(ddof=1)) / (na + nb - 2))
                if pooled > 0:
                    g = (va.mean() - vb.mean()) / pooled * (1 - 3 / (4 * (na + nb) - 9))
                if row["normal"]:
                    res = stats.ttest_ind(va, vb, equal_var=False)
                    t, pt = float(res.statistic), float(res.pvalue)
            use_welch = row["normal"] and np.isfinite(pt)
            row.update(
                mwu_u=u, mwu_p=pu, rank_biserial=rbc, welch_t=t, welch_p=pt, hedges_g=g,
                test="welch_t" if use_welch else "mann_whitney",
                p=pt if use_welch else pu,
            )
            rows.append(row)
    return _finish(rows, alpha, fdr)


def session_trend(
    df: pd.DataFrame,
    *,
    subject_col: str,
    session_col: str,
    value_cols: Sequence[str],
    method: Literal["mixedlm", "friedman"] = "mixedlm",
    session_order: Sequence[object] | None = None,
    fdr: bool = True,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Trend of features over many sessions (e.g. the 12 ICBT modules).

    Sessions are put in order (``session_order``, else sorted values of ``session_col``)
    and numbered 0, 1, ... k-1.

    - ``"mixedlm"``: a linear mixed model ``value ~ session_index`` with a random intercept
      per subject (statsmodels ``MixedLM``, REML). Reports the slope per session, its SE
      and Wald p. Uses every observation, also from subjects who missed sessions; assumes
      a linear trend.
    - ``"friedman"``: the Friedman test that the sessions differ (any pattern, not only
      linear), on subjects with every session (mean of repeated rows), with Kendall's W.
      Needs >= 3 sessions.

    Parameters
    ----------
    df : long table, one row per subject x session (or more; averaged for Friedman)
    subject_col, session_col : id columns
    value_cols : features (or scores) to analyse
    method, session_order, fdr, alpha : see above; ``significant`` uses ``p_fdr`` if ``fdr``

    Returns
    -------
    DataFrame
        ``value, method, n_subjects, n_obs, n_sessions, slope, slope_se, statistic, p,
        kendall_w, converged, p_fdr, significant``.
    """
    if method not in ("mixedlm", "friedman"):
        raise ConfigError(f"method={method!r} must be 'mixedlm' or 'friedman'")
    for col in (subject_col, session_col, *value_cols):
        if col not in df.columns:
            raise InputError(f"session_trend: column {col!r} not in the table (it has {list(df.columns)[:10]} ...)")
    order = list(session_order) if session_order is not None else sorted(df[session_col].dropna().unique())
    unknown = set(df[session_col].dropna().unique()) - set(order)
    if unknown:
        raise InputError(f"session_trend: sessions {sorted(map(str, unknown))[:5]} are not in session_order")
    index = {s: i for i, s in enumerate(order)}
    long = df.assign(_time=df[session_col].map(index).astype(float))
    rows = []
    for col in value_cols:
        data = pd.DataFrame(
            {
                "subject": long[subject_col].astype(str),
                "time": long["_time"],
                "value": pd.to_numeric(long[col], errors="coerce"),
            }
        ).dropna()
        row: dict = {
            "value": str(col), "method": method, "n_subjects": data["subject"].nunique(),
            "n_obs": len(data), "n_sessions": data["time"].nunique(), "slope": np.nan,
            "slope_se": np.nan, "statistic": np.nan, "p": np.nan, "kendall_w": np.nan,
            "converged": False,
        }
        if method == "mixedlm":
            row.update(_mixedlm_slope(data))
        else:
            wide = data.pivot_table(index="subject", columns="time", values="value", aggfunc="mean")
            wide = wide.dropna()
            k = wide.shape[1]
            row.update(n_subjects=len(wide), n_obs=int(wide.size), n_sessions=k)
            if k >= 3 and len(wide) >= 2:
                res = stats.friedmanchisquare(*[wide[c].to_numpy() for c in wide.columns])
                row.update(
                    statistic=float(res.statistic), p=float(res.pvalue), converged=True,
                    kendall_w=float(res.statistic) / (len(wide) * (k - 1)),
                )
        rows.append(row)
    return _finish(rows, alpha, fdr)


def _mixedlm_slope(data: pd.DataFrame) -> dict:
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    if data["time"].nunique() < 2 or data["subject"].nunique() < 2:
        return {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = smf.mixedlm("value ~ time", data, groups=data["subject"]).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError):
            return {}
    converged = bool(fit.converged) and not any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    return {
        "slope": float(fit.params["time"]),
        "slope_se": float(fit.bse["time"]),
        "statistic": float(fit.tvalues["time"]),
        "p": float(fit.pvalues["time"]),
        "converged": converged,
    }
