"""Aggregation of segment predictions to recordings and subjects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vocalmind.errors import ManifestError
from vocalmind.evaluation import aggregate_predictions


def segments() -> pd.DataFrame:
    # a.wav: 3 segments, majority vote says "neu" but the mean probability says "sad"
    return pd.DataFrame({
        "file": ["a.wav"] * 3 + ["b.wav"] * 2,
        "start": [0.0, 7.0, 14.0, 0.0, 7.0],
        "end": [7.0, 14.0, 21.0, 7.0, 14.0],
        "subject": ["s1"] * 3 + ["s1"] * 2,
        "y_true": ["sad"] * 3 + ["neu"] * 2,
        "y_pred": ["neu", "neu", "sad", "neu", "neu"],
        "proba_neu": [0.55, 0.55, 0.05, 0.9, 0.8],
        "proba_sad": [0.45, 0.45, 0.95, 0.1, 0.2],
    })


def test_recording_level_soft_vote():
    out = aggregate_predictions(segments(), level="recording")
    assert out["file"].tolist() == ["a.wav", "b.wav"]
    assert out["y_pred"].tolist() == ["sad", "neu"]
    assert out["n_segments"].tolist() == [3, 2]
    assert out.loc[0, "proba_sad"] == pytest.approx((0.45 + 0.45 + 0.95) / 3)
    assert out.loc[0, "start"] == 0.0 and out.loc[0, "end"] == 21.0


def test_majority_vote_without_probabilities():
    seg = segments().drop(columns=["proba_neu", "proba_sad"])
    out = aggregate_predictions(seg, level="recording")
    assert out["y_pred"].tolist() == ["neu", "neu"]


def test_subject_level_pools_all_rows():
    seg = segments()
    seg["y_true"] = "sad"
    out = aggregate_predictions(seg, level="subject")
    assert len(out) == 1 and out.loc[0, "n_recordings"] == 2 and out.loc[0, "n_segments"] == 5
    assert out.loc[0, "proba_neu"] == pytest.approx(seg["proba_neu"].mean())
    assert out.loc[0, "y_pred"] == "neu"


def test_regression_mean_and_integer_labels():
    seg = pd.DataFrame({"file": ["a", "a", "b"], "start": [0.0, 1.0, 0.0], "end": [1.0, 2.0, 1.0],
                        "subject": ["s1", "s1", "s2"], "y_true": [12.0, 12.0, 3.0],
                        "y_pred": [10.0, 13.0, 5.0]})
    out = aggregate_predictions(seg, level="subject", task="regression")
    assert out.set_index("subject")["y_pred"].to_dict() == {"s1": 11.5, "s2": 5.0}
    seg["y_true"] = [1, 1, 0]
    seg["y_pred"] = [0, 1, 0]
    seg["proba_0"] = [0.6, 0.3, 0.9]
    seg["proba_1"] = [0.4, 0.7, 0.1]
    out = aggregate_predictions(seg, level="recording")
    assert out["y_pred"].tolist() == [1, 0]
    assert isinstance(out["y_pred"].iloc[0], (int, np.integer))


def test_recording_column_separates_recordings_in_one_file():
    seg = segments()
    seg["file"] = "all.wav"
    seg["recording"] = ["r1"] * 3 + ["r2"] * 2
    out = aggregate_predictions(seg, level="recording")
    assert out["recording"].tolist() == ["r1", "r2"]


def test_conflicting_labels_raise():
    seg = segments()
    seg.loc[1, "y_true"] = "neu"
    with pytest.raises(ManifestError, match="conflicting y_true.*a.wav"):
        aggregate_predictions(seg, level="recording")
    with pytest.raises(ManifestError, match="subject"):
        aggregate_predictions(segments(), level="subject")  # s1 has sad and neu recordings
    seg = segments()
    seg.loc[0, "subject"] = "s2"
    with pytest.raises(ManifestError, match="several subjects"):
        aggregate_predictions(seg, level="recording")
    with pytest.raises(ManifestError, match="lacks columns"):
        aggregate_predictions(segments().drop(columns="y_pred"))
