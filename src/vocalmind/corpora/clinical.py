"""Readers of depression/anxiety corpora: DAIC-WOZ, E-DAIC, EATD-Corpus, EMU, Androids.

Scores become the manifest's ``phq8``/``phq9``/``gad7``/``sds`` columns (bands and screening
binaries are derived by :func:`vocalmind.corpora.manifest.make_manifest`, never copied from
the corpus's own binary column, which is known to disagree with the score for DAIC-WOZ
participant 409). These are research labels, not diagnoses.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.audio.transcript import merge_intervals, speaker_turns
from vocalmind.corpora._base import (
    Rows,
    check_choice,
    check_root,
    find_files,
    find_named,
    read_csv_checked,
    register,
    wrong_root,
)
from vocalmind.errors import CorpusError
from vocalmind.scales import SCALES

# --------------------------------------------------------------------------- DAIC-WOZ

# Known faults of the DAIC-WOZ release, as documented with the corpus and collected by the
# DepAudioNet reproduction (Bailey & Plumbley 2021, exp_run/config_process.py):
DAICWOZ_NOT_RELEASED = frozenset({342, 394, 398, 460})
DAICWOZ_INTERRUPTIONS = {373: (395.0, 428.0), 444: (286.0, 387.0)}  # seconds in the audio
DAICWOZ_NO_ELLIE_TRANSCRIPT = frozenset({451, 458, 480})
DAICWOZ_MISALIGNED = {318: 34.319917, 321: 3.8379167, 341: 6.1892, 362: 16.8582}  # add to transcript times
DAICWOZ_SPLIT_FILES = {
    "train": ("train_split_Depression_AVEC2017.csv",),
    "dev": ("dev_split_Depression_AVEC2017.csv",),
    # full_test_split.csv carries the test labels released after AVEC 2017; the original
    # test_split_Depression_AVEC2017.csv has ids and gender only.
    "test": ("full_test_split.csv", "test_split_Depression_AVEC2017.csv"),
}


def _norm_col(c: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(c).strip().lower()).strip("_")


def _label_table(path: Path, *, score_names: tuple[str, ...]) -> pd.DataFrame:
    """Participant, score, gender from a split file whose column names vary between files."""
    t = read_csv_checked(path)
    t.columns = [_norm_col(c) for c in t.columns]
    pid = next((c for c in ("participant_id", "participant", "id") if c in t.columns), None)
    if pid is None:
        raise CorpusError(f"{path}: no Participant_ID column (found {list(t.columns)})")
    out = pd.DataFrame({"participant": pd.to_numeric(t[pid], errors="coerce")})
    score = next((c for c in score_names if c in t.columns), None)
    out["score"] = pd.to_numeric(t[score], errors="coerce") if score else np.nan
    out["gender_raw"] = t["gender"] if "gender" in t.columns else np.nan
    if "age" in t.columns:
        out["age"] = pd.to_numeric(t["age"], errors="coerce")
    return out.dropna(subset=["participant"]).astype({"participant": int})


def _gender(value: Any) -> str | float:
    """DAIC-WOZ codes gender 0 = female, 1 = male; E-DAIC writes 'female'/'male'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    s = str(value).strip().lower()
    return {"0": "f", "1": "m", "female": "f", "male": "m", "f": "f", "m": "m"}.get(s, math.nan)


def _participant_folders(root: Path, audio_suffix: str) -> dict[int, Path]:
    """Participant id -> audio file, for NNN_P/ folders (possibly nested one level more)."""
    out: dict[int, Path] = {}
    for f in find_files(root, f"*{audio_suffix}"):
        m = re.fullmatch(r"(\d{3})" + re.escape(audio_suffix), f.name, re.IGNORECASE)
        if m and re.fullmatch(rf"{m.group(1)}_P", f.parent.name, re.IGNORECASE):
            out.setdefault(int(m.group(1)), f)
    return out


