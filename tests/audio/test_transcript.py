"""speaker_turns on DAIC-WOZ and E-DAIC transcript look-alikes, including their known faults."""

from __future__ import annotations

import pytest

from vocalmind.audio.transcript import merge_intervals, speaker_turns
from vocalmind.errors import CorpusError

DAIC = (
    "start_time\tstop_time\tspeaker\tvalue\n"
    "36.588\t39.868\tEllie\thi i'm ellie thanks for coming in today\n"
    "62.328\t63.178\tParticipant\tgood\n"
    "63.000\t64.500\t PARTICIPANT\tyeah\n"        # overlap + odd case/whitespace
    "68.978\t70.288\tParticipant\t\n"
    "71.0\t70.5\tParticipant\tbackwards\n"        # stop <= start
    "\t75.0\tParticipant\tmissing start\n"
    "80.0\t81.0\tEllie\tokay\n"
)


def test_daic_participant_and_ellie(tmp_path):
    p = tmp_path / "300_TRANSCRIPT.csv"
    p.write_text(DAIC)
    assert speaker_turns(p) == [(62.328, 64.5), (68.978, 70.288)]
    assert speaker_turns(p, speaker="ellie") == [(36.588, 39.868), (80.0, 81.0)]
    assert speaker_turns(p, min_duration_s=2.0) == [(62.328, 64.5)]
    assert speaker_turns(p, merge_gap_s=5.0) == [(62.328, 70.288)]


def test_edaic_format(tmp_path):
    p = tmp_path / "600_Transcript.csv"
    p.write_text("Start_Time,End_Time,Text,Confidence\n"
                 "5.1,7.2,\"well, i guess\",0.91\n1.0,2.0,hello,0.88\n3.0,3.0,uh,0.5\n")
    assert speaker_turns(p) == [(1.0, 2.0), (5.1, 7.2)]
    with pytest.raises(CorpusError, match="participant only"):
        speaker_turns(p, speaker="Ellie")


@pytest.mark.parametrize("content", [b"", b"a,b,c\n1,2,3\n", b"\x00\x05\x16\x07\x00\xb0\xff\xfe"])
def test_malformed_names_file(tmp_path, content):
    p = tmp_path / "301_TRANSCRIPT.csv"
    p.write_bytes(content)
    with pytest.raises(CorpusError, match="301_TRANSCRIPT.csv"):
        speaker_turns(p)


def test_missing_file_and_bad_option(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        speaker_turns(tmp_path / "nope.csv")
    p = tmp_path / "x.csv"
    p.write_text(DAIC)
    with pytest.raises(ValueError, match="min_duration_s"):
        speaker_turns(p, min_duration_s=-1)


def test_merge_intervals():
    assert merge_intervals([(3.0, 4.0), (0.0, 2.0), (1.5, 2.5), (2.5, 2.7)]) == [(0.0, 2.7), (3.0, 4.0)]
    assert merge_intervals([]) == []
