"""Audio room: read recordings, condition signals, find speech, cut segments.

Internal signals are float32, mono, 16 kHz (:data:`vocalmind.SAMPLE_RATE`), in [-1, 1].
Multi-channel arrays are ``(channels, n)``. Times are seconds.
"""

from vocalmind.audio.io import AudioInfo, TruncatedAudioWarning, info, load
from vocalmind.audio.processing import (
    check_signal,
    denoise,
    loudness,
    loudness_normalize,
    peak_normalize,
    resample,
    signal_problems,
    to_mono,
)
from vocalmind.audio.quality import QualityGates, QualityRecord, measure_file
from vocalmind.audio.segment import recording_id, segment_manifest, segment_times
from vocalmind.audio.transcript import speaker_turns
from vocalmind.audio.vad import keep_speech, speech_segments, trim_endpoints

__all__ = [
    "AudioInfo",
    "TruncatedAudioWarning",
    "info",
    "load",
    "check_signal",
    "denoise",
    "loudness",
    "loudness_normalize",
    "peak_normalize",
    "resample",
    "signal_problems",
    "to_mono",
    "speech_segments",
    "trim_endpoints",
    "keep_speech",
    "segment_times",
    "segment_manifest",
    "recording_id",
    "speaker_turns",
    "QualityGates",
    "QualityRecord",
    "measure_file",
]
