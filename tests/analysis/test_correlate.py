"""Partial correlations against pingouin, covariate coding, and the correlation table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from vocalmind.analysis.correlate import (
    bh_fdr,
    correlate_features,
    covariate_design,
    partial_correlation,
)


def _data(n: int = 50, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    cov = pd.DataFrame({"gender": rng.choice(["f", "m"], n), "age": rng.uniform(18, 60, n)})
    male = (cov["gender"] == "m").to_numpy(float)
    score = pd.Series(10 + 4 * male + 0.1 * cov["age"] + rng.normal(0, 2, n), name="hamd")
    feats = pd.DataFrame(
        {
            "signal": score + rng.normal(0, 2, n),  # related to the score itself
            "via_gender": 3 * male + rng.normal(0, 0.5, n),  # related only through gender
            "noise": rng.normal(size=n),
        }
    )
    return feats, score, cov


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_partial_correlation_matches_pingouin(method: str) -> None:
    feats, score, cov = _data()
    design = covariate_design(cov)
    r, p, n = partial_correlation(feats.to_numpy(), score.to_numpy(), covariates=design, method=method)
    df = feats.assign(hamd=score, male=design[:, 0], age=cov["age"])
    for j, col in enumerate(feats.columns):
        ref = pg.partial_corr(df, x=col, y="hamd", covar=["male", "age"], method=method)
        assert r[j] == pytest.approx(ref["r"].iloc[0], abs=1e-9)
        assert p[j] == pytest.approx(ref["p_val"].iloc[0], rel=1e-6)
        assert n[j] == 50


def test_covariates_remove_a_confound() -> None:
    feats, score, cov = _data()
    plain = correlate_features(feats, score).set_index("feature")
    adjusted = correlate_features(feats, score, covariates=cov).set_index("feature")
    assert plain.loc["via_gender", "p"] < 0.01
    assert adjusted.loc["via_gender", "p"] > 0.05
    assert adjusted.loc["signal", "p"] < 0.01


def test_covariate_design_codes_missing_values() -> None:
    cov = pd.DataFrame(
        {"gender": ["f", "m", None, "f"], "age": [20.0, np.nan, 40.0, 30.0], "site": ["a"] * 4}
    )
    d = covariate_design(cov)
    # gender: 2 dummies (m, <missing> vs f); age: indicator + imputed value; constant site gone
    assert d.shape == (4, 4)
    assert d[1, 3] == 30.0  # median of 20, 40, 30
    assert d[:, 2].tolist() == [0, 1, 0, 0]
    assert covariate_design(None).shape == (0, 0)


def test_nan_feature_uses_complete_rows() -> None:
    feats, score, cov = _data()
    x = feats.to_numpy().copy()
    x[:5, 0] = np.nan
    r, p, n = partial_correlation(x, score.to_numpy())
    r_ref, p_ref, _ = partial_correlation(x[5:, :1], score.to_numpy()[5:])
    assert n[0] == 45 and n[1] == 50
    assert r[0] == pytest.approx(r_ref[0]) and p[0] == pytest.approx(p_ref[0])


def test_table_columns_fdr_and_constant_feature() -> None:
    feats, score, cov = _data()
    feats["flat"] = 1.0
    scores = pd.DataFrame({"hamd": score, "other": np.random.default_rng(5).normal(size=50)})
    t = correlate_features(feats, scores, covariates=cov, method="spearman")
    assert list(t.columns) == ["feature", "score", "r", "p", "p_fdr", "n"]
    assert len(t) == 8
    assert t.loc[t["score"] == "hamd", "feature"].iloc[0] == "signal"
    flat = t[t["feature"] == "flat"]
    assert flat["r"].isna().all() and flat["p"].isna().all()
    ok = t["p"].notna()
    assert (t.loc[ok, "p_fdr"] >= t.loc[ok, "p"] - 1e-15).all()
    assert np.isnan(correlate_features(feats, score, fdr=False)["p_fdr"]).all()


def test_bh_fdr_ignores_nan() -> None:
    from scipy import stats

    p = np.array([0.01, np.nan, 0.04, 0.03])
    out = bh_fdr(p)
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2, 3]], stats.false_discovery_control([0.01, 0.04, 0.03]))


def test_misaligned_tables_raise() -> None:
    feats, score, _ = _data()
    with pytest.raises(ValueError, match="share only"):
        correlate_features(feats, score.set_axis(range(100, 150)))
    with pytest.raises(ValueError, match="non-numeric"):
        correlate_features(feats.assign(name="x"), score)
