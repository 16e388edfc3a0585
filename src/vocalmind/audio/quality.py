"""Recording quality: one record per recording, and gates that make a model abstain.

:func:`measure_file` (or :func:`measure` on a signal) gives a :class:`QualityRecord`: how
much voiced speech there is, clipping, DC offset, an SNR estimate, the effective bandwidth
and native sample rate, and whether the file is truncated. :func:`check` compares a
record with :class:`QualityGates` and returns the reasons it fails (an empty list = pass).
``vocalmind assess`` and the service answer ``"insufficient quality: <reason>"`` instead of
a prediction when a gate fails, the way clinical voice products abstain.

The silence rule
----------------
One rule for the whole package: a frame or signal whose level stays below
:data:`SILENCE_DB` (-60 dBFS, from :mod:`vocalmind.audio.processing`) is silent.

Voicing
-------
A 40 ms frame (10 ms hop) is *voiced* when it is not silent, its level is within 50 dB of
the loudest frame, and its normalised autocorrelation has a peak of at least
:data:`VOICING_THRESHOLD` (0.45, as Boersma's pitch tracker) at a lag between 2.5 ms and
16.7 ms (60-400 Hz). White noise, whispered speech and hiss have no such peak; vowels do.

Examples
--------
>>> import numpy as np
>>> t = np.arange(16000) / 16000
>>> rec = measure(0.3 * np.sin(2 * np.pi * 150 * t).astype(np.float32), sr=16000)
>>> rec.voiced_fraction > 0.9
True
>>> check(rec, QualityGates())  # a pure tone is voiced, but not speech-like audio
['narrow bandwidth: 312 Hz (at least 2500 Hz)']
>>> check(rec, QualityGates(min_bandwidth_hz=None))
[]
>>> noise = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
>>> check(measure(noise, sr=16000), QualityGates())
['no voiced speech (0.00 s voiced; at least 0.3 s needed)']
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from vocalmind.audio.processing import CLIP_LEVEL, SILENCE_DB
from vocalmind.errors import AudioError, ConfigError

__all__ = [
    "SILENCE_DB",
    "VOICING_THRESHOLD",
    "QualityRecord",
    "QualityGates",
    "SPEECH_PRESENT",
    "measure",
    "measure_file",
    "check",
    "is_silent",
]

#: normalised autocorrelation peak (60-400 Hz lags) above which a frame counts as voiced
VOICING_THRESHOLD = 0.45
_FRAME_S, _HOP_S = 0.040, 0.010
_F0_MIN, _F0_MAX = 60.0, 400.0
#: frames more than this far below the loudest frame are never voiced (dB)
_DYNAMIC_DB = 50.0
#: bandwidth edge: the highest frequency whose long-term level is within this of the peak
_BANDWIDTH_DB = 60.0


def is_silent(y: np.ndarray) -> bool:
    """True when the signal's peak is below :data:`SILENCE_DB` (the package's one rule)."""
    y = np.asarray(y)
    if y.size == 0:
        return True
    peak = float(np.max(np.abs(np.nan_to_num(y))))
    return peak <= 0 or 20 * math.log10(peak) < SILENCE_DB


@dataclass(frozen=True)
class QualityRecord:
    """What one recording's quality looks like.

    Attributes
    ----------
    file : str, path as given ("<signal>" for a bare signal)
    duration_s : float, seconds of audio analysed
    speech_s : float, seconds of voiced frames (frames counted at a 10 ms hop)
    voiced_fraction : float in [0, 1], voiced frames over all frames
    peak_db : float, sample peak in dBFS (-inf for digital silence)
    clipping_fraction : float, fraction of samples at or above full scale (0.999)
    dc_offset : float, mean of the signal (full scale = 1)
    snr_db : float, estimated signal-to-noise ratio: voiced frames' mean level against the
        10th percentile of the non-voiced frames' levels (the pauses; floored at -100 dB);
        when fewer than 10 % of frames are non-voiced, from the voicing strength r of the
        voiced frames
        (``10 log10(r / (1 - r))``, a harmonics-to-noise ratio); NaN with no voiced frame
    bandwidth_hz : float, effective bandwidth: highest frequency whose long-term spectrum
        is within 60 dB of its peak (at most ``sr / 2`` of the analysed signal)
    native_sr : int or None, the file's own sample rate in Hz
    truncated : bool, the file holds less sample data than its header declares
    declared_s : float or None, the duration the header declares (truncated files)
    n_nonfinite : int, NaN or infinite samples (replaced by 0 for the other measures)
    """

    file: str
    duration_s: float
    speech_s: float
    voiced_fraction: float
    peak_db: float
    clipping_fraction: float
    dc_offset: float
    snr_db: float
    bandwidth_hz: float
    native_sr: int | None = None
    truncated: bool = False
    declared_s: float | None = None
    n_nonfinite: int = 0

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        """Plain JSON-able dict (NaN and infinities become None); keys prefixed with
        ``prefix`` (e.g. ``"quality_"`` for table columns)."""
        out: dict[str, Any] = {}
        for k, v in asdict(self).items():
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            out[prefix + k] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], prefix: str = "") -> QualityRecord:
        """Inverse of :meth:`as_dict` (None -> NaN for float measures)."""
        kw: dict[str, Any] = {}
        for f in fields(cls):
            v = d.get(prefix + f.name)
            if isinstance(v, float) and math.isnan(v):
                v = None  # a table's missing value
            if v is None and f.name == "peak_db":
                v = -math.inf  # only digital silence has no finite peak
            elif v is None and f.type == "float":
                v = math.nan
            elif f.name in ("truncated",):
                v = bool(v)
            elif f.name in ("n_nonfinite",):
                v = int(v or 0)
            elif f.name == "native_sr" and v is not None:
                v = int(v)
            kw[f.name] = v
        return cls(**kw)


@dataclass(frozen=True)
class QualityGates:
    """Thresholds a recording must pass to be assessed (each None = gate off).

    The defaults are deliberately lenient: they refuse recordings on which no model's
    answer means anything, not recordings that are merely imperfect.

    Attributes
    ----------
    min_duration_s : 0.5; shorter recordings abstain ("too short")
    max_duration_s : 1800 (30 min); longer ones abstain: assess them in spans
    min_speech_s : 0.3; less voiced speech abstains ("no voiced speech" when none)
    max_clipping_fraction : 0.01; more samples at full scale abstain ("clipped")
    max_dc_offset : 0.05; a larger mean offset abstains ("dc offset")
    min_snr_db : 5.0; a lower SNR estimate abstains ("too noisy")
    min_bandwidth_hz : 2500; narrower audio (below telephone band) abstains
    allow_truncated : False; a truncated file abstains ("truncated")
    """

    min_duration_s: float | None = 0.5
    max_duration_s: float | None = 1800.0
    min_speech_s: float | None = 0.3
    max_clipping_fraction: float | None = 0.01
    max_dc_offset: float | None = 0.05
    min_snr_db: float | None = 5.0
    min_bandwidth_hz: float | None = 2500.0
    allow_truncated: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> QualityGates:
        """Gates from a dict (None = defaults), refusing unknown keys.

        Raises
        ------
        ConfigError
            An unknown gate name or a negative threshold.
        """
        if not d:
            return cls()
        names = {f.name for f in fields(cls)}
        bad = sorted(set(d) - names)
        if bad:
            raise ConfigError(f"unknown quality gate(s) {bad}; known: {sorted(names)}")
        for k, v in d.items():
            if k != "allow_truncated" and v is not None and (
                    not isinstance(v, int | float) or isinstance(v, bool) or v < 0):
                raise ConfigError(f"quality gate {k}: expected a number >= 0 or null, got {v!r}")
        return replace(cls(), **d)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the thresholds."""
        return asdict(self)


