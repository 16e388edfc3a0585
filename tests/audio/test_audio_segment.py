"""vocalmind.audio.segment: fixed-length segment rules and manifest expansion."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _audio_synth import SR, sine

from vocalmind.audio import recording_id, segment_manifest, segment_times
from vocalmind.corpora.manifest import make_manifest, validate_manifest
from vocalmind.errors import AudioError, ManifestError


@pytest.mark.parametrize(
    ("duration", "kwargs", "expected"),
    [
        (14.0, {}, [(0, 7), (7, 14)]),  # exact multiple: no tail
        (18.0, {}, [(0, 7), (7, 14), (11, 18)]),  # 4 s tail >= 3.5: end-aligned segment
        (17.0, {}, [(0, 7), (7, 14)]),  # 3 s tail < 3.5: dropped
        (15.0, {"min_last_s": 0.0}, [(0, 7), (7, 14), (8, 15)]),  # always cover the end
        (7.0, {}, [(0, 7)]),  # exactly one segment, not "short"
        (3.0, {}, [(0, 3)]),  # shorter than one segment: whole recording
        (3.0, {"pad_short": False}, []),
        (0.0, {}, []),
        (10.0, {"hop_s": 3.5}, [(0, 7)]),  # 3.5-10.5 does not fit; 3 s uncovered < 3.5
        (11.0, {"hop_s": 3.5}, [(0, 7), (3.5, 10.5)]),  # 0.5 s uncovered: dropped
        (12.0, {"hop_s": 4.0}, [(0, 7), (4, 11)]),  # 1 s uncovered < 3.5: dropped
        (14.0, {"hop_s": 3.5}, [(0, 7), (3.5, 10.5), (7, 14)]),
        (5.0, {"length_s": 2.0, "hop_s": 1.0}, [(0, 2), (1, 3), (2, 4), (3, 5)]),
        (7.0 - 1e-9, {}, [(0, 7.0 - 1e-9)]),  # float error does not make it "short"
    ],
)
def test_segment_times_rules(duration, kwargs, expected):
    got = segment_times(duration, **kwargs)
    assert len(got) == len(expected), got
    for (s, e), (s0, e0) in zip(got, expected, strict=True):
        assert s == pytest.approx(s0, abs=1e-6) and e == pytest.approx(e0, abs=1e-5)


def test_segment_times_every_segment_full_length_and_inside():
    for dur in np.linspace(7.0, 40.0, 67):
        segs = segment_times(float(dur), length_s=7.0, hop_s=2.0, min_last_s=0.0)
        assert all(abs((e - s) - 7.0) < 1e-6 for s, e in segs)
        assert segs[0][0] == 0.0 and segs[-1][1] == pytest.approx(dur)
        assert all(0 <= s and e <= dur + 1e-6 for s, e in segs)


@pytest.mark.parametrize(
    "kwargs",
    [{"length_s": 0}, {"hop_s": -1.0}, {"min_last_s": 8.0}, {"length_s": float("nan")}],
)
def test_segment_times_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        segment_times(10.0, **kwargs)
    with pytest.raises(ValueError):
        segment_times(float("nan"))
    with pytest.raises(ValueError):
        segment_times(-1.0)


@pytest.fixture
def manifest(write_wav):
    short = write_wav("short.wav", sine(200, 3.0, SR), SR)
    long = write_wav("long.wav", sine(200, 18.0, 8000), 8000)
    return make_manifest(
        [
            {"file": str(short), "subject": "s1", "emotion": "anger", "phq8": 12.0},
            {"file": str(long), "subject": "s2", "emotion": "neutral", "phq8": 3.0},
            {
                "file": str(long),
                "subject": "s2",
                "start": 2.0,
                "end": 11.5,
                "phq8": 3.0,
                "emotion": "sadness",
            },
        ]
    )


def test_segment_manifest_expands_rows_and_keeps_labels(manifest):
    out = segment_manifest(manifest, length_s=7.0)
    # short: 1 (short); long whole: 3; long span 2-11.5 (9.5 s): (2,9) + tail 2.5 < 3.5 dropped
    assert len(out) == 1 + 3 + 1
    for col in manifest.columns.drop(["start", "end"]):
        assert col in out.columns
    assert list(out.columns[: len(manifest.columns)]) == list(manifest.columns)
    short = out[out["file"].str.endswith("short.wav")]
    assert short[["start", "end"]].values.tolist() == [[0.0, 3.0]]
    assert short["short_segment"].tolist() == [True]
    assert short["emotion"].tolist() == ["anger"] and short["phq8_band"].notna().all()
    whole = out[out["recording"] == manifest.loc[1, "file"]]
    assert whole[["start", "end"]].values.tolist() == [[0, 7], [7, 14], [11, 18]]
    assert whole["segment"].tolist() == [0, 1, 2]
    assert whole["parent_start"].isna().all() and not whole["short_segment"].any()
    span = out[out["emotion"] == "sadness"]
    assert span[["start", "end"]].values.tolist() == [[2.0, 9.0]]
    assert span["recording"].tolist() == [recording_id(manifest.loc[2, "file"], 2.0, 11.5)]
    assert span[["parent_start", "parent_end"]].values.tolist() == [[2.0, 11.5]]
    assert (out.groupby("recording")["subject"].nunique() == 1).all()
    validate_manifest(out, check_files=True)  # still a valid manifest, unique keys
    # aggregation back to the manifest: one group per original row
    back = out.groupby("recording").size()
    assert len(back) == len(manifest)


def test_segment_manifest_within_spans(manifest):
    long = manifest.loc[1, "file"]
    within = {long: [(1.0, 9.0), (12.0, 13.0), (16.5, 30.0)]}
    out = segment_manifest(manifest.iloc[[1]], length_s=7.0, within=within)
    assert out[["start", "end"]].values.tolist() == [[1.0, 8.0], [12.0, 13.0], [16.5, 18.0]]
    assert out["short_segment"].tolist() == [False, True, True]
    callable_out = segment_manifest(manifest.iloc[[1]], length_s=7.0, within=lambda f: within[f])
    pd.testing.assert_frame_equal(out, callable_out)
    with pytest.warns(UserWarning, match="gave no segment"):
        none = segment_manifest(manifest.iloc[[0]], within={})
    assert none.empty


def test_segment_manifest_bad_files_and_inputs(manifest, tmp_path):
    bad = pd.concat(
        [manifest, make_manifest([{"file": str(tmp_path / "gone.wav"), "subject": "s3"}])],
        ignore_index=True,
    )
    with pytest.raises(AudioError, match="gone.wav"):
        segment_manifest(bad)
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        out = segment_manifest(bad, on_error="skip")
    assert "s3" not in set(out["subject"]) and len(out) == 5
    with pytest.raises(ManifestError, match="lacks columns"):
        segment_manifest(manifest.drop(columns=["end"]))
    with pytest.raises(ManifestError, match="segmented already"):
        segment_manifest(segment_manifest(manifest))
    with pytest.raises(ValueError):
        segment_manifest(manifest, length_s=-1.0)


def test_recording_id():
    assert recording_id("a.wav", math.nan, math.nan) == "a.wav"
    assert recording_id("a.wav", 0.0, 1.25) == "a.wav@0.000-1.250"