def _interview_rows(
    rows: Rows,
    pid: int,
    audio: Path,
    transcript: Path | None,
    base: dict[str, Any],
    *,
    participant_only: bool,
    min_turn_s: float,
    fix_known_faults: bool,
) -> None:
    if not participant_only:
        rows.add(audio, **base)
        return
    if transcript is None:
        rows.fail(audio, "participant_only needs the transcript, which is missing")
        return
    try:
        turns = speaker_turns(transcript, speaker="Participant")
    except CorpusError as e:
        rows.fail(transcript, str(e))
        return
    if fix_known_faults:
        offset = DAICWOZ_MISALIGNED.get(pid, 0.0) if rows.corpus == "daicwoz" else 0.0
        turns = [(s + offset, e + offset) for s, e in turns]
        if rows.corpus == "daicwoz" and pid in DAICWOZ_INTERRUPTIONS:
            a, b = DAICWOZ_INTERRUPTIONS[pid]
            turns = [(s, e) for s, e in turns if e <= a or s >= b]
    turns = [(s, e) for s, e in merge_intervals(turns) if e - s >= min_turn_s]
    if not turns:
        rows.fail(transcript, f"no participant turn of at least {min_turn_s} s")
        return
    if not rows.usable(audio):
        return
    for s, e in turns:
        rows.add(audio, start=round(s, 4), end=round(e, 4), **base)


@register(
    "daicwoz", language="en",
    layout="ROOT/NNN_P/NNN_AUDIO.wav + NNN_TRANSCRIPT.csv, and the AVEC 2017 split files "
           "train_split_Depression_AVEC2017.csv, dev_split_Depression_AVEC2017.csv, full_test_split.csv",
    description="DAIC-WOZ clinical interviews with the virtual agent Ellie (PHQ-8)",
)
def read_daicwoz(
    root: str | Path,
    *,
    participant_only: bool = False,
    min_turn_s: float = 0.0,
    fix_known_faults: bool = True,
    exclude_faulty: bool = False,
    check_audio: bool = True,
) -> pd.DataFrame:
    """Read DAIC-WOZ interviews with PHQ-8 scores and the AVEC 2017 split.

    Parameters
    ----------
    participant_only : one row per participant turn (``start``/``end`` from the transcript,
        the interviewer's speech excluded) instead of one row per whole interview
    min_turn_s : with ``participant_only``, drop turns shorter than this (seconds)
    fix_known_faults : shift the four misaligned transcripts (318, 321, 341, 362) onto the
        audio and drop turns inside the documented interruptions of 373 and 444
    exclude_faulty : leave out every participant with a documented fault (misaligned or
        interviewer-less transcripts, interruptions)

    Labels come from the split files; their column names differ (``PHQ8_Score`` in
    train/dev, ``PHQ_Score`` in ``full_test_split.csv``), both are read. Gender 0 = female,
    1 = male. Participants found in no split file keep empty labels.
    """
    root = check_root("daicwoz", root)
    audio = _participant_folders(root, "_AUDIO.wav")
    if not audio:
        raise wrong_root("daicwoz", root, "no NNN_P/NNN_AUDIO.wav files")
    labels: dict[int, dict[str, Any]] = {}
    for split, names in DAICWOZ_SPLIT_FILES.items():
        for name in names:
            path = find_named(root, name)
            if path is None:
                continue
            table = _label_table(path, score_names=("phq8_score", "phq_score"))
            for r in table.itertuples():
                labels.setdefault(int(r.participant), {
                    "split": split, "phq8": r.score, "gender": _gender(r.gender_raw),
                })
            break  # the first (labelled) test file found wins
    rows = Rows("daicwoz", root, check_audio)
    if not labels:
        rows.fail(root, "no AVEC 2017 split files found: no labels, no split")
    faulty = (set(DAICWOZ_INTERRUPTIONS) | DAICWOZ_NO_ELLIE_TRANSCRIPT | set(DAICWOZ_MISALIGNED))
    for pid, wav in sorted(audio.items()):
        if exclude_faulty and pid in faulty:
            continue
        transcript = next(iter(find_files(wav.parent, f"{pid}_TRANSCRIPT.csv", recursive=False)), None)
        base = {"subject": str(pid), **labels.get(pid, {})}
        _interview_rows(rows, pid, wav, transcript, base, participant_only=participant_only,
                        min_turn_s=min_turn_s, fix_known_faults=fix_known_faults)
    return rows.manifest()