#: The one gate feature extraction applies to a whole recording: some voiced speech (at
#: least one voiced 10 ms hop). White noise, hiss and whisper-only audio give feature rows
#: that look valid and mean nothing; every other gate is off here (the recipe and
#: ``assess`` apply the configured :class:`QualityGates`).
SPEECH_PRESENT = QualityGates(min_duration_s=None, max_duration_s=None, min_speech_s=0.01,
                              max_clipping_fraction=None, max_dc_offset=None,
                              min_snr_db=None, min_bandwidth_hz=None, allow_truncated=True)


def _frames(y: np.ndarray, frame: int, hop: int) -> np.ndarray:
    if len(y) < frame:
        y = np.pad(y, (0, frame - len(y)))
    n = 1 + (len(y) - frame) // hop
    return np.lib.stride_tricks.as_strided(
        y, shape=(n, frame), strides=(y.strides[0] * hop, y.strides[0]), writeable=False)


def _voicing(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: level (dBFS), voicing strength r in [0, 1], voiced flag."""
    frame, hop = int(_FRAME_S * sr), int(_HOP_S * sr)
    lo, hi = int(sr / _F0_MAX), int(math.ceil(sr / _F0_MIN))
    nfft = 1 << int(math.ceil(math.log2(2 * frame)))
    win = np.hanning(frame)
    # the autocorrelation of the window itself, to undo its taper (Boersma 1993)
    wac = np.fft.irfft(np.abs(np.fft.rfft(win, nfft)) ** 2, nfft)[: hi + 1]
    wac = wac / wac[0]
    levels, strength = [], []
    F = _frames(y.astype(np.float64), frame, hop)
    for s in range(0, len(F), 4096):  # blocks keep memory flat for hour-long files
        blk = F[s: s + 4096]
        rms = np.sqrt(np.mean(blk**2, axis=1))
        levels.append(20 * np.log10(np.maximum(rms, 1e-10)))
        x = (blk - blk.mean(axis=1, keepdims=True)) * win
        ac = np.fft.irfft(np.abs(np.fft.rfft(x, nfft, axis=1)) ** 2, nfft, axis=1)[:, : hi + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = ac[:, lo: hi + 1] / ac[:, :1] / wac[lo: hi + 1]
        r = np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)
        strength.append(np.clip(r.max(axis=1), 0.0, 1.0))
    level = np.concatenate(levels)
    r = np.concatenate(strength)
    loud = level.max() if len(level) else -200.0
    voiced = (r >= VOICING_THRESHOLD) & (level >= SILENCE_DB) & (level >= loud - _DYNAMIC_DB)
    return level, r, voiced


def _bandwidth(y: np.ndarray, sr: int) -> float:
    n = 1024
    if len(y) < n:
        return 0.0
    F = _frames(y.astype(np.float64), n, n // 2)
    step = max(1, len(F) // 2000)  # at most ~2000 frames: the long-term spectrum is stable
    P = (np.abs(np.fft.rfft(F[::step] * np.hanning(n), axis=1)) ** 2).mean(axis=0)
    db = 10 * np.log10(np.maximum(P, 1e-20))
    db = np.convolve(db, np.ones(5) / 5, mode="same")  # smooth single-bin dips
    above = np.nonzero(db >= db.max() - _BANDWIDTH_DB)[0]
    return float(above[-1] * sr / n) if len(above) else 0.0


def measure(y: np.ndarray, *, sr: int, file: str = "<signal>", native_sr: int | None = None,
            truncated: bool = False, declared_s: float | None = None) -> QualityRecord:
    """Quality record of one signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], mono signal at ``sr`` Hz, nominally in [-1, 1]
    sr : int, sampling rate in Hz (16 000 in the package)
    file : str, named in the record
    native_sr, truncated, declared_s : what the file header said (see :func:`measure_file`)

    Returns
    -------
    QualityRecord
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    finite = np.isfinite(y)
    n_bad = int((~finite).sum())
    if n_bad:
        y = np.where(finite, y, 0.0).astype(np.float32)
    n = len(y)
    if n == 0:
        return QualityRecord(file, 0.0, 0.0, 0.0, -math.inf, 0.0, 0.0, math.nan, 0.0,
                             native_sr, truncated, declared_s, n_bad)
    peak = float(np.max(np.abs(y)))
    peak_db = 20 * math.log10(peak) if peak > 0 else -math.inf
    level, r, voiced = _voicing(y, sr)
    hop = _HOP_S
    speech_s = float(voiced.sum() * hop)
    frac = float(voiced.mean()) if len(voiced) else 0.0
    snr = math.nan
    if voiced.any():
        other = ~voiced
        if other.mean() >= 0.10:
            # noise floor: the quiet end of the non-voiced frames (pauses), not their median,
            # which unvoiced consonants (fricatives) raise; digital silence floored at -100 dB
            sig = 10 * np.log10(np.mean(10 ** (level[voiced] / 10)))
            snr = float(sig - np.percentile(np.maximum(level[other], -100.0), 10))
        else:
            rv = np.clip(np.median(r[voiced]), 1e-6, 1 - 1e-6)
            snr = float(10 * np.log10(rv / (1 - rv)))
    return QualityRecord(
        file=file, duration_s=n / sr, speech_s=speech_s, voiced_fraction=frac,
        peak_db=peak_db, clipping_fraction=float(np.mean(np.abs(y) >= CLIP_LEVEL)),
        dc_offset=float(np.mean(y, dtype=np.float64)), snr_db=snr,
        bandwidth_hz=_bandwidth(y, sr), native_sr=native_sr, truncated=truncated,
        declared_s=declared_s, n_nonfinite=n_bad)


