"""Speaker turns from interview transcripts (DAIC-WOZ and E-DAIC).

Two formats are read, both as their authors distribute them:

- DAIC-WOZ ``NNN_TRANSCRIPT.csv``: tab-separated, header
  ``start_time  stop_time  speaker  value``; speakers ``Ellie`` (the virtual interviewer)
  and ``Participant``. Times in seconds from the start of ``NNN_AUDIO.wav``.
- E-DAIC ``NNN_Transcript.csv``: comma-separated, header
  ``Start_Time,End_Time,Text,Confidence``; an automatic transcript of the participant
  only (there is no speaker column), times in seconds.

Known faults handled here: speaker names differing in case or padded with spaces,
rows whose stop time is not after their start time (dropped), empty or non-numeric time
cells (dropped), and overlapping or touching turns (merged into one interval).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from vocalmind.errors import CorpusError, ParameterError

__all__ = ["speaker_turns", "merge_intervals"]

_DAIC_COLUMNS = ("start_time", "stop_time", "speaker")
_EDAIC_COLUMNS = ("start_time", "end_time")


def merge_intervals(
    intervals: list[tuple[float, float]], *, gap_s: float = 0.0
) -> list[tuple[float, float]]:
    """Sort intervals and merge those that overlap or are at most ``gap_s`` apart.

    Parameters
    ----------
    intervals : list of (start, end) in seconds
    gap_s : intervals separated by a pause of at most this many seconds are joined

    Returns
    -------
    list of (start, end)
        Sorted, non-overlapping.

    Examples
    --------
    >>> merge_intervals([(3.0, 4.0), (0.0, 2.0), (1.5, 2.5)])
    [(0.0, 2.5), (3.0, 4.0)]
    """
    out: list[list[float]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1] + gap_s:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(float(s), float(e)) for s, e in out]


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"{path}: cannot read transcript ({e.strerror or e})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # A macOS AppleDouble file ("._NNN_TRANSCRIPT.csv") or a binary file under a .csv name.
        raise CorpusError(
            f"{path}: transcript is not UTF-8 text (a macOS '._' resource file or a "
            "corrupt download?); re-extract it from the corpus archive"
        ) from None


def _parse(path: Path) -> pd.DataFrame:
    text = _read_text(path)
    if not text.strip():
        raise CorpusError(f"{path}: transcript is empty")
    first = text.splitlines()[0]
    sep = "\t" if "\t" in first else ","
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
            quoting=csv.QUOTE_MINIMAL, on_bad_lines="skip", engine="python",
        )
    except (pd.errors.ParserError, csv.Error) as e:
        raise CorpusError(f"{path}: cannot parse transcript ({e})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    return df


def speaker_turns(
    transcript_path: str | Path,
    *,
    speaker: str = "Participant",
    min_duration_s: float = 0.0,
    merge_gap_s: float = 0.0,
) -> list[tuple[float, float]]:
    """Time intervals in which one speaker talks, read from a DAIC-WOZ or E-DAIC transcript.

    Parameters
    ----------
    transcript_path : path of ``NNN_TRANSCRIPT.csv`` (DAIC-WOZ) or ``NNN_Transcript.csv`` (E-DAIC)
    speaker : speaker to keep, compared without case and surrounding spaces
        (DAIC-WOZ: ``"Participant"`` or ``"Ellie"``). E-DAIC transcripts hold the participant
        only, so asking them for any other speaker raises.
    min_duration_s : merged turns shorter than this (seconds) are dropped
    merge_gap_s : turns separated by at most this pause (seconds) are merged; overlapping
        turns are always merged

    Returns
    -------
    list of (start, end)
        Seconds from the start of the interview audio, sorted and non-overlapping.
        Empty if the speaker never talks.

    Raises
    ------
    CorpusError
        The file is missing, not text, lacks the time columns, or (DAIC-WOZ) the speaker
        column; the message names the file.
    ParameterError
        ``min_duration_s`` or ``merge_gap_s`` is negative.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "300_TRANSCRIPT.csv"
    >>> _ = p.write_text("start_time\\tstop_time\\tspeaker\\tvalue\\n"
    ...                  "1.0\\t2.0\\tEllie\\thi\\n2.5\\t4.0\\tParticipant\\thello\\n")
    >>> speaker_turns(p)
    [(2.5, 4.0)]
    """
    path = Path(transcript_path)
    if min_duration_s < 0 or merge_gap_s < 0:
        raise ParameterError(
            f"speaker_turns: min_duration_s={min_duration_s} and merge_gap_s={merge_gap_s} must be >= 0"
        )
    if not path.is_file():
        raise CorpusError(f"{path}: transcript not found")
    df = _parse(path)
    cols = set(df.columns)
    if set(_DAIC_COLUMNS) <= cols:
        who = df["speaker"].astype(str).str.strip().str.casefold()
        df = df[who == speaker.strip().casefold()]
        start_col, end_col = "start_time", "stop_time"
    elif set(_EDAIC_COLUMNS) <= cols:
        if speaker.strip().casefold() not in {"participant", "p"}:
            raise CorpusError(
                f"{path}: E-DAIC transcripts hold the participant only; "
                f"cannot select speaker {speaker!r}"
            )
        start_col, end_col = "start_time", "end_time"
    else:
        raise CorpusError(
            f"{path}: not a DAIC-WOZ transcript (start_time, stop_time, speaker, value; "
            "tab-separated) nor an E-DAIC one (Start_Time, End_Time, Text, Confidence); "
            f"found columns {list(df.columns)}"
        )
    start = pd.to_numeric(df[start_col].str.strip(), errors="coerce").to_numpy(float)
    end = pd.to_numeric(df[end_col].str.strip(), errors="coerce").to_numpy(float)
    # Rows with missing times or stop <= start are known transcription faults: drop them.
    ok = np.isfinite(start) & np.isfinite(end) & (end > start) & (start >= 0)
    turns = merge_intervals(list(zip(start[ok], end[ok], strict=True)), gap_s=merge_gap_s)
    return [(s, e) for s, e in turns if e - s >= min_duration_s]