# --------------------------------------------------------------------------- E-DAIC

EDAIC_SPLIT_FILES = {"train": "train_split.csv", "dev": "dev_split.csv", "test": "test_split.csv"}


@register(
    "edaic", language="en",
    layout="ROOT/NNN_P/NNN_AUDIO.wav + NNN_Transcript.csv, and ROOT/labels/{train,dev,test}_split.csv "
           "(Participant_ID, Gender, PHQ_Binary, PHQ_Score, ...)",
    description="Extended DAIC (AVEC 2019): DAIC-WOZ plus agent-led interviews (PHQ-8)",
)
def read_edaic(
    root: str | Path,
    *,
    participant_only: bool = False,
    min_turn_s: float = 0.0,
    check_audio: bool = True,
) -> pd.DataFrame:
    """Read E-DAIC interviews with PHQ-8 scores (``PHQ_Score``) and the AVEC 2019 split.

    With ``participant_only`` one row per turn of the (participant-only, automatic)
    ``NNN_Transcript.csv``. Gender is written ``male``/``female``. Age is taken from
    ``labels/detailed_lables.csv`` (sic) when that file has an ``age`` column.
    """
    root = check_root("edaic", root)
    audio = _participant_folders(root, "_AUDIO.wav")
    if not audio:
        raise wrong_root("edaic", root, "no NNN_P/NNN_AUDIO.wav files")
    labels: dict[int, dict[str, Any]] = {}
    for split, name in EDAIC_SPLIT_FILES.items():
        path = find_named(root, name)
        if path is None:
            continue
        for r in _label_table(path, score_names=("phq_score", "phq8_score")).itertuples():
            labels[int(r.participant)] = {"split": split, "phq8": r.score, "gender": _gender(r.gender_raw)}
    detailed = find_named(root, "detailed_lables.csv") or find_named(root, "detailed_labels.csv")
    if detailed is not None:
        table = _label_table(detailed, score_names=("phq_score", "phq8_score"))
        if "age" in table.columns:
            for r in table.itertuples():
                labels.setdefault(int(r.participant), {})["age"] = r.age
    rows = Rows("edaic", root, check_audio)
    if not labels:
        rows.fail(root, "no labels/*_split.csv files found: no labels, no split")
    for pid, wav in sorted(audio.items()):
        transcript = next(iter(find_files(wav.parent, f"{pid}_Transcript.csv", recursive=False)), None)
        base = {"subject": str(pid), **labels.get(pid, {})}
        _interview_rows(rows, pid, wav, transcript, base, participant_only=participant_only,
                        min_turn_s=min_turn_s, fix_known_faults=False)
    return rows.manifest()


# --------------------------------------------------------------------------- EATD-Corpus

EATD_PROMPTS = ("positive", "neutral", "negative")


def _eatd_sds(folder: Path) -> tuple[float | None, str | None]:
    """SDS index of one volunteer: ``new_label.txt`` holds it (raw x 1.25, 25-100).

    ``label.txt`` holds the raw Zung total (20-80); it is used (x 1.25) only when
    ``new_label.txt`` is absent.
    """
    for name, factor in (("new_label.txt", 1.0), ("label.txt", 1.25)):
        path = folder / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        try:
            value = float(text.split()[0]) * factor
        except (ValueError, IndexError):
            return None, f"{name}: not a number ({text[:20]!r})"
        if not SCALES["sds"].low <= value <= SCALES["sds"].high:
            return None, f"{name}: SDS index {value:g} outside 25-100"
        return value, None
    return None, "no new_label.txt / label.txt"


