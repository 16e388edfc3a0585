"""Depression/anxiety corpora: DAIC-WOZ, E-DAIC, EATD, EMU, Androids look-alikes + real EMU."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from vocalmind.corpora.readers import read_corpus
from vocalmind.errors import CorpusError

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

DAIC_TRANSCRIPT = (
    "start_time\tstop_time\tspeaker\tvalue\n"
    "0.1\t0.3\tEllie\thi i'm ellie\n"
    "0.4\t0.9\tParticipant\thello\n"
    "0.8\t1.2\tparticipant \tsure\n"      # overlaps the previous turn, odd case/space
    "1.3\t1.3\tParticipant\t<laughter>\n"  # stop <= start: dropped
    "1.5\t1.9\tEllie\thow are you\n"
    "2.0\t2.6\tParticipant\tfine\n"
)


@pytest.fixture
def daic_root(tmp_path, wav):
    for pid in (300, 301, 302, 303):
        wav(tmp_path / f"{pid}_P" / f"{pid}_AUDIO.wav", seconds=3.0)
        (tmp_path / f"{pid}_P" / f"{pid}_TRANSCRIPT.csv").write_text(DAIC_TRANSCRIPT)
    (tmp_path / "train_split_Depression_AVEC2017.csv").write_text(
        "Participant_ID,PHQ8_Binary,PHQ8_Score,Gender,PHQ8_NoInterest\n300,1,12,1,2\n"
    )
    (tmp_path / "dev_split_Depression_AVEC2017.csv").write_text(
        "Participant_ID,PHQ8_Binary,PHQ8_Score,Gender\n301,0,3,0\n"
    )
    # The released test labels use other column names than train/dev.
    (tmp_path / "full_test_split.csv").write_text("Participant_ID,PHQ_Binary,PHQ_Score,Gender\n302,1,20,0\n")
    (tmp_path / "test_split_Depression_AVEC2017.csv").write_text("participant_ID,Gender\n302,0\n")
    return tmp_path


def test_daicwoz_whole_interviews_labels_and_splits(daic_root, assert_no_file_lost):
    assert_no_file_lost(read_corpus("daicwoz", daic_root), daic_root)
    df = read_corpus("daicwoz", daic_root).set_index("subject")
    assert df.loc["300", "split"] == "train" and df.loc["300", "phq8"] == 12 and df.loc["300", "gender"] == "m"
    assert df.loc["301", "split"] == "dev" and df.loc["301", "gender"] == "f" and df.loc["301", "phq8_binary"] == 0
    assert df.loc["302", "split"] == "test" and df.loc["302", "phq8"] == 20
    assert df.loc["302", "phq8_band"] == "severe"
    assert math.isnan(df.loc["303", "phq8"]) and pd.isna(df.loc["303", "split"])
    assert df["start"].isna().all()


def test_daicwoz_participant_only_turns(daic_root):
    df = read_corpus("daicwoz", daic_root, participant_only=True)
    turns = df[df["subject"] == "300"][["start", "end"]].to_numpy().tolist()
    assert turns == [[0.4, 1.2], [2.0, 2.6]]  # Ellie excluded, overlap merged, bad row dropped
    short = read_corpus("daicwoz", daic_root, participant_only=True, min_turn_s=0.7)
    assert short[short["subject"] == "300"][["start", "end"]].to_numpy().tolist() == [[0.4, 1.2]]


def test_daicwoz_known_faults(tmp_path, wav):
    for pid in (318, 373):
        wav(tmp_path / f"{pid}_P" / f"{pid}_AUDIO.wav", seconds=0.5)
    (tmp_path / "318_P" / "318_TRANSCRIPT.csv").write_text(
        "start_time\tstop_time\tspeaker\tvalue\n1.0\t2.0\tParticipant\tyes\n")
    (tmp_path / "373_P" / "373_TRANSCRIPT.csv").write_text(
        "start_time\tstop_time\tspeaker\tvalue\n10\t12\tParticipant\ta\n400\t410\tParticipant\tb\n")
    df = read_corpus("daicwoz", tmp_path, participant_only=True)
    s318 = df[df["subject"] == "318"]
    assert s318["start"].iloc[0] == pytest.approx(1.0 + 34.319917, abs=1e-3)
    assert df[df["subject"] == "373"]["start"].tolist() == [10.0]  # turn inside interruption dropped
    raw = read_corpus("daicwoz", tmp_path, participant_only=True, fix_known_faults=False)
    assert raw[raw["subject"] == "318"]["start"].iloc[0] == 1.0
    with pytest.raises(CorpusError):  # every participant is a known-faulty one
        read_corpus("daicwoz", tmp_path, exclude_faulty=True)


def test_daicwoz_bad_transcript_reported_not_fatal(daic_root):
    (daic_root / "303_P" / "303_TRANSCRIPT.csv").write_bytes(b"\x00\x05\x16\x07\xb0\xff junk")
    df = read_corpus("daicwoz", daic_root, participant_only=True)
    assert "303" not in set(df["subject"])
    assert any("303_TRANSCRIPT.csv" in f["file"] for f in df.attrs["failures"])


def test_edaic(tmp_path, wav, assert_no_file_lost):
    for pid in (300, 600):
        wav(tmp_path / "data" / f"{pid}_P" / f"{pid}_AUDIO.wav", seconds=2.0)
    (tmp_path / "data" / "600_P" / "600_Transcript.csv").write_text(
        "Start_Time,End_Time,Text,Confidence\n0.2,0.8,hello there,0.93\n0.7,1.1,\"yes, sure\",0.8\n")
    lab = tmp_path / "labels"
    lab.mkdir()
    (lab / "train_split.csv").write_text(
        "Participant_ID,Gender,PHQ_Binary,PHQ_Score,PCL-C (PTSD),PTSD Severity\n300,male,0,4,0,30\n")
    (lab / "test_split.csv").write_text(
        "Participant_ID,Gender,PHQ_Binary,PHQ_Score,PCL-C (PTSD),PTSD Severity\n600,female,1,15,1,50\n")
    assert_no_file_lost(read_corpus("edaic", tmp_path), tmp_path)
    df = read_corpus("edaic", tmp_path).set_index("subject")
    assert (df.loc["300", "split"], df.loc["300", "gender"], df.loc["300", "phq8"]) == ("train", "m", 4)
    assert (df.loc["600", "split"], df.loc["600", "gender"], df.loc["600", "phq8"]) == ("test", "f", 15)
    turns = read_corpus("edaic", tmp_path, participant_only=True)
    assert turns[["start", "end"]].to_numpy().tolist() == [[0.2, 1.1]]
    assert any("300_P" in f["file"] for f in turns.attrs["failures"])  # no transcript


def test_eatd(tmp_path, wav, broken, assert_no_file_lost):
    for folder, label in (("t_1", "63.75"), ("t_2", "45"), ("v_1", "58.75")):
        base = tmp_path / "EATD-Corpus" / folder
        for prompt in ("positive", "neutral", "negative"):
            wav(base / f"{prompt}.wav")
            wav(base / f"{prompt}_out.wav")
        (base / "new_label.txt").write_text(label + "\n")
        (base / "label.txt").write_text(str(float(label) / 1.25))
    broken(tmp_path / "EATD-Corpus" / "t_2" / "neutral_out.wav")
    (tmp_path / "EATD-Corpus" / "v_2").mkdir()
    (tmp_path / "EATD-Corpus" / "v_2" / "new_label.txt").write_text("banana")
    df = read_corpus("eatd", tmp_path)
    per = df.groupby("subject").agg(n=("file", "size"), sds=("sds", "first"), split=("split", "first"))
    assert per.loc["t_1"].tolist() == [3, 63.75, "train"]
    assert per.loc["t_2", "n"] == 2 and per.loc["v_1", "split"] == "test"
    assert df.set_index("subject").loc["t_1", "sds_binary"].tolist() == [1, 1, 1]
    assert df.set_index("subject").loc["t_2", "sds_binary"].tolist() == [0, 0]
    assert all(Path(f).name.endswith("_out.wav") for f in df["file"])
    reasons = " ".join(f["reason"] for f in df.attrs["failures"])
    assert "unreadable audio" in reasons and "not a number" in reasons
    raw = read_corpus("eatd", tmp_path, variant="raw")
    assert not any(Path(f).name.endswith("_out.wav") for f in raw["file"]) and len(raw) == 9
    # the variant not read is listed file by file, with the option that reads it
    for manifest, n_other in ((df, 9), (raw, 9)):
        assert_no_file_lost(manifest, tmp_path)
        skipped = [f for f in manifest.attrs["failures"] if "not read with variant" in f["reason"]]
        assert len(skipped) == n_other
    assert any(f["file"].endswith("t_1/positive.wav") and "variant='raw' reads it" in f["reason"]
               for f in df.attrs["failures"])


def test_emu_lookalike_tasks_and_no_q9(tmp_path, wav, assert_no_file_lost):
    (tmp_path / "demographicsEMU.csv").write_text(
        "id,q9,phq,gad,age,gender,education,student\n"
        "11,2,21,16,23-38,Man,College degree,No\n12,0,3,,18-22,Woman,College degree,Yes\n"
    )
    for pid in (11, 12, 99):
        wav(tmp_path / "audio_raw" / "WAVs_structured" / f"{pid}.wav")
    wav(tmp_path / "audio_raw" / "WAVs_unstructured" / "11.wav")
    df = read_corpus("emu", tmp_path)
    assert_no_file_lost(df, tmp_path)
    assert "q9" not in df.columns
    s = df[df["session"] == "structured"].set_index("subject")
    assert (s.loc["11", "phq9"], s.loc["11", "gad7"], s.loc["11", "gender"]) == (21, 16, "m")
    assert s.loc["12", "gender"] == "f" and math.isnan(s.loc["12", "gad7"])
    assert math.isnan(s.loc["99", "phq9"])  # no demographics row: no labels
    assert len(read_corpus("emu", tmp_path, task="unstructured")) == 1


def test_androids(tmp_path, wav, assert_no_file_lost):
    wav(tmp_path / "Reading-Task" / "audio" / "PT" / "01_PF56_2.wav")
    wav(tmp_path / "Reading-Task" / "audio" / "HC" / "01_CM27_4.wav")
    wav(tmp_path / "Interview-Task" / "audio" / "PT" / "01_PF56_2.wav")
    wav(tmp_path / "Interview-Task" / "audio_clip" / "01_PF56_2" / "01_PF56_2_1.wav")
    wav(tmp_path / "Interview-Task" / "audio_clip" / "01_PF56_2" / "01_PF56_2_2.wav")
    (tmp_path / "fold-lists.csv").write_text(
        "Reading,,,,,,,Interview,,,,\n"
        "fold1,fold2,fold3,fold4,fold5,,,fold1,fold2,fold3,fold4,fold5\n"
        "'01_PF56_2',,'01_CM27_4',,,,,,'01_PF56_2',,,\n"
    )
    df = read_corpus("androids", tmp_path)
    r = df[df["session"] == "reading"].set_index("subject")
    assert (r.loc["01_P", "gender"], r.loc["01_P", "age"], r.loc["01_P", "depressed"]) == ("f", 56, 1)
    assert (r.loc["01_C", "gender"], r.loc["01_C", "depressed"], r.loc["01_C", "fold"]) == ("m", 0, 3)
    assert r.loc["01_P", "fold"] == 1
    i = df[df["session"] == "interview"]
    assert len(i) == 1 and i["fold"].iloc[0] == 2
    clips = read_corpus("androids", tmp_path, task="interview", interview="clips")
    assert len(clips) == 2 and set(clips["subject"]) == {"01_P"}
    # whatever the options, every file is read or listed with the option that reads it
    reading = read_corpus("androids", tmp_path, task="reading")
    for manifest in (df, clips, reading):
        assert_no_file_lost(manifest, tmp_path)
    why = {Path(f["file"]).name: f["reason"] for f in clips.attrs["failures"]}
    assert "task='reading' or 'both' reads it" in why["01_CM27_4.wav"]
    assert "interview='audio' reads it" in why["01_PF56_2.wav"]
    why = {Path(f["file"]).name: f["reason"] for f in df.attrs["failures"]}
    assert "interview='clips' reads it" in why["01_PF56_2_1.wav"]
    assert len(reading.attrs["failures"]) == 3


@pytest.mark.realdata
def test_real_emu(assert_no_file_lost):
    root = SHARED_DATA / "emu"
    if not root.is_dir():
        pytest.skip(f"real EMU corpus not found at {root}")
    df = read_corpus("emu", root)
    assert "q9" not in df.columns
    s = df[df["session"] == "structured"]
    u = df[df["session"] == "unstructured"]
    assert (len(s), int(s["phq9"].notna().sum())) == (56, 54)
    assert (len(u), int(u["phq9"].notna().sum())) == (49, 47)
    assert df.attrs["failures"] == []
    assert_no_file_lost(df, root)
