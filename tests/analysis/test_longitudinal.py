"""Pre/post, group and session statistics, checked against scipy and pingouin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats

from vocalmind.analysis.longitudinal import group_difference, paired_change, session_trend

SEED = 7


def _prepost(n: int = 18) -> tuple[pd.DataFrame, pd.DataFrame]:
    """'shift' drops by 1 SD of its differences (normal); 'skewed' shifts by exponential
    noise (not normal); 'null' has no change at all."""
    rng = np.random.default_rng(SEED)
    subj = [f"s{i:02d}" for i in range(n)]
    pre = pd.DataFrame(
        {"subject": subj, "shift": rng.normal(10, 2, n), "skewed": rng.normal(0, 1, n),
         "null": rng.normal(5, 1, n)}
    )
    post = pd.DataFrame(
        {
            "subject": subj,
            "shift": pre["shift"] - 2.0 + rng.normal(0, 1, n),
            "skewed": pre["skewed"] + rng.exponential(1.0, n) ** 3,
            "null": pre["null"] + rng.normal(0, 1, n),
        }
    )
    return pre, post.sample(frac=1.0, random_state=1)  # row order must not matter


def test_paired_change_matches_scipy_and_detects_the_shift() -> None:
    pre, post = _prepost()
    t = paired_change(pre, post, subject_col="subject").set_index("feature")
    post = post.set_index("subject").loc[pre["subject"]].reset_index()
    d = post["shift"] - pre["shift"]
    assert stats.shapiro(d).pvalue > 0.05
    row = t.loc["shift"]
    ref = stats.ttest_rel(post["shift"], pre["shift"])
    assert row["test"] == "paired_t" and row["effect_type"] == "cohen_dz"
    assert row["statistic"] == pytest.approx(ref.statistic) and row["p"] == pytest.approx(ref.pvalue)
    assert row["effect_size"] == pytest.approx(d.mean() / d.std(ddof=1))
    assert row["ci_low"] < row["effect_size"] < row["ci_high"] < 0
    assert row["significant"] and row["mean_diff"] < 0
    assert row["levene_p"] == pytest.approx(stats.levene(pre["shift"], post["shift"]).pvalue)


def test_non_normal_differences_use_wilcoxon_with_rank_biserial() -> None:
    pre, post = _prepost()
    t = paired_change(pre, post, subject_col="subject").set_index("feature")
    post = post.set_index("subject").loc[pre["subject"]].reset_index()
    row = t.loc["skewed"]
    assert row["shapiro_p"] <= 0.05 and row["test"] == "wilcoxon"
    assert row["p"] == pytest.approx(stats.wilcoxon(post["skewed"], pre["skewed"]).pvalue)
    ref = pg.wilcoxon(post["skewed"], pre["skewed"])
    assert row["effect_size"] == pytest.approx(ref["RBC"].iloc[0])
    assert row["effect_size"] == pytest.approx(1.0)  # every difference is positive


def test_no_shift_is_not_significant_and_fdr_matches_scipy() -> None:
    pre, post = _prepost()
    t = paired_change(pre, post, subject_col="subject")
    null = t.set_index("feature").loc["null"]
    assert null["p"] > 0.05 and not null["significant"]
    np.testing.assert_allclose(t["p_fdr"], stats.false_discovery_control(t["p"]))


def test_forced_test_pairing_and_errors() -> None:
    pre, post = _prepost()
    t = paired_change(pre, post.iloc[:-3], subject_col="subject", test="wilcoxon")
    assert (t["test"] == "wilcoxon").all() and (t["n"] == 15).all()
    assert t.attrs["n_unpaired"] == 3
    with pytest.raises(ValueError, match="more than once"):
        paired_change(pd.concat([pre, pre]), post, subject_col="subject")
    with pytest.raises(ValueError, match="share no subject"):
        paired_change(pre, post.assign(subject=post["subject"] + "_x"), subject_col="subject")
    same = paired_change(pre, pre, subject_col="subject", feature_cols=["shift"])
    assert same.loc[0, "p"] == 1.0 and not same.loc[0, "significant"]


def test_group_difference_against_scipy_and_pingouin() -> None:
    rng = np.random.default_rng(SEED)
    a = pd.DataFrame({"normal_shift": rng.normal(1, 1, 25), "skew": rng.exponential(1, 25) ** 3})
    b = pd.DataFrame({"normal_shift": rng.normal(0, 1, 30), "skew": rng.exponential(1, 30) ** 3})
    t = group_difference(a, b).set_index("feature")
    ns = t.loc["normal_shift"]
    assert ns["test"] == "welch_t"
    assert ns["p"] == pytest.approx(stats.ttest_ind(a["normal_shift"], b["normal_shift"], equal_var=False).pvalue)
    assert ns["significant"] and ns["hedges_g"] > 0.5
    sk = t.loc["skew"]
    assert sk["test"] == "mann_whitney" and np.isnan(sk["welch_p"])
    assert sk["p"] == pytest.approx(stats.mannwhitneyu(a["skew"], b["skew"]).pvalue)
    assert sk["rank_biserial"] == pytest.approx(pg.mwu(a["skew"], b["skew"])["RBC"].iloc[0])
    assert not sk["significant"]


def _sessions(slope: float, n: int = 20, k: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    rows = []
    for s in range(n):
        base = rng.normal(0, 2)
        for t in range(k):
            rows.append({"subject": f"s{s}", "session": f"m{t + 1:02d}",
                         "f": base + slope * t + rng.normal(0, 0.5)})
    return pd.DataFrame(rows).iloc[:-1]  # one missed session


def test_session_trend_mixedlm_recovers_slope() -> None:
    df = _sessions(0.5).assign(g=_sessions(0.0)["f"])
    t = session_trend(df, subject_col="subject", session_col="session", value_cols=["f", "g"]).set_index("value")
    assert t.loc["f", "slope"] == pytest.approx(0.5, abs=0.15) and t.loc["f", "significant"]
    assert t.loc["f", "n_obs"] == 79 and t.loc["f", "converged"]
    assert t.loc["g", "p"] > 0.05


def test_session_trend_friedman_matches_scipy() -> None:
    df = _sessions(0.5)
    t = session_trend(df, subject_col="subject", session_col="session", value_cols=["f"], method="friedman")
    wide = df.pivot(index="subject", columns="session", values="f").dropna()
    ref = stats.friedmanchisquare(*[wide[c] for c in wide.columns])
    assert t.loc[0, "n_subjects"] == 19 and t.loc[0, "p"] == pytest.approx(ref.pvalue)
    assert 0 < t.loc[0, "kendall_w"] <= 1
    with pytest.raises(ValueError, match="session_order"):
        session_trend(df, subject_col="subject", session_col="session", value_cols=["f"],
                      session_order=["m01"])