@register(
    "eatd", language="zh",
    layout="ROOT/**/{t_N,v_N}/{positive,neutral,negative}[_out].wav + new_label.txt (SDS index)",
    description="EATD-Corpus (Shen et al. 2022; Mandarin, 162 volunteers, SDS)",
)
def read_eatd(
    root: str | Path, *, variant: str = "out", check_audio: bool = True
) -> pd.DataFrame:
    """Read EATD-Corpus: volunteer folders ``t_N`` (training) and ``v_N`` (validation).

    Parameters
    ----------
    variant : ``"out"`` reads the authors' cleaned ``*_out.wav`` recordings (denoised,
        silences removed; what their code uses), ``"raw"`` the original ``*.wav``

    Subject = folder name; ``sds`` = the SDS index from ``new_label.txt`` (the authors'
    depressed cut-off of 53 applies to it). Split: ``t_`` -> ``train``, ``v_`` -> ``test``
    (the authors' "validation" set is the held-out set results are reported on).
    Extra column ``prompt`` (positive/neutral/negative question answered).
    """
    check_choice("variant", variant, ("out", "raw"))
    root = check_root("eatd", root)
    folders = sorted(
        (p for p in root.rglob("*") if p.is_dir() and re.fullmatch(r"[tv]_\d+", p.name)),
        key=lambda p: (p.name[0], int(p.name[2:])),
    )
    if not folders:
        raise wrong_root("eatd", root, "no t_N / v_N volunteer folders")
    rows = Rows("eatd", root, check_audio)
    other = "raw" if variant == "out" else "out"
    for folder in folders:
        sds, problem = _eatd_sds(folder)
        if problem:
            rows.fail(folder, problem)
            for wav in find_files(folder, "*.wav", recursive=False):
                rows.fail(wav, f"its volunteer folder has no usable label ({problem})")
            continue
        split = "train" if folder.name.startswith("t") else "test"
        wanted = set()
        for prompt in EATD_PROMPTS:
            wav = folder / (f"{prompt}_out.wav" if variant == "out" else f"{prompt}.wav")
            wanted.add(wav.name)
            rows.add(wav, subject=folder.name, split=split, sds=sds, prompt=prompt)
        # a reader never loses a file silently: the other variant's recordings (and any
        # stray .wav) are listed with the reason they were not read
        for wav in find_files(folder, "*.wav", recursive=False):
            if wav.name in wanted:
                continue
            stem = wav.stem[:-4] if wav.stem.endswith("_out") else wav.stem
            if stem in EATD_PROMPTS:
                rows.fail(wav, f"not read with variant={variant!r}: the {other} recording "
                               f"(variant={other!r} reads it)")
            else:
                rows.fail(wav, f"not an EATD prompt recording ({', '.join(EATD_PROMPTS)})")
    return rows.manifest()


# --------------------------------------------------------------------------- EMU

EMU_TASKS = {"structured": "WAVs_structured", "unstructured": "WAVs_unstructured"}
EMU_GENDERS = {"man": "m", "male": "m", "woman": "f", "female": "f"}


