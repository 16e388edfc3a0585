"""The embedded demo cohort: acted-emotion speech synthesised with espeak-ng, no download.

``make demo`` needs a corpus that exists on any machine. :func:`synthesize_cohort` makes one:
each synthetic *speaker* is one espeak-ng voice (a variant such as ``+f2``/``+m3`` on an
English accent: en-gb, en-us, Scottish, Caribbean, RP ...) with a personal base pitch, rate
and loudness; each *emotion* changes the prosody the way acted emotional speech does
(Scherer 2003; Banse & Scherer 1996): sad is slow, low, narrow in pitch range, quiet and
pausing long; angry is fast, loud and wide in range; happy is high and wide; neutral sits
in the middle. Every class reads the same sentences, so the text never gives the class away.

espeak-ng's command-line flags set rate (``-s``), pitch (``-p``), amplitude (``-a``) and the
gap between words (``-g``) but not the pitch *range*, so the class prosody goes through SSML
``<prosody rate pitch range>`` (relative to the speaker's base values) and pauses between
sentences through SSML ``<break>``.

This is a toy for demonstrating the pipeline, not data to draw conclusions from: the voices
are formant synthesis and the "emotions" are four prosody settings.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import soundfile as sf
import soxr

from vocalmind import SAMPLE_RATE
from vocalmind.corpora.manifest import make_manifest, write_manifest
from vocalmind.errors import AudioError, ConfigError
from vocalmind.files import atomic_path
from vocalmind.progress import progress_bar

__all__ = [
    "ALIASES",
    "ASSESSMENT_VOICE",
    "CLASS_PROSODY",
    "CORPUS",
    "ClassProsody",
    "VOICES",
    "make_demo_assessment_clip",
    "synthesize_cohort",
]

CORPUS = "vocalmind-demo"

VOICES: tuple[tuple[str, str], ...] = (
    # (espeak-ng voice, gender); checked to apply the variant (the f voices speak near
    # 175-205 Hz, the m voices near 90-105 Hz). Note "en-gb+f2" silently ignores the
    # variant in espeak-ng 1.51, hence "en+f2".
    ("en+f2", "f"),
    ("en-us+m3", "m"),
    ("en-gb-scotland+f3", "f"),
    ("en+m1", "m"),
    ("en-us+f4", "f"),
    ("en-029+m2", "m"),
    ("en-gb-x-rp+f1", "f"),
    ("en-us-nyc+m4", "m"),
    ("en-029+f4", "f"),
    ("en-gb-x-gbcwmd+m6", "m"),
)
"""Cohort voices; speaker i uses ``VOICES[i]``."""

ASSESSMENT_VOICE: tuple[str, str] = ("en-gb-x-gbclan+f5", "f")
"""A voice (accent and variant) that no cohort speaker uses."""

SENTENCES: tuple[str, ...] = (
    # Emotionally neutral content, as in acted corpora (EMO-DB): only prosody carries class.
    "The cloth is lying on the fridge.",
    "Tonight I could tell him about it.",
    "The paper is on the table near the window.",
    "We will meet at the station at nine o'clock.",
    "The bag is up there, beside the cupboard.",
    "In seven hours it will be over.",
    "She took the blue cup and walked to the door.",
    "They went upstairs and came back down again.",
    "What about the brown bag in the corner?",
    "The train leaves from the second platform.",
)

ASSESSMENT_TEXT: tuple[str, ...] = (
    "This morning I walked to the shop and bought some bread.",
    "The weather was grey, and the street was quiet.",
    "Later I called my sister, and we talked for a while.",
    "In the evening I read a few pages and went to bed early.",
)


@dataclass(frozen=True)
class ClassProsody:
    """Prosody of one emotion class, relative to the speaker's base.

    Parameters
    ----------
    rate : speaking-rate change, percent (SSML ``rate``)
    pitch : mean-pitch change, percent (SSML ``pitch``)
    range : pitch-range change, percent (SSML ``range``)
    gain : amplitude factor on the speaker's base ``-a``
    word_gap : extra pause between words, units of 10 ms (espeak ``-g``)
    pause_ms : pause between sentences (SSML ``<break>``)
    """

    rate: int
    pitch: int
    range: int
    gain: float
    word_gap: int
    pause_ms: int


CLASS_PROSODY: dict[str, ClassProsody] = {
    "neutral": ClassProsody(rate=0, pitch=0, range=0, gain=1.0, word_gap=0, pause_ms=300),
    "happiness": ClassProsody(rate=12, pitch=25, range=60, gain=1.15, word_gap=0, pause_ms=200),
    "sadness": ClassProsody(rate=-28, pitch=-18, range=-60, gain=0.6, word_gap=4, pause_ms=700),
    "anger": ClassProsody(rate=18, pitch=8, range=90, gain=1.5, word_gap=0, pause_ms=150),
    "fear": ClassProsody(rate=25, pitch=35, range=20, gain=0.9, word_gap=1, pause_ms=250),
    "boredom": ClassProsody(rate=-15, pitch=-12, range=-75, gain=0.75, word_gap=2, pause_ms=450),
}
"""Acted-emotion prosody per class (direction of change after Scherer 2003).

