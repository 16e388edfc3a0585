"""Read recordings: header information and decoded, resampled signals.

Two readers are tried in order:

1. **soundfile** (libsndfile 1.2): WAV/RF64/W64, FLAC, OGG/Vorbis/Opus, AIFF, MP3, AU, CAF ...
   libsndfile sniffs the *content*, so AIFF data in a file named ``.wav`` reads fine.
2. **ffmpeg / ffprobe** (subprocess): whatever libsndfile cannot open (M4A/AAC, WMA, video
   containers with an audio stream ...). Decoded to 32-bit float PCM at the native rate,
   then down-mixed and resampled exactly like the soundfile path, so both readers give the
   same numbers for the same audio.

Every failure raises :class:`vocalmind.errors.AudioError` naming the file and a precise
reason; no raw libsndfile or ffmpeg traceback escapes.

Truncated files
---------------
A WAV or AIFF whose header promises more sample data than the file holds (a copy cut short,
a recorder that crashed) is **loaded as far as it goes**, with a
:class:`TruncatedAudioWarning` that gives both durations; :func:`info` reports the
duration actually present. Compressed files whose stream breaks off (a FLAC that loses
sync, an MP3 with garbage) raise ``AudioError("corrupt or truncated ...")`` instead,
because the decoded tail cannot be trusted.
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from vocalmind.audio.processing import resample, to_mono
from vocalmind.errors import AudioError

__all__ = ["AudioInfo", "TruncatedAudioWarning", "info", "load"]

#: Slack (seconds) allowed when a requested ``end`` lies just past the end of the file;
#: manifests round times and ffprobe estimates compressed durations.
END_TOLERANCE_S = 0.05

#: Wall-clock limit for one ffprobe / ffmpeg call (seconds).
_FFMPEG_TIMEOUT_S = 600


class TruncatedAudioWarning(UserWarning):
    """A file holds less sample data than its header declares; what is there was read."""


@dataclass(frozen=True)
class AudioInfo:
    """What the header of a recording says.

    Attributes
    ----------
    file : str
        Path as given.
    duration_s : float
        Duration in seconds (``frames / sample_rate``; estimated by ffprobe for formats
        libsndfile cannot open).
    sample_rate : int
        Native sampling rate in Hz.
    channels : int
        Number of channels.
    frames : int
        Samples per channel.
    format : str
        Container name, e.g. ``"WAV"``, ``"FLAC"``, ``"AIFF"``, ``"MP3"`` (soundfile) or the
        ffprobe format name, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``.
    """

    file: str
    duration_s: float
    sample_rate: int
    channels: int
    frames: int
    format: str


# --------------------------------------------------------------------------- helpers


def _sniff(path: Path) -> str | None:
    """Name what the first bytes of a file look like, for error messages (None = unknown)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    signatures: list[tuple[int, bytes, str]] = [
        (0, b"\xff\xd8\xff", "a JPEG image"),
        (0, b"\x89PNG", "a PNG image"),
        (0, b"GIF8", "a GIF image"),
        (0, b"%PDF", "a PDF document"),
        (0, b"PK\x03\x04", "a ZIP archive (or .docx/.xlsx)"),
        (0, b"\x1f\x8b", "a gzip archive"),
        (0, b"RIFF", "a RIFF/WAV file"),
        (0, b"FORM", "an AIFF file"),
        (0, b"fLaC", "a FLAC file"),
        (0, b"OggS", "an Ogg file"),
        (0, b"ID3", "an MP3 file"),
        (4, b"ftyp", "an MP4/M4A file"),
    ]
    for offset, magic, name in signatures:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "plain text"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return None