@register(
    "emu", language="en",
    layout="ROOT/demographicsEMU.csv (id, q9, phq, gad, age, gender, ...) and "
           "ROOT/audio_raw/WAVs_{structured,unstructured}/ID.wav",
    description="EMU: Early Mental Health Uncovering (Tlachac et al. 2021; PHQ-9, GAD-7)",
)
def read_emu(
    root: str | Path, *, task: str = "both", check_audio: bool = True
) -> pd.DataFrame:
    """Read EMU recordings with PHQ-9 and GAD-7 totals from ``demographicsEMU.csv``.

    Parameters
    ----------
    task : ``"structured"`` (scripted reading), ``"unstructured"`` (free answer) or ``"both"``

    Subject = ``id`` (one person per id); ``session`` = the task. Gender from ``Man``/
    ``Woman``; age is published as a band (e.g. ``23-38``) and kept in the extra column
    ``age_band`` (``age`` stays missing). Ids without a demographics row have no labels.
    The suicidal-ideation item ``q9`` is deliberately never read into the manifest.
    """
    check_choice("task", task, ("structured", "unstructured", "both"))
    root = check_root("emu", root)
    demo_path = root / "demographicsEMU.csv"
    if not demo_path.is_file():
        raise wrong_root("emu", root, "demographicsEMU.csv missing")
    # usecols keeps the sensitive q9 column out of memory altogether.
    wanted = {"id", "phq", "gad", "age", "gender"}
    demo = read_csv_checked(demo_path, usecols=lambda c: str(c).strip().lower() in wanted, dtype=str)
    demo.columns = [str(c).strip().lower() for c in demo.columns]
    if not {"id", "phq", "gad"} <= set(demo.columns):
        raise wrong_root("emu", root, f"{demo_path.name} lacks id/phq/gad columns")
    people: dict[str, dict[str, Any]] = {}
    for r in demo.to_dict("records"):
        pid = str(r["id"]).strip()
        people[pid] = {
            "phq9": pd.to_numeric(r.get("phq"), errors="coerce"),
            "gad7": pd.to_numeric(r.get("gad"), errors="coerce"),
            "gender": EMU_GENDERS.get(str(r.get("gender", "")).strip().lower(), math.nan),
            "age_band": r.get("age") if isinstance(r.get("age"), str) else math.nan,
        }
    tasks = list(EMU_TASKS) if task == "both" else [task]
    rows = Rows("emu", root, check_audio)
    found = False
    for t in tasks:
        folder = root / "audio_raw" / EMU_TASKS[t]
        if not folder.is_dir():
            rows.fail(folder, f"{t} task folder missing")
            continue
        for wav in find_files(folder, "*.wav", recursive=False):
            if not re.fullmatch(r"\d+", wav.stem):
                rows.fail(wav, "file name is not a numeric participant id")
                continue
            found = True
            rows.add(wav, subject=wav.stem, session=t, **people.get(wav.stem, {}))
    if not found:
        raise wrong_root("emu", root, "no audio_raw/WAVs_*/ID.wav recordings")
    return rows.manifest()


# --------------------------------------------------------------------------- Androids

_ANDROIDS_RX = re.compile(r"(\d{1,2})_([PCX])([MFX])(\d{2}|XX)_(\d|X)", re.IGNORECASE)
ANDROIDS_TASKS = {"reading": "Reading-Task", "interview": "Interview-Task"}


def _androids_folds(path: Path | None) -> dict[tuple[str, str], int]:
    """(task, file stem) -> fold 1-5 from fold-lists.csv (two header rows; quoted names)."""
    if path is None:
        return {}
    table = read_csv_checked(path, header=None, dtype=str, keep_default_na=False)
    if table.shape[0] < 3:
        raise CorpusError(f"{path}: expected two header rows and file names below them")
    # Row 0 names the task over its block of fold columns ("Reading"/"Interview"),
    # row 1 the folds; a task's name holds until the next one.
    task, fold_of_col = None, {}
    for j in range(table.shape[1]):
        head = table.iat[0, j].strip().lower()
        if head:
            task = "interview" if "interview" in head else "reading" if "read" in head else None
        m = re.search(r"(\d+)", table.iat[1, j])
        if task and m:
            fold_of_col[j] = (task, int(m.group(1)))
    out: dict[tuple[str, str], int] = {}
    for j, (task, fold) in fold_of_col.items():
        for cell in table.iloc[2:, j]:
            name = cell.strip().strip("'\"").strip()
            if name:
                out[(task, Path(name).stem)] = fold
    return out