def header_check(path: str | Path) -> tuple[int, float, bool, float | None]:
    """What a file's header says, without decoding: native rate, duration, truncation.

    Returns
    -------
    (native_sr, duration_s, truncated, declared_s) : ``duration_s`` is what the file
    holds; ``declared_s`` what a WAV/AIFF header promises (None when it cannot be told)

    Raises
    ------
    AudioError
        Missing, zero-length, not audio, or no frames (as :func:`vocalmind.audio.info`).
    """
    from vocalmind.audio.io import _declared_wav_frames, info

    meta = info(path)
    declared = None
    if meta.format in ("WAV", "WAVEX", "AIFF"):
        frames = _declared_wav_frames(Path(path))
        if frames is not None:
            declared = frames / meta.sample_rate
    truncated = declared is not None and declared > meta.duration_s + 1.0 / meta.sample_rate
    return meta.sample_rate, meta.duration_s, truncated, declared


def measure_file(path: str | Path, *, sr: int = 16_000, start: float | None = None,
                 end: float | None = None, max_duration_s: float | None = None,
                 ) -> tuple[QualityRecord, np.ndarray | None]:
    """Read a recording (or a span of it) and measure its quality.

    Parameters
    ----------
    path : audio file (any format :func:`vocalmind.audio.load` reads)
    sr : analysis rate in Hz
    start, end : span in seconds (None = file edges)
    max_duration_s : when the span is longer than this, nothing is decoded and the record
        holds only the header's facts (duration, rate, truncation); the signal is None

    Returns
    -------
    (record, y) : the quality record and the decoded mono signal at ``sr`` Hz (None when
    too long to decode, see ``max_duration_s``)

    Raises
    ------
    AudioError
        The file cannot be read at all (missing, empty, not audio, corrupt).
    """
    import warnings

    from vocalmind.audio.io import TruncatedAudioWarning, load

    native, dur, truncated, declared = header_check(path)
    s0 = 0.0 if start is None or (isinstance(start, float) and math.isnan(start)) else start
    s1 = dur if end is None or (isinstance(end, float) and math.isnan(end)) else end
    if max_duration_s is not None and s1 - s0 > max_duration_s:
        return QualityRecord(str(path), s1 - s0, math.nan, math.nan, math.nan, math.nan,
                             math.nan, math.nan, math.nan, native, truncated,
                             declared), None
    with warnings.catch_warnings():
        # truncation is recorded in the record, not warned about
        warnings.simplefilter("ignore", TruncatedAudioWarning)
        try:
            y = load(path, sr=sr, mono=True, start=start, end=end)
        except AudioError as e:
            if "NaN or infinite" not in e.reason:
                raise
            # keep NaN files measurable: count the bad samples instead of failing
            import soundfile as sf

            from vocalmind.audio.processing import resample, to_mono

            data, nsr = sf.read(str(path), dtype="float32", always_2d=True)
            y = to_mono(data.T)
            bad = int((~np.isfinite(y)).sum())
            y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
            if nsr != sr:
                y = resample(y, orig_sr=nsr, target_sr=sr)
            rec = measure(y, sr=sr, file=str(path), native_sr=native, truncated=truncated,
                          declared_s=declared)
            return replace(rec, n_nonfinite=bad), y
    return measure(y, sr=sr, file=str(path), native_sr=native, truncated=truncated,
                   declared_s=declared), y


