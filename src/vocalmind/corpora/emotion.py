"""Readers of acted emotional-speech corpora, each following its authors' file-name scheme.

Emotion labels are mapped onto one vocabulary across corpora: ``anger``, ``boredom``,
``calm``, ``disgust``, ``excitement``, ``fear``, ``frustration``, ``happiness``,
``neutral``, ``other``, ``sadness``, ``surprise``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

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

# --------------------------------------------------------------------------- EMO-DB

EMODB_EMOTIONS = {
    "W": "anger", "L": "boredom", "E": "disgust", "A": "fear",
    "F": "happiness", "T": "sadness", "N": "neutral",
}
# Speaker sex and age as documented by the corpus authors (Burkhardt et al. 2005).
EMODB_SPEAKERS = {
    "03": ("m", 31), "08": ("f", 34), "09": ("f", 21), "10": ("m", 32), "11": ("m", 26),
    "12": ("m", 30), "13": ("f", 32), "14": ("f", 35), "15": ("m", 25), "16": ("f", 31),
}
_EMODB_RX = re.compile(r"(\d\d)([ab]\d\d)([WLEAFTN])([a-z])", re.IGNORECASE)


@register(
    "emodb", language="de",
    layout="ROOT/wav/SSTTTEV.wav (SS speaker 03,08-16; TTT sentence a01-b10; E emotion W/L/E/A/F/T/N; V version)",
    description="Berlin Database of Emotional Speech (German, 10 actors, 7 emotions)",
)
def read_emodb(root: str | Path, *, check_audio: bool = True) -> pd.DataFrame:
    """Read EMO-DB: one row per ``wav/SSTTTEV.wav``.

    Subject = speaker code ``SS``; gender and age from the corpus documentation; extra
    columns ``sentence`` (TTT) and ``version`` (V). No predefined split (the standard
    protocol is leave-one-speaker-out).
    """
    root = check_root("emodb", root)
    wav_dir = root / "wav" if (root / "wav").is_dir() else root
    files = find_files(wav_dir, "*.wav", recursive=False)
    if not files:
        raise wrong_root("emodb", root, "no wav/*.wav files")
    rows = Rows("emodb", root, check_audio)
    for f in files:
        m = _EMODB_RX.fullmatch(f.stem)
        if not m or m.group(1) not in EMODB_SPEAKERS:
            rows.fail(f, "file name does not follow SSTTTEV (speaker, sentence, emotion, version)")
            continue
        spk, sentence, emo, version = m.groups()
        gender, age = EMODB_SPEAKERS[spk]
        rows.add(f, subject=spk, gender=gender, age=age, emotion=EMODB_EMOTIONS[emo.upper()],
                 sentence=sentence, version=version)
    return rows.manifest()


# --------------------------------------------------------------------------- RAVDESS

RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happiness", "04": "sadness",
    "05": "anger", "06": "fear", "07": "disgust", "08": "surprise",
}
_RAVDESS_RX = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)")


@register(
    "ravdess", language="en",
    layout="ROOT/Actor_NN/MM-VV-EE-II-SS-RR-AA.wav (7 two-digit fields; AA actor 01-24, odd = male)",
    description="Ryerson Audio-Visual Database of Emotional Speech and Song (24 actors)",
)
def read_ravdess(
    root: str | Path, *, channel: str = "speech", check_audio: bool = True
) -> pd.DataFrame:
    """Read RAVDESS audio files (modality 03 = audio-only).

    Parameters
    ----------
    channel : ``"speech"`` (vocal channel 01), ``"song"`` (02) or ``"both"``

    Subject = actor ``AA`` (odd = male, even = female); extra columns ``channel``,
    ``intensity`` (normal/strong), ``statement`` (01/02), ``repetition``. No predefined split.
    """
    check_choice("channel", channel, ("speech", "song", "both"))
    root = check_root("ravdess", root)
    files = find_files(root, "*.wav")
    if not any(_RAVDESS_RX.fullmatch(f.stem) for f in files):
        raise wrong_root("ravdess", root, "no files named like 03-01-06-01-02-01-12.wav")
    rows = Rows("ravdess", root, check_audio)
    for f in files:
        m = _RAVDESS_RX.fullmatch(f.stem)
        if not m or m.group(3) not in RAVDESS_EMOTIONS or m.group(2) not in ("01", "02"):
            rows.fail(f, "file name does not follow the 7-field RAVDESS identifier")
            continue
        modality, vocal, emo, intensity, statement, rep, actor = m.groups()
        if modality != "03":  # full-AV/video-only files carry no separate audio track here
            rows.fail(f, f"modality {modality} is not audio-only (03); left out")
            continue
        ch = "speech" if vocal == "01" else "song"
        if channel != "both" and ch != channel:
            rows.fail(f, f"{ch} recording left out by channel={channel!r} (channel='both' keeps it)")
            continue
        rows.add(
            f, subject=actor, gender="m" if int(actor) % 2 else "f",
            emotion=RAVDESS_EMOTIONS[emo], channel=ch,
            intensity="normal" if intensity == "01" else "strong",
            statement=statement, repetition=rep,
        )
    return rows.manifest()


# --------------------------------------------------------------------------- TESS

TESS_EMOTIONS = {
    "angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
    "neutral": "neutral", "ps": "surprise", "sad": "sadness",
}
TESS_SPEAKERS = {"OAF": 64, "YAF": 26}  # older / younger adult female, ages per the authors
#: Speaker codes misspelt in the released corpus: ``OA_bite_neutral.wav`` is OAF's.
TESS_SPEAKER_TYPOS = {"OA": "OAF", "YA": "YAF"}


@register(
    "tess", language="en",
    layout="ROOT/**/{OAF,YAF}_WORD_EMOTION.wav (emotion angry/disgust/fear/happy/neutral/ps/sad)",
    description="Toronto Emotional Speech Set (2 female speakers, 7 emotions)",
)
def read_tess(root: str | Path, *, check_audio: bool = True) -> pd.DataFrame:
    """Read TESS: ``{OAF,YAF}_<word>_<emotion>.wav``, in per-speaker/emotion folders.

    Subject = ``OAF`` (aged 64) or ``YAF`` (aged 26), both female; ``ps`` (pleasant
    surprise) maps to ``surprise``; extra column ``word``. No predefined split. The released
    corpus names one file ``OA_bite_neutral.wav``; the speaker code typos ``OA``/``YA`` are
    read as ``OAF``/``YAF``. Any other file is listed in the failures with its reason.
    """
    root = check_root("tess", root)
    files = find_files(root, "*.wav")

    def speaker(f: Path) -> str | None:
        code = f.stem.split("_")[0].upper()
        code = TESS_SPEAKER_TYPOS.get(code, code)
        return code if code in TESS_SPEAKERS else None

    if not any(speaker(f) for f in files):
        raise wrong_root("tess", root, "no OAF_*.wav / YAF_*.wav files")
    rows = Rows("tess", root, check_audio)
    for f in files:
        spk = speaker(f)
        if spk is None:
            rows.fail(f, f"speaker code {f.stem.split('_')[0]!r} is not OAF or YAF")
            continue
        parts = f.stem.split("_")
        emo = parts[-1].lower()
        if len(parts) >= 3 and "_".join(parts[-2:]).lower() == "pleasant_surprise":
            emo, parts = "ps", parts[:-1]
        if len(parts) < 3 or emo not in TESS_EMOTIONS:
            rows.fail(f, "file name does not follow SPEAKER_WORD_EMOTION")
            continue
        rows.add(f, subject=spk, gender="f", age=TESS_SPEAKERS[spk],
                 emotion=TESS_EMOTIONS[emo], word="_".join(parts[1:-1]).lower())
    return rows.manifest()


# --------------------------------------------------------------------------- SAVEE

SAVEE_EMOTIONS = {
    "a": "anger", "d": "disgust", "f": "fear", "h": "happiness",
    "n": "neutral", "sa": "sadness", "su": "surprise",
}
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")
_SAVEE_RX = re.compile(r"(?:(DC|JE|JK|KL)_)?(sa|su|a|d|f|h|n)(\d\d)", re.IGNORECASE)


@register(
    "savee", language="en",
    layout="ROOT/AudioData/{DC,JE,JK,KL}/{a,d,f,h,n,sa,su}NN.wav (or flat SPEAKER_xNN.wav)",
    description="Surrey Audio-Visual Expressed Emotion (4 male speakers, 7 emotions)",
)
def read_savee(root: str | Path, *, check_audio: bool = True) -> pd.DataFrame:
    """Read SAVEE: speaker folders DC/JE/JK/KL with emotion-prefixed files ``sa03.wav``.

    All four speakers are male British English postgraduates. Extra column ``sentence``
    (the 2-digit number). The flat ``DC_a01.wav`` redistribution is also accepted.
    """
    root = check_root("savee", root)
    rows = Rows("savee", root, check_audio)
    found = False
    for f in find_files(root, "*.wav"):
        m = _SAVEE_RX.fullmatch(f.stem)
        spk = (m.group(1) or f.parent.name).upper() if m else None
        if spk not in SAVEE_SPEAKERS:
            if f.parent.name.upper() in SAVEE_SPEAKERS or f.stem[:3].upper().rstrip("_") in SAVEE_SPEAKERS:
                rows.fail(f, "file name does not follow {a,d,f,h,n,sa,su}NN")
            else:
                rows.fail(f, f"not in a DC/JE/JK/KL speaker folder or named SPEAKER_xNN (speaker {spk!r})")
            continue
        assert m is not None
        found = True
        rows.add(f, subject=spk, gender="m", emotion=SAVEE_EMOTIONS[m.group(2).lower()],
                 sentence=m.group(3))
    if not found:
        raise wrong_root("savee", root, "no DC/JE/JK/KL speaker recordings")
    return rows.manifest()


# --------------------------------------------------------------------------- EMOVO

EMOVO_EMOTIONS = {
    "dis": "disgust", "gio": "happiness", "neu": "neutral", "pau": "fear",
    "rab": "anger", "sor": "surprise", "tri": "sadness",
}
_EMOVO_RX = re.compile(r"([a-z]{3})-([fm][1-3])-([a-z]+\d*)", re.IGNORECASE)


@register(
    "emovo", language="it",
    layout="ROOT/{f1,f2,f3,m1,m2,m3}/EMO-SPK-SENT.wav (EMO dis/gio/neu/pau/rab/sor/tri)",
    description="EMOVO Italian emotional speech (6 actors, 7 emotions, 14 sentences)",
)
def read_emovo(root: str | Path, *, check_audio: bool = True) -> pd.DataFrame:
    """Read EMOVO: speaker folders ``f1..m3`` with files ``dis-f1-b1.wav``.

    Subject = speaker code (``f``/``m`` gives the gender); extra column ``sentence``.
    """
    root = check_root("emovo", root)
    files = find_files(root, "*.wav")
    rows = Rows("emovo", root, check_audio)
    found = False
    for f in files:
        m = _EMOVO_RX.fullmatch(f.stem)
        if not m or m.group(1).lower() not in EMOVO_EMOTIONS:
            rows.fail(f, "file name does not follow EMOTION-SPEAKER-SENTENCE (e.g. dis-f1-b1)")
            continue
        found = True
        emo, spk, sent = m.group(1).lower(), m.group(2).lower(), m.group(3).lower()
        rows.add(f, subject=spk, gender=spk[0], emotion=EMOVO_EMOTIONS[emo], sentence=sent)
    if not found:
        raise wrong_root("emovo", root, "no files named like dis-f1-b1.wav")
    return rows.manifest()


# --------------------------------------------------------------------------- URDU

URDU_EMOTIONS = {"A": "anger", "H": "happiness", "N": "neutral", "S": "sadness"}
URDU_FOLDERS = {"angry": "A", "happy": "H", "neutral": "N", "sad": "S"}
_URDU_RX = re.compile(r"(S([MF])\d+)_([A-Za-z]*\d+)_([AHNS])\d+", re.IGNORECASE)


@register(
    "urdu", language="ur",
    layout="ROOT/{Angry,Happy,Neutral,Sad}/S{M,F}N_FILE_EMM.wav (e.g. SM1_F1_A01.wav; E = A/H/N/S)",
    description="URDU-Dataset (Latif et al. 2018; Urdu talk-show speech, 4 emotions)",
)
def read_urdu(root: str | Path, *, check_audio: bool = True) -> pd.DataFrame:
    """Read the URDU dataset: emotion folders with files ``SM1_F1_A01.wav``.

    Subject = ``SMn``/``SFn`` (the second letter is the speaker's sex); the emotion letter
    before the final number gives the label and must agree with the folder when the folder
    is one of Angry/Happy/Neutral/Sad (disagreements are reported and skipped).
    """
    root = check_root("urdu", root)
    rows = Rows("urdu", root, check_audio)
    found = False
    for f in find_files(root, "*.wav"):
        m = _URDU_RX.fullmatch(f.stem)
        if not m:
            rows.fail(f, "file name does not follow SPEAKER_FILE_EMOTIONNN (e.g. SM1_F1_A01)")
            continue
        spk, sex, _, emo = m.groups()
        emo = emo.upper()
        folder = URDU_FOLDERS.get(f.parent.name.lower())
        if folder is not None and folder != emo:
            rows.fail(f, f"emotion letter {emo!r} disagrees with folder {f.parent.name!r}")
            continue
        found = True
        rows.add(f, subject=spk.upper(), gender=sex.lower(), emotion=URDU_EMOTIONS[emo])
    if not found:
        raise wrong_root("urdu", root, "no files named like SM1_F1_A01.wav")
    return rows.manifest()


# --------------------------------------------------------------------------- CREMA-D

CREMAD_EMOTIONS = {
    "ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness",
    "NEU": "neutral", "SAD": "sadness",
}
CREMAD_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}
_CREMAD_RX = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})")


@register(
    "cremad", language="en",
    layout="ROOT/AudioWAV/AAAA_SSS_EEE_LL.wav and ROOT/VideoDemographics.csv (ActorID, Age, Sex, Race, Ethnicity)",
    description="CREMA-D crowd-sourced emotional multimodal actors (91 actors, 6 emotions)",
)
def read_cremad(root: str | Path, *, check_audio: bool = True) -> pd.DataFrame:
    """Read CREMA-D: ``AudioWAV/1001_DFA_ANG_XX.wav`` plus ``VideoDemographics.csv``.

    Subject = actor id; gender and age from the demographics table (``Sex`` Male/Female);
    extra columns ``sentence`` (3-letter code) and ``intensity`` (low/medium/high/unspecified).
    """
    root = check_root("cremad", root)
    audio_dir = root / "AudioWAV" if (root / "AudioWAV").is_dir() else root
    demo_path = find_named(root, "VideoDemographics.csv")
    demo: dict[str, dict[str, Any]] = {}
    if demo_path is not None:
        table = read_csv_checked(demo_path)
        if not {"ActorID", "Sex"} <= set(table.columns):
            raise wrong_root("cremad", root, f"{demo_path.name} lacks ActorID/Sex columns")
        for _, r in table.iterrows():
            sex = str(r["Sex"]).strip().lower()
            demo[str(int(r["ActorID"]))] = {
                "gender": {"male": "m", "female": "f"}.get(sex, math.nan),
                "age": r.get("Age", math.nan),
            }
    rows = Rows("cremad", root, check_audio)
    found = False
    for f in find_files(audio_dir, "*.wav"):
        m = _CREMAD_RX.fullmatch(f.stem)
        if not m or m.group(3) not in CREMAD_EMOTIONS or m.group(4) not in CREMAD_LEVELS:
            rows.fail(f, "file name does not follow ACTOR_SENTENCE_EMOTION_LEVEL")
            continue
        found = True
        actor, sentence, emo, level = m.groups()
        meta = demo.get(str(int(actor)), {})
        rows.add(f, subject=actor, emotion=CREMAD_EMOTIONS[emo], sentence=sentence,
                 intensity=CREMAD_LEVELS[level], **meta)
    if not found:
        raise wrong_root("cremad", root, "no AudioWAV/1001_DFA_ANG_XX.wav-style files")
    if demo_path is None:
        rows.fail(root / "VideoDemographics.csv", "demographics table missing: no gender/age")
    return rows.manifest()


# --------------------------------------------------------------------------- AESDD

AESDD_EMOTIONS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "s": "sadness"}
AESDD_FOLDERS = {"anger": "a", "disgust": "d", "fear": "f", "happiness": "h", "sadness": "s"}
_AESDD_RX = re.compile(r"([adfhs])(\d+)\s*\((\d+)\)\s*([a-z]?)", re.IGNORECASE)


@register(
    "aesdd", language="el",
    layout="ROOT/{anger,disgust,fear,happiness,sadness}/eNN (S).wav (e emotion letter, NN utterance, S speaker)",
    description="Acted Emotional Speech Dynamic Database (Greek, 5 emotions)",
)
def read_aesdd(root: str | Path, *, check_audio: bool = True) -> pd.DataFrame:
    """Read AESDD: emotion folders holding ``a01 (1).wav`` (emotion, utterance, speaker).

    Subject = the number in brackets. The file names do not encode the speaker's sex, so
    ``gender`` is left missing. Extra columns ``utterance`` and ``take`` (a trailing letter
    some files carry, e.g. ``a01 (1)b.wav``).
    """
    root = check_root("aesdd", root)
    rows = Rows("aesdd", root, check_audio)
    found = False
    for f in find_files(root, "*.wav"):
        m = _AESDD_RX.fullmatch(f.stem)
        if not m:
            rows.fail(f, "file name does not follow 'eNN (S)' (emotion, utterance, speaker)")
            continue
        emo, utt, spk, take = m.group(1).lower(), m.group(2), m.group(3), m.group(4)
        folder = AESDD_FOLDERS.get(f.parent.name.lower())
        if folder is not None and folder != emo:
            rows.fail(f, f"emotion letter {emo!r} disagrees with folder {f.parent.name!r}")
            continue
        found = True
        rows.add(f, subject=str(int(spk)), emotion=AESDD_EMOTIONS[emo], utterance=utt,
                 take=take or math.nan)
    if not found:
        raise wrong_root("aesdd", root, "no files named like 'a01 (1).wav'")
    return rows.manifest()


# --------------------------------------------------------------------------- IEMOCAP

IEMOCAP_EMOTIONS = {
    "neu": "neutral", "hap": "happiness", "exc": "excitement", "sad": "sadness",
    "ang": "anger", "fru": "frustration", "sur": "surprise", "fea": "fear",
    "dis": "disgust", "oth": "other", "xxx": None,
}
_IEMOCAP_LINE = re.compile(
    r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(Ses\d\d[FM]_\S+)\s+(\w+)\s+"
    r"\[\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*\]"
)


@register(
    "iemocap", language="en",
    layout="ROOT/Session{1..5}/dialog/EmoEvaluation/SesNNX_*.txt and "
           "ROOT/Session{1..5}/sentences/wav/<dialog>/<utterance>.wav",
    description="IEMOCAP (10 actors in 5 dyadic sessions; utterance-level categorical + VAD labels)",
)
def read_iemocap(
    root: str | Path,
    *,
    merge_excited: bool = False,
    keep_ambiguous: bool = False,
    check_audio: bool = True,
) -> pd.DataFrame:
    """Read IEMOCAP utterances with their consensus labels from ``dialog/EmoEvaluation``.

    Parameters
    ----------
    merge_excited : map ``exc`` (excitement) onto ``happiness``, as the common 4-class
        setup (anger, happiness+excitement, neutral, sadness) does
    keep_ambiguous : keep utterances whose evaluators reached no majority (``xxx``, emotion
        left missing) and those labelled ``oth`` (``other``); dropped by default

    Subject = session + sex of the utterance's speaker (``Ses01F``: the woman of session 1),
    read from the last part of the utterance name (``..._F000`` / ``..._M012``), which is
    not always the sex in the dialog name. ``session`` = ``Session1``..``Session5``; extra
    columns ``dialog``, ``valence``, ``arousal``, ``dominance`` (1-5 means). No predefined
    split (leave-one-session-out is customary).
    """
    root = check_root("iemocap", root)
    sessions = sorted(p for p in root.iterdir() if re.fullmatch(r"Session[1-5]", p.name))
    if not sessions:
        raise wrong_root("iemocap", root, "no Session1..Session5 folders")
    rows = Rows("iemocap", root, check_audio)
    skipped: dict[Path, str] = {}
    for sess in sessions:
        eval_dir = sess / "dialog" / "EmoEvaluation"
        label_files = sorted(eval_dir.glob("Ses*.txt")) if eval_dir.is_dir() else []
        if not label_files:
            rows.fail(eval_dir, "no EmoEvaluation label files in this session")
            continue
        for lf in label_files:
            try:
                lines = lf.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError as e:
                rows.fail(lf, f"cannot read label file ({e})")
                continue
            for line in lines:
                m = _IEMOCAP_LINE.match(line.strip())
                if not m:
                    continue  # evaluator detail lines (C-E1: ...), headers, blanks
                _, _, utt, code, val, act, dom = m.groups()
                code = code.lower()
                if code not in IEMOCAP_EMOTIONS:
                    rows.fail(lf, f"{utt}: unknown emotion code {code!r}")
                    continue
                emotion = IEMOCAP_EMOTIONS[code]
                if not keep_ambiguous and code in ("xxx", "oth"):
                    dialog = utt.rsplit("_", 1)[0]
                    skipped[sess / "sentences" / "wav" / dialog / f"{utt}.wav"] = (
                        "no majority emotion (xxx)" if code == "xxx" else "labelled 'other' (oth)"
                    ) + "; keep_ambiguous=True keeps it"
                    continue
                if merge_excited and emotion == "excitement":
                    emotion = "happiness"
                dialog, last = utt.rsplit("_", 1)
                sex = last[0].upper()
                if sex not in "FM":
                    rows.fail(lf, f"{utt}: cannot tell the speaker from {last!r}")
                    continue
                wav = sess / "sentences" / "wav" / dialog / f"{utt}.wav"
                rows.add(
                    wav, subject=f"{utt[:5]}{sex}", gender=sex.lower(), session=sess.name,
                    emotion=emotion if emotion is not None else math.nan, dialog=dialog,
                    valence=float(val), arousal=float(act), dominance=float(dom),
                )
    # every recording is either a row or a listed failure, never dropped silently
    seen = {Path(r["file"]) for r in rows.rows} | {Path(f["file"]) for f in rows.failures}
    for sess in sessions:
        wav_dir = sess / "sentences" / "wav"
        for f in find_files(wav_dir, "*.wav") if wav_dir.is_dir() else []:
            if f not in seen:
                rows.fail(f, skipped.get(f, "no line in the session's EmoEvaluation files"))
    return rows.manifest()
