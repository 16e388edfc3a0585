"""Emotion corpora: look-alike trees following each corpus's published names."""

from __future__ import annotations

from pathlib import Path

import pytest

from vocalmind.corpora.readers import read_corpus
from vocalmind.errors import CorpusError


def _by_file(df):
    return {Path(f).name: r for f, r in zip(df["file"], df.to_dict("records"), strict=True)}



def test_emodb_codes_speakers_and_failures(tmp_path, wav, broken, assert_no_file_lost):
    for name in ["03a01Wa.wav", "08a02Fb.wav", "16b10Lc.wav", "11a05Tb.wav"]:
        wav(tmp_path / "wav" / name)
    broken(tmp_path / "wav" / "09a01Nc.wav")
    wav(tmp_path / "wav" / "99a01Wa.wav")  # unknown speaker
    df = read_corpus("emodb", tmp_path)
    rows = _by_file(df)
    assert len(df) == 4
    assert rows["03a01Wa.wav"]["emotion"] == "anger" and rows["03a01Wa.wav"]["gender"] == "m"
    assert rows["08a02Fb.wav"]["emotion"] == "happiness" and rows["08a02Fb.wav"]["gender"] == "f"
    assert rows["16b10Lc.wav"]["emotion"] == "boredom" and rows["16b10Lc.wav"]["sentence"] == "b10"
    assert rows["11a05Tb.wav"]["emotion"] == "sadness" and rows["11a05Tb.wav"]["age"] == 26
    assert set(df["language"]) == {"de"} and set(df["corpus"]) == {"emodb"}
    failed = {Path(f["file"]).name for f in df.attrs["failures"]}
    assert failed == {"09a01Nc.wav", "99a01Wa.wav"}
    assert_no_file_lost(df, tmp_path)


def test_wrong_root_names_expected_layout(tmp_path):
    (tmp_path / "something.txt").write_text("x")
    with pytest.raises(CorpusError, match="SSTTTEV"):
        read_corpus("emodb", tmp_path)
    with pytest.raises(CorpusError, match="no such folder"):
        read_corpus("ravdess", tmp_path / "absent")


def test_ravdess_fields_and_channel(tmp_path, wav, assert_no_file_lost):
    wav(tmp_path / "Actor_01" / "03-01-05-02-01-01-01.wav")
    wav(tmp_path / "Actor_12" / "03-01-01-01-02-02-12.wav")
    wav(tmp_path / "Actor_12" / "03-02-04-01-01-01-12.wav")  # song
    wav(tmp_path / "Actor_12" / "01-01-04-01-01-01-12.wav")  # full-AV: not audio-only
    df = read_corpus("ravdess", tmp_path)
    rows = _by_file(df)
    assert len(df) == 2
    a = rows["03-01-05-02-01-01-01.wav"]
    assert (a["subject"], a["gender"], a["emotion"], a["intensity"]) == ("01", "m", "anger", "strong")
    b = rows["03-01-01-01-02-02-12.wav"]
    assert (b["subject"], b["gender"], b["emotion"], b["statement"]) == ("12", "f", "neutral", "02")
    assert_no_file_lost(df, tmp_path)
    reasons = {Path(f["file"]).name: f["reason"] for f in df.attrs["failures"]}
    assert "channel='both' keeps it" in reasons["03-02-04-01-01-01-12.wav"]
    both = read_corpus("ravdess", tmp_path, channel="both")
    assert set(both["channel"]) == {"speech", "song"} and len(both) == 3
    assert_no_file_lost(both, tmp_path)
    with pytest.raises(ValueError, match="channel"):
        read_corpus("ravdess", tmp_path, channel="chant")


def test_tess_speakers_and_pleasant_surprise(tmp_path, wav, assert_no_file_lost):
    wav(tmp_path / "OAF_angry" / "OAF_back_angry.wav")
    wav(tmp_path / "YAF_pleasant_surprised" / "YAF_dog_ps.wav")
    wav(tmp_path / "YAF_neutral" / "YAF_youth_neutral.wav")
    wav(tmp_path / "OAF_neutral" / "OA_bite_neutral.wav")  # the released corpus's typo
    wav(tmp_path / "OAF_neutral" / "XYZ_bite_neutral.wav")  # not a TESS speaker
    df = read_corpus("tess", tmp_path)
    rows = _by_file(df)
    assert len(df) == 4
    assert (rows["OA_bite_neutral.wav"]["subject"], rows["OA_bite_neutral.wav"]["word"]) == ("OAF", "bite")
    assert [Path(f["file"]).name for f in df.attrs["failures"]] == ["XYZ_bite_neutral.wav"]
    assert "not OAF or YAF" in df.attrs["failures"][0]["reason"]
    assert_no_file_lost(df, tmp_path)
    assert rows["OAF_back_angry.wav"]["age"] == 64 and rows["OAF_back_angry.wav"]["emotion"] == "anger"
    assert rows["YAF_dog_ps.wav"]["emotion"] == "surprise" and rows["YAF_dog_ps.wav"]["word"] == "dog"
    assert set(df["subject"]) == {"OAF", "YAF"} and set(df["gender"]) == {"f"}


def test_savee_prefixes(tmp_path, wav, assert_no_file_lost):
    wav(tmp_path / "AudioData" / "DC" / "a01.wav")
    wav(tmp_path / "AudioData" / "JK" / "sa03.wav")
    wav(tmp_path / "AudioData" / "KL" / "su15.wav")
    wav(tmp_path / "AudioData" / "JE" / "n30.wav")
    wav(tmp_path / "AudioData" / "XX" / "n01.wav")  # no such speaker
    df = read_corpus("savee", tmp_path)
    rows = _by_file(df)
    assert len(df) == 4
    assert_no_file_lost(df, tmp_path)
    assert rows["sa03.wav"]["emotion"] == "sadness" and rows["sa03.wav"]["subject"] == "JK"
    assert rows["su15.wav"]["emotion"] == "surprise"
    assert rows["a01.wav"]["emotion"] == "anger" and rows["n30.wav"]["emotion"] == "neutral"
    assert set(df["gender"]) == {"m"}


