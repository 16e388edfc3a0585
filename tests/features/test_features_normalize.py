"""Per-speaker standardisation: zero mean and unit variance per speaker, labels ignored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vocalmind.errors import ConfigError
from vocalmind.features.normalize import SpeakerStandardizer, normalize_per_speaker


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    groups = np.repeat(["s1", "s2", "s3"], [5, 7, 6])
    offset = {"s1": 0.0, "s2": 50.0, "s3": -20.0}
    scale = {"s1": 1.0, "s2": 10.0, "s3": 0.1}
    X = np.stack([offset[g] + scale[g] * rng.standard_normal(4) for g in groups])
    X[:, 3] = 7.0  # a constant feature
    return pd.DataFrame(X, columns=list("abcd"), index=[f"r{i}" for i in range(len(groups))]), groups


def test_each_speaker_gets_zero_mean_unit_variance(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, groups = data
    Z = SpeakerStandardizer().fit_transform(X, groups=groups)
    assert isinstance(Z, pd.DataFrame) and Z.index.equals(X.index) and list(Z.columns) == list("abcd")
    for g in np.unique(groups):
        block = Z.to_numpy()[groups == g, :3]
        np.testing.assert_allclose(block.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(block.std(axis=0), 1.0, atol=1e-12)
    np.testing.assert_array_equal(Z["d"], 0.0)  # constant feature -> 0, not NaN/inf


def test_labels_are_ignored(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, groups = data
    y1 = np.arange(len(X))
    y2 = y1[::-1]
    a = SpeakerStandardizer().fit(X, y1, groups=groups).transform(X, groups=groups)
    b = SpeakerStandardizer().fit(X, y2, groups=groups).transform(X, groups=groups)
    pd.testing.assert_frame_equal(a, b)


def test_unseen_speaker_uses_its_own_rows(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, groups = data
    train = groups != "s3"
    st = SpeakerStandardizer().fit(X[train], groups=groups[train])
    Z = st.transform(X[~train].to_numpy(), groups=groups[~train])
    assert isinstance(Z, np.ndarray)
    np.testing.assert_allclose(Z[:, :3].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :3].std(axis=0), 1.0, atol=1e-12)
    # a seen speaker keeps its training statistics even if transformed on fewer rows
    part = st.transform(X[groups == "s2"].iloc[:2], groups=["s2", "s2"])
    np.testing.assert_allclose(part.to_numpy(), st.transform(X[train], groups=groups[train]).loc[part.index].to_numpy())


def test_function_matches_estimator_and_keeps_type(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, groups = data
    Z = normalize_per_speaker(X.to_numpy(), groups)
    assert isinstance(Z, np.ndarray)
    np.testing.assert_allclose(Z, SpeakerStandardizer().fit_transform(X, groups=groups).to_numpy())


def test_groups_are_required_and_checked(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, groups = data
    with pytest.raises(ConfigError, match="groups"):
        SpeakerStandardizer().fit(X)
    with pytest.raises(ConfigError, match="one id per row"):
        SpeakerStandardizer().fit(X, groups=groups[:-1])
    with pytest.raises(ConfigError, match="not fitted"):
        SpeakerStandardizer().transform(X, groups=groups)