Keys are the project's emotion vocabulary (:mod:`vocalmind.corpora.emotion`), so a model
trained on the demo cohort speaks the same labels as one trained on EMO-DB."""

ALIASES: dict[str, str] = {
    "happy": "happiness", "sad": "sadness", "angry": "anger", "fearful": "fear",
    "bored": "boredom",
}  # fmt: skip
"""Short names accepted for :data:`CLASS_PROSODY` keys (labels are always the long ones)."""


def _canonical(label: str) -> str:
    return ALIASES.get(label, label)

_NOISE_RMS = 10 ** (-65 / 20)  # faint noise floor: digital silence breaks log features and VADs


@dataclass(frozen=True)
class _Job:
    out: Path
    voice: str
    base_pitch: int  # espeak -p, 0-99
    base_rate: int  # espeak -s, words per minute
    base_amp: int  # espeak -a
    prosody: ClassProsody
    jitter: tuple[float, float]  # per-utterance rate and pitch jitter, percent
    text: tuple[str, ...]
    noise_seed: int


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise ConfigError(
            "espeak-ng is not on PATH; the demo cohort is synthesised with it "
            "(Debian/Ubuntu: apt-get install espeak-ng)"
        )
    return exe


def _ssml(job: _Job) -> str:
    p = job.prosody
    rate = p.rate + job.jitter[0]
    pitch = p.pitch + job.jitter[1]
    brk = f'<break time="{p.pause_ms}ms"/>'
    body = brk.join(escape(s) for s in job.text)
    return (
        f'<speak><prosody rate="{rate:+.0f}%" pitch="{pitch:+.0f}%" range="{p.range:+d}%">'
        f"{body}</prosody></speak>"
    )


def _synthesize(exe: str, job: _Job) -> float:
    """Run espeak-ng for one utterance, write it as 16 kHz mono PCM-16; return its seconds."""
    amp = int(np.clip(round(job.base_amp * job.prosody.gain), 1, 200))
    cmd = [
        exe, "-m", "-v", job.voice,
        "-p", str(job.base_pitch), "-s", str(job.base_rate),
        "-a", str(amp), "-g", str(job.prosody.word_gap),
        "--stdout", _ssml(job),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    if proc.returncode != 0 or len(proc.stdout) < 1000:
        raise AudioError(
            job.out,
            f"espeak-ng failed (exit {proc.returncode}, voice {job.voice}): "
            f"{proc.stderr.decode(errors='replace').strip()[:200]}",
        )
    y, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    y = soxr.resample(y.mean(axis=1), sr, SAMPLE_RATE, quality="HQ").astype(np.float32)
    y += (np.random.default_rng(job.noise_seed).standard_normal(len(y)) * _NOISE_RMS).astype(
        np.float32
    )
    peak = float(np.max(np.abs(y)))
    if peak > 0.99:  # espeak can overshoot at high amplitude; keep within [-1, 1]
        y *= 0.99 / peak
    with atomic_path(job.out) as tmp:
        sf.write(tmp, y, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return len(y) / SAMPLE_RATE


def _run_jobs(jobs: Sequence[_Job], *, n_workers: int, progress: bool, label: str) -> None:
    exe = _espeak()
    # espeak-ng runs in its own process, so threads suffice to keep n_workers cores busy.
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        futures = [pool.submit(_synthesize, exe, j) for j in jobs]
        if progress:

            with progress_bar(transient=True) as bar:
                task = bar.add_task(label, total=len(futures))
                for f in futures:
                    f.result()
                    bar.advance(task)
        else:
            for f in futures:
                f.result()


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo or (
        hi is not None and value > hi
    ):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise ConfigError(f"{name}={value!r}: must be an integer {bound}")
    return int(value)


def synthesize_cohort(
    out_dir: str | Path,
    *,
    n_speakers: int = 8,
    utterances_per_class: int = 6,
    classes: Sequence[str] = ("neutral", "happiness", "sadness", "anger"),
    seed: int = 0,
    jobs: int = 2,
    progress: bool = True,
) -> pd.DataFrame:
    """Synthesise the demo emotion cohort and return (and write) its manifest.

    Parameters
    ----------
    out_dir : folder for ``<subject>/<subject>_<emotion>_<k>.wav`` and ``manifest.csv``
    n_speakers : synthetic speakers, 1 to ``len(VOICES)`` (10); speakers alternate f/m
    utterances_per_class : utterances per speaker and class (each two sentences long)
    classes : emotion labels, from :data:`CLASS_PROSODY` (or their :data:`ALIASES`)
    seed : fixes every speaker's base pitch/rate/loudness and each utterance's jitter and
        text; the same seed gives the same manifest
    jobs : espeak-ng processes run in parallel
    progress : show a rich progress bar

    Returns
    -------
    pd.DataFrame
        A manifest (:func:`vocalmind.corpora.manifest.make_manifest`): one row per file
        (16 kHz mono PCM-16 WAV, 2-7 s), ``subject`` = ``demo01`` ..., ``gender`` from
        the voice, ``emotion``, ``language="en"``, ``corpus="vocalmind-demo"``, plus
        ``voice``, ``utterance`` and ``text`` columns. Also written as
        ``out_dir/manifest.csv``.

    Raises
    ------
    ConfigError
        Unknown class, bad sizes, or espeak-ng missing.
    AudioError
        espeak-ng failed on an utterance.

    Examples
    --------
    >>> import tempfile
    >>> m = synthesize_cohort(tempfile.mkdtemp(), n_speakers=2, utterances_per_class=1,
    ...                       classes=("sadness", "anger"), progress=False)
    >>> m[["subject", "gender", "emotion"]].values.tolist()
    [['demo01', 'f', 'sadness'], ['demo01', 'f', 'anger'], ['demo02', 'm', 'sadness'], ['demo02', 'm', 'anger']]
    """
    n_speakers = _check_int("n_speakers", n_speakers, 1, len(VOICES))
    utterances_per_class = _check_int("utterances_per_class", utterances_per_class, 1)
    jobs = _check_int("jobs", jobs, 1)
    classes = [_canonical(c) for c in classes]
    unknown = [c for c in classes if c not in CLASS_PROSODY]
    if not classes or unknown or len(set(classes)) != len(classes):
        raise ConfigError(
            f"classes={classes!r}: give distinct labels from {sorted(CLASS_PROSODY)} "
            f"(aliases: {ALIASES})"
        )
    out_dir = Path(out_dir).resolve()
    rows, work = [], []
    for i in range(n_speakers):
        voice, gender = VOICES[i]
        subject = f"demo{i + 1:02d}"
        rng = np.random.default_rng([seed, i])
        base_pitch = int(rng.integers(38, 63))
        base_rate = int(rng.integers(150, 186))
        base_amp = int(rng.integers(55, 66))
        for k in range(utterances_per_class):
            # Text depends on speaker and utterance, never on class.
            first = int(rng.integers(len(SENTENCES)))
            text = (SENTENCES[first], SENTENCES[(first + 1 + k) % len(SENTENCES)])
            for ci, emotion in enumerate(classes):
                jit = np.random.default_rng([seed, i, k, ci]).uniform(-4, 4, size=2)
                out = out_dir / subject / f"{subject}_{emotion}_{k:02d}.wav"
                work.append(
                    _Job(
                        out=out, voice=voice, base_pitch=base_pitch, base_rate=base_rate,
                        base_amp=base_amp, prosody=CLASS_PROSODY[emotion],
                        jitter=(round(float(jit[0]), 1), round(float(jit[1]), 1)),
                        text=text, noise_seed=int(np.random.default_rng([seed, i, k, ci, 1]).integers(2**31)),
                    )
                )  # fmt: skip
                rows.append(
                    {
                        "file": str(out), "subject": subject, "gender": gender,
                        "language": "en", "corpus": CORPUS, "emotion": emotion,
                        "voice": voice, "utterance": k, "text": " ".join(text),
                    }
                )  # fmt: skip
    _run_jobs(work, n_workers=jobs, progress=progress, label="synthesising demo cohort")
    manifest = make_manifest(rows)
    write_manifest(manifest, out_dir / "manifest.csv")
    return manifest


def make_demo_assessment_clip(
    out_path: str | Path,
    *,
    seed: int = 0,
    emotion: str = "sadness",
) -> Path:
    """Synthesise one new recording, from a voice no cohort speaker uses, to assess.

    Parameters
    ----------
    out_path : WAV file to write (16 kHz mono PCM-16, about 10-25 s)
    seed : fixes the speaker's base pitch/rate/loudness
    emotion : the prosody class it is spoken with, from :data:`CLASS_PROSODY` (or an alias)

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    ConfigError
        Unknown emotion, or espeak-ng missing.
    """
    emotion = _canonical(emotion)
    if emotion not in CLASS_PROSODY:
        raise ConfigError(f"emotion={emotion!r}: use one of {sorted(CLASS_PROSODY)}")
    out_path = Path(out_path)
    rng = np.random.default_rng([seed, 10_000])
    job = _Job(
        out=out_path,
        voice=ASSESSMENT_VOICE[0],
        base_pitch=int(rng.integers(38, 63)),
        base_rate=int(rng.integers(150, 186)),
        base_amp=int(rng.integers(55, 66)),
        prosody=CLASS_PROSODY[emotion],
        jitter=(0.0, 0.0),
        text=ASSESSMENT_TEXT,
        noise_seed=int(rng.integers(2**31)),
    )
    _run_jobs([job], n_workers=1, progress=False, label="synthesising assessment clip")
    return out_path