def test_emovo_codes(tmp_path, wav, assert_no_file_lost):
    wav(tmp_path / "f1" / "dis-f1-b1.wav")
    wav(tmp_path / "m3" / "gio-m3-l4.wav")
    wav(tmp_path / "m2" / "pau-m2-n5.wav")
    df = read_corpus("emovo", tmp_path)
    rows = _by_file(df)
    assert_no_file_lost(df, tmp_path)
    assert (rows["dis-f1-b1.wav"]["emotion"], rows["dis-f1-b1.wav"]["gender"]) == ("disgust", "f")
    assert (rows["gio-m3-l4.wav"]["emotion"], rows["gio-m3-l4.wav"]["subject"]) == ("happiness", "m3")
    assert rows["pau-m2-n5.wav"]["emotion"] == "fear"
    assert set(df["language"]) == {"it"}


def test_urdu_names_and_folder_check(tmp_path, wav, assert_no_file_lost):
    wav(tmp_path / "Angry" / "SM1_F1_A01.wav")
    wav(tmp_path / "Sad" / "SF3_F12_S07.wav")
    wav(tmp_path / "Happy" / "SM1_F2_N03.wav")  # letter disagrees with folder
    df = read_corpus("urdu", tmp_path)
    rows = _by_file(df)
    assert_no_file_lost(df, tmp_path)
    assert len(df) == 2
    assert (rows["SM1_F1_A01.wav"]["subject"], rows["SM1_F1_A01.wav"]["gender"]) == ("SM1", "m")
    assert (rows["SF3_F12_S07.wav"]["emotion"], rows["SF3_F12_S07.wav"]["gender"]) == ("sadness", "f")
    assert any("disagrees" in f["reason"] for f in df.attrs["failures"])


def test_cremad_demographics(tmp_path, wav, assert_no_file_lost):
    wav(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    wav(tmp_path / "AudioWAV" / "1002_IEO_SAD_HI.wav")
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n"
    )
    df = read_corpus("cremad", tmp_path)
    rows = _by_file(df)
    assert_no_file_lost(df, tmp_path)
    a, b = rows["1001_DFA_ANG_XX.wav"], rows["1002_IEO_SAD_HI.wav"]
    assert (a["gender"], a["age"], a["emotion"], a["intensity"]) == ("m", 51, "anger", "unspecified")
    assert (b["gender"], b["age"], b["emotion"], b["intensity"]) == ("f", 21, "sadness", "high")


def test_aesdd_speaker_in_brackets(tmp_path, wav, assert_no_file_lost):
    wav(tmp_path / "anger" / "a01 (1).wav")
    wav(tmp_path / "sadness" / "s12 (4).wav")
    wav(tmp_path / "fear" / "f03 (2)b.wav")
    df = read_corpus("aesdd", tmp_path)
    rows = _by_file(df)
    assert_no_file_lost(df, tmp_path)
    assert rows["a01 (1).wav"]["subject"] == "1" and rows["a01 (1).wav"]["emotion"] == "anger"
    assert rows["s12 (4).wav"]["subject"] == "4" and rows["s12 (4).wav"]["emotion"] == "sadness"
    assert rows["f03 (2)b.wav"]["take"] == "b"
    assert set(df["language"]) == {"el"}


IEMOCAP_EVAL = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
C-E3:\tNeutral;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M001\texc\t[3.5000, 3.5000, 3.0000]

[14.8872 - 18.0175]\tSes01F_impro01_F002\txxx\t[2.0000, 3.0000, 3.0000]

[19.2900 - 20.7875]\tSes01F_impro01_M003\toth\t[2.5000, 2.0000, 2.0000]
"""


def test_iemocap_labels_speakers_and_options(tmp_path, wav, assert_no_file_lost):
    sess = tmp_path / "Session1"
    (sess / "dialog" / "EmoEvaluation" / "Categorical").mkdir(parents=True)
    (sess / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(IEMOCAP_EVAL)
    for utt in ["F000", "M001", "F002", "M003"]:
        wav(sess / "sentences" / "wav" / "Ses01F_impro01" / f"Ses01F_impro01_{utt}.wav")
    wav(sess / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F099.wav")  # no label line
    df = read_corpus("iemocap", tmp_path)
    rows = _by_file(df)
    assert set(rows) == {"Ses01F_impro01_F000.wav", "Ses01F_impro01_M001.wav"}
    assert_no_file_lost(df, tmp_path)
    reasons = {Path(f["file"]).name: f["reason"] for f in df.attrs["failures"]}
    assert "keep_ambiguous=True" in reasons["Ses01F_impro01_F002.wav"]
    assert "no line" in reasons["Ses01F_impro01_F099.wav"]
    m = rows["Ses01F_impro01_M001.wav"]
    assert (m["subject"], m["gender"], m["emotion"], m["session"]) == ("Ses01M", "m", "excitement", "Session1")
    assert m["valence"] == 3.5
    merged = read_corpus("iemocap", tmp_path, merge_excited=True)
    assert "happiness" in set(merged["emotion"])
    kept = read_corpus("iemocap", tmp_path, keep_ambiguous=True)
    assert_no_file_lost(kept, tmp_path)
    assert len(kept) == 4 and kept["emotion"].isna().sum() == 1 and "other" in set(kept["emotion"])