def check(record: QualityRecord, gates: QualityGates | None = None) -> list[str]:
    """Reasons a recording fails the gates (an empty list = it passes).

    Parameters
    ----------
    record : QualityRecord
    gates : QualityGates (None = the documented defaults)

    Returns
    -------
    list of str, each a short reason starting with a keyword: ``"truncated"``,
    ``"non-finite"``, ``"too short"``, ``"too long"``, ``"silent"``, ``"no voiced speech"``,
    ``"too little voiced speech"``, ``"clipped"``, ``"dc offset"``, ``"too noisy"``,
    ``"narrow bandwidth"``.
    """
    g = gates or QualityGates()
    out: list[str] = []
    if record.truncated and not g.allow_truncated:
        declared = f"{record.declared_s:.2f} s" if record.declared_s is not None else "more"
        out.append(f"truncated file: header declares {declared}, file holds "
                   f"{record.duration_s:.2f} s")
    if record.n_nonfinite:
        out.append(f"non-finite: {record.n_nonfinite} NaN/infinite samples")
    if g.min_duration_s is not None and record.duration_s < g.min_duration_s:
        out.append(f"too short: {record.duration_s:.2f} s of audio; at least "
                   f"{g.min_duration_s:g} s needed")
        return out  # the other measures mean nothing on a few frames
    if g.max_duration_s is not None and record.duration_s > g.max_duration_s:
        out.append(f"too long: {record.duration_s:.0f} s; at most {g.max_duration_s:g} s "
                   "(assess it in spans)")
        return out
    if not (record.peak_db >= SILENCE_DB):
        out.append(f"silent: peak {record.peak_db:.1f} dBFS below {SILENCE_DB:g} dBFS")
        return out
    if g.min_speech_s is not None and record.speech_s < g.min_speech_s:
        if record.speech_s == 0:
            out.append(f"no voiced speech ({record.speech_s:.2f} s voiced; at least "
                       f"{g.min_speech_s:g} s needed)")
        else:
            out.append(f"too little voiced speech ({record.speech_s:.2f} s; at least "
                       f"{g.min_speech_s:g} s needed)")
    if g.max_clipping_fraction is not None and record.clipping_fraction > g.max_clipping_fraction:
        out.append(f"clipped: {100 * record.clipping_fraction:.1f} % of samples at full scale "
                   f"(at most {100 * g.max_clipping_fraction:g} %)")
    if g.max_dc_offset is not None and abs(record.dc_offset) > g.max_dc_offset:
        out.append(f"dc offset: mean {record.dc_offset:+.3f} (at most {g.max_dc_offset:g})")
    if g.min_snr_db is not None and math.isfinite(record.snr_db) and record.snr_db < g.min_snr_db:
        out.append(f"too noisy: SNR about {record.snr_db:.1f} dB (at least {g.min_snr_db:g} dB)")
    if g.min_bandwidth_hz is not None and record.bandwidth_hz < g.min_bandwidth_hz:
        out.append(f"narrow bandwidth: {record.bandwidth_hz:.0f} Hz (at least "
                   f"{g.min_bandwidth_hz:g} Hz)")
    return out