@register(
    "androids", language="it",
    layout="ROOT/Reading-Task/audio/{HC,PT}/nn_XGmm_t.wav, ROOT/Interview-Task/audio/{HC,PT}/nn_XGmm_t.wav "
           "(+ Interview-Task/audio_clip/<speaker>/), ROOT/fold-lists.csv",
    description="Androids Corpus (Tao et al. 2023; Italian, depression diagnosed by psychiatrists)",
)
def read_androids(
    root: str | Path,
    *,
    task: str = "both",
    interview: str = "audio",
    check_audio: bool = True,
) -> pd.DataFrame:
    """Read the Androids Corpus (file name ``nn_XGmm_t``: id, condition P/C, sex, age, education).

    Parameters
    ----------
    task : ``"reading"``, ``"interview"`` or ``"both"``
    interview : ``"audio"`` (whole interviews) or ``"clips"`` (the authors' per-turn
        clips in ``Interview-Task/audio_clip/<speaker>/``)

    Subject = ``nn_X`` (the authors' unique id: ``nn`` is unique only within a condition);
    ``session`` = task; extra columns ``depressed`` (1 patient, 0 control: a psychiatric
    diagnosis, not a questionnaire score), ``education`` (1-4) and ``fold`` (1-5, from
    ``fold-lists.csv``, the authors' cross-validation folds). ``X`` marks missing fields.
    """
    check_choice("task", task, ("reading", "interview", "both"))
    check_choice("interview", interview, ("audio", "clips"))
    root = check_root("androids", root)
    if not any((root / d).is_dir() for d in ANDROIDS_TASKS.values()):
        raise wrong_root("androids", root, "no Reading-Task/ or Interview-Task/ folder")
    folds = _androids_folds(find_named(root, "fold-lists.csv") or find_named(root, "fold-list.csv"))
    rows = Rows("androids", root, check_audio)
    chosen = list(ANDROIDS_TASKS) if task == "both" else [task]
    for t in ANDROIDS_TASKS:  # a reader never loses a file silently: list what it skips
        base = root / ANDROIDS_TASKS[t]
        if t not in chosen and base.is_dir():
            for wav in find_files(base, "*.wav"):
                rows.fail(wav, f"not read with task={task!r}: a {t}-task recording "
                               f"(task={t!r} or 'both' reads it)")
    for t in chosen:
        base = root / ANDROIDS_TASKS[t]
        if not base.is_dir():
            rows.fail(base, f"{t} task folder missing")
            continue
        clips = t == "interview" and interview == "clips"
        for wav in find_files(base, "*.wav"):
            rel = wav.relative_to(base).parts
            if clips != ("audio_clip" in rel):
                if t == "reading":
                    rows.fail(wav, "a clip folder under the reading task (only interviews "
                                   "have clips)")
                elif clips:
                    rows.fail(wav, "not read with interview='clips': a whole interview "
                                   "(interview='audio' reads it)")
                else:
                    rows.fail(wav, "not read with interview='audio': a per-turn interview "
                                   "clip (interview='clips' reads it)")
                continue
            owner = wav.parent.name if clips else wav.stem
            m = _ANDROIDS_RX.fullmatch(owner)
            if not m:
                rows.fail(wav, "name does not follow nn_XGmm_t (id, condition, sex, age, education)")
                continue
            nn, cond, sex, age, edu = (g.upper() for g in m.groups())
            if cond == "X":
                rows.fail(wav, "condition unknown (X)")
                continue
            rows.add(
                wav, subject=f"{int(nn):02d}_{cond}", session=t,
                gender={"M": "m", "F": "f"}.get(sex, math.nan),
                age=float(age) if age.isdigit() else math.nan,
                depressed=int(cond == "P"), education=int(edu) if edu.isdigit() else math.nan,
                fold=folds.get((t, owner), math.nan),
            )
    return rows.manifest()