def _check_path(path: Path) -> None:
    """Raise AudioError unless ``path`` is a non-empty regular file."""
    if not path.exists():
        raise AudioError(path, "no such file; check the path (and the manifest's root folder)")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if not path.is_file():
        raise AudioError(path, "not a regular file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioError(path, f"cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise AudioError(path, "zero-length file (0 bytes); re-export or remove it")


def _declared_wav_frames(path: Path) -> int | None:
    """Frames the RIFF/WAVE or AIFF header declares, or None when it cannot be told.

    Used only to warn about truncation: libsndfile silently clamps the data length
    to what the file holds.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        pos, block_align, data_size = 12, None, None
        while pos + 8 <= len(head):
            cid, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
            if cid == b"fmt " and pos + 22 <= len(head):
                block_align = struct.unpack("<H", head[pos + 20 : pos + 22])[0]
            elif cid == b"data":
                data_size = size
                break
            pos += 8 + size + (size & 1)
        # 0 and 0xFFFFFFFF mark streamed WAVs whose length was never filled in.
        if block_align and data_size and data_size != 0xFFFFFFFF:
            return data_size // block_align
        return None
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        pos = 12
        while pos + 8 <= len(head):
            cid, size = head[pos : pos + 4], struct.unpack(">I", head[pos + 4 : pos + 8])[0]
            if cid == b"COMM" and pos + 14 <= len(head):
                return struct.unpack(">I", head[pos + 10 : pos + 14])[0]
            pos += 8 + size + (size & 1)
    return None


def _ffprobe(path: Path) -> dict | None:
    """ffprobe's JSON for ``path``; None when ffprobe cannot parse it at all."""
    exe = shutil.which("ffprobe")
    if exe is None:
        raise AudioError(path, "libsndfile cannot read this format and ffprobe is not installed")
    cmd = [
        exe,
        "-v",
        "error",
        "-show_entries",
        "stream=codec_type,sample_rate,channels,duration,duration_ts,time_base"
        ":format=format_name,duration",
        "-of",
        "json",
        str(path),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=_FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(path, "ffprobe timed out reading the header") from exc
    if proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        return None


def _not_audio(path: Path, detail: str = "") -> AudioError:
    what = _sniff(path)
    if (
        what in (None, "text", "plain text")
        or (what and "image" in what)
        or (what and ("document" in what or "archive" in what))
    ):
        looks = f" (content looks like {what})" if what else ""
        return AudioError(path, f"not an audio file{looks}{detail}")
    # The magic bytes say audio but neither reader could parse it.
    return AudioError(path, f"corrupt audio file: starts like {what} but cannot be decoded{detail}")


def _info_ffprobe(path: Path) -> AudioInfo:
    probe = _ffprobe(path)
    if probe is None:
        raise _not_audio(path)
    streams = [s for s in probe.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        fmt = probe.get("format", {}).get("format_name", "?")
        raise _not_audio(path, f"; ffprobe sees format {fmt!r} with no audio stream")
    st = streams[0]
    sr = int(st.get("sample_rate") or 0)
    channels = int(st.get("channels") or 0)
    if sr <= 0 or channels <= 0:
        raise AudioError(path, "corrupt audio stream: no sample rate or channel count")
    dur = st.get("duration") or probe.get("format", {}).get("duration")
    if dur in (None, "N/A"):
        # Some raw streams carry no duration: decode once to count (rare, and guarded by
        # the caller's max_duration_s only after this point).
        frames = _ffmpeg_decode(path, sr, channels, None, None).shape[0]
    else:
        frames = int(round(float(dur) * sr))
    fmt = probe.get("format", {}).get("format_name", "unknown")
    if frames <= 0:
        raise AudioError(path, "no audio frames (the file holds a header but no samples)")
    return AudioInfo(str(path), frames / sr, sr, channels, frames, fmt)


def _ffmpeg_decode(
    path: Path, sr: int, channels: int, start_s: float | None, dur_s: float | None
) -> np.ndarray:
    """Decode with ffmpeg to float32 at the native rate; shape (frames, channels)."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioError(path, "libsndfile cannot read this format and ffmpeg is not installed")
    cmd = [exe, "-nostdin", "-v", "error"]
    if start_s:
        cmd += ["-ss", f"{start_s:.6f}"]
    cmd += ["-i", str(path)]
    if dur_s is not None:
        cmd += ["-t", f"{dur_s:.6f}"]
    cmd += ["-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(channels)]
    cmd += ["-ar", str(sr), "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=_FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(path, "ffmpeg timed out decoding") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = msg[-1] if msg else f"exit status {proc.returncode}"
        raise AudioError(path, f"corrupt or truncated audio: ffmpeg failed ({tail})")
    data = np.frombuffer(proc.stdout, dtype="<f4")
    usable = (data.size // channels) * channels
    return data[:usable].reshape(-1, channels).astype(np.float32, copy=True)


# --------------------------------------------------------------------------- public API


def info(path: str | Path) -> AudioInfo:
    """Read the header of a recording (no decoding for formats libsndfile reads).

    Parameters
    ----------
    path : str or Path
        Audio file (WAV, FLAC, OGG, AIFF, MP3, M4A ... any extension; content is sniffed).

    Returns
    -------
    AudioInfo
        Duration (s), native sample rate (Hz), channels, frames, container format.

    Raises
    ------
    AudioError
        No such file, a directory, zero-length, not audio, corrupt, or no audio frames.

    Examples
    --------
    >>> info("speech.wav").duration_s  # doctest: +SKIP
    3.52
    """
    p = Path(path)
    _check_path(p)
    try:
        si = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return _info_ffprobe(p)
    if si.samplerate <= 0 or si.channels <= 0:
        raise AudioError(p, "corrupt header: no sample rate or channel count")
    if si.frames <= 0:
        raise AudioError(p, "no audio frames (the file holds a header but no samples)")
    return AudioInfo(
        file=str(path),
        duration_s=si.frames / si.samplerate,
        sample_rate=int(si.samplerate),
        channels=int(si.channels),
        frames=int(si.frames),
        format=str(si.format),
    )


def load(
    path: str | Path,
    *,
    sr: int | None = 16_000,
    mono: bool = True,
    start: float | None = None,
    end: float | None = None,
    max_duration_s: float | None = None,
) -> np.ndarray:
    """Decode a recording (or a span of it) to float32, resampled and down-mixed.

    Parameters
    ----------
    path : str or Path
        Audio file; see :func:`info` for formats.
    sr : int or None
        Target sampling rate in Hz (default 16 000); ``None`` keeps the native rate.
        Resampling uses soxr (high quality).
    mono : bool
        ``True`` averages the channels (shape ``(n,)``); ``False`` keeps them
        (shape ``(channels, n)``, also for a mono file: ``(1, n)``).
    start, end : float or None
        Span in seconds; ``None`` (or NaN, as in manifests) = beginning / end of file. Only
        that span is decoded. ``end`` may overshoot the file by ``END_TOLERANCE_S``
        (0.05 s) and is then clipped.
    max_duration_s : float or None
        Refuse to decode more than this many seconds (the requested span, or the whole
        file) -- a guard against multi-hour files filling memory.

    Returns
    -------
    np.ndarray [shape=(n,) or (channels, n)], float32
        Samples at ``sr`` Hz, nominally in [-1, 1] (integer PCM maps exactly; float files
        are passed through unchanged).

    Raises
    ------
    AudioError
        Every failure: bad path, not audio, corrupt data, no frames, span outside the file,
        longer than ``max_duration_s``, invalid ``sr``.

    Warns
    -----
    TruncatedAudioWarning
        A WAV/AIFF holds less data than its header declares; what is there is returned.

    Examples
    --------
    >>> y = load("speech.wav", sr=16000)  # doctest: +SKIP
    >>> y.dtype, y.ndim  # doctest: +SKIP
    (dtype('float32'), 1)
    """
    p = Path(path)
    if sr is not None and (not isinstance(sr, int | np.integer) or sr <= 0):
        raise AudioError(p, f"invalid target sample rate sr={sr!r}; give a positive int in Hz")
    if max_duration_s is not None and not max_duration_s > 0:
        raise AudioError(p, f"invalid max_duration_s={max_duration_s!r}; give seconds > 0")
    start = None if start is None or (isinstance(start, float) and math.isnan(start)) else start
    end = None if end is None or (isinstance(end, float) and math.isnan(end)) else end

    meta = info(p)
    t0 = 0.0 if start is None else float(start)
    t1 = meta.duration_s if end is None else float(end)
    if t0 < 0:
        raise AudioError(p, f"start={t0:g} s is negative; spans are in seconds from 0")
    if t0 >= meta.duration_s:
        raise AudioError(p, f"start={t0:g} s outside the file (duration {meta.duration_s:.3f} s)")
    if t1 > meta.duration_s + END_TOLERANCE_S:
        raise AudioError(p, f"end={t1:g} s outside the file (duration {meta.duration_s:.3f} s)")
    t1 = min(t1, meta.duration_s)
    if t1 <= t0:
        raise AudioError(p, f"empty span: end={t1:g} s is not after start={t0:g} s")
    if max_duration_s is not None and t1 - t0 > max_duration_s:
        raise AudioError(
            p,
            f"longer than max_duration_s: {t1 - t0:.1f} s requested, limit {max_duration_s:g} s;"
            " read it in spans (start/end) or raise the limit",
        )

    native = meta.sample_rate
    f0, f1 = int(round(t0 * native)), int(round(t1 * native))
    try:
        with sf.SoundFile(str(p)) as fh:
            declared = _declared_wav_frames(p) if fh.format in ("WAV", "WAVEX", "AIFF") else None
            if declared is not None and declared > fh.frames:
                warnings.warn(
                    f"{p}: truncated file: header declares {declared / native:.3f} s, "
                    f"file holds {fh.frames / native:.3f} s; loading what is there",
                    TruncatedAudioWarning,
                    stacklevel=2,
                )
            f1 = min(f1, fh.frames)
            if f0:
                fh.seek(f0)
            data = fh.read(f1 - f0, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        if isinstance(exc, sf.LibsndfileError) and "opening" not in str(exc).lower():
            raise AudioError(p, f"corrupt or truncated audio data (libsndfile: {exc})") from exc
        # libsndfile cannot open it (m4a, ...): ffmpeg decodes at the native rate.
        dur = (t1 - t0) if end is not None else None
        data = _ffmpeg_decode(p, native, meta.channels, t0 or None, dur)
        # AAC/MP3 decoders emit encoder padding past the duration the container declares;
        # cut to the span asked for so both readers agree on length.
        data = data[: f1 - f0]

    if data.shape[0] == 0:
        raise AudioError(p, "no audio frames in the requested span")
    if not np.all(np.isfinite(data)):
        raise AudioError(p, "corrupt audio data: NaN or infinite samples")

    y = data.T  # (channels, n)
    if mono:
        y = to_mono(y)
    if sr is not None and sr != native:
        y = resample(y, orig_sr=native, target_sr=int(sr))
    return np.ascontiguousarray(y, dtype=np.float32)
