"""Registry, the generic csv reader, and summaries/plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vocalmind.corpora import available_corpora, read_corpus, summarize
from vocalmind.corpora.summary import row_durations, summary_plots
from vocalmind.errors import CorpusError

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ALL = {"emodb", "ravdess", "tess", "savee", "emovo", "urdu", "cremad", "aesdd", "iemocap",
       "daicwoz", "edaic", "eatd", "emu", "androids", "csv"}


def test_registry_lists_every_corpus():
    assert set(available_corpora()) == ALL


def test_unknown_corpus_and_option(tmp_path):
    with pytest.raises(CorpusError, match="unknown corpus"):
        read_corpus("timit", tmp_path)
    with pytest.raises(ValueError, match="no option"):
        read_corpus("emodb", tmp_path, participant_only=True)


def test_csv_relative_paths_and_mapping(tmp_path, wav):
    wav(tmp_path / "audio" / "a.wav", seconds=0.5)
    wav(tmp_path / "audio" / "b.wav", seconds=0.25)
    table = tmp_path / "meta" / "list.csv"
    table.parent.mkdir()
    pd.DataFrame({"path": ["../audio/a.wav", "../audio/b.wav", "../audio/missing.wav"],
                  "speaker": ["s1", "s2", "s3"], "score": [3, 15, 7], "note": ["x", "y", "z"]}
                 ).to_csv(table, index=False)
    df = read_corpus("csv", table, columns={"path": "file", "speaker": "subject", "score": "phq9"})
    assert [Path(f).name for f in df["file"]] == ["a.wav", "b.wav"]
    assert Path(df["file"].iloc[0]).is_absolute()
    assert df["phq9_band"].tolist() == ["none", "moderately_severe"]
    assert df["note"].tolist() == ["x", "y"] and set(df["corpus"]) == {"list"}
    assert [Path(f["file"]).name for f in df.attrs["failures"]] == ["missing.wav"]
    with pytest.raises(CorpusError, match="no 'file' column"):
        read_corpus("csv", table)


def test_summary_counts_durations_and_failures(tmp_path, wav):
    a = wav(tmp_path / "a.wav", seconds=1.0)
    b = wav(tmp_path / "b.wav", seconds=0.5)
    gone = tmp_path / "gone.wav"
    from vocalmind.corpora import make_manifest

    m = make_manifest([
        {"file": str(a), "subject": "s1", "emotion": "anger", "gender": "f"},
        {"file": str(a), "subject": "s1", "emotion": "anger", "start": 0.2, "end": 0.6},
        {"file": str(b), "subject": "s2", "emotion": "neutral", "gender": "m"},
        {"file": str(gone), "subject": "s3", "emotion": "neutral"},
    ])
    s = summarize(m)
    assert (s["rows"], s["files"], s["subjects"]) == (4, 3, 3)
    assert s["duration_s"] == pytest.approx(1.0 + 0.4 + 0.5, abs=1e-3)
    assert s["labels"] == {"emotion": {"anger": 2, "neutral": 2}}
    assert [f["file"] for f in s["failures"]] == [str(gone)]
    d, _ = row_durations(m)
    paths = summary_plots(m, d, tmp_path / "plots")
    assert [p.name for p in paths] == ["manifest-durations.png", "manifest-labels-emotion.png",
                                       "manifest-subjects.png"]
    assert all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    assert not list((tmp_path / "plots").glob("*.part"))
    with pytest.raises(ValueError, match="one per manifest row"):
        summary_plots(m, np.ones(2), tmp_path / "plots")
    with pytest.raises(ValueError, match="not in the manifest"):
        summarize(m, label_columns=["valence"])


def test_plots_for_a_clinical_corpus_every_label_severity_order_unique_names(tmp_path, wav):
    from matplotlib.ticker import MaxNLocator  # noqa: F401 - the plots use integer ticks

    from vocalmind.corpora import make_manifest
    from vocalmind.corpora.summary import label_order

    rows = []
    for i, score in enumerate([2, 7, 12, 17, 22, 3, 11]):
        f = wav(tmp_path / f"r{i}.wav", seconds=0.2)
        rows.append({"file": str(f), "subject": f"p{i}", "corpus": "emu", "phq9": float(score),
                     "gad7": float(min(score, 21))})
    m = make_manifest(rows)
    m["phq9_band"] = ["none", "mild", "moderate", "moderately_severe", "severe", "none", "moderate"]
    m["phq9_binary"] = [0, 0, 1, 1, 1, 0, 1]
    s = summarize(m)
    assert list(s["labels"]["phq9_band"]) == ["none", "mild", "moderate", "moderately_severe",
                                              "severe"]
    d, _ = row_durations(m)
    names = [p.name for p in summary_plots(m, d, tmp_path / "plots")]
    assert names[0] == "emu-durations.png" and names[-1] == "emu-subjects.png"
    assert {"emu-labels-phq9_band.png", "emu-labels-phq9_binary.png", "emu-labels-gad7_band.png",
            "emu-scores-phq9.png", "emu-scores-gad7.png"} <= set(names)
    assert label_order("gad7_band", ["severe", "minimal", "moderate", "mild"]) == [
        "minimal", "mild", "moderate", "severe"]
    # another corpus in the same folder does not overwrite these
    other = m.assign(corpus="eatd")
    names2 = [p.name for p in summary_plots(other, d, tmp_path / "plots")]
    assert not set(names) & set(names2)


@pytest.mark.realdata
def test_real_emodb(assert_no_file_lost):
    root = SHARED_DATA / "emodb"
    if not root.is_dir():
        pytest.skip(f"real EMO-DB not found at {root}")
    df = read_corpus("emodb", root)
    assert len(df) == 535 and df["subject"].nunique() == 10
    assert df["emotion"].value_counts().to_dict() == {
        "anger": 127, "boredom": 81, "neutral": 79, "happiness": 71, "fear": 69,
        "sadness": 62, "disgust": 46}
    assert df["subject"].value_counts().to_dict() == {
        "03": 49, "08": 58, "09": 43, "10": 38, "11": 55, "12": 35, "13": 61, "14": 69,
        "15": 56, "16": 71}
    genders = df.drop_duplicates("subject").set_index("subject")["gender"].to_dict()
    assert {k for k, v in genders.items() if v == "m"} == {"03", "10", "11", "12", "15"}
    assert df.attrs["failures"] == []
    assert_no_file_lost(df, root)
